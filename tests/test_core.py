"""The framework-free core: run mode, utilities, the epoch loop, results, plotting."""

import json
import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from d2l_compat import files, plotting, records, report  # noqa: E402
from d2l_compat.context import ENV  # noqa: E402
from d2l_booktools import gridrecords  # noqa: E402
from d2l_compat.d2l_api import Accumulator, Timer  # noqa: E402
from d2l_compat.context import run_mode, set_mode  # noqa: E402
from d2l_compat.training import History, fit  # noqa: E402
from scripted import scripted_epochs as _scripted_epochs  # noqa: E402


def test_run_mode(monkeypatch):
    monkeypatch.setenv("D2L_MODE", "smoke")
    assert run_mode() == "smoke"
    monkeypatch.delenv("D2L_MODE")
    assert run_mode() == "full"
    monkeypatch.setenv("D2L_MODE", "fast")
    with pytest.raises(ValueError, match="D2L_MODE must be one of"):
        run_mode()


def test_class_mode_and_set_mode(monkeypatch):
    monkeypatch.setenv("D2L_MODE", "full")
    assert set_mode(" Class ") == "class" and run_mode() == "class"
    with pytest.raises(ValueError, match=r"mode must be one of \('full', 'class', 'smoke'\), "
                                         r"got 'quick'"):
        set_mode("quick")
    assert run_mode() == "class"  # a bad value changes nothing
    with pytest.raises(TypeError, match="mode must be a str"):
        set_mode(None)


def test_accumulator_and_timer():
    acc = Accumulator(2)
    acc.add(1, 2.5)
    acc.add(3, 0.5)
    assert acc[0] == 4 and acc[1] == 3.0
    with pytest.raises(ValueError, match="holds 2 sums, got 1"):
        acc.add(1)
    acc.reset()
    assert acc.data == [0.0, 0.0]
    timer = Timer()
    timer.stop()
    timer.start()
    timer.stop()
    assert len(timer.times) == 2 and timer.sum() >= timer.avg() >= 0
    assert timer.cumsum()[-1] == pytest.approx(timer.sum())


def test_fit_records_what_the_framework_reports(capsys):
    history = History(framework="pytorch", mode="smoke")
    fit(_scripted_epochs([0.3, 0.2, 0.1], [2.0, 1.0, 0.5]), lambda: 0.75, 3, history,
        animator=False)
    assert history.lr == [0.3, 0.2, 0.1]
    assert history.train_loss == [2.0, 1.0, 0.5]
    assert history.train_acc == [0.5, 0.51, 0.52]
    assert history.test_acc == [0.75] * 3
    assert [e.epoch for e in history.epochs] == [0, 1, 2]
    assert history.step_lrs == [(0, 0.3), (10, 0.2), (20, 0.1)]
    assert history.examples_per_sec > 0
    assert "loss 0.500, train acc 0.520, test acc 0.750" in capsys.readouterr().out


def test_fit_shows_progress_per_epoch(capsys):
    animator = plotting.Animator(live=False)
    fit(_scripted_epochs([0.3, 0.2], [2.0, 1.0]), lambda: 0.75, 2, History(framework="jax"),
        animator=animator)
    assert animator.title == "epoch 1 of 2: train loss 1.000, test acc 0.750"  # the live plot's
    err = capsys.readouterr().err  # outside Jupyter: a tqdm bar over the epochs
    assert "2/2" in err and "train loss 1.000, test acc 0.750" in err
    fit(_scripted_epochs([0.3], [2.0]), lambda: 0.75, 1, History(framework="jax"),
        animator=False, verbose=False)
    assert capsys.readouterr().err == ""  # quiet when asked


def test_fit_resumes_and_stops_on_divergence(capsys):
    history = History(framework="jax", mode="smoke")
    fit(_scripted_epochs([1, 2, 3, 4], [1.0, 2.0, math.nan, 1.0]), lambda: 0.1, 4, history,
        start_epoch=1, animator=False, verbose=False)
    assert [e.epoch for e in history.epochs] == [1, 2]  # started at 1, stopped at the NaN
    assert history.diverged
    assert "diverged in epoch 2" in capsys.readouterr().out


def test_fit_rejects_bad_epochs():
    with pytest.raises(ValueError, match="num_epochs must be a positive int"):
        fit(None, None, 0, History(framework="mxnet"))


def test_history_round_trip():
    history = History(framework="tensorflow", mode="smoke", schedule={"class": "Constant"})
    fit(_scripted_epochs([0.1, 0.1], [1.0, 0.9]), lambda: 0.5, 2, history, animator=False,
        verbose=False)
    again = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert again == history


def test_record_run_writes_atomically_and_merges(results_tmp):
    history = History(framework="pytorch", mode="smoke", data_source="somewhere",
                      versions={"torch": "x"})
    fit(_scripted_epochs([0.3, 0.2], [1.0, math.nan]), lambda: 0.5, 2, history,
        animator=False, verbose=False)
    path = records.record_run("lr_scheduler", "baseline", history)
    records.record_run("lr_scheduler", "cosine", history, note="second")
    assert path == results_tmp / "pytorch" / "lr_scheduler.json"
    saved = json.loads(path.read_text())  # strict JSON: NaN stored as null
    assert saved["mode"] == "smoke" and saved["data_source"] == "somewhere"
    assert set(saved["runs"]) == {"baseline", "cosine"}
    assert saved["runs"]["cosine"]["note"] == "second"
    assert saved["runs"]["baseline"]["epochs"][1]["train_loss"] is None
    assert list(results_tmp.rglob("*.tmp")) == []
    loaded = records.load_history("pytorch", "lr_scheduler", "baseline")
    assert loaded.lr == [0.3, 0.2] and math.isnan(loaded.train_loss[1])
    with pytest.raises(KeyError, match="no run 'nope'"):
        records.load_history("pytorch", "lr_scheduler", "nope")


def test_results_path_names_bad_framework():
    with pytest.raises(ValueError, match="framework must be 'pytorch' or"):
        records.results_path("caffe", "lenet")


def test_smoke_and_class_results_never_land_in_committed_results(monkeypatch):
    monkeypatch.delenv("D2L_RESULTS_DIR", raising=False)
    assert records.results_dir("smoke") == records.results_dir("full") / "smoke"
    assert records.results_dir("class") == records.results_dir("full") / "class"
    ignored = (Path(__file__).parents[1] / ".gitignore").read_text().splitlines()
    assert {"/results/smoke/", "/results/class/"} <= set(ignored)


def test_conclusions_travel_in_the_output_and_the_grid_tables_them_per_mode(monkeypatch,
                                                                          tmp_path):
    monkeypatch.setenv("D2L_RESULTS_DIR", str(tmp_path / "staging"))
    claims = {"cosine beats the constant rate": True, "no run collapses": False}
    shown = report.md(report.conclusions(claims, "class"))  # a chapter's conclusions cell
    assert not (tmp_path / "staging").exists()  # showing writes nothing
    data, metadata = shown._repr_markdown_()
    assert data.startswith("**The chapter's conclusions in this run (class mode): 1 of 2")
    output = {"output_type": "execute_result", "data": {"text/markdown": data},
              "metadata": {"text/markdown": metadata}}
    notebook = {"cells": [{"cell_type": "code", "outputs": [output]},
                          {"cell_type": "markdown", "source": ""}]}
    assert gridrecords.notebook_conclusions(notebook) == {"mode": "class", "claims": claims}
    assert gridrecords.notebook_conclusions({"cells": []}) is None
    staged = {"chapter": "lr_scheduler", "framework": "jax", "seed": 2,
              **gridrecords.notebook_conclusions(notebook)}
    merged = tmp_path / "results" / gridrecords.CONCLUSIONS_FILE
    gridrecords.merge_conclusions(merged, staged)
    gridrecords.merge_conclusions(merged, {**staged, "seed": 1, "claims": {
        "cosine beats the constant rate": True, "no run collapses": True}})
    gridrecords.merge_conclusions(merged, {**staged, "framework": "pytorch", "seed": 0,
                                       "mode": "full", "claims": {"no run collapses": True}})
    assert sorted(json.loads(merged.read_text())) == [
        "lr_scheduler/jax/class/seed1", "lr_scheduler/jax/class/seed2",
        "lr_scheduler/pytorch/full/seed0"]
    table = gridrecords.conclusions_table(merged).splitlines()
    assert table[2] == "| lr_scheduler | full | 1 of 1 | – | – | – |"
    assert table[3] == "| lr_scheduler | class | – | – | – | 1 of 2 |"
    assert table[-1] == "* lr_scheduler, class mode, jax, seed 2: no run collapses"
    assert gridrecords.conclusions_table(tmp_path / "none.json") is None


def test_a_grid_execution_stages_its_own_results_and_reads_the_others(monkeypatch,
                                                                      tmp_path):
    recorded, staging = tmp_path / "grid", tmp_path / "staging"
    history = History(framework="jax", mode="class")
    fit(_scripted_epochs([0.3, 0.2], [2.0, 1.0]), lambda: 0.75, 2, history, animator=False,
        verbose=False)
    monkeypatch.setenv("D2L_MODE", "class")
    monkeypatch.setenv("D2L_RESULTS_DIR", str(recorded))
    records.record_run("lr_finder", "suggested", history)  # seed 0, recorded before
    monkeypatch.setenv("D2L_RESULTS_DIR", str(staging))
    monkeypatch.setenv(ENV["recorded"], str(recorded))
    monkeypatch.setenv(ENV["chapter"], "lr_finder")
    monkeypatch.setenv("D2L_SEED", "1")
    assert records.results_dir() == records.results_dir("class") == staging
    # another mode: the project's folder, not the staging one
    assert records.results_dir("full") == files.project_root() / "results"
    # seed 0 is not staged by this (seed-1) execution: read from the grid's folder
    seed0 = records.load_results("jax", "lr_finder")
    assert seed0 is not None and records.history_from_record(
        seed0["runs"]["suggested"]).train_loss == [2.0, 1.0]
    assert records.load_results("jax", "lr_finder", directory=staging) is None
    monkeypatch.delenv(ENV["chapter"])  # not under the grid: D2L_RESULTS_DIR for all
    assert records.results_dir("full") == staging


def test_compare_with_d2l_table():
    history = History(framework="mxnet")
    fit(_scripted_epochs([0.3], [0.25]), lambda: 0.88, 1, history, animator=False,
        verbose=False)
    table = report.compare_with_d2l({"baseline": history, "extra": history}, "mxnet")
    lines = table.splitlines()
    assert lines[2] == "| baseline lr 0.3 | 0.250 / 0.500 / 0.880 | 0.160 / 0.939 / 0.884 |"
    assert lines[3].endswith("| not published |")


class TestPlotting:
    def test_plot_many_series_and_no_rcparams_change(self):
        before = dict(matplotlib.rcParams)
        plotting.set_figsize((4, 3))
        axes = plotting.plot(np.arange(5), [np.arange(5), np.arange(5) ** 2],
                             xlabel="x", legend=["a", "b"], yscale="log")
        assert len(axes.lines) == 2 and axes.get_yscale() == "log"
        assert tuple(axes.figure.get_size_inches()) == (4, 3)
        assert dict(matplotlib.rcParams) == before
        plotting.set_figsize()
        with pytest.raises(ValueError, match="figsize must be positive"):
            plotting.set_figsize((0, 1))

    def test_animator_outside_jupyter_records_only(self):
        animator = plotting.Animator(legend=["loss", "acc"])
        animator.add(1, (0.5, 0.8))
        animator.add(2, (0.4, None))
        assert animator.fig is None  # nothing drawn outside Jupyter
        assert animator.X == [[1.0, 2.0], [1.0]] and animator.Y == [[0.5, 0.4], [0.8]]

    def test_animator_live_draws_into_its_own_figure(self):
        animator = plotting.Animator(legend=["loss"], live=True)
        animator.axes_config["legend"] = ["loss"]
        animator._handle = type("Handle", (), {"update": lambda self, fig: None})()
        animator.add(1, 0.5)
        animator.add(2, 0.25)
        assert [list(line.get_ydata()) for line in animator.axes.lines] == [[0.5, 0.25]]
        animator.close()
        assert animator.fig is None

    def test_show_images_titles(self):
        axes = plotting.show_images(np.zeros((4, 28, 28)), 2, 2, titles=list("abcd"))
        assert [ax.get_title() for ax in axes] == list("abcd")

    def test_animator_takes_d2ls_subplot_grid_and_checks_it(self):
        animator = plotting.Animator(legend=["loss"], nrows=2, ncols=2, live=True)
        assert animator.fig.axes[0] is animator.axes and len(animator.fig.axes) == 4
        animator.close()
        with pytest.raises(TypeError, match="nrows must be a positive int"):
            plotting.Animator(nrows=1.0)
        with pytest.raises(ValueError, match="ncols must be a positive int"):
            plotting.Animator(ncols=0)


def test_as_float_takes_one_element_arrays_only():
    from d2l_compat.arrays import as_float, as_numpy
    assert as_float(np.array([[2.5]])) == 2.5 and as_float(np.float32(1.5)) == 1.5
    assert as_numpy([np.float32(1), 2]).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"expected one number, got an array of shape \(2,\)"):
        as_float(np.array([1.0, 2.0]))


def test_mxnet_hook_pth_loads_the_hook_by_path(tmp_path):
    from d2l_compat import mxnet_hook as hook
    from d2l_booktools import mxnet_hook
    assert mxnet_hook.main(["install", str(tmp_path)]) == 0
    line = (tmp_path / mxnet_hook.PTH_NAME).read_text()
    assert line.startswith("import ") and line.count("\n") == 1  # site runs it as code
    assert repr(str(Path(hook.__file__).resolve())) in line  # the runtime hook, no tooling
    assert mxnet_hook.main(["uninstall", str(tmp_path)]) == 0
    assert not (tmp_path / mxnet_hook.PTH_NAME).exists()
    assert mxnet_hook.main(["bogus"]) == 2


def test_the_live_plot_redraws_at_most_every_min_interval_and_draws_the_rest_on_close():
    def drawn(min_interval, points):
        animator = plotting.Animator(legend=["loss"], live=True, min_interval=min_interval)
        calls = []
        animator._draw = lambda: calls.append(len(animator.X[0]))  # what each draw shows
        for x in range(points):
            animator.add(x, x / 10)
        animator.close()
        return calls
    assert drawn(0.0, 3) == [1, 2, 3]  # D2L's: every point
    assert drawn(3600.0, 3) == [1, 3]  # the first at once, the last on close
    assert drawn(3600.0, 1) == [1]  # nothing left to draw on close
    with pytest.raises(ValueError, match="min_interval"):
        plotting.Animator(min_interval=-1.0)
