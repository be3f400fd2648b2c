"""The room contract (d2l_compat.rooms.Room), checked in every framework room.

Each test runs once per room, on real Fashion-MNIST smoke data (D2L_MODE=smoke,
conftest); a room whose framework is not installed is skipped with the reason. What only
one framework has (its schedule adapter, its checkpoint format, its native schedulers)
is tested in tests/test_<room>.py.
"""

import doctest
import importlib
import inspect
import json
import math

import numpy as np
import pytest

from conftest import framework_missing
from d2l_compat import FRAMEWORKS, ROOMS, common, records
from d2l_compat.arrays import as_numpy
from d2l_compat.lr_finder import DEFAULT_RULE, STOP_REASONS, LRRangeTest, lr_sweep
from d2l_compat.registry import FRAMEWORK_REGISTRY
from d2l_compat.rooms import Room
from d2l_compat.schedules import (Constant, CosineScheduler, FactorScheduler,
                                  MultiFactorScheduler, PolyScheduler, SquareRootScheduler,
                                  WarmupCosineDecay, join_schedules, schedule_to_config)

pytestmark = pytest.mark.slow  # trains networks: left out of make unit

BATCH = 256
TIMING_FIELDS = {"examples_per_sec", "seconds"}
# How exactly the lr read back equals the schedule's float64 value: TF and JAX keep the
# lr in float32, PyTorch and MXNet in Python floats (the registry says which).
LR_RTOL = {f.name: 1e-6 if f.lr_dtype == "float32" else 1e-12 for f in FRAMEWORK_REGISTRY}
LAYOUT = {f.name: f.layout for f in FRAMEWORK_REGISTRY}
LABEL_DTYPE = {f.name: np.dtype(f.label_dtype) for f in FRAMEWORK_REGISTRY}
# Schedules every room's adapter is checked against (one of each kind, plus a join), in
# tests/test_<room>.py.
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


def image_shape(framework, n, side=28):
    return (n, 1, side, side) if LAYOUT[framework] == "NCHW" else (n, side, side, 1)


@pytest.fixture(scope="module", params=FRAMEWORKS)
def d2l(request):
    """The room of one framework (skipped when the framework is missing)."""
    reason = framework_missing(request.param)
    if reason:
        pytest.skip(reason)
    if request.param == "pytorch":  # one intra-op thread: 2 spinning threads on a shared
        import torch                # 2-core machine make an epoch 10-20x slower
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield importlib.import_module("d2l_compat.torch")
        torch.set_num_threads(threads)
    else:
        yield importlib.import_module(f"d2l_compat.{ROOMS[request.param]}")


@pytest.fixture(scope="module")
def data(d2l):
    return d2l.load_data_fashion_mnist(BATCH)


def run(d2l, data, num_epochs, scheduler=None, lr=0.3, net=None, **kwargs):
    """``d2l.train`` on ``data`` with a fresh LeNet unless ``net`` is given, quietly."""
    train_iter, test_iter = data
    return d2l.train(net or d2l.lenet(), train_iter, test_iter, num_epochs, lr, scheduler,
                     animator=False, verbose=False, **kwargs)


def without_timings(history) -> dict:
    """A History as a dict without the fields that differ between identical runs."""
    state = history.to_dict()
    state["epochs"] = [{k: v for k, v in e.items() if k not in TIMING_FIELDS}
                       for e in state["epochs"]]
    return state


def native_sgd(d2l, net, lr, momentum=0.0):
    """The framework's own SGD for ``net``, as a user would build it."""
    if d2l.FRAMEWORK == "pytorch":
        import torch
        return torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    if d2l.FRAMEWORK == "tensorflow":
        import keras
        return keras.optimizers.SGD(lr, momentum=momentum)
    if d2l.FRAMEWORK == "mxnet":
        from mxnet import gluon
        return gluon.Trainer(net.collect_params(), "sgd",
                             {"learning_rate": lr, "momentum": momentum})
    return d2l.sgd(lr, momentum)


def weights(d2l, net) -> list:
    """The net's parameters as numpy arrays (copies)."""
    if d2l.FRAMEWORK == "pytorch":
        return [v.detach().cpu().numpy().copy() for v in net.state_dict().values()]
    if d2l.FRAMEWORK == "tensorflow":
        return [v.numpy().copy() for v in net.variables]
    if d2l.FRAMEWORK == "mxnet":
        return [p.data().asnumpy().copy() for p in net.collect_params().values()]
    import jax
    return [np.array(leaf) for leaf in jax.tree_util.tree_leaves(net.params)]


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------- the contract, the data
def test_room_provides_the_contract_and_the_shared_names(d2l):
    assert isinstance(d2l, Room)
    assert d2l.FRAMEWORK in FRAMEWORKS and ROOMS[d2l.FRAMEWORK] == d2l.__name__.split(".")[-1]
    for name in common.__all__:  # schedules, plotting, results, the LR-finder core, ...
        assert getattr(d2l, name) is getattr(common, name), name
    assert d2l.run_mode() == "smoke"
    assert d2l.get_fashion_mnist_labels([0, 9]) == ["t-shirt", "ankle boot"]


def test_room_docstring_examples_pass(d2l):
    assert doctest.testmod(d2l, optionflags=doctest.ELLIPSIS).failed == 0


def test_lenet_gives_ten_logits_from_61706_parameters(d2l, data):
    net = d2l.lenet()
    assert d2l.num_params(net) == 61_706
    X, _ = next(iter(data[1]))
    assert tuple(net(X[:3]).shape) == (3, 10)


def test_loader_yields_the_rooms_arrays_of_the_smoke_subset(d2l, data):
    train_iter, test_iter = data
    framework = d2l.FRAMEWORK
    assert (len(train_iter), len(test_iter)) == (math.ceil(2_000 / BATCH),
                                                 math.ceil(1_000 / BATCH))
    X, y = (as_numpy(a) for a in next(iter(train_iter.batches(0))))
    assert X.shape == image_shape(framework, BATCH) and X.dtype == np.float32
    assert y.shape == (BATCH,) and y.dtype == LABEL_DTYPE[framework]
    assert 0 <= X.min() and X.max() <= 1 and X.max() > 0.5
    assert set(y.tolist()) <= set(range(10))
    sizes = [int(y.shape[0]) for _, y in test_iter]
    assert sum(sizes) == 1_000 and sizes[-1] == 1_000 - 3 * BATCH
    assert train_iter.source and train_iter.split_reconstructed in (True, False)
    assert test_iter.source == train_iter.source
    X32, _ = next(iter(d2l.load_data_fashion_mnist(8, resize=32)[0]))
    assert tuple(X32.shape) == image_shape(framework, 8, 32)
    full_train, full_test = d2l.load_data_fashion_mnist(BATCH, mode="full")  # not the run mode's
    assert (len(full_train), len(full_test)) == (math.ceil(60_000 / BATCH),
                                                 math.ceil(10_000 / BATCH))


# --------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def two_epochs(d2l, data):
    return run(d2l, data, 2, CosineScheduler(20, base_lr=0.3, final_lr=0.01))


def test_history_of_a_two_epoch_run(d2l, two_epochs, results_tmp):
    h, s = two_epochs, CosineScheduler(20, base_lr=0.3, final_lr=0.01)
    assert [e.epoch for e in h.epochs] == [0, 1]
    for name in ("train_loss", "train_acc", "test_acc"):
        assert all(math.isfinite(v) for v in h.column(name)), name
    assert all(0 <= a <= 1 for a in h.train_acc + h.test_acc)
    assert h.train_loss[-1] < math.log(10)  # it learned something
    np.testing.assert_allclose(h.lr, [s(0), s(1)], rtol=LR_RTOL[d2l.FRAMEWORK])
    assert h.examples_per_sec > 0 and all(e.seconds > 0 for e in h.epochs)
    assert h.schedule == schedule_to_config(s) and h.schedule_unit == "epoch"
    assert h.framework == d2l.FRAMEWORK and h.versions == d2l.VERSIONS
    assert h.device.startswith("cpu")
    assert h.mode == "smoke" and h.seed == 0 and h.data_source and not h.diverged
    assert h.step_lrs[0][0] == 0 and all(s % d2l.LR_LOG_EVERY == 0 for s, _ in h.step_lrs)
    path = d2l.record_run("lr_scheduler", "cosine", h)
    assert path == results_tmp / d2l.FRAMEWORK / "lr_scheduler.json"
    loaded = records.load_history(d2l.FRAMEWORK, "lr_scheduler", "cosine")
    assert without_timings(loaded) == without_timings(h)
    json.dumps(h.to_dict())


def test_a_repeated_smoke_run_is_identical(d2l, data, two_epochs):
    again = run(d2l, data, 2, CosineScheduler(20, base_lr=0.3, final_lr=0.01))
    assert without_timings(again) == without_timings(two_epochs)


def test_per_epoch_schedule_read_back_from_the_optimizer(d2l, data):
    s = MultiFactorScheduler([2, 4], factor=0.5, base_lr=0.4)
    h = run(d2l, data, 5, s)
    rtol = LR_RTOL[d2l.FRAMEWORK]
    np.testing.assert_allclose(h.lr, [0.4, 0.4, 0.2, 0.2, 0.1], rtol=rtol)
    assert h.schedule == schedule_to_config(s) and h.schedule_unit == "epoch"
    steps = len(data[0])
    assert [u for u, _ in h.step_lrs] == list(range(0, 5 * steps, d2l.LR_LOG_EVERY))
    for step, lr in h.step_lrs:  # within an epoch the lr does not move
        assert lr == pytest.approx(s(step // steps), rel=rtol), step


def test_per_update_schedule_read_back_from_the_optimizer(d2l, data):
    steps = len(data[0])
    s = CosineScheduler(max_update=2 * steps, base_lr=0.3, final_lr=0.01, warmup_steps=4)
    h = run(d2l, data, 2, s, schedule_unit="update")
    rtol = LR_RTOL[d2l.FRAMEWORK]
    assert h.schedule_unit == "update" and h.schedule == schedule_to_config(s)
    assert [u for u, _ in h.step_lrs] == list(range(0, 2 * steps, d2l.LR_LOG_EVERY))
    for update, lr in h.step_lrs:
        assert lr == pytest.approx(s(update), rel=rtol), update
    assert len({lr for _, lr in h.step_lrs}) == len(h.step_lrs)  # it moves every update
    assert h.lr[0] == 0.0  # warmup from 0: update 0 really used s(0)
    assert h.lr[1] == pytest.approx(s(steps), rel=rtol)


def test_calling_and_plotting_the_schedule_does_not_change_training(d2l, data):
    from matplotlib.figure import Figure
    s = MultiFactorScheduler([1, 2], factor=0.5, base_lr=0.4)
    fresh = run(d2l, data, 3, MultiFactorScheduler([1, 2], factor=0.5, base_lr=0.4))
    s(np.arange(30))
    [s(t) for t in range(30)]
    d2l.plot_schedules(s, 30, ax=Figure().add_subplot())
    after = run(d2l, data, 3, s)
    assert after.lr == fresh.lr
    np.testing.assert_allclose(after.lr, [0.4, 0.2, 0.1], rtol=LR_RTOL[d2l.FRAMEWORK])


def test_train_without_scheduler_uses_the_constant_lr(d2l, data):
    h = run(d2l, data, 1, lr=0.05)
    np.testing.assert_allclose(h.lr, [0.05], rtol=LR_RTOL[d2l.FRAMEWORK])
    assert h.schedule is None and h.schedule_unit is None


# ------------------------------------------------------------- per-update records
def trainer_class(d2l):
    """The room's subclass of rooms.Trainer (what its train hands to train_with)."""
    from d2l_compat.rooms import Trainer
    found = [v for v in vars(d2l).values()
             if isinstance(v, type) and issubclass(v, Trainer) and v is not Trainer]
    assert len(found) == 1, found
    return found[0]


def test_record_updates_records_the_applied_lr_and_the_batch_loss(d2l, data):
    """``record_updates=n``: the first n updates as (step, lr read back, minibatch loss),
    across the epoch boundary; the loss is the one the update's gradient came from."""
    from d2l_compat.lenet import cross_entropy, lenet_forward, lenet_weights
    train_iter, _ = data
    steps = len(train_iter)
    s = CosineScheduler(max_update=2 * steps, base_lr=0.3, final_lr=0.01, warmup_steps=3)
    h = run(d2l, data, 2, s, schedule_unit="update", record_updates=steps + 3)
    assert [step for step, _, _ in h.updates] == list(range(steps + 3))
    np.testing.assert_allclose(h.update_lrs, [s(t) for t in range(steps + 3)],
                               rtol=LR_RTOL[d2l.FRAMEWORK])
    X, y = next(iter(train_iter.batches(0)))
    X = as_numpy(X)
    X = X if LAYOUT[d2l.FRAMEWORK] == "NCHW" else X.transpose(0, 3, 1, 2)
    first = cross_entropy(lenet_forward(lenet_weights(0), X), as_numpy(y))
    assert h.update_losses[0] == pytest.approx(first, rel=1e-5)
    sizes = [int(b[1].shape[0]) for b in train_iter.batches(0)]  # epoch 0's mean loss
    assert np.dot(h.update_losses[:steps], sizes) / sum(sizes) == pytest.approx(
        h.train_loss[0], rel=1e-5)
    assert len(set(h.update_losses)) == len(h.update_losses)  # one loss per update


def test_record_updates_zero_records_nothing_and_reads_no_batch_loss(d2l, data, monkeypatch):
    def refuse(self):
        raise AssertionError("batch_loss read without record_updates")
    monkeypatch.setattr(trainer_class(d2l), "batch_loss", refuse)
    h = run(d2l, data, 1)
    assert h.updates == [] and "updates" not in h.to_dict()


def test_record_updates_counts_from_start_epoch_and_is_recorded(d2l, data, results_tmp):
    train_iter, _ = data
    steps, net = len(train_iter), d2l.lenet()
    h = run(d2l, data, 1, net=net, lr=0.2)
    h = run(d2l, data, 2, net=net, lr=0.2, history=h, start_epoch=1, record_updates=4)
    assert [step for step, _, _ in h.updates] == list(range(steps, steps + 4))
    np.testing.assert_allclose(h.update_lrs, [0.2] * 4, rtol=LR_RTOL[d2l.FRAMEWORK])
    d2l.record_run("lr_scheduler", "resumed", h)
    loaded = records.load_history(d2l.FRAMEWORK, "lr_scheduler", "resumed")
    assert loaded.updates == h.updates


# ------------------------------------------------------------- weights and dead ReLUs
def test_lenet_weights_of_is_the_inverse_of_load_lenet_weights(d2l, data):
    from d2l_compat.lenet import lenet_weights
    net = d2l.lenet(seed=3)
    got, expected = d2l.lenet_weights_of(net), lenet_weights(3)
    assert list(got) == list(expected)
    for name, (w, b) in expected.items():
        assert got[name][0].dtype == np.float32
        np.testing.assert_array_equal(got[name][0], w, err_msg=name)
        np.testing.assert_array_equal(got[name][1], b, err_msg=name)
    run(d2l, data, 1, net=net)
    trained = d2l.lenet_weights_of(net)
    for name, (w, b) in expected.items():
        assert not np.array_equal(trained[name][0], w), name
        assert trained[name][1].any(), name  # the biases moved off zero


def test_dead_relu_fraction_on_a_real_minibatch(d2l, data):
    from d2l_compat.lenet import RELU_LAYERS, dead_relus, lenet_weights
    X, _ = next(iter(data[0]))
    fresh = d2l.dead_relu_fraction(d2l.lenet(), X)
    assert list(fresh) == list(RELU_LAYERS)
    assert all(0 <= f < 1 for f in fresh.values()), fresh
    x = as_numpy(X)
    x = x if LAYOUT[d2l.FRAMEWORK] == "NCHW" else x.transpose(0, 3, 1, 2)
    assert fresh == dead_relus(lenet_weights(0), x)
    weights = lenet_weights(0)
    weights["conv1"] = (weights["conv1"][0], np.full(6, -100.0, np.float32))
    dead = d2l.dead_relu_fraction(d2l.load_lenet_weights(d2l.lenet(), weights), X)
    assert dead["conv1"] == 1.0
    with pytest.raises(ValueError, match="X must be a minibatch"):
        d2l.dead_relu_fraction(d2l.lenet(), x[0, 0])


# The same bad arguments, the same error in every room: (error, the parameter the message
# names, the arguments; a callable of the room and its net for what needs the framework).
BAD_TRAIN_ARGUMENTS = [
    (TypeError, "num_epochs", dict(num_epochs=True)),
    (TypeError, "num_epochs", dict(num_epochs=2.0)),
    (ValueError, "num_epochs", dict(num_epochs=0)),
    (TypeError, "lr", dict(lr="0.1")),
    (ValueError, "lr", dict(lr=-0.1)),
    (ValueError, "schedule_unit", dict(scheduler=Constant(0.1), schedule_unit="batch")),
    (TypeError, "scheduler", dict(scheduler=0.1)),
    (TypeError, "scheduler", dict(scheduler="cosine")),
    (TypeError, "seed", dict(seed=1.5)),
    (ValueError, "seed", dict(seed=-1)),
    (TypeError, "start_epoch", dict(start_epoch=None)),
    (ValueError, "start_epoch", dict(start_epoch=-1)),
    (TypeError, "momentum", dict(momentum="high")),
    (ValueError, "momentum", dict(momentum=1.0)),
    (TypeError, "lr_hook", dict(lr_hook=0.1)),
    (TypeError, "record_updates", dict(record_updates=True)),
    (TypeError, "record_updates", dict(record_updates=1.5)),
    (ValueError, "record_updates", dict(record_updates=-1)),
    (ValueError, "lr_hook", dict(scheduler=Constant(0.1), lr_hook=lambda step: 0.1)),
    (ValueError, "momentum", lambda d2l, net: dict(momentum=0.9,
                                                   optimizer=native_sgd(d2l, net, 0.1))),
]


@pytest.mark.parametrize("error, name, arguments", BAD_TRAIN_ARGUMENTS,
                         ids=[f"{e.__name__}-{n}-{i}"
                              for i, (e, n, _) in enumerate(BAD_TRAIN_ARGUMENTS)])
def test_every_room_rejects_the_same_bad_arguments_alike(d2l, data, error, name, arguments):
    """One rule in every room: TypeError for a wrong type, ValueError for a wrong value,
    the message names the parameter, and nothing is trained (d2l_compat.checks)."""
    net = d2l.lenet()
    before = weights(d2l, net)
    kwargs = {"num_epochs": 1, **(arguments(d2l, net) if callable(arguments) else arguments)}
    with pytest.raises(error, match=name) as raised:
        run(d2l, data, kwargs.pop("num_epochs"), net=net, **kwargs)
    assert type(raised.value) is error
    assert_same_weights(weights(d2l, net), before)


def test_every_room_takes_the_same_scheduler_types(d2l, data):
    """A plain function ``step -> lr`` schedules in every room, per epoch and per update,
    recorded like any scheduler that is not a d2l_compat schedule; with ``optimizer=``
    the scheduler drives the given optimizer's lr."""
    rtol = LR_RTOL[d2l.FRAMEWORK]
    by_epoch = run(d2l, data, 2, lambda t: 0.4 * 0.5 ** t)
    np.testing.assert_allclose(by_epoch.lr, [0.4, 0.2], rtol=rtol)
    assert by_epoch.schedule is None and by_epoch.schedule_unit == "epoch"
    by_update = run(d2l, data, 1, lambda u: 0.3 / (1 + u), schedule_unit="update")
    assert by_update.schedule is None and by_update.schedule_unit == "update"
    for update, lr in by_update.step_lrs:
        assert lr == pytest.approx(0.3 / (1 + update), rel=rtol), update
    s = MultiFactorScheduler([1], factor=0.5, base_lr=0.4)
    net = d2l.lenet()
    given = run(d2l, data, 2, s, net=net, optimizer=native_sgd(d2l, net, 0.05))
    np.testing.assert_allclose(given.lr, [0.4, 0.2], rtol=rtol)
    assert given.schedule == schedule_to_config(s) and given.schedule_unit == "epoch"


def test_lr_hook_and_the_same_schedule_per_update_are_the_same_run(d2l, data):
    steps = len(data[0])
    schedule = WarmupCosineDecay(total_steps=2 * steps, warmup_steps=3, hold=2,
                                 start_lr=0.0, target_lr=0.3, final_lr=0.01)
    seen = []

    def hook(step):
        seen.append(step)
        return schedule(step)

    by_hook = run(d2l, data, 2, lr_hook=hook)
    by_object = run(d2l, data, 2, schedule, schedule_unit="update")
    assert seen == list(range(2 * steps))  # called once before every update
    assert by_hook.schedule_unit == by_object.schedule_unit == "update"
    assert by_hook.step_lrs == by_object.step_lrs and by_hook.lr == by_object.lr
    for step, lr in by_hook.step_lrs:
        assert lr == pytest.approx(schedule(step), rel=LR_RTOL[d2l.FRAMEWORK]), step
    # the same lr reaches every update, so the runs are the same run
    assert without_timings(by_hook)["epochs"] == without_timings(by_object)["epochs"]
    # a d2l_compat schedule as the hook is recorded like the scheduler
    assert run(d2l, data, 1, lr_hook=schedule).schedule == schedule_to_config(schedule)


def test_momentum_builds_the_rooms_momentum_sgd(d2l, data):
    plain, heavy = run(d2l, data, 1, lr=0.05), run(d2l, data, 1, lr=0.05, momentum=0.9)
    assert plain.lr == heavy.lr
    assert heavy.train_loss != plain.train_loss
    net = d2l.lenet()
    given = run(d2l, data, 1, lr=0.05, net=net, optimizer=native_sgd(d2l, net, 0.05, 0.9))
    assert without_timings(given)["epochs"] == without_timings(heavy)["epochs"]


def test_start_epoch_continues_a_schedule_at_its_step(d2l, data):
    s = MultiFactorScheduler([1, 3], factor=0.5, base_lr=0.4)
    h = run(d2l, data, 4, s, start_epoch=2)
    assert [e.epoch for e in h.epochs] == [2, 3]
    np.testing.assert_allclose(h.lr, [s(2), s(3)], rtol=LR_RTOL[d2l.FRAMEWORK])


def cpu_device(d2l):
    """The room's CPU device, as its ``default_device()`` returns it."""
    if d2l.FRAMEWORK == "pytorch":
        import torch
        return torch.device("cpu")
    if d2l.FRAMEWORK == "tensorflow":
        return "/CPU:0"
    if d2l.FRAMEWORK == "mxnet":
        import mxnet
        return mxnet.cpu()
    import jax
    return jax.devices("cpu")[0]


def device_name(device):
    """A device as a comparable value (TensorFlow's ``try_gpu`` is a device context)."""
    return getattr(device, "_device_name", device)


def test_d2l_device_decides_the_default_device(d2l, data, monkeypatch):
    """``D2L_DEVICE`` picks ``default_device()`` and so the device ``train`` uses; without
    a GPU, ``gpu`` fails before training with a message naming the framework."""
    cpu = cpu_device(d2l)
    monkeypatch.setenv("D2L_DEVICE", "cpu")
    assert d2l.default_device() == cpu
    assert run(d2l, data, 1).device.startswith("cpu")
    monkeypatch.setenv("D2L_DEVICE", "auto")
    assert device_name(d2l.default_device()) == device_name(d2l.try_gpu())
    monkeypatch.setenv("D2L_DEVICE", "gpu")
    if device_name(d2l.try_gpu()) == device_name(cpu):
        message = f"D2L_DEVICE=gpu, but {d2l.FRAMEWORK} sees no GPU"
        with pytest.raises(RuntimeError, match=message):
            d2l.default_device()
        with pytest.raises(RuntimeError, match=message):
            run(d2l, data, 1)
    else:
        assert device_name(d2l.default_device()) == device_name(d2l.try_gpu()) != cpu
    monkeypatch.setenv("D2L_DEVICE", "tpu")
    with pytest.raises(ValueError, match="D2L_DEVICE must be one of .*'tpu'"):
        d2l.default_device()


# ----------------------------------------------------------------------------- find_lr
def test_find_lr_follows_the_sweep_and_restores_the_net(d2l, data):
    net = d2l.lenet()
    run(d2l, data, 1, lr=0.1, net=net)  # not a fresh net
    before = weights(d2l, net)
    result = d2l.find_lr(net, data[0])  # the defaults: 100 steps, 1e-7 .. 10
    assert_same_weights(weights(d2l, net), before)
    assert result.stop_reason in STOP_REASONS
    assert len(result.lrs) >= 10 and len(result.lrs) == len(result.losses)
    assert result.stop_reason != "completed" or len(result.lrs) == 100
    planned = lr_sweep(1e-7, 10.0, 100)[:len(result.lrs)]
    np.testing.assert_allclose(result.lrs, planned, rtol=LR_RTOL[d2l.FRAMEWORK], atol=0)
    assert np.all(np.isfinite(result.losses))
    assert set(result.suggestions) == {"steepest", "minimum_div_10", "valley"}
    for name, lr in result.suggestions.items():
        assert lr is not None and math.isfinite(lr) and 1e-7 <= lr <= 10.0, name
    assert result.suggestion == result.suggestions[DEFAULT_RULE]
    assert result.config["num_steps"] == 100 and result.skip_start == 10
    json.dumps(result.to_dict())


def test_find_lr_has_the_range_tests_defaults_and_takes_skip_start_and_end(d2l, data):
    params = inspect.signature(d2l.find_lr).parameters
    for name, param in inspect.signature(LRRangeTest).parameters.items():
        assert params[name].default == param.default, name
    assert params["seed"].default == d2l.DEFAULT_SEED
    result = d2l.find_lr(d2l.lenet(), data[0], start_lr=1e-3, end_lr=1.0, num_steps=12,
                         skip_start=2, skip_end=1, diverge_factor=None)
    assert (result.skip_start, result.skip_end) == (2, 1)
    assert result.config["skip_start"] == 2 and result.config["skip_end"] == 1


def test_find_lr_cycles_the_data_and_is_repeatable(d2l, data):
    train_iter = data[0]
    kwargs = dict(start_lr=1e-4, end_lr=1e-1, num_steps=2 * len(train_iter) + 3,
                  diverge_factor=None)
    first = d2l.find_lr(d2l.lenet(), train_iter, **kwargs)
    second = d2l.find_lr(d2l.lenet(), train_iter, **kwargs)
    assert first.stop_reason == "completed" and len(first.lrs) == kwargs["num_steps"]
    np.testing.assert_array_equal(first.losses, second.losses)
    assert first.losses[0] == pytest.approx(math.log(10), rel=0.05)  # untrained net
    linear = d2l.find_lr(d2l.lenet(), train_iter, start_lr=0.01, end_lr=0.1, num_steps=6,
                         mode="linear")
    np.testing.assert_allclose(linear.lrs, np.linspace(0.01, 0.1, 6),
                               rtol=LR_RTOL[d2l.FRAMEWORK])


def test_find_lr_then_train_is_the_same_as_train(d2l, data):
    reference = run(d2l, data, 1)
    net = d2l.lenet()
    d2l.find_lr(net, data[0], num_steps=20)
    after = run(d2l, data, 1, net=net)
    assert without_timings(after)["epochs"] == without_timings(reference)["epochs"]


def test_find_lr_stops_when_the_loss_explodes(d2l, data):
    result = d2l.find_lr(d2l.lenet(), data[0], start_lr=1.0, end_lr=1e4, num_steps=40)
    assert result.stop_reason in ("diverged", "nan") and result.stopped_early
    assert len(result.lrs) < 40


def test_find_lr_rejects_bad_arguments_before_touching_the_net(d2l, data):
    net = d2l.lenet()
    before = weights(d2l, net)
    for error, kwargs in [(ValueError, dict(num_steps=1)), (TypeError, dict(num_steps=True)),
                          (ValueError, dict(skip_start=-1)), (TypeError, dict(skip_end=1.5)),
                          (ValueError, dict(mode="cosine")), (TypeError, dict(seed="0")),
                          (ValueError, dict(seed=-1))]:
        with pytest.raises(error, match=next(iter(kwargs))):
            d2l.find_lr(net, data[0], **kwargs)
    assert_same_weights(weights(d2l, net), before)
