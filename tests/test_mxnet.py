"""The MXNet (Gluon) room on real Fashion-MNIST smoke data (D2L_MODE=smoke, conftest)."""

import functools
import json
import math

import numpy as np
import pytest

import d2l_compat._mxnet_shim  # noqa: F401  (restores np.bool before mxnet imports)

mx = pytest.importorskip("mxnet", reason="mxnet is not installed (extra 'mxnet')")

from mxnet import gluon  # noqa: E402

from d2l_compat import mxnet as d2l  # noqa: E402
from d2l_compat.schedules import (CosineScheduler, MultiFactorScheduler,  # noqa: E402
                                  WarmupCosineDecay, schedule_to_config)
from room_checks import (assert_d2l_device_decides_the_default_device,  # noqa: E402
                         assert_default_sweep,
                         assert_find_lr_leaves_training_unchanged,
                         assert_find_lr_stops_when_the_loss_explodes, assert_linear_sweep,
                         assert_lr_hook_matches_the_update_schedule,
                         find_lr_twice_over_two_epochs, train_quietly, without_timings)

BATCH = 256


@pytest.fixture(scope="module")
def data():
    return d2l.load_data_fashion_mnist(BATCH)


run = functools.partial(train_quietly, d2l)


# ----------------------------------------------------------------------- model, data
def test_lenet_output_shape_and_parameter_count():
    net = d2l.lenet()
    assert net(mx.nd.zeros((3, 1, 28, 28))).shape == (3, 10)
    assert d2l.num_params(net) == 61_706


def test_load_data_fashion_mnist_shapes_and_dtypes(data):
    train_iter, test_iter = data
    assert (len(train_iter), len(test_iter)) == (math.ceil(2000 / BATCH), math.ceil(1000 / BATCH))
    X, y = next(iter(train_iter.batches(0)))
    assert isinstance(X, mx.nd.NDArray) and isinstance(y, mx.nd.NDArray)
    assert X.shape == (BATCH, 1, 28, 28) and X.dtype == np.float32
    assert y.shape == (BATCH,) and y.dtype == np.int32
    values = X.asnumpy()
    assert 0 <= values.min() and values.max() <= 1 and values.max() > 0.5
    assert set(np.unique(y.asnumpy())) <= set(range(10))
    sizes = [y.shape[0] for _, y in test_iter]
    assert sum(sizes) == 1000 and sizes[-1] == 1000 - 3 * BATCH


# -------------------------------------------------------------------------- training
def test_history_of_a_two_epoch_run(data, results_tmp):
    history = run(data, 2)
    assert history.framework == "mxnet" and history.device == "cpu(0)"
    assert history.seed == 0 and history.mode == "smoke"
    assert history.schedule is None and history.schedule_unit is None
    assert history.versions == {"mxnet": mx.__version__}
    assert [e.epoch for e in history.epochs] == [0, 1]
    for name in ("train_loss", "train_acc", "test_acc"):
        assert all(math.isfinite(v) for v in history.column(name)), name
    assert history.train_loss[1] < history.train_loss[0]
    assert all(0 <= a <= 1 for a in history.train_acc + history.test_acc)
    assert history.lr == [0.3, 0.3]
    steps = len(data[0])
    assert history.step_lrs == [(s, 0.3) for s in range(0, 2 * steps, d2l.LR_LOG_EVERY)]
    assert history.examples_per_sec > 0 and all(e.seconds > 0 for e in history.epochs)
    path = d2l.record_run("lenet", "test", history)
    assert path.is_relative_to(results_tmp)
    assert json.loads(path.read_text())["runs"]["test"]["framework"] == "mxnet"


def test_per_epoch_schedule_read_back_from_the_optimizer(data):
    schedule = MultiFactorScheduler([2, 4], 0.5, 0.4)
    history = run(data, 5, schedule)
    assert history.lr == [schedule(t) for t in range(5)] == [0.4, 0.4, 0.2, 0.2, 0.1]
    assert history.schedule == schedule_to_config(schedule)
    assert history.schedule_unit == "epoch"
    steps = len(data[0])
    assert [s for s, _ in history.step_lrs] == list(range(0, 5 * steps, d2l.LR_LOG_EVERY))
    for step, lr in history.step_lrs:
        assert lr == schedule(step // steps), step


def test_per_update_schedule_read_back_from_the_optimizer(data):
    steps = len(data[0])
    schedule = CosineScheduler(max_update=3 * steps, base_lr=0.3, final_lr=0.01,
                               warmup_steps=4)
    history = run(data, 3, schedule, schedule_unit="update")
    assert history.schedule_unit == "update"
    assert history.schedule == schedule_to_config(schedule)
    assert len(history.step_lrs) == math.ceil(3 * steps / d2l.LR_LOG_EVERY)
    for step, lr in history.step_lrs:
        assert lr == pytest.approx(schedule(step), rel=1e-12), step
    assert history.lr == pytest.approx([schedule(e * steps) for e in range(3)], rel=1e-12)
    assert history.lr[0] == 0.0  # warmup_begin_lr: update 0 really used schedule(0)


def test_calling_and_plotting_the_schedule_does_not_change_training(data):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    schedule = MultiFactorScheduler([1, 2], 0.5, 0.4)
    before = schedule.get_config()
    schedule(np.arange(30))
    d2l.plot_schedules(schedule, 30)
    plt.close("all")
    assert schedule.get_config() == before
    history = run(data, 3, schedule)
    assert history.lr == [0.4, 0.2, 0.1]


def test_a_repeated_smoke_run_is_identical(data):
    schedule = CosineScheduler(max_update=2, base_lr=0.3, final_lr=0.1)
    first, second = run(data, 2, schedule), run(data, 2, schedule)
    assert without_timings(first) == without_timings(second)


def test_train_rejects_a_bad_schedule_unit(data):
    with pytest.raises(ValueError, match="schedule_unit.*'batch'"):
        run(data, 1, schedule_unit="batch")


def test_a_native_scheduler_must_be_stepped_per_update(data):
    native = mx.lr_scheduler.CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01)
    with pytest.raises(ValueError, match="per update"):
        run(data, 1, native)


def test_train_with_a_native_scheduler_records_what_the_optimizer_used(data):
    native = mx.lr_scheduler.MultiFactorScheduler(step=[3, 10], factor=0.5, base_lr=0.4)
    history = run(data, 2, native, schedule_unit="update")
    ours = MultiFactorScheduler([3, 10], 0.5, 0.4)  # Gluon asks for num_update = u + 1
    assert history.schedule is None and history.schedule_unit == "update"
    assert history.step_lrs == [(s, ours(s)) for s, _ in history.step_lrs]


# ------------------------------------------------------------------ the adapter
def test_gluon_asks_for_num_update_u_plus_1_and_the_adapter_maps_it_back():
    asked, steps_per_epoch = [], 3

    def schedule(t):
        asked.append(t)
        return 0.1 * (t + 1)

    adapter = d2l.GluonSchedule(schedule, steps_per_epoch)
    asked.clear()
    weight = gluon.Parameter("w", shape=(2,), init=mx.init.Zero())
    weight.initialize(ctx=mx.cpu())
    trainer = gluon.Trainer([weight], "sgd", {"lr_scheduler": adapter})
    assert trainer.learning_rate == pytest.approx(0.1)  # before any update: schedule(0)
    read_back = []
    for _ in range(7):
        with mx.autograd.record():
            loss = (weight.data() * 1.0).sum()
        loss.backward()
        asked.clear()
        trainer.step(1)
        used = list(asked)
        read_back.append(trainer.learning_rate)
        assert used == [used[0]] * len(used) and used  # one t per update
        assert read_back[-1] == pytest.approx(0.1 * (used[0] + 1))
    # update u trained with schedule(u // steps_per_epoch)
    assert read_back == pytest.approx([0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.3])
    assert trainer.optimizer.num_update == 7
    assert adapter.step_of(1) == 0 and adapter.step_of(3) == 0 and adapter.step_of(4) == 1


def test_adapter_validates_and_round_trips_its_config():
    schedule = CosineScheduler(20, base_lr=0.3, final_lr=0.01, warmup_steps=5)
    adapter = d2l.GluonSchedule(schedule, steps_per_epoch=8)
    config = json.loads(json.dumps(adapter.get_config()))
    again = d2l.GluonSchedule.from_config(config)
    assert again.schedule == schedule and again.steps_per_epoch == 8
    assert [again(n) for n in range(1, 200)] == [adapter(n) for n in range(1, 200)]
    with pytest.raises(ValueError, match="steps_per_epoch"):
        d2l.GluonSchedule(schedule, steps_per_epoch=0)
    with pytest.raises(ValueError, match="schedule"):
        d2l.GluonSchedule(0.1)
    with pytest.raises(ValueError, match="config"):
        d2l.GluonSchedule(lambda t: 0.1).get_config()


def test_save_and_restore_resumes_mid_schedule(data, tmp_path):
    train_iter, test_iter = data
    schedule = MultiFactorScheduler([1, 3], 0.5, 0.4)
    whole = run(data, 4, schedule)

    net = d2l.lenet()
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"lr_scheduler": d2l.GluonSchedule(schedule, len(train_iter))})
    part = d2l.train(net, train_iter, test_iter, 2, 0.4, optimizer=trainer,
                     animator=False, verbose=False)
    net.save_parameters(str(tmp_path / "net.params"))
    trainer.save_states(str(tmp_path / "trainer.states"))
    (tmp_path / "schedule.json").write_text(
        json.dumps(trainer.optimizer.lr_scheduler.get_config()))
    (tmp_path / "history.json").write_text(json.dumps(part.to_dict()))

    restored = d2l.lenet(seed=123)  # different weights, overwritten by the checkpoint
    restored.load_parameters(str(tmp_path / "net.params"), ctx=mx.cpu())
    adapter = d2l.GluonSchedule.from_config(json.loads((tmp_path / "schedule.json").read_text()))
    trainer = gluon.Trainer(restored.collect_params(), "sgd", {"lr_scheduler": adapter})
    trainer.load_states(str(tmp_path / "trainer.states"))
    assert trainer.optimizer.num_update == 2 * len(train_iter)
    assert trainer.optimizer.lr_scheduler.get_config() == adapter.get_config()
    history = d2l.History.from_dict(json.loads((tmp_path / "history.json").read_text()))
    resumed = d2l.train(restored, train_iter, test_iter, 4, 0.4, optimizer=trainer,
                        history=history, start_epoch=2, animator=False, verbose=False)
    assert resumed.lr == whole.lr == [0.4, 0.2, 0.2, 0.1]
    assert resumed.step_lrs == whole.step_lrs
    assert resumed.schedule == whole.schedule
    assert without_timings(resumed)["epochs"] == without_timings(whole)["epochs"]


# ------------------------------------------- issue 5: two styles, momentum, resuming
def test_lr_hook_and_optimizer_schedule_give_identical_runs(data):
    assert_lr_hook_matches_the_update_schedule(run, data)


def test_lr_hook_sets_every_update_through_the_trainer(data):
    train_iter, test_iter = data
    net = d2l.lenet()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    used = []
    original = trainer.step

    def step(batch_size):  # the lr Gluon holds when it applies the update
        used.append(trainer.learning_rate)
        original(batch_size)

    trainer.step = step
    history = d2l.train(net, train_iter, test_iter, 1, 0.5, optimizer=trainer,
                        lr_hook=lambda s: 0.01 * (s + 1), animator=False, verbose=False)
    assert used == pytest.approx([0.01 * (s + 1) for s in range(len(train_iter))], rel=1e-12)
    assert history.schedule is None and history.schedule_unit == "update"


def test_lr_hook_rejects_a_scheduler_and_a_scheduled_trainer(data):
    with pytest.raises(ValueError, match="lr_hook or scheduler"):
        run(data, 1, CosineScheduler(4), lr_hook=lambda s: 0.1)
    net = d2l.lenet()
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"lr_scheduler": d2l.GluonSchedule(CosineScheduler(4))})
    with pytest.raises(ValueError, match="lr_scheduler"):
        d2l.train(net, *data, 1, 0.1, optimizer=trainer, lr_hook=lambda s: 0.1,
                  animator=False, verbose=False)
    with pytest.raises(ValueError, match="lr_hook must be callable"):
        run(data, 1, lr_hook=0.1)


def test_momentum_builds_a_momentum_sgd_trainer(data):
    train_iter, test_iter = data
    plain, heavy = run(data, 1, lr=0.05), run(data, 1, lr=0.05, momentum=0.9)
    assert plain.lr == heavy.lr == [0.05]
    assert heavy.train_loss != plain.train_loss
    trainer = gluon.Trainer(d2l.lenet().collect_params(), "sgd", {"learning_rate": 0.1})
    with pytest.raises(ValueError, match="momentum"):
        d2l.train(d2l.lenet(), train_iter, test_iter, 1, 0.1, optimizer=trainer,
                  momentum=0.9, animator=False, verbose=False)


def test_checkpoint_resumes_a_per_update_warmup_cosine_mid_schedule(data, tmp_path):
    train_iter, test_iter = data
    steps = len(train_iter)
    schedule = WarmupCosineDecay(total_steps=4 * steps, warmup_steps=steps, hold=2,
                                 start_lr=0.0, target_lr=0.2, final_lr=0.0)
    whole_net = d2l.lenet()
    whole = d2l.train(whole_net, train_iter, test_iter, 4, 0.2, schedule,
                      schedule_unit="update", momentum=0.9, animator=False, verbose=False)

    net = d2l.lenet()  # the first half keeps its Trainer, to save it
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"lr_scheduler": d2l.GluonSchedule(schedule), "momentum": 0.9})
    part = d2l.train(net, train_iter, test_iter, 2, 0.2, optimizer=trainer,
                     schedule_unit="update", animator=False, verbose=False)
    net.save_parameters(str(tmp_path / "net.params"))
    trainer.save_states(str(tmp_path / "trainer.states"))
    (tmp_path / "history.json").write_text(json.dumps(part.to_dict()))

    restored = d2l.lenet(seed=7)
    restored.load_parameters(str(tmp_path / "net.params"), ctx=mx.cpu())
    # a Trainer without scheduler: load_states brings back the optimizer with its
    # GluonSchedule (pickled as its config), num_update and momentum buffers
    trainer = gluon.Trainer(restored.collect_params(), "sgd", {"learning_rate": 1.0})
    trainer.load_states(str(tmp_path / "trainer.states"))
    assert isinstance(trainer.optimizer.lr_scheduler, d2l.GluonSchedule)
    assert trainer.optimizer.lr_scheduler.schedule == schedule
    assert trainer.optimizer.num_update == 2 * steps and trainer.optimizer.momentum == 0.9
    history = d2l.History.from_dict(json.loads((tmp_path / "history.json").read_text()))
    resumed = d2l.train(restored, train_iter, test_iter, 4, 0.2, optimizer=trainer,
                        schedule_unit="update", history=history, start_epoch=2,
                        animator=False, verbose=False)
    assert resumed.step_lrs == whole.step_lrs
    assert resumed.lr == whole.lr
    assert resumed.schedule == whole.schedule == schedule_to_config(schedule)
    assert without_timings(resumed)["epochs"] == without_timings(whole)["epochs"]
    weights = lambda n: [p.data().asnumpy() for p in n.collect_params().values()]  # noqa: E731
    for a, b in zip(weights(restored), weights(whole_net)):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- issue 6: find_lr
def params_of(net):
    return {name: p.data().asnumpy().copy() for name, p in net.collect_params().items()}


def test_find_lr_sweeps_reads_back_and_restores_the_net(data):
    net = d2l.lenet()
    d2l.train(net, *data, 1, 0.1, animator=False, verbose=False)  # not a fresh net
    before = params_of(net)
    grads_before = [p.grad().asnumpy().copy() for p in net.collect_params().values()]
    timer = d2l.Timer()
    result = d2l.find_lr(net, data[0])
    seconds = timer.stop()
    print(f"\nfind_lr: {len(result.lrs)} steps on smoke data in {seconds:.2f} s "
          f"({result.stop_reason}, suggestion {result.suggestion})")
    after = params_of(net)
    assert before.keys() == after.keys()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    for g, p in zip(grads_before, net.collect_params().values()):
        np.testing.assert_array_equal(p.grad().asnumpy(), g)
    assert_default_sweep(result)  # the lr read back is exactly the planned one


def test_find_lr_cycles_the_data_and_is_repeatable(data):
    find_lr_twice_over_two_epochs(d2l, data[0])
    assert_linear_sweep(d2l, data[0], rtol=1e-12)


def test_find_lr_then_train_is_the_same_as_train(data):
    assert_find_lr_leaves_training_unchanged(run, d2l, data)


def test_find_lr_stops_when_the_loss_explodes(data):
    assert_find_lr_stops_when_the_loss_explodes(d2l, data[0], num_steps=60)


def test_d2l_device_decides_the_default_device(data, monkeypatch):
    assert_d2l_device_decides_the_default_device(d2l, data, monkeypatch, cpu=mx.cpu())
