"""The TensorFlow / Keras 3 room on real Fashion-MNIST smoke data (D2L_MODE=smoke, conftest)."""

import doctest
import functools
import math
import os
import random
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="tensorflow is not installed (extra 'tensorflow')")

import keras  # noqa: E402

from d2l_compat import results  # noqa: E402
from d2l_compat import tensorflow as d2l  # noqa: E402
from d2l_compat.schedules import (Constant, CosineScheduler,  # noqa: E402
                                  MultiFactorScheduler, PolyScheduler,
                                  WarmupCosineDecay, join_schedules, schedule_to_config)
from room_checks import (assert_d2l_device_decides_the_default_device,  # noqa: E402
                         SCHEDULES, assert_train_rejects_bad_arguments,
                         train_quietly, without_timings)

BATCH = 256
F32 = dict(rtol=1e-6, atol=1e-9)  # Keras holds learning rates as float32
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.fixture(scope="module")
def data():
    return d2l.load_data_fashion_mnist(BATCH)


run = functools.partial(train_quietly, d2l)


@pytest.fixture(scope="module")
def two_epochs(data):
    return run(data, 2, CosineScheduler(20, base_lr=0.3, final_lr=0.01))


def lr_at(optimizer, iteration):
    optimizer.iterations.assign(iteration)
    return float(optimizer.learning_rate)


# ----------------------------------------------------------------------- model, data
def test_lenet_output_shape_and_parameter_count():
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


def test_load_data_fashion_mnist_shapes_and_dtypes(data):
    train_iter, test_iter = data
    assert len(train_iter) == math.ceil(2_000 / BATCH) and len(test_iter) == math.ceil(1_000 / BATCH)
    X, y = next(iter(train_iter))
    assert isinstance(X, tf.Tensor) and isinstance(y, tf.Tensor)
    assert tuple(X.shape) == (BATCH, 28, 28, 1) and X.dtype == tf.float32
    assert tuple(y.shape) == (BATCH,) and y.dtype == tf.int32
    assert 0 <= float(tf.reduce_min(X)) and float(tf.reduce_max(X)) <= 1
    assert float(tf.reduce_max(X)) > 0.5
    assert set(y.numpy().tolist()) <= set(range(10))
    assert sum(int(y.shape[0]) for _, y in test_iter) == 1_000
    assert train_iter.source and train_iter.split_reconstructed in (True, False)
    X32, _ = next(iter(d2l.load_data_fashion_mnist(8, resize=32)[0]))
    assert tuple(X32.shape) == (8, 32, 32, 1)


def test_room_reexports_the_shared_helpers():
    from d2l_compat import data, plotting, runmode, schedules
    assert d2l.FRAMEWORK == "tensorflow"
    assert d2l.VERSIONS == {"tensorflow": tf.__version__, "keras": keras.__version__}
    assert d2l.try_gpu()._device_name == "/CPU:0" or tf.config.list_physical_devices("GPU")
    assert d2l.plot is plotting.plot and d2l.Animator is plotting.Animator
    assert d2l.show_images is plotting.show_images and d2l.set_figsize is plotting.set_figsize
    assert d2l.Accumulator is runmode.Accumulator and d2l.Timer is runmode.Timer
    assert d2l.run_mode() == "smoke"
    assert d2l.record_run is results.record_run
    assert d2l.compare_with_d2l is results.compare_with_d2l
    assert d2l.load_fashion_mnist is data.load_fashion_mnist
    assert d2l.get_fashion_mnist_labels([0, 9]) == ["t-shirt", "ankle boot"]
    assert d2l.plot_schedules is schedules.plot_schedules
    for name in ("Constant", "SquareRootScheduler", "FactorScheduler", "MultiFactorScheduler",
                 "CosineScheduler", "PolyScheduler", "WarmupCosineDecay", "join_schedules"):
        assert getattr(d2l, name) is getattr(schedules, name), name


def test_importing_the_room_changes_no_global_state():
    code = (
        "import os, random\n"
        "import matplotlib, numpy as np, tensorflow as tf\n"
        "rc = dict(matplotlib.rcParams); env = dict(os.environ)\n"
        "np_state = np.random.get_state(); py_state = random.getstate()\n"
        "from d2l_compat import tensorflow as d2l\n"
        "assert dict(matplotlib.rcParams) == rc\n"
        "assert dict(os.environ) == env\n"
        "assert random.getstate() == py_state\n"
        "assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_state))\n"
        "from tensorflow.python.framework import config\n"
        "assert not config.is_op_determinism_enabled()\n"
        "assert tf.config.threading.get_intra_op_parallelism_threads() == 0\n"
        "from tensorflow.python.framework import random_seed\n"
        "assert random_seed.get_seed(None) == (None, None)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_the_room_prints_no_native_log_lines():
    """TensorFlow's oneDNN/absl lines at import time would be log noise in every notebook."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run([sys.executable, "-c", "from d2l_compat import tensorflow as d2l\n"
                          "import sys; print('after import', file=sys.stderr)"],
                         capture_output=True, text=True, env=env, check=True)
    assert run.stderr == "after import\n"


def test_docstring_examples_of_the_room():
    result = doctest.testmod(d2l, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------- training
def test_history_of_a_two_epoch_run(two_epochs, results_tmp):
    h = two_epochs
    s = CosineScheduler(20, base_lr=0.3, final_lr=0.01)
    assert len(h.epochs) == 2 and [e.epoch for e in h.epochs] == [0, 1]
    for name in ("train_loss", "train_acc", "test_acc"):
        assert all(math.isfinite(v) for v in h.column(name)), name
    assert all(0 <= a <= 1 for a in h.train_acc + h.test_acc)
    assert h.train_loss[-1] < math.log(10)  # it learned something
    np.testing.assert_allclose(h.lr, [s(0), s(1)], **F32)
    assert h.examples_per_sec > 0 and all(e.seconds > 0 for e in h.epochs)
    assert h.schedule == schedule_to_config(s)
    assert h.schedule_unit == "epoch" and h.framework == "tensorflow" and h.device == "cpu"
    assert h.mode == "smoke" and h.seed == 0 and h.versions == d2l.VERSIONS
    assert h.data_source and not h.diverged
    assert h.step_lrs[0][0] == 0 and h.step_lrs[0][1] == pytest.approx(0.3, rel=1e-6)
    assert all(s % d2l.LR_LOG_EVERY == 0 for s, _ in h.step_lrs)
    path = d2l.record_run("lr_scheduler", "cosine", h)
    assert path == results_tmp / "tensorflow" / "lr_scheduler.json"
    assert without_timings(results.load_history("tensorflow", "lr_scheduler", "cosine")) == \
        without_timings(h)


def test_per_epoch_schedule_read_back_from_the_optimizer(data):
    s = MultiFactorScheduler([2, 4], factor=0.5, base_lr=0.4)
    h = run(data, 5, s)
    np.testing.assert_allclose(h.lr, [0.4, 0.4, 0.2, 0.2, 0.1], **F32)
    np.testing.assert_allclose(h.lr, [s(t) for t in range(5)], **F32)
    steps = len(data[0])
    assert [u for u, _ in h.step_lrs] == list(range(0, 5 * steps, d2l.LR_LOG_EVERY))
    for step, lr in h.step_lrs:  # within an epoch the lr does not move
        assert lr == pytest.approx(s(step // steps), rel=1e-6)


def test_per_update_schedule_read_back_from_the_optimizer(data):
    steps = len(data[0])
    s = CosineScheduler(max_update=2 * steps, base_lr=0.3, final_lr=0.01)
    h = run(data, 2, s, schedule_unit="update")
    assert h.schedule_unit == "update" and h.schedule == schedule_to_config(s)
    np.testing.assert_allclose(h.lr, [s(0), s(steps)], **F32)
    assert [u for u, _ in h.step_lrs] == list(range(0, 2 * steps, d2l.LR_LOG_EVERY))
    for update, lr in h.step_lrs:
        assert lr == pytest.approx(s(update), rel=1e-6)
    assert len({lr for _, lr in h.step_lrs}) == len(h.step_lrs)  # it moves every update


def test_calling_and_plotting_the_schedule_does_not_change_training(data):
    from matplotlib.figure import Figure
    s = MultiFactorScheduler([1, 2], factor=0.5, base_lr=0.4)
    fresh = run(data, 3, MultiFactorScheduler([1, 2], factor=0.5, base_lr=0.4))
    s(np.arange(30))
    [s(t) for t in range(30)]
    d2l.plot_schedules(s, 30, ax=Figure().add_subplot())
    keras_s = d2l.KerasSchedule(s)
    [float(keras_s(t)) for t in range(30)]  # the adapter is stateless too
    after = run(data, 3, s)
    assert after.lr == fresh.lr
    np.testing.assert_allclose(after.lr, [0.4, 0.2, 0.1], **F32)


def test_a_repeated_smoke_run_is_identical(data, two_epochs):
    again = run(data, 2, CosineScheduler(20, base_lr=0.3, final_lr=0.01))
    assert without_timings(again) == without_timings(two_epochs)


def test_train_rejects_a_bad_schedule_unit_and_scheduler(data):
    assert_train_rejects_bad_arguments(run, data)


def test_train_without_scheduler_uses_the_constant_lr(data):
    h = run(data, 1, lr=0.05)
    np.testing.assert_allclose(h.lr, [0.05], **F32)
    assert h.schedule is None and h.schedule_unit is None


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
    with pytest.raises(ValueError, match="steps_per_epoch"):
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
    assert isinstance(opt2._learning_rate, d2l.KerasSchedule)
    assert opt2._learning_rate.schedule == s and opt2._learning_rate.steps_per_epoch == steps
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


def test_train_resuming_with_a_fresh_optimizer_continues_the_schedule(data):
    s = MultiFactorScheduler([1, 3], factor=0.5, base_lr=0.4)
    h = run(data, 4, s, start_epoch=2)
    assert [e.epoch for e in h.epochs] == [2, 3]
    np.testing.assert_allclose(h.lr, [s(2), s(3)], **F32)


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


def test_lr_hook_and_optimizer_schedule_give_identical_lrs(data):
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


def test_lr_hook_and_momentum_validation(data):
    s = Constant(0.1)
    with pytest.raises(ValueError, match="lr_hook"):
        run(data, 1, s, lr_hook=s)
    with pytest.raises(TypeError, match="lr_hook"):
        run(data, 1, lr_hook=0.1)
    with pytest.raises(TypeError, match="float learning_rate"):
        run(data, 1, lr_hook=s, optimizer=keras.optimizers.SGD(d2l.KerasSchedule(s)))
    with pytest.raises(ValueError, match="momentum"):
        run(data, 1, momentum=0.9, optimizer=keras.optimizers.SGD(0.1))


def test_momentum_keyword_equals_a_momentum_sgd_optimizer(data):
    s = warmup_cosine(len(data[0]), epochs=1)
    keyword = run(data, 1, s, schedule_unit="update", momentum=0.9)
    given = run(data, 1, s, schedule_unit="update",
                optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    plain = run(data, 1, s, schedule_unit="update")
    assert without_timings(keyword)["epochs"] == without_timings(given)["epochs"]
    assert keyword.train_loss != plain.train_loss


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
    assert loaded.optimizer._learning_rate.schedule == s
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
def test_find_lr_restores_the_net_and_follows_the_sweep(data, capsys):
    from d2l_compat import lr_finder
    net = d2l.lenet()
    net.compile(optimizer=keras.optimizers.SGD(0.1), loss=LOSS)  # must stay untouched
    before = [v.numpy().copy() for v in net.variables]
    timer = d2l.Timer()
    result = d2l.find_lr(net, data[0])  # 100 steps, 1e-7 .. 10
    seconds = timer.stop()
    with capsys.disabled():
        print(f"\n[tensorflow] find_lr: {len(result.lrs)} steps on smoke data in "
              f"{seconds:.1f} s ({result.stop_reason})")
    for a, v in zip(before, net.variables):
        assert np.array_equal(a, v.numpy()), v.path
    assert int(net.optimizer.iterations) == 0
    assert result.stop_reason in lr_finder.STOP_REASONS
    assert 5 <= len(result.lrs) <= 100
    assert result.stop_reason != "completed" or len(result.lrs) == 100
    planned = lr_finder.lr_sweep(1e-7, 10.0, 100)[:len(result.lrs)]
    np.testing.assert_allclose(result.lrs, planned, rtol=1e-6)  # read back, float32
    assert np.all(np.isfinite(result.losses)) and np.all(np.isfinite(result.smoothed))
    assert result.losses[0] == pytest.approx(math.log(10), rel=0.05)  # untrained net
    assert set(result.suggestions) == {"steepest", "minimum_div_10", "valley"}
    for name, lr in result.suggestions.items():
        assert lr is not None and math.isfinite(lr) and 1e-7 <= lr <= 10.0, name
    assert result.suggestion == result.suggestions[lr_finder.DEFAULT_RULE]
    assert result.config["num_steps"] == 100 and result.config["beta"] == 0.9


def test_find_lr_is_repeatable_and_stops_when_the_loss_blows_up(data):
    net = d2l.lenet()
    before = [v.numpy().copy() for v in net.variables]
    kwargs = dict(start_lr=1e-2, end_lr=1e4, num_steps=30)
    first, second = d2l.find_lr(net, data[0], **kwargs), d2l.find_lr(net, data[0], **kwargs)
    np.testing.assert_array_equal(first.losses, second.losses)
    assert first.stop_reason in ("diverged", "nan") and first.stopped_early
    assert len(first.lrs) < 30
    for a, v in zip(before, net.variables):
        assert np.array_equal(a, v.numpy())
    linear = d2l.find_lr(net, data[0], start_lr=1e-3, end_lr=0.1, num_steps=12,
                         mode="linear", beta=0.5, diverge_factor=None)
    assert linear.stop_reason == "completed"
    np.testing.assert_allclose(linear.lrs, np.linspace(1e-3, 0.1, 12), rtol=1e-6)
    with pytest.raises(ValueError, match="num_steps"):
        d2l.find_lr(net, data[0], num_steps=1)


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


def test_room_reexports_the_lr_finder_core():
    from d2l_compat import lr_finder
    for name in ("LRRangeTest", "LRFinderResult", "lr_sweep", "run_range_test",
                 "smooth_losses", "suggest_steepest", "suggest_minimum_div_10",
                 "suggest_valley", "longest_decreasing_chain"):
        assert getattr(d2l, name) is getattr(lr_finder, name), name


def test_d2l_device_decides_the_default_device(data, monkeypatch):
    assert_d2l_device_decides_the_default_device(d2l, data, monkeypatch, cpu="/CPU:0")
