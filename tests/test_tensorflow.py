"""What only the TensorFlow room has: Keras schedules and callbacks, model.save checkpoints.

The room contract (training, lr read-back, find_lr) is tested in tests/test_rooms.py.
"""

import functools
import os
import random
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="tensorflow is not installed (extra 'tensorflow')")

import keras  # noqa: E402

from d2l_compat import tensorflow as d2l  # noqa: E402
from d2l_compat.schedules import (Constant, CosineScheduler,  # noqa: E402
                                  MultiFactorScheduler, PolyScheduler,
                                  WarmupCosineDecay, join_schedules, schedule_to_config)
from test_rooms import SCHEDULES, without_timings  # noqa: E402
from test_rooms import run as run_in  # noqa: E402

pytestmark = pytest.mark.slow  # trains networks: left out of make unit

BATCH = 256
F32 = dict(rtol=1e-6, atol=1e-9)  # Keras holds learning rates as float32
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.fixture(scope="module")
def data():
    return d2l.load_data_fashion_mnist(BATCH)


run = functools.partial(run_in, d2l)


def lr_at(optimizer, iteration):
    optimizer.iterations.assign(iteration)
    return float(optimizer.learning_rate)


# ----------------------------------------------------------------------- model, data
def test_keras_lenet_layers_and_activations():
    net = d2l.lenet()
    assert tuple(net(tf.zeros((3, 28, 28, 1))).shape) == (3, 10)
    assert net.count_params() == 61_706
    X, shapes = tf.zeros((1, 28, 28, 1)), []
    for layer in net.layers:
        X = layer(X)
        shapes.append(tuple(X.shape))
    assert shapes == [(1, 28, 28, 6), (1, 14, 14, 6), (1, 10, 10, 16), (1, 5, 5, 16),
                      (1, 400), (1, 120), (1, 84), (1, 10)]
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense",
        "Dense"]
    activations = [getattr(layer, "activation", None) for layer in net.layers]
    assert [a.__name__ for a in activations if a is not None] == ["relu"] * 4 + ["linear"]


def test_lenet_leaves_global_random_state_alone():
    # the weights (the same in every room) are checked in tests/test_lenet_weights.py
    np_state, py_state = np.random.get_state(), random.getstate()
    d2l.lenet(seed=0)
    assert random.getstate() == py_state, "lenet changed Python's global RNG"
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_state))


def test_importing_the_tensorflow_room_changes_no_global_state():
    code = (
        "import os, random\n"
        "import matplotlib, numpy as np, tensorflow as tf\n"
        "rc = dict(matplotlib.rcParams); env = dict(os.environ)\n"
        "np_state = np.random.get_state(); py_state = random.getstate()\n"
        "from d2l_compat import tensorflow as d2l\n"
        "assert dict(matplotlib.rcParams) == rc\n"
        "env.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')  # the one documented setting\n"
        "assert dict(os.environ) == env\n"
        "assert random.getstate() == py_state\n"
        "assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_state))\n"
        "from tensorflow.python.framework import config\n"
        "assert not config.is_op_determinism_enabled()\n"
        "assert tf.config.threading.get_intra_op_parallelism_threads() == 0\n"
        "from tensorflow.python.framework import random_seed\n"
        "assert random_seed.get_seed(None) == (None, None)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("given, enabled", [(None, True), ("0", False)])
def test_the_room_turns_on_tensorflow_s_onednn_kernels_unless_told_otherwise(given, enabled):
    """Without AVX-512 TensorFlow leaves its oneDNN kernels off by default; the room turns
    them on before TensorFlow loads, and a value the user set wins."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if given is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = given
    code = ("import os\nfrom d2l_compat import tensorflow as d2l\n"
            "from tensorflow.python.util import _pywrap_util_port\n"
            "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], _pywrap_util_port.IsMklEnabled())")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    assert run.stdout.split() == [given or "1", str(enabled)]


def test_importing_the_room_prints_no_native_log_lines():
    """TensorFlow's oneDNN/absl lines at import time would be log noise in every notebook."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run([sys.executable, "-c", "from d2l_compat import tensorflow as d2l\n"
                          "import sys; print('after import', file=sys.stderr)"],
                         capture_output=True, text=True, env=env, check=True)
    assert run.stderr == "after import\n"


# ----------------------------------------------------------------------- training
def test_train_with_a_native_keras_schedule_per_epoch_and_per_update(data):
    steps = len(data[0])
    # Keras' boundaries are inclusive on the left piece: value[i+1] from boundary[i] + 1 on.
    native = keras.optimizers.schedules.PiecewiseConstantDecay([0, 1], [0.4, 0.2, 0.1])
    h = run(data, 3, native)  # counted in epochs (wrapped in PerEpoch)
    np.testing.assert_allclose(h.lr, [0.4, 0.2, 0.1], **F32)
    assert h.schedule is None and h.schedule_unit == "epoch"
    native = keras.optimizers.schedules.PiecewiseConstantDecay([steps // 2], [0.2, 0.1])
    h = run(data, 1, native, schedule_unit="update")  # counted in updates
    assert h.schedule_unit == "update"
    for update, lr in h.step_lrs:
        assert lr == pytest.approx(0.2 if update <= steps // 2 else 0.1, rel=1e-6)


# ----------------------------------------------------------------------- KerasSchedule
@pytest.mark.parametrize("s", SCHEDULES, ids=repr)
def test_keras_schedule_matches_the_core_eagerly_in_a_graph_and_under_xla(s):
    adapter = d2l.KerasSchedule(s)
    t = np.arange(45)
    eager = [float(adapter(int(u))) for u in t]
    graph = tf.function(lambda u: tf.map_fn(adapter, u, fn_output_signature=tf.float32))
    xla = tf.function(lambda u: tf.map_fn(adapter, u, fn_output_signature=tf.float32),
                      jit_compile=True)
    steps = tf.constant(t, tf.int64)
    np.testing.assert_allclose(eager, s(t), **F32)
    np.testing.assert_allclose(graph(steps).numpy(), s(t), **F32)
    np.testing.assert_allclose(xla(steps).numpy(), s(t), **F32)


def test_keras_schedule_per_epoch_holds_each_epoch_and_reads_back_from_sgd():
    s = MultiFactorScheduler([2], factor=0.5, base_lr=0.4)
    adapter = d2l.KerasSchedule(s, steps_per_epoch=3)
    np.testing.assert_allclose([float(adapter(u)) for u in range(9)],
                               [0.4] * 6 + [0.2] * 3, **F32)
    sgd = keras.optimizers.SGD(adapter)
    assert [lr_at(sgd, u) for u in (0, 5, 6, 8)] == pytest.approx([0.4, 0.4, 0.2, 0.2])


def test_keras_schedule_config_round_trip_and_validation():
    s = SCHEDULES[-1]
    adapter = d2l.KerasSchedule(s, steps_per_epoch=7)
    config = adapter.get_config()
    assert config == {"schedule": schedule_to_config(s), "steps_per_epoch": 7}
    again = d2l.KerasSchedule.from_config(config)
    assert again.schedule == s and again.steps_per_epoch == 7
    round_trip = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(adapter))
    assert isinstance(round_trip, d2l.KerasSchedule) and round_trip.schedule == s
    with pytest.raises(ValueError, match="steps_per_epoch"):
        d2l.KerasSchedule(s, steps_per_epoch=0)
    with pytest.raises(TypeError, match="steps_per_epoch"):
        d2l.KerasSchedule(s, steps_per_epoch=2.0)
    with pytest.raises(ValueError, match="schedule"):
        d2l.KerasSchedule(lambda t: 0.1)


def test_model_save_and_load_keeps_the_schedule_and_training_resumes(data, tmp_path):
    train_iter, test_iter = data
    steps = len(train_iter)
    s = MultiFactorScheduler([1, 3], factor=0.5, base_lr=0.4)

    def compiled(net):
        opt = keras.optimizers.SGD(d2l.KerasSchedule(s, steps_per_epoch=steps))
        net.compile(optimizer=opt, loss=LOSS)
        return net, opt

    full_net, full_opt = compiled(d2l.lenet())
    full = run(data, 4, net=full_net, optimizer=full_opt)
    net, opt = compiled(d2l.lenet())
    first = run(data, 2, net=net, optimizer=opt)
    assert int(opt.iterations) == 2 * steps
    net.save(tmp_path / "lenet.keras")

    loaded = keras.models.load_model(tmp_path / "lenet.keras")
    opt2 = loaded.optimizer
    restored = d2l.attached_schedule(opt2)  # through Keras' public config
    assert isinstance(restored, d2l.KerasSchedule)
    assert restored.schedule == s and restored.steps_per_epoch == steps
    assert int(opt2.iterations) == 2 * steps
    for a, b in zip(net.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)
    for u in (0, steps - 1, steps, 3 * steps - 1, 3 * steps, 10 * steps):
        assert lr_at(opt2, u) == lr_at(opt, u) == pytest.approx(s(u // steps), rel=1e-6), u
    opt2.iterations.assign(2 * steps)

    resumed = run(data, 4, net=loaded, optimizer=opt2, history=first, start_epoch=2)
    assert resumed.schedule == schedule_to_config(s) and resumed.schedule_unit == "epoch"
    np.testing.assert_allclose(resumed.lr, [s(t) for t in range(4)], **F32)
    assert resumed.step_lrs == full.step_lrs
    assert without_timings(resumed)["epochs"] == without_timings(full)["epochs"]


def test_per_epoch_wraps_a_native_schedule_and_round_trips():
    native = keras.optimizers.schedules.CosineDecay(0.3, decay_steps=20, alpha=0.01 / 0.3)
    wrapped = d2l.PerEpoch(native, steps_per_epoch=5)
    ours = CosineScheduler(20, base_lr=0.3, final_lr=0.01)
    updates = np.arange(0, 120, 7)
    np.testing.assert_allclose([float(wrapped(u)) for u in updates], ours(updates // 5), **F32)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(wrapped))
    assert isinstance(again, d2l.PerEpoch) and again.steps_per_epoch == 5
    assert again.schedule.get_config() == native.get_config()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        d2l.PerEpoch(native, None)
    with pytest.raises(ValueError, match="schedule"):
        d2l.PerEpoch(ours, 5)


def test_evaluate_accuracy_accepts_plain_batches_and_a_d2l_style_device(data):
    net = d2l.lenet()
    X, y = data[1].X, data[1].y
    plain = [(X[i:i + 100], y[i:i + 100].astype(np.int64)) for i in range(0, 1000, 100)]
    acc = d2l.evaluate_accuracy_gpu(net, plain, device=tf.device("/CPU:0"))
    expected = float(np.mean(np.argmax(net.predict(X, verbose=0), axis=1) == y))
    assert acc == pytest.approx(expected) and acc == d2l.evaluate_accuracy_gpu(net, data[1])


# ----------------------------------------------------------------------- callbacks
def fit_with(callback, epochs, data, **kwargs):
    X, y = data[0].X[:512], data[0].y[:512]  # two batches of the smoke subset
    net = d2l.lenet()
    net.compile(optimizer=keras.optimizers.SGD(0.05), loss=LOSS)
    seen = []
    probe = keras.callbacks.LambdaCallback(  # reads the lr the batch is about to use
        on_train_batch_begin=lambda batch, logs: seen.append(
            float(net.optimizer.learning_rate)))
    logs = net.fit(X, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
                   callbacks=[callback, probe], **kwargs)
    return seen, logs.history


def test_learning_rate_setter_per_epoch_with_model_fit(data):
    s = MultiFactorScheduler([1, 3], factor=0.5, base_lr=0.4)
    setter = d2l.LearningRateSetter(s)
    seen, logs = fit_with(setter, 4, data)
    expected = [s(t) for t in range(4)]
    np.testing.assert_allclose(seen, np.repeat(expected, 2), **F32)  # 2 batches per epoch
    np.testing.assert_allclose([lr for _, lr in setter.lrs], expected, **F32)
    assert [t for t, _ in setter.lrs] == [0, 1, 2, 3]
    np.testing.assert_allclose(logs["learning_rate"], expected, **F32)


def test_learning_rate_setter_per_update_with_model_fit(data):
    s = CosineScheduler(6, base_lr=0.3, final_lr=0.01, warmup_steps=2)
    seen, _ = fit_with(d2l.LearningRateSetter(s, unit="update"), 4, data)
    np.testing.assert_allclose(seen, s(np.arange(8)), **F32)


def test_learning_rate_setter_validates_and_refuses_a_schedule_optimizer(data):
    with pytest.raises(ValueError, match="unit.*'batch'"):
        d2l.LearningRateSetter(Constant(0.1), unit="batch")
    X, y = data[0].X[:256], data[0].y[:256]
    net = d2l.lenet()
    net.compile(optimizer=keras.optimizers.SGD(d2l.KerasSchedule(Constant(0.1))), loss=LOSS)
    with pytest.raises(TypeError, match="KerasSchedule"):
        net.fit(X, y, epochs=1, verbose=0, callbacks=[d2l.LearningRateSetter(Constant(0.2))])


# ------------------------------------------- issue 5: two styles, composition, resuming
def warmup_cosine(steps_per_epoch, epochs=2):
    total = epochs * steps_per_epoch
    return WarmupCosineDecay(total, warmup_steps=3, hold=2, start_lr=0.0, target_lr=0.2,
                             final_lr=0.001)


def test_lr_hook_and_keras_schedule_set_the_same_float32_lrs(data):
    steps = len(data[0])
    s = warmup_cosine(steps)
    hook = run(data, 2, lr_hook=s)  # the loop assigns s(u) before update u
    owned = run(data, 2, s, schedule_unit="update")  # KerasSchedule owned by the SGD
    assert hook.schedule_unit == owned.schedule_unit == "update"
    assert hook.schedule == owned.schedule == schedule_to_config(s)
    assert hook.step_lrs == owned.step_lrs and hook.lr == owned.lr
    np.testing.assert_allclose([lr for _, lr in hook.step_lrs],
                               [s(u) for u, _ in hook.step_lrs], **F32)
    assert hook.lr[0] == 0.0 and hook.lr[1] == pytest.approx(s(steps), rel=1e-6)
    # every update, not only the logged ones: the float32 lr each style sets is the same
    adapter = d2l.KerasSchedule(s)
    updates = range(2 * steps + 3)
    assert [float(adapter(u)) for u in updates] == [float(np.float32(s(u))) for u in updates]
    # same lrs, same seeds, same batches: the same training
    assert without_timings(hook)["epochs"] == without_timings(owned)["epochs"]


def test_lr_hook_sets_a_given_optimizer_and_accepts_any_callable(data):
    steps = len(data[0])
    optimizer = keras.optimizers.SGD(0.5, momentum=0.9)
    h = run(data, 1, optimizer=optimizer, lr_hook=lambda u: 0.01 * (u + 1))
    assert h.schedule is None and h.schedule_unit == "update"
    np.testing.assert_allclose([lr for _, lr in h.step_lrs],
                               [0.01 * (u + 1) for u, _ in h.step_lrs], **F32)
    assert float(optimizer.learning_rate) == pytest.approx(0.01 * steps, rel=1e-6)


def test_lr_hook_refuses_an_optimizer_holding_a_keras_schedule(data):
    s = Constant(0.1)
    optimizer = keras.optimizers.SGD(d2l.KerasSchedule(s))
    assert not d2l.lr_is_settable(optimizer) and d2l.lr_is_settable(keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match="lr_hook.*float learning_rate"):
        run(data, 1, lr_hook=s, optimizer=optimizer)
    with pytest.raises(ValueError, match="scheduler.*float learning_rate"):  # set by hand
        run(data, 1, lambda t: 0.1, optimizer=optimizer)


def test_a_schedule_replaces_the_lr_of_a_given_optimizer_and_reads_back_applied(data):
    """The lr read back through the public ``optimizer.learning_rate`` is the one each
    update applied, for a float lr replaced by a KerasSchedule, and back."""
    steps = len(data[0])
    s = MultiFactorScheduler([steps + 3], factor=0.5, base_lr=0.4)
    optimizer = keras.optimizers.SGD(0.05)
    h = run(data, 2, s, optimizer=optimizer, schedule_unit="update")
    assert isinstance(d2l.attached_schedule(optimizer), d2l.KerasSchedule)
    np.testing.assert_allclose([lr for _, lr in h.step_lrs], [s(u) for u, _ in h.step_lrs],
                               **F32)
    assert float(optimizer.learning_rate) == pytest.approx(s(2 * steps), rel=1e-6)


def test_the_keras_extras_docstring_examples_pass():
    import doctest

    from d2l_compat import keras_extras
    result = doctest.testmod(keras_extras, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_save_and_resume_mid_schedule_per_update(data, tmp_path):
    """2 epochs, model.save, load_model, 2 more == 4 uninterrupted (per-update schedule)."""
    steps = len(data[0])
    s = WarmupCosineDecay(4 * steps, warmup_steps=steps // 2, hold=3, start_lr=0.0,
                          target_lr=0.2, final_lr=0.001)

    def compiled():
        net = d2l.lenet()
        opt = keras.optimizers.SGD(d2l.KerasSchedule(s), momentum=0.9)  # with slots
        net.compile(optimizer=opt, loss=LOSS)
        return net, opt

    full_net, full_opt = compiled()
    full = run(data, 4, net=full_net, optimizer=full_opt)
    net, opt = compiled()
    first = run(data, 2, net=net, optimizer=opt)
    net.save(tmp_path / "mid_schedule.keras")
    del net, opt
    loaded = keras.models.load_model(tmp_path / "mid_schedule.keras")
    assert int(loaded.optimizer.iterations) == 2 * steps
    assert d2l.attached_schedule(loaded.optimizer).schedule == s
    resumed = run(data, 4, net=loaded, optimizer=loaded.optimizer, history=first,
                  start_epoch=2)
    assert resumed.schedule_unit == "update" and resumed.schedule == schedule_to_config(s)
    assert resumed.step_lrs == full.step_lrs
    np.testing.assert_allclose([lr for _, lr in resumed.step_lrs],
                               [s(u) for u, _ in resumed.step_lrs], **F32)
    assert without_timings(resumed)["epochs"] == without_timings(full)["epochs"]
    for a, b in zip(loaded.get_weights(), full_net.get_weights()):
        assert np.array_equal(a, b)


def test_keras_joined_schedule_composes_native_schedules_like_warmup_cosine_decay():
    K = keras.optimizers.schedules
    total, warmup, hold, target, final = 100, 10, 20, 0.2, 0.002
    joined = d2l.KerasJoinedSchedule(
        [K.PolynomialDecay(0.0, warmup, end_learning_rate=target, power=1),
         K.PolynomialDecay(target, hold, end_learning_rate=target),  # constant
         K.CosineDecay(target, decay_steps=total - warmup - hold, alpha=final / target)],
        boundaries=[warmup, warmup + hold])
    ours = WarmupCosineDecay(total, warmup, hold=hold, start_lr=0.0, target_lr=target,
                             final_lr=final)
    core = join_schedules([PolyScheduler(warmup, base_lr=0.0, pwr=1, final_lr=target),
                           Constant(target),
                           CosineScheduler(total - warmup - hold, target, final)],
                          [warmup, warmup + hold])
    t = np.arange(130)
    np.testing.assert_allclose(core(t), ours(t), rtol=1e-12, atol=1e-15)
    sgd = keras.optimizers.SGD(joined)
    np.testing.assert_allclose([lr_at(sgd, u) for u in t], ours(t), rtol=1e-5, atol=1e-7)
    graph = tf.function(lambda u: tf.map_fn(joined, u, fn_output_signature=tf.float32))
    np.testing.assert_allclose(graph(tf.constant(t, tf.int64)).numpy(), ours(t),
                               rtol=1e-5, atol=1e-7)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(joined))
    assert isinstance(again, d2l.KerasJoinedSchedule) and again.boundaries == [10, 30]
    np.testing.assert_allclose([float(again(u)) for u in t], ours(t), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="boundaries"):
        d2l.KerasJoinedSchedule(joined.schedules, [10])
    with pytest.raises(ValueError, match="boundaries"):
        d2l.KerasJoinedSchedule(joined.schedules, [30, 10])
    with pytest.raises(ValueError, match=r"schedules\[1\]"):
        d2l.KerasJoinedSchedule([joined.schedules[0], ours], [10])


# ------------------------------------------------------------- issue 6: the LR finder
def test_find_lr_leaves_the_compiled_optimizer_alone(data):
    net = d2l.lenet()
    net.compile(optimizer=keras.optimizers.SGD(0.1), loss=LOSS)  # must stay untouched
    d2l.find_lr(net, data[0], num_steps=20)
    assert int(net.optimizer.iterations) == 0
    assert float(net.optimizer.learning_rate) == pytest.approx(0.1)


def test_lr_finder_callback_in_model_fit_matches_find_lr(data):
    train_iter = data[0]
    kwargs = dict(start_lr=1e-3, end_lr=1.0, num_steps=12, diverge_factor=None)
    ours = d2l.find_lr(d2l.lenet(), train_iter, **kwargs)
    # model.fit on the same minibatches (epochs 0 and 1 of the loader, in order)
    batches = [b for epoch in range(2) for b in train_iter.batches(epoch)]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(batches), output_signature=(
            tf.TensorSpec((None, 28, 28, 1), tf.float32), tf.TensorSpec((None,), tf.int32)))
    net = d2l.lenet()
    net.compile(optimizer=keras.optimizers.SGD(0.1), loss=LOSS, jit_compile=False)
    callback = d2l.LRFinderCallback(**kwargs)
    net.fit(dataset, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    theirs = callback.result()
    assert int(net.optimizer.iterations) == 12  # fit stopped when the sweep was done
    assert theirs.stop_reason == "completed"
    np.testing.assert_array_equal(theirs.lrs, ours.lrs)
    np.testing.assert_allclose(theirs.losses, ours.losses, rtol=1e-5)  # incl. the short batch
    with pytest.raises(ValueError, match="not both"):
        d2l.LRFinderCallback(d2l.LRRangeTest(), num_steps=5)


