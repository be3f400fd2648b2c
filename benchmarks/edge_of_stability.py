"""How often LeNet fails at a constant lr at the edge of stability, per framework.

The evidence for *the failed runs, traced* (issue 24, item 2). In every framework, in its
own process: ``d2l.lenet(seed=s)`` trained on the full Fashion-MNIST (``mode="full"``,
the loader's data order of seed ``s``, batch 256) at the constant lr 0.5 (the
multi-factor schedule's first epochs) for 2 epochs through the room's ``train``, with
``record_updates=300`` (the per-update training loss of the first 300 updates):

* seeds ``0 .. --seeds - 1`` with the framework's default threads (no thread variable
  set: each framework's own choice, plus the room's documented defaults,
  :func:`d2l_compat.context.framework_defaults`);
* seeds ``0 .. --one-thread-seeds - 1`` with one thread (the grid's one-thread settings,
  :func:`d2l_booktools.reproduce.thread_env`), in a second process: threads are fixed
  when a framework loads;
* for seed 0, default threads, the lr moved by one float32 ulp up and down
  (``np.nextafter(np.float32(0.5), +-inf)``): 0.50000006 and 0.49999997.

A run *failed* when :func:`d2l_compat.training.outcome` names it (at chance in every
epoch, collapsed, diverged or ended at chance). The file ``results/edge_of_stability.json`` (written
atomically after every process, ``complete`` false until the end) holds every run --
framework, threads (0: default), seed, lr, perturbation, per-epoch training loss and
test accuracy, outcome, the first 300 per-update losses and the lr the first update
applied -- with the CPU and the library versions; :func:`d2l_compat.records.read_edge_study`
reads it back, validated. ``--resume`` keeps the runs of an existing file and trains only
the missing ones (the file is written after every run). The table printed at the end gives, per framework and thread
setting, how many runs failed, and the outcomes of the perturbed runs.

    nice -n 5 python benchmarks/edge_of_stability.py [--seeds 3] [--one-thread-seeds 2]
        [--frameworks pytorch jax] [--epochs 2] [--output results/edge_of_stability.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from d2l_booktools.reproduce import FRAMEWORK_THREADS, THREAD_ENV, thread_env
from d2l_compat import FRAMEWORKS, ROOMS
from d2l_compat.checks import check_choice, check_int, check_number
from d2l_compat.files import write_json_atomic
from d2l_compat.machine import cpu_description
from d2l_compat.records import (edge_study_path, edge_study_table, read_edge_study,
                                validate_edge_study)
from d2l_booktools.tables import edge_report as report
from d2l_compat.training import History, outcome

LR = 0.5
EPOCHS = 2
BATCH_SIZE = 256
RECORD_UPDATES = 300
UP, DOWN = "+1 ulp", "-1 ulp"


def perturbed_lr(lr: float, perturbation: str) -> float:
    """``lr`` as float32 (``""``), or the next float32 above (``"+1 ulp"``) or below
    (``"-1 ulp"``) it, as a Python float (exact).

    >>> perturbed_lr(0.5, ""), perturbed_lr(0.5, "+1 ulp"), perturbed_lr(0.5, "-1 ulp")
    (0.5, 0.5000000596046448, 0.4999999701976776)
    """
    check_choice("perturbation", perturbation, ("", UP, DOWN))
    value = np.float32(check_number("lr", lr, minimum=0.0))
    if perturbation:
        value = np.nextafter(value, np.float32(np.inf if perturbation == UP else -np.inf))
    return float(value)


def plan(threads: int, seeds: int, lr: float = LR, perturb: bool = False) -> list[tuple]:
    """The runs of one process: ``(seed, lr, perturbation)`` for seeds ``0 .. seeds - 1``
    and, with ``perturb``, seed 0 at one ulp up and down.

    >>> plan(0, 2, perturb=True)
    [(0, 0.5, ''), (1, 0.5, ''), (0, 0.5000000596046448, '+1 ulp'), (0, 0.4999999701976776, '-1 ulp')]
    """
    check_int("threads", threads, minimum=FRAMEWORK_THREADS)
    runs = [(seed, perturbed_lr(lr, ""), "") for seed in range(check_int("seeds", seeds, 0))]
    if perturb:
        runs += [(0, perturbed_lr(lr, p), p) for p in (UP, DOWN)]
    return runs


def run_record(history: History, *, threads: int, lr: float, perturbation: str) -> dict:
    """One run of the study's file from its History (framework-free: the unit tests
    build Histories by hand): the keys of :data:`d2l_compat.records.EDGE_RUN_FIELDS`,
    plus ``applied_lr`` (what the first update applied, read back) and ``update_steps``.
    """
    return {"framework": history.framework, "threads": threads, "seed": history.seed,
            "lr": lr, "perturbation": perturbation, "train_loss": history.train_loss,
            "test_acc": history.test_acc, "outcome": outcome(history),
            "update_losses": history.update_losses,
            "update_steps": [step for step, _, _ in history.updates],
            "applied_lr": history.update_lrs[0] if history.updates else None}


def study(runs: list[dict], versions: dict, *, epochs: int, record_updates: int,
          complete: bool, cpu: str | None = None) -> dict:
    """The study's file: the runs with the machine, the versions and the settings."""
    return {"study": "edge of stability: LeNet at a constant lr over seeds, threads and "
                     "one-ulp perturbations",
            "cpu": cpu if cpu is not None else cpu_description(),
            "logical_cpus": os.cpu_count(), "date": datetime.date.today().isoformat(),
            "mode": "full", "batch_size": BATCH_SIZE, "epochs": epochs,
            "record_updates": record_updates, "versions": versions, "complete": complete,
            "runs": runs}


CHILD = """
import json
from d2l_compat import {room} as d2l
print(json.dumps({{"versions": d2l.VERSIONS}}), flush=True)
for seed, lr, perturbation in {plan!r}:
    train_iter, test_iter = d2l.load_data_fashion_mnist({batch}, seed=seed, mode="full")
    history = d2l.train(d2l.lenet(seed=seed), train_iter, test_iter, {epochs}, lr,
                        seed=seed, animator=False, verbose=False, record_updates={record})
    print(json.dumps({{"lr": lr, "perturbation": perturbation,
                      "history": history.to_dict()}}), flush=True)
"""


def child_env(threads: int) -> dict[str, str]:
    """This process's environment without any thread variable, then ``thread_env(threads)``
    (none for the framework's default, 0); idle OpenMP threads sleep instead of spinning
    (``OMP_WAIT_POLICY=passive``: on a shared machine spinning threads slow a run many
    times over; the numbers are unchanged).

    >>> child_env(1)["OMP_NUM_THREADS"], "OMP_NUM_THREADS" in child_env(0)
    ('1', False)
    """
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
    env.update(thread_env(threads), D2L_MODE="full", TF_CPP_MIN_LOG_LEVEL="2")
    env.setdefault("OMP_WAIT_POLICY", "passive")
    return env


def run_process(framework: str, threads: int, runs: list[tuple], epochs: int,
                record_updates: int):
    """Yield the versions, then each run's record, from one child process."""
    code = CHILD.format(room=ROOMS[framework], plan=runs, batch=BATCH_SIZE, epochs=epochs,
                        record=record_updates)
    child = subprocess.Popen([sys.executable, "-c", code], env=child_env(threads),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in child.stdout:
        if not line.startswith("{"):
            continue
        found = json.loads(line)
        if "versions" in found:
            yield found["versions"]
        else:
            history = History.from_dict(found["history"])
            yield run_record(history, threads=threads, lr=found["lr"],
                             perturbation=found["perturbation"])
    stderr = child.stderr.read()
    if child.wait() != 0:
        raise RuntimeError(f"{framework} ({threads or 'default'} threads) failed: "
                           f"{stderr.strip().splitlines()[-1:]}")


def run_key(run: dict) -> tuple:
    """What tells the runs of the study apart: framework, threads, seed, perturbation."""
    return run["framework"], run["threads"], run["seed"], run["perturbation"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds, default threads")
    parser.add_argument("--one-thread-seeds", type=int, default=2, help="seeds, one thread")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=FRAMEWORKS)
    parser.add_argument("--output", type=Path, default=edge_study_path())
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in --output and train only the others")
    args = parser.parse_args(argv)
    kept = read_edge_study(args.output) if args.resume and args.output.exists() else None
    if kept and (kept["epochs"], kept["record_updates"]) != (args.epochs, RECORD_UPDATES):
        parser.error(f"{args.output} has runs of {kept['epochs']} epochs: resume with those")
    runs, versions = (kept["runs"], kept["versions"]) if kept else ([], {})
    done, start = {run_key(run) for run in runs}, time.perf_counter()
    # every framework with its default threads first, then with one thread
    processes = [(framework, threads, plan(threads, seeds, args.lr, perturb=not threads))
                 for threads, seeds in ((FRAMEWORK_THREADS, args.seeds),
                                        (1, args.one_thread_seeds)) if seeds
                 for framework in args.frameworks]
    wanted = {(fw, threads, seed, p) for fw, threads, todo in processes for seed, _, p in todo}
    for framework, threads, todo in processes:
        todo = [(seed, lr, p) for seed, lr, p in todo if (framework, threads, seed, p) not in done]
        if not todo:
            continue
        for found in run_process(framework, threads, todo, args.epochs, RECORD_UPDATES):
            if "framework" not in found:
                versions[framework] = found
                continue
            runs.append(found)
            done.add(run_key(found))
            print(f"{time.perf_counter() - start:7.0f}s {framework} threads "
                  f"{threads or 'default'} seed {found['seed']} lr {found['lr']:.9g}: "
                  f"{found['train_loss']} {found['outcome'] or 'trained'}", flush=True)
            data = study(runs, versions, epochs=args.epochs, record_updates=RECORD_UPDATES,
                         complete=wanted <= done)  # written after every run
            write_json_atomic(args.output, validate_edge_study(data, args.output))
    if runs:
        data = study(runs, versions, epochs=args.epochs, record_updates=RECORD_UPDATES,
                     complete=wanted <= done)
        print(f"CPU: {data['cpu']}\n\n{report(data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
