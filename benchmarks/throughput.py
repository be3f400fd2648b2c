"""Train throughput of LeNet on full Fashion-MNIST (batch 256), per framework.

Each framework runs in its own process (clean threads, no cross-framework interference):
``epochs`` epochs through its room's ``train``; the figure reported is the median
examples/sec over the epochs after the first (which includes compilation).

    python benchmarks/throughput.py [--epochs 3] [--frameworks pytorch jax]
"""

import argparse
import os

from rooms import run_in_room

from d2l_compat import FRAMEWORKS

CHILD = """
import json, statistics, sys
from d2l_compat import {room} as d2l
train_iter, test_iter = d2l.load_data_fashion_mnist(256)
history = d2l.train(d2l.lenet(), train_iter, test_iter, {epochs}, 0.3,
                    animator=False, verbose=False)
rates = [e.examples_per_sec for e in history.epochs]
print(json.dumps({{"rates": rates, "warm": statistics.median(rates[1:] or rates),
                  "device": history.device, "test_acc": history.test_acc[-1]}}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=FRAMEWORKS)
    args = parser.parse_args()
    print(f"LeNet, Fashion-MNIST 60,000 images, batch 256, {os.cpu_count()} CPUs")
    print(f"{'framework':<12}{'examples/sec':>14}{'first epoch':>14}  device")
    for framework in args.frameworks:
        records, problem = run_in_room(framework, CHILD, epochs=args.epochs)
        if problem:
            print(f"{framework:<12}  {problem}")
            continue
        result = records[-1]
        print(f"{framework:<12}{result['warm']:>14,.0f}{result['rates'][0]:>14,.0f}  "
              f"{result['device']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
