"""The grid's own records beside the full-mode results: running times and conclusions.

* :data:`TIMINGS_FILE`: how long each grid execution took (``record_timing``), in every
  mode, with the CPU and threads it ran with; ``timings_table`` shows them.
* :data:`CONCLUSIONS_FILE`: which of its conclusions each execution bore out. A chapter
  shows its conclusions with :func:`d2l_compat.report.conclusions`, whose output carries
  the claims as data; the grid reads them from the executed notebook
  (:func:`notebook_conclusions`) and merges them here (``merge_conclusions``). Nothing in
  the library writes this file.
"""

from __future__ import annotations

import time
from pathlib import Path
from statistics import fmean

from d2l_compat.context import RUN_MODES
from d2l_compat.files import read_json, write_json_atomic
from d2l_compat.records import results_dir
from d2l_compat.registry import CHAPTER_NAMES, FRAMEWORKS
from d2l_compat.report import CONCLUSIONS_KEY


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
    data = read_json(path) or {}
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
    chapters, modes = list(CHAPTER_NAMES), list(RUN_MODES)
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
    records = [r for r in (read_json(path) or {}).values()
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


def notebook_conclusions(notebook: dict) -> dict | None:
    """The conclusions an executed notebook showed, ``{"mode": ..., "claims": {text:
    holds}}``, merged over its cells in order (a chapter may check in parts); None when
    it showed none. They are the data ``d2l.md(d2l.conclusions(...))`` puts in its
    output's metadata (:data:`d2l_compat.report.CONCLUSIONS_KEY`)."""
    found = None
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else ():
            metadata = output.get("metadata", {})
            data = next((m[CONCLUSIONS_KEY] for m in [metadata, *metadata.values()]
                         if isinstance(m, dict) and CONCLUSIONS_KEY in m), None)
            if data is not None:
                found = found or {"mode": data["mode"], "claims": {}}
                found["claims"].update(data["claims"])
    return found


def merge_conclusions(path: Path, record: dict) -> Path:
    """Merge one execution's record (``chapter``, ``framework``, ``mode``, ``seed``,
    ``claims``: :func:`notebook_conclusions` with the task's names) into the file ``path``;
    an execution of the same (chapter, framework, mode, seed) replaces the older one."""
    data = read_json(path) or {}
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
    records = list((read_json(path) or {}).values())
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


