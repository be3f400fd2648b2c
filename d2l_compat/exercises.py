"""What the exercises and the end of a chapter call inside the notebook.

The checkable exercises (otter-grader, see ``d2l_booktools.classroom``) test answers with
:func:`require_answer`, so that a blank answer fails its check with a message that says
what to do, and run them through :func:`call_without`, so that an answer that calls the
library function it should re-derive fails; every chapter ends with :func:`execution_time`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from unittest import mock

from d2l_compat.context import run_mode
from d2l_compat.machine import cpu_model


def require_answer(value, name: str):
    """``value``, unless it is a blank answer (``...`` or ``None``): then an AssertionError
    that names the answer and says how to fill it in.

    A student notebook replaces each solution by ``...``; a function whose body is ``...``
    returns ``None``. Tests call this first, so a blank answer fails its check with this
    message instead of a TypeError deep inside the test.

    >>> require_answer(3, "floor_step")
    3
    >>> require_answer(..., "floor_step")
    Traceback (most recent call last):
    AssertionError: `floor_step` is not answered yet: replace the `...` in its cell with your answer and run the cell again
    """
    if value is Ellipsis or value is None:
        raise AssertionError(f"`{name}` is not answered yet: replace the `...` in its cell with "
                             f"your answer and run the cell again")
    return value


def call_without(blocked, func, *args, **kwargs):
    """``func(*args, **kwargs)`` while the library code an exercise re-derives cannot run:
    what a hidden check calls, so that an answer which delegates to the library fails.

    ``blocked`` is a library function, a class, or a tuple of them. A function is replaced,
    for the call, wherever it is bound under its name: in every loaded module and in
    ``func``'s globals (``from d2l_compat.lr_finder import lr_sweep`` in the student's cell
    included). A class has its ``__call__`` and ``evaluate`` replaced (for
    :class:`~d2l_compat.schedules.Schedule`: every schedule of the library, and the native
    bridges that evaluate one). Calling one raises an AssertionError that names ``func``
    and what it called. Everything is restored afterwards, whatever happens.

    >>> from d2l_compat.lr_finder import lr_sweep
    >>> call_without(lr_sweep, lambda n: len(lr_sweep(1e-3, 1.0, n)), 5)
    Traceback (most recent call last):
    AssertionError: your answer calls d2l's lr_sweep, which this exercise asks you to re-derive: compute it yourself
    >>> call_without(lr_sweep, lambda t: 1e-3 * 1000 ** (t / 4), 4)
    1.0
    """
    blocked = blocked if isinstance(blocked, tuple) else (blocked,)
    name_of = getattr(func, "__name__", "<lambda>")
    name_of = "your answer" if name_of == "<lambda>" else name_of

    def refuse(what):
        def unavailable(*a, **k):
            raise AssertionError(f"{name_of} calls {what}, which this exercise asks you to "
                                 "re-derive: compute it yourself")
        return unavailable

    with contextlib.ExitStack() as stack:
        for item in blocked:
            if isinstance(item, type):
                for method in ("__call__", "evaluate"):
                    if hasattr(item, method):
                        stack.enter_context(mock.patch.object(
                            item, method, refuse(f"a d2l {item.__name__}")))
                continue
            name, unavailable = item.__name__, refuse(f"d2l's {item.__name__}")
            for module in list(sys.modules.values()):
                if (getattr(module, "__dict__", None) or {}).get(name) is item:
                    stack.enter_context(mock.patch.object(module, name, unavailable))
            bound = {k: unavailable for k, v in getattr(func, "__globals__", {}).items()
                     if v is item}
            if bound:
                stack.enter_context(mock.patch.dict(func.__globals__, bound))
        return func(*args, **kwargs)


def execution_time(mode: str | None = None) -> str:
    """One line on how long this notebook's kernel has run, in which mode and on which CPU.

    Executed top to bottom (``jupyter nbconvert --execute``, *Run All*), it is the time the
    chapter takes on this machine; it is measured when the cell runs, never typed in.
    """
    import psutil  # comes with ipykernel

    seconds = time.time() - psutil.Process().create_time()
    cpu = cpu_model()[0]
    return (f"this kernel has run for {seconds / 60:.1f} min ({mode or run_mode()} mode) on "
            f"{os.cpu_count()} cores of {cpu}")
