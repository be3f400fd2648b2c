"""Where a chapter's time goes: one notebook execution per framework, split into its parts.

Each framework's committed notebook of the chapter is executed from top to bottom with
``nbclient`` in the ``d2l-compat`` kernel, alone on the machine (one after the other), with
a first cell that times, inside the kernel:

* **train**: the epochs' minibatch updates (``train_epoch`` of
  :func:`d2l_compat.training.fit`), without the two parts below;
* **first epoch extra**: for each training run, how much longer its first epoch took than
  the median of its other epochs: compilation (JAX's jit, TensorFlow's ``tf.function``,
  MXNet's hybridisation) and warm-up, paid once per run;
* **data**: taking the minibatches from the in-memory loader (indexing, conversion to the
  framework's arrays). MXNet's engine runs the updates asynchronously and copying the next
  batch in waits for them, so for MXNet this part holds much of its training time;
* **evaluate**: the test accuracy after every epoch;
* **live plot**: redrawing the Animator's figure after every epoch;
* **outside training**: everything else, from imports to the teaching cells, tables and
  figures (the notebook's wall time minus the parts above).

For JAX it also reports the compilation time JAX itself measures (``jax.monitoring``), and
for every framework how many training runs the chapter made. The figures are shares of the
notebook's wall time, which carry over between machines better than seconds do; the CPU is
printed in the header.

    python benchmarks/profile_chapter.py [--chapter lr_scheduler] [--mode class]
        [--frameworks pytorch jax] [--threads 0]

``--mode full`` profiles the book's own protocol (many minutes per framework); ``class``
(default) the classroom subset, the same code paths on less data. Results are written to a
temporary folder, never over the committed ones. ``--threads 0`` (default) leaves every
framework its own default thread count, as in a reader's Jupyter.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from d2l_compat.context import RUN_MODES, current
from d2l_compat.machine import cpu_description
from d2l_compat.registry import CHAPTER_NAMES, FRAMEWORKS
from d2l_booktools.reproduce import QUIET_ENV, THREAD_ENV, installed_frameworks, thread_env

ROOT = Path(__file__).resolve().parents[1]
MARK = "D2L_PROFILE "

INSTRUMENT = '''
import functools as _functools, json as _json, statistics as _statistics, time as _time
_PROFILE = {"train": 0.0, "first epoch extra": 0.0, "data": 0.0, "evaluate": 0.0,
            "live plot": 0.0, "fit": 0.0, "runs": 0, "jax compile": 0.0}

def _clocked(function, key, log=None):
    @_functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = _time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            took = _time.perf_counter() - start
            _PROFILE[key] += took
            if log is not None:
                log.append(took)
    return wrapper

import d2l_compat.loader as _loader, d2l_compat.plotting as _plotting
import d2l_compat.training as _training

_batches = _loader.ArrayBatches.batches
def _timed_batches(self, epoch):
    iterator = _batches(self, epoch)
    while True:
        start = _time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            _PROFILE["data"] += _time.perf_counter() - start
            return
        _PROFILE["data"] += _time.perf_counter() - start
        yield batch
_loader.ArrayBatches.batches = _timed_batches
_plotting.Animator._draw = _clocked(_plotting.Animator._draw, "live plot")

_fit = _training.fit
@_functools.wraps(_fit)
def _profiled_fit(train_epoch, evaluate, *args, **kwargs):
    epochs = []
    start = _time.perf_counter()
    try:
        return _fit(_clocked(train_epoch, "train", epochs), _clocked(evaluate, "evaluate"),
                    *args, **kwargs)
    finally:
        _PROFILE["fit"] += _time.perf_counter() - start
        _PROFILE["runs"] += 1
        if len(epochs) > 1:
            _PROFILE["first epoch extra"] += max(0.0, epochs[0] - _statistics.median(epochs[1:]))
_training.fit = _profiled_fit  # before any room imports it

try:
    import jax.monitoring as _monitoring
    def _compile_listener(event, duration, **kwargs):
        if "compile" in event and "backend" in event:
            _PROFILE["jax compile"] += duration
    _monitoring.register_event_duration_secs_listener(_compile_listener)
except ImportError:
    pass
'''
REPORT = f"print({MARK!r} + _json.dumps(_PROFILE))"


def profile(framework: str, chapter: str, mode: str, threads: int) -> dict:
    """Execute the chapter's notebook of ``framework`` and return its profile (seconds)."""
    import nbformat
    from nbclient import NotebookClient

    path = ROOT / "chapters" / framework / f"{chapter}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(INSTRUMENT))
    notebook.cells.append(nbformat.v4.new_code_cell(REPORT))
    with tempfile.TemporaryDirectory(prefix="d2l-profile-") as staging:
        context = current().replace(mode=mode, framework=framework, chapter=chapter,
                                    results_dir=Path(staging), recorded=ROOT / "results")
        env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
        env.update(thread_env(threads), **QUIET_ENV, **context.to_environ())
        client = NotebookClient(notebook, timeout=4 * 3600, kernel_name="d2l-compat",
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute(env=env)
        wall = time.perf_counter() - start
    for output in notebook.cells[-1].outputs:
        for line in output.get("text", "").splitlines():
            if line.startswith(MARK):
                found = json.loads(line[len(MARK):])
                found["wall"] = wall
                return found
    raise RuntimeError(f"{framework}: the notebook printed no profile")


def shares(found: dict) -> dict:
    """The parts of the wall time (seconds), each counted once."""
    train = found["train"] - found["first epoch extra"] - found["data"]
    parts = {"train": train, "first epoch extra": found["first epoch extra"],
             "data": found["data"], "evaluate": found["evaluate"],
             "live plot": found["live plot"]}
    parts["outside training"] = found["wall"] - sum(parts.values())
    return parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", choices=CHAPTER_NAMES, default="lr_scheduler")
    parser.add_argument("--mode", choices=RUN_MODES, default="class")
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS)
    parser.add_argument("--threads", type=int, default=0,
                        help="threads per notebook; 0 (default): each framework's own")
    args = parser.parse_args()
    frameworks = args.frameworks or installed_frameworks()
    print(f"CPU: {cpu_description()}; {os.cpu_count()} logical CPUs")
    print(f"{args.chapter}, {args.mode} mode, one notebook at a time, threads: "
          f"{args.threads or 'each framework its own default'}")
    names = ["train", "first epoch extra", "data", "evaluate", "live plot",
             "outside training"]
    print(f"{'framework':<12}{'wall s':>8}{'runs':>6}" + "".join(f"{n:>19}" for n in names)
          + f"{'jax compile':>13}")
    for framework in frameworks:
        try:
            found = profile(framework, args.chapter, args.mode, args.threads)
        except Exception as err:  # noqa: BLE001  one failing framework must not hide the rest
            print(f"{framework:<12}failed: {str(err).strip().splitlines()[-1:]}")
            continue
        parts = shares(found)
        cells = "".join(f"{parts[n]:>9.1f} s ({parts[n] / found['wall']:>4.0%})" for n in names)
        compile_ = f"{found['jax compile']:>11.1f} s" if framework == "jax" else f"{'-':>13}"
        print(f"{framework:<12}{found['wall']:>8.0f}{found['runs']:>6}{cells}{compile_}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
