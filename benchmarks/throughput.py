"""Train throughput of LeNet on full Fashion-MNIST (batch 256), per framework.

Each framework runs in its own process (clean threads, no cross-framework interference):
``epochs`` epochs through its room's ``train``; the figure reported is the median
examples/sec over the epochs after the first (which includes compilation).

    python benchmarks/throughput.py [--epochs 3] [--frameworks pytorch jax]
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys

ROOMS = {"pytorch": "torch", "tensorflow": "tensorflow", "mxnet": "mxnet", "jax": "jax"}

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
    parser.add_argument("--frameworks", nargs="+", choices=list(ROOMS), default=list(ROOMS))
    args = parser.parse_args()
    env = dict(os.environ, D2L_MODE="full", TF_CPP_MIN_LOG_LEVEL="2")
    print(f"LeNet, Fashion-MNIST 60,000 images, batch 256, {os.cpu_count()} CPUs")
    print(f"{'framework':<12}{'examples/sec':>14}{'first epoch':>14}  device")
    for framework in args.frameworks:
        if importlib.util.find_spec(ROOMS[framework]) is None:
            print(f"{framework:<12}{'not installed':>14}")
            continue
        code = CHILD.format(room=ROOMS[framework], epochs=args.epochs)
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True)
        if done.returncode != 0:
            print(f"{framework:<12}{'failed':>14}  {done.stderr.strip().splitlines()[-1:]}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{framework:<12}{result['warm']:>14,.0f}{result['rates'][0]:>14,.0f}  "
              f"{result['device']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
