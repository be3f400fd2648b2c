"""Run records: one JSON file per framework, chapter and seed, validated when read.

A chapter writes its runs with :func:`record_run` (an explicit call in the chapter) to
``<results>/<framework>/<chapter>.json`` (seed 0) or ``<chapter>.seed<k>.json`` (seed
``k``), where ``<results>`` is ``results/`` in full mode and ``results/<mode>/`` in class
and smoke mode (ignored by git), or the run context's ``results_dir``. Every read checks
the file against the schema below (:func:`validate_results`), so a damaged or hand-edited file is named with the field
that is wrong, and nothing is overwritten.

The schema of a results file (``?``: may be null; other keys are kept as they are):

=========================  ====================================================
key                        value
=========================  ====================================================
``chapter``                str
``framework``              str, one of ``d2l_compat.FRAMEWORKS``
``mode``                   str, one of ``full``, ``class``, ``smoke``
``seed``                   int >= 0
``runs``                   object: run name -> a run (below)
``grid``                   object (optional): what the grid recorded
run ``framework``          str
run ``seed``               int >= 0
run ``mode``               str
run ``epochs``             list of objects with ``epoch`` (int) and the numbers
                           ``lr``, ``train_loss``, ``train_acc``, ``test_acc``,
                           ``examples_per_sec``, ``seconds`` (null: not finite)
run ``step_lrs``           list of ``[update, lr]`` pairs
run ``diverged``           bool
run ``collapsed_at``       int? (optional)
run ``schedule``           object?
run ``updates``            list of ``[update, lr, loss]`` triples (optional: only
                           with ``train(..., record_updates=n)``; null: not finite)
=========================  ====================================================

The seeds of one run are summarised by :func:`seed_stats`, one rule for every table:
seeds whose run *diverged* (a non-finite loss) are left out of the mean and range and
counted; runs that *collapsed* or stayed *at chance in every epoch* are real outcomes, so
they count in the mean and range, and are counted too.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

from d2l_compat.checks import check_choice, check_int
from d2l_compat.context import DEFAULT_SEED, RUN_MODES, RunContext, current
from d2l_compat.files import project_root, read_json, write_json_atomic
from d2l_compat.registry import FRAMEWORKS
from d2l_compat.training import FAILED, STUCK, EpochRecord, History, collapse_epoch


# ----------------------------------------------------------------------- paths

def results_dir(mode: str | None = None, context: RunContext | None = None) -> Path:
    """Where the results of ``mode`` (default: the context's) go and are read.

    The context's ``results_dir`` if set, else ``results/`` (full) or
    ``results/<mode>/`` (class, smoke). In a notebook the grid executes (the context names
    a chapter), the staged ``results_dir`` holds the run's own mode only: another mode's
    results (say, the committed full-mode range test that a class-mode run's exercises
    read) come from the project's folder.
    """
    context = context or current()
    mode = mode or context.mode
    if context.results_dir and not (context.chapter and mode != context.mode):
        return context.results_dir
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
    check_choice("framework", framework, FRAMEWORKS)
    base = Path(directory) if directory is not None else results_dir(mode)
    return base / framework / results_name(chapter, seed)


# ---------------------------------------------------------------------- schema

EPOCH_NUMBERS = ("lr", "train_loss", "train_acc", "test_acc", "examples_per_sec", "seconds")


class RecordError(ValueError):
    """A results file does not follow the schema; the message names file and field."""


def _expect(ok: bool, path, field: str, what: str, value) -> None:
    if not ok:
        raise RecordError(f"{path}: {field} must be {what}, got {value!r:.60}")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool))


def validate_run(run, path, field: str) -> dict:
    """Check one run's record (see the module's table); returns it."""
    _expect(isinstance(run, dict), path, field, "an object", run)
    for key, test, what in (("framework", lambda v: isinstance(v, str), "a str"),
                            ("seed", lambda v: _is_int(v) and v >= 0, "an int >= 0"),
                            ("mode", lambda v: v in RUN_MODES, f"one of {RUN_MODES}"),
                            ("epochs", lambda v: isinstance(v, list), "a list"),
                            ("step_lrs", lambda v: isinstance(v, list), "a list"),
                            ("diverged", lambda v: isinstance(v, bool), "a bool")):
        _expect(key in run and test(run[key]), path, f"{field}.{key}", what, run.get(key))
    for key, test, what in (("collapsed_at", _is_int, "an int or null"),
                            ("schedule", lambda v: isinstance(v, dict), "an object or null")):
        value = run.get(key)
        _expect(value is None or test(value), path, f"{field}.{key}", what, value)
    for i, epoch in enumerate(run["epochs"]):
        where = f"{field}.epochs[{i}]"
        _expect(isinstance(epoch, dict), path, where, "an object", epoch)
        _expect(_is_int(epoch.get("epoch")), path, f"{where}.epoch", "an int",
                epoch.get("epoch"))
        for key in EPOCH_NUMBERS:
            _expect(key in epoch and _is_number(epoch[key]), path, f"{where}.{key}",
                    "a number or null", epoch.get(key))
    updates = run.get("updates", [])
    _expect(isinstance(updates, list), path, f"{field}.updates", "a list", updates)
    for i, triple in enumerate(updates):
        _expect(isinstance(triple, (list, tuple)) and len(triple) == 3 and _is_int(triple[0])
                and all(_is_number(v) for v in triple[1:]), path, f"{field}.updates[{i}]",
                "an [update, lr, loss] triple", triple)
    for i, pair in enumerate(run["step_lrs"]):
        _expect(isinstance(pair, (list, tuple)) and len(pair) == 2 and _is_int(pair[0])
                and _is_number(pair[1]), path, f"{field}.step_lrs[{i}]",
                "an [update, lr] pair", pair)
    return run


def validate_results(data, path) -> dict:
    """Check a results file's contents against the schema (the module's table); returns
    ``data``.

    >>> validate_results({"chapter": "lenet", "framework": "jax", "mode": "full",
    ...                   "seed": 0, "runs": {"baseline": {"epochs": "oops"}}}, "x.json")
    Traceback (most recent call last):
      ...
    d2l_compat.records.RecordError: x.json: runs.baseline.framework must be a str, got None
    """
    _expect(isinstance(data, dict), path, "the file", "a JSON object", data)
    _expect(isinstance(data.get("chapter"), str), path, "chapter", "a str", data.get("chapter"))
    _expect(data.get("framework") in FRAMEWORKS, path, "framework", f"one of {FRAMEWORKS}",
            data.get("framework"))
    _expect(data.get("mode") in RUN_MODES, path, "mode", f"one of {RUN_MODES}",
            data.get("mode"))
    seed = data.get("seed")
    _expect(_is_int(seed) and seed >= 0, path, "seed", "an int >= 0", seed)
    _expect(isinstance(data.get("runs"), dict), path, "runs", "an object", data.get("runs"))
    _expect(isinstance(data.get("grid", {}), dict), path, "grid", "an object",
            data.get("grid"))
    for name, run in data["runs"].items():
        validate_run(run, path, f"runs.{name}")
    return data


# ------------------------------------------------------------------ read, write

def read_results(path: str | os.PathLike) -> dict | None:
    """A results file, validated (:func:`validate_results`), or None when absent."""
    data = read_json(path)
    return None if data is None else validate_results(data, path)


def record_run(chapter: str, run: str, history: History, *,
               context: RunContext | None = None, **extra) -> Path:
    """Add (or replace) one run in the chapter's results file, written atomically.

    The file is the one of the context's seed (``<chapter>.json`` for seed 0,
    ``<chapter>.seed<k>.json`` otherwise), so the executions of one chapter for several
    seeds (``D2L_SEED``) never overwrite each other. A chapter executed for seed 0 may
    record runs of other seeds (a seed study inside one notebook): they stay in the seed-0
    file. ``extra`` keys are stored with the run.

    Raises:
        ValueError: the context asks for seed ``k`` > 0 but the history was trained with
            another seed (the chapter ignores ``d2l.run_seed()``), or the existing file
            is damaged (:class:`RecordError`); nothing is written.
    """
    context = context or current()
    seed = context.seed
    if seed != DEFAULT_SEED and history.seed != seed:
        raise ValueError(
            f"D2L_SEED={seed} but run {run!r} of {chapter!r} was trained with seed "
            f"{history.seed}: pass seed=d2l.run_seed() to lenet() and train()")
    path = results_path(history.framework, chapter, seed=seed,
                        directory=results_dir(history.mode, context))
    data = read_results(path) or {"chapter": chapter, "framework": history.framework,
                                  "runs": {}}
    data.update(mode=history.mode, seed=seed, data_source=history.data_source,
                split_reconstructed=history.split_reconstructed, versions=history.versions)
    data["runs"][run] = {**history.to_dict(), **extra}
    return write_json_atomic(path, validate_results(data, path))


def load_results(framework: str, chapter: str, mode: str | None = None,
                 seed: int = DEFAULT_SEED, directory: str | os.PathLike | None = None,
                 context: RunContext | None = None) -> dict | None:
    """The results file of one chapter, framework and seed as a dict, or None if absent.

    Without ``directory``, in a notebook the grid executes, a file that this execution has
    not written is read from the grid's results folder (the context's ``recorded``), as
    :func:`load_seeds` does: a seed-1 execution reads seed 0 there.
    """
    context = context or current()
    own = directory if directory is not None else results_dir(mode, context)
    data = read_results(results_path(framework, chapter, mode, seed, own))
    if (data is None and directory is None and context.recorded
            and results_dir(mode, context) == results_dir(None, context)):  # own mode
        data = read_results(results_path(framework, chapter, mode, seed, context.recorded))
    return data


def history_from_record(run: dict) -> History:
    """The History of one run's record in a results file (extra keys ignored)."""
    fields = History.__dataclass_fields__
    return History.from_dict({k: v for k, v in run.items() if k in fields})


def load_history(framework: str, chapter: str, run: str, mode: str | None = None,
                 seed: int = DEFAULT_SEED) -> History:
    """One run of a results file as a History; ``KeyError`` naming the file if absent."""
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


def load_seeds(framework: str, chapter: str, mode: str | None = None,
               directory: str | os.PathLike | None = None,
               context: RunContext | None = None) -> dict[int, dict[str, History]]:
    """Every recorded seed of a chapter: ``{seed: {run: History}}``, seeds ascending.

    Framework-free, so a chapter of any framework (or a script) can read all four.
    ``directory`` defaults to :func:`results_dir` of ``mode`` and, in a notebook the grid
    executes, also the grid's results folder (the context's ``recorded``), so that the
    seed-0 execution sees the seeds and frameworks recorded before it; a seed present in
    both is read from the first.
    """
    context = context or current()
    folders = [directory if directory is not None else results_dir(mode, context)]
    if directory is None and context.recorded:
        folders.append(context.recorded)
    found: dict[int, dict[str, History]] = {}
    for folder in reversed(folders):  # the first folder's seeds replace the others'
        for seed in result_seeds(framework, chapter, mode, folder):
            records = read_results(results_path(framework, chapter, mode, seed, folder))
            found[seed] = {run: history_from_record(r) for run, r in records["runs"].items()}
    return dict(sorted(found.items()))


# ------------------------------------------------------------------ over seeds

@dataclass(frozen=True)
class SeedStats:
    """A final metric of one run over seeds (the rule is the module's): ``n`` seeds, the
    mean, min and max over those that did not diverge, and how many seeds collapsed, stayed
    at chance in every epoch, or diverged. ``mean``, ``min`` and ``max`` are NaN when every
    seed diverged."""

    n: int
    mean: float
    min: float
    max: float
    collapsed: int = 0
    stuck: int = 0
    diverged: int = 0

    @property
    def spread(self) -> float:
        """``max - min``: how far the seeds alone move the metric."""
        return self.max - self.min

    def failures(self) -> str:
        """``"1 of 3 collapsed, 1 of 3 at chance in every epoch"`` (the counts that are not
        zero, in the words of :func:`d2l_compat.training.outcome`), or ``""``."""
        return ", ".join(f"{count} of {self.n} {words}" for count, words in (
            (self.collapsed, "collapsed"), (self.stuck, STUCK),
            (self.diverged, "diverged")) if count)

    def __str__(self) -> str:
        if math.isnan(self.mean):
            return f"every one of {self.n} seeds diverged"
        text = f"mean {self.mean:.3f}, {self.min:.3f}–{self.max:.3f} over {self.n} seeds"
        failures = self.failures()
        return text + (f", {failures}" if failures else "")


def seed_stats(histories, metric: str = "test_acc") -> SeedStats:
    """Statistics of the last epoch's ``metric`` over the histories of one run's seeds.

    mean = (1/m) sum_s metric_s over the m seeds that did not diverge (the module's rule).

    Args:
        histories (iterable of History): one run, one history per seed.
        metric (str, default ``"test_acc"``): ``"test_acc"``, ``"train_acc"`` or
            ``"train_loss"``.

    >>> def run(*losses, acc):
    ...     return History("jax", epochs=[EpochRecord(e, 0.1, l, 0.5, acc, 1.0, 1.0)
    ...                                   for e, l in enumerate(losses)])
    >>> str(seed_stats([run(1.0, 0.5, acc=0.8), run(1.0, 2.3, acc=0.1)]))
    'mean 0.450, 0.100–0.800 over 2 seeds, 1 of 2 collapsed'
    """
    histories = list(histories)
    check_choice("metric", metric, ("test_acc", "train_acc", "train_loss"))
    if not histories:
        raise ValueError("histories must hold at least one History")
    diverged = [h.diverged or not all(map(math.isfinite, h.train_loss))
                or not math.isfinite(float(h.final[metric])) for h in histories]
    values = [float(h.final[metric]) for h, gone in zip(histories, diverged) if not gone]
    nan = math.nan
    return SeedStats(n=len(histories), mean=fmean(values) if values else nan,
                     min=min(values) if values else nan, max=max(values) if values else nan,
                     collapsed=sum(collapse_epoch(h.train_loss) is not None and not gone
                                   for h, gone in zip(histories, diverged)),
                     stuck=sum(h.stuck for h in histories), diverged=sum(diverged))


# ------------------------------------------------------- the edge-of-stability study

EDGE_STUDY = "edge_of_stability.json"
"""The file of ``benchmarks/edge_of_stability.py`` in ``results/``: runs of LeNet at a
constant lr near the edge of stability, over seeds, thread settings and one-ulp
perturbations of the lr, per framework."""

EDGE_RUN_FIELDS = (
    ("framework", lambda v: v in FRAMEWORKS, f"one of {FRAMEWORKS}"),
    ("threads", lambda v: _is_int(v) and v >= 0, "an int >= 0 (0: the framework's default)"),
    ("seed", lambda v: _is_int(v) and v >= 0, "an int >= 0"),
    ("lr", lambda v: _is_number(v) and v is not None and math.isfinite(v) and v >= 0,
     "a finite number >= 0"),
    ("perturbation", lambda v: isinstance(v, str), "a str"),
    ("train_loss", lambda v: isinstance(v, list) and all(map(_is_number, v)),
     "a list of numbers or nulls"),
    ("test_acc", lambda v: isinstance(v, list) and all(map(_is_number, v)),
     "a list of numbers or nulls"),
    ("outcome", lambda v: isinstance(v, str), "a str (empty: trained)"),
    ("update_losses", lambda v: isinstance(v, list) and all(map(_is_number, v)),
     "a list of numbers or nulls"),
)
"""The keys of one run of the edge study, with their test and what they must be."""


def validate_edge_study(data, path) -> dict:
    """Check the contents of the edge-of-stability study's file; returns ``data``.

    The file: ``cpu`` (str), ``versions`` (object: framework -> {package: version}),
    ``epochs`` (int >= 1), ``record_updates`` (int >= 0), ``runs`` (a list of runs with
    the keys of :data:`EDGE_RUN_FIELDS`); other keys are kept as they are. A
    :class:`RecordError` names the file and the field.

    >>> validate_edge_study({"cpu": "x", "versions": {}, "epochs": 2, "record_updates": 3,
    ...                      "runs": [{"framework": "jax", "threads": -1}]}, "e.json")
    Traceback (most recent call last):
      ...
    d2l_compat.records.RecordError: e.json: runs[0].threads must be an int >= 0 (0: the framework's default), got -1
    """
    _expect(isinstance(data, dict), path, "the file", "a JSON object", data)
    _expect(isinstance(data.get("cpu"), str), path, "cpu", "a str", data.get("cpu"))
    _expect(isinstance(data.get("versions"), dict), path, "versions", "an object",
            data.get("versions"))
    for key, minimum in (("epochs", 1), ("record_updates", 0)):
        value = data.get(key)
        _expect(_is_int(value) and value >= minimum, path, key, f"an int >= {minimum}", value)
    _expect(isinstance(data.get("runs"), list), path, "runs", "a list", data.get("runs"))
    for i, run in enumerate(data["runs"]):
        _expect(isinstance(run, dict), path, f"runs[{i}]", "an object", run)
        for key, test, what in EDGE_RUN_FIELDS:
            _expect(key in run and test(run[key]), path, f"runs[{i}].{key}", what,
                    run.get(key))
    return data


def edge_study_path() -> Path:
    """``results/edge_of_stability.json`` of the project (full mode only: one file)."""
    return project_root() / "results" / EDGE_STUDY


def read_edge_study(path: str | os.PathLike | None = None) -> dict:
    """The edge-of-stability study (``benchmarks/edge_of_stability.py``), validated
    (:func:`validate_edge_study`).

    Args:
        path: the file (default :func:`edge_study_path`).

    Raises:
        FileNotFoundError: no such file (the message names it and the script that makes it).
        ValueError: the file is not JSON, or :class:`RecordError` naming the file and field.
    """
    path = Path(path) if path is not None else edge_study_path()
    data = read_json(path)
    if data is None:
        raise FileNotFoundError(f"{path}: no edge-of-stability study; "
                                "python benchmarks/edge_of_stability.py writes it")
    return validate_edge_study(data, path)


def edge_study_failures(data: dict) -> list[dict]:
    """Per framework and thread setting, the unperturbed runs (``perturbation`` ``""``)
    of the study ``data`` and how many of them failed (a non-empty ``outcome``):
    ``[{"framework", "threads", "runs", "failed", "seeds_failed"}]``, frameworks in the
    registry's order, default threads (0) first. The table says
    :data:`~d2l_compat.training.FAILED`.

    >>> runs = [dict(framework="jax", threads=0, seed=s, perturbation="", outcome=o)
    ...         for s, o in enumerate(["", "at chance in every epoch"])]
    >>> edge_study_failures({"runs": runs})
    [{'framework': 'jax', 'threads': 0, 'runs': 2, 'failed': 1, 'seeds_failed': [1]}]
    """
    rows: dict[tuple, dict] = {}
    for run in data["runs"]:
        if run["perturbation"]:
            continue
        row = rows.setdefault((run["framework"], run["threads"]), {
            "framework": run["framework"], "threads": run["threads"], "runs": 0,
            "failed": 0, "seeds_failed": []})
        row["runs"] += 1
        if run["outcome"]:
            row["failed"] += 1
            row["seeds_failed"].append(run["seed"])
    return [rows[key] for key in sorted(rows, key=lambda k: (FRAMEWORKS.index(k[0]), k[1]))]


def edge_study_table(data: dict) -> list[list[str]]:
    """The rows of :func:`edge_study_failures` as text: framework, threads ("default" or
    the number), ``"k of n failed"`` and the seeds that failed (for a markdown table).

    >>> runs = [dict(framework="jax", threads=1, seed=0, perturbation="", outcome="")]
    >>> edge_study_table({"runs": runs})
    [['jax', '1', '0 of 1 failed', '']]
    """
    return [[row["framework"], str(row["threads"] or "default"),
             f"{row['failed']} of {row['runs']} {FAILED}",
             ", ".join(map(str, row["seeds_failed"]))] for row in edge_study_failures(data)]
