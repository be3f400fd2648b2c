"""Results of the chapters: JSON files per framework and chapter, and the summary table.

Full runs write ``results/<framework>/<chapter>.json``; smoke runs write under
``results/smoke/`` (ignored by git) so tests never overwrite the committed numbers.
``python -m d2l_compat.results`` rebuilds ``results/README.md`` from the JSON files.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from d2l_compat import FRAMEWORKS
from d2l_compat.runmode import run_mode
from d2l_compat.training import History

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


def results_dir(mode: str | None = None) -> Path:
    """``$D2L_RESULTS_DIR``, else ``results/`` (full) or ``results/smoke/`` (smoke)."""
    if os.environ.get("D2L_RESULTS_DIR"):
        return Path(os.environ["D2L_RESULTS_DIR"])
    base = project_root() / "results"
    return base if (mode or run_mode()) == "full" else base / "smoke"


def results_path(framework: str, chapter: str, mode: str | None = None) -> Path:
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    return results_dir(mode) / framework / f"{chapter}.json"


def _finite_or_none(value):
    """JSON has no NaN: a diverged run's loss is stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


def record_run(chapter: str, run: str, history: History, **extra) -> Path:
    """Add (or replace) one run in the chapter's results file, written atomically."""
    path = results_path(history.framework, chapter, history.mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = load_results(history.framework, chapter, history.mode) or {
        "chapter": chapter, "framework": history.framework, "runs": {}}
    data.update(mode=history.mode, seed=history.seed, data_source=history.data_source,
                split_reconstructed=history.split_reconstructed, versions=history.versions)
    data["runs"][run] = {**history.to_dict(), **extra}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_finite_or_none(data), indent=1) + "\n")
    os.replace(tmp, path)
    return path


def load_results(framework: str, chapter: str, mode: str | None = None) -> dict | None:
    path = results_path(framework, chapter, mode)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def load_history(framework: str, chapter: str, run: str, mode: str | None = None) -> History:
    data = load_results(framework, chapter, mode)
    if data is None or run not in data["runs"]:
        raise KeyError(f"no run {run!r} in {results_path(framework, chapter, mode)}")
    fields = History.__dataclass_fields__
    return History.from_dict({k: v for k, v in data["runs"][run].items() if k in fields})


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


def _cell(run: dict | None) -> str:
    if run is None:
        return "—"
    last = run["epochs"][-1]
    loss = "diverged" if last["train_loss"] is None else f"{last['train_loss']:.3f}"
    return f"{last['test_acc']:.3f} / {loss}"


def chapter_table(chapter: str, mode: str = "full") -> str | None:
    """Markdown table: rows = runs, columns = frameworks, 'test acc / train loss'."""
    found = {fw: load_results(fw, chapter, mode) for fw in FRAMEWORKS}
    found = {fw: data for fw, data in found.items() if data}
    if not found:
        return None
    runs = list(dict.fromkeys(run for data in found.values() for run in data["runs"]))
    lines = ["| run | " + " | ".join(FRAMEWORKS) + " |", "|---" * (len(FRAMEWORKS) + 1) + "|"]
    for run in runs:
        cells = [_cell(found.get(fw, {}).get("runs", {}).get(run)) for fw in FRAMEWORKS]
        lines.append(f"| {RUN_TITLES.get(run, run)} | " + " | ".join(cells) + " |")
    sources = sorted({str(data.get("data_source")) for data in found.values()})
    lines.append("")
    lines.append(f"Data source: {', '.join(sources)}.")
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
             "files beside it: full-mode runs, seed 0, CPU. Cells are "
             "**test accuracy / train loss** after the last epoch.", ""]
    for chapter, title in CHAPTER_TITLES.items():
        table = chapter_table(chapter, mode)
        if table is None:
            continue
        parts += [f"## {title}", "", table, ""]
        figure = directory / f"{chapter}_test_accuracy.png"
        if plot_test_accuracy(chapter, figure, mode):
            parts += [f"![test accuracy per epoch]({figure.name})", ""]
    path = directory / "README.md"
    path.write_text("\n".join(parts))
    return path


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
    head, rest = text.split(start, 1)
    readme.write_text(head + start + "\n" + "\n".join(tables) + end + rest.split(end, 1)[1])
    return readme


if __name__ == "__main__":
    chosen = sys.argv[1] if len(sys.argv) > 1 else "full"
    print(f"wrote {write_readme(chosen)}")
    if chosen == "full" and update_project_readme(chosen):
        print("updated the results section of README.md")
