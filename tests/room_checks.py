"""Checks shared by the four framework rooms' tests (tests/test_<room>.py)."""

import json
import math

import numpy as np
import pytest

from d2l_compat.lr_finder import DEFAULT_RULE, STOP_REASONS, lr_sweep
from d2l_compat.schedules import (Constant, CosineScheduler, FactorScheduler,
                                  MultiFactorScheduler, PolyScheduler, SquareRootScheduler,
                                  WarmupCosineDecay, join_schedules, schedule_to_config)

TIMING_FIELDS = {"examples_per_sec", "seconds"}


def without_timings(history) -> dict:
    """A History as a dict without the fields that differ between identical runs."""
    state = history.to_dict()
    state["epochs"] = [{k: v for k, v in e.items() if k not in TIMING_FIELDS}
                       for e in state["epochs"]]
    return state


def assert_suggestions_usable(result, start_lr=1e-7, end_lr=10.0):
    """Every rule suggested a finite lr inside the sweep; the default is DEFAULT_RULE's."""
    assert set(result.suggestions) == {"steepest", "minimum_div_10", "valley"}
    for name, lr in result.suggestions.items():
        assert lr is not None and math.isfinite(lr) and start_lr <= lr <= end_lr, name
    assert result.suggestion == result.suggestions[DEFAULT_RULE]


def assert_default_sweep(result, rtol=0.0):
    """A find_lr result with the default sweep: sound, read back as planned, JSON-ready.

    ``rtol=0`` demands the exact planned lrs (frameworks that keep the lr in float64).
    """
    assert result.stop_reason in STOP_REASONS
    assert len(result.lrs) >= 10 and len(result.lrs) == len(result.losses)
    assert result.stop_reason != "completed" or len(result.lrs) == 100
    planned = lr_sweep(1e-7, 10.0, 100)[:len(result.lrs)]
    np.testing.assert_allclose(result.lrs, planned, rtol=rtol, atol=0)
    assert np.all(np.isfinite(result.losses))
    assert_suggestions_usable(result)
    assert result.config["num_steps"] == 100
    json.dumps(result.to_dict())


def find_lr_twice_over_two_epochs(d2l, train_iter):
    """Two sweeps cycling past the end of the data; both must give the same losses."""
    kwargs = dict(start_lr=1e-4, end_lr=1e-1, num_steps=2 * len(train_iter) + 3,
                  diverge_factor=None)
    first = d2l.find_lr(d2l.lenet(), train_iter, **kwargs)
    second = d2l.find_lr(d2l.lenet(), train_iter, **kwargs)
    assert first.stop_reason == "completed" and len(first.lrs) == kwargs["num_steps"]
    np.testing.assert_array_equal(first.losses, second.losses)
    return first


# Schedules every room's adapter is checked against (one of each kind, plus a join).
SCHEDULES = [
    Constant(0.3),
    SquareRootScheduler(0.1),
    FactorScheduler(0.9, stop_factor_lr=1e-2, base_lr=2.0),
    MultiFactorScheduler([15, 30], factor=0.5, base_lr=0.5),
    CosineScheduler(20, base_lr=0.3, final_lr=0.01),
    CosineScheduler(20, warmup_steps=5, base_lr=0.3, final_lr=0.01),
    PolyScheduler(25, base_lr=0.2, pwr=2, final_lr=0.001, warmup_steps=3),
    WarmupCosineDecay(30, 4, hold=3, start_lr=0.01, target_lr=0.2, final_lr=0.001),
    join_schedules([Constant(0.1), CosineScheduler(10, 0.3, 0.01)], [5]),
]


def train_quietly(d2l, data, num_epochs, scheduler=None, lr=0.3, net=None, **kwargs):
    """``d2l.train`` on ``data = (train_iter, test_iter)`` with a fresh LeNet unless ``net``
    is given, no animation, no printing."""
    train_iter, test_iter = data
    return d2l.train(net or d2l.lenet(), train_iter, test_iter, num_epochs, lr, scheduler,
                     animator=False, verbose=False, **kwargs)


def assert_d2l_device_decides_the_default_device(d2l, data, monkeypatch, cpu):
    """``D2L_DEVICE`` picks ``default_device()`` and so the device ``train`` uses.

    ``cpu`` is the room's CPU device. Without a GPU, ``gpu`` must fail before training with
    the message naming the framework; with one, it must give ``try_gpu()``.
    """
    monkeypatch.setenv("D2L_DEVICE", "cpu")
    assert d2l.default_device() == cpu
    assert train_quietly(d2l, data, 1).device.startswith("cpu")
    monkeypatch.setenv("D2L_DEVICE", "auto")
    assert d2l.default_device() == d2l.try_gpu()
    monkeypatch.setenv("D2L_DEVICE", "gpu")
    if d2l.try_gpu() == cpu:
        message = f"D2L_DEVICE=gpu, but {d2l.FRAMEWORK} sees no GPU"
        with pytest.raises(RuntimeError, match=message):
            d2l.default_device()
        net = d2l.lenet()
        with pytest.raises(RuntimeError, match=message):
            train_quietly(d2l, data, 1, net=net)
    else:
        assert d2l.default_device() == d2l.try_gpu() != cpu
    monkeypatch.setenv("D2L_DEVICE", "tpu")
    with pytest.raises(ValueError, match="D2L_DEVICE must be one of .*'tpu'"):
        d2l.default_device()


def assert_train_rejects_bad_arguments(run, data):
    with pytest.raises(ValueError, match="schedule_unit.*'batch'"):
        run(data, 1, Constant(0.1), schedule_unit="batch")
    with pytest.raises(TypeError, match="scheduler"):
        run(data, 1, lambda t: 0.1)
    with pytest.raises(ValueError, match="num_epochs"):
        run(data, 0)


def assert_lr_hook_matches_the_update_schedule(run, data):
    """A hook ``step -> lr`` and the same schedule given per update are the same run."""
    steps = len(data[0])
    schedule = WarmupCosineDecay(total_steps=2 * steps, warmup_steps=3, hold=2,
                                 start_lr=0.0, target_lr=0.3, final_lr=0.01)
    seen = []

    def hook(step):
        seen.append(step)
        return schedule(step)

    by_hook = run(data, 2, lr_hook=hook)
    by_object = run(data, 2, schedule, schedule_unit="update")
    assert seen == list(range(2 * steps))  # called once before every update
    assert by_hook.schedule_unit == by_object.schedule_unit == "update"
    assert by_hook.step_lrs == by_object.step_lrs
    for step, lr in by_hook.step_lrs:
        assert lr == pytest.approx(schedule(step), rel=1e-12), step
    assert by_hook.lr == by_object.lr
    # the same lr reaches every update, so the runs are the same run
    assert without_timings(by_hook)["epochs"] == without_timings(by_object)["epochs"]
    # a d2l_compat schedule as the hook is recorded like the scheduler
    assert run(data, 1, lr_hook=schedule).schedule == schedule_to_config(schedule)


def assert_linear_sweep(d2l, train_iter, rtol):
    linear = d2l.find_lr(d2l.lenet(), train_iter, start_lr=0.01, end_lr=0.1, num_steps=6,
                         mode="linear")
    np.testing.assert_allclose(linear.lrs, np.linspace(0.01, 0.1, 6), rtol=rtol)


def assert_find_lr_leaves_training_unchanged(run, d2l, data):
    """A net that went through find_lr trains exactly like a fresh one."""
    reference = run(data, 1)
    net = d2l.lenet()
    d2l.find_lr(net, data[0], num_steps=20)
    after = run(data, 1, net=net)
    assert without_timings(after)["epochs"] == without_timings(reference)["epochs"]


def assert_find_lr_stops_when_the_loss_explodes(d2l, train_iter, num_steps):
    result = d2l.find_lr(d2l.lenet(), train_iter, start_lr=1.0, end_lr=1e4, num_steps=num_steps)
    assert result.stop_reason in ("diverged", "nan") and result.stopped_early
    assert len(result.lrs) < num_steps
