"""d2l_compat.report: lr tables, run plots, result tables and verdicts computed from runs.

The histories come from the real ``fit``, driven by callables that replay scripted
numbers (tests/scripted.py); the expected text is written out in full, since the
chapters check these outputs with nbval.
"""

import math
import sys

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from d2l_compat import common, report  # noqa: E402
from d2l_compat.schedules import CosineScheduler, MultiFactorScheduler  # noqa: E402
from d2l_compat.training import History  # noqa: E402
from scripted import scripted_run  # noqa: E402

CHANCE = 2.31  # a training loss back at chance level


@pytest.fixture
def runs():
    """Four runs of 3 epochs: two that train, one that collapses, one that diverges."""
    return {"baseline": scripted_run([1.0, 0.5, 0.3], [0.7, 0.8, 0.801]),
            "cosine": scripted_run([1.0, 0.6, 0.2], [0.7, 0.79, 0.8]),
            "no_warmup": scripted_run([1.0, CHANCE, 2.30], [0.7, 0.1, 0.1]),
            "too_large": scripted_run([1.0, math.nan], [0.5, 0.1])}


@pytest.fixture
def per_seed(runs):
    """Seed 0: the runs above; seed 1: every run trains (loss 0.35, test acc 0.85)."""
    return {0: runs, 1: {name: scripted_run([1.0, 0.4, 0.35], [0.6, 0.8, 0.85])
                         for name in runs}}


def test_every_room_offers_the_report_functions():
    for name in report.__all__:
        assert name in common.__all__ and getattr(common, name) is getattr(report, name)


class TestLrTable:
    schedule = CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01)

    def run_with(self, lrs):
        return scripted_run([1.0] * len(lrs), lrs=lrs)

    def test_float32_lrs_pass_and_the_table_is_exact(self):
        # What TensorFlow, JAX and MXNet read back: the schedule's values in float32.
        lrs = [float(np.float32(self.schedule(t))) for t in range(12)]
        assert lrs != [self.schedule(t) for t in range(12)]
        assert report.lr_table(self.run_with(lrs), self.schedule) == "\n".join([
            "epoch t            0       1       2       3       4       5       6       7"
            "       8       9",
            "optimizer     0.3000  0.2982  0.2929  0.2842  0.2723  0.2575  0.2402  0.2208"
            "  0.1998  0.1777",
            "schedule      0.3000  0.2982  0.2929  0.2842  0.2723  0.2575  0.2402  0.2208"
            "  0.1998  0.1777",
            "epoch t           10      11",
            "optimizer     0.1550  0.1323",
            "schedule      0.1550  0.1323",
            "the optimizer's lr equals schedule(t) in all 12 epochs (rtol 1e-06)"])

    def test_rows_and_digits(self):
        table = report.lr_table(self.run_with([0.3, 0.2, 0.1]), lambda t: 0.3 - 0.1 * t,
                                per_row=2, digits=2)
        assert table.splitlines()[:4] == ["epoch t          0     1",
                                          "optimizer     0.30  0.20",
                                          "schedule      0.30  0.20",
                                          "epoch t          2"]

    def test_names_the_first_epoch_that_differs(self):
        # D2L's off-by-one: the new lr is set after the epoch, so epoch t trains with t-1's.
        late = MultiFactorScheduler(step=[2, 4], factor=0.5, base_lr=0.4)
        lrs = [late(max(t - 1, 0)) for t in range(6)]
        with pytest.raises(AssertionError, match=r"^epoch 2: the optimizer trained with lr "
                                                 r"0\.4, but schedule\(t\) = 0\.2 "):
            report.lr_table(self.run_with(lrs), late)
        close = [0.4 * (1 + 2e-6)] + lrs[1:]  # beyond float32 rounding
        with pytest.raises(AssertionError, match=r"^epoch 0: .*2\.0e-06 > rtol 1e-06"):
            report.lr_table(self.run_with(close), late)

    def test_schedule_counted_in_updates(self):
        per_update = CosineScheduler(max_update=100, base_lr=0.3, final_lr=0.0)
        history = self.run_with([per_update(10 * t) for t in range(4)])
        assert report.lr_table(history, per_update, steps_per_epoch=10).endswith(
            "equals schedule(10 t) in all 4 epochs (rtol 1e-06)")
        with pytest.raises(AssertionError, match="epoch 1"):
            report.lr_table(history, per_update)

    def test_bad_arguments(self):
        history = self.run_with([0.3])
        with pytest.raises(TypeError, match="history must be a History"):
            report.lr_table({"lr": [0.3]}, self.schedule)
        with pytest.raises(TypeError, match="schedule must be callable"):
            report.lr_table(history, 0.3)
        with pytest.raises(ValueError, match="per_row must be a positive int, got 0"):
            report.lr_table(history, self.schedule, per_row=0)
        with pytest.raises(ValueError, match="history has no epochs"):
            report.lr_table(History(framework="jax"), self.schedule)


class TestPlotRuns:
    def test_panels_lines_collapse_mark_and_legend(self, runs):
        before = dict(matplotlib.rcParams)
        fig = report.plot_runs(runs, title="four runs", log_scale=("train_loss",))
        try:
            loss_ax, acc_ax = fig.axes
            assert [ax.get_ylabel() for ax in fig.axes] == ["training loss", "test accuracy"]
            assert loss_ax.get_yscale() == "log" and acc_ax.get_yscale() == "linear"
            # One line per run, and the collapse mark: x = the 0-based epoch.
            lines = [line for line in acc_ax.get_lines() if line.get_marker() != "x"]
            assert [line.get_label() for line in lines] == list(runs)
            assert list(lines[0].get_xdata()) == [0, 1, 2]
            assert list(lines[3].get_ydata()) == [0.5, 0.1]  # diverged: stops at epoch 1
            (mark,) = [line for line in acc_ax.get_lines() if line.get_marker() == "x"]
            assert list(mark.get_xdata()) == [1] and list(mark.get_ydata()) == [0.1]
            assert mark.get_color() == lines[2].get_color()  # no_warmup's color
            # The legend is the figure's, below the panels, with the collapse marker.
            assert loss_ax.get_legend() is None and acc_ax.get_legend() is None
            (legend,) = fig.legends
            assert [t.get_text() for t in legend.get_texts()] == [*runs, "collapsed"]
            fig.canvas.draw()
            legend_top = legend.get_window_extent().y1
            assert all(legend_top <= ax.get_window_extent().y0 for ax in fig.axes)
            assert fig.get_suptitle() == "four runs"
            assert dict(matplotlib.rcParams) == before
        finally:
            matplotlib.pyplot.close(fig)

    def test_options(self, runs):
        fig = report.plot_runs({"cosine": runs["cosine"], "no_warmup": runs["no_warmup"]},
                               metrics="lr", collapse_marks=False,
                               labels={"cosine": "cosine (lr 0.1)"})
        try:
            (ax,) = fig.axes
            assert all(line.get_marker() != "x" for line in ax.get_lines())
            assert [t.get_text() for t in fig.legends[0].get_texts()] == [
                "cosine (lr 0.1)", "no_warmup"]
        finally:
            matplotlib.pyplot.close(fig)

    def test_bad_arguments(self, runs):
        figures = matplotlib.pyplot.get_fignums()
        with pytest.raises(ValueError, match=r"metrics must be one of .*got 'loss'"):
            report.plot_runs(runs, metrics=("loss",))
        with pytest.raises(KeyError, match="no run 'cosin'; known runs: baseline, cosine"):
            report.plot_runs(runs, labels={"cosin": "x"})
        with pytest.raises(TypeError, match=r"histories\['a'\] must be a History"):
            report.plot_runs({"a": [0.1]})
        assert matplotlib.pyplot.get_fignums() == figures  # checked before drawing


def test_runs_table(runs):
    assert report.runs_table(runs, title="After 3 epochs") == "\n".join([
        "**After 3 epochs**",
        "",
        "| run | train loss | train acc | test acc | note |",
        "|---|---|---|---|---|",
        "| baseline | 0.300 | 0.520 | 0.801 |  |",
        "| cosine | 0.200 | 0.520 | 0.800 |  |",
        "| no_warmup | 2.300 | 0.520 | 0.100 | collapsed in epoch 1 |",
        "| too_large | diverged | 0.510 | 0.100 | diverged in epoch 1 |"])
    # No note column when every run trained.
    assert report.runs_table({"cosine": runs["cosine"]}, columns="test_acc") == (
        "| run | test acc |\n|---|---|\n| cosine | 0.800 |")
    with pytest.raises(ValueError, match="columns must be one of"):
        report.runs_table(runs, columns=("accuracy",))
    with pytest.raises(ValueError, match="histories is empty"):
        report.runs_table({})


def test_compare(runs):
    assert report.compare(runs["cosine"], runs["baseline"]) == "0.800 vs 0.801 (-0.001)"
    assert report.compare(runs["baseline"], runs["cosine"], "train_loss") == (
        "0.300 vs 0.200 (+0.100)")
    assert report.compare(runs["too_large"], runs["cosine"], "train_loss") == (
        "diverged vs 0.200")
    # Differences are those of the numbers shown: no "-0.000".
    a, b = scripted_run([0.5], [0.8004]), scripted_run([0.5], [0.8001])
    assert report.compare(b, a) == "0.800 vs 0.800 (+0.000)"
    with pytest.raises(TypeError, match="b must be a History"):
        report.compare(a, 0.8)


class TestVerdict:
    def test_words_follow_the_numbers(self, runs):
        # The smoke run of issue 11: cosine ends 0.001 below the baseline.
        assert not report.verdict(runs, "cosine", "baseline")
        assert report.verdict_line(runs, "cosine", "baseline",
                                   labels={"baseline": "the baseline"}) == (
            "cosine does not beat the baseline (0.800 vs 0.801 test accuracy)")
        assert report.verdict(runs, "baseline", "cosine")
        assert report.verdict_line(runs, "baseline", "cosine") == (
            "baseline beats cosine by 0.001 test accuracy (0.801 vs 0.800)")

    def test_loss_lower_is_better_and_diverged_is_worst(self, runs):
        assert report.verdict(runs, "cosine", "baseline", "train_loss")
        assert report.verdict_line(runs, "cosine", "baseline", "train_loss") == (
            "cosine beats baseline by 0.100 training loss (0.200 vs 0.300)")
        assert report.verdict_line(runs, "baseline", "too_large", "train_loss") == (
            "baseline beats too_large, which diverged (0.300 training loss)")
        assert not report.verdict(runs, "too_large", "baseline", "train_loss")
        assert report.verdict_line(runs, "too_large", "baseline", "train_loss") == (
            "too_large does not beat baseline (diverged vs 0.300 training loss)")

    def test_margin_and_ties_at_the_decimals_shown(self, runs):
        assert report.verdict(runs, "cosine", "baseline", "train_loss", margin=0.099)
        assert not report.verdict(runs, "cosine", "baseline", "train_loss", margin=0.1)
        assert report.verdict_line(runs, "cosine", "baseline", "train_loss", margin=0.1) == (
            "cosine does not beat baseline by more than 0.100 (0.200 vs 0.300 training loss)")
        tie = {"a": scripted_run([0.5], [0.8004]), "b": scripted_run([0.5], [0.8001])}
        assert not report.verdict(tie, "a", "b")  # both read 0.800
        with pytest.raises(ValueError, match=r"margin must be a number in \[0.0, inf\), got -0.1"):
            report.verdict(runs, "cosine", "baseline", margin=-0.1)

    def test_unknown_run_lists_the_known_ones(self, runs):
        with pytest.raises(KeyError, match="no run 'cosin'; known runs: baseline, cosine, "
                                           "no_warmup, too_large"):
            report.verdict_line(runs, "cosin", "baseline")
        with pytest.raises(ValueError, match="metric must be one of"):
            report.verdict(runs, "cosine", "baseline", metric="accuracy")


def test_collapse_summary(runs):
    assert report.collapse_summary(runs) == (
        "1 of 4 runs collapsed: no_warmup (epoch 1); 1 diverged: too_large (epoch 1)")
    assert report.collapse_summary({"cosine": runs["cosine"]}) == (
        "none of 1 run collapsed; none diverged")


def test_conclusions_say_which_hold_in_which_mode():
    text = report.conclusions({"cosine beats the constant rate": False,
                               "the baseline trains": True}, "class")
    assert text.splitlines() == [
        "**The chapter's conclusions in this run (class mode): 1 of 2 hold.**", "",
        "* does not hold: cosine beats the constant rate", "* holds: the baseline trains"]
    with pytest.raises(ValueError, match="claims must be a non-empty mapping"):
        report.conclusions({}, "class")
    with pytest.raises(TypeError, match=r"claims\['x'\] must be a bool, got float"):
        report.conclusions({"x": 0.9}, "full")
    with pytest.raises(ValueError, match="mode must be one of"):
        report.conclusions({"x": True}, "")


def test_seed_table_and_count_beats(per_seed):
    assert report.seed_table(per_seed) == "\n".join([
        "| run | mean test acc | min – max | failed |",
        "|---|---|---|---|",
        "| baseline | 0.826 | 0.801 – 0.850 | 0 of 2 failed |",
        "| cosine | 0.825 | 0.800 – 0.850 | 0 of 2 failed |",
        "| no_warmup | 0.475 | 0.100 – 0.850 | 1 of 2 failed (seed 0: collapsed in epoch 1) |",
        "| too_large | 0.475 | 0.100 – 0.850 | 1 of 2 failed (seed 0: diverged in epoch 1) |"])
    # A diverged seed is left out of the mean and range, and counted.
    assert report.seed_table(per_seed, "train_loss").splitlines()[-1] == (
        "| too_large | 0.350 | 0.350 – 0.350 | 1 of 2 failed (seed 0: diverged in epoch 1) |")
    assert report.count_beats(per_seed, "baseline", "cosine") == (1, 2)  # seed 1: a tie
    assert report.count_beats(per_seed, "cosine", "baseline", "train_loss") == (1, 2)
    assert report.count_beats(per_seed, "baseline", "no_warmup") == (1, 2)


def test_runs_at_chance_in_every_epoch_are_reported(per_seed):
    # Loss at chance in every epoch: never trained, or collapsed inside epoch 0. Not a
    # collapse by the epoch rule, but no table may pass it over in silence.
    stuck = scripted_run([2.32, 2.30, 2.30], [0.1, 0.1, 0.1])
    assert not stuck.collapsed and not stuck.diverged
    runs = {"cosine": per_seed[0]["cosine"], "no_warmup": stuck}
    assert report.runs_table(runs, columns="test_acc").splitlines()[2:] == [
        "| cosine | 0.800 |  |", "| no_warmup | 0.100 | at chance in every epoch |"]
    assert report.collapse_summary(runs) == (
        "none of 2 runs collapsed; 1 at chance in every epoch: no_warmup; none diverged")
    per_seed[1]["no_warmup"] = stuck
    assert report.seed_table(per_seed).splitlines()[4] == (
        "| no_warmup | 0.100 | 0.100 – 0.100 | 2 of 2 failed (seed 0: collapsed in epoch 1; "
        "seed 1: at chance in every epoch) |")
    # never "collapsed" for a run at chance in every epoch
    assert "collapsed" not in report.failed_count({1: stuck})
    assert report.failed_count({1: stuck}) == "1 of 1 failed (seed 1: at chance in every epoch)"


def test_failed_count_names_each_failure_in_the_outcome_words(runs):
    assert report.failed_count({0: runs["baseline"], 3: runs["no_warmup"],
                                5: runs["too_large"]}) == (
        "2 of 3 failed (seed 3: collapsed in epoch 1; seed 5: diverged in epoch 1)")
    assert report.failed_count([runs["no_warmup"], runs["no_warmup"], runs["cosine"]]) == (
        "2 of 3 failed (2 collapsed in epoch 1)")
    assert report.failed_count([runs["cosine"]]) == "0 of 1 failed"
    with pytest.raises(ValueError, match="runs is empty"):
        report.failed_count({})
    with pytest.raises(TypeError, match=r"runs\[2\] must hold Histories, got float"):
        report.failed_count({2: 0.9})
    with pytest.raises(TypeError, match="runs must be a dict of seed -> History"):
        report.failed_count(runs["cosine"])


def test_d2l_numbers_placed_in_our_range_over_seeds(per_seed):
    # baseline's test acc over the two seeds: 0.801 and 0.850
    seeds = [per_seed[0]["baseline"], per_seed[1]["baseline"]]
    assert report.d2l_range(seeds, 0.877) == "above 0.801–0.850"
    assert report.d2l_range(seeds, 0.8504) == "within 0.801–0.850"  # as shown: 0.850
    assert report.d2l_range(seeds, 0.8) == "below 0.801–0.850"
    assert report.d2l_range(seeds[:1], 0.801) == "within 0.801"
    assert report.d2l_range([per_seed[0]["too_large"]], 0.9) == "every one of 1 seed diverged"
    with pytest.raises(ValueError, match="histories must hold at least one History"):
        report.d2l_range([], 0.9)
    with pytest.raises(TypeError, match="reference"):
        report.d2l_range(seeds, "0.9")
    table = report.compare_with_d2l({"baseline": per_seed[0]["baseline"],
                                     "multi_factor": per_seed[1]["baseline"]}, "pytorch",
                                    per_seed={0: {"baseline": seeds[0], "multi_factor": seeds[0]},
                                              1: {"baseline": seeds[1]}})
    lines = table.splitlines()
    assert lines[0].endswith("| D2L's test acc vs ours over seeds |")
    assert lines[2] == ("| baseline lr 0.3 | 0.300 / 0.520 / 0.801 | 0.145 / 0.944 / 0.877 "
                        "| above 0.801–0.850 (2 seeds) |")
    # D2L's multi-step number is not that of its schedule: footnoted, with the reason
    assert lines[3] == ("| multi-factor [15,30] x0.5 from 0.5 | 0.350 / 0.520 / 0.850 | "
                        "0.194 / 0.927 / 0.869 [1] | above 0.801 (1 seed) |")
    assert lines[5].startswith("[1] D2L's PyTorch code plots the multi-step schedule")
    assert "0.5 x 0.5^2 = 0.125 in every epoch" in lines[5]
    # without seeds: the published table as before, and MXNet's note for its own numbers
    plain = report.compare_with_d2l({"multi_factor": seeds[0]}, "mxnet").splitlines()
    assert len(plain[0].split("|")) == 5 and plain[2].endswith("0.194 / 0.927 / 0.887 [1] |")
    assert "second fires at update 30 (counted from 0; Gluon's `num_update` is then 31)" in plain[4]


def test_seed_table_rejects_mismatched_seeds(per_seed):
    del per_seed[1]["cosine"]
    with pytest.raises(ValueError, match=r"per_seed\[1\] has runs .* but per_seed\[0\] has"):
        report.seed_table(per_seed)
    with pytest.raises(TypeError, match="per_seed must be a dict"):
        report.count_beats([per_seed[0]], "cosine", "baseline")
    with pytest.raises(KeyError, match="no run 'warmup'; known runs: baseline"):
        report.count_beats({0: per_seed[0]}, "warmup", "baseline")


def test_md(monkeypatch):
    from IPython.display import Markdown

    shown = report.md("cosine ends at **0.905**")
    assert isinstance(shown, Markdown) and shown.data == "cosine ends at **0.905**"
    monkeypatch.setitem(sys.modules, "IPython.display", None)  # as if IPython were missing
    assert report.md("plain") == "plain"
    with pytest.raises(TypeError, match="text must be a str, got float"):
        report.md(0.905)
