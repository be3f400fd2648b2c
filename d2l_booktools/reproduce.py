"""The reproduction grid: every (chapter, framework, seed) notebook execution as a Dask task.

Run it as::

    python -m d2l_booktools.reproduce --chapters lenet lr_scheduler --frameworks pytorch jax \\
        --seeds 0 1 2 --mode full            # or --mode smoke; --workers N --retries K
    python -m d2l_booktools.reproduce --dry-run # what would run, what is already done

Defaults: every chapter under ``chapters/<framework>/*.ipynb``, every installed framework,
seed 0, full mode. Each execution is one task of a ``dask.distributed`` cluster:

* by default a ``LocalCluster`` sized to the machine: one worker *process* per core, one
  thread each (``--workers N`` to change it). Every notebook kernel is a child process of
  its worker and gets the thread limits of :data:`THREAD_ENV`, so N workers keep N cores
  busy instead of N x cores threads fighting for them;
* if ``DASK_SCHEDULER_ADDRESS`` is set, the scheduler at that address. Start it with any
  Dask deployment whose workers have this repository checked out at the same commit (same
  path or installed with ``pip install -e '.[all,grid]'``), the ``d2l-compat`` Jupyter
  kernel and the Fashion-MNIST cache (``make setup``). Notebooks and results travel with
  the tasks, so no shared file system is needed. Two examples::

      # several machines over SSH (pip install asyncssh), one single-threaded worker per core
      from dask.distributed import SSHCluster
      cluster = SSHCluster(["head", "node1", "node2"],
                           worker_options={"nthreads": 1, "n_workers": 8},
                           remote_python="/path/to/repo/.venv/bin/python")
      print(cluster.scheduler_address)   # export DASK_SCHEDULER_ADDRESS=tcp://head:8786

      # a Slurm cluster (pip install dask-jobqueue): one job = 8 single-threaded workers
      from dask_jobqueue import SLURMCluster
      cluster = SLURMCluster(cores=8, processes=8, memory="32GB", walltime="04:00:00",
                             python="/path/to/repo/.venv/bin/python")
      cluster.scale(jobs=4)
      print(cluster.scheduler_address)

  Keep that Python session open while the grid runs.

Each execution runs the notebook with ``nbclient`` in the ``d2l-compat`` kernel, with
``D2L_MODE``, ``D2L_SEED`` and ``D2L_FRAMEWORK`` in the kernel's environment (read by
:func:`d2l_compat.context.run_mode` and :func:`~d2l_compat.context.run_seed`) and its
results redirected (``D2L_RESULTS_DIR``) to a staging folder. Only when the whole notebook
succeeded are its outputs written, each atomically (temp file + rename):

* the executed notebook: in place (``chapters/<fw>/<chapter>.ipynb``, the committed book)
  for seed 0 in full mode, else ``build/runs/<mode>/<fw>/<chapter>.seed<k>.ipynb``; its
  metadata ``d2l_compat`` records mode, seed, fingerprint and the machine
  (:func:`machine_info`) that made the outputs;
* the results file (``results/[smoke/]<fw>/<chapter>[.seed<k>].json``) replaced whole, with
  ``grid.fingerprint``: sha256 of the notebook's code cells, the library modules they
  load, mode, seed and the framework's package versions (:func:`run_fingerprint`).

A run whose results file carries the current fingerprint is skipped (resume after an
interruption; ``--force`` runs it anyway). A failing execution is retried ``--retries``
times (Dask's ``retries=``), then reported with its error; the others go on, and the
command exits with status 1. At the end the results tables are rebuilt
(:mod:`d2l_booktools.tables`).

Runs are deterministic on one machine but differ between CPU models (vector extensions
change the order of floating-point sums); compare across machines with the spread over
seeds (``python -m d2l_booktools.regress``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from d2l_compat.checks import check_choice, check_int
from d2l_compat.context import DEFAULT_SEED, ENV, RUN_MODES, current
from d2l_compat.files import project_root, write_atomic, write_json_atomic
from d2l_compat.machine import cpu_description, cpu_model
from d2l_compat.records import history_from_record, load_results, results_dir, results_path
from d2l_compat.registry import CHAPTERS, FRAMEWORKS, ROOMS, framework as framework_entry
from d2l_booktools.gridrecords import (CONCLUSIONS_FILE, TIMINGS_FILE, merge_conclusions,
                                       notebook_conclusions, record_timing)
from d2l_booktools.tables import outcome_note, update_project_readme, write_readme
from d2l_booktools.sources import CHAPTERS_DIR, chapter_sources, read_source, write_notebooks

KERNEL = "d2l-compat"
CELL_TIMEOUT = 4 * 3600  # seconds per cell: a full-mode chapter trains for a long time
DEFAULT_RETRIES = 1

# One thread per kernel, for what each framework actually reads:
# torch: OMP_NUM_THREADS / MKL_NUM_THREADS set torch.get_num_threads() (its inter-op pool
#   has no variable; LeNet's training does not use it);
# TensorFlow: TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS size its two pools;
# JAX (XLA:CPU): --xla_cpu_multi_thread_eigen=false runs Eigen's matmuls and convolutions on
#   one thread; intra_op_parallelism_threads=1 is accepted and sizes the intra-op pool;
# MXNet: MXNET_CPU_WORKER_NTHREADS (its engine) and OMP_NUM_THREADS (its operators);
# OMP_WAIT_POLICY=passive: idle OpenMP threads sleep instead of spinning on a shared core.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "MXNET_CPU_WORKER_NTHREADS": "1",
    "OMP_WAIT_POLICY": "passive",
}
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}  # every kernel: TensorFlow's C++ start-up log off

FRAMEWORK_THREADS = 0
"""``threads`` value (``--threads 0``) that sets no thread variable: each framework picks
its own thread count, as in a reader's Jupyter. On a 2-core x86 machine torch, TensorFlow
and XLA use both cores; MXNet, not told otherwise, runs its operators on half the
processors it sees (it assumes hyper-threading), so on one thread, and its one engine
worker. Measured once, on a 2-core AMD EPYC: MXNet's class-mode lr_scheduler notebook
took 267-281 s that way and 328-353 s with 2 OpenMP threads."""

def framework_versions(framework: str) -> dict[str, str]:
    """Installed versions of ``framework``'s packages (and numpy), read without importing
    the framework: ``{"numpy": "1.26.4", "torch": "2.13.0"}`` (the packages are the
    framework registry's, :mod:`d2l_compat.registry`)."""
    versions = {}
    for package in ("numpy",) + framework_entry(framework).packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _sha256(parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def code_sources(notebook: dict) -> list[str]:
    """The sources of a notebook's code cells, in order (outputs do not count)."""
    return ["".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for cell in notebook["cells"] if cell["cell_type"] == "code"]


LIBRARY_DIR = Path(__file__).resolve().parents[1] / "d2l_compat"


def _imported_modules(source: str) -> set[str]:
    """The ``d2l_compat`` modules that Python ``source`` imports (by its import statements)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "d2l_compat"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "d2l_compat":
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # submodules
    return found


def library_dependencies(sources) -> list[Path]:
    """The library's files that code ``sources`` (strings) loads, directly or through
    other library modules: the closure of their ``d2l_compat`` imports (a package's
    ``__init__`` included), sorted. Another room, the tooling or the tests are not in it."""
    seen: set[Path] = set()
    todo = [m for src in sources for m in _imported_modules(src)]
    while todo:
        parts = todo.pop().split(".")[1:]
        for path in (LIBRARY_DIR.joinpath(*parts).with_suffix(".py"),
                     LIBRARY_DIR / "__init__.py"):
            if path.is_file() and path not in seen:
                seen.add(path)
                todo += _imported_modules(path.read_text())
    return sorted(seen)


def run_fingerprint(notebook: dict, mode: str, seed: int, framework: str) -> str:
    """sha256 of what decides a run's numbers on a given machine: the notebook's code
    cells, the library modules they load (:func:`library_dependencies`: editing the
    book's tooling or another framework's room leaves it alone), ``mode``, ``seed`` and
    :func:`framework_versions`."""
    cells = code_sources(notebook)
    modules = [f"{p.name}\n{p.read_text()}" for p in library_dependencies(
        [_strip_magics(c) for c in cells])]
    return _sha256(["cells", *cells, "package", *modules, f"mode={mode}", f"seed={seed}",
                    json.dumps(framework_versions(framework), sort_keys=True)])


def _strip_magics(cell: str) -> str:
    """A code cell without IPython's ``%`` / ``!`` lines, so that it parses as Python."""
    return "\n".join(line for line in cell.splitlines()
                     if not line.lstrip().startswith(("%", "!")))


def machine_info(framework: str) -> dict:
    """What makes a machine's outputs comparable bit for bit: CPU model, a hash of its
    feature flags (AVX2, AVX-512, ...), architecture and the framework's versions."""
    model, flags = cpu_model()
    return {"cpu": model, "cpu_flags_sha256": _sha256(flags)[:16],
            "machine": platform.machine(), "versions": framework_versions(framework)}


def same_machine(a: dict | None, b: dict | None) -> bool:
    """Whether two :func:`machine_info` records describe the same CPU and versions."""
    keys = ("cpu", "cpu_flags_sha256", "machine", "versions")
    return bool(a and b) and all(a.get(k) == b.get(k) for k in keys)


def installed_frameworks() -> list[str]:
    """Frameworks whose package can be imported here (checked without importing it)."""
    return [fw for fw in FRAMEWORKS if importlib.util.find_spec(ROOMS[fw]) is not None]


def find_chapters(chapters_dir: Path, frameworks) -> list[str]:
    """Chapter names found as ``<chapters_dir>/<framework>/<chapter>.ipynb``, sorted."""
    return sorted({path.stem for fw in frameworks
                   for path in (Path(chapters_dir) / fw).glob("*.ipynb")})


@dataclass(frozen=True)
class Task:
    """One notebook execution of the grid."""

    chapter: str
    framework: str
    seed: int
    mode: str
    source: Path        # the notebook to execute
    output: Path        # where the executed notebook goes
    results: Path       # results root (results_dir(mode))
    fingerprint: str
    timings: Path | None = None  # the running-times file (results.TIMINGS_FILE), if any
    # The recorded results the kernel reads beside its own (D2L_RESULTS_RECORDED): None
    # is ``results``; ``isolated`` reads none, so that the outputs of cells that show
    # other seeds or frameworks do not depend on which executions ran before (regress).
    recorded: Path | None = None
    isolated: bool = False

    @property
    def key(self) -> str:
        return f"{self.chapter}/{self.framework}/seed{self.seed}/{self.mode}"

    @property
    def results_file(self) -> Path:
        return results_path(self.framework, self.chapter, self.mode, self.seed, self.results)

    def is_current(self) -> bool:
        """The results file exists and was made from the same code and configuration."""
        data = load_results(self.framework, self.chapter, self.mode, self.seed, self.results)
        return bool(data) and data.get("grid", {}).get("fingerprint") == self.fingerprint


def output_path(chapters_dir: Path, build_dir: Path, chapter: str, framework: str,
                seed: int, mode: str, in_place: bool = True) -> Path:
    """Seed 0 in full mode: the chapter itself (``in_place``); otherwise
    ``<build_dir>/runs/<mode>/<framework>/<chapter>.seed<seed>.ipynb``."""
    if in_place and mode == "full" and seed == DEFAULT_SEED:
        return Path(chapters_dir) / framework / f"{chapter}.ipynb"
    return Path(build_dir) / "runs" / mode / framework / f"{chapter}.seed{seed}.ipynb"


def plan(chapters, frameworks, seeds, mode: str, chapters_dir: Path, build_dir: Path,
         results: Path | None = None, in_place: bool = True, recorded: Path | None = None,
         isolated: bool = False) -> list[Task]:
    """The tasks of a grid, in (chapter, framework, seed) order.

    Raises:
        TypeError, ValueError: a bad mode or seed (as :mod:`d2l_compat.checks`).
        ValueError: a requested notebook that does not exist.
    """
    check_choice("mode", mode, RUN_MODES)
    for seed in seeds:
        check_int("seeds", seed, minimum=0)
    chapters_dir, build_dir = Path(chapters_dir), Path(build_dir)
    # Every mode's running times go to one file beside the full-mode results.
    timings = (Path(results) if results is not None else results_dir("full")) / TIMINGS_FILE
    results = Path(results) if results is not None else results_dir(mode)
    missing = [str(chapters_dir / fw / f"{ch}.ipynb") for ch in chapters for fw in frameworks
               if not (chapters_dir / fw / f"{ch}.ipynb").exists()]
    if missing:
        raise ValueError("no such notebook: " + ", ".join(missing))
    tasks = []
    for chapter in chapters:
        for framework in frameworks:
            source = chapters_dir / framework / f"{chapter}.ipynb"
            notebook = json.loads(source.read_text())
            for seed in dict.fromkeys(seeds):
                tasks.append(Task(chapter, framework, seed, mode, source,
                                  output_path(chapters_dir, build_dir, chapter, framework,
                                              seed, mode, in_place),
                                  results, run_fingerprint(notebook, mode, seed, framework),
                                  timings, recorded, isolated))
    return tasks


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # the colours of IPython's tracebacks


def thread_env(threads: int = 1) -> dict[str, str]:
    """:data:`THREAD_ENV` for ``threads`` threads per kernel (the XLA flag only for 1);
    for :data:`FRAMEWORK_THREADS` (0) no thread variable at all.

    >>> thread_env(4)["OMP_NUM_THREADS"], "XLA_FLAGS" in thread_env(4), thread_env(0)
    ('4', False, {})
    """
    check_int("threads", threads, minimum=FRAMEWORK_THREADS)
    if threads == FRAMEWORK_THREADS:
        return {}
    env = {k: (str(threads) if v == "1" else v) for k, v in THREAD_ENV.items()}
    if threads > 1:
        del env["XLA_FLAGS"]
    return env


def worker_only_env() -> set[str]:
    """The variables a Dask nanny sets for its worker process only
    (``distributed.nanny.pre-spawn-environ``), which a kernel the worker starts must not
    inherit. Among them ``MALLOC_TRIM_THRESHOLD_=65536`` makes glibc hand memory back to
    the system after nearly every free: a class-mode chapter's kernel spent most of its
    extra time in those system calls and took 221 s instead of 120 s (PyTorch
    lr_scheduler, 2 threads, same machine). The thread counts among them are set again by
    :func:`thread_env`.
    """
    import dask.config
    return set(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})


def kernel_env(task: Task, staging: str, threads: int = 1) -> dict[str, str]:
    """The kernel's environment: this process's without the Dask worker's own settings
    (:func:`worker_only_env`), without any thread variable of :data:`THREAD_ENV` and any
    run-context variable; then :func:`thread_env`, :data:`QUIET_ENV` and the run's
    context (:class:`d2l_compat.context.RunContext`): this process's, with the task's
    mode, seed, chapter and framework, its results staged in ``staging``, and the grid's
    results folder to read beside them (unless the task is isolated)."""
    dropped = worker_only_env() | set(THREAD_ENV) | set(ENV.values())
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(thread_env(threads), **QUIET_ENV)
    view = None if task.isolated else (task.recorded or task.results)
    context = current().replace(
        mode=task.mode, seed=task.seed, framework=task.framework, chapter=task.chapter,
        results_dir=Path(staging),  # a worker that shares the folder reads it:
        recorded=view if view is not None and view.is_dir() else None)
    env.update(context.to_environ())
    return env


def execute(task: Task, notebook_text: str, kernel: str = KERNEL,
            timeout: int = CELL_TIMEOUT, threads: int = 1) -> dict:
    """Execute one notebook (runs on a Dask worker). Returns the executed notebook, the
    results files it wrote (``{relative path: JSON text}``), the seconds it took and the
    machine; raises ``RuntimeError`` with the failing cell's error."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    notebook = nbformat.reads(notebook_text, as_version=4)
    with tempfile.TemporaryDirectory(prefix="d2l-grid-") as staging:
        cwd = task.source.parent if task.source.parent.is_dir() else Path(staging)
        client = NotebookClient(notebook, timeout=timeout, kernel_name=kernel,
                                resources={"metadata": {"path": str(cwd)}})
        start = time.perf_counter()
        try:
            client.execute(env=kernel_env(task, staging, threads))
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            lines = ANSI_ESCAPE.sub("", str(err)).strip().splitlines()
            raise RuntimeError(f"{task.key} failed on {platform.node()}:\n"
                               + "\n".join(lines[-25:])) from None
        seconds = time.perf_counter() - start
        machine = machine_info(task.framework)
        notebook.metadata["d2l_compat"] = {"mode": task.mode, "seed": task.seed,
                                           "fingerprint": task.fingerprint,
                                           "machine": machine}
        written = {str(path.relative_to(staging)): path.read_text()
                   for path in sorted(Path(staging).rglob("*.json"))}
    return {"notebook": nbformat.writes(notebook), "results": written, "seconds": seconds,
            "machine": machine, "threads": threads, "cpu": cpu_description(),
            "conclusions": notebook_conclusions(notebook)}


def store(task: Task, outcome: dict, at_once: int = 1) -> list[Path]:
    """Write an execution's notebook and results files (each atomically); returns the
    results files, each stamped with the run's fingerprint and machine. ``at_once``: how
    many notebooks the grid ran at the same time (recorded with the running time)."""
    write_atomic(task.output, outcome["notebook"])
    written = dict(outcome["results"])
    checked = outcome.get("conclusions")  # merged beside the running times
    paths = []
    for relative, text in written.items():
        data = json.loads(text)
        data["grid"] = {"fingerprint": task.fingerprint, "machine": outcome["machine"]}
        paths.append(write_json_atomic(task.results / relative, data))
    if task.timings is not None:
        record_timing(task.timings, task, outcome["seconds"], outcome["threads"],
                      outcome["cpu"], at_once)
        if checked is not None:
            merge_conclusions(task.timings.with_name(CONCLUSIONS_FILE),
                              {"chapter": task.chapter, "framework": task.framework,
                               "seed": task.seed, **checked})
    return paths


def summary_line(task: Task, seconds: float, results_file: Path | None) -> str:
    """``lenet pytorch seed 1: 812 s; baseline 0.893, too_large 0.100 (collapsed at epoch
    3)`` (final test accuracy of every run recorded in the results file)."""
    head = f"{task.chapter} {task.framework} seed {task.seed} ({task.mode}): {seconds:.0f} s"
    data = json.loads(results_file.read_text()) if results_file and results_file.exists() \
        else None
    if not data:
        return head + "; no results recorded"
    runs = []
    for run, record in data["runs"].items():
        history = history_from_record(record)
        if history.epochs:
            runs.append(f"{run} {history.final['test_acc']:.3f}{outcome_note(history)}")
    return head + "; " + ", ".join(runs)


def make_client(workers: int | None = None):
    """A ``distributed.Client``: to ``$DASK_SCHEDULER_ADDRESS`` if set, else to a new
    LocalCluster of ``workers`` (default: one per core) single-threaded processes."""
    from distributed import Client, LocalCluster

    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        return Client(address)
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    # memory_limit=0: the kernels are child processes; the workers themselves hold little.
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit=0)
    return Client(cluster)


@dataclass
class Outcome:
    task: Task
    status: str                 # "done", "skipped" or "failed"
    seconds: float = 0.0
    line: str = ""
    error: str = ""


def run_grid(tasks: list[Task], client, retries: int = DEFAULT_RETRIES, force: bool = False,
             kernel: str = KERNEL, timeout: int = CELL_TIMEOUT, threads: int = 1,
             progress: bool = True, echo=print) -> list[Outcome]:
    """Submit every task that is not current (all with ``force``) and collect outcomes.

    A task that raises is retried ``retries`` times by Dask, then reported as failed;
    the others continue. The seed-0 execution of a chapter and framework starts only once
    its executions for the other seeds of this grid have finished and been stored: the
    seed-0 notebook is the book's, and its seed tables read the other seeds' results.
    """
    from distributed import as_completed

    check_int("retries", retries, minimum=0)
    outcomes = {task.key: Outcome(task, "skipped") for task in tasks
                if not force and task.is_current()}
    for outcome in outcomes.values():
        echo(f"{outcome.task.key}: up to date, skipped (--force to re-run)")
    pending = [task for task in tasks if task.key not in outcomes]

    def group(task: Task) -> tuple:
        return task.chapter, task.framework, task.mode

    def submit(task: Task):
        return client.submit(execute, task, task.source.read_text(), kernel, timeout,
                             threads, key=f"notebook-{task.key}-{task.fingerprint[:8]}",
                             retries=retries, pure=False)

    # (chapter, framework, mode) -> its executions of other seeds not finished
    others = Counter(group(task) for task in pending if task.seed != DEFAULT_SEED)
    held = {}    # (chapter, framework, mode) -> its seed-0 executions, waiting for those
    futures = {}
    for task in pending:
        if task.seed == DEFAULT_SEED and others[group(task)]:
            held.setdefault(group(task), []).append(task)
        else:
            futures[submit(task)] = task
    workers = len(client.scheduler_info().get("workers", {})) or 1
    at_once = max(1, min(workers, len(pending)))
    bar = None
    if progress and pending:
        from tqdm import tqdm
        bar = tqdm(total=len(pending), unit="notebook", file=sys.stderr)
        echo = bar.write
    finished = as_completed(futures)
    for future in finished:
        task = futures[future]
        try:
            result = future.result()
        except Exception as err:  # noqa: BLE001  a failed notebook must not stop the grid
            outcome = Outcome(task, "failed", error=str(err))
            outcome.line = f"{task.key} FAILED after {retries + 1} attempt(s): {err}"
        else:
            paths = store(task, result, at_once)
            own = task.results_file if task.results_file in paths else None
            outcome = Outcome(task, "done", result["seconds"],
                              summary_line(task, result["seconds"], own))
        outcomes[task.key] = outcome
        echo(outcome.line)
        if task.seed != DEFAULT_SEED:
            others[group(task)] -= 1
            if not others[group(task)]:  # stored (or failed): release its seed 0
                for waiting in held.pop(group(task), []):
                    future = submit(waiting)
                    futures[future] = waiting
                    finished.add(future)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return [outcomes[task.key] for task in tasks]


def rebuild_tables(mode: str, chapters_dir: Path | None = None) -> None:
    """After a grid run: ``results/<mode>/README.md``; then, for the project's results
    folder, ``results/README.md`` and the project README's results section (their running
    times and conclusions tables cover every mode) and, for the project's chapters, the
    running times in the *Running this chapter* box of every notebook (``make notebooks``)."""
    print(f"wrote {write_readme(mode)}")
    if current().results_dir:
        return
    if mode != "full":
        print(f"wrote {write_readme('full')}")
    if update_project_readme("full"):
        print("updated the results section of README.md")
    if chapters_dir is not None and Path(chapters_dir).resolve() == CHAPTERS_DIR:
        for source in chapter_sources(chapters_dir):
            for path in write_notebooks(read_source(source), keep_outputs=True):
                print(f"updated the running times in {path}")


def parser(description: str = "Execute notebooks on a Dask grid.") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--chapters", nargs="+", help="chapter names (default: all found)")
    p.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS,
                   help="default: every installed framework")
    p.add_argument("--mode", choices=RUN_MODES, default="full")
    p.add_argument("--workers", type=int, help="LocalCluster workers (default: one per core)")
    p.add_argument("--retries", type=int, default=DEFAULT_RETRIES)
    p.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell")
    p.add_argument("--threads", type=int, default=1,
                   help="threads per notebook (default 1); 0 sets no thread variable, so "
                        "each framework uses its own default: --workers 1 --threads 0 "
                        "times a notebook as a reader runs it, alone on the machine")
    p.add_argument("--kernel", default=KERNEL)
    p.add_argument("--chapters-dir", type=Path, default=project_root() / "chapters")
    p.add_argument("--build-dir", type=Path, default=project_root() / "build")
    p.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    return p


def check_kernel(name: str) -> str:
    """The interpreter of the Jupyter kernel ``name``; a ValueError naming ``--kernel`` if
    the kernel is not installed or its interpreter is missing (a kernel spec installed from
    another checkout points at that checkout's ``.venv``): ``make kernel`` installs it anew.

    Checked before the grid starts, so that no notebook fails for it one by one.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise ValueError(f"--kernel: no Jupyter kernel named {name!r} is installed; "
                         f"`make kernel` installs {KERNEL!r}") from None
    interpreter = spec.argv[0] if spec.argv else ""
    if not (Path(interpreter).is_file() and os.access(interpreter, os.X_OK)):
        raise ValueError(f"--kernel: the kernel {name!r} ({spec.resource_dir}) starts "
                         f"{interpreter!r}, which does not exist here; `make kernel` "
                         f"installs it for this checkout")
    return interpreter


def behind_sources(chapters, frameworks, chapters_dir: Path) -> list[str]:
    """The notebooks of the project's chapters whose code differs from what their sources
    generate (the source was edited, ``make notebooks`` not run): executing them would
    record a chapter that is not the book's. Prose does not count (the end of the grid
    regenerates it, with the running times it recorded). Empty for another chapters
    folder (tests, copies)."""
    from d2l_booktools.sources import generate

    if Path(chapters_dir).resolve() != CHAPTERS_DIR.resolve():
        return []
    behind = []
    for chapter in chapters:
        source = CHAPTERS_DIR / f"{chapter}.md"
        if not source.exists():
            continue
        parsed = read_source(source)
        for framework in frameworks:
            path = Path(chapters_dir) / framework / f"{chapter}.ipynb"
            if (not path.exists() or code_sources(json.loads(path.read_text()))
                    != code_sources(generate(parsed, framework))):
                behind.append(str(path))
    return behind


def selection(args) -> tuple[list[str], list[str]]:
    frameworks = args.frameworks or installed_frameworks()
    chapters = args.chapters or find_chapters(args.chapters_dir, frameworks)
    return chapters, frameworks


def book_seeds(chapter: str) -> list[int]:
    """The seeds the book records for ``chapter``: the chapter registry's, else seed 0.

    >>> book_seeds("lr_scheduler"), book_seeds("probe")
    ([0, 1, 2], [0])
    """
    entry = next((c for c in CHAPTERS if c.name == chapter), None)
    return list(entry.seeds) if entry else [DEFAULT_SEED]


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", nargs="+", type=int, default=[DEFAULT_SEED])
    seeds.add_argument("--book", action="store_true",
                       help="each chapter with the seeds the chapter registry gives it "
                            "(d2l_compat.registry.CHAPTERS: what make reproduce runs)")
    p.add_argument("--force", action="store_true", help="re-run up-to-date runs too")
    args = p.parse_args(argv)
    try:
        thread_env(args.threads)
    except (TypeError, ValueError) as err:
        p.error(f"--threads: {err}")
    chapters, frameworks = selection(args)
    try:
        tasks = [task for chapter in chapters for task in plan(
            [chapter], frameworks, book_seeds(chapter) if args.book else args.seeds,
            args.mode, args.chapters_dir, args.build_dir)]
    except (TypeError, ValueError) as err:
        p.error(str(err))
    behind = behind_sources(chapters, frameworks, args.chapters_dir)
    if behind:
        p.error("these notebooks are behind their chapter sources: " + ", ".join(behind)
                + "; `make notebooks` regenerates them (`make reproduce` does it first)")
    if args.dry_run:
        for task in tasks:
            state = "up to date" if task.is_current() and not args.force else "would run"
            print(f"{task.key}: {state} -> {task.output}")
        return 0
    try:
        check_kernel(args.kernel)
    except ValueError as err:
        p.error(str(err))
    client = make_client(args.workers)
    try:
        print(f"dask: {client}")
        outcomes = run_grid(tasks, client, args.retries, args.force, args.kernel,
                            args.timeout, args.threads)
    finally:
        client.close()
        if client.cluster is not None:
            client.cluster.close()
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    print(", ".join(f"{n} {s}" for s, n in counts.items()))
    rebuild_tables(args.mode, args.chapters_dir)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
