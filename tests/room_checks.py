"""Checks shared by the four framework rooms' tests (tests/test_<room>.py)."""

import math

from d2l_compat.lr_finder import DEFAULT_RULE

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
