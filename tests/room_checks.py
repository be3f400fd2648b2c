"""Checks shared by the four framework rooms' tests (tests/test_<room>.py)."""

import json
import math

import numpy as np

from d2l_compat.lr_finder import DEFAULT_RULE, STOP_REASONS, lr_sweep

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
