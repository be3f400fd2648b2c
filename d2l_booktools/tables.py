"""The results tables of the README and ``results/README.md``, built from the run records.

``python -m d2l_booktools.tables`` (``make results``) rebuilds ``results/README.md`` (and
its figures) from the JSON files: the seed-0 value of every run with its outcome if it
failed, and where several seeds exist the mean and min-max over seeds and the count of
failed seeds (the rule and the words are the library's: :func:`d2l_compat.records.seed_stats`,
:func:`d2l_compat.training.outcome`); then the running times and the conclusions the grid
recorded (:mod:`d2l_booktools.gridrecords`). The same tables go between the results
markers of the project README.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from d2l_compat.context import DEFAULT_SEED, current
from d2l_compat.files import project_root, write_atomic
from d2l_compat.records import load_results, load_seeds, results_dir, seed_stats
from d2l_compat.registry import CHAPTERS, FRAMEWORKS
from d2l_compat.report import RUN_TITLES, markdown_table
from d2l_compat.training import History, outcome
from d2l_booktools.gridrecords import (CONCLUSIONS_TITLE, TIMINGS_TITLE, conclusions_table,
                                       timings_table)


def outcome_note(history: History) -> str:
    """``" (<outcome>)"`` for a failed run (:func:`d2l_compat.training.outcome`), else ``""``."""
    text = outcome(history)
    return f" ({text})" if text else ""


def _cell(history: History | None) -> str:
    if history is None:
        return "—"
    final = history.final
    loss = "diverged" if not math.isfinite(final["train_loss"]) else f"{final['train_loss']:.3f}"
    return f"{final['test_acc']:.3f}{outcome_note(history)} / {loss}"


def _seeds_cell(histories: list[History]) -> str:
    if len(histories) < 2:
        return "—"
    acc = seed_stats(histories)
    failed = acc.failures() or f"0 of {acc.n} failed"
    if math.isnan(acc.mean):
        return failed
    return f"{acc.mean:.3f} ({acc.min:.3f}–{acc.max:.3f}), {failed}"


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
                  "(min–max) over the seeds that did not diverge, and in how many seeds the "
                  "run failed (collapsed, at chance in every epoch, or diverged):", ""] + header
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
             "Written by `make reproduce` (`python -m d2l_booktools.tables`) from the JSON "
             f"files beside it: {mode}-mode runs on a CPU. Cells are "
             "**test accuracy / train loss** after the last epoch of seed 0; a run whose "
             "training loss went back to chance level (ln 10) is marked with the epoch it "
             "collapsed (counted from 0), one whose loss never left chance level as *at "
             "chance in every epoch*. Where several seeds were run (`python -m "
             "d2l_booktools.reproduce "
             "--seeds 0 1 2`), a second table gives the spread over seeds. Runs are "
             "deterministic on one machine but differ between CPU models.", ""]
    for chapter, title in ((c.name, c.title) for c in CHAPTERS):
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
    return write_atomic(directory / "README.md", "\n".join(parts))


README_MARKERS = ("<!-- results:start -->", "<!-- results:end -->")


def update_project_readme(mode: str = "full") -> Path | None:
    """Copy the chapter tables between the results markers of the project README."""
    readme = project_root() / "README.md"
    text = readme.read_text()
    start, end = README_MARKERS
    if start not in text or end not in text:
        return None
    tables = []
    for chapter, title in ((c.name, c.title) for c in CHAPTERS):
        table = chapter_table(chapter, mode)
        if table is not None:
            tables += [f"**{title}** — test accuracy / train loss", "", table, ""]
    for title, table in ((TIMINGS_TITLE, timings_table()),
                         (CONCLUSIONS_TITLE, conclusions_table())):
        if table is not None:
            tables += [f"**{title}**", "", table, ""]
    head, rest = text.split(start, 1)
    write_atomic(readme, head + start + "\n" + "\n".join(tables) + end + rest.split(end, 1)[1])
    return readme


def main(argv=None) -> int:
    """``python -m d2l_booktools.tables [MODE]`` (``make results``): rebuild the results
    README of ``MODE`` (default full) and, for the project's own full-mode results, the
    README's results section. A damaged results file is named, with its field (exit 1)."""
    args = sys.argv[1:] if argv is None else list(argv)
    chosen = args[0] if args else "full"
    try:
        print(f"wrote {write_readme(chosen)}")
        if chosen == "full" and not current().results_dir and update_project_readme(chosen):
            print("updated the results section of README.md")
    except ValueError as err:  # RecordError and invalid JSON name the file
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
