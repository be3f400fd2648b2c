"""The committed full-mode results: complete, finite, and trained with their schedules."""

import math

import numpy as np
import pytest

from d2l_compat import FRAMEWORKS
from d2l_compat.lr_finder import LRFinderResult, suggest_steepest, warmup_cosine_from
from d2l_compat.records import load_results
from d2l_compat.schedules import (Constant, CosineScheduler, FactorScheduler,
                                  MultiFactorScheduler, SquareRootScheduler, WarmupCosineDecay,
                                  schedule_from_config)
from d2l_compat.training import CHANCE_LOSS, COLLAPSE_FRACTION, collapse_epoch

EPOCHS = 30
LR_SCHEDULER_RUNS = {
    "baseline": Constant(0.3),
    "square_root": SquareRootScheduler(lr=0.1),
    "multi_factor": MultiFactorScheduler(step=[15, 30], factor=0.5, base_lr=0.5),
    "cosine": CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01),
    "cosine_warmup": CosineScheduler(20, warmup_steps=5, base_lr=0.3, final_lr=0.01),
    "factor": FactorScheduler(factor=0.85, stop_factor_lr=1e-2, base_lr=0.3),
}


def committed(framework, chapter):
    data = load_results(framework, chapter, mode="full")
    assert data is not None, f"results/{framework}/{chapter}.json is missing"
    assert data["mode"] == "full" and data["framework"] == framework
    assert data["data_source"] and data["versions"]
    return data


def collapsed_to_chance(run) -> bool:
    """Dead-ReLU collapse: loss ln 10 and one class predicted (the chapter explains it)."""
    last = run["epochs"][-1]
    return abs(last["train_loss"] - math.log(10)) < 0.01 and abs(last["test_acc"] - 0.1) < 0.01


def check_run(run, expected_lrs, may_collapse=False, min_test_acc=0.8):
    epochs = run["epochs"]
    assert [e["epoch"] for e in epochs] == list(range(len(expected_lrs)))
    for e in epochs:
        for key in ("train_loss", "train_acc", "test_acc", "lr", "examples_per_sec"):
            assert e[key] is not None and math.isfinite(e[key]), (key, e)
        assert 0 <= e["train_acc"] <= 1 and 0 <= e["test_acc"] <= 1
    np.testing.assert_allclose([e["lr"] for e in epochs], expected_lrs, rtol=1e-6)
    # trained, not merely run; lr 0.5 may collapse (it did in TF and MXNet, see the chapter)
    assert epochs[-1]["test_acc"] > min_test_acc or (may_collapse and collapsed_to_chance(run))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_lr_scheduler_runs(framework):
    data = committed(framework, "lr_scheduler")
    assert set(data["runs"]) == set(LR_SCHEDULER_RUNS)
    for name, schedule in LR_SCHEDULER_RUNS.items():
        run = data["runs"][name]
        if name != "baseline":
            assert schedule_from_config(run["schedule"]) == schedule
            assert run["schedule_unit"] == "epoch"
        # Any of these runs can fail on some CPU (TensorFlow's cosine run did on an AVX2 one,
        # JAX's and MXNet's multi-factor runs on others): trained, or its failure on record.
        check_run(run, schedule(np.arange(EPOCHS)), may_collapse=True)
    trained = [name for name in LR_SCHEDULER_RUNS
               if data["runs"][name]["epochs"][-1]["test_acc"] > 0.8]
    assert len(trained) >= len(LR_SCHEDULER_RUNS) - 2, trained


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_lenet_baseline(framework):
    data = committed(framework, "lenet")
    check_run(data["runs"]["baseline"], [0.3] * EPOCHS)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_lr_finder_runs(framework):
    runs = committed(framework, "lr_finder")["runs"]
    assert set(runs) == {"too_small", "suggested", "too_large", "suggested_warmup_cosine"}
    finder = LRFinderResult.from_dict(runs["suggested"]["finder"])
    # The recorded suggestion is what the current default rule makes of the recorded curve,
    # taken before the wall.
    suggested = finder.suggestion
    assert suggested == suggest_steepest(finder.lrs, finder.smoothed, finder.skip_start,
                                         finder.skip_end)
    assert finder.wall_lr is None or suggested < finder.wall_lr
    epochs, steps_per_epoch = 5, 235  # ceil(60,000 / 256)
    check_run(runs["too_small"], [0.001] * epochs, min_test_acc=0.2)  # trains, slowly
    # At the suggestion a run can fail (PyTorch's did on an AVX2 CPU): trained or on record.
    check_run(runs["suggested"], [suggested] * epochs, may_collapse=True, min_test_acc=0.7)
    # The recipe: per-update warmup to the suggestion, cosine to a hundredth of it.
    recipe_run = runs["suggested_warmup_cosine"]
    recipe = warmup_cosine_from(suggested, epochs, steps_per_epoch)
    assert schedule_from_config(recipe_run["schedule"]) == recipe
    assert recipe_run["schedule_unit"] == "update"
    steps, applied = (np.array(column) for column in zip(*recipe_run["step_lrs"]))
    assert steps.max() >= (epochs - 1) * steps_per_epoch  # sampled through the last epoch
    np.testing.assert_allclose(applied, recipe(steps), rtol=1e-5, atol=1e-7)  # float32
    check_run(recipe_run, recipe(np.arange(epochs) * steps_per_epoch))
    # The chapter's target, 0.85 after 5 epochs from the suggestion, is met by the recipe.
    # The constant-rate run is reported as it came out (the chapter computes how far its
    # last epochs move); it must have trained, which check_run asserted above.
    final = {name: run["epochs"][-1]["test_acc"] for name, run in runs.items()}
    assert final["suggested_warmup_cosine"] >= 0.85
    # The ranking the finder's curve predicts.
    assert final["too_small"] < final["suggested"] or collapsed_to_chance(runs["suggested"])
    too_large = runs["too_large"]
    assert len(too_large["epochs"]) < epochs or collapsed_to_chance(too_large)


def at_chance_or_collapsed(run) -> bool:
    """What the core's collapse rule reports: collapsed, or at chance in every epoch."""
    losses = [math.nan if e["train_loss"] is None else e["train_loss"] for e in run["epochs"]]
    level = COLLAPSE_FRACTION * CHANCE_LOSS
    return collapse_epoch(losses) is not None or all(not loss < level for loss in losses)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_warmup_cosine_runs(framework):
    """The warmup study: three runs per seed 0-2, two epochs each, per-update schedules as
    recorded, the first 300 updates' losses and the dead-ReLU fractions on record."""
    runs = committed(framework, "warmup_cosine")["runs"]
    peaks = {"warmup": 0.2, "no_warmup": 0.2, "no_warmup_lower_peak": 0.05}
    assert set(runs) == {f"{name}_seed{s}" for name in peaks for s in (0, 1, 2)}
    epochs, steps_per_epoch = 2, 235
    for key, run in runs.items():
        name = key.rsplit("_seed", 1)[0]
        schedule = schedule_from_config(run["schedule"])
        assert isinstance(schedule, WarmupCosineDecay) and run["schedule_unit"] == "update"
        assert schedule.target_lr == peaks[name]
        assert schedule.warmup_steps == (steps_per_epoch if name == "warmup" else 0)
        steps, applied = (np.array(column) for column in zip(*run["step_lrs"]))
        np.testing.assert_allclose(applied, schedule(steps), rtol=1e-5, atol=1e-7)
        assert len(run["epochs"]) == epochs and len(run["updates"]) == 300
        assert set(run["dead_relus"]) == {"conv1", "conv2", "dense1", "dense2"}
        # trained, or its failure is on record (the study counts them)
        assert run["epochs"][-1]["test_acc"] > 0.7 or at_chance_or_collapsed(run), key
    # With warmup the network trains in every seed.
    assert all(runs[f"warmup_seed{s}"]["epochs"][-1]["test_acc"] > 0.8 for s in (0, 1, 2))


def test_edge_of_stability_study():
    """benchmarks/edge_of_stability.py's file: every framework with both thread settings,
    the one-ulp runs, and the first updates' losses of every run, consistent with the
    outcome each run records."""
    from d2l_compat.records import edge_study_failures, read_edge_study
    from d2l_compat.training import CHANCE_LOSS, COLLAPSE_FRACTION

    data = read_edge_study()
    assert data["epochs"] >= 2 and data["record_updates"] == 300
    rows = edge_study_failures(data)
    assert {(r["framework"], r["threads"]) for r in rows} == {
        (fw, threads) for fw in FRAMEWORKS for threads in (0, 1)}
    assert set(data["versions"]) == set(FRAMEWORKS)
    for run in data["runs"]:
        assert len(run["update_losses"]) == 300 and run["update_steps"] == list(range(300))
        assert len(run["train_loss"]) == len(run["test_acc"]) == data["epochs"]
        assert np.float32(run["applied_lr"]) == np.float32(run["lr"])  # the lr applied
        at_chance = all(loss is not None and loss >= COLLAPSE_FRACTION * CHANCE_LOSS
                        for loss in run["train_loss"])
        assert (run["outcome"] == "at chance in every epoch") == at_chance, run["seed"]
    perturbed = {(r["framework"], r["perturbation"]) for r in data["runs"] if r["perturbation"]}
    assert perturbed <= {(fw, p) for fw in FRAMEWORKS for p in ("+1 ulp", "-1 ulp")}
    assert len({fw for fw, _ in perturbed}) >= 3  # the one-ulp evidence, in most frameworks
    for fw, p in perturbed:  # each beside its unperturbed run: seed 0, default threads
        assert any((r["framework"], r["threads"], r["seed"], r["perturbation"])
                   == (fw, 0, 0, "") for r in data["runs"]), fw
