"""Train throughput of LeNet on full Fashion-MNIST (batch 256), per framework, side by side
with D2L's own PyTorch input pipeline.

Each run has its own process (clean threads, no cross-framework interference): ``epochs``
epochs through its room's ``train``; the figure reported is the median examples/sec over
the epochs after the first (which includes compilation). The first run is the reference:
the same LeNet through the PyTorch room's ``train``, but fed by D2L's
``load_data_fashion_mnist`` (a PIL image and a ``ToTensor`` per sample, ``DataLoader``
with 4 workers; ``benchmarks/d2l_pipeline.py``). Every room's figure is also given as
its ratio to that reference, which carries over between machines better than absolute
figures do; the header names the CPU and its vector extensions.

The chapter-level figure, ``s/epoch``, is what a reader waits for per epoch: the median
training time of a full epoch plus one evaluation of the test set. ``of limit`` is the
share of the machine's float32 compute limit (cores x clock x FLOPs per cycle,
:func:`d2l_compat.machine.peak_flops`) that the training throughput uses, at
:func:`d2l_compat.lenet.train_flops_per_example` FLOPs per example; "unknown" where the
clock or the vector extensions cannot be read.

    python benchmarks/throughput.py [--epochs 3] [--frameworks pytorch jax] [--no-reference]
"""

import argparse
import os
from pathlib import Path

from rooms import run_in_room

from d2l_compat import FRAMEWORKS
from d2l_compat.lenet import train_flops_per_example
from d2l_compat.machine import cpu_description, peak_flops

REFERENCE = "D2L pipeline"

CHILD = """
import json, statistics, sys, time
from d2l_compat import {room} as d2l
{load}
net = d2l.lenet()
history = d2l.train(net, train_iter, test_iter, {epochs}, 0.3, animator=False, verbose=False)
rates = [e.examples_per_sec for e in history.epochs]
start = time.perf_counter()  # one more evaluation, warm: what every epoch adds to training
d2l.evaluate_accuracy_gpu(net, test_iter)
evaluate = time.perf_counter() - start
seconds = statistics.median([e.seconds for e in history.epochs[1:] or history.epochs])
print(json.dumps({{"rates": rates, "warm": statistics.median(rates[1:] or rates),
                  "epoch": seconds + evaluate, "device": history.device,
                  "test_acc": history.test_acc[-1]}}))
"""
ROOM_DATA = "train_iter, test_iter = d2l.load_data_fashion_mnist(256)"
D2L_DATA = f"""sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
import torch
import d2l_pipeline
torch.manual_seed(0)  # the DataLoader's shuffle
train_iter, test_iter = d2l_pipeline.load_data_fashion_mnist(256)"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=FRAMEWORKS)
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the D2L-pipeline run (no ratios then)")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the figure is the median after the first)")
    runs = [] if args.no_reference else [(REFERENCE, "pytorch", D2L_DATA)]
    runs += [(framework, framework, ROOM_DATA) for framework in args.frameworks]
    print(f"CPU: {cpu_description()}; {os.cpu_count()} logical CPUs")
    print(f"LeNet, Fashion-MNIST 60,000 images, batch 256, {args.epochs} epochs per run; "
          f"examples/sec: median of epochs 2-{args.epochs}")
    print(f"reference '{REFERENCE}': PyTorch fed by D2L's load_data_fashion_mnist "
          f"(per-sample PIL -> ToTensor, DataLoader with 4 workers)")
    peak = peak_flops()
    flops = train_flops_per_example()
    print(f"compute limit: " + (f"{peak / 1e9:,.0f} GFLOP/s (cores x clock x float32 FLOPs "
                                f"per cycle), {peak / flops:,.0f} LeNet training examples/s "
                                f"at {flops / 1e6:.1f} MFLOP each" if peak else
                                "unknown (clock or vector extensions not readable)"))
    print("s/epoch: one full epoch (60,000 images) with its test-set evaluation, median")
    print(f"{'run':<14}{'examples/sec':>14}{'first epoch':>14}{'vs ' + REFERENCE:>18}"
          f"{'s/epoch':>10}{'of limit':>10}  device")
    reference = None
    for label, framework, load in runs:
        records, problem = run_in_room(framework, CHILD, load=load, epochs=args.epochs)
        if problem:
            print(f"{label:<14}  {problem}")
            continue
        result = records[-1]
        if label == REFERENCE:
            reference = result["warm"]
        ratio = f"{result['warm'] / reference:.2f}x" if reference else "-"
        share = f"{result['warm'] * flops / peak:.1%}" if peak else "unknown"
        print(f"{label:<14}{result['warm']:>14,.0f}{result['rates'][0]:>14,.0f}{ratio:>18}"
              f"{result['epoch']:>10.1f}{share:>10}  {result['device']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
