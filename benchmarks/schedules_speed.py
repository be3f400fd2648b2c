"""Time each d2l_compat schedule on 10^6 steps given as one numpy array.

Run:  python benchmarks/schedules_speed.py [num_steps]

Prints the best of 5 runs per schedule, as wall time and as CPU time of this process
(the figure the tests hold under 50 ms, since CPU time does not grow when a shared
machine is busy).
"""

import sys
import time
import timeit

import numpy as np

from d2l_compat.schedules import (
    Constant,
    CosineScheduler,
    FactorScheduler,
    MultiFactorScheduler,
    PolyScheduler,
    SquareRootScheduler,
    WarmupCosineDecay,
    join_schedules,
)


def cases(n):
    return [
        Constant(0.3),
        SquareRootScheduler(0.1),
        FactorScheduler(0.9, stop_factor_lr=1e-3, base_lr=0.5),
        MultiFactorScheduler([15, 30, 100, 1000], factor=0.5, base_lr=0.5),
        CosineScheduler(n, 0.3, 0.01, warmup_steps=n // 100, warmup_begin_lr=0.01),
        PolyScheduler(n, 0.3, pwr=2, final_lr=0.01, warmup_steps=n // 100),
        WarmupCosineDecay(n, n // 100, hold=n // 20, target_lr=0.1, final_lr=0.001),
        join_schedules([Constant(0.1), CosineScheduler(n // 10, 0.1), Constant(0.001)],
                       [n // 100, n // 100 + n // 10]),
    ]


def main(n=10**6, repeat=5):
    t = np.arange(n)
    rows = []
    for s in cases(n):
        wall, cpu = (min(timeit.repeat(lambda s=s: s(t), number=1, repeat=repeat,
                                       timer=timer))
                     for timer in (time.perf_counter, time.process_time))
        rows.append((type(s).__name__, wall * 1e3, cpu * 1e3, cpu / n * 1e9))
    width = max(len(row[0]) for row in rows)
    print(f"{n:,} steps as one int64 array, best of {repeat}")
    print(f"{'schedule':<{width}}  {'wall ms':>8}  {'cpu ms':>8}  {'cpu ns/step':>11}")
    for name, wall_ms, cpu_ms, ns in rows:
        print(f"{name:<{width}}  {wall_ms:8.2f}  {cpu_ms:8.2f}  {ns:11.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10**6)
