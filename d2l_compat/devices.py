"""Which device a room trains on when none is given: the ``D2L_DEVICE`` rule.

Framework-free. Each room counts its framework's GPUs and asks :func:`choose_device`,
then maps the answer to its own device type (``d2l.default_device()``):

- ``D2L_DEVICE=auto`` (or unset): GPU 0 if the framework sees a GPU, else the CPU, as
  D2L's ``try_gpu()``;
- ``D2L_DEVICE=cpu``: the CPU, even where a GPU exists (e.g. to compare with CPU runs);
- ``D2L_DEVICE=gpu``: GPU 0, and a :class:`RuntimeError` naming the framework and the GPU
  extra to install when the framework sees none, rather than a silent CPU run.

A ``device`` passed to ``d2l.train`` explicitly always wins over the rule. The variable
is read by the run context (:mod:`d2l_compat.context`).
"""

from __future__ import annotations

from d2l_compat.checks import check_int
from d2l_compat.context import DEVICE_CHOICES, ENV, current
from d2l_compat.registry import ROOMS, framework as framework_entry

DEVICE_ENV = ENV["device"]


def requested_device() -> str:
    """The device asked for by ``D2L_DEVICE``: ``'auto'`` (default), ``'cpu'`` or ``'gpu'``
    (the run context's ``device``; a bad value is a ``ValueError`` naming the variable)."""
    return current().device


def choose_device(framework: str, num_gpus: int, request: str | None = None) -> str:
    """``'gpu'`` or ``'cpu'``: where ``framework`` trains, given the GPUs it sees.

    Args:
      framework (str): the room's framework name (``'pytorch'``, ``'tensorflow'``,
        ``'mxnet'`` or ``'jax'``), used in the error message.
      num_gpus (int): how many GPUs the framework sees (``>= 0``).
      request (str | None): ``'auto'``, ``'cpu'`` or ``'gpu'``; default None reads
        ``D2L_DEVICE`` (:func:`requested_device`).

    Raises:
      TypeError: ``num_gpus`` is not an int.
      ValueError: ``num_gpus`` is negative or ``request`` is not one of the choices.
      RuntimeError: ``'gpu'`` is requested and ``num_gpus`` is 0.

    >>> choose_device("pytorch", 0), choose_device("pytorch", 2, "auto")
    ('cpu', 'gpu')
    >>> choose_device("jax", 1, "cpu")
    'cpu'
    >>> choose_device("jax", 0, "gpu")
    Traceback (most recent call last):
    ...
    RuntimeError: D2L_DEVICE=gpu, but jax sees no GPU. Install its CUDA build (pip install -e '.[jax-gpu]') on a machine with an NVIDIA GPU, or set D2L_DEVICE=auto or cpu.
    """
    check_int("num_gpus", num_gpus, minimum=0)
    request = requested_device() if request is None else request
    if request not in DEVICE_CHOICES:
        raise ValueError(f"request must be one of {DEVICE_CHOICES}, got {request!r}")
    if request == "gpu" and num_gpus == 0:
        extra = framework_entry(framework).gpu_extra if framework in ROOMS else "all-gpu"
        raise RuntimeError(
            f"{DEVICE_ENV}=gpu, but {framework} sees no GPU. Install its CUDA build "
            f"(pip install -e '.[{extra}]') on a machine with an NVIDIA GPU, or set "
            f"{DEVICE_ENV}=auto or cpu.")
    return "gpu" if request != "cpu" and num_gpus > 0 else "cpu"
