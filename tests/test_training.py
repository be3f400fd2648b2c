"""Collapse as a recorded outcome of ``fit``: live line, History field, old files, summary."""

import json
import math

import pytest

from d2l_compat.files import finite_or_none
from d2l_compat.training import (CHANCE_LOSS, COLLAPSE_FRACTION, FAILED, LEARNED_FRACTION,
                                 History, failed_runs, fit, outcome, slow_start)
from scripted import scripted_epochs, scripted_run

LEARNED, CHANCE = 0.6, 2.31  # a loss well below chance level, and one back at it


def test_fit_records_the_first_collapse_and_keeps_training(capsys):
    losses = [1.2, LEARNED, 2.5, CHANCE, 0.9]  # collapses in epoch 2, recovers, stays flagged
    history = scripted_run(losses, lrs=[0.3, 0.3, 0.4, 0.3, 0.3], verbose=True)
    out = capsys.readouterr().out
    assert len(history.epochs) == 5 and not history.diverged  # training went on
    assert history.collapsed_at == 2 and history.collapsed
    assert out.count("collapsed:") == 1  # said once, when it happened
    assert ("collapsed: training loss back at chance level (2.50 >= 2.19) in epoch 2 (lr 0.4)"
            in out)
    assert "test acc 0.500 (collapsed in epoch 2)" in history.summary().splitlines()[0]
    assert "(collapsed in epoch 2)" in out  # the verbose summary at the end says it too


def test_collapse_epoch_is_the_recorded_epoch_number_after_a_resume():
    history = scripted_run([1.0, LEARNED, 1.0])  # epochs 0..2
    assert history.collapsed_at is None and not history.collapsed
    resumed = History.from_dict(history.to_dict())
    fit(scripted_epochs([0.1] * 5, [1.0, LEARNED, 1.0, 1.0, CHANCE]), lambda: 0.1, 5,
        resumed, start_epoch=3, animator=False, verbose=False)
    assert [e.epoch for e in resumed.epochs] == [0, 1, 2, 3, 4]
    assert resumed.collapsed_at == 4


@pytest.mark.parametrize("losses", [
    [2.30, 2.29, 2.31],            # never trained: not a collapse
    [2.18, 2.25, 2.13, 1.5, 0.9],  # the plateau of a class-mode run: had not learned yet
    [2.33, 2.15, 1.72, 2.24, 1.56],  # a spike before it had learned (class mode, measured)
    [1.0, 0.8, 2.18],              # just below the level 0.95 ln 10 = 2.187
    [1.0, 0.8, math.nan],          # divergence, recorded as such
])
def test_no_collapse(losses, capsys):
    history = scripted_run(losses)
    assert history.collapsed_at is None and not history.collapsed
    assert "collapsed" not in capsys.readouterr().out + history.summary()
    assert history.diverged == (not math.isfinite(losses[-1]))


def test_level_is_the_named_rule():
    level = COLLAPSE_FRACTION * CHANCE_LOSS
    assert scripted_run([1.0, level]).collapsed_at == 1
    assert scripted_run([1.0, math.nextafter(level, 0)]).collapsed_at is None


def test_learned_is_the_named_rule():
    learned = LEARNED_FRACTION * CHANCE_LOSS  # below it the run had learned
    assert scripted_run([learned - 1e-9, CHANCE]).collapsed_at == 1
    assert scripted_run([learned + 1e-9, CHANCE]).collapsed_at is None


def test_collapse_then_divergence_keeps_both():
    history = scripted_run([1.0, CHANCE, math.nan])
    assert history.collapsed_at == 1 and history.diverged


def test_from_dict_computes_collapse_for_files_without_the_field():
    history = scripted_run([1.2, LEARNED, CHANCE, 2.30])
    saved = json.loads(json.dumps(history.to_dict()))
    assert saved["collapsed_at"] == 2
    assert History.from_dict(saved) == history
    del saved["collapsed_at"]  # a results file written before the field existed
    assert History.from_dict(saved).collapsed_at == 2
    saved["epochs"][2]["train_loss"] = None  # JSON's NaN: diverged there, no collapse
    assert History.from_dict(saved).collapsed_at is None


# ------------------------------------------------- one vocabulary of a failed run
@pytest.mark.parametrize("losses, words", [
    ([1.2, 0.9], ""),                                  # trained
    ([2.31, 2.30], "at chance in every epoch"),        # never left chance level
    ([1.2, LEARNED, CHANCE], "collapsed in epoch 2"),  # trained, then back at chance
    ([1.2, math.nan], "diverged in epoch 1"),          # a non-finite loss stops the run
])
def test_failed_is_any_of_the_three_outcomes(losses, words):
    history = scripted_run(losses)
    assert outcome(history) == words
    assert history.failed == bool(words)


def test_failed_runs_counts_them_in_the_word_of_the_tables():
    runs = [scripted_run(losses) for losses in
            ([1.2, 0.9], [2.31, 2.30], [1.2, LEARNED, CHANCE], [1.2, math.nan], [0.8, 0.5])]
    assert failed_runs(runs) == 3 and failed_runs([]) == 0
    assert FAILED == "failed"


def test_no_code_comment_says_never_trained_from_epoch_means():
    """The epoch means cannot tell "never trained" from "broke within its first epoch"."""
    from pathlib import Path
    import d2l_compat
    for path in Path(d2l_compat.__file__).parent.glob("*.py"):
        text = path.read_text().lower()
        assert "stuck: never trained" not in text, path


# ------------------------------------------------------- per-update records
def recorded_epochs(updates_per_epoch):
    """A train_epoch that records ``updates_per_epoch[epoch]`` as its updates."""
    base = scripted_epochs([0.1] * len(updates_per_epoch), [1.0] * len(updates_per_epoch))

    def train_epoch(epoch):
        stats = base(epoch)
        stats.updates = updates_per_epoch[epoch]
        return stats
    return train_epoch


def test_fit_appends_the_recorded_updates_and_the_history_reads_them():
    history = History("jax", mode="smoke")
    fit(recorded_epochs([[(0, 0.5, 2.3), (1, 0.5, 2.1)], [(2, 0.25, 1.9)]]), lambda: 0.5, 2,
        history, animator=False, verbose=False)
    assert history.updates == [(0, 0.5, 2.3), (1, 0.5, 2.1), (2, 0.25, 1.9)]
    assert history.update_losses == [2.3, 2.1, 1.9]
    assert history.update_lrs == [0.5, 0.5, 0.25]


def test_updates_round_trip_through_json_only_when_recorded():
    plain = scripted_run([1.2, 0.9])
    assert plain.updates == [] and "updates" not in plain.to_dict()
    assert History.from_dict(json.loads(json.dumps(plain.to_dict()))) == plain
    history = History("jax", mode="smoke")
    fit(recorded_epochs([[(0, 0.5, 2.3), (1, 0.5, math.nan)]]), lambda: 0.5, 1, history,
        animator=False, verbose=False)
    saved = json.loads(json.dumps(finite_or_none(history.to_dict())))
    assert saved["updates"] == [[0, 0.5, 2.3], [1, 0.5, None]]
    again = History.from_dict(saved)
    assert again.updates[0] == (0, 0.5, 2.3) and math.isnan(again.update_losses[1])


@pytest.mark.parametrize("losses, expected", [
    ([2.31, 2.30, 1.9, 0.9, 0.5], (2, 3)),  # two epochs at chance, between, then learned
    ([1.1, 0.6], (0, 0)),                   # learned in epoch 0
    ([2.0, 1.5, 1.2], (0, 2)),              # below chance at once, learned only in epoch 2
    ([float("nan"), 2.25, 1.0], (2, 2)),    # a non-finite loss counts as at chance
    ([2.31, 2.30], None),                   # never learned
    ([], None),
])
def test_slow_start_counts_the_epochs_at_chance_before_the_run_learned(losses, expected):
    assert slow_start(losses) == expected


def test_slow_start_thresholds_are_the_collapse_thresholds():
    level, learned = COLLAPSE_FRACTION * CHANCE_LOSS, LEARNED_FRACTION * CHANCE_LOSS
    assert slow_start([level, learned - 1e-9]) == (1, 1)
    assert slow_start([level - 1e-9, learned - 1e-9]) == (0, 1)
    assert slow_start([level, learned]) is None  # learned means strictly below the level
