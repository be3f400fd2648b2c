"""LR range test per framework: sweep time, and how its suggestion trains.

For every seed, each framework runs ``find_lr`` (100 updates, lr 1e-7 to 10) on a fresh
LeNet, then trains a LeNet from the default suggestion for ``epochs`` epochs twice: at that
constant lr, and with the chapter's recipe, ``warmup_cosine_from`` (one epoch of warmup to
the suggestion, cosine decay to a hundredth of it, per update). Plain SGD, batch 256, full
Fashion-MNIST. Targets of the chapter: a sweep in <= 10 s and a test accuracy >= 0.85 after
5 epochs. Each framework runs in its own process.

    python benchmarks/lr_finder.py [--seeds 0 1 2] [--epochs 5] [--frameworks jax]
"""

import argparse
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
    recipe = d2l.warmup_cosine_from(result.suggestion, {epochs}, len(train_iter))
    runs = {{"constant": {{}}, "warmup_cosine": {{"scheduler": recipe, "schedule_unit": "update"}}}}
    test_acc = {{name: d2l.train(d2l.lenet(seed=seed), train_iter, test_iter, {epochs},
                                result.suggestion, seed=seed, animator=False, verbose=False,
                                **kwargs).test_acc for name, kwargs in runs.items()}}
    print(json.dumps({{"seed": seed, "seconds": seconds, "stop": result.stop_reason,
                      "wall": result.wall_lr, "lr": result.suggestion,
                      "test_acc": test_acc}}), flush=True)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=FRAMEWORKS)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be >= 2: the recipe warms up for one epoch, then decays")
    print(f"LR range test, LeNet, Fashion-MNIST 60,000 images, batch 256, {os.cpu_count()} CPUs;"
          f" training {args.epochs} epochs with the suggestion")
    print("test accuracy after the last epoch, at the constant suggestion (best epoch) and with"
          " warmup_cosine_from(suggestion)")
    print(f"{'framework':<12}{'seed':>5}{'sweep s':>9}{'stopped':>11}{'wall lr':>9}"
          f"{'suggested':>11}{'constant':>10}{'(best)':>8}{'warmup+cos':>12}")
    for framework in args.frameworks:
        rows, problem = run_in_room(framework, CHILD, seeds=args.seeds, epochs=args.epochs)
        for row in rows:
            wall = "none" if row["wall"] is None else f"{row['wall']:.3g}"
            constant, recipe = row["test_acc"]["constant"], row["test_acc"]["warmup_cosine"]
            print(f"{framework:<12}{row['seed']:>5}{row['seconds']:>9.1f}{row['stop']:>11}"
                  f"{wall:>9}{row['lr']:>11.3g}{constant[-1]:>10.3f}{f'({max(constant):.3f})':>8}"
                  f"{recipe[-1]:>12.3f}")
        if problem:
            print(f"{framework:<12}  {problem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
