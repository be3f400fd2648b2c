"""What the exercises and the end of a chapter call inside the notebook.

The checkable exercises (otter-grader, see ``d2l_booktools.classroom``) test answers with
:func:`require_answer`, so that a blank answer fails its check with a message that says
what to do; every chapter ends with :func:`execution_time`.
"""

from __future__ import annotations

import os
import time

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
