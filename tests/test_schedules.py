"""Core semantics of d2l_compat.schedules (no deep-learning framework needed).

Spot values are worked out by hand from the DESIGN.md formulas, so a wrong formula
cannot pass by agreeing with itself.
"""

import json
import math
import re

import numpy as np
import pytest

from d2l_compat import schedules as S
from d2l_compat.schedules import (
    Constant,
    CosineScheduler,
    FactorScheduler,
    JoinedSchedule,
    MultiFactorScheduler,
    PolyScheduler,
    Schedule,
    SquareRootScheduler,
    WarmupCosineDecay,
    join_schedules,
    schedule_from_config,
    schedule_to_config,
)


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


# One of each kind, with warmups and floors switched on where they exist.
EXAMPLES = {
    "constant": Constant(0.3),
    "sqrt": SquareRootScheduler(lr=0.1),
    "factor": FactorScheduler(factor=0.9, stop_factor_lr=1e-3, base_lr=0.5),
    "multifactor": MultiFactorScheduler(step=[15, 30], factor=0.5, base_lr=0.5),
    "cosine": CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01),
    "cosine_warmup": CosineScheduler(20, 0.3, 0.01, warmup_steps=5, warmup_begin_lr=0.05),
    "poly": PolyScheduler(max_update=10, base_lr=1.0, pwr=0.5, final_lr=0.1,
                          warmup_steps=2, warmup_begin_lr=0.2),
    "warmup_cosine_decay": WarmupCosineDecay(30, 5, hold=5, start_lr=0.01,
                                             target_lr=0.1, final_lr=0.001),
    "joined": join_schedules([Constant(0.1), CosineScheduler(10, 0.1), Constant(0.001)],
                             [5, 15]),
    "nested_join": join_schedules(
        [join_schedules([Constant(1), SquareRootScheduler(2)], [3]),
         MultiFactorScheduler([2], 0.5, 4)], [10]),
}
ids = list(EXAMPLES)
examples = list(EXAMPLES.values())


# ------------------------------------------------------------- hand-computed values
@pytest.mark.parametrize("schedule, expected", [
    (Constant(0.3), {0: 0.3, 7: 0.3, 10**6: 0.3}),
    (SquareRootScheduler(0.1), {0: 0.1, 3: 0.05, 8: 0.1 / 3, 99: 0.01}),
    # 1.0 * 0.5^t, floored at 0.01: 0.5^6 = 0.015625, 0.5^7 = 0.0078125 < 0.01.
    (FactorScheduler(0.5, stop_factor_lr=0.01, base_lr=1.0),
     {0: 1.0, 1: 0.5, 3: 0.125, 6: 0.015625, 7: 0.01, 500: 0.01}),
    (FactorScheduler(1, base_lr=0.2), {0: 0.2, 50: 0.2}),
    (MultiFactorScheduler([15, 30], 0.5, 0.5),
     {0: 0.5, 14: 0.5, 15: 0.25, 29: 0.25, 30: 0.125, 1000: 0.125}),
    (MultiFactorScheduler([3]), {0: 0.1, 3: 0.1, 9: 0.1}),  # factor=1 by default
    # w = 5, T = 17: warmup 0.05 -> 0.3 in steps of 0.05; progress (t-5)/12.
    (CosineScheduler(17, 0.3, 0.01, warmup_steps=5, warmup_begin_lr=0.05),
     {0: 0.05, 1: 0.1, 4: 0.25, 5: 0.3,
      9: 0.01 + 0.29 * 0.75,   # cos(pi/3) = 1/2
      11: 0.01 + 0.29 * 0.5,   # cos(pi/2) = 0
      13: 0.01 + 0.29 * 0.25,  # cos(2pi/3) = -1/2
      17: 0.01, 18: 0.01, 1000: 0.01}),
    (CosineScheduler(20, 0.3, 0.01), {0: 0.3, 10: 0.155, 20: 0.01, 21: 0.01}),
    # w = 2, T = 10: progress (t-2)/8.
    (PolyScheduler(10, 1.0, pwr=2, final_lr=0.1, warmup_steps=2, warmup_begin_lr=0.2),
     {0: 0.2, 1: 0.6, 2: 1.0, 4: 0.1 + 0.9 * 0.75**2, 6: 0.1 + 0.9 * 0.25,
      10: 0.1, 11: 0.1}),
    (PolyScheduler(10, 1.0, pwr=1, final_lr=0.1, warmup_steps=2),
     {4: 0.1 + 0.9 * 0.75, 8: 0.1 + 0.9 * 0.25}),
    # a fractional power must stay finite after max_update (no negative base).
    (PolyScheduler(10, 1.0, pwr=0.5, final_lr=0.1, warmup_steps=2),
     {8: 0.1 + 0.9 * 0.5, 10: 0.1, 20: 0.1}),
    # w = 5, h = 5, T = 30: warmup 0.01 -> 0.1, hold 0.1 on 5..10, progress (t-10)/20.
    (WarmupCosineDecay(30, 5, hold=5, start_lr=0.01, target_lr=0.1, final_lr=0.001),
     {0: 0.01, 2: 0.046, 5: 0.1, 9: 0.1, 10: 0.1, 20: 0.001 + 0.099 * 0.5,
      30: 0.001, 31: 0.001}),
    (WarmupCosineDecay(10, 0, target_lr=0.2), {0: 0.2, 5: 0.1, 10: 0.0}),
])
def test_spot_values_by_hand(schedule, expected):
    for t, lr in expected.items():
        assert isinstance(schedule(t), float)
        close(schedule(t), lr)


def test_join_restarts_each_piece_at_its_boundary():
    s = join_schedules([Constant(0.1), CosineScheduler(10, 0.1), Constant(0.001)], [5, 15])
    close([s(t) for t in (0, 4, 5, 10, 14, 15, 100)],
          [0.1, 0.1, 0.1, 0.05, 0.1 * (1 + math.cos(0.9 * math.pi)) / 2, 0.001, 0.001])


def test_nested_joins():
    inner = join_schedules([Constant(2), SquareRootScheduler(4)], [2])
    s = join_schedules([Constant(1), inner], [3])
    # t=5 -> inner(2) -> sqrt piece at 0 -> 4; t=8 -> inner(5) -> 4 / sqrt(4) = 2.
    close([s(t) for t in (2, 3, 4, 5, 8)], [1, 2, 2, 4, 2])
    s = join_schedules([join_schedules([Constant(1), Constant(2)], [3]), Constant(5)], [10])
    close([s(t) for t in (2, 3, 9, 10)], [1, 2, 2, 5])


def test_join_of_one_schedule_is_that_schedule():
    s = join_schedules([SquareRootScheduler(0.1)], [])
    close(s(np.arange(50)), SquareRootScheduler(0.1)(np.arange(50)))


def test_boundary_zero_skips_the_first_schedule():
    s = join_schedules([Constant(1), SquareRootScheduler(1)], [0])
    close(s(np.arange(5)), 1 / np.sqrt(np.arange(1, 6)))


def test_warmup_cosine_decay_without_hold_is_cosine_scheduler():
    t = np.arange(80)
    close(WarmupCosineDecay(50, 7, start_lr=0.02, target_lr=0.4, final_lr=0.03)(t),
          CosineScheduler(50, 0.4, 0.03, warmup_steps=7, warmup_begin_lr=0.02)(t))


def test_warmup_can_go_down_and_decay_can_go_up():
    # Nothing in the formulas needs warmup_begin_lr <= base_lr or final_lr <= base_lr.
    s = CosineScheduler(10, 0.1, final_lr=0.3, warmup_steps=2, warmup_begin_lr=0.5)
    close([s(0), s(1), s(2), s(10)], [0.5, 0.3, 0.1, 0.3])


def test_factor_floor_applies_even_at_step_zero():
    close(FactorScheduler(0.5, stop_factor_lr=0.2, base_lr=0.1)(0), 0.2)


# ----------------------------------------------------------------- invalid params
def C(lr=1.0):
    return Constant(lr)


INVALID = [
    # (factory, name that the message must mention, the error: TypeError for a wrong
    # type, ValueError for a value of the right type out of range)
    (lambda: Constant(-0.1), "lr", ValueError),
    (lambda: Constant(float("nan")), "lr", ValueError),
    (lambda: Constant(float("inf")), "lr", ValueError),
    (lambda: Constant("0.1"), "lr", TypeError),
    (lambda: Constant(True), "lr", TypeError),
    (lambda: SquareRootScheduler(lr=-1), "lr", ValueError),
    (lambda: FactorScheduler(1.5), "factor", ValueError),
    (lambda: FactorScheduler(0), "factor", ValueError),
    (lambda: FactorScheduler(-0.5), "factor", ValueError),
    (lambda: FactorScheduler(float("nan")), "factor", ValueError),
    (lambda: FactorScheduler(0.9, stop_factor_lr=-1e-8), "stop_factor_lr", ValueError),
    (lambda: FactorScheduler(0.9, base_lr=float("inf")), "base_lr", ValueError),
    (lambda: MultiFactorScheduler([]), "step", ValueError),
    (lambda: MultiFactorScheduler([30, 15]), "step", ValueError),
    (lambda: MultiFactorScheduler([15, 15]), "step", ValueError),
    (lambda: MultiFactorScheduler([0, 15]), "step", ValueError),
    (lambda: MultiFactorScheduler([-5]), "step", ValueError),
    (lambda: MultiFactorScheduler([1.5]), "step", TypeError),
    (lambda: MultiFactorScheduler([True, 5]), "step", TypeError),
    (lambda: MultiFactorScheduler(15), "step", TypeError),
    (lambda: MultiFactorScheduler([15], factor=2), "factor", ValueError),
    (lambda: MultiFactorScheduler([15], base_lr=-0.1), "base_lr", ValueError),
    (lambda: CosineScheduler(0), "max_update", ValueError),
    (lambda: CosineScheduler(-5), "max_update", ValueError),
    (lambda: CosineScheduler(20.0), "max_update", TypeError),
    (lambda: CosineScheduler(20, warmup_steps=-1), "warmup_steps", ValueError),
    (lambda: CosineScheduler(20, warmup_steps=20), "warmup_steps", ValueError),
    (lambda: CosineScheduler(20, warmup_steps=25), "warmup_steps", ValueError),
    (lambda: CosineScheduler(20, warmup_steps=2.5), "warmup_steps", TypeError),
    (lambda: CosineScheduler(20, base_lr=-1), "base_lr", ValueError),
    (lambda: CosineScheduler(20, final_lr=float("nan")), "final_lr", ValueError),
    (lambda: CosineScheduler(20, warmup_begin_lr=-0.1), "warmup_begin_lr", ValueError),
    (lambda: PolyScheduler(10, pwr=0), "pwr", ValueError),
    (lambda: PolyScheduler(10, pwr=-1), "pwr", ValueError),
    (lambda: PolyScheduler(10, pwr=float("inf")), "pwr", ValueError),
    (lambda: PolyScheduler(0), "max_update", ValueError),
    (lambda: PolyScheduler(10, warmup_steps=10), "warmup_steps", ValueError),
    (lambda: PolyScheduler(10, final_lr=-1), "final_lr", ValueError),
    (lambda: WarmupCosineDecay(0, 0), "total_steps", ValueError),
    (lambda: WarmupCosineDecay(10, 11), "warmup_steps", ValueError),
    (lambda: WarmupCosineDecay(10, -1), "warmup_steps", ValueError),
    (lambda: WarmupCosineDecay(10, 2, hold=-1), "hold", ValueError),
    (lambda: WarmupCosineDecay(10, 2, hold=1.5), "hold", TypeError),
    (lambda: WarmupCosineDecay(10, 5, hold=6), "warmup_steps + hold", ValueError),
    (lambda: WarmupCosineDecay(10, 5, hold=5), "warmup_steps + hold", ValueError),
    (lambda: WarmupCosineDecay(10, 2, start_lr=float("inf")), "start_lr", ValueError),
    (lambda: WarmupCosineDecay(10, 2, target_lr=-1), "target_lr", ValueError),
    (lambda: WarmupCosineDecay(10, 2, final_lr=-1), "final_lr", ValueError),
    (lambda: join_schedules([C(), C()], []), "boundaries", ValueError),
    (lambda: join_schedules([C()], [5]), "boundaries", ValueError),
    (lambda: join_schedules([C(), C(), C()], [10, 5]), "boundaries", ValueError),
    (lambda: join_schedules([C(), C(), C()], [5, 5]), "boundaries", ValueError),
    (lambda: join_schedules([C(), C()], [-1]), "boundaries", ValueError),
    (lambda: join_schedules([C(), C()], [2.5]), "boundaries", TypeError),
    (lambda: join_schedules([C(), lambda t: 0.1], [5]), "schedules[1]", TypeError),
    (lambda: join_schedules([C(), 0.1], [5]), "schedules[1]", TypeError),
    (lambda: join_schedules([], []), "schedules", ValueError),
    (lambda: join_schedules(C(), []), "schedules", TypeError),
    (lambda: schedule_from_config({"class": "Nope", "config": {}}), "class", ValueError),
    (lambda: schedule_from_config({"lr": 0.1}), "config", ValueError),
    (lambda: schedule_to_config(lambda t: 0.1), "schedule", TypeError),
]


@pytest.mark.parametrize("factory, name, error", INVALID)
def test_invalid_parameter_raises_the_rule_s_error_naming_it(factory, name, error):
    with pytest.raises(error, match=re.escape(name)) as raised:
        factory()
    assert type(raised.value) is error


def test_error_message_format():
    with pytest.raises(ValueError, match=r"^factor must be a number in \(0, 1\], got 1\.5$"):
        FactorScheduler(1.5)
    with pytest.raises(ValueError, match=r"^warmup_steps must be < max_update \(20\), got 20$"):
        CosineScheduler(20, warmup_steps=20)


def test_validation_accepts_numpy_scalars_and_stores_python_types():
    s = CosineScheduler(np.int64(20), np.float32(0.5), warmup_steps=np.int32(2))
    cfg = s.get_config()
    assert type(cfg["max_update"]) is int and type(cfg["warmup_steps"]) is int
    assert type(cfg["base_lr"]) is float
    assert MultiFactorScheduler(np.array([3, 7])).get_config()["step"] == [3, 7]


# ------------------------------------------------------------------ invalid steps
@pytest.mark.parametrize("step", [-1, np.int64(-3), np.array([0, -1])], ids=repr)
def test_negative_step_raises_value_error_naming_step(step):
    with pytest.raises(ValueError, match="step"):
        Constant(0.1)(step)


@pytest.mark.parametrize("step", [
    1.5, 3.0, np.float64(2.0), float("nan"), True, np.bool_(False),
    np.array([1.5]), np.array([3.0]), np.array([True]), [1, 2.5], 1 + 2j,
], ids=repr)
def test_non_integer_step_raises_type_error_naming_step(step):
    with pytest.raises(TypeError, match="step"):
        Constant(0.1)(step)


@pytest.mark.parametrize("step", ["3", None, object(), np.array(["a"]), [[1, 2], [3]]],
                         ids=["str", "None", "object", "str-array", "ragged-list"])
def test_non_numeric_step_raises_type_error_naming_step(step):
    with pytest.raises(TypeError, match="step"):
        CosineScheduler(10)(step)


# ---------------------------------------------------------------- scalar / vector
@pytest.mark.parametrize("schedule", examples, ids=ids)
def test_scalar_in_float_out(schedule):
    for t in (0, 7, np.int64(7), np.uint8(7), np.int32(7), 10**30):
        assert type(schedule(t)) is float


@pytest.mark.parametrize("schedule", examples, ids=ids)
def test_vectorised_equals_scalar_calls(schedule):
    t = np.arange(61)
    out = schedule(t)
    assert out.dtype == np.float64 and out.shape == (61,)
    np.testing.assert_array_equal(out, [schedule(int(i)) for i in t])


@pytest.mark.parametrize("schedule", examples, ids=ids)
def test_array_shape_and_dtypes_are_preserved(schedule):
    t = np.arange(24).reshape(2, 3, 4)
    out = schedule(t)
    assert out.shape == (2, 3, 4) and out.dtype == np.float64
    for dtype in (np.int8, np.int32, np.uint16, np.uint64):
        np.testing.assert_array_equal(schedule(t.astype(dtype)), out)
    np.testing.assert_array_equal(schedule(t.tolist()), out)  # nested lists too
    assert schedule(np.array(5)).shape == ()  # 0-d in, 0-d out
    assert schedule(np.array([], dtype=int)).shape == (0,)
    assert schedule([]).shape == (0,)


@pytest.mark.parametrize("schedule", examples, ids=ids)
def test_values_are_finite_and_non_negative(schedule):
    out = schedule(np.arange(100_000))
    assert np.all(np.isfinite(out)) and np.all(out >= 0)


def test_call_emits_no_numpy_warnings():
    with np.errstate(all="raise"):
        for s in examples:
            s(np.arange(1000))
            s(0)


# ---------------------------------------------------------------- config and repr
@pytest.mark.parametrize("schedule", examples, ids=ids)
def test_from_config_inverts_get_config(schedule):
    again = type(schedule).from_config(schedule.get_config())
    assert again == schedule and again is not schedule
    np.testing.assert_array_equal(again(np.arange(61)), schedule(np.arange(61)))


@pytest.mark.parametrize("schedule", examples, ids=ids)
def test_json_round_trip(schedule):
    text = json.dumps(schedule_to_config(schedule))
    again = schedule_from_config(json.loads(text))
    assert type(again) is type(schedule) and again == schedule
    np.testing.assert_array_equal(again(np.arange(61)), schedule(np.arange(61)))


def walk(value):
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


@pytest.mark.parametrize("schedule", examples, ids=ids)
def test_config_holds_plain_json_types_only(schedule):
    for value in walk(schedule_to_config(schedule)):
        assert type(value) in (dict, list, str, int, float), value


def test_get_config_is_exactly_the_constructor_arguments():
    assert CosineScheduler(20, 0.3, 0.01).get_config() == {
        "max_update": 20, "base_lr": 0.3, "final_lr": 0.01, "warmup_steps": 0,
        "warmup_begin_lr": 0}
    assert MultiFactorScheduler((15, 30), 0.5, 0.5).get_config() == {
        "step": [15, 30], "factor": 0.5, "base_lr": 0.5}
    assert WarmupCosineDecay(30, 5).get_config() == {
        "total_steps": 30, "warmup_steps": 5, "hold": 0, "start_lr": 0,
        "target_lr": 1e-3, "final_lr": 0}
    assert PolyScheduler(10).get_config() == {
        "max_update": 10, "base_lr": 0.01, "pwr": 2, "final_lr": 0, "warmup_steps": 0,
        "warmup_begin_lr": 0}
    assert FactorScheduler(0.5).get_config() == {
        "factor": 0.5, "stop_factor_lr": 1e-8, "base_lr": 0.1}
    assert SquareRootScheduler().get_config() == {"lr": 0.1}
    assert Constant(1).get_config() == {"lr": 1}
    assert join_schedules([Constant(1), SquareRootScheduler()], [3]).get_config() == {
        "schedules": [{"class": "Constant", "config": {"lr": 1}},
                      {"class": "SquareRootScheduler", "config": {"lr": 0.1}}],
        "boundaries": [3]}


def test_mutating_a_config_does_not_touch_the_schedule():
    s = MultiFactorScheduler([15, 30], 0.5, 0.5)
    s.get_config()["step"].append(40)
    assert s.get_config()["step"] == [15, 30]
    j = EXAMPLES["joined"]
    j.get_config()["schedules"][0]["config"]["lr"] = 99
    assert j(0) == 0.1


def test_step_list_given_by_caller_is_copied():
    steps = [15, 30]
    s = MultiFactorScheduler(steps, 0.5, 0.5)
    steps.append(16)
    assert s(16) == 0.25


def test_repr():
    assert repr(CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01)) == (
        "CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01, warmup_steps=0, "
        "warmup_begin_lr=0)")
    assert repr(MultiFactorScheduler([15, 30], 0.5, 0.5)) == (
        "MultiFactorScheduler(step=[15, 30], factor=0.5, base_lr=0.5)")
    assert repr(join_schedules([Constant(0.1), Constant(0.2)], [3])) == (
        "JoinedSchedule(schedules=[Constant(lr=0.1), Constant(lr=0.2)], boundaries=[3])")


@pytest.mark.parametrize("schedule", examples, ids=ids)
def test_repr_evaluates_to_an_equal_schedule(schedule):
    assert eval(repr(schedule), vars(S)) == schedule


def test_equality_and_hash():
    a, b = CosineScheduler(20, 0.3), CosineScheduler(20, 0.3)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != CosineScheduler(20, 0.3, warmup_steps=1)
    assert Constant(0.1) != SquareRootScheduler(0.1)  # same config, different class
    assert Constant(0.1) != 0.1
    assert join_schedules([a], []) == join_schedules([b], [])
    assert hash(join_schedules([a], [])) == hash(join_schedules([b], []))
    assert Constant(1) == Constant(1.0) and hash(Constant(1)) == hash(Constant(1.0))


def test_every_public_class_is_serialisable():
    classes = {c for c in vars(S).values()
               if isinstance(c, type) and issubclass(c, Schedule) and c is not Schedule}
    assert classes == {type(s) for s in examples}


# ---------------------------------------------------------------- statelessness
@pytest.mark.parametrize("schedule", examples, ids=ids)
def test_calls_do_not_change_the_schedule(schedule):
    config, t = schedule.get_config(), np.arange(61)
    reference = schedule(t)
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(t)
    for i in shuffled:  # any order, any number of times
        schedule(int(i))
    np.testing.assert_array_equal(schedule(shuffled), reference[shuffled])
    np.testing.assert_array_equal(schedule(t), reference)
    assert schedule.get_config() == config


def test_schedules_are_immutable():
    s = FactorScheduler(0.5)
    with pytest.raises(AttributeError, match="immutable"):
        s.base_lr = 1.0
    with pytest.raises(AttributeError):
        s.step_count = 3
    assert s.get_config()["base_lr"] == 0.1


def test_schedule_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        Schedule()(0)


# ---------------------------------------------------------------------- plotting
def test_plot_draws_each_schedule_and_changes_nothing(monkeypatch):
    mpl = pytest.importorskip("matplotlib", reason="plot_schedules needs matplotlib")
    from matplotlib.figure import Figure

    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show was called"))
    rc_before = dict(mpl.rcParams)
    configs = [s.get_config() for s in examples]
    values = [s(np.arange(30)) for s in examples]

    ax = Figure().add_subplot()  # no pyplot figure manager involved
    returned = S.plot_schedules(examples, 30, labels=ids, ax=ax, xlabel="step")
    assert returned is ax
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ids
    for line, v in zip(lines, values):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(30))
        np.testing.assert_array_equal(line.get_ydata(), v)
    assert ax.get_xlabel() == "step" and ax.get_legend() is not None

    assert [s.get_config() for s in examples] == configs
    for s, v in zip(examples, values):
        np.testing.assert_array_equal(s(np.arange(30)), v)
    assert dict(mpl.rcParams) == rc_before


def test_plot_single_schedule_on_new_figure():
    pytest.importorskip("matplotlib", reason="plot_schedules needs matplotlib")
    import matplotlib.pyplot as plt

    ax = S.plot_schedules(CosineScheduler(20, 0.3), 25)
    try:
        assert len(ax.get_lines()) == 1 and ax.get_legend() is None
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "learning rate"
    finally:
        plt.close(ax.figure)


def test_plot_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="labels"):
        S.plot_schedules([Constant(1), Constant(2)], 10, labels=["one"])
    with pytest.raises(ValueError, match="num_steps"):
        S.plot_schedules(Constant(1), 0)


def test_module_imports_no_framework_or_matplotlib():
    import subprocess
    import sys

    code = ("import sys, d2l_compat.schedules; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'mxnet', 'jax', 'matplotlib')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
