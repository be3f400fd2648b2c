"""What only the MXNet room has: GluonSchedule, native mxnet schedulers, Trainer checkpoints.

The room contract (training, lr read-back, find_lr) is tested in tests/test_rooms.py.
"""

import functools
import os
import subprocess
import sys
import json

import numpy as np
import pytest

import d2l_compat._mxnet_shim  # noqa: F401  (restores np.bool before mxnet imports)

mx = pytest.importorskip("mxnet", reason="mxnet is not installed (extra 'mxnet')")

from mxnet import gluon  # noqa: E402

from d2l_compat import mxnet as d2l  # noqa: E402
from d2l_compat.schedules import (CosineScheduler, MultiFactorScheduler,  # noqa: E402
                                  WarmupCosineDecay, schedule_to_config)
from test_rooms import without_timings  # noqa: E402
from test_rooms import run as run_in  # noqa: E402

pytestmark = pytest.mark.slow  # trains networks: left out of make unit

BATCH = 256


@pytest.fixture(scope="module")
def data():
    return d2l.load_data_fashion_mnist(BATCH)


run = functools.partial(run_in, d2l)


# ----------------------------------------------------------------------- model, data
# -------------------------------------------------------------------------- training
def test_a_native_scheduler_must_be_stepped_per_update(data):
    native = mx.lr_scheduler.CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01)
    with pytest.raises(ValueError, match="per update"):
        run(data, 1, native)


def test_train_with_a_native_mxnet_scheduler_records_what_the_trainer_used(data):
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
    with pytest.raises(TypeError, match="schedule"):
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


def test_lr_hook_rejects_a_trainer_with_a_scheduler(data):
    net = d2l.lenet()
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"lr_scheduler": d2l.GluonSchedule(CosineScheduler(4))})
    with pytest.raises(ValueError, match="lr_scheduler"):
        run(data, 1, net=net, optimizer=trainer, lr_hook=lambda s: 0.1)


def test_trainer_states_checkpoint_resumes_a_per_update_warmup_cosine(data, tmp_path):
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


@pytest.mark.parametrize("given", [None, "1"])
def test_the_mxnet_room_runs_its_operators_on_every_physical_core_unless_told(given):
    """MXNet's own default is half the logical CPUs; the room sets ``OMP_NUM_THREADS`` to
    the physical cores before MXNet loads, and a value the user set wins."""
    from d2l_compat.machine import physical_cores
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if given is not None:
        env["OMP_NUM_THREADS"] = given
    run = subprocess.run([sys.executable, "-c", "import os\nfrom d2l_compat import mxnet\n"
                          "print(os.environ['OMP_NUM_THREADS'])"],
                         capture_output=True, text=True, env=env, check=True)
    assert run.stdout.strip() == (given or str(physical_cores()))
