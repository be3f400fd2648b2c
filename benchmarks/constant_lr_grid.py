"""Test accuracy per epoch of LeNet at constant learning rates, over seeds.

The LR finder chapter checks its 0.85 target on the suggestion trained with a warmup and a
cosine decay, not at a constant rate. This grid is the evidence: at a constant rate the
last epoch moves by a point or two whatever the rate. For each framework, seed and lr it
trains a fresh LeNet (plain SGD, batch 256, full Fashion-MNIST) and prints the test accuracy
of every epoch. Each framework runs in its own process.

    python benchmarks/constant_lr_grid.py [--frameworks jax] [--lrs 0.05 0.1] [--seeds 0 1 2]
"""

import argparse

from rooms import run_in_room

from d2l_compat import FRAMEWORKS

CHILD = """
import json
from d2l_compat import {room} as d2l
train_iter, test_iter = d2l.load_data_fashion_mnist(256)
for seed in {seeds}:
    for lr in {lrs}:
        history = d2l.train(d2l.lenet(seed=seed), train_iter, test_iter, {epochs}, lr,
                            seed=seed, animator=False, verbose=False)
        print(json.dumps({{"seed": seed, "lr": lr, "test_acc": history.test_acc}}), flush=True)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=["jax"])
    parser.add_argument("--lrs", type=float, nargs="+",
                        default=[0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.85)
    args = parser.parse_args()
    print(f"LeNet, constant lr, {args.epochs} epochs; test accuracy per epoch")
    print(f"{'framework':<12}{'seed':>5}{'lr':>7}  per epoch")
    for framework in args.frameworks:
        rows, problem = run_in_room(framework, CHILD, seeds=args.seeds, lrs=args.lrs,
                                    epochs=args.epochs)
        for row in rows:
            print(f"{framework:<12}{row['seed']:>5}{row['lr']:>7.3g}  "
                  + " ".join(f"{a:.3f}" for a in row["test_acc"]))
        if rows:
            last = [row["test_acc"][-1] for row in rows]
            print(f"{framework:<12}  last epoch: {sum(a >= args.target for a in last)} of "
                  f"{len(last)} runs at {args.target} or more, range {min(last):.3f}-{max(last):.3f}")
        if problem:
            print(f"{framework:<12}  {problem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
