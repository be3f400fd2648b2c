"""Output regression: sanitized exact comparison, cross-machine spread, the CLI on the grid."""

import copy
import json
import math
from pathlib import Path

import pytest

from d2l_booktools import regress
from d2l_booktools.tables import outcome_note
from d2l_compat.training import EpochRecord, History

PROBE = Path(__file__).resolve().parent / "grid_probe.ipynb"
PATTERNS = regress.read_sanitize()


def probe() -> dict:
    return json.loads(PROBE.read_text())


def replace_output(notebook: dict, old: str, new: str) -> dict:
    """A copy of ``notebook`` with ``old`` replaced by ``new`` in the one output holding it."""
    changed = copy.deepcopy(notebook)
    hits = 0
    for cell in changed["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", ""))
            if old in text:
                output["text"], hits = text.replace(old, new), hits + 1
    assert hits == 1, f"{old!r} is in {hits} outputs of the probe"
    return changed


def output_line(notebook: dict, part: str) -> str:
    """The first output line of ``notebook`` that contains ``part``."""
    return next(line for cell in notebook["cells"] for o in cell.get("outputs", [])
                for line in "".join(o.get("text", "")).splitlines() if part in line)


def test_sanitize_file_is_read_as_nbval_reads_it():
    nbval_plugin = pytest.importorskip("nbval.plugin")
    text = regress.SANITIZE_FILE.read_text()
    assert regress.read_sanitize() == nbval_plugin.get_sanitize_patterns(text)
    assert regress.sanitize("loss 0.790, 121507.4 examples/sec on cpu, 12.5 s at 0x7f00aa12",
                            PATTERNS) == "loss 0.790, THROUGHPUT on cpu, TIME at 0xADDRESS"
    assert regress.sanitize("2026-10-01 12:00:03 epoch 30, test acc 0.893", PATTERNS) == \
        "DATE epoch 30, test acc 0.893"


def test_read_sanitize_names_the_bad_file(tmp_path):
    empty = tmp_path / "empty.cfg"
    empty.write_text("[nothing]\n")
    with pytest.raises(ValueError, match="empty.cfg: no 'regex:'"):
        regress.read_sanitize(empty)
    bad = tmp_path / "bad.cfg"
    bad.write_text("[x]\nregex: (unclosed\nreplace: y\n")
    with pytest.raises(ValueError, match=r"bad.cfg: bad regex '\(unclosed'"):
        regress.read_sanitize(bad)


def test_a_timing_change_passes_and_a_changed_accuracy_fails():
    reference = probe()
    throughput = output_line(reference, "examples/sec")
    timing = replace_output(reference, throughput, "987.6 examples/sec on cpu")
    assert regress.compare_notebooks(reference, timing, "probe", PATTERNS) == []

    last = output_line(reference, "epoch 3:")
    changed = replace_output(reference, last, last.replace("test acc 0.", "test acc 1."))
    differences = regress.compare_notebooks(reference, changed, "probe", PATTERNS)
    assert len(differences) == 1
    cell = next(i for i, c in enumerate(reference["cells"])
                if "epoch 3:" in json.dumps(c.get("outputs", [])))
    assert differences[0].cell == cell and differences[0].fails
    assert str(differences[0]).startswith(f"probe, cell {cell}: stdout, line 3: expected '{last}'")
    assert f"-{last}" in differences[0].diff and differences[0].diff[:2] == [
        "--- reference", "+++ re-execution"]


def test_another_machine_fails_only_checked_cells():
    reference = probe()
    last = output_line(reference, "epoch 3:")
    metric = replace_output(reference, last, last.replace("test acc 0.", "test acc 1."))
    [info] = regress.compare_notebooks(reference, metric, "probe", PATTERNS, exact=False)
    assert not info.fails and str(info).endswith("(information)")
    checked = replace_output(reference, "seed: 0", "seed: 5")  # a # NBVAL_CHECK_OUTPUT cell
    [failure] = regress.compare_notebooks(reference, checked, "probe", PATTERNS, exact=False)
    assert failure.fails and "expected 'seed: 0', got 'seed: 5'" in failure.detail


def history(losses, test_acc):
    """A History whose epochs have these train losses and a final test accuracy."""
    return History("jax", epochs=[EpochRecord(e, 0.3, loss, 0.5, test_acc, 1.0, 1.0)
                                  for e, loss in enumerate(losses)])


def test_cross_machine_metrics_within_the_seed_spread_pass_and_outside_fail():
    seeds = {s: {"baseline": history([1.0, 0.5, 0.30 + 0.02 * s], acc)}
             for s, acc in enumerate([0.89, 0.88, 0.90])}  # spread: 0.02 and 0.04
    inside = {"baseline": history([1.0, 0.6, 0.33], 0.905)}
    assert regress.compare_metrics(seeds, inside, "jax/lenet") == ([], [])
    outside = {"baseline": history([1.0, 0.6, 0.33], 0.86)}
    [difference], _ = regress.compare_metrics(seeds, outside, "jax/lenet")
    assert "test_acc 0.860, reference 0.890: outside spread over 3 seeds ±0.020" in str(difference)


def test_one_seed_uses_the_default_tolerance_and_collapses_are_reported():
    reference = {0: {"baseline": history([1.0, 0.5, 0.3], 0.89)}}
    near = {"baseline": history([1.0, 0.5, 0.3 + 0.04], 0.89 - 0.015)}
    assert regress.compare_metrics(reference, near, "pytorch/lenet") == ([], [])
    collapsed = {"baseline": history([1.0, 0.5, 2.31, 2.30], 0.1)}
    differences, notes = regress.compare_metrics(reference, collapsed, "pytorch/lenet")
    note = outcome_note(collapsed["baseline"])  # " (collapsed ... epoch ...)": the tables' words
    assert note.startswith(" (collapsed") and "epoch" in note
    assert notes == [f"pytorch/lenet baseline: re-execution{note}"]
    assert {d.detail.split()[2] for d in differences} == {"test_acc", "train_loss"}
    assert all("default tolerance" in d.detail and note in d.detail for d in differences)
    diverged = {"baseline": history([1.0, math.nan], 0.1)}
    assert regress.compare_metrics(reference, diverged, "pytorch/lenet")[0]


@pytest.mark.slow  # starts a Dask cluster
def test_make_regress_on_the_grid_records_a_baseline_then_catches_a_change(
        grid_client, probe_chapters, results_tmp, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", grid_client.scheduler.address)
    build = tmp_path / "build"
    args = ["--chapters", "probe", "--frameworks", "pytorch", "--mode", "smoke",
            "--chapters-dir", str(probe_chapters), "--build-dir", str(build)]
    assert regress.main(args) == 0  # no baseline yet: this execution becomes it
    assert "recorded the smoke baseline of probe/pytorch/seed0/smoke" in capsys.readouterr().out
    baseline = build / "regress/baseline/pytorch/probe.ipynb"
    assert (build / "regress/baseline/results/pytorch/probe.json").exists()

    # Plant one change in the baseline: the re-execution on this machine is compared
    # exactly, differs in that one output only (timings are sanitized) and fails.
    reference = json.loads(baseline.read_text())
    last = output_line(reference, "epoch 3:")
    baseline.write_text(json.dumps(replace_output(reference, last, last + "0")))
    assert regress.main(args) == 1
    report = (build / "regress/report.md").read_text()
    assert "| pytorch/probe | exact (same machine), after sanitizing |" in report
    assert "**FAILED**" in report
    differing = [line for line in report.splitlines() if line.startswith("- pytorch/probe")]
    assert differing == [f"- pytorch/probe, cell 3: stdout, line 3: expected '{last}0', got '{last}'"]
    assert f"  -{last}0\n  +{last}\n" in report  # the difflib diff below it
    assert "**FAILED**" in capsys.readouterr().out


def notebook_with(*outputs) -> dict:
    """A one-code-cell notebook (as JSON) with these outputs."""
    return {"cells": [{"cell_type": "code", "source": "run()", "metadata": {},
                       "execution_count": 1, "outputs": list(outputs)}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def stream(text, name="stdout"):
    return {"output_type": "stream", "name": name, "text": text}


def figure(png, text="<Figure size 640x480 with 1 Axes>"):
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": png, "text/plain": [text]}}


def test_outputs_are_compared_as_nbval_compares_them():
    reference = notebook_with(stream(["epoch 1: loss 0.5\n", "1,234.5 examples/sec on cpu\n"]),
                              figure("iVBORw0KGgo="),
                              {"output_type": "error", "ename": "ValueError", "evalue": "bad",
                               "traceback": ["Traceback ... line 12"]})
    # streams split elsewhere, another image, timing and traceback: equal
    same = notebook_with(stream("epoch 1: loss 0.5\n"), stream("99.0 examples/sec on cpu\n"),
                         figure("R0lGODlh"),
                         {"output_type": "error", "ename": "ValueError", "evalue": "bad",
                          "traceback": ["Traceback ... line 13"]})
    assert regress.compare_notebooks(reference, same, "nb", PATTERNS) == []
    # a figure's text, an error's value, a missing stream: each named
    other_figure = notebook_with(*same["cells"][0]["outputs"][:2],
                                 figure("R0lGODlh", "<Figure size 640x480 with 2 Axes>"),
                                 same["cells"][0]["outputs"][3])
    [difference] = regress.compare_notebooks(reference, other_figure, "nb", PATTERNS)
    assert difference.detail == ("text/plain, line 1: expected '<Figure size 640x480 with 1 "
                                 "Axes>', got '<Figure size 640x480 with 2 Axes>'")
    other_error = copy.deepcopy(same)
    other_error["cells"][0]["outputs"][3]["evalue"] = "worse"
    [difference] = regress.compare_notebooks(reference, other_error, "nb", PATTERNS)
    assert difference.detail == "evalue, line 1: expected 'bad', got 'worse'"
    no_stream = notebook_with(*same["cells"][0]["outputs"][2:])
    [difference] = regress.compare_notebooks(reference, no_stream, "nb", PATTERNS)
    assert difference.detail == "Missing output fields from running code: {'stdout'}"
    report = regress.Report(differences=[difference]).markdown("smoke", "a test")
    assert "- nb, cell 0: Missing output fields" in report and "**FAILED**" in report


def test_a_changed_baseline_notebook_is_caught(tmp_path):
    # the recorded smoke baseline, when there is one (make regress): equal to itself, and
    # one changed output of it is the one difference
    baseline = Path(regress.project_root()) / "build" / "regress" / "baseline"
    notebooks = sorted(baseline.glob("*/*.ipynb")) or [PROBE]
    for path in notebooks:
        reference = json.loads(path.read_text())
        assert regress.compare_notebooks(reference, reference, path.stem, PATTERNS) == []
    reference = json.loads(notebooks[0].read_text())
    index, cell = next((i, c) for i, c in enumerate(reference["cells"])
                       if any(o["output_type"] == "stream" for o in c.get("outputs", [])))
    changed = copy.deepcopy(reference)
    output = next(o for o in changed["cells"][index]["outputs"] if o["output_type"] == "stream")
    output["text"] = "".join(output["text"]) + "one more line\n"
    [difference] = regress.compare_notebooks(reference, changed, "nb", PATTERNS)
    assert difference.cell == index and difference.fails
    assert "+one more line" in difference.diff
