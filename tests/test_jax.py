"""The JAX room (flax.linen + optax): model, data, training, lr read-back, schedule adapter."""

import math

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
flax = pytest.importorskip("flax")

import jax.numpy as jnp  # noqa: E402

from d2l_compat import jax as d2l  # noqa: E402
from d2l_compat.schedules import schedule_to_config  # noqa: E402

QUIET = dict(animator=False, verbose=False)
TIMINGS = ("seconds", "examples_per_sec")


@pytest.fixture(scope="module")
def data():
    return d2l.load_data_fashion_mnist(batch_size=256)


def metrics_without_timings(history):
    return [{k: v for k, v in vars(r).items() if k not in TIMINGS} for r in history.epochs]


def assert_same_params(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ------------------------------------------------------------------------ model, data
def test_lenet_output_shape_layers_and_parameter_count():
    net = d2l.lenet()
    assert net.num_params == 61_706
    assert net(jnp.zeros((4, 28, 28, 1))).shape == (4, 10)
    X, shapes = jnp.zeros((1, 28, 28, 1)), []
    for layer in net.layers:
        X = layer(X)
        shapes.append((type(layer).__name__, X.shape))
    assert shapes == [
        ("Conv", (1, 28, 28, 6)), ("ReLU", (1, 28, 28, 6)), ("MaxPool2D", (1, 14, 14, 6)),
        ("Conv", (1, 10, 10, 16)), ("ReLU", (1, 10, 10, 16)), ("MaxPool2D", (1, 5, 5, 16)),
        ("Flatten", (1, 400)), ("Dense", (1, 120)), ("ReLU", (1, 120)),
        ("Dense", (1, 84)), ("ReLU", (1, 84)), ("Dense", (1, 10))]


def test_max_pool_matches_flax_max_pool():
    import flax.linen as nn
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 10, 10, 4))
    np.testing.assert_array_equal(d2l.MaxPool2D(2, 2).apply({}, x),
                                  nn.max_pool(x, (2, 2), (2, 2)))


def test_init_is_seeded_xavier_uniform_with_zero_biases():
    params = d2l.lenet(seed=0).params
    kernels = {name: p["kernel"] for name, p in params.items()}
    assert len(kernels) == 5
    for name, w in kernels.items():
        w = np.asarray(w)
        receptive = int(np.prod(w.shape[:-2])) if w.ndim == 4 else 1
        fan_in, fan_out = w.shape[-2] * receptive, w.shape[-1] * receptive
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert np.abs(w).max() <= bound, name
        assert np.abs(w).max() > 0.9 * bound, name        # uniform over the whole range
        assert abs(w.std() - bound / math.sqrt(3)) < 0.15 * bound, name
        np.testing.assert_array_equal(np.asarray(params[name]["bias"]), 0)
    assert_same_params(d2l.lenet(seed=0).params, params)
    assert not np.array_equal(np.asarray(d2l.lenet(seed=1).params["layers_0"]["kernel"]),
                              np.asarray(params["layers_0"]["kernel"]))


def test_load_data_fashion_mnist_shapes_dtypes_len(data):
    train_iter, test_iter = data
    assert len(train_iter) == math.ceil(2_000 / 256) and len(test_iter) == math.ceil(1_000 / 256)
    X, y = next(iter(train_iter))
    assert isinstance(X, jax.Array) and isinstance(y, jax.Array)
    assert X.shape == (256, 28, 28, 1) and X.dtype == jnp.float32
    assert y.shape == (256,) and y.dtype == jnp.int32
    assert 0.0 <= float(X.min()) and float(X.max()) <= 1.0
    assert sum(int(y.shape[0]) for _, y in test_iter) == 1_000


# ------------------------------------------------------------------- schedule adapter
SCHEDULES = [
    d2l.Constant(0.3),
    d2l.SquareRootScheduler(lr=0.1),
    d2l.FactorScheduler(factor=0.9, stop_factor_lr=1e-2, base_lr=2.0),
    d2l.MultiFactorScheduler(step=[15, 30], factor=0.5, base_lr=0.5),
    d2l.CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01),
    d2l.CosineScheduler(20, warmup_steps=5, base_lr=0.3, final_lr=0.01),
    d2l.PolyScheduler(max_update=40, base_lr=0.5, pwr=2, warmup_steps=3),
    d2l.WarmupCosineDecay(total_steps=50, warmup_steps=5, hold=5, target_lr=0.1),
    d2l.join_schedules([d2l.Constant(0.1), d2l.SquareRootScheduler(0.1)], [5]),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_optax_schedule_jitted_equals_core_schedule(schedule):
    steps = np.arange(61)
    per_update = jax.jit(d2l.optax_schedule(schedule))
    got = np.array([float(per_update(t)) for t in steps])  # scalar counts, as optax does
    np.testing.assert_allclose(got, schedule(steps), rtol=1e-5, atol=1e-7)  # float32
    np.testing.assert_allclose(per_update(jnp.asarray(steps)), schedule(steps),
                               rtol=1e-5, atol=1e-7)
    per_epoch = jax.jit(d2l.optax_schedule(schedule, steps_per_epoch=7))
    np.testing.assert_allclose(per_epoch(jnp.arange(200)), schedule(np.arange(200) // 7),
                               rtol=1e-5, atol=1e-7)


def test_optax_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="steps_per_epoch"):
        d2l.optax_schedule(d2l.Constant(0.1), steps_per_epoch=0)
    with pytest.raises(ValueError, match="schedule"):
        d2l.optax_schedule(lambda t: 0.1)


def _run_updates(optimizer, opt_state, params, n):
    """``n`` SGD updates with zero gradients; the lr each applied, read back."""
    grads = jax.tree_util.tree_map(jnp.zeros_like, params)
    update = jax.jit(optimizer.update)
    lrs = []
    for _ in range(n):
        _, opt_state = update(grads, opt_state, params)
        lrs.append(float(d2l.current_lr(opt_state)))
    return opt_state, lrs


def test_inject_hyperparams_holds_the_lr_of_the_last_update():
    """optax evaluates the schedule at the count before incrementing it."""
    schedule = d2l.SquareRootScheduler(lr=1.0)
    optimizer = d2l.sgd(d2l.optax_schedule(schedule))
    params = {"w": jnp.zeros(3)}
    opt_state = optimizer.init(params)
    assert float(d2l.current_lr(opt_state)) == pytest.approx(schedule(0))  # the first update's
    opt_state, lrs = _run_updates(optimizer, opt_state, params, 5)
    np.testing.assert_allclose(lrs, schedule(np.arange(5)), rtol=1e-6)  # update k: schedule(k)
    assert int(opt_state.count) == 5


def test_optimizer_state_save_restore_continues_the_lr_sequence():
    schedule = d2l.MultiFactorScheduler(step=[2, 4], factor=0.5, base_lr=0.4)
    optimizer = d2l.sgd(d2l.optax_schedule(schedule, steps_per_epoch=3))
    params = {"w": jnp.zeros(3)}
    _, uninterrupted = _run_updates(optimizer, optimizer.init(params), params, 18)
    state, first = _run_updates(optimizer, optimizer.init(params), params, 7)  # mid-epoch
    blob = flax.serialization.to_bytes(state)
    restored = flax.serialization.from_bytes(optimizer.init(params), blob)
    assert int(restored.count) == 7
    _, rest = _run_updates(optimizer, restored, params, 11)
    assert first + rest == uninterrupted
    np.testing.assert_allclose(uninterrupted, schedule(np.arange(18) // 3), rtol=1e-6)


# --------------------------------------------------------------------------- training
def test_train_two_epochs_history(data, results_tmp):
    train_iter, test_iter = data
    net = d2l.lenet()
    history = d2l.train(net, train_iter, test_iter, 2, lr=0.3, **QUIET)
    assert [r.epoch for r in history.epochs] == [0, 1]
    assert history.framework == "jax" and history.device == "cpu" and history.seed == 0
    assert history.mode == "smoke" and history.schedule is None
    assert history.schedule_unit is None
    assert history.versions["jax"] == jax.__version__ and "optax" in history.versions
    assert history.data_source
    for r in history.epochs:
        assert all(math.isfinite(v) for v in (r.train_loss, r.train_acc, r.test_acc))
        assert 0 <= r.train_acc <= 1 and 0 <= r.test_acc <= 1
        assert r.examples_per_sec > 0 and r.seconds > 0
    np.testing.assert_allclose(history.lr, [0.3, 0.3], rtol=1e-6)
    spe = len(train_iter)
    assert [s for s, _ in history.step_lrs] == [s for s in range(2 * spe) if s % 10 == 0]
    # train left its parameters on the net: evaluating it gives the last test accuracy
    assert d2l.evaluate_accuracy_gpu(net, test_iter) == history.test_acc[-1]
    assert int(net.opt_state.count) == 2 * spe
    path = d2l.record_run("lenet", "baseline", history)
    assert path.exists() and results_tmp in path.parents


def test_per_epoch_schedule_lr_read_back_and_plotting_changes_nothing(data):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train_iter, test_iter = data
    schedule = d2l.MultiFactorScheduler(step=[2, 4], factor=0.5, base_lr=0.4)
    d2l.plot_schedules(schedule, 30)  # plotting / calling a schedule before training ...
    schedule(np.arange(30))
    plt.close("all")
    history = d2l.train(d2l.lenet(), train_iter, test_iter, 5, lr=0.1, scheduler=schedule,
                        **QUIET)
    # ... changes nothing: epoch t trained with schedule(t), read back from optax
    np.testing.assert_allclose(history.lr, schedule(np.arange(5)), rtol=1e-6)
    np.testing.assert_allclose(history.lr, [0.4, 0.4, 0.2, 0.2, 0.1], rtol=1e-6)
    spe = len(train_iter)
    steps = np.array([s for s, _ in history.step_lrs])
    np.testing.assert_allclose([lr for _, lr in history.step_lrs], schedule(steps // spe),
                               rtol=1e-6)
    assert history.schedule == schedule_to_config(schedule)
    assert history.schedule_unit == "epoch"


def test_per_update_schedule_lr_read_back(data):
    train_iter, test_iter = data
    spe = len(train_iter)
    schedule = d2l.CosineScheduler(max_update=2 * spe, base_lr=0.3, final_lr=0.01)
    history = d2l.train(d2l.lenet(), train_iter, test_iter, 2, lr=0.1, scheduler=schedule,
                        schedule_unit="update", **QUIET)
    steps = np.array([s for s, _ in history.step_lrs])
    assert len(steps) >= 2
    np.testing.assert_allclose([lr for _, lr in history.step_lrs], schedule(steps),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(history.lr, schedule(np.arange(2) * spe), rtol=1e-6)
    assert history.schedule_unit == "update"


def test_native_optax_schedule_per_epoch(data):
    train_iter, test_iter = data
    native = optax.piecewise_constant_schedule(0.4, {1: 0.5, 2: 0.5})
    history = d2l.train(d2l.lenet(), train_iter, test_iter, 3, lr=0.1, scheduler=native,
                        **QUIET)
    np.testing.assert_allclose(history.lr, [0.4, 0.2, 0.1], rtol=1e-6)
    assert history.schedule is None and history.schedule_unit == "epoch"


def test_same_run_twice_is_identical(data):
    train_iter, test_iter = data
    runs = []
    for _ in range(2):
        net = d2l.lenet(seed=3)
        history = d2l.train(net, train_iter, test_iter, 2, lr=0.3, seed=3, **QUIET)
        runs.append((net, history))
    (net_a, a), (net_b, b) = runs
    assert metrics_without_timings(a) == metrics_without_timings(b)
    assert a.step_lrs == b.step_lrs
    assert_same_params(net_a.params, net_b.params)


def test_save_restore_mid_run_resumes_identically(data):
    train_iter, test_iter = data
    schedule = d2l.MultiFactorScheduler(step=[2, 4], factor=0.5, base_lr=0.4)
    net = d2l.lenet()
    full = d2l.train(net, train_iter, test_iter, 4, lr=0.1, scheduler=schedule, **QUIET)

    first = d2l.lenet()
    half = d2l.train(first, train_iter, test_iter, 2, lr=0.1, scheduler=schedule, **QUIET)
    blob = first.to_bytes()
    resumed = d2l.lenet(seed=7).from_bytes(blob)  # another init: everything comes from blob
    d2l.train(resumed, train_iter, test_iter, 4, lr=0.1, scheduler=schedule,
              history=half, start_epoch=2, **QUIET)
    assert metrics_without_timings(half) == metrics_without_timings(full)
    assert half.step_lrs == full.step_lrs
    np.testing.assert_allclose(half.lr, schedule(np.arange(4)), rtol=1e-6)
    assert_same_params(resumed.params, net.params)
    assert int(resumed.opt_state.count) == 4 * len(train_iter)


def test_resume_rejects_a_state_from_another_epoch(data):
    train_iter, test_iter = data
    net = d2l.lenet()
    d2l.train(net, train_iter, test_iter, 1, lr=0.1, **QUIET)
    with pytest.raises(ValueError, match="start_epoch=2"):
        d2l.train(net, train_iter, test_iter, 3, lr=0.1, start_epoch=2, **QUIET)


def test_train_rejects_bad_arguments(data):
    train_iter, test_iter = data
    with pytest.raises(ValueError, match="'minibatch'"):
        d2l.train(d2l.lenet(), train_iter, test_iter, 1, 0.1, schedule_unit="minibatch")
    with pytest.raises(ValueError, match="optimizer"):
        d2l.train(d2l.lenet(), train_iter, test_iter, 1, 0.1, scheduler=d2l.Constant(0.1),
                  optimizer=d2l.sgd(0.1))
    with pytest.raises(ValueError, match="inject_hyperparams"):
        d2l.train(d2l.lenet(), train_iter, test_iter, 1, 0.1, optimizer=optax.sgd(0.1))


def test_room_reexports_and_no_global_state():
    for name in ("Animator", "plot", "set_figsize", "show_images", "Accumulator", "Timer",
                 "record_run", "compare_with_d2l", "load_fashion_mnist",
                 "get_fashion_mnist_labels", "plot_schedules", "CosineScheduler",
                 "MultiFactorScheduler", "SquareRootScheduler", "FactorScheduler"):
        assert hasattr(d2l, name), name
    assert d2l.FRAMEWORK == "jax"
    assert not jax.config.jax_enable_x64


@pytest.mark.parametrize("shapes", [((4, 28, 28, 1), (5, 5, 1, 6), 2),
                                    ((4, 14, 14, 6), (5, 5, 6, 16), "VALID"),
                                    ((3, 9, 7, 2), (3, 2, 2, 4), "SAME")])
def test_conv_as_matmul_equals_lax_convolution(shapes):
    import flax.linen as nn
    x_shape, k_shape, padding = shapes
    x = jax.random.uniform(jax.random.PRNGKey(0), x_shape)
    ref = nn.Conv(k_shape[-1], k_shape[:2], padding=padding)
    ours = nn.Conv(k_shape[-1], k_shape[:2], padding=padding,
                   conv_general_dilated=d2l.conv_as_matmul)
    params = ref.init(jax.random.PRNGKey(1), x)
    np.testing.assert_allclose(jax.jit(ours.apply)(params, x), jax.jit(ref.apply)(params, x),
                               atol=1e-5)

    def grads(module):
        return jax.jit(jax.grad(lambda p, x: (module.apply(p, x) ** 2).sum(),
                                argnums=(0, 1)))(params, x)

    for a, b in zip(jax.tree_util.tree_leaves(grads(ours)), jax.tree_util.tree_leaves(grads(ref))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(jnp.abs(b).max()))
    strided = nn.Conv(4, (3, 3), strides=2, conv_general_dilated=d2l.conv_as_matmul)
    assert strided.apply(strided.init(jax.random.PRNGKey(0), x), x).shape[1] == -(-x_shape[1] // 2)
