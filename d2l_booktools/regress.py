"""Output regression: re-execute notebooks on the Dask grid and compare every output.

Run it as::

    python -m d2l_booktools.regress --mode smoke [--chapters ...] [--frameworks ...]
    python -m d2l_booktools.regress --mode smoke --update-baseline   # record the reference
    python -m d2l_booktools.regress --mode full --chapters lenet      # against the book

Each chosen notebook is executed for seed 0 by :mod:`d2l_booktools.reproduce` (same grid,
same options) into ``build/regress/runs/<mode>/``, never over the committed notebooks or
results, and compared with its reference:

* ``--mode full``: the committed notebook ``chapters/<fw>/<chapter>.ipynb`` and the
  committed results of all its seeds (``results/<fw>/<chapter>[.seed<k>].json``);
* ``--mode smoke``: a smoke baseline in ``build/regress/baseline/`` (git-ignored). Smoke
  outputs are only meaningful next to smoke outputs, and exactly equal only on the machine
  that made them, so the baseline is local: ``--update-baseline`` records it (from a
  checkout you trust, e.g. before upgrading a framework); when none exists the first run
  records it and says so. It keeps the commit it was made from.

Two comparisons, and the report names the one it made:

* **exact** (the reference was made on this machine: same CPU model, CPU flags and
  framework versions, from the notebook metadata the grid writes): every output of every
  code cell must be equal after the replacements of the sanitize file
  (``tests/regress_sanitize.cfg``: timings, throughput, memory addresses, dates). The
  comparison is nbval's own (``nbval.plugin``: the sanitize file as it reads it, streams
  joined by ``coalesce_streams``, each output field compared by
  ``IPyNbCell.compare_outputs``), as ``nbval`` without ``--nbval-lax`` would require;
  images are not compared. The first difference of a cell is reported with a
  :mod:`difflib` diff;
* **within seed spread** (another machine, or a reference without that metadata): runs
  differ between CPU models, so outputs of cells marked ``# NBVAL_CHECK_OUTPUT`` must still
  be equal, other differing outputs are listed for information, and every run is checked
  against the committed seeds of its framework (:func:`compare_metrics`); the report's
  table *Runs against the committed seeds* gives, per framework and run, the re-execution,
  the reference seeds' range and the verdict:

  - *within the seeds' range*: each final metric (test accuracy, train loss) lies between
    the lowest and highest committed seed;
  - *within the seed spread of seed 0*: outside that range, but ``|new - seed 0|`` is at
    most the spread (max - min) over the committed seeds;
  - *within the default tolerance (one seed)*: with fewer than two committed seeds,
    ``|new - seed 0|`` is within :data:`DEFAULT_TOLERANCE`;
  - *regression*: a metric outside the above, or an outcome (trained, or failed: at
    chance in every epoch, collapsed, diverged or ended at chance, :func:`d2l_compat.training.outcome`)
    that differs from seed 0's for a run whose outcome the reference shows to be stable;
  - *coin flip*: the run's outcome differs from seed 0's, and the reference records show
    the run to be a coin flip: it failed in some seeds or frameworks of the chapter's
    committed results and trained in others (:func:`known_coin_flips`). Such a run is
    neither a regression nor a pass: it has its own section, *Coin flips*, with the
    reference records that failed, and its own count and exit status.

  Every failed run (re-execution or reference) is listed under *Failed runs*.

The report is printed and written to ``build/regress/report.md``. Its verdict line and the
exit status:

* ``**PASSED**``, exit 0: no failed execution, no regression, no coin flip;
* ``**FAILED**``, exit 1: an execution failed, or an output or a run regressed (the line
  also counts the coin flips);
* ``**COIN FLIPS**``, exit 3: no regression, but known coin-flip runs flipped their outcome
  on this machine (:data:`EXIT_COIN_FLIPS`); read the section *Coin flips*.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from d2l_compat.files import project_root
from d2l_compat.records import load_seeds, results_dir, seed_stats
from d2l_compat.registry import FRAMEWORKS
from d2l_compat.report import failed_count, markdown_table
from d2l_compat.training import failed_runs, outcome
from d2l_booktools.tables import outcome_note
from d2l_booktools.reproduce import (make_client, parser, plan, run_grid, same_machine,
                                  selection)

SANITIZE_FILE = project_root() / "tests" / "regress_sanitize.cfg"
# Allowed |difference| of a final metric across machines when the reference has fewer
# than two seeds to measure the spread with.
DEFAULT_TOLERANCE = {"test_acc": 0.02, "train_loss": 0.05}
METRICS = tuple(DEFAULT_TOLERANCE)
# Output fields never compared: nbval's own list (IPyNbFile.skip_compare: metadata, counts,
# tracebacks, widget ids) with the images it skips without --nbdime, and SVG images too.
SKIP_COMPARE = ("metadata", "traceback", "prompt_number", "output_type", "name",
                "execution_count", "application/vnd.jupyter.widget-view+json",
                "image/png", "image/jpeg", "image/svg+xml")
DIFF_LINES = 40   # at most this many lines of a unified diff in the report


def _nbval():
    """nbval's plugin module (imported on first use: it imports pytest)."""
    from nbval import plugin
    return plugin


def read_sanitize(path: str | Path = SANITIZE_FILE) -> list[tuple[str, str]]:
    """The ``(regex, replacement)`` pairs of an nbval sanitize file, in order, as nbval reads
    them (``nbval.plugin.get_sanitize_patterns``).

    Raises:
        ValueError: the file holds no pair, or a regex does not compile (named).
    """
    pairs = _nbval().get_sanitize_patterns(Path(path).read_text())
    if not pairs:
        raise ValueError(f"{path}: no 'regex:' / 'replace:' pairs")
    for regex, _ in pairs:
        try:
            re.compile(regex)
        except re.error as err:
            raise ValueError(f"{path}: bad regex {regex!r} ({err})") from None
    return pairs


class _CellComparison:
    """nbval's comparison of one cell's outputs (``IPyNbCell.compare_outputs`` and
    ``IPyNbCell.sanitize``) outside a pytest session: this object stands in for the pytest
    item those methods belong to, with the sanitize patterns and :data:`SKIP_COMPARE`, and
    keeps the first mismatch nbval reports instead of formatting it for pytest."""

    def __init__(self, patterns):
        plugin = _nbval()
        self.parent = SimpleNamespace(sanitize_patterns=dict(patterns),
                                      skip_compare=SKIP_COMPARE)
        self.colors = plugin.nocolors
        self.comparison_traceback: list[str] = []
        self.mismatch = None     # (output field, reference value, re-executed value)
        self._compare = plugin.IPyNbCell.compare_outputs
        self._sanitize = plugin.IPyNbCell.sanitize

    def sanitize(self, value):
        return self._sanitize(self, value)

    def format_output_compare(self, key, left, right):
        self.mismatch = (key, left, right)

    def equal(self, reference_outputs, executed_outputs) -> bool:
        """Whether nbval finds the outputs equal (streams coalesced as nbval does)."""
        plugin = _nbval()
        return self._compare(self, plugin.coalesce_streams(executed_outputs),
                             plugin.coalesce_streams(reference_outputs), SKIP_COMPARE)

    def problem(self) -> tuple[str, list[str]]:
        """What nbval reported when the outputs differ otherwise than in one value (a field
        missing, one too many, another number of outputs of a field): its first line,
        and the values it listed."""
        lines = [line for line in self.comparison_traceback if line.strip()]
        if not lines:
            return "the outputs differ", []
        first = lines[0].split("<<<<")[0].strip()
        return first, [line.rstrip() for line in "\n".join(lines[1:]).splitlines()]


def sanitize(text: str, patterns) -> str:
    """Apply each ``(regex, replacement)`` in turn, as nbval does.

    >>> sanitize("3 epochs in 12.5 s, 20,113.4 examples/sec",
    ...          [(r"\\d[\\d,]*(\\.\\d+)? examples/sec", "N"), (r"\\b\\d+(\\.\\d+)? s\\b", "T")])
    '3 epochs in T, N'
    """
    return _CellComparison(patterns).sanitize(text)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _as_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=1, sort_keys=True)


def difference_text(expected, got) -> tuple[str, list[str]]:
    """``('line 3: expected ... got ...', unified diff lines)`` for two output values (texts,
    or JSON data shown as indented JSON), by :mod:`difflib`."""
    old, new = _as_text(expected).splitlines(), _as_text(got).splitlines()
    diff = list(difflib.unified_diff(old, new, "reference", "re-execution", n=1,
                                     lineterm=""))
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            a = old[i1] if i1 < i2 else "<no line>"
            b = new[j1] if j1 < j2 else "<no line>"
            return f"line {i1 + 1}: expected {a!r}, got {b!r}", diff
    return "same lines, other line endings", diff


@dataclass
class Difference:
    notebook: str
    cell: int            # index of the cell in the notebook
    detail: str
    fails: bool = True
    diff: list = field(default_factory=list)   # unified diff lines (difflib), if any

    def __str__(self) -> str:
        tag = "" if self.fails else " (information)"
        return f"{self.notebook}, cell {self.cell}: {self.detail}{tag}"

    def markdown(self) -> list[str]:
        """The report's bullet, with the diff (at most :data:`DIFF_LINES` lines) below it."""
        lines = [f"- {self}"]
        if self.diff:
            shown = self.diff[:DIFF_LINES]
            if len(self.diff) > DIFF_LINES:
                shown.append(f"... ({len(self.diff) - DIFF_LINES} more lines)")
            lines += ["", "  ```diff"] + [f"  {line}" for line in shown] + ["  ```", ""]
        return lines


def _notebook_node(notebook: dict):
    """``notebook`` as nbformat reads a file: NotebookNodes, multi-line texts joined."""
    import nbformat
    from nbformat.v4.rwbase import rejoin_lines
    return rejoin_lines(nbformat.from_dict(copy.deepcopy(notebook)))


def is_checked(cell) -> bool:
    """Whether nbval checks this cell's outputs even under ``--nbval-lax``: a
    ``# NBVAL_CHECK_OUTPUT`` comment or an ``nbval-check-output`` tag (nbval's own
    marker parsing)."""
    plugin = _nbval()
    options = dict(plugin.find_comment_markers(_text(cell.get("source", ""))))
    options.update(plugin.find_metadata_tags(cell.get("metadata", {})) or {})
    return bool(options.get("check", False))


def compare_notebooks(reference: dict, executed: dict, name: str, patterns,
                      exact: bool = True) -> list[Difference]:
    """Every code cell's outputs, reference against re-execution, compared as nbval
    compares them (``IPyNbCell.compare_outputs``: each field sanitized, streams of one name
    joined, images skipped); the first difference of a cell is described with
    :mod:`difflib`.

    With ``exact=False`` (another machine) only cells marked ``# NBVAL_CHECK_OUTPUT``
    fail; other differences are returned with ``fails=False``.
    """
    ref_cells, new_cells = reference["cells"], executed["cells"]
    if [c["cell_type"] for c in ref_cells] != [c["cell_type"] for c in new_cells]:
        return [Difference(name, 0, "the notebooks have different cells")]
    ref_nodes = _notebook_node(reference).cells
    new_nodes = _notebook_node(executed).cells
    differences = []
    for index, (old, new) in enumerate(zip(ref_nodes, new_nodes)):
        if old.cell_type != "code":
            continue
        comparison = _CellComparison(patterns)
        if comparison.equal(old.get("outputs", []), new.get("outputs", [])):
            continue
        checked = exact or is_checked(old)
        if comparison.mismatch is None:
            detail, listed = comparison.problem()
            differences.append(Difference(name, index, detail, checked, listed))
            continue
        key, expected, got = comparison.mismatch
        detail, diff = difference_text(expected, got)
        differences.append(Difference(name, index, f"{key}, {detail}", checked, diff))
    return differences


def _outcome_words(history) -> str:
    """``failed: <outcome>`` or ``trained`` (:func:`d2l_compat.training.outcome`)."""
    text = outcome(history)
    return f"failed: {text}" if text else "trained"


def known_coin_flips(reference: dict) -> dict[str, str]:
    """The runs whose outcome the reference records show to be a coin flip: ``{run: the
    evidence}`` for every run that failed (:func:`d2l_compat.training.outcome`) in some
    seeds or frameworks of ``reference`` and trained in others.

    ``reference`` is ``{framework: {seed: {run: History}}}`` (the committed records of one
    chapter, :func:`d2l_compat.records.load_seeds` per framework). A run that failed in
    every record, or in none, is not a coin flip: its outcome is known.
    """
    records: dict[str, list] = {}
    for framework, seeds in reference.items():
        for seed, runs in seeds.items():
            for run, history in runs.items():
                if history.epochs:
                    records.setdefault(run, []).append((framework, seed, outcome(history)))
    flips = {}
    for run, outcomes in records.items():
        failed = [f"{fw} seed {seed} ({words})" for fw, seed, words in outcomes if words]
        if failed and len(failed) < len(outcomes):
            flips[run] = (f"failed in {len(failed)} of {len(outcomes)} reference records: "
                          + ", ".join(failed))
    return flips


@dataclass
class RunCheck:
    """One re-executed run against the committed seeds of its framework: a row of the
    report's table of runs."""

    notebook: str
    run: str
    new: str          # the re-execution: test acc / train loss, and its outcome if it failed
    reference: str    # the reference seeds' test acc: seed 0, the range and how many seeds
    verdict: str      # RANGE, SPREAD, TOLERANCE, COIN_FLIP, OUTSIDE or NEW_RUN (+ detail)

    def row(self) -> list[str]:
        return [self.notebook, self.run, self.new, self.reference, self.verdict]


# The verdicts of a run (the first words of RunCheck.verdict).
RANGE = "within the seeds' range"
SPREAD = "within the seed spread of seed 0"
TOLERANCE = "within the default tolerance (one seed)"
COIN_FLIP = "coin flip"
OUTSIDE = "regression"
NEW_RUN = "not in the reference"


@dataclass
class MetricCheck:
    """What :func:`compare_metrics` finds: failing differences, notes on failed runs,
    a :class:`RunCheck` per run and the coin flips (known coin-flip runs whose outcome
    flipped, reported apart from regressions)."""

    differences: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    runs: list = field(default_factory=list)
    coin_flips: list = field(default_factory=list)


def compare_metrics(reference_seeds: dict, executed: dict, name: str,
                    coin_flips: dict[str, str] | None = None) -> MetricCheck:
    """Cross-machine check of results: ``reference_seeds`` is ``{seed: {run: History}}``
    (:func:`d2l_compat.records.load_seeds`), ``executed`` ``{run: History}`` of seed 0,
    ``coin_flips`` the runs :func:`known_coin_flips` found in the reference (of every
    framework).

    Per run, in this order:

    * its outcome (trained, or failed: :func:`d2l_compat.training.outcome`) differs from
      that of reference seed 0, and the run is a known coin flip: a **coin flip**, listed
      apart; its metrics are not compared (a run at chance is no sample of the trained
      runs' spread, nor the other way round);
    * otherwise each metric (:data:`METRICS`) passes when ``|new - reference seed 0|`` is
      at most the reference's spread over seeds (``max - min``), or
      :data:`DEFAULT_TOLERANCE` when it has fewer than two seeds; the verdict says
      whether the value also lies within ``min .. max`` of the seeds. A metric outside is
      a regression (a :class:`Difference` that fails), and so is a flipped outcome of a
      run that is not a known coin flip.
    """
    check = MetricCheck()
    coin_flips = coin_flips or {}
    reference = reference_seeds.get(0, {})
    for run, history in executed.items():
        if not history.epochs:
            continue
        note = outcome_note(history)
        if note:
            check.notes.append(f"{name} {run}: re-execution{note}")
        new = (f"{history.final['test_acc']:.3f} / {history.final['train_loss']:.3f}"
               + (f" ({_outcome_words(history)})" if note else ""))
        if run not in reference:
            check.differences.append(Difference(name, -1, f"run {run!r} is not in the "
                                                "reference"))
            check.runs.append(RunCheck(name, run, new, "—", NEW_RUN))
            continue
        ref_note = outcome_note(reference[run])
        if ref_note:
            check.notes.append(f"{name} {run}: reference{ref_note}")
        seeds = [by_run[run] for by_run in reference_seeds.values() if run in by_run]
        acc = seed_stats(seeds, "test_acc")
        ref_text = (f"seed 0 {reference[run].final['test_acc']:.3f}"
                    + (f"; {acc.min:.3f}–{acc.max:.3f} over {acc.n} seeds" if acc.n > 1
                       and not math.isnan(acc.min) else "; one seed")
                    + (f"; {failed_count(seeds)}" if failed_runs(seeds) else ""))
        flipped = history.failed != reference[run].failed
        if flipped and run in coin_flips:
            check.coin_flips.append(
                f"{name} {run}: {_outcome_words(history)} here, "
                f"{_outcome_words(reference[run])} in reference seed 0; a known coin flip "
                f"({coin_flips[run]})")
            check.runs.append(RunCheck(name, run, new, ref_text, COIN_FLIP))
            continue
        if flipped:
            check.differences.append(Difference(
                name, -1, f"run {run!r} {_outcome_words(history)}, reference seed 0 "
                f"{_outcome_words(reference[run])}: the outcome changed, and no reference "
                "record of this run failed in one seed or framework and trained in another"))
        verdicts = []
        for metric in METRICS:
            if len(seeds) >= 2:
                stats = seed_stats(seeds, metric)
                tolerance, why = stats.spread, f"spread over {stats.n} seeds"
            else:
                stats, tolerance, why = None, DEFAULT_TOLERANCE[metric], "default tolerance"
            old, new_value = reference[run].final[metric], history.final[metric]
            if not abs(new_value - old) <= tolerance + 1e-12:
                check.differences.append(Difference(
                    name, -1, f"run {run!r} {metric} {new_value:.3f}{note}, reference "
                    f"{old:.3f}{ref_note}: outside {why} ±{tolerance:.3f}"))
                verdicts.append(OUTSIDE)
            elif stats is None:
                verdicts.append(TOLERANCE)
            elif stats.min - 1e-12 <= new_value <= stats.max + 1e-12:
                verdicts.append(RANGE)
            else:
                verdicts.append(SPREAD)
        verdict = next(v for v in (OUTSIDE, TOLERANCE, SPREAD, RANGE) if v in verdicts)
        if flipped:
            verdict = f"{OUTSIDE} (the outcome changed)"
        elif verdict == OUTSIDE:
            outside = [m for m, v in zip(METRICS, verdicts) if v == OUTSIDE]
            verdict = f"{OUTSIDE} ({', '.join(outside)})"
        check.runs.append(RunCheck(name, run, new, ref_text, verdict))
    return check


def git_commit() -> str:
    """``<sha> (clean)`` or ``<sha> (uncommitted changes)``; ``unknown`` outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True, cwd=project_root()).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True,
                               text=True, check=True, cwd=project_root()).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha} ({'uncommitted changes' if dirty else 'clean'})"


EXIT_PASSED, EXIT_FAILED, EXIT_COIN_FLIPS = 0, 1, 3
"""The exit status of ``main``: no regression and no coin flip; a failed execution or a
regression (whatever else); no regression, but known coin-flip runs flipped their outcome
(2 is argparse's usage error)."""


@dataclass
class Report:
    comparisons: dict = field(default_factory=dict)   # notebook -> "exact" | "within ..."
    differences: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    failures: list = field(default_factory=list)      # executions that failed
    runs: list = field(default_factory=list)          # RunCheck per run (another machine)
    coin_flips: list = field(default_factory=list)    # known coin flips that flipped

    @property
    def passed(self) -> bool:
        """No failed execution and no regression (coin flips are counted apart)."""
        return not self.failures and not any(d.fails for d in self.differences)

    @property
    def exit_status(self) -> int:
        """:data:`EXIT_FAILED`, :data:`EXIT_COIN_FLIPS` or :data:`EXIT_PASSED`."""
        if not self.passed:
            return EXIT_FAILED
        return EXIT_COIN_FLIPS if self.coin_flips else EXIT_PASSED

    def summary(self) -> str:
        """The report's verdict line: PASSED, FAILED, or COIN FLIPS (no regression, but
        runs known to be coin flips flipped their outcome), with the counts."""
        regressions = sum(d.fails for d in self.differences)
        flips = len(self.coin_flips)
        flip_words = f"{flips} coin flip{'s' if flips != 1 else ''}"
        if not self.passed:
            parts = [f"{len(self.failures)} failed execution"
                     f"{'s' if len(self.failures) != 1 else ''}"] if self.failures else []
            parts.append(f"{regressions} regression{'s' if regressions != 1 else ''}")
            return f"**FAILED**: {', '.join(parts)}; {flip_words}"
        if flips:
            return (f"**COIN FLIPS**: no regression, but {flip_words}: runs whose outcome "
                    "(trained or failed) the reference records show to be a coin flip "
                    "flipped it on this machine")
        return "**PASSED**: no regression, no coin flip"

    def markdown(self, mode: str, reference: str) -> str:
        lines = [f"# Output regression ({mode} mode)", "", f"Reference: {reference}.", "",
                 "| notebook | comparison |", "|---|---|"]
        lines += [f"| {nb} | {how} |" for nb, how in self.comparisons.items()]
        lines += ["", self.summary(), ""]
        if self.runs:
            lines += ["## Runs against the committed seeds", "",
                      markdown_table(["notebook", "run", "re-execution: test acc / train "
                                      "loss", "reference: test acc", "verdict"],
                                     [check.row() for check in self.runs]), ""]
        for title, items in (("Failed executions", self.failures),
                             ("Coin flips", self.coin_flips),
                             ("Differing outputs", self.differences),
                             ("Failed runs", self.notes)):
            if items:
                lines += [f"## {title}", ""]
                if title == "Coin flips":
                    lines += ["Runs that failed in some reference seeds or frameworks and "
                              "trained in others, and whose outcome flipped here: neither "
                              "a regression nor a pass.", ""]
                for item in items:
                    lines += item.markdown() if isinstance(item, Difference) else [f"- {item}"]
                lines += [""]
        return "\n".join(lines)


EXACT = "exact (same machine), after sanitizing"
WITHIN_SPREAD = ("within seed spread (another machine): checked cells exact, metrics within "
                 "spread, coin flips apart")


def compare_task(task, reference_nb: Path, reference_results: Path, patterns,
                 report: Report) -> None:
    """Compare one re-executed task with its reference, adding to ``report``."""
    name = f"{task.framework}/{task.chapter}"
    reference = json.loads(reference_nb.read_text())
    executed = json.loads(task.output.read_text())
    exact = same_machine(reference["metadata"].get("d2l_compat", {}).get("machine"),
                         executed["metadata"].get("d2l_compat", {}).get("machine"))
    report.comparisons[name] = EXACT if exact else WITHIN_SPREAD
    report.differences += compare_notebooks(reference, executed, name, patterns, exact)
    new = load_seeds(task.framework, task.chapter, task.mode, task.results).get(0, {})
    if exact:
        report.notes += [f"{name} {run}: re-execution{outcome_note(h)}" for run, h in
                         new.items() if h.epochs and outcome_note(h)]
        return
    every = {fw: load_seeds(fw, task.chapter, task.mode, reference_results)
             for fw in FRAMEWORKS}
    check = compare_metrics(every[task.framework], new, name, known_coin_flips(every))
    report.differences += check.differences
    report.notes += check.notes
    report.runs += check.runs
    report.coin_flips += check.coin_flips


def _read(path: Path) -> str:
    return path.read_text().strip() if path.exists() else "unknown"


def update_baseline(tasks, baseline: Path) -> None:
    """Copy the re-executed notebooks and their results into ``baseline``."""
    for task in tasks:
        target = baseline / task.framework / f"{task.chapter}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(task.output, target)
        if task.results_file.exists():
            results = baseline / "results" / task.framework / task.results_file.name
            results.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(task.results_file, results)
    (baseline / "COMMIT").write_text(git_commit() + "\n")


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--update-baseline", action="store_true",
                   help="smoke mode: record this execution as the reference")
    p.add_argument("--sanitize", type=Path, default=SANITIZE_FILE,
                   help="nbval sanitize file (default: %(default)s)")
    p.add_argument("--results-dir", type=Path,
                   help="full mode: the committed results (default: results/)")
    args = p.parse_args(argv)
    if args.update_baseline and args.mode != "smoke":
        p.error("--update-baseline: the full-mode reference is the committed book")
    patterns = read_sanitize(args.sanitize)
    chapters, frameworks = selection(args)
    regress_dir = args.build_dir / "regress"
    baseline = regress_dir / "baseline"
    try:
        # Smoke: every execution sees only its own results; full: also the committed ones,
        # as the book's executions did. Either way no output depends on the order of runs.
        tasks = plan(chapters, frameworks, [0], args.mode, args.chapters_dir, regress_dir,
                     results=regress_dir / "results" / args.mode, in_place=False,
                     recorded=args.results_dir or results_dir("full"),
                     isolated=args.mode == "smoke")
    except ValueError as err:
        p.error(str(err))
    if args.dry_run:
        for task in tasks:
            print(f"{task.key} -> {task.output}")
        return 0
    client = make_client(args.workers)
    try:
        outcomes = run_grid(tasks, client, args.retries, force=True, kernel=args.kernel,
                            timeout=args.timeout, threads=args.threads)
    finally:
        client.close()
        if client.cluster is not None:
            client.cluster.close()
    report = Report(failures=[o.line for o in outcomes if o.status == "failed"])
    done = [o.task for o in outcomes if o.status == "done"]
    if args.mode == "smoke":
        def reference_of(task):
            return baseline / task.framework / f"{task.chapter}.ipynb"
        record = done if args.update_baseline else [t for t in done
                                                    if not reference_of(t).exists()]
        if record:
            update_baseline(record, baseline)
            why = "as asked" if args.update_baseline else "none existed for them"
            print(f"recorded the smoke baseline of {', '.join(t.key for t in record)} in "
                  f"{baseline} ({why}; commit {git_commit()}); later runs compare with it")
        done = [t for t in done if t not in record]
        reference = (f"smoke baseline in {baseline} "
                     f"(commit {_read(baseline / 'COMMIT')})")
        reference_results = baseline / "results"
    else:
        def reference_of(task):
            return args.chapters_dir / task.framework / f"{task.chapter}.ipynb"
        reference = f"committed notebooks in {args.chapters_dir}"
        reference_results = args.results_dir
    for task in done:
        compare_task(task, reference_of(task), reference_results, patterns, report)
    text = report.markdown(args.mode, reference)
    path = regress_dir / "report.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)
    print(f"report written to {path}")
    return report.exit_status


if __name__ == "__main__":
    sys.exit(main())
