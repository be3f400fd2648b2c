"""LR range test per framework: sweep time, and how its suggestion trains.

For every seed, each framework runs ``find_lr`` (100 updates, lr 1e-7 to 10) on a fresh
LeNet, then trains a LeNet with the default suggestion for ``epochs`` epochs (constant lr,
plain SGD, batch 256, full Fashion-MNIST). Targets of the chapter: a sweep in <= 10 s and a
test accuracy >= 0.85 after 5 epochs. Each framework runs in its own process.

    python benchmarks/lr_finder.py [--seeds 0 1 2] [--epochs 5] [--frameworks jax]
"""

import argparse
import json
import os

from rooms import run_in_room

from d2l_compat import FRAMEWORKS

CHILD = """
import json
from d2l_compat import {room} as d2l
train_iter, test_iter = d2l.load_data_fashion_mnist(256)
for seed in {seeds}:
    timer = d2l.Timer()
    result = d2l.find_lr(d2l.lenet(seed=seed), train_iter, seed=seed)
    seconds = timer.stop()
    history = d2l.train(d2l.lenet(seed=seed), train_iter, test_iter, {epochs},
                        result.suggestion, seed=seed, animator=False, verbose=False)
    print(json.dumps({{"seed": seed, "seconds": seconds, "stop": result.stop_reason,
                      "wall": result.wall_lr, "lr": result.suggestion,
                      "test_acc": history.test_acc}}), flush=True)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=FRAMEWORKS)
    args = parser.parse_args()
    print(f"LR range test, LeNet, Fashion-MNIST 60,000 images, batch 256, {os.cpu_count()} CPUs;"
          f" training {args.epochs} epochs with the suggestion")
    print(f"{'framework':<12}{'seed':>5}{'sweep s':>9}{'stopped':>11}{'wall lr':>9}"
          f"{'suggested':>11}{'final acc':>11}{'best acc':>10}")
    for framework in args.frameworks:
        lines, problem = run_in_room(framework, CHILD, seeds=args.seeds, epochs=args.epochs)
        for line in lines:
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            wall = "none" if row["wall"] is None else f"{row['wall']:.3g}"
            print(f"{framework:<12}{row['seed']:>5}{row['seconds']:>9.1f}{row['stop']:>11}"
                  f"{wall:>9}{row['lr']:>11.3g}{row['test_acc'][-1]:>11.3f}"
                  f"{max(row['test_acc']):>10.3f}")
        if problem:
            print(f"{framework:<12}  {problem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
