"""What only the JAX room has: the flax LeNet, optax schedules and state, msgpack checkpoints.

The room contract (training, lr read-back, find_lr) is tested in tests/test_rooms.py.
"""


import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
flax = pytest.importorskip("flax")

import jax.numpy as jnp  # noqa: E402

from d2l_compat import jax as d2l  # noqa: E402
from d2l_compat.schedules import schedule_to_config  # noqa: E402
from d2l_compat.lr_finder import lr_sweep  # noqa: E402
from test_rooms import SCHEDULES, without_timings  # noqa: E402

pytestmark = pytest.mark.slow  # trains networks: left out of make unit

QUIET = dict(animator=False, verbose=False)


@pytest.fixture(scope="module")
def data():
    return d2l.load_data_fashion_mnist(batch_size=256)


def assert_same_params(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ------------------------------------------------------------------------ model, data
def test_flax_lenet_layers_bound_to_the_params():
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


# ------------------------------------------------------------------- schedule adapter


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
def test_train_leaves_params_and_optimizer_state_on_the_net(data):
    train_iter, test_iter = data
    net = d2l.lenet()
    history = d2l.train(net, train_iter, test_iter, 2, lr=0.3, **QUIET)
    # train left its parameters on the net: evaluating it gives the last test accuracy
    assert d2l.evaluate_accuracy_gpu(net, test_iter) == history.test_acc[-1]
    assert int(net.opt_state.count) == 2 * len(train_iter)


def test_native_optax_schedule_per_epoch(data):
    train_iter, test_iter = data
    native = optax.piecewise_constant_schedule(0.4, {1: 0.5, 2: 0.5})
    history = d2l.train(d2l.lenet(), train_iter, test_iter, 3, lr=0.1, scheduler=native,
                        **QUIET)
    np.testing.assert_allclose(history.lr, [0.4, 0.2, 0.1], rtol=1e-6)
    assert history.schedule is None and history.schedule_unit == "epoch"


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
    assert without_timings(half)["epochs"] == without_timings(full)["epochs"]
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


def test_a_scheduler_with_a_given_optimizer_sets_its_lr_before_every_update(data):
    """optax schedules live inside the optimizer: with ``optimizer=``, the scheduler is
    set with ``set_lr`` before every update, which needs a number-valued lr."""
    train_iter, test_iter = data
    s = d2l.MultiFactorScheduler([1], factor=0.5, base_lr=0.4)
    h = d2l.train(d2l.lenet(), train_iter, test_iter, 2, 0.1, scheduler=s,
                  optimizer=d2l.sgd(0.1), **QUIET)
    np.testing.assert_allclose(h.lr, [0.4, 0.2], rtol=1e-6)
    assert h.schedule == schedule_to_config(s) and h.schedule_unit == "epoch"
    with pytest.raises(ValueError, match="scheduler.*number"):
        d2l.train(d2l.lenet(), train_iter, test_iter, 1, 0.1, scheduler=s,
                  optimizer=d2l.sgd(d2l.optax_schedule(s)))


def test_train_needs_an_inject_hyperparams_optimizer(data):
    train_iter, test_iter = data
    with pytest.raises(ValueError, match="inject_hyperparams"):
        d2l.train(d2l.lenet(), train_iter, test_iter, 1, 0.1, optimizer=optax.sgd(0.1))


def test_the_jax_extras_docstring_examples_pass():
    import doctest

    from d2l_compat import jax_kernels, optax_extras
    for module in (jax_kernels, optax_extras):
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


def test_the_jax_room_leaves_64_bit_mode_off():
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


# ------------------------------------------- issue 5: two styles, momentum, resuming
def warmup_cosine(steps_per_epoch, epochs=2):
    return d2l.WarmupCosineDecay(epochs * steps_per_epoch, warmup_steps=3, hold=2,
                                 start_lr=0.0, target_lr=0.2, final_lr=0.001)


def test_optax_schedule_num_steps_tabulates_the_exact_float32_values():
    s = d2l.WarmupCosineDecay(470, warmup_steps=24, hold=47, target_lr=0.2)
    t = np.arange(600)
    formula = jax.jit(d2l.optax_schedule(s))(jnp.asarray(t))
    exact = jax.jit(d2l.optax_schedule(s, num_steps=470))(jnp.asarray(t))
    assert not np.array_equal(np.asarray(formula)[:470], np.float32(s(t[:470])))  # float32 math
    np.testing.assert_array_equal(np.asarray(exact)[:470], np.float32(s(t[:470])))
    np.testing.assert_array_equal(np.asarray(exact)[470:], np.asarray(formula)[470:])
    per_epoch = jax.jit(d2l.optax_schedule(s, steps_per_epoch=3, num_steps=100))
    np.testing.assert_array_equal(per_epoch(jnp.arange(300)), np.float32(s(np.arange(300) // 3)))
    with pytest.raises(ValueError, match="num_steps"):
        d2l.optax_schedule(s, num_steps=0)


def test_lr_hook_and_optax_schedule_train_bit_identical_params(data):
    train_iter, test_iter = data
    s = warmup_cosine(len(train_iter))
    hook_net, owned_net = d2l.lenet(), d2l.lenet()
    hook = d2l.train(hook_net, train_iter, test_iter, 2, 0.2, lr_hook=s, **QUIET)
    owned = d2l.train(owned_net, train_iter, test_iter, 2, 0.2, scheduler=s,
                      schedule_unit="update", **QUIET)
    assert hook.schedule_unit == owned.schedule_unit == "update"
    assert hook.schedule == owned.schedule == schedule_to_config(s)
    assert hook.step_lrs == owned.step_lrs and hook.lr == owned.lr
    np.testing.assert_array_equal([lr for _, lr in hook.step_lrs],
                                  np.float32(s(np.array([u for u, _ in hook.step_lrs]))))
    assert hook.lr[0] == 0.0
    # same lrs, same batches, same init: the same training, bit for bit
    assert without_timings(hook)["epochs"] == without_timings(owned)["epochs"]
    assert_same_params(hook_net.params, owned_net.params)
    # the hook leaves a number-valued lr in the state; the owned schedule keeps a count
    assert float(d2l.current_lr(hook_net.opt_state)) == np.float32(s(2 * len(train_iter) - 1))
    assert int(owned_net.opt_state.count) == 2 * len(train_iter)


def test_lr_hook_sets_every_update_through_the_optimizer_state(data, monkeypatch):
    train_iter, test_iter = data
    applied = []
    original = d2l.set_lr

    def spy(opt_state, lr):  # what the loop sets, before each update
        applied.append(lr)
        return original(opt_state, lr)

    monkeypatch.setattr(d2l, "set_lr", spy)
    net = d2l.lenet()
    history = d2l.train(net, train_iter, test_iter, 1, 0.5, lr_hook=lambda u: 0.01 * (u + 1),
                        **QUIET)
    steps = len(train_iter)
    assert applied == pytest.approx([0.01 * (u + 1) for u in range(steps)], rel=1e-12)
    np.testing.assert_allclose([lr for _, lr in history.step_lrs],
                               [0.01 * (u + 1) for u, _ in history.step_lrs], rtol=1e-6)
    assert float(d2l.current_lr(net.opt_state)) == pytest.approx(0.01 * steps, rel=1e-6)
    assert history.schedule is None and history.schedule_unit == "update"


def test_set_lr_sgd_and_lr_hook_validate_the_optax_state(data):
    train_iter, test_iter = data
    s = d2l.Constant(0.1)
    with pytest.raises(ValueError, match="number"):
        d2l.train(d2l.lenet(), train_iter, test_iter, 1, 0.1, lr_hook=s, **QUIET,
                  optimizer=d2l.sgd(d2l.optax_schedule(s)))
    with pytest.raises(ValueError, match="momentum"):
        d2l.sgd(0.1, momentum=1.0)
    params = {"w": jnp.zeros(2)}
    scheduled = d2l.sgd(d2l.optax_schedule(s)).init(params)
    with pytest.raises(ValueError, match="schedule"):
        d2l.set_lr(scheduled, 0.5)
    plain = d2l.set_lr(d2l.sgd(0.1).init(params), 0.5)
    assert float(d2l.current_lr(plain)) == 0.5
    _, plain = jax.jit(d2l.sgd(0.1).update)(params, plain, params)
    assert float(d2l.current_lr(plain)) == 0.5  # a number-valued lr is kept by the update


def test_momentum_is_optax_heavy_ball_sgd():
    # v <- 0.9 v + g; w <- w - lr v: two steps with gradient 1 at lr 0.1
    w = {"w": jnp.zeros(())}
    opt = d2l.sgd(0.1, momentum=0.9)
    state = opt.init(w)
    for _ in range(2):
        u, state = opt.update({"w": jnp.ones(())}, state, w)
        w = optax.apply_updates(w, u)
    assert float(w["w"]) == pytest.approx(-0.1 * (1 + 1.9), rel=1e-6)
    assert float(state.hyperparams["momentum"]) == pytest.approx(0.9)
    assert "momentum" not in d2l.sgd(0.1).init(w).hyperparams  # plain SGD: no buffer


def test_msgpack_checkpoint_resumes_a_per_update_warmup_cosine(data, tmp_path):
    """2 epochs, to_bytes to a file, from_bytes into a new net, 2 more == 4 uninterrupted."""
    import json

    train_iter, test_iter = data
    steps = len(train_iter)
    s = d2l.WarmupCosineDecay(4 * steps, warmup_steps=steps, hold=2, start_lr=0.0,
                              target_lr=0.2, final_lr=0.0)
    kwargs = dict(scheduler=s, schedule_unit="update", momentum=0.9, **QUIET)
    whole_net = d2l.lenet()
    whole = d2l.train(whole_net, train_iter, test_iter, 4, 0.2, **kwargs)

    net = d2l.lenet()
    part = d2l.train(net, train_iter, test_iter, 2, 0.2, **kwargs)
    (tmp_path / "state.msgpack").write_bytes(net.to_bytes())  # params + opt_state (+count)
    (tmp_path / "history.json").write_text(json.dumps(part.to_dict()))
    del net

    restored = d2l.lenet(seed=7).from_bytes((tmp_path / "state.msgpack").read_bytes())
    history = d2l.History.from_dict(json.loads((tmp_path / "history.json").read_text()))
    resumed = d2l.train(restored, train_iter, test_iter, 4, 0.2, history=history,
                        start_epoch=2, **kwargs)
    assert resumed.step_lrs == whole.step_lrs and resumed.lr == whole.lr
    assert resumed.schedule == whole.schedule == schedule_to_config(s)
    np.testing.assert_array_equal([lr for _, lr in resumed.step_lrs],
                                  np.float32(s(np.array([u for u, _ in resumed.step_lrs]))))
    assert without_timings(resumed)["epochs"] == without_timings(whole)["epochs"]
    assert_same_params(restored.params, whole_net.params)
    assert_same_params(restored.opt_state, whole_net.opt_state)  # momentum buffers, count
    assert int(restored.opt_state.count) == 4 * steps
    # momentum=0.9 built optax's heavy-ball SGD, whose buffers the checkpoint carried
    assert float(restored.opt_state.hyperparams["momentum"]) == pytest.approx(0.9)
    assert jax.tree_util.tree_leaves(restored.opt_state.inner_state)


# ---------------------------------------------------------------- issue 6: find_lr
def test_find_lr_never_replaces_the_nets_params_or_opt_state(data):
    net = d2l.lenet()
    net.opt_state = d2l.sgd(0.1, momentum=0.9).init(net.params)  # as if trained before
    params, opt_state = net.params, net.opt_state
    before = jax.tree_util.tree_map(np.array, (params, opt_state))
    result = d2l.find_lr(net, data[0], num_steps=20)
    assert net.params is params and net.opt_state is opt_state
    assert_same_params(net.params, before[0])  # still valid buffers, same values
    assert_same_params(net.opt_state, before[1])
    # the lr read back is the planned one rounded to float32, exactly
    np.testing.assert_array_equal(result.lrs, np.float32(lr_sweep(1e-7, 10.0, 20)))
