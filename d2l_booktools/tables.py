"""The results tables of the README and ``results/README.md``, built from the run records.

``python -m d2l_booktools.tables`` (``make results``) rebuilds ``results/README.md`` (and
its figures) from the JSON files: the seed-0 value of every run with its outcome if it
failed; where several seeds exist, per framework and run the mean and min-max over the
seeds present and how many failed, with the seed and outcome of each failure (a cell with
fewer seeds than the most says how many); for *Learning Rate Scheduling*, D2L's published
test accuracies placed in those ranges, with a footnote where D2L's run did not train the
schedule its row names. The rules and the words are the library's
(:func:`d2l_compat.records.seed_stats`, :func:`d2l_compat.training.outcome`,
:func:`d2l_compat.report.failed_count`, :func:`d2l_compat.report.d2l_range`). Then the
running times and the conclusions the grid recorded (:mod:`d2l_booktools.gridrecords`).
The same tables go between the results markers of the project README.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from d2l_compat.context import DEFAULT_SEED, current
from d2l_compat.files import project_root, write_atomic
from d2l_compat.records import (edge_study_table, load_results, load_seeds, read_edge_study,
                                results_dir, seed_stats)
from d2l_compat.registry import CHAPTERS, FRAMEWORKS
from d2l_compat.report import (D2L_CHAPTER, D2L_NOTES, D2L_REFERENCE, RUN_TITLES, d2l_range,
                               failed_count, markdown_table)
from d2l_compat.training import History, outcome

# Whose published numbers the results tables quote: D2L's PyTorch build (its Colab outputs).
D2L_QUOTED = "pytorch"
from d2l_booktools.gridrecords import (CONCLUSIONS_TITLE, TIMINGS_TITLE, conclusions_table,
                                       timings_table)


def outcome_note(history: History) -> str:
    """``" (<outcome>)"`` for a failed run (:func:`d2l_compat.training.outcome`: at chance
    in every epoch, collapsed in epoch k, diverged in epoch k), else ``""``."""
    text = outcome(history)
    return f" ({text})" if text else ""


def _cell(history: History | None) -> str:
    if history is None:
        return "—"
    final = history.final
    loss = "diverged" if not math.isfinite(final["train_loss"]) else f"{final['train_loss']:.3f}"
    return f"{final['test_acc']:.3f}{outcome_note(history)} / {loss}"


def _seeds_cell(by_seed: dict[int, History], most: int) -> str:
    """``mean (min–max), k of n failed (...)`` over the seeds of one run and framework; a
    cell with fewer seeds than ``most`` (the most any framework has) says how many."""
    if not by_seed:
        return "—"
    acc = seed_stats(by_seed.values())
    failed = failed_count(by_seed)
    if math.isnan(acc.mean):
        return f"every one of {acc.n} seeds diverged; {failed}"
    if acc.n == 1:
        return f"{acc.mean:.3f} (seed {next(iter(by_seed))} only), {failed}"
    fewer = f"; {acc.n} of {most} seeds" if acc.n < most else ""
    return f"{acc.mean:.3f} ({acc.min:.3f}–{acc.max:.3f}{fewer}), {failed}"


def _row(run: str, cells: list[str]) -> str:
    return f"| {RUN_TITLES.get(run, run)} | " + " | ".join(cells) + " |"


def d2l_table(found: dict, runs: list[str]) -> list[str]:
    """Lines: D2L's published PyTorch test accuracy (:data:`d2l_compat.report.D2L_REFERENCE`)
    per run, and per framework whether it lies within our range over seeds
    (:func:`d2l_compat.report.d2l_range`), with the footnotes of
    :data:`d2l_compat.report.D2L_NOTES`."""
    rows, notes = [], []
    for run in runs:
        published = D2L_REFERENCE.get(run, {}).get(D2L_QUOTED)
        if published is None:
            continue
        number = f"{published[2]:.3f}"
        if (run, D2L_QUOTED) in D2L_NOTES:
            notes.append(D2L_NOTES[run, D2L_QUOTED])
            number += f" [{len(notes)}]"
        cells = []
        for fw in FRAMEWORKS:
            seeds = [by_run[run] for by_run in found.get(fw, {}).values() if run in by_run]
            cells.append(f"{d2l_range(seeds, published[2])} ({len(seeds)} "
                         f"seed{'s' if len(seeds) != 1 else ''})" if seeds else "—")
        rows.append([RUN_TITLES.get(run, run), number, *cells])
    if not rows:
        return []
    lines = ["", f"D2L's published test accuracy ({D2L_QUOTED}, one unseeded run on a GPU, "
             "D2L v1.0.3) against our range of test accuracies over seeds: *within* when it "
             "lies between our lowest and highest seed (at the 3 decimals shown), else "
             "*above* or *below* it:", "",
             markdown_table(["run", f"D2L {D2L_QUOTED}", *FRAMEWORKS], rows)]
    return lines + ([""] + [f"[{k}] {note}" for k, note in enumerate(notes, 1)] if notes
                    else [])


def chapter_table(chapter: str, mode: str = "full") -> str | None:
    """Markdown tables: rows = runs, columns = frameworks.

    The first gives seed 0, ``test acc / train loss`` after the last epoch (with the
    outcome of a failed run); where a framework has results for two or more seeds, a
    second gives, for every framework, the test accuracy's mean (min–max) over the seeds
    present and how many of them failed, and how (:func:`d2l_compat.report.failed_count`);
    a cell with fewer seeds than the most says how many. For the chapter D2L published
    (:data:`d2l_compat.report.D2L_CHAPTER`) a third places D2L's numbers in our ranges.
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
        lines.append(_row(run, [_cell(found.get(fw, {}).get(DEFAULT_SEED, {}).get(run))
                                for fw in FRAMEWORKS]))
    sources = sorted({str(load_results(fw, chapter, mode, min(seeds)).get("data_source"))
                      for fw, seeds in found.items()})
    lines += ["", f"Data source: {', '.join(sources)}."]
    if any(len(seeds) > 1 for seeds in found.values()):
        counts = ", ".join(f"{fw} {len(seeds)}" for fw, seeds in found.items())
        lines += ["", f"Over seeds (seeds per framework: {counts}) — test accuracy mean "
                  "(min–max) over the seeds that did not diverge, and how many seeds failed "
                  "(at chance in every epoch, collapsed in epoch k, diverged in epoch k, or ended at chance), "
                  "with the seed and outcome of each failure:", ""] + header
        for run in runs:
            most = max(sum(run in by_run for by_run in seeds.values())
                       for seeds in found.values())
            lines.append(_row(run, [_seeds_cell({s: by_run[run] for s, by_run in
                                                 found.get(fw, {}).items() if run in by_run},
                                                most) for fw in FRAMEWORKS]))
    if chapter == D2L_CHAPTER:
        lines += d2l_table(found, runs)
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


EDGE_TITLE = "At the edge of stability: LeNet at a constant lr 0.5"


def perturbation_rows(data: dict) -> list[list[str]]:
    """The perturbed runs beside their unperturbed run of the same framework, threads
    and seed: framework, lr, epoch losses, outcome."""
    rows = []
    for run in data["runs"]:
        base = run["perturbation"] == "" and any(
            r["perturbation"] and (r["framework"], r["threads"], r["seed"])
            == (run["framework"], run["threads"], run["seed"]) for r in data["runs"])
        if run["perturbation"] or base:
            rows.append([run["framework"], f"{run['lr']:.9g}",
                         ", ".join("nan" if v is None else f"{v:.3f}"
                                   for v in run["train_loss"]),
                         run["outcome"] or "trained"])
    return rows


def edge_report(data: dict) -> str:
    """The study's tables: failed runs per framework and threads; the perturbed runs."""
    failures = markdown_table(["framework", "threads", "failed runs", "seeds that failed"],
                              edge_study_table(data),
                              f"LeNet at constant lr, {data['epochs']} epochs, full data")
    ulps = markdown_table(["framework", "lr", "train loss per epoch", "outcome"],
                          perturbation_rows(data), "seed 0, the lr moved by one float32 ulp")
    return f"{failures}\n\n{ulps}"



def edge_table(path: Path | None = None) -> str | None:
    """The edge-of-stability study (``benchmarks/edge_of_stability.py``) as Markdown, with
    the CPU it ran on (:func:`edge_report`); None when the study file is absent."""
    try:
        data = read_edge_study(path)
    except FileNotFoundError:
        return None
    return (f"{data['epochs']} epochs on the full data from `d2l.lenet(seed)`, batch "
            f"{data['batch_size']}, on {data['cpu']} ({data['date']}); written by "
            "`python benchmarks/edge_of_stability.py`. Which runs fail changes with the CPU, "
            "the threads and the last bit of the learning rate: read it as a failure rate, "
            "not as a property of one framework.\n\n" + edge_report(data))


def write_readme(mode: str = "full") -> Path:
    """Rebuild ``results/README.md`` (and its figures) from the JSON files."""
    directory = results_dir(mode)
    directory.mkdir(parents=True, exist_ok=True)
    parts = ["# Results", "",
             "Written by `make reproduce` (`python -m d2l_booktools.tables`) from the JSON "
             f"files beside it: {mode}-mode runs on a CPU. Cells are "
             "**test accuracy / train loss** after the last epoch of seed 0. A run *failed* "
             "when its epoch-mean training loss stayed at chance level (ln 10) in every "
             "epoch (*at chance in every epoch*: it never trained, or broke within its first "
             "epoch), went back to chance level after it had trained (*collapsed in epoch "
             "k*, counted from 0), became NaN (*diverged in epoch k*), or ended at chance level "
             "without having got far below it (*ended at chance*). Where several "
             "seeds were run (`python -m d2l_booktools.reproduce --seeds 0 1 2`), a second "
             "table gives, per framework, the mean and range over the seeds present and "
             "how many failed; for *Learning Rate Scheduling* a third places D2L's published "
             "numbers in those ranges. Runs are deterministic on one machine but differ "
             "between CPU models.", ""]
    for chapter, title in ((c.name, c.title) for c in CHAPTERS):
        table = chapter_table(chapter, mode)
        if table is None:
            continue
        parts += [f"## {title}", "", table, ""]
        figure = directory / f"{chapter}_test_accuracy.png"
        if plot_test_accuracy(chapter, figure, mode):
            parts += [f"![test accuracy per epoch]({figure.name})", ""]
    for title, table in ((EDGE_TITLE, edge_table() if mode == "full" else None),
                         (TIMINGS_TITLE, timings_table()),
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
    for title, table in ((EDGE_TITLE, edge_table() if mode == "full" else None),
                         (TIMINGS_TITLE, timings_table()),
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
