"""d2l_compat.schedules against each framework's native schedulers, at steps 0..60.

Every native is driven the way training drives it, and the mapping of arguments is
spelled out in each test, because these mappings are what the framework rooms use:

* torch: a scheduler is stepped once per ``t``; the lr at ``t`` is read back from the
  optimizer's param group before the t-th ``scheduler.step()``.
* MXNet: an ``lr_scheduler`` is *stateful* and must be called with increasing
  ``num_update``; its ``Optimizer`` calls it with ``num_update = t + 1`` for update
  ``t`` (the count is incremented first).
* optax: pure functions of the count, evaluated under ``jax.experimental.enable_x64``
  (otherwise float32 rounding alone exceeds rtol=1e-6 near final_lr = 0).
* Keras 3: pure functions of the step; float arguments are passed as ``np.float64``,
  which makes the schedule compute in float64 without touching global ``floatx``.

A framework that is not installed skips its tests, with the reason.
"""

import contextlib

import numpy as np
import pytest

from d2l_compat.schedules import (
    Constant,
    CosineScheduler,
    FactorScheduler,
    JoinedSchedule,
    MultiFactorScheduler,
    PolyScheduler,
    SquareRootScheduler,
    WarmupCosineDecay,
    join_schedules,
)

T = np.arange(61)
f64 = np.float64


def assert_agree(native, ours):
    np.testing.assert_allclose(np.asarray(native, dtype=np.float64), ours,
                               rtol=1e-6, atol=1e-12)


# Configurations exercised against every native that supports them.
COSINES = [
    CosineScheduler(20, 0.3, 0.01),  # D2L's "cosine 20, 0.3 -> 0.01"
    CosineScheduler(20, 0.3, 0.01, warmup_steps=5),  # "cosine + 5 warmup"
    CosineScheduler(30, 0.5, 0.0, warmup_steps=7, warmup_begin_lr=0.1),
    CosineScheduler(1, 0.2, 0.05),
    CosineScheduler(60, 0.1, 0.1, warmup_steps=59, warmup_begin_lr=0.02),
]
POLYS = [
    PolyScheduler(20, 0.3, pwr=2, final_lr=0.01),
    PolyScheduler(25, 0.5, pwr=1, final_lr=0.0, warmup_steps=5, warmup_begin_lr=0.1),
    PolyScheduler(40, 0.5, pwr=0.5, final_lr=0.05, warmup_steps=3),
    PolyScheduler(10, 1.0, pwr=3),
]
MULTIFACTORS = [
    MultiFactorScheduler([15, 30], factor=0.5, base_lr=0.5),  # D2L's multi-factor run
    MultiFactorScheduler([1, 2, 3, 50], factor=0.1, base_lr=1.0),
    MultiFactorScheduler([60], factor=0.9, base_lr=0.3),
    MultiFactorScheduler([10, 20], factor=1, base_lr=0.2),
]
cfg_id = repr


# ---------------------------------------------------------------- framework fixtures
@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="torch is not installed (extra 'torch')")


@pytest.fixture(scope="module")
def mx():
    import d2l_compat._mxnet_shim  # noqa: F401  (restores np.bool before mxnet imports)

    return pytest.importorskip("mxnet", reason="mxnet is not installed (extra 'mxnet')")


@pytest.fixture(scope="module")
def optax():
    pytest.importorskip("jax", reason="jax is not installed (extra 'jax')")
    return pytest.importorskip("optax", reason="optax is not installed (extra 'jax')")


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow", reason="tensorflow is not installed (extra 'tensorflow')")
    return pytest.importorskip("keras", reason="keras is not installed (extra 'tensorflow')")


# ------------------------------------------------------------------------- torch
def torch_lrs(torch, make_scheduler, lr):
    """The lr of epoch t = 0..60, read back from the optimizer (stepped once per t)."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    sched = make_scheduler(opt)
    lrs = []
    for _ in T:
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()  # no grad: a no-op, but keeps torch's step-order check quiet
        sched.step()
    return np.array(lrs)


@pytest.mark.parametrize("s", MULTIFACTORS, ids=cfg_id)
def test_torch_multisteplr(torch, s):
    native = torch_lrs(torch, lambda opt: torch.optim.lr_scheduler.MultiStepLR(
        opt, milestones=list(s.step), gamma=s.factor), s.base_lr)
    assert_agree(native, s(T))


@pytest.mark.parametrize("factor, base_lr", [(0.9, 0.5), (0.5, 0.1), (0.99, 1.0), (1, 0.3)])
def test_torch_exponentiallr_above_the_floor(torch, factor, base_lr):
    s = FactorScheduler(factor, stop_factor_lr=1e-8, base_lr=base_lr)
    native = torch_lrs(torch, lambda opt: torch.optim.lr_scheduler.ExponentialLR(
        opt, gamma=factor), base_lr)
    above = native >= s.stop_factor_lr
    assert above.sum() >= 20
    assert_agree(native[above], s(T)[above])
    # torch has no floor; below it ours holds stop_factor_lr exactly.
    np.testing.assert_array_equal(s(T)[~above], s.stop_factor_lr)


def test_factor_floor_where_torch_goes_below_it(torch):
    s = FactorScheduler(0.5, stop_factor_lr=1e-3, base_lr=0.1)  # 0.1 * 0.5^7 < 1e-3
    native = torch_lrs(torch, lambda opt: torch.optim.lr_scheduler.ExponentialLR(
        opt, gamma=0.5), 0.1)
    assert_agree(np.maximum(native, 1e-3), s(T))
    assert (native < 1e-3).sum() == 54 and np.all(s(T)[7:] == 1e-3)


@pytest.mark.parametrize("lr", [0.1, 0.3])
def test_torch_lambdalr_square_root(torch, lr):
    native = torch_lrs(torch, lambda opt: torch.optim.lr_scheduler.LambdaLR(
        opt, lambda epoch: (epoch + 1) ** -0.5), lr)
    assert_agree(native, SquareRootScheduler(lr)(T))


@pytest.mark.parametrize("s", [c for c in COSINES if c.warmup_steps == 0], ids=cfg_id)
def test_torch_cosineannealinglr_up_to_max_update(torch, s):
    # CosineAnnealingLR(T_max, eta_min) is our cosine without warmup for t <= T_max;
    # after T_max torch keeps following the cosine back up, ours stays at final_lr.
    native = torch_lrs(torch, lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=s.max_update, eta_min=s.final_lr), s.base_lr)
    upto = T <= s.max_update
    assert_agree(native[upto], s(T)[upto])


@pytest.mark.parametrize("max_update, pwr", [(20, 2.0), (30, 1.0), (45, 0.5)])
def test_torch_polynomiallr(torch, max_update, pwr):
    # PolynomialLR(total_iters, power) is our PolyScheduler with final_lr=0, no warmup.
    s = PolyScheduler(max_update, 0.3, pwr=pwr)
    native = torch_lrs(torch, lambda opt: torch.optim.lr_scheduler.PolynomialLR(
        opt, total_iters=max_update, power=pwr), 0.3)
    assert_agree(native, s(T))


# ------------------------------------------------------------------------- MXNet
def mx_sequential(scheduler, steps):
    """Call a (stateful) MXNet scheduler with increasing num_update, as a Trainer does."""
    return np.array([scheduler(int(n)) for n in steps])


def mx_args(s):
    return dict(max_update=s.max_update, base_lr=s.base_lr, final_lr=s.final_lr,
                warmup_steps=s.warmup_steps, warmup_begin_lr=s.warmup_begin_lr)


@pytest.mark.parametrize("s", COSINES, ids=cfg_id)
def test_mxnet_cosinescheduler(mx, s):
    native = mx_sequential(mx.lr_scheduler.CosineScheduler(**mx_args(s)), T)
    assert_agree(native, s(T))


@pytest.mark.parametrize("s", POLYS, ids=cfg_id)
def test_mxnet_polyscheduler(mx, s):
    native = mx_sequential(mx.lr_scheduler.PolyScheduler(pwr=s.pwr, **mx_args(s)), T)
    assert_agree(native, s(T))


@pytest.mark.parametrize("cls", ["CosineScheduler", "PolyScheduler"])
def test_mxnet_fresh_scheduler_past_max_update_returns_base_lr(mx, cls):
    # Documented native quirk (why bridges must keep one MXNet scheduler per run):
    # after max_update MXNet returns the *last value it computed*, so a fresh
    # object asked for t > max_update answers base_lr, not final_lr.
    ours = CosineScheduler(20, 0.3, 0.01) if cls == "CosineScheduler" else \
        PolyScheduler(20, 0.3, final_lr=0.01)
    fresh = getattr(mx.lr_scheduler, cls)(max_update=20, base_lr=0.3, final_lr=0.01)
    assert fresh(25) == 0.3 and ours(25) == 0.01


@pytest.mark.parametrize("s", MULTIFACTORS, ids=cfg_id)
def test_mxnet_multifactorscheduler_at_num_update_t_plus_1(mx, s):
    # MXNet decays once num_update > s (strictly), and its Optimizer passes
    # num_update = t + 1 for update t: so update t gets ours(t).
    native = mx_sequential(mx.lr_scheduler.MultiFactorScheduler(
        step=list(s.step), factor=s.factor, base_lr=s.base_lr), T + 1)
    assert_agree(native, s(T))


@pytest.mark.parametrize("factor, stop, base_lr", [(0.9, 1e-8, 0.5), (0.5, 1e-3, 0.1)])
def test_mxnet_factorscheduler_step_1_at_num_update_t_plus_1(mx, factor, stop, base_lr):
    native = mx_sequential(mx.lr_scheduler.FactorScheduler(
        step=1, factor=factor, stop_factor_lr=stop, base_lr=base_lr), T + 1)
    assert_agree(native, FactorScheduler(factor, stop, base_lr)(T))


def test_mxnet_optimizer_asks_for_num_update_t_plus_1(mx):
    asked = []
    opt = mx.optimizer.SGD(lr_scheduler=lambda n: asked.append(n) or 0.1)
    weight, grad = mx.nd.zeros(1), mx.nd.zeros(1)
    state = opt.create_state(0, weight)
    for _ in range(3):
        opt.update(0, weight, grad, state)
    assert asked == [1, 2, 3]


# ------------------------------------------------------------------------- optax
@contextlib.contextmanager
def x64():
    from jax.experimental import enable_x64

    with enable_x64():
        yield


def to_optax(optax, s):
    """The optax schedule equal to ``s`` (recursively for joined schedules)."""
    import jax.numpy as jnp

    if isinstance(s, Constant):
        return optax.constant_schedule(s.lr)
    if isinstance(s, SquareRootScheduler):  # optax has none; its formula, in jnp
        return lambda count: s.lr / jnp.sqrt(count + 1.0)
    if isinstance(s, FactorScheduler):
        if s.factor == 1:
            # optax.exponential_decay treats end_value as an UPPER bound when
            # decay_rate >= 1, so factor 1 maps to a constant instead.
            return optax.constant_schedule(max(s.base_lr, s.stop_factor_lr))
        return optax.exponential_decay(init_value=s.base_lr, transition_steps=1,
                                       decay_rate=s.factor, end_value=s.stop_factor_lr)
    if isinstance(s, MultiFactorScheduler):
        return optax.piecewise_constant_schedule(
            init_value=s.base_lr, boundaries_and_scales={b: s.factor for b in s.step})
    if isinstance(s, CosineScheduler):
        return optax.warmup_cosine_decay_schedule(
            init_value=s.warmup_begin_lr, peak_value=s.base_lr,
            warmup_steps=s.warmup_steps, decay_steps=s.max_update, end_value=s.final_lr)
    if isinstance(s, PolyScheduler):
        w = s.warmup_steps
        return optax.join_schedules([
            optax.linear_schedule(s.warmup_begin_lr, s.base_lr, transition_steps=w),
            optax.polynomial_schedule(s.base_lr, s.final_lr, power=s.pwr,
                                      transition_steps=s.max_update - w)], [w])
    if isinstance(s, WarmupCosineDecay):
        w, h = s.warmup_steps, s.hold
        if h == 0:
            return optax.warmup_cosine_decay_schedule(
                init_value=s.start_lr, peak_value=s.target_lr, warmup_steps=w,
                decay_steps=s.total_steps, end_value=s.final_lr)
        return optax.join_schedules([
            optax.linear_schedule(s.start_lr, s.target_lr, transition_steps=w),
            optax.constant_schedule(s.target_lr),
            optax.cosine_decay_schedule(s.target_lr, decay_steps=s.total_steps - w - h,
                                        alpha=s.final_lr / s.target_lr)], [w, w + h])
    if isinstance(s, JoinedSchedule):
        return optax.join_schedules([to_optax(optax, p) for p in s.schedules],
                                    list(s.boundaries))
    raise TypeError(s)


def optax_values(optax, s):
    with x64():
        return np.asarray(to_optax(optax, s)(T))


@pytest.mark.parametrize("s", COSINES, ids=cfg_id)
def test_optax_warmup_cosine_decay_schedule(optax, s):
    assert_agree(optax_values(optax, s), s(T))


@pytest.mark.parametrize("s", [
    WarmupCosineDecay(20, 5, start_lr=0.0, target_lr=0.3, final_lr=0.01),
    WarmupCosineDecay(40, 0, target_lr=0.1),
    WarmupCosineDecay(30, 10, start_lr=0.05, target_lr=0.2, final_lr=0.02),
], ids=cfg_id)
def test_optax_warmup_cosine_decay_equals_hold_0(optax, s):
    assert_agree(optax_values(optax, s), s(T))


@pytest.mark.parametrize("s", [
    WarmupCosineDecay(30, 5, hold=5, start_lr=0.01, target_lr=0.1, final_lr=0.001),
    WarmupCosineDecay(50, 0, hold=10, target_lr=0.3),
    WarmupCosineDecay(45, 20, hold=24, start_lr=0.0, target_lr=0.5, final_lr=0.05),
], ids=cfg_id)
def test_optax_join_of_linear_constant_cosine_equals_hold(optax, s):
    assert_agree(optax_values(optax, s), s(T))


@pytest.mark.parametrize("s", MULTIFACTORS, ids=cfg_id)
def test_optax_piecewise_constant_schedule(optax, s):
    assert_agree(optax_values(optax, s), s(T))


@pytest.mark.parametrize("s", [FactorScheduler(0.9, 1e-3, 0.5), FactorScheduler(0.5, 1e-2, 1.0),
                               FactorScheduler(1, 1e-8, 0.3)], ids=cfg_id)
def test_optax_exponential_decay_with_end_value_is_the_floor(optax, s):
    assert_agree(optax_values(optax, s), s(T))


@pytest.mark.parametrize("s", POLYS, ids=cfg_id)
def test_optax_polynomial_schedule_after_linear_warmup(optax, s):
    assert_agree(optax_values(optax, s), s(T))


JOINS = [
    join_schedules([Constant(0.1), CosineScheduler(10, 0.1), Constant(0.001)], [5, 15]),
    join_schedules([CosineScheduler(10, 0.3, 0.1, warmup_steps=3),
                    MultiFactorScheduler([5, 10], 0.5, 0.1),
                    PolyScheduler(15, 0.05, pwr=1)], [10, 30]),
    join_schedules([join_schedules([Constant(1.0), SquareRootScheduler(2.0)], [3]),
                    FactorScheduler(0.8, 1e-2, 0.5)], [20]),
    join_schedules([Constant(0.5), WarmupCosineDecay(20, 4, hold=2, target_lr=0.2)], [0]),
    join_schedules([SquareRootScheduler(0.1)], []),
]


@pytest.mark.parametrize("s", JOINS, ids=cfg_id)
def test_optax_join_schedules(optax, s):
    assert_agree(optax_values(optax, s), s(T))


def test_optax_scalar_counts_agree_too(optax):
    # optax.inject_hyperparams and friends call the schedule with a scalar count.
    s = CosineScheduler(20, 0.3, 0.01, warmup_steps=5)
    with x64():
        f = to_optax(optax, s)
        native = [float(f(int(t))) for t in T]
    assert_agree(native, s(T))


# ------------------------------------------------------------------------- Keras
def keras_values(schedule):
    return np.array([float(schedule(int(t))) for t in T])


@pytest.mark.parametrize("s", COSINES, ids=cfg_id)
def test_keras_cosinedecay_with_warmup(keras, s):
    # Keras starts from initial_learning_rate, warms up to warmup_target over
    # warmup_steps, then decays over decay_steps *after* the warmup, to alpha * target.
    native = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=f64(s.warmup_begin_lr), decay_steps=s.max_update - s.warmup_steps,
        alpha=s.final_lr / s.base_lr, warmup_target=f64(s.base_lr),
        warmup_steps=s.warmup_steps)
    assert_agree(keras_values(native), s(T))


@pytest.mark.parametrize("s", MULTIFACTORS, ids=cfg_id)
def test_keras_piecewiseconstantdecay_boundaries_shifted_by_one(keras, s):
    # Keras switches to values[i+1] only for step > boundaries[i]; ours decays at
    # step == s, so the Keras boundaries are s - 1.
    values = [f64(s.base_lr * s.factor**i) for i in range(len(s.step) + 1)]
    native = keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries=[b - 1 for b in s.step], values=values)
    assert_agree(keras_values(native), s(T))


@pytest.mark.parametrize("factor, base_lr", [(0.9, 0.5), (0.5, 0.1)])
def test_keras_exponentialdecay_above_the_floor(keras, factor, base_lr):
    s = FactorScheduler(factor, stop_factor_lr=0, base_lr=base_lr)
    native = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=f64(base_lr), decay_steps=1, decay_rate=f64(factor))
    assert_agree(keras_values(native), s(T))


@pytest.mark.parametrize("s", [p for p in POLYS if p.warmup_steps == 0], ids=cfg_id)
def test_keras_polynomialdecay(keras, s):
    native = keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=f64(s.base_lr), decay_steps=s.max_update,
        end_learning_rate=f64(s.final_lr), power=f64(s.pwr))
    assert_agree(keras_values(native), s(T))


# ------------------------------------------- the same formulas inside compiled graphs
from test_schedules import EXAMPLES  # noqa: E402  (tests/ is on sys.path)


@pytest.mark.parametrize("schedule", list(EXAMPLES.values()), ids=list(EXAMPLES))
def test_evaluate_under_jax_jit_equals_call(schedule):
    jax = pytest.importorskip("jax", reason="jax is not installed (extra 'jax')")
    with jax.experimental.enable_x64():
        lr = jax.jit(lambda t: schedule.evaluate(t, jax.numpy))(jax.numpy.asarray(T, float))
        assert_agree(lr, schedule(T))


@pytest.mark.parametrize("schedule", list(EXAMPLES.values()), ids=list(EXAMPLES))
def test_evaluate_in_a_tf_function_equals_call(schedule):
    tf = pytest.importorskip("tensorflow", reason="tensorflow is not installed")
    tnp = tf.experimental.numpy
    lr = tf.function(lambda t: schedule.evaluate(t, tnp))(tf.constant(T, tf.float64))
    assert_agree(lr.numpy(), schedule(T))
