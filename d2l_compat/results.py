"""Results of the chapters: JSON files per framework and chapter, and the summary table.

Full runs write ``results/<framework>/<chapter>.json`` (seed 0) and
``results/<framework>/<chapter>.seed<k>.json`` (seed ``k`` > 0, from ``D2L_SEED=k``); smoke
and class runs write under ``results/smoke/`` and ``results/class/`` (ignored by git), so
tests never overwrite the committed numbers. ``python -m d2l_compat.results`` rebuilds ``results/README.md`` from the JSON files:
the seed-0 value of every run, with its collapse if any, and where several seeds exist the
mean and min-max over seeds and in how many of them the run collapsed. Beside the full-mode
results, the grid keeps two files for every mode: the running time of each execution
(:data:`TIMINGS_FILE`) and which of its conclusions each execution bore out
(:data:`CONCLUSIONS_FILE`).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

from d2l_compat import FRAMEWORKS
from d2l_compat.checks import check_int
from d2l_compat.runmode import DEFAULT_SEED, RUN_MODES, run_mode, run_seed
from d2l_compat.training import STUCK, History, collapse_epoch

# D2L v1.0.3 published outputs (GPU, single unseeded runs): train loss, train acc, test acc.
D2L_REFERENCE = {
    "baseline": {"pytorch": (.145, .944, .877), "mxnet": (.160, .939, .884),
                 "tensorflow": (.228, .916, .890)},
    "square_root": {"pytorch": (.273, .900, .886), "mxnet": (.523, .810, .815),
                    "tensorflow": (.388, .858, .847)},
    "multi_factor": {"pytorch": (.194, .927, .869), "mxnet": (.194, .927, .887),
                     "tensorflow": (.234, .912, .891)},
    "cosine": {"pytorch": (.159, .942, .904), "mxnet": (.343, .878, .859),
               "tensorflow": (.264, .904, .880)},
    "cosine_warmup": {"pytorch": (.181, .934, .901), "mxnet": (.348, .874, .871),
                      "tensorflow": (.274, .899, .880)},
}
RUN_TITLES = {
    "baseline": "baseline lr 0.3",
    "square_root": "square root lr 0.1",
    "multi_factor": "multi-factor [15,30] x0.5 from 0.5",
    "cosine": "cosine 20, 0.3 -> 0.01",
    "cosine_warmup": "cosine + 5 warmup",
    "factor": "factor x0.85 from 0.3, floor 0.01",
}


def project_root() -> Path:
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


CHAPTER_ENV = "D2L_CHAPTER"
"""Set by the grid for a notebook it executes: the chapter's name."""


def results_dir(mode: str | None = None) -> Path:
    """``$D2L_RESULTS_DIR``, else ``results/`` (full) or ``results/<mode>/`` (class, smoke).

    In a notebook the grid executes (``D2L_CHAPTER`` set), ``$D2L_RESULTS_DIR`` stages the
    results of the run's own mode only: another mode's (say, the committed full-mode range
    test that a class-mode run's exercises read) come from the project's folder.
    """
    mode = mode or run_mode()
    staged = os.environ.get("D2L_RESULTS_DIR")
    if staged and not (os.environ.get(CHAPTER_ENV) and mode != run_mode()):
        return Path(staged)
    base = project_root() / "results"
    return base if mode == "full" else base / mode


def results_name(chapter: str, seed: int = DEFAULT_SEED) -> str:
    """File name of a chapter's results for one seed.

    >>> results_name("lenet"), results_name("lenet", 2)
    ('lenet.json', 'lenet.seed2.json')
    """
    seed = check_int("seed", seed, minimum=0)
    return f"{chapter}.json" if seed == DEFAULT_SEED else f"{chapter}.seed{seed}.json"


SEED_FILE = re.compile(r"^(?P<chapter>.+?)(?:\.seed(?P<seed>\d+))?\.json$")


def results_path(framework: str, chapter: str, mode: str | None = None,
                 seed: int = DEFAULT_SEED, directory: str | os.PathLike | None = None) -> Path:
    """``<directory or results_dir(mode)>/<framework>/<results_name(chapter, seed)>``."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    base = Path(directory) if directory is not None else results_dir(mode)
    return base / framework / results_name(chapter, seed)


def _finite_or_none(value):
    """JSON has no NaN: a diverged run's loss is stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


def write_json_atomic(path: Path, data: dict) -> Path:
    """Write ``data`` as strict JSON (NaN as null) to ``path`` via a temp file and a rename,
    so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_finite_or_none(data), indent=1) + "\n")
    os.replace(tmp, path)
    return path


def record_run(chapter: str, run: str, history: History, **extra) -> Path:
    """Add (or replace) one run in the chapter's results file, written atomically.

    The file is the one of ``history.seed`` (``<chapter>.json`` for seed 0,
    ``<chapter>.seed<k>.json`` otherwise), so the executions of one chapter for several seeds
    (``D2L_SEED``) never overwrite each other. A chapter executed for seed 0 may record runs
    of other seeds (a seed study inside one notebook): they stay in the seed-0 file.

    Raises:
        ValueError: ``D2L_SEED`` asks for seed ``k`` > 0 but the history was trained with
            another seed (the chapter ignores ``d2l.run_seed()``); nothing is written, so
            the numbers of one seed are never filed under another.
    """
    seed = run_seed()
    if seed != DEFAULT_SEED and history.seed != seed:
        raise ValueError(
            f"D2L_SEED={seed} but run {run!r} of {chapter!r} was trained with seed "
            f"{history.seed}: pass seed=d2l.run_seed() to lenet() and train()")
    path = results_path(history.framework, chapter, history.mode, seed)
    data = _read_json(path) or {"chapter": chapter, "framework": history.framework, "runs": {}}
    data.update(mode=history.mode, seed=seed, data_source=history.data_source,
                split_reconstructed=history.split_reconstructed, versions=history.versions)
    data["runs"][run] = {**history.to_dict(), **extra}
    return write_json_atomic(path, data)


def _read_json(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def load_results(framework: str, chapter: str, mode: str | None = None,
                 seed: int = DEFAULT_SEED, directory: str | os.PathLike | None = None
                 ) -> dict | None:
    """The results file of one chapter, framework and seed as a dict, or None if absent.

    Without ``directory``, in a notebook the grid executes, a file that this execution has
    not written is read from the grid's results folder (``$D2L_RESULTS_RECORDED``), as
    :func:`load_seeds` does: a seed-1 execution reads seed 0 there.
    """
    data = _read_json(results_path(framework, chapter, mode, seed, directory))
    recorded = os.environ.get(RECORDED_ENV)
    if (data is None and directory is None and recorded
            and results_dir(mode) == results_dir()):  # the run's own mode: staged
        data = _read_json(results_path(framework, chapter, mode, seed, recorded))
    return data


def history_from_record(run: dict) -> History:
    """The History of one run's record in a results file (extra keys ignored)."""
    fields = History.__dataclass_fields__
    return History.from_dict({k: v for k, v in run.items() if k in fields})


def load_history(framework: str, chapter: str, run: str, mode: str | None = None,
                 seed: int = DEFAULT_SEED) -> History:
    data = load_results(framework, chapter, mode, seed)
    if data is None or run not in data["runs"]:
        raise KeyError(f"no run {run!r} in {results_path(framework, chapter, mode, seed)}")
    return history_from_record(data["runs"][run])


def result_seeds(framework: str, chapter: str, mode: str | None = None,
                 directory: str | os.PathLike | None = None) -> list[int]:
    """The seeds that have a results file for this chapter and framework, ascending."""
    folder = results_path(framework, chapter, mode, directory=directory).parent
    seeds = []
    for path in folder.glob(f"{chapter}*.json") if folder.is_dir() else ():
        match = SEED_FILE.match(path.name)
        if match and match["chapter"] == chapter:
            seeds.append(int(match["seed"] or DEFAULT_SEED))
    return sorted(seeds)


RECORDED_ENV = "D2L_RESULTS_RECORDED"
"""Set by the grid for a notebook it executes: the results folder of the grid, whose files
the notebook reads (other seeds, other frameworks) while its own go to a staging folder."""


def load_seeds(framework: str, chapter: str, mode: str | None = None,
               directory: str | os.PathLike | None = None) -> dict[int, dict[str, History]]:
    """Every recorded seed of a chapter: ``{seed: {run: History}}``, seeds ascending.

    Framework-free, so a chapter of any framework (or a script) can read all four.
    ``directory`` defaults to :func:`results_dir` of ``mode`` and, in a notebook the grid
    executes, also the grid's results folder (``$D2L_RESULTS_RECORDED``), so that the
    seed-0 execution sees the seeds and frameworks recorded before it; a seed present in
    both is read from the first.
    """
    folders = [directory]
    if directory is None and os.environ.get(RECORDED_ENV):
        folders.append(Path(os.environ[RECORDED_ENV]))
    found: dict[int, dict[str, History]] = {}
    for folder in reversed(folders):  # the first folder's seeds replace the others'
        for seed in result_seeds(framework, chapter, mode, folder):
            records = load_results(framework, chapter, mode, seed, folder)["runs"]
            found[seed] = {run: history_from_record(r) for run, r in records.items()}
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class SeedStats:
    """A final metric of one run over seeds: ``n`` values, their mean, min and max, in how
    many seeds the run collapsed (:func:`d2l_compat.training.collapse_epoch`) and in how
    many it stayed at chance level in every epoch (``History.stuck``)."""

    n: int
    mean: float
    min: float
    max: float
    collapsed: int
    stuck: int = 0

    @property
    def spread(self) -> float:
        """``max - min``: how far the seeds alone move the metric."""
        return self.max - self.min

    def __str__(self) -> str:
        text = f"mean {self.mean:.3f}, {self.min:.3f}–{self.max:.3f} over {self.n} seeds"
        return text + "".join(f", {count} of {self.n} {words}" for count, words in
                               ((self.collapsed, "collapsed"), (self.stuck, STUCK)) if count)


def seed_stats(histories, metric: str = "test_acc") -> SeedStats:
    """Statistics of the last epoch's ``metric`` over the histories of one run's seeds.

    mean = (1/n) sum_s metric_s; a non-finite value (a diverged loss) makes the mean and
    the bounds NaN.

    Args:
        histories (iterable of History): one run, one history per seed.
        metric (str, default ``"test_acc"``): ``"test_acc"``, ``"train_acc"`` or
            ``"train_loss"``.

    >>> from d2l_compat.training import EpochRecord
    >>> def run(*losses, acc):
    ...     return History("jax", epochs=[EpochRecord(e, 0.1, l, 0.5, acc, 1.0, 1.0)
    ...                                   for e, l in enumerate(losses)])
    >>> str(seed_stats([run(1.0, 0.5, acc=0.8), run(1.0, 2.3, acc=0.1)]))
    'mean 0.450, 0.100–0.800 over 2 seeds, 1 of 2 collapsed'
    """
    histories = list(histories)
    if metric not in ("test_acc", "train_acc", "train_loss"):
        raise ValueError(f"metric must be 'test_acc', 'train_acc' or 'train_loss', "
                         f"got {metric!r}")
    if not histories:
        raise ValueError("seed_stats needs at least one history")
    values = [float(h.final[metric]) for h in histories]
    finite = all(math.isfinite(v) for v in values)
    collapsed = sum(collapse_epoch(h.train_loss) is not None for h in histories)
    nan = math.nan
    return SeedStats(n=len(values), mean=sum(values) / len(values) if finite else nan,
                     min=min(values) if finite else nan, max=max(values) if finite else nan,
                     collapsed=collapsed, stuck=sum(h.stuck for h in histories))


def compare_with_d2l(histories: dict[str, History], framework: str) -> str:
    """A markdown table of our runs next to D2L's published numbers for ``framework``."""
    lines = ["| run | ours: train loss / train acc / test acc | D2L: train loss / train acc / test acc |",
             "|---|---|---|"]
    for run, history in histories.items():
        f = history.final
        ours = f"{f['train_loss']:.3f} / {f['train_acc']:.3f} / {f['test_acc']:.3f}"
        ref = D2L_REFERENCE.get(run, {}).get(framework)
        theirs = " / ".join(f"{v:.3f}" for v in ref) if ref else "not published"
        lines.append(f"| {RUN_TITLES.get(run, run)} | {ours} | {theirs} |")
    return "\n".join(lines)


CHAPTER_TITLES = {
    "lenet": "LeNet on Fashion-MNIST (constant lr 0.3, 30 epochs)",
    "lr_scheduler": "Learning Rate Scheduling (30 epochs each)",
    "warmup_cosine": "Warmup, hold and cosine decay",
    "lr_finder": "Finding a learning rate",
}


def collapse_note(history: History) -> str:
    """``" (collapsed at epoch k)"`` (k counted from 1, as the chapters print epochs) when
    the run's training loss returned to chance level, ``" (at chance in every epoch)"``
    when it never left it, else ``""``."""
    if history.stuck:
        return f" ({STUCK})"
    epoch = collapse_epoch(history.train_loss)
    return "" if epoch is None else f" (collapsed at epoch {epoch + 1})"


def _cell(history: History | None) -> str:
    if history is None:
        return "—"
    final = history.final
    loss = "diverged" if not math.isfinite(final["train_loss"]) else f"{final['train_loss']:.3f}"
    return f"{final['test_acc']:.3f}{collapse_note(history)} / {loss}"


def _seeds_cell(histories: list[History]) -> str:
    if len(histories) < 2:
        return "—"
    acc = seed_stats(histories)
    return (f"{acc.mean:.3f} ({acc.min:.3f}–{acc.max:.3f}), "
            f"{acc.collapsed} of {acc.n} collapsed"
            + (f", {acc.stuck} of {acc.n} {STUCK}" if acc.stuck else ""))


def chapter_table(chapter: str, mode: str = "full") -> str | None:
    """Markdown tables: rows = runs, columns = frameworks.

    The first gives seed 0, ``test acc / train loss`` after the last epoch (with the epoch
    of a collapse); where a framework has results for two or more seeds, a second gives
    the test accuracy's mean (min–max) over the seeds and in how many the run collapsed.
    """
    found = {fw: load_seeds(fw, chapter, mode) for fw in FRAMEWORKS}
    found = {fw: seeds for fw, seeds in found.items() if seeds}
    if not found:
        return None
    runs = list(dict.fromkeys(run for seeds in found.values() for by_run in seeds.values()
                              for run in by_run))
    header = ["| run | " + " | ".join(FRAMEWORKS) + " |", "|---" * (len(FRAMEWORKS) + 1) + "|"]
    lines = list(header)
    for run in runs:
        cells = [_cell(found.get(fw, {}).get(DEFAULT_SEED, {}).get(run)) for fw in FRAMEWORKS]
        lines.append(f"| {RUN_TITLES.get(run, run)} | " + " | ".join(cells) + " |")
    sources = sorted({str(load_results(fw, chapter, mode, min(seeds)).get("data_source"))
                      for fw, seeds in found.items()})
    lines += ["", f"Data source: {', '.join(sources)}."]
    if any(len(seeds) > 1 for seeds in found.values()):
        counts = ", ".join(f"{fw} {len(seeds)}" for fw, seeds in found.items())
        lines += ["", f"Over seeds (seeds per framework: {counts}) — test accuracy mean "
                  "(min–max), and in how many seeds the run collapsed (or stayed at chance in "
                  "every epoch):", ""] + header
        for run in runs:
            cells = [_seeds_cell([by_run[run] for by_run in found.get(fw, {}).values()
                                  if run in by_run]) for fw in FRAMEWORKS]
            lines.append(f"| {RUN_TITLES.get(run, run)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_test_accuracy(chapter: str, path: Path, mode: str = "full") -> bool:
    """One panel per run: test accuracy per epoch, one line per framework."""
    found = {fw: load_results(fw, chapter, mode) for fw in FRAMEWORKS}
    found = {fw: data for fw, data in found.items() if data}
    runs = list(dict.fromkeys(run for data in found.values() for run in data["runs"]))
    if not runs:
        return False
    from matplotlib.figure import Figure
    fig = Figure(figsize=(3.2 * len(runs), 2.8), layout="constrained")
    for ax, run in zip(fig.subplots(1, len(runs), squeeze=False)[0], runs):
        for fw, data in found.items():
            if run in data["runs"]:
                acc = [e["test_acc"] for e in data["runs"][run]["epochs"]]
                ax.plot(range(1, len(acc) + 1), acc, label=fw)
        ax.set_title(RUN_TITLES.get(run, run), fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(True)
    fig.axes[0].set_ylabel("test accuracy")
    fig.axes[0].legend(fontsize=8)
    fig.savefig(path, dpi=80)
    return True


def write_readme(mode: str = "full") -> Path:
    """Rebuild ``results/README.md`` (and its figures) from the JSON files."""
    directory = results_dir(mode)
    directory.mkdir(parents=True, exist_ok=True)
    parts = ["# Results", "",
             "Written by `make reproduce` (`python -m d2l_compat.results`) from the JSON "
             f"files beside it: {mode}-mode runs on a CPU. Cells are "
             "**test accuracy / train loss** after the last epoch of seed 0; a run whose "
             "training loss went back to chance level (ln 10) is marked with the epoch it "
             "collapsed, one whose loss never left chance level as *at chance in every "
             "epoch*. Where several seeds were run (`python -m d2l_compat.reproduce "
             "--seeds 0 1 2`), a second table gives the spread over seeds. Runs are "
             "deterministic on one machine but differ between CPU models.", ""]
    for chapter, title in CHAPTER_TITLES.items():
        table = chapter_table(chapter, mode)
        if table is None:
            continue
        parts += [f"## {title}", "", table, ""]
        figure = directory / f"{chapter}_test_accuracy.png"
        if plot_test_accuracy(chapter, figure, mode):
            parts += [f"![test accuracy per epoch]({figure.name})", ""]
    for title, table in ((TIMINGS_TITLE, timings_table()),
                         (CONCLUSIONS_TITLE, conclusions_table())):
        if table is not None:
            parts += [f"## {title}", "", table, ""]
    path = directory / "README.md"
    path.write_text("\n".join(parts))
    return path


# ------------------------------------------------------------------ running times
TIMINGS_FILE = "timings.json"
"""Beside the full-mode results: how long each grid execution took, in every mode."""
TIMINGS_TITLE = "How long a chapter takes, per mode"


def record_timing(path: Path, task, seconds: float, threads: int, cpu: str,
                  at_once: int = 1) -> Path:
    """Merge one grid execution's wall-clock time into the running-times file ``path``.

    ``task`` is a :class:`d2l_compat.reproduce.Task`; ``cpu`` the worker's
    :func:`d2l_compat.devices.cpu_description` (model and vector extensions). The record
    names the CPU, the threads the kernel had and how many notebooks the grid ran at once
    (``at_once``: two single-threaded notebooks on two cores take longer each than one
    alone), since a time means nothing without them; an execution of the same (chapter,
    framework, mode, seed) replaces the older one. ``worker_env: false`` says the kernel
    did not inherit the Dask worker's own settings (:func:`~d2l_compat.reproduce.kernel_env`);
    records from before that fix lack the key, and the table names them apart.
    """
    data = _read_json(path) or {}
    data[f"{task.chapter}/{task.framework}/{task.mode}/seed{task.seed}"] = {
        "chapter": task.chapter, "framework": task.framework, "mode": task.mode,
        "seed": task.seed, "seconds": round(float(seconds), 1), "threads": int(threads),
        "at_once": int(at_once), "cpu": cpu, "worker_env": False,
        "date": time.strftime("%Y-%m-%d")}
    return write_json_atomic(path, dict(sorted(data.items())))


OLD_WORKER_ENV = ("measured by an earlier grid whose kernels inherited the Dask worker's "
                  "memory setting, which slowed them: these times are too long")


def _row_order(chapter_mode: tuple[str, str]) -> tuple:
    """Rows of the per-mode tables: chapters in book order, then modes full, class, smoke."""
    chapter, mode = chapter_mode
    chapters, modes = list(CHAPTER_TITLES), list(RUN_MODES)
    return (chapters.index(chapter) if chapter in chapters else len(chapters), chapter,
            modes.index(mode) if mode in modes else len(modes))


def timings_table(path: Path | None = None, chapter: str | None = None) -> str | None:
    """Markdown: minutes per chapter and mode (rows) and framework (columns), from the
    running-times file (default: ``results/timings.json``); None if nothing is recorded.
    With ``chapter``, that chapter's rows only, without the chapter column (the opening
    box of a chapter shows them).

    A cell is the mean over the seeds recorded; how the times of each mode were measured
    (CPU, threads per notebook, notebooks at once) is listed under the table, with the
    chapters of each setup when a mode has several.
    """
    path = Path(path) if path is not None else results_dir("full") / TIMINGS_FILE
    records = [r for r in (_read_json(path) or {}).values()
               if chapter is None or r["chapter"] == chapter]
    if not records:
        return None
    cells: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in records:
        cells.setdefault((r["chapter"], r["mode"]), {}).setdefault(
            r["framework"], []).append(r["seconds"])
    modes = {mode: i for i, mode in enumerate(RUN_MODES)}
    first = [] if chapter else ["chapter"]
    rows = ["| " + " | ".join([*first, "mode", *FRAMEWORKS]) + " |",
            "|---" * (len(first) + 1 + len(FRAMEWORKS)) + "|"]
    for name, mode in sorted(cells, key=_row_order):
        times = cells[(name, mode)]
        row = [f"{fmean(times[fw]) / 60:.1f} min" if fw in times else "–" for fw in FRAMEWORKS]
        rows.append("| " + " | ".join([*([] if chapter else [name]), mode, *row]) + " |")
    rows += ["", "Measured as wall-clock time of one notebook execution on the grid "
             "(imports and plots included), per mode:", ""]
    order = {name: i for i, (name, _) in enumerate(sorted(cells, key=_row_order))}
    for mode in sorted({r["mode"] for r in records}, key=lambda m: modes.get(m, len(modes))):
        setups: dict[tuple, set[str]] = {}
        for r in records:
            if r["mode"] == mode:
                setups.setdefault((r["cpu"], r["threads"], r.get("at_once", 1),
                                   r.get("worker_env", True)), set()).add(r["chapter"])
        rows.append(f"* {mode}: " + "; ".join(
            f"{cpu}, {_threads_text(threads)}, "
            + ("one notebook at a time" if at_once == 1 else f"{at_once} notebooks at once")
            + (f" ({OLD_WORKER_ENV})" if inherited else "")
            + (f" [{', '.join(sorted(names, key=order.get))}]" if len(setups) > 1 else "")
            for (cpu, threads, at_once, inherited), names in sorted(setups.items())))
    return "\n".join(rows)


def _threads_text(threads: int) -> str:
    """How a timing record's ``threads`` reads in the table (0: no thread variable set)."""
    if threads == 0:
        return "each framework's own default number of threads"
    return f"{threads} thread{'s' if threads > 1 else ''} per notebook"


# ------------------------------------------------------------------ conclusions
CONCLUSIONS_FILE = "conclusions.json"
"""Beside the running times: which of its conclusions each grid execution bore out."""
CONCLUSIONS_TITLE = "Which conclusions hold, per mode"


def record_conclusions(claims: dict[str, bool], mode: str) -> Path | None:
    """In a notebook the grid executes (it sets ``D2L_CHAPTER`` and ``D2L_FRAMEWORK``),
    write the conclusions :func:`d2l_compat.report.conclusions` checked, and whether each
    held, to :data:`CONCLUSIONS_FILE` in the run's results folder; the grid merges that
    file into the one beside the running times. Anywhere else nothing is written (None).
    """
    chapter, framework = os.environ.get(CHAPTER_ENV), os.environ.get("D2L_FRAMEWORK")
    if not chapter or not framework:
        return None
    path = results_dir(mode) / CONCLUSIONS_FILE
    earlier = (_read_json(path) or {}).get("claims", {})  # a chapter may check in parts
    return write_json_atomic(path, {"chapter": chapter, "framework": framework,
                                    "mode": mode, "seed": run_seed(),
                                    "claims": {**earlier, **claims}})


def merge_conclusions(path: Path, record: dict) -> Path:
    """Merge one execution's :func:`record_conclusions` record into the file ``path``;
    an execution of the same (chapter, framework, mode, seed) replaces the older one."""
    data = _read_json(path) or {}
    key = f"{record['chapter']}/{record['framework']}/{record['mode']}/seed{record['seed']}"
    data[key] = {**record, "date": time.strftime("%Y-%m-%d")}
    return write_json_atomic(path, dict(sorted(data.items())))


def conclusions_table(path: Path | None = None) -> str | None:
    """Markdown: per chapter and mode (rows) and framework (columns), in how many of the
    seeds recorded every conclusion held (``3 of 3``), then each conclusion that did not
    hold, with the seeds. From the conclusions file (default: ``results/conclusions.json``);
    None if nothing is recorded.
    """
    path = Path(path) if path is not None else results_dir("full") / CONCLUSIONS_FILE
    records = list((_read_json(path) or {}).values())
    if not records:
        return None
    cells: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for r in records:
        cells.setdefault((r["chapter"], r["mode"]), {}).setdefault(r["framework"], []).append(r)
    rows = ["| chapter | mode | " + " | ".join(FRAMEWORKS) + " |",
            "|---|---|" + "---|" * len(FRAMEWORKS)]
    failed = []
    for chapter, mode in sorted(cells, key=_row_order):
        row = []
        for framework in FRAMEWORKS:
            runs = sorted(cells[(chapter, mode)].get(framework, []), key=lambda r: r["seed"])
            row.append(f"{sum(all(r['claims'].values()) for r in runs)} of {len(runs)}"
                       if runs else "–")
            misses: dict[str, list[int]] = {}
            for r in runs:
                for text, holds in r["claims"].items():
                    if not holds:
                        misses.setdefault(text, []).append(r["seed"])
            failed += [f"* {chapter}, {mode} mode, {framework}, "
                       f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}: "
                       f"{text}" for text, seeds in misses.items()]
        rows.append(f"| {chapter} | {mode} | " + " | ".join(row) + " |")
    rows += ["", "A cell counts the seeds executed on the grid in which every conclusion the "
             "chapter checks held (each chapter's conclusions cell lists them); a chapter "
             "and mode without a row have no execution recorded here yet."]
    rows += ["", "Did not hold:", "", *failed] if failed else ["", "Every conclusion held."]
    return "\n".join(rows)


README_MARKERS = ("<!-- results:start -->", "<!-- results:end -->")


def update_project_readme(mode: str = "full") -> Path | None:
    """Copy the chapter tables between the results markers of the project README."""
    readme = project_root() / "README.md"
    text = readme.read_text()
    start, end = README_MARKERS
    if start not in text or end not in text:
        return None
    tables = []
    for chapter, title in CHAPTER_TITLES.items():
        table = chapter_table(chapter, mode)
        if table is not None:
            tables += [f"**{title}** — test accuracy / train loss", "", table, ""]
    for title, table in ((TIMINGS_TITLE, timings_table()),
                         (CONCLUSIONS_TITLE, conclusions_table())):
        if table is not None:
            tables += [f"**{title}**", "", table, ""]
    head, rest = text.split(start, 1)
    readme.write_text(head + start + "\n" + "\n".join(tables) + end + rest.split(end, 1)[1])
    return readme


if __name__ == "__main__":
    chosen = sys.argv[1] if len(sys.argv) > 1 else "full"
    print(f"wrote {write_readme(chosen)}")
    if chosen == "full" and update_project_readme(chosen):
        print("updated the results section of README.md")
