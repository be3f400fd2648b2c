"""Tests for d2l_compat.lr_finder (framework-free range-test logic)."""

import json
import math
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # headless; set before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from d2l_compat.lr_finder import (  # noqa: E402
    DEFAULT_RULE,
    MIN_POINTS,
    WALL_HOLD,
    LRFinderResult,
    LRRangeTest,
    find_wall,
    longest_decreasing_chain,
    lr_sweep,
    run_range_test,
    smooth_losses,
    suggest_all,
    suggest_minimum_div_10,
    suggest_steepest,
    suggest_valley,
    warmup_cosine_from,
)

RULES = ("steepest", "minimum_div_10", "valley")
RATIO = 1e8 ** (1 / 99)  # grid ratio of the default sweep 1e-7 .. 10 in 100 steps


def quad_wall(lr):
    """Minimum 1 at lr = 1e-2, quadratic in log10(lr), a wall after lr = 1."""
    loss = (math.log10(lr) + 2.0) ** 2 + 1.0
    return loss + 1e3 if lr > 1.0 else loss


def ema_closed_form(losses, beta):
    """Bias-corrected EMA from its closed form (independent of the module)."""
    out = []
    for i in range(len(losses)):
        weights = [(1 - beta) * beta ** (i - j) for j in range(i + 1)]
        out.append(sum(w * x for w, x in zip(weights, losses[: i + 1])) / (1 - beta ** (i + 1)))
    return np.array(out)


def drive(losses, **kwargs):
    """Feed a fixed loss sequence through the documented loop protocol."""
    rt = LRRangeTest(**kwargs)
    for step, _lr in rt:
        if not rt.record(losses[step]):
            break
    return rt.result()


# --------------------------------------------------------------------------- sweep

def test_exponential_sweep_endpoints_and_constant_ratio():
    lrs = lr_sweep()
    assert lrs.shape == (100,)
    assert lrs[0] == 1e-7 and lrs[-1] == 10.0
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], RATIO, rtol=1e-12)


def test_exponential_sweep_small_grid_is_decades():
    np.testing.assert_allclose(lr_sweep(1e-4, 1.0, 5), [1e-4, 1e-3, 1e-2, 1e-1, 1.0], rtol=1e-12)


def test_linear_sweep_endpoints_and_constant_spacing():
    lrs = lr_sweep(0.01, 1.0, 100, mode="linear")
    assert lrs[0] == 0.01 and lrs[-1] == 1.0
    np.testing.assert_allclose(np.diff(lrs), 0.01, rtol=1e-9)


def wrong_type_or_value(kwargs):
    """TypeError when the bad argument is not a number (or is a bool, or a float where an
    int is due), else ValueError: the convention of d2l_compat.checks."""
    name, value = next(iter(kwargs.items()))  # the bad one comes first
    wants_int = name in ("num_steps", "skip_start", "skip_end", "num_epochs",
                         "steps_per_epoch", "warmup_epochs")
    if name == "mode":
        return ValueError
    if isinstance(value, (bool, str)) or (wants_int and isinstance(value, float)):
        return TypeError
    return ValueError


@pytest.mark.parametrize("kwargs, name", [
    ({"start_lr": 0.0}, "start_lr"),
    ({"start_lr": -1e-3}, "start_lr"),
    ({"start_lr": 0.0, "mode": "linear"}, "start_lr"),
    ({"start_lr": float("nan")}, "start_lr"),
    ({"start_lr": "1e-7"}, "start_lr"),
    ({"end_lr": 1e-7}, "end_lr"),
    ({"end_lr": 1e-8}, "end_lr"),
    ({"end_lr": float("inf")}, "end_lr"),
    ({"num_steps": 1}, "num_steps"),
    ({"num_steps": 10.0}, "num_steps"),
    ({"num_steps": True}, "num_steps"),
    ({"mode": "cosine"}, "mode"),
])
def test_sweep_validation_names_the_parameter(kwargs, name):
    error = wrong_type_or_value(kwargs)
    with pytest.raises(error, match=name):
        lr_sweep(**kwargs)
    with pytest.raises(error, match=name):
        LRRangeTest(**kwargs)


def test_sweep_accepts_numpy_int():
    assert len(lr_sweep(num_steps=np.int64(7))) == 7


@pytest.mark.parametrize("kwargs, name", [
    ({"beta": 1.0}, "beta"),
    ({"beta": -0.1}, "beta"),
    ({"diverge_factor": 1.0}, "diverge_factor"),
    ({"diverge_factor": float("nan")}, "diverge_factor"),
    ({"skip_start": -1}, "skip_start"),
    ({"skip_end": 1.5}, "skip_end"),
])
def test_range_test_validation_names_the_parameter(kwargs, name):
    with pytest.raises(wrong_type_or_value(kwargs), match=name):
        LRRangeTest(**kwargs)


# --------------------------------------------------------------------------- smoothing

def test_smoothing_by_hand():
    s = smooth_losses([2.0, 4.0, 1.0], beta=0.9)
    assert s[0] == pytest.approx(2.0)                    # bias correction: first value = first loss
    assert s[1] == pytest.approx((0.09 * 2 + 0.1 * 4) / (1 - 0.81))
    assert s[2] == pytest.approx((0.081 * 2 + 0.09 * 4 + 0.1 * 1) / (1 - 0.729))
    assert s[1] == pytest.approx(0.58 / 0.19)


def test_smoothing_matches_closed_form_and_keeps_constants():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 3.0, size=30)
    np.testing.assert_allclose(smooth_losses(x, beta=0.8), ema_closed_form(list(x), 0.8), rtol=1e-12)
    np.testing.assert_allclose(smooth_losses([3.0] * 10), 3.0, rtol=1e-12)  # no pull towards 0
    np.testing.assert_array_equal(smooth_losses(x, beta=0.0), x)


def test_smoothing_validation():
    with pytest.raises(ValueError, match="beta"):
        smooth_losses([1.0], beta=1.0)
    with pytest.raises(ValueError, match="1-D"):
        smooth_losses([[1.0, 2.0]])


def test_recorder_smooths_with_the_same_ema():
    losses = list(np.linspace(3.0, 1.0, 20) + 0.1 * np.sin(np.arange(20)))
    res = drive(losses, num_steps=20)
    np.testing.assert_array_equal(res.losses, losses)
    np.testing.assert_allclose(res.smoothed, smooth_losses(losses), rtol=1e-12)
    np.testing.assert_allclose(res.smoothed, ema_closed_form(losses, 0.9), rtol=1e-12)


# --------------------------------------------------------------------------- suggestions on arrays

@pytest.fixture
def raw_curve():
    """Default sweep with the quadratic loss, cut before the wall."""
    lrs = lr_sweep()
    lrs = lrs[lrs <= 1.0]
    return lrs, np.array([quad_wall(lr) for lr in lrs])


def test_minimum_div_10_on_raw_curve(raw_curve):
    lr = suggest_minimum_div_10(*raw_curve)
    assert 1e-3 / RATIO <= lr <= 1e-3 * RATIO


def test_steepest_is_below_the_minimum(raw_curve):
    lrs, losses = raw_curve
    assert suggest_steepest(lrs, losses) < 1e-2
    # The quadratic falls fastest at its left edge: skipping moves the pick.
    assert suggest_steepest(lrs, losses) == lrs[0]
    assert suggest_steepest(lrs, losses, skip_start=10) == lrs[10]


def test_steepest_finds_the_inflection_of_a_realistic_curve():
    # Flat, then a sigmoid drop centred at lr = 1e-3, then a wall.
    lrs = lr_sweep()
    x = np.log10(lrs)
    losses = 2.3 - 1.5 / (1 + np.exp(-3 * (x + 3))) + np.where(x > 0, 10.0, 0.0)
    lr = suggest_steepest(lrs, losses, skip_end=15)
    assert 1e-3 / RATIO <= lr <= 1e-3 * RATIO
    valley = suggest_valley(lrs, losses, skip_end=15)
    assert 1e-3 < valley < 1e-1          # in the descent, past its steepest point
    assert np.gradient(losses, x)[np.searchsorted(lrs, valley)] < 0


def test_valley_is_in_the_descending_region(raw_curve):
    lrs, losses = raw_curve
    lr = suggest_valley(lrs, losses)
    assert lrs[0] < lr < 1e-2
    # Exact rule: valley runs from index 0 to the minimum; pick 2/3 of the way.
    i_min = int(np.argmin(losses))
    assert lr == lrs[(2 * i_min) // 3]


def test_valley_bridges_a_noisy_uptick():
    lrs = lr_sweep(1e-8, 1.0, 9)
    losses = [5.0, 4.0, 3.0, 3.5, 2.0, 1.0, 0.5, 2.0, 6.0]  # uptick at index 3
    # Longest decreasing subsequence 5, 4, 3, 2, 1, 0.5: indices 0..6 -> 0 + 12 // 3 = 4.
    assert suggest_valley(lrs, losses) == lrs[4]


def test_longest_decreasing_chain_spans_gaps_and_counts_its_points():
    # 5 > 4 > 3 > 2 at indices 0, 1, 3, 5 (or 5 > 4.5 > 3.5 > 2): upticks in between.
    losses = [5.0, 4.0, 4.5, 3.0, 3.5, 2.0, 6.0]
    start, end, k = longest_decreasing_chain(losses)
    assert (start, end, k) == (0, 5, 4)
    lrs = lr_sweep(1e-6, 1.0, 7)
    # Ours: two thirds of the way from the real start, 0 + (2 * 5) // 3 = 3.
    assert suggest_valley(lrs, losses) == lrs[3]
    # fastai's valley starts at end - k = 1 and takes 1 + int(4 / 3) + int(4 / 6) = 2.
    assert (end - k) + int(k / 3) + int(k / 6) == 2


def test_longest_decreasing_chain_of_a_flat_curve_is_its_first_point():
    assert longest_decreasing_chain([2.0, 2.0, 2.0]) == (0, 0, 1)


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]]])
def test_longest_decreasing_chain_rejects_a_non_curve(bad):
    with pytest.raises(ValueError, match="losses"):
        longest_decreasing_chain(bad)


def test_valley_prefers_the_longest_valley_not_the_first():
    lrs = lr_sweep(1e-11, 1.0, 12)
    losses = [3.0, 2.0, 2.6, 3.2, 3.0, 2.8, 2.6, 2.4, 2.2, 1.8, 1.6, 9.5]
    # 3.2 > 3.0 > ... > 1.6 (indices 3..10, length 8) beats 3.0 > 2.8 > ... > 1.6
    # from index 0 (length 7: 3.0 at index 4 is not lower) and 3 > 2 (length 2).
    # The rise from 2.0 to 3.2 is gradual (steps of 3 x the median): no wall.
    assert find_wall(losses) == 11
    assert suggest_valley(lrs, losses) == lrs[3 + (2 * 7) // 3]


# --------------------------------------------------------------------------- the wall

def test_find_wall_by_hand():
    # Steps 0.01 on the plateau, -0.05 in the descent, +0.40 at the wall:
    # median |step| = 0.03, threshold 5 x 0.03 = 0.15.
    losses = [2.30, 2.31, 2.30, 2.31, 2.30, 2.25, 2.20, 2.60, 2.40]
    assert find_wall(losses) == 7
    assert find_wall(losses, jump=20.0) == len(losses)    # 0.40 < 20 x 0.03
    assert find_wall([3.0, 2.0, 1.0, 1.5, 2.0]) == 5      # a smooth rise is no wall
    assert find_wall([2.0, 2.0, 2.0, 2.1]) == 3           # zero noise: any rise
    assert find_wall([2.0]) == 1 and find_wall([]) == 0


@pytest.mark.parametrize("jump", [0.0, -1.0, float("nan"), "5"])
def test_find_wall_validation_names_the_parameter(jump):
    with pytest.raises(wrong_type_or_value({"jump": jump}), match="jump"):
        find_wall([2.0, 1.0, 3.0], jump=jump)


def broken_network_curve():
    """What PyTorch's LeNet sweep did: a noisy plateau at ln 10, a short descent to
    2.11 ending at lr 0.3, a jump (the net breaks), then noise around 2.25 with a
    lucky batch at 1.6 late in the sweep -- and never 4 x the best, so it completes.
    The lucky batch comes after the WALL_HOLD points that find_wall watches: smoothed,
    one lucky batch is a dip over several points, which within them reads as a
    recovery from the jump."""
    rng = np.random.default_rng(0)
    lrs = lr_sweep()
    x = np.log10(lrs)
    losses = 2.31 + 0.01 * rng.standard_normal(len(lrs))
    descent = (x > -1.3) & (x <= np.log10(0.3))
    losses[descent] -= 0.2 * (x[descent] + 1.3) / (np.log10(0.3) + 1.3)
    broken = np.flatnonzero(x > np.log10(0.3))
    losses[broken] -= 0.06
    losses[broken[0]] = 2.6                              # the jump
    losses[broken[0] + WALL_HOLD + 2] = 1.6              # a lucky batch afterwards
    return lrs, losses, lrs[broken[0]]


def test_rules_stop_at_the_wall_of_a_broken_network():
    lrs, losses, wall_lr = broken_network_curve()
    res = drive(losses)
    assert res.stop_reason == "completed"
    assert res.wall_lr == wall_lr and res.to_dict()["wall_lr"] == wall_lr
    # The smoothed minimum of the whole curve is the lucky batch past the wall ...
    assert res.lrs[np.argmin(res.smoothed)] > wall_lr
    # ... but every rule reads the descent before the wall.
    sug = res.suggestions
    assert 0.05 < sug["steepest"] < wall_lr
    assert sug["minimum_div_10"] == res.lrs[np.argmax(res.lrs >= wall_lr) - 1] / 10
    assert sug["valley"] < wall_lr
    # Without the wall (a jump threshold no step reaches) steepest lands past it.
    smoothed = res.smoothed[res.skip_start:]
    grad = np.gradient(smoothed, np.log10(res.lrs[res.skip_start:]))
    assert res.lrs[res.skip_start:][np.argmin(grad[:np.argmin(smoothed) + 1])] > wall_lr


def descent_valley_blowup():
    """A 300-point sweep like LeNet's long one: a noisy plateau at ln 10, a steep
    descent in which two bad minibatches (raw loss up by 1.2) lift the smoothed
    loss for a few points, a valley at 1.0, then the blow-up. Returns the raw
    losses, the index of the first descent spike, the valley's first index and the
    blow-up's first index."""
    rng = np.random.default_rng(1)
    lrs = lr_sweep(1e-4, 10.0, 300)
    x = np.log10(lrs)
    losses = 2.30 + 0.02 * rng.standard_normal(len(lrs))
    descent = np.flatnonzero((x > -2.0) & (x <= -0.7))
    losses[descent] -= 1.3 * (x[descent] + 2.0) / 1.3
    valley = np.flatnonzero((x > -0.7) & (x <= -0.4))
    losses[valley] -= 1.3
    blowup = np.flatnonzero(x > -0.4)
    losses[blowup] = 2.5 + 3.0 * (x[blowup] + 0.4)      # 2.5 at once, then up and up
    spikes = descent[[len(descent) // 3, 2 * len(descent) // 3]]
    losses[spikes] += 1.2
    return losses, spikes[0], valley[0], blowup[0]


def test_wall_comes_after_the_valley_not_in_a_steep_descent():
    losses, spike, valley, blowup = descent_valley_blowup()
    s = smooth_losses(losses)
    steps = np.diff(s)
    # The spike is the first sudden rise (> 5 typical steps), inside the descent ...
    assert np.flatnonzero(steps > 5 * np.median(np.abs(steps)))[0] + 1 == spike
    # ... and the descent takes it back: the loss goes on to a lower minimum.
    assert s[spike:valley].min() < s[:spike].min()
    wall = find_wall(s)
    assert wall == blowup
    assert valley <= int(np.argmin(s[:wall])) < wall   # the rules read the whole valley
    res = drive(losses, start_lr=1e-4, end_lr=10.0, num_steps=300)
    assert res.wall_lr == res.lrs[blowup]
    assert res.lrs[valley] < 10 * res.suggestions["minimum_div_10"] < res.lrs[blowup]
    assert res.lrs[spike] < res.suggestions["steepest"] < res.lrs[valley]


def test_a_falling_curve_has_no_wall():
    # Strictly falling, its steps growing a hundredfold: a steep fall is no wall.
    curve = 2.3 - 1e-3 * 1.1 ** np.arange(50)
    assert np.all(np.diff(curve) < 0)
    assert find_wall(curve) == len(curve)
    assert find_wall(curve, jump=0.1) == len(curve)
    res = drive(curve, start_lr=1e-4, end_lr=1.0, num_steps=50, beta=0.0)
    assert res.stop_reason == "completed" and res.wall_lr is None


def test_a_blow_up_is_the_wall():
    lrs = lr_sweep()
    curve = np.r_[np.full(40, 2.3), np.linspace(2.3, 1.0, 40), [3.0, 6.0, 9.0, 12.0]]
    assert find_wall(curve) == 80                        # the first point of the blow-up
    # Cut by the divergence stop: fewer than WALL_HOLD points follow the jump.
    res = run_range_test(quad_wall)
    assert res.stop_reason == "diverged"
    assert res.wall_lr == res.lrs[-1] == lrs[int(np.argmax(lrs > 1.0))]


@pytest.mark.parametrize("points_up, wall", [(WALL_HOLD, 21), (WALL_HOLD - 1, None)])
def test_a_rise_is_the_wall_only_if_it_stays_up(points_up, wall):
    # Steps of 0.05 (median 0.05, threshold 0.25), a jump of 0.6 that holds for
    # `points_up` points, then back below the running minimum 2.0.
    curve = np.r_[np.linspace(3.0, 2.0, 21), np.full(points_up, 2.6), np.linspace(1.95, 1.5, 10)]
    assert find_wall(curve) == (len(curve) if wall is None else wall)
    # At the end of a curve, a jump that stays up to the last point is the wall.
    assert find_wall(np.r_[np.linspace(3.0, 2.0, 21), np.full(3, 2.6)]) == 21


def test_a_single_lucky_point_after_the_jump_is_no_recovery():
    # Back down to 1.5 for one point, then up again above half way (2.3): the wall
    # stays at the jump, and the rules do not read the lucky point.
    descent = np.linspace(3.0, 2.0, 21)
    curve = np.r_[descent, np.full(3, 2.6), 1.5, np.full(5, 2.6)]
    assert find_wall(curve) == 21
    lrs = lr_sweep(1e-5, 1.0, len(curve))
    assert suggest_minimum_div_10(lrs, curve) == lrs[20] / 10
    # Two points back down (the second below half way) are a recovery.
    recovered = np.r_[descent, np.full(3, 2.6), 1.5, 1.4, np.full(5, 1.3)]
    assert find_wall(recovered) == len(recovered)


@pytest.mark.parametrize("rule", [suggest_steepest, suggest_minimum_div_10, suggest_valley])
def test_rules_reject_short_and_bad_curves(rule):
    lrs = lr_sweep(1e-4, 1.0, 8)
    losses = np.linspace(2.0, 1.0, 8)
    assert rule(lrs, losses, skip_start=3) > 0          # exactly MIN_POINTS left
    with pytest.raises(ValueError, match=f"at least {MIN_POINTS}"):
        rule(lrs, losses, skip_start=2, skip_end=2)
    with pytest.raises(ValueError, match=f"at least {MIN_POINTS}"):
        rule(lrs[:4], losses[:4])
    with pytest.raises(ValueError, match="equal length"):
        rule(lrs, losses[:-1])
    with pytest.raises(ValueError, match="finite"):
        rule(lrs, np.r_[losses[:-1], np.nan])
    with pytest.raises(ValueError, match="increasing"):
        rule(lrs[::-1], losses)


def test_suggest_all_gives_none_on_short_curves():
    lrs = lr_sweep(1e-4, 1.0, 6)
    losses = np.linspace(2.0, 1.0, 6)
    assert suggest_all(lrs, losses, skip_start=2) == dict.fromkeys(RULES)
    assert all(v is not None for v in suggest_all(lrs, losses).values())
    with pytest.raises(ValueError, match="finite"):     # long but bad: not hidden
        suggest_all(lrs, np.r_[losses[:-1], np.inf])


# --------------------------------------------------------------------------- recorder and stop rules

def test_synthetic_curve_diverges_at_the_wall():
    lrs = lr_sweep()
    losses = [quad_wall(lr) for lr in lrs]
    res = run_range_test(quad_wall)
    wall = int(np.argmax(lrs > 1.0))                     # first update past lr 1
    # Independent stop rule: first step > 0 with smoothed > 4 * best so far.
    s = ema_closed_form(losses, 0.9)
    expected = next(i for i in range(1, len(s)) if s[i] > 4 * s[: i + 1].min())
    assert expected == wall
    assert res.stop_reason == "diverged" and res.stopped_early
    assert len(res.lrs) == wall + 1                      # the diverging point is kept
    np.testing.assert_array_equal(res.lrs, lrs[: wall + 1])
    assert res.smoothed[-1] > 4 * res.smoothed.min()
    assert np.all(res.smoothed[1:-1] <= 4 * np.minimum.accumulate(res.smoothed)[1:-1])


def test_synthetic_curve_suggestions_with_smoothing():
    res = run_range_test(quad_wall)
    sug = res.suggestions
    assert set(sug) == set(RULES)
    assert sug["steepest"] < 1e-2
    # The EMA lags ~beta/(1-beta) = 9 steps: the smoothed minimum sits right of 1e-2.
    assert 1e-3 <= sug["minimum_div_10"] <= 1e-3 * RATIO ** 10
    assert res.lrs[0] < sug["valley"] < 1e-2
    assert res.suggestion == sug[DEFAULT_RULE] == sug["steepest"]
    assert res.skip_start == 10 and res.skip_end == 0     # num_steps // 10, as fastai


def test_divergence_stop_by_hand_without_smoothing():
    res = drive([1.0, 1.0, 1.0, 1.0, 4.0, 4.5, 1.0], num_steps=7, beta=0.0)
    # 4.0 is not > 4 * 1.0 (strict); 4.5 is.
    assert res.stop_reason == "diverged"
    np.testing.assert_array_equal(res.losses, [1.0, 1.0, 1.0, 1.0, 4.0, 4.5])


def test_divergence_stop_by_hand_with_smoothing():
    # After five 1.0s a 100 gives (0.9 * (1 - 0.9**5) + 10) / (1 - 0.9**6) = 22.1 > 4.
    res = drive([1.0] * 5 + [100.0, 1.0], num_steps=7)
    assert res.stop_reason == "diverged" and len(res.losses) == 6
    assert res.smoothed[-1] == pytest.approx((0.9 * (1 - 0.9 ** 5) + 10) / (1 - 0.9 ** 6))
    # ... while a 3 gives (0.9 * (1 - 0.9**5) + 0.3) / (1 - 0.9**6) = 1.43: keep going.
    res = drive([1.0] * 5 + [3.0, 1.0], num_steps=7)
    assert res.stop_reason == "completed" and len(res.losses) == 7


def test_divergence_rule_waits_for_the_second_step_and_can_be_disabled():
    rt = LRRangeTest(num_steps=5, beta=0.0)
    assert rt.record(-1.0) is True                       # -1 > 4 * -1, but step 0 never stops
    res = drive([1.0, 50.0, 1.0], num_steps=3, diverge_factor=None)
    assert res.stop_reason == "completed"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), np.float32("nan")])
def test_non_finite_loss_truncates(bad):
    rt = LRRangeTest(num_steps=10)
    keep = [rt.record(x) for x in (1.0, 0.9, 0.8)]
    assert keep == [True, True, True]
    assert rt.record(bad) is False and rt.done
    res = rt.result()
    assert res.stop_reason == "nan" and res.stopped_early
    assert len(res.lrs) == len(res.losses) == len(res.smoothed) == 3
    assert np.all(np.isfinite(res.losses)) and np.all(np.isfinite(res.smoothed))
    np.testing.assert_array_equal(res.lrs, rt.lrs[:3])


def test_nan_on_first_step_gives_an_empty_result():
    res = drive([float("nan")], num_steps=10)
    assert res.stop_reason == "nan" and len(res.lrs) == 0
    assert res.suggestions == dict.fromkeys(RULES) and res.suggestion is None
    json.dumps(res.to_dict())
    fig, ax = plt.subplots()
    assert res.plot(ax=ax) is ax
    plt.close(fig)


def test_completed_when_no_divergence():
    rt = LRRangeTest(start_lr=1e-5, end_lr=1.0, num_steps=20)
    steps, keep = [], []
    for step, lr in rt:
        assert lr == rt.lrs[step]
        steps.append(step)
        keep.append(rt.record(2.0 - 0.05 * step))
    assert steps == list(range(20))
    assert keep == [True] * 19 + [False]                 # False: nothing left to run
    res = rt.result()
    assert res.stop_reason == "completed" and not res.stopped_early
    np.testing.assert_array_equal(res.lrs, lr_sweep(1e-5, 1.0, 20))


def test_linear_mode_end_to_end():
    res = run_range_test(quad_wall, start_lr=1e-3, end_lr=0.1, num_steps=50, mode="linear", beta=0.0)
    assert res.stop_reason == "completed"
    np.testing.assert_allclose(np.diff(res.lrs), np.diff(res.lrs)[0])
    step = res.lrs[1] - res.lrs[0]
    assert abs(10 * res.suggestions["minimum_div_10"] - 1e-2) <= step


def test_protocol_errors():
    rt = LRRangeTest(num_steps=5)
    it = iter(rt)
    next(it)
    with pytest.raises(RuntimeError, match="record"):
        next(it)                                         # asked for step 1 without recording step 0
    rt = LRRangeTest(num_steps=2)
    rt.record(1.0)
    rt.record(1.0)
    with pytest.raises(RuntimeError, match="over"):
        rt.record(1.0)
    assert list(rt) == []


def test_read_back_lr_is_checked_and_stored():
    rt = LRRangeTest(start_lr=1e-3, end_lr=1.0, num_steps=4)
    planned = rt.lrs[0]
    rt.record(1.0, lr=np.float32(planned))              # float32 round-off is fine
    assert rt.result().lrs[0] == float(np.float32(planned))
    with pytest.raises(ValueError, match="planned"):
        rt.record(1.0, lr=rt.lrs[0])                     # one-step shift: previous lr
    assert rt.step == 1


def test_result_before_the_end_is_interrupted():
    rt = LRRangeTest(num_steps=10)
    for x in (3.0, 2.0, 1.0):
        rt.record(x)
    res = rt.result()
    assert res.stop_reason == "interrupted" and res.stopped_early and len(res.lrs) == 3


def test_result_arrays_are_read_only_copies():
    rt = LRRangeTest(num_steps=10, skip_start=0)
    for x in (3.0, 2.5, 2.0, 1.5, 1.0, 0.9):
        rt.record(x)
    res = rt.result()
    with pytest.raises(ValueError):
        res.losses[0] = 0.0
    rt.record(0.8)
    assert len(res.losses) == 6
    assert "6 points" in repr(res) and "interrupted" in repr(res)


# --------------------------------------------------------------------------- serialisation and plot

def test_to_dict_is_json_and_round_trips():
    res = run_range_test(quad_wall)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["stop_reason"] == "diverged" and d["stopped_early"] is True
    assert d["suggestion_rule"] == DEFAULT_RULE and d["suggestion"] == res.suggestion
    assert d["config"]["start_lr"] == 1e-7 and d["config"]["beta"] == 0.9
    back = LRFinderResult.from_dict(d)
    for name in ("lrs", "losses", "smoothed"):
        np.testing.assert_array_equal(getattr(back, name), getattr(res, name))
    assert back.suggestions == res.suggestions and back.stop_reason == res.stop_reason


def test_result_rejects_unknown_stop_reason():
    with pytest.raises(ValueError, match="stop_reason"):
        LRFinderResult([], [], [], False, "finished", {})


def test_plot_log_axis_curves_and_marks():
    res = run_range_test(quad_wall)
    rc_before = dict(matplotlib.rcParams)
    ax = res.plot()
    assert ax.get_xscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["loss", "smoothed loss"]
    for rule in RULES:
        (mark,) = [ln for ln in ax.get_lines() if ln.get_label().startswith(rule + ":")]
        assert mark.get_xdata()[0] == pytest.approx(res.suggestions[rule])
    assert any("(suggested)" in lab and lab.startswith(DEFAULT_RULE) for lab in labels)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(legend) == 6
    (wall,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("wall:")]
    assert wall.get_xdata()[0] == res.wall_lr == res.lrs[-1]   # the diverging point
    # y range: the curve before the wall, not the 1000+ raw spike at the wall.
    low, high = ax.get_ylim()
    before = res.smoothed[:-1]
    assert low < before.min() and before.max() < high < res.smoothed[-1]
    assert dict(matplotlib.rcParams) == rc_before
    plt.close(ax.figure)


def test_plot_on_given_axes_with_skips():
    res = run_range_test(quad_wall)
    fig, ax = plt.subplots()
    assert res.plot(ax=ax, skip_start=10, skip_end=5, show_raw=False) is ax
    (smooth,) = [ln for ln in ax.get_lines() if ln.get_label() == "smoothed loss"]
    np.testing.assert_array_equal(smooth.get_xdata(), res.lrs[10:-5])
    assert not any(ln.get_label() == "loss" for ln in ax.get_lines())
    plt.close(fig)


def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys, d2l_compat.lr_finder; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_plot_without_a_wall_shows_the_whole_curve():
    res = drive(np.linspace(2.3, 1.0, 20), start_lr=1e-4, end_lr=1.0, num_steps=20)
    assert res.stop_reason == "completed" and res.wall_lr is None
    ax = res.plot()
    low, high = ax.get_ylim()
    assert low < res.losses.min() and res.smoothed.max() < high
    assert not any(ln.get_label().startswith("wall:") for ln in ax.get_lines())
    plt.close(ax.figure)


def test_run_drives_one_update_per_lr_and_keeps_the_read_back_lr():
    applied = []

    def update(lr):
        applied.append(lr)
        return 2.0 - 0.01 * len(applied), lr * (1 + 1e-5)   # read back in float32-ish precision

    res = LRRangeTest(start_lr=1e-3, end_lr=1.0, num_steps=10).run(update)
    assert res.stop_reason == "completed"
    np.testing.assert_array_equal(applied, lr_sweep(1e-3, 1.0, 10))
    np.testing.assert_array_equal(res.lrs, np.array(applied) * (1 + 1e-5))
    with pytest.raises(ValueError, match="set the optimizer lr before the update"):
        LRRangeTest(num_steps=10).run(lambda lr: (1.0, 2 * lr))
    stopped = LRRangeTest(num_steps=10).run(lambda lr: (float("nan"), None))
    assert stopped.stop_reason == "nan" and len(stopped.lrs) == 0


def test_plot_of_only_the_part_past_the_wall():
    lrs, losses, wall_lr = broken_network_curve()
    res = drive(losses)
    ax = res.plot(skip_start=int(np.searchsorted(res.lrs, wall_lr)) + 1)
    (smooth,) = [ln for ln in ax.get_lines() if ln.get_label() == "smoothed loss"]
    assert smooth.get_xdata()[0] > wall_lr                # nothing before the wall is drawn
    low, high = ax.get_ylim()                               # so the range is the whole curve
    assert low < smooth.get_ydata().min() and smooth.get_ydata().max() < high
    plt.close(ax.figure)


def test_warmup_cosine_from_warms_up_to_the_peak_and_decays_to_a_hundredth():
    schedule = warmup_cosine_from(0.2, num_epochs=5, steps_per_epoch=10)
    steps = np.arange(51)
    lrs = schedule(steps)
    np.testing.assert_allclose(lrs[:11], 0.2 * np.arange(11) / 10, atol=1e-12)  # warmup
    assert lrs.argmax() == 10 and lrs.max() == pytest.approx(0.2)
    assert np.all(np.diff(lrs[10:]) < 0)  # the cosine only goes down
    assert lrs[30] == pytest.approx(0.002 + 0.198 / 2)  # halfway through the cosine
    assert lrs[50] == pytest.approx(0.002) and schedule(80) == pytest.approx(0.002)
    no_warmup = warmup_cosine_from(0.2, 5, 10, warmup_epochs=0, final_div=1)
    np.testing.assert_allclose(no_warmup(steps), 0.2)


@pytest.mark.parametrize("kwargs, name", [
    (dict(peak_lr=0.0), "peak_lr"), (dict(peak_lr=float("nan")), "peak_lr"),
    (dict(num_epochs=0), "num_epochs"), (dict(num_epochs=2.5), "num_epochs"),
    (dict(steps_per_epoch=0), "steps_per_epoch"), (dict(warmup_epochs=-1), "warmup_epochs"),
    (dict(warmup_epochs=5), "warmup_epochs"), (dict(final_div=0.5), "final_div"),
])
def test_warmup_cosine_from_rejects_bad_parameters(kwargs, name):
    args = {**dict(peak_lr=0.2, num_epochs=5, steps_per_epoch=10), **kwargs}
    with pytest.raises(wrong_type_or_value(kwargs), match=name):
        warmup_cosine_from(**args)
