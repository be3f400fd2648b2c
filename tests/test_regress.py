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
    inside = {"baseline": history([1.0, 0.6, 0.33], 0.895)}
    check = regress.compare_metrics(seeds, inside, "jax/lenet")
    assert (check.differences, check.notes, check.coin_flips) == ([], [], [])
    [row] = check.runs
    assert row.row() == ["jax/lenet", "baseline", "0.895 / 0.330",
                         "seed 0 0.890; 0.880–0.900 over 3 seeds", regress.RANGE]
    # outside min..max of the seeds but within ±spread of seed 0: passes, and says so
    beyond = {"baseline": history([1.0, 0.6, 0.33], 0.905)}
    check = regress.compare_metrics(seeds, beyond, "jax/lenet")
    assert check.differences == [] and check.runs[0].verdict == regress.SPREAD
    outside = {"baseline": history([1.0, 0.6, 0.33], 0.86)}
    check = regress.compare_metrics(seeds, outside, "jax/lenet")
    [difference] = check.differences
    assert "test_acc 0.860, reference 0.890: outside spread over 3 seeds ±0.020" in str(difference)
    assert check.runs[0].verdict == f"{regress.OUTSIDE} (test_acc)"


def test_one_seed_uses_the_default_tolerance_and_failed_runs_are_reported():
    reference = {0: {"baseline": history([1.0, 0.5, 0.3], 0.89)}}
    near = {"baseline": history([1.0, 0.5, 0.3 + 0.04], 0.89 - 0.015)}
    check = regress.compare_metrics(reference, near, "pytorch/lenet")
    assert check.differences == [] and check.runs[0].verdict == regress.TOLERANCE
    assert check.runs[0].reference == "seed 0 0.890; one seed"
    collapsed = {"baseline": history([1.0, 0.5, 2.31, 2.30], 0.1)}
    check = regress.compare_metrics(reference, collapsed, "pytorch/lenet")
    note = outcome_note(collapsed["baseline"])  # the tables' words
    assert note == " (collapsed in epoch 2)"
    assert check.notes == [f"pytorch/lenet baseline: re-execution{note}"]
    # trained in the reference, failed here, and no record says it is a coin flip
    outcome_change, *metrics = check.differences
    assert "the outcome changed" in outcome_change.detail and outcome_change.fails
    assert {d.detail.split()[2] for d in metrics} == {"test_acc", "train_loss"}
    assert all("default tolerance" in d.detail and note in d.detail for d in metrics)
    assert check.runs[0].verdict == f"{regress.OUTSIDE} (the outcome changed)"
    assert check.coin_flips == []
    diverged = {"baseline": history([1.0, math.nan], 0.1)}
    assert regress.compare_metrics(reference, diverged, "pytorch/lenet").differences


def test_a_known_coin_flip_that_flips_is_reported_apart_from_regressions():
    trained = history([1.0, 0.5, 0.30], 0.89)
    at_chance = history([2.31, 2.303, 2.303], 0.1)
    # the committed records of one chapter: mxnet failed in seed 0, the others trained
    reference = {"pytorch": {0: {"multi_factor": trained, "baseline": trained},
                             1: {"multi_factor": history([1.0, 0.5, 0.31], 0.88),
                                 "baseline": trained}},
                 "mxnet": {0: {"multi_factor": at_chance, "baseline": trained}},
                 "jax": {0: {"no_warmup": at_chance}, 1: {"no_warmup": at_chance}}}
    flips = regress.known_coin_flips(reference)
    assert flips == {"multi_factor": "failed in 1 of 3 reference records: mxnet seed 0 "
                                     "(at chance in every epoch)"}  # no_warmup: always failed
    # pytorch's run fails on this machine: a coin flip, neither failing nor passing silently
    rerun = {"multi_factor": history([2.32, 2.303, 2.303], 0.1), "baseline": trained}
    check = regress.compare_metrics(reference["pytorch"], rerun, "pytorch/lr_scheduler", flips)
    assert check.differences == []
    assert check.coin_flips == [
        "pytorch/lr_scheduler multi_factor: failed: at chance in every epoch here, trained "
        "in reference seed 0; a known coin flip (failed in 1 of 3 reference records: mxnet "
        "seed 0 (at chance in every epoch))"]
    assert [r.verdict for r in check.runs] == [regress.COIN_FLIP, regress.RANGE]
    report = regress.Report(comparisons={"pytorch/lr_scheduler": regress.WITHIN_SPREAD},
                            differences=check.differences, notes=check.notes,
                            runs=check.runs, coin_flips=check.coin_flips)
    assert report.passed and report.exit_status == regress.EXIT_COIN_FLIPS == 3
    text = report.markdown("full", "a test")
    assert "**COIN FLIPS**: no regression, but 1 coin flip" in text
    assert "## Coin flips" in text and "## Failed runs" in text
    assert ("| pytorch/lr_scheduler | multi_factor | 0.100 / 2.303 (failed: at chance in "
            "every epoch) | seed 0 0.890; 0.880–0.890 over 2 seeds | coin flip |") in text
    # mxnet's run trains on this machine: the flip the other way is a coin flip too
    check = regress.compare_metrics(reference["mxnet"], {"multi_factor": trained},
                                    "mxnet/lr_scheduler", flips)
    assert check.differences == [] and len(check.coin_flips) == 1
    assert check.coin_flips[0].startswith("mxnet/lr_scheduler multi_factor: trained here, "
                                          "failed: at chance in every epoch in reference")
    # without the other frameworks' evidence the same flip is a regression
    check = regress.compare_metrics(reference["pytorch"], rerun, "pytorch/lr_scheduler")
    assert check.coin_flips == [] and any(d.fails for d in check.differences)
    report = regress.Report(differences=check.differences, coin_flips=[])
    assert report.exit_status == regress.EXIT_FAILED
    assert report.summary().startswith("**FAILED**: ")
    # a coin flip whose outcome did not flip is compared like any other run
    check = regress.compare_metrics(reference["pytorch"], {"multi_factor": trained},
                                    "pytorch/lr_scheduler", flips)
    assert check.coin_flips == [] and check.runs[0].verdict == regress.RANGE


def test_the_verdict_line_and_exit_status():
    assert regress.Report().summary() == "**PASSED**: no regression, no coin flip"
    assert regress.Report().exit_status == regress.EXIT_PASSED == 0
    failed = regress.Report(failures=["x failed"], coin_flips=["a flip"])
    assert failed.exit_status == regress.EXIT_FAILED == 1
    assert failed.summary() == "**FAILED**: 1 failed execution, 0 regressions; 1 coin flip"
    information = regress.Difference("nb", 1, "other text", fails=False)
    assert regress.Report(differences=[information]).exit_status == 0


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
    assert "**FAILED**: 1 regression; 0 coin flips" in report
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
