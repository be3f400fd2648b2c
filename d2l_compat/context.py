"""The run context: every setting a run reads from the environment, read here and only here.

A notebook, a test or the grid sets environment variables; this module reads them into
one immutable :class:`RunContext`, and every other module asks :func:`current` (or is
given a context) instead of reading ``os.environ`` itself. The variables:

==========================  ==============  =============================================
variable                    field           meaning (default)
==========================  ==============  =============================================
``D2L_MODE``                ``mode``        ``full`` (default), ``class`` or ``smoke``
``D2L_SEED``                ``seed``        the run's seed, a non-negative int (0)
``D2L_DEVICE``              ``device``      ``auto`` (default), ``cpu`` or ``gpu``
``D2L_DATA_DIR``            ``data_dir``    the Fashion-MNIST cache
                                            (``$XDG_CACHE_HOME`` or ``~/.cache``, then
                                            ``d2l_compat/fashion-mnist``)
``D2L_OFFLINE``             ``offline``     ``1``: skip the official mirrors (off)
``D2L_RESULTS_DIR``         ``results_dir`` where results are written (``results/``)
``D2L_CHAPTER``             ``chapter``     grid only: the chapter being executed
``D2L_FRAMEWORK``           ``framework``   grid only: its framework
``D2L_RESULTS_RECORDED``    ``recorded``    grid only: the grid's results folder, read
                                            beside the run's own (other seeds, frameworks)
==========================  ==============  =============================================

Besides reading these, the module writes the environment in two documented places:
:func:`set_mode` (``D2L_MODE``, for this kernel and its children) and
:func:`apply_framework_defaults` (a framework's own variables, e.g.
``TF_ENABLE_ONEDNN_OPTS=1``, set before a room imports it unless you set them).

>>> ctx = RunContext.from_environ({"D2L_MODE": " Class", "D2L_SEED": "2"})
>>> ctx.mode, ctx.seed, ctx.device, ctx.on_grid
('class', 2, 'auto', False)
>>> RunContext.from_environ({"D2L_SEED": "-1"})
Traceback (most recent call last):
  ...
ValueError: D2L_SEED must be a non-negative integer, got '-1'
>>> sorted(RunContext(mode="smoke", seed=1).to_environ())
['D2L_DEVICE', 'D2L_MODE', 'D2L_OFFLINE', 'D2L_SEED']
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from d2l_compat.machine import physical_cores

DEFAULT_SEED = 0
RUN_MODES = ("full", "class", "smoke")
"""The values of ``D2L_MODE`` (see :func:`run_mode`)."""
DEVICE_CHOICES = ("auto", "cpu", "gpu")
"""The values of ``D2L_DEVICE`` (see :mod:`d2l_compat.devices`)."""

ENV = {
    "mode": "D2L_MODE",
    "seed": "D2L_SEED",
    "device": "D2L_DEVICE",
    "data_dir": "D2L_DATA_DIR",
    "offline": "D2L_OFFLINE",
    "results_dir": "D2L_RESULTS_DIR",
    "chapter": "D2L_CHAPTER",
    "framework": "D2L_FRAMEWORK",
    "recorded": "D2L_RESULTS_RECORDED",
}
"""Field of :class:`RunContext` -> the environment variable it is read from."""


def framework_defaults(framework: str) -> dict[str, str]:
    """The process settings a room gives its framework before importing it, where the
    variable is unset (a value you set wins; the grid's ``--threads`` sets its own):

    * TensorFlow: ``TF_ENABLE_ONEDNN_OPTS=1``. TensorFlow turns its oneDNN kernels on by
      default only on CPUs with AVX-512; without them it trains LeNet 2-3x slower on an
      AVX2 CPU (measured side by side; the README's performance paragraph has the figures).
    * MXNet: ``OMP_NUM_THREADS`` = the physical cores. Left alone, MXNet runs its operators
      on half the logical CPUs (it assumes two hardware threads per core), so on a machine
      without them on half its cores.

    >>> framework_defaults("tensorflow"), framework_defaults("pytorch")
    ({'TF_ENABLE_ONEDNN_OPTS': '1'}, {})
    """
    if framework == "tensorflow":
        return {"TF_ENABLE_ONEDNN_OPTS": "1"}
    if framework == "mxnet":
        return {"OMP_NUM_THREADS": str(physical_cores())}
    return {}


def apply_framework_defaults(framework: str) -> dict[str, str]:
    """Set the variables of :func:`framework_defaults` that are unset in this process;
    returns those it set. A room calls it before importing its framework (the variables
    are read when the framework loads, so later has no effect)."""
    applied = {}
    for name, value in framework_defaults(framework).items():
        if name not in os.environ:
            os.environ[name] = applied[name] = value
    return applied


def check_mode(mode, parameter: str) -> str:
    """``mode`` normalised (``" Class"`` -> ``"class"``); else an error naming ``parameter``
    (``TypeError`` for a non-str, ``ValueError`` for another word)."""
    if not isinstance(mode, str):
        raise TypeError(f"{parameter} must be a str, one of {RUN_MODES}, got {mode!r}")
    if mode.strip().lower() not in RUN_MODES:
        raise ValueError(f"{parameter} must be one of {RUN_MODES}, got {mode!r}")
    return mode.strip().lower()


def default_data_dir(environ=None) -> Path:
    """``$XDG_CACHE_HOME/d2l_compat/fashion-mnist`` (``~/.cache`` without it)."""
    environ = os.environ if environ is None else environ
    base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "d2l_compat" / "fashion-mnist"


def _path(raw: str | None) -> Path | None:
    return Path(raw).expanduser() if raw else None


@dataclass(frozen=True)
class RunContext:
    """The settings of one run (see the module's table); immutable: derive another with
    :meth:`replace`."""

    mode: str = "full"
    seed: int = DEFAULT_SEED
    device: str = "auto"
    data_dir: Path | None = None
    offline: bool = False
    results_dir: Path | None = None
    chapter: str | None = None
    framework: str | None = None
    recorded: Path | None = None

    def __post_init__(self):
        object.__setattr__(self, "mode", check_mode(self.mode, "mode"))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if self.device not in DEVICE_CHOICES:
            raise ValueError(f"device must be one of {DEVICE_CHOICES}, got {self.device!r}")

    @classmethod
    def from_environ(cls, environ=None) -> "RunContext":
        """The context the variables of ``environ`` (default ``os.environ``) describe.

        Raises ``ValueError`` naming the variable for a bad ``D2L_MODE``, ``D2L_SEED`` or
        ``D2L_DEVICE``; blanks and case are ignored, an empty value is the default.
        """
        environ = os.environ if environ is None else environ

        def get(field: str) -> str:
            return (environ.get(ENV[field]) or "").strip()

        mode = check_mode(get("mode") or "full", ENV["mode"])
        seed = get("seed")
        if seed and not seed.isdigit():
            raise ValueError(f"{ENV['seed']} must be a non-negative integer, got {seed!r}")
        device = get("device").lower() or "auto"
        if device not in DEVICE_CHOICES:
            raise ValueError(f"{ENV['device']} must be one of {DEVICE_CHOICES}, "
                             f"got {environ.get(ENV['device'])!r}")
        return cls(mode=mode, seed=int(seed) if seed else DEFAULT_SEED, device=device,
                   data_dir=_path(get("data_dir")) or default_data_dir(environ),
                   offline=get("offline") not in ("", "0"),
                   results_dir=_path(get("results_dir")), chapter=get("chapter") or None,
                   framework=get("framework") or None, recorded=_path(get("recorded")))

    def to_environ(self) -> dict[str, str]:
        """The variables that give a child process (a notebook kernel) this context;
        fields left at None are not set."""
        env = {ENV["mode"]: self.mode, ENV["seed"]: str(self.seed),
               ENV["device"]: self.device, ENV["offline"]: "1" if self.offline else "0"}
        for field in ("data_dir", "results_dir", "chapter", "framework", "recorded"):
            value = getattr(self, field)
            if value is not None:
                env[ENV[field]] = str(value)
        return env

    def replace(self, **changes) -> "RunContext":
        """A copy with ``changes`` (checked as in the constructor)."""
        return replace(self, **changes)

    @property
    def on_grid(self) -> bool:
        """Whether the reproduction grid is executing this notebook (it names the
        chapter and the framework)."""
        return bool(self.chapter and self.framework)


def current() -> RunContext:
    """The context of this process, from its environment now (see the module's table)."""
    return RunContext.from_environ(os.environ)


def run_mode() -> str:
    """``'full'`` (default), ``'class'`` or ``'smoke'``, from ``D2L_MODE``.

    * full: the whole data set, the numbers the chapters are written about;
    * class: every epoch on a fixed class-balanced subset (``loader.SUBSET_SIZES``), sized
      so that a chapter runs in minutes in a classroom (see the README for the measured
      times and which conclusions still hold);
    * smoke: every code path and every epoch on a small subset, only to check that the
      notebooks work (the tests set it); its numbers support no conclusion.
    """
    return current().mode


def run_seed() -> int:
    """The seed of this run: ``D2L_SEED`` (a non-negative integer), else ``DEFAULT_SEED``.

    Chapters draw their weights and data order from it, so one notebook can be executed
    for several seeds (the reproduction grid sets ``D2L_SEED`` for each execution).
    """
    return current().seed


def set_mode(mode: str) -> str:
    """Choose the run mode from inside a notebook: ``d2l.set_mode("class")``.

    It sets ``D2L_MODE`` for this kernel (and the processes it starts), so call it before
    the cell that loads the data. Returns the mode; a bad value raises (``TypeError`` or
    ``ValueError`` naming ``mode``) and changes nothing.
    """
    mode = check_mode(mode, "mode")
    os.environ[ENV["mode"]] = mode
    return mode
