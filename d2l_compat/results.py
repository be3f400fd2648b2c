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
