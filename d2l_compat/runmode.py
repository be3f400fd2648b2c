"""Run mode, seeds and the small D2L utilities every framework shares."""

from __future__ import annotations

import os
import time

import numpy as np

from d2l_compat.arrays import as_float

DEFAULT_SEED = 0
MODES = ("full", "smoke")


def run_mode() -> str:
    """``'full'`` (default) or ``'smoke'``, from the ``D2L_MODE`` environment variable.

    Smoke mode keeps every code path and every epoch but trains on a small fixed subset,
    so that all notebooks execute in minutes (the tests set it).
    """
    mode = os.environ.get("D2L_MODE", "full").strip().lower() or "full"
    if mode not in MODES:
        raise ValueError(f"D2L_MODE must be one of {MODES}, got {mode!r}")
    return mode


def run_seed() -> int:
    """The seed of this run: ``D2L_SEED`` (a non-negative integer), else ``DEFAULT_SEED``.

    Chapters draw their weights and data order from it, so one notebook can be executed
    for several seeds (the reproduction grid sets ``D2L_SEED`` for each execution).
    """
    raw = os.environ.get("D2L_SEED", "").strip()
    if not raw:
        return DEFAULT_SEED
    if not raw.isdigit():
        raise ValueError(f"D2L_SEED must be a non-negative integer, got {raw!r}")
    return int(raw)


class Timer:
    """Record multiple running times (D2L's Timer)."""

    def __init__(self):
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        self.tik = time.perf_counter()

    def stop(self) -> float:
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        return sum(self.times)

    def cumsum(self) -> list[float]:
        return np.array(self.times).cumsum().tolist()


class Accumulator:
    """Sums over ``n`` variables (D2L's Accumulator); ``acc[i]`` is the i-th sum.

    ``add`` takes numbers or one-element arrays of any framework (a torch loss, an
    MXNet ``l.sum()``), as D2L's training loops pass them.

    >>> acc = Accumulator(2)
    >>> acc.add(3, 1.5); acc.add(1, 0.5)
    >>> acc[0], acc[1]
    (4.0, 2.0)
    """

    def __init__(self, n: int):
        self.data = [0.0] * n

    def add(self, *args) -> None:
        if len(args) != len(self.data):
            raise ValueError(f"Accumulator holds {len(self.data)} sums, got {len(args)} values")
        self.data = [a + as_float(b) for a, b in zip(self.data, args)]

    def reset(self) -> None:
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]
