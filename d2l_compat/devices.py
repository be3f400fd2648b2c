"""Which device a room trains on when none is given: the ``D2L_DEVICE`` rule.

Framework-free. Each room counts its framework's GPUs and asks :func:`choose_device`,
then maps the answer to its own device type (``d2l.default_device()``):

- ``D2L_DEVICE=auto`` (or unset): GPU 0 if the framework sees a GPU, else the CPU, as
  D2L's ``try_gpu()``;
- ``D2L_DEVICE=cpu``: the CPU, even where a GPU exists (e.g. to compare with CPU runs);
- ``D2L_DEVICE=gpu``: GPU 0, and a :class:`RuntimeError` naming the framework and the GPU
  extra to install when the framework sees none, rather than a silent CPU run.

A ``device`` passed to ``d2l.train`` explicitly always wins over the rule.
:func:`cpu_description` names the CPU and its vector extensions for benchmark headers.
"""

from __future__ import annotations

import os
import platform

DEVICE_ENV = "D2L_DEVICE"
DEVICE_CHOICES = ("auto", "cpu", "gpu")

# framework -> the pyproject extra that installs its CUDA build (for the error message).
GPU_EXTRAS = {"pytorch": "torch-gpu", "tensorflow": "tensorflow-gpu", "mxnet": "mxnet-gpu",
              "jax": "jax-gpu"}


def requested_device() -> str:
    """The device asked for by ``D2L_DEVICE``: ``'auto'`` (default), ``'cpu'`` or ``'gpu'``.

    Case and surrounding blanks are ignored; an empty value means ``'auto'``. Raises
    :class:`ValueError` naming ``D2L_DEVICE`` for any other value.
    """
    raw = os.environ.get(DEVICE_ENV, "").strip().lower() or "auto"
    if raw not in DEVICE_CHOICES:
        raise ValueError(f"{DEVICE_ENV} must be one of {DEVICE_CHOICES}, "
                         f"got {os.environ[DEVICE_ENV]!r}")
    return raw


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
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int):
        raise TypeError(f"num_gpus must be an int, got {num_gpus!r}")
    if num_gpus < 0:
        raise ValueError(f"num_gpus must be >= 0, got {num_gpus}")
    request = requested_device() if request is None else request
    if request not in DEVICE_CHOICES:
        raise ValueError(f"request must be one of {DEVICE_CHOICES}, got {request!r}")
    if request == "gpu" and num_gpus == 0:
        extra = GPU_EXTRAS.get(framework, "all-gpu")
        raise RuntimeError(
            f"{DEVICE_ENV}=gpu, but {framework} sees no GPU. Install its CUDA build "
            f"(pip install -e '.[{extra}]') on a machine with an NVIDIA GPU, or set "
            f"{DEVICE_ENV}=auto or cpu.")
    return "gpu" if request != "cpu" and num_gpus > 0 else "cpu"


# Vector extensions that decide which kernels the frameworks run, in /proc/cpuinfo's names.
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                "avx512_vnni", "avx512_bf16", "amx_tile", "asimd", "sve")


def cpu_description(cpuinfo: str | None = None) -> str:
    """The CPU's model and its vector extensions, e.g. for a benchmark's header.

    Args:
      cpuinfo (str | None): the text of ``/proc/cpuinfo``; default None reads it (Linux),
        or falls back to ``platform.processor()`` with the extensions unknown.

    Absolute speeds differ several-fold between CPUs (and AVX-512 changes the kernels
    oneDNN and XLA pick), so a figure is only meaningful with this line next to it.

    >>> cpu_description("model name\\t: AMD EPYC 7B13\\nflags\\t\\t: fpu sse4_2 avx avx2 fma\\n")
    'AMD EPYC 7B13; vector extensions: sse4_2 avx avx2 fma (no AVX-512)'
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as handle:
                cpuinfo = handle.read()
        except OSError:
            return f"{platform.processor() or platform.machine()}; vector extensions: unknown"
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    model = fields.get("model name") or fields.get("cpu model") or fields.get("hardware") \
        or "unknown CPU"
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    present = [flag for flag in VECTOR_FLAGS if flag in flags]
    avx512 = "" if not flags or "asimd" in flags else \
        " (AVX-512)" if "avx512f" in flags else " (no AVX-512)"
    return f"{model}; vector extensions: {' '.join(present) or 'none listed'}{avx512}"
