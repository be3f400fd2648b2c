"""The machine a run happens on: the CPU's model and the vector extensions it has.

One reading of ``/proc/cpuinfo`` for everything that names the CPU: benchmark headers,
the grid's machine record (which decides whether two notebooks' outputs must be equal bit
for bit), and the running-time line of a chapter. Absolute speeds differ several-fold
between CPUs (and AVX-512 changes the kernels oneDNN and XLA pick), so a figure is only
meaningful with this description next to it.
"""

from __future__ import annotations

import os
import platform


def read_cpuinfo() -> str | None:
    """The text of ``/proc/cpuinfo``, or None where there is none (not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def _fields(cpuinfo: str) -> dict[str, str]:
    """The ``key: value`` lines of ``/proc/cpuinfo`` text, keys lower-case, first CPU's."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def cpu_model(cpuinfo: str | None = None) -> tuple[str, list[str]]:
    """The CPU's model name and its feature flags, sorted.

    Args:
      cpuinfo (str | None): the text of ``/proc/cpuinfo``; default None reads it, or
        falls back to what :mod:`platform` knows, with no flags.

    >>> cpu_model("model name\\t: AMD EPYC 7B13\\nflags\\t\\t: sse4_2 avx2 avx\\n")
    ('AMD EPYC 7B13', ['avx', 'avx2', 'sse4_2'])
    """
    cpuinfo = read_cpuinfo() if cpuinfo is None else cpuinfo
    if cpuinfo is None:
        return platform.processor() or platform.machine(), []
    fields = _fields(cpuinfo)
    model = (fields.get("model name") or fields.get("cpu model") or fields.get("hardware")
             or "unknown CPU")
    return model, sorted(set((fields.get("flags") or fields.get("features") or "").split()))


# Vector extensions that decide which kernels the frameworks run, in /proc/cpuinfo's names.
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                "avx512_vnni", "avx512_bf16", "amx_tile", "asimd", "sve")


def cpu_description(cpuinfo: str | None = None) -> str:
    """The CPU's model and its vector extensions, e.g. for a benchmark's header.

    Args:
      cpuinfo (str | None): the text of ``/proc/cpuinfo``; default None reads it (Linux),
        or falls back to ``platform.processor()`` with the extensions unknown.

    >>> cpu_description("model name\\t: AMD EPYC 7B13\\nflags\\t\\t: fpu sse4_2 avx avx2 fma\\n")
    'AMD EPYC 7B13; vector extensions: sse4_2 avx avx2 fma (no AVX-512)'
    """
    cpuinfo = read_cpuinfo() if cpuinfo is None else cpuinfo
    if cpuinfo is None:
        return f"{platform.processor() or platform.machine()}; vector extensions: unknown"
    model, flags = cpu_model(cpuinfo)
    flags = set(flags)
    present = [flag for flag in VECTOR_FLAGS if flag in flags]
    avx512 = "" if not flags or "asimd" in flags else \
        " (AVX-512)" if "avx512f" in flags else " (no AVX-512)"
    return f"{model}; vector extensions: {' '.join(present) or 'none listed'}{avx512}"


def physical_cores(cpuinfo: str | None = None) -> int:
    """The number of physical cores (distinct ``physical id`` / ``core id`` pairs of
    ``/proc/cpuinfo``), else the number of logical CPUs.

    >>> physical_cores("processor : 0\\nphysical id : 0\\ncore id : 0\\n\\n"
    ...                "processor : 1\\nphysical id : 0\\ncore id : 0\\n")
    1
    """
    cpuinfo = read_cpuinfo() if cpuinfo is None else cpuinfo
    cores = set()
    for block in (cpuinfo or "").split("\n\n"):
        fields = {k.strip(): v.strip() for k, _, v in
                  (line.partition(":") for line in block.splitlines())}
        if "core id" in fields:
            cores.add((fields.get("physical id"), fields["core id"]))
    return len(cores) or os.cpu_count() or 1


FP32_FLOPS_PER_CYCLE = {"avx512f": 64, "avx2": 32, "avx": 16, "sse2": 8, "asimd": 16}
"""float32 FLOPs one core can retire per cycle with the widest vector extension it has:
two fused multiply-add units (2 FLOPs per lane) of 16 (AVX-512), 8 (AVX2 with FMA) lanes;
AVX without FMA: 8 lanes x (1 add + 1 multiply); NEON (asimd): 2 units x 4 lanes x 2. Some
CPUs have one AVX-512 FMA unit only: then the figure is an upper bound."""


def peak_flops(cpuinfo: str | None = None, cores: int | None = None) -> float | None:
    """The float32 compute limit of this machine, FLOP/s: cores x clock x FLOPs per cycle
    (:data:`FP32_FLOPS_PER_CYCLE`), or None where the clock or the extensions cannot be
    read.

    The clock is ``cpu MHz`` of ``/proc/cpuinfo`` (the nominal clock a virtual machine
    reports; turbo may run faster, so the share of it is an estimate).

    >>> peak_flops("model name\\t: X\\ncpu MHz\\t\\t: 2500.0\\nflags\\t\\t: avx avx2 fma\\n", cores=2)
    160000000000.0
    >>> peak_flops("model name\\t: X\\n", cores=2) is None
    True
    """
    cpuinfo = read_cpuinfo() if cpuinfo is None else cpuinfo
    if not cpuinfo:
        return None
    try:
        hertz = float(_fields(cpuinfo)["cpu mhz"]) * 1e6
    except (KeyError, ValueError):
        return None
    flags = set(cpu_model(cpuinfo)[1])
    if "avx2" in flags and "fma" not in flags:
        flags.discard("avx2")
    per_cycle = next((n for flag, n in FP32_FLOPS_PER_CYCLE.items() if flag in flags), None)
    cores = cores or os.cpu_count()
    if per_cycle is None or not cores:
        return None
    return cores * hertz * per_cycle
