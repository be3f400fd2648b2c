"""The PyTorch room on real Fashion-MNIST smoke data (D2L_MODE=smoke, conftest)."""

import doctest
import functools
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (extra 'torch')")

from torch.optim import lr_scheduler  # noqa: E402

from d2l_compat import results  # noqa: E402
from d2l_compat import torch as d2l  # noqa: E402
from d2l_compat.schedules import (Constant, CosineScheduler,  # noqa: E402
                                  MultiFactorScheduler, PolyScheduler, SquareRootScheduler,
                                  WarmupCosineDecay, join_schedules, schedule_to_config)
from room_checks import (assert_d2l_device_decides_the_default_device,  # noqa: E402
                         SCHEDULES, assert_default_sweep,
                         assert_find_lr_leaves_training_unchanged,
                         assert_find_lr_stops_when_the_loss_explodes, assert_linear_sweep,
                         assert_lr_hook_matches_the_update_schedule,
                         assert_train_rejects_bad_arguments, find_lr_twice_over_two_epochs,
                         train_quietly, without_timings)

BATCH = 256


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Run this module's trainings on one intra-op thread, restored afterwards.

    On a 2-core machine shared with other jobs, two OpenMP threads spin at every barrier
    and a smoke epoch takes 10-20x longer; one thread keeps the file fast and robust.
    Nothing here depends on the thread count, and determinism is checked within it.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    return d2l.load_data_fashion_mnist(BATCH)


run = functools.partial(train_quietly, d2l)


@pytest.fixture(scope="module")
def two_epochs(data):
    return run(data, 2, CosineScheduler(20, base_lr=0.3, final_lr=0.01))


def toy_optimizer(lr=1.0):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def lrs_of(optimizer, scheduler, num_steps):
    """The lr of steps 0..num_steps-1 read back from the optimizer, stepped as in training."""
    lrs = []
    for _ in range(num_steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradients: a no-op that keeps torch's step-order check quiet
        scheduler.step()
    return lrs


def save_and_load(obj, path):
    torch.save(obj, path)
    return torch.load(path, weights_only=True)


# ----------------------------------------------------------------------- model, data
def test_lenet_output_shape_and_parameter_count():
    net = d2l.lenet()
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert sum(p.numel() for p in net.parameters()) == d2l.num_params(net) == 61_706
    X, shapes = torch.zeros(1, 1, 28, 28), []
    for layer in net:
        X = layer(X)
        shapes.append(tuple(X.shape))
    assert shapes == [(1, 6, 28, 28), (1, 6, 28, 28), (1, 6, 14, 14), (1, 16, 10, 10),
                      (1, 16, 10, 10), (1, 16, 5, 5), (1, 400), (1, 120), (1, 120),
                      (1, 84), (1, 84), (1, 10)]


def test_lenet_leaves_torch_global_rng_alone():
    # the weights (the same in every room) are checked in tests/test_lenet_weights.py
    state = torch.get_rng_state()
    d2l.lenet(seed=0)
    assert torch.equal(torch.get_rng_state(), state), "lenet changed torch's global RNG"


def test_load_data_fashion_mnist_shapes_and_dtypes(data):
    train_iter, test_iter = data
    assert len(train_iter) == math.ceil(2_000 / BATCH) and len(test_iter) == math.ceil(1_000 / BATCH)
    X, y = next(iter(train_iter))
    assert X.shape == (BATCH, 1, 28, 28) and X.dtype == torch.float32
    assert y.shape == (BATCH,) and y.dtype == torch.int64
    assert 0 <= float(X.min()) and float(X.max()) <= 1 and float(X.max()) > 0.5
    assert set(y.tolist()) <= set(range(10))
    assert sum(len(y) for _, y in test_iter) == 1_000
    assert train_iter.source and train_iter.split_reconstructed in (True, False)
    X32, _ = next(iter(d2l.load_data_fashion_mnist(8, resize=32)[0]))
    assert X32.shape == (8, 1, 32, 32)


def test_room_reexports_the_shared_helpers():
    from d2l_compat import data, plotting, schedules
    assert d2l.FRAMEWORK == "pytorch" and d2l.VERSIONS == {"torch": torch.__version__}
    assert d2l.try_gpu() == torch.device("cpu") or torch.cuda.is_available()
    assert d2l.plot is plotting.plot and d2l.Animator is plotting.Animator
    assert d2l.record_run is results.record_run
    assert d2l.compare_with_d2l is results.compare_with_d2l
    assert d2l.load_fashion_mnist is data.load_fashion_mnist
    assert d2l.get_fashion_mnist_labels([0, 9]) == ["t-shirt", "ankle boot"]
    assert d2l.plot_schedules is schedules.plot_schedules
    assert d2l.CosineScheduler is schedules.CosineScheduler


def test_importing_the_room_changes_no_global_state():
    code = (
        "import matplotlib, torch\n"
        "rc = dict(matplotlib.rcParams); rng = torch.get_rng_state()\n"
        "threads = torch.get_num_threads()\n"
        "from d2l_compat import torch as d2l\n"
        "assert dict(matplotlib.rcParams) == rc\n"
        "assert torch.equal(torch.get_rng_state(), rng)\n"
        "assert torch.get_num_threads() == threads\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_docstring_examples_of_the_room():
    result = doctest.testmod(d2l, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------- training
def test_history_of_a_two_epoch_run(two_epochs, results_tmp):
    h = two_epochs
    assert len(h.epochs) == 2 and [e.epoch for e in h.epochs] == [0, 1]
    for name in ("train_loss", "train_acc", "test_acc"):
        assert all(math.isfinite(v) for v in h.column(name)), name
    assert all(0 <= a <= 1 for a in h.train_acc + h.test_acc)
    assert h.train_loss[-1] < math.log(10)  # it learned something
    assert h.lr == [0.3, CosineScheduler(20, 0.3, 0.01)(1)]
    assert h.examples_per_sec > 0 and all(e.seconds > 0 for e in h.epochs)
    assert h.schedule == schedule_to_config(CosineScheduler(20, base_lr=0.3, final_lr=0.01))
    assert h.schedule_unit == "epoch" and h.framework == "pytorch" and h.device == "cpu"
    assert h.mode == "smoke" and h.seed == 0 and h.versions == {"torch": torch.__version__}
    assert h.data_source and not h.diverged
    assert h.step_lrs[0] == (0, 0.3) and all(s % d2l.LR_LOG_EVERY == 0 for s, _ in h.step_lrs)
    path = d2l.record_run("lr_scheduler", "cosine", h)
    assert path == results_tmp / "pytorch" / "lr_scheduler.json"
    assert without_timings(results.load_history("pytorch", "lr_scheduler", "cosine")) == \
        without_timings(h)


def test_per_epoch_schedule_read_back_from_the_optimizer(data):
    s = MultiFactorScheduler([2, 4], factor=0.5, base_lr=0.4)
    h = run(data, 5, s)
    assert h.lr == [s(t) for t in range(5)] == [0.4, 0.4, 0.2, 0.2, 0.1]
    steps = len(data[0])
    for step, lr in h.step_lrs:  # within an epoch the lr does not move
        assert lr == s(step // steps)


def test_per_update_schedule_read_back_from_the_optimizer(data):
    steps = len(data[0])
    s = CosineScheduler(max_update=2 * steps, base_lr=0.3, final_lr=0.01)
    h = run(data, 2, s, schedule_unit="update")
    assert h.schedule_unit == "update"
    assert h.lr == [s(0), s(steps)]
    assert [u for u, _ in h.step_lrs] == list(range(0, 2 * steps, d2l.LR_LOG_EVERY))
    for update, lr in h.step_lrs:
        assert lr == pytest.approx(s(update), rel=1e-12)
    assert len({lr for _, lr in h.step_lrs}) == len(h.step_lrs)  # it moves every update


def test_calling_and_plotting_the_schedule_does_not_change_training(data):
    import matplotlib.pyplot as plt
    s = MultiFactorScheduler([1, 2], factor=0.5, base_lr=0.4)
    fresh = run(data, 3, MultiFactorScheduler([1, 2], factor=0.5, base_lr=0.4))
    s(np.arange(30))
    [s(t) for t in range(30)]
    ax = d2l.plot_schedules(s, 30)
    plt.close(ax.figure)
    assert run(data, 3, s).lr == fresh.lr == [0.4, 0.2, 0.1]


def test_a_stateful_native_scheduler_stepped_while_plotting_is_the_d2l_pitfall():
    opt = toy_optimizer(0.5)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[15, 30], gamma=0.5)
    lrs_of(opt, sched, 30)  # D2L's plotting cell
    assert opt.param_groups[0]["lr"] == 0.125  # training starts fully decayed...
    assert lrs_of(opt, sched, 30) == [0.125] * 30  # ...and never decays during training


def test_a_repeated_smoke_run_is_identical(data, two_epochs):
    again = run(data, 2, CosineScheduler(20, base_lr=0.3, final_lr=0.01))
    assert without_timings(again) == without_timings(two_epochs)


def test_train_rejects_a_bad_schedule_unit_and_scheduler(data):
    assert_train_rejects_bad_arguments(run, data)


def test_train_with_a_native_scheduler_records_what_the_optimizer_used(data):
    net = d2l.lenet()
    opt = torch.optim.SGD(net.parameters(), lr=0.4)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[1, 2], gamma=0.5)
    h = run(data, 3, sched, net=net, optimizer=opt)
    assert h.lr == [0.4, 0.2, 0.1] and h.schedule is None and h.schedule_unit == "epoch"


def test_train_with_a_native_scheduler_uses_its_optimizer(data):
    net = d2l.lenet()
    opt = torch.optim.SGD(net.parameters(), lr=0.4)
    h = run(data, 2, lr_scheduler.ExponentialLR(opt, gamma=0.5), net=net)
    assert h.lr == [0.4, 0.2]
    other = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="another optimizer"):
        run(data, 1, lr_scheduler.ExponentialLR(opt, gamma=0.5), net=net, optimizer=other)


def test_train_without_scheduler_uses_the_constant_lr(data):
    h = run(data, 1, lr=0.05)
    assert h.lr == [0.05] and h.schedule is None and h.schedule_unit is None


# ----------------------------------------------------------------------- ScheduleLR
@pytest.mark.parametrize("s", SCHEDULES, ids=repr)
def test_schedulelr_after_k_steps_holds_schedule_k(s):
    opt = toy_optimizer(123.0)  # the optimizer's own lr is ignored
    sched = d2l.ScheduleLR(opt, s)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # used as documented: no torch warnings
        lrs = lrs_of(opt, sched, 60)
    np.testing.assert_array_equal(lrs, s(np.arange(60)))
    assert sched.get_last_lr() == [s(60)] and sched.last_epoch == 60


def test_schedulelr_sets_every_param_group():
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1.0},
              {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 2.0}]
    opt = torch.optim.SGD(groups)
    s = SquareRootScheduler(0.1)
    sched = d2l.ScheduleLR(opt, s)
    lrs_of(opt, sched, 3)
    assert [g["lr"] for g in opt.param_groups] == [s(3), s(3)]


def test_schedulelr_per_update_in_a_real_loop():
    net = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    s = CosineScheduler(12, base_lr=0.2, final_lr=0.0, warmup_steps=3)
    sched = d2l.ScheduleLR(opt, s)
    seen = []
    for epoch in range(3):
        for _ in range(5):  # 5 updates per epoch, stepped per update
            seen.append(opt.param_groups[0]["lr"])
            opt.zero_grad()
            net(torch.ones(2, 3)).sum().backward()
            opt.step()
            sched.step()
    np.testing.assert_array_equal(seen, s(np.arange(15)))


@pytest.mark.parametrize("s", [SCHEDULES[3], SCHEDULES[5], SCHEDULES[8]], ids=repr)
def test_schedulelr_state_dict_resumes_at_any_step(s, tmp_path):
    total = 40
    opt = toy_optimizer()
    reference = lrs_of(opt, d2l.ScheduleLR(opt, s), total)
    for k in range(0, total, 3):
        opt = toy_optimizer()
        sched = d2l.ScheduleLR(opt, s)
        before = lrs_of(opt, sched, k)
        state = save_and_load({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()},
                              tmp_path / "ckpt.pt")
        # A new process would build both objects again, with anything as the schedule.
        opt2 = toy_optimizer(5.0)
        sched2 = d2l.ScheduleLR(opt2, Constant(9.0))
        opt2.load_state_dict(state["optimizer"])
        sched2.load_state_dict(state["scheduler"])
        assert sched2.schedule == s and sched2.last_epoch == k
        assert opt2.param_groups[0]["lr"] == s(k)
        assert before + lrs_of(opt2, sched2, total - k) == reference, k


def test_schedulelr_state_dict_is_plain_and_loading_sets_the_lr():
    s = MultiFactorScheduler([2], factor=0.1, base_lr=1.0)
    opt = toy_optimizer()
    sched = d2l.ScheduleLR(opt, s)
    lrs_of(opt, sched, 3)
    state = sched.state_dict()
    assert state["schedule"] == {"class": "MultiFactorScheduler",
                                 "config": {"step": [2], "factor": 0.1, "base_lr": 1.0}}
    other = toy_optimizer(7.0)  # loading the scheduler alone restores the lr as well
    d2l.ScheduleLR(other, Constant(0.5)).load_state_dict(state)
    assert other.param_groups[0]["lr"] == pytest.approx(0.1)


def test_schedulelr_last_epoch_starts_a_fresh_optimizer_mid_schedule():
    s = CosineScheduler(20, base_lr=0.3, final_lr=0.01)
    opt = toy_optimizer()
    sched = d2l.ScheduleLR(opt, s, last_epoch=6)  # torch's convention: 7 steps done
    assert opt.param_groups[0]["lr"] == s(7)
    np.testing.assert_array_equal(lrs_of(opt, sched, 10), s(np.arange(7, 17)))


def test_schedulelr_validates_its_arguments():
    with pytest.raises(TypeError, match="LambdaLR"):
        d2l.ScheduleLR(toy_optimizer(), lambda t: 0.1)
    with pytest.raises(ValueError, match="last_epoch"):
        d2l.ScheduleLR(toy_optimizer(), Constant(0.1), last_epoch=-2)
    with pytest.raises(TypeError):
        d2l.ScheduleLR(object(), Constant(0.1))


def test_schedulelr_composes_with_sequentiallr_like_join_schedules(tmp_path):
    warm = PolyScheduler(5, base_lr=0.3, pwr=1, final_lr=0.0)  # any two pieces
    cos = CosineScheduler(15, base_lr=0.3, final_lr=0.01)
    joined = join_schedules([warm, cos], [5])
    opt = toy_optimizer()
    seq = lr_scheduler.SequentialLR(
        opt, [d2l.ScheduleLR(opt, warm), d2l.ScheduleLR(opt, cos)], milestones=[5])
    reference = lrs_of(opt, seq, 30)
    np.testing.assert_array_equal(reference, joined(np.arange(30)))
    for k in (3, 5, 12):  # inside the first piece, at the milestone, inside the second
        opt = toy_optimizer()
        seq = lr_scheduler.SequentialLR(
            opt, [d2l.ScheduleLR(opt, warm), d2l.ScheduleLR(opt, cos)], milestones=[5])
        before = lrs_of(opt, seq, k)
        # SequentialLR's state_dict nests ours; it survives weights_only loading too.
        state = save_and_load({"optimizer": opt.state_dict(), "scheduler": seq.state_dict()},
                              tmp_path / "seq.pt")
        opt2 = toy_optimizer()
        seq2 = lr_scheduler.SequentialLR(
            opt2, [d2l.ScheduleLR(opt2, Constant(0.0)), d2l.ScheduleLR(opt2, Constant(0.0))],
            milestones=[5])
        opt2.load_state_dict(state["optimizer"])
        seq2.load_state_dict(state["scheduler"])
        assert opt2.param_groups[0]["lr"] == joined(k), k
        assert before + lrs_of(opt2, seq2, 30 - k) == reference, k


def test_linear_warmup_then_cosine_natively_matches_ours():
    # LinearLR(start_factor=f, total_iters=w) gives base_lr * (f + (1-f) t/w): our warmup
    # with warmup_begin_lr = f * base_lr; CosineAnnealingLR(T_max=T-w) is our cosine.
    base, final, w, T = 0.3, 0.01, 5, 20
    f = 0.2
    ours = CosineScheduler(T, base_lr=base, final_lr=final, warmup_steps=w,
                           warmup_begin_lr=f * base)
    opt = toy_optimizer(base)
    native = lr_scheduler.SequentialLR(opt, [
        lr_scheduler.LinearLR(opt, start_factor=f, end_factor=1.0, total_iters=w),
        lr_scheduler.CosineAnnealingLR(opt, T_max=T - w, eta_min=final)], milestones=[w])
    np.testing.assert_allclose(lrs_of(opt, native, T + 1), ours(np.arange(T + 1)),
                               rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------- resuming
def checkpoint_resume(data, tmp_path, schedule, schedule_unit):
    """4 uninterrupted epochs vs 2 + (save, load in new objects) + 2."""
    full_net = d2l.lenet()
    full_opt = torch.optim.SGD(full_net.parameters(), lr=0.0)
    full = run(data, 4, d2l.ScheduleLR(full_opt, schedule), net=full_net, optimizer=full_opt,
               schedule_unit=schedule_unit)

    net = d2l.lenet()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    sched = d2l.ScheduleLR(opt, schedule)
    first = run(data, 2, sched, net=net, optimizer=opt, schedule_unit=schedule_unit)
    state = save_and_load({"model": net.state_dict(), "optimizer": opt.state_dict(),
                           "scheduler": sched.state_dict(), "history": first.to_dict()},
                          tmp_path / "checkpoint.pt")
    net2 = d2l.lenet(seed=123)  # a different init, overwritten by the checkpoint
    net2.load_state_dict(state["model"])
    opt2 = torch.optim.SGD(net2.parameters(), lr=0.0)
    sched2 = d2l.ScheduleLR(opt2, Constant(0.0))
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    resumed = run(data, 4, sched2, net=net2, optimizer=opt2, schedule_unit=schedule_unit,
                  history=d2l.History.from_dict(state["history"]), start_epoch=2)
    return full, full_net, resumed, net2


@pytest.mark.parametrize("unit", ["epoch", "update"])
def test_checkpoint_resume_matches_an_uninterrupted_run(data, tmp_path, unit):
    steps = len(data[0])
    schedule = (MultiFactorScheduler([1, 3], factor=0.5, base_lr=0.4) if unit == "epoch"
                else CosineScheduler(4 * steps, base_lr=0.3, final_lr=0.01, warmup_steps=5))
    full, full_net, resumed, net2 = checkpoint_resume(data, tmp_path, schedule, unit)
    assert resumed.lr == full.lr and resumed.step_lrs == full.step_lrs
    assert resumed.schedule == full.schedule == schedule_to_config(schedule)
    assert without_timings(resumed) == without_timings(full)
    for (name, a), b in zip(full_net.state_dict().items(), net2.state_dict().values()):
        assert torch.equal(a, b), name


def test_train_start_epoch_with_a_schedule_starts_at_its_step(data):
    steps = len(data[0])
    s = CosineScheduler(3 * steps, base_lr=0.3, final_lr=0.01)
    h = run(data, 3, s, schedule_unit="update", start_epoch=2)
    assert [e.epoch for e in h.epochs] == [2] and h.lr == [s(2 * steps)]
    h = run(data, 3, MultiFactorScheduler([2], 0.5, 0.4), start_epoch=2)
    assert h.lr == [0.2]


# ------------------------------------------------- issue 5: lr_hook, momentum, resuming
def test_lr_hook_and_optimizer_schedule_give_identical_runs(data):
    assert_lr_hook_matches_the_update_schedule(run, data)


def test_lr_hook_sets_every_param_group_before_every_update(data):
    train_iter, test_iter = data
    net = d2l.lenet()
    params = list(net.parameters())
    opt = torch.optim.SGD([{"params": params[:4]}, {"params": params[4:]}], lr=0.5)
    used = []
    original = opt.step

    def step(*args, **kwargs):  # the lrs torch holds when it applies the update
        used.append([g["lr"] for g in opt.param_groups])
        return original(*args, **kwargs)

    opt.step = step
    history = d2l.train(net, train_iter, test_iter, 1, 0.5, optimizer=opt,
                        lr_hook=lambda s: 0.01 * (s + 1), animator=False, verbose=False)
    assert used == [[0.01 * (s + 1)] * 2 for s in range(len(train_iter))]
    assert history.schedule is None and history.schedule_unit == "update"
    assert history.lr == [0.01]


def test_lr_hook_and_momentum_reject_bad_combinations(data):
    with pytest.raises(ValueError, match="lr_hook or scheduler"):
        run(data, 1, CosineScheduler(4), lr_hook=lambda s: 0.1)
    with pytest.raises(TypeError, match="lr_hook must be a callable"):
        run(data, 1, lr_hook=0.1)
    net = d2l.lenet()
    with pytest.raises(ValueError, match="momentum"):
        run(data, 1, net=net, optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
            momentum=0.9)


def test_momentum_builds_a_momentum_sgd(data):
    plain, heavy = run(data, 1, lr=0.05), run(data, 1, lr=0.05, momentum=0.9)
    assert plain.lr == heavy.lr == [0.05]
    assert heavy.train_loss != plain.train_loss
    train_iter, test_iter = data
    net = d2l.lenet()
    reference = run(data, 1, lr=0.05, net=net,
                    optimizer=torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9))
    assert without_timings(reference)["epochs"] == without_timings(heavy)["epochs"]


def test_checkpoint_resumes_a_per_update_warmup_cosine_mid_schedule(data, tmp_path):
    steps = len(data[0])
    schedule = WarmupCosineDecay(total_steps=4 * steps, warmup_steps=steps, hold=2,
                                 start_lr=0.0, target_lr=0.2, final_lr=0.0)
    whole_net = d2l.lenet()
    whole = run(data, 4, schedule, lr=0.2, net=whole_net, schedule_unit="update",
                momentum=0.9)

    net = d2l.lenet()  # the first half keeps its optimizer and scheduler, to save them
    opt = torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.9)
    sched = d2l.ScheduleLR(opt, schedule)
    part = run(data, 2, sched, net=net, optimizer=opt, schedule_unit="update")
    torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "history": part.to_dict()},
               tmp_path / "checkpoint.pt")
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)

    restored = d2l.lenet(seed=7)  # another init, overwritten by the checkpoint
    restored.load_state_dict(state["model"])
    opt2 = torch.optim.SGD(restored.parameters(), lr=1.0, momentum=0.9)
    opt2.load_state_dict(state["optimizer"])  # momentum buffers included
    sched2 = d2l.ScheduleLR(opt2, Constant(1.0))
    sched2.load_state_dict(state["scheduler"])
    assert sched2.schedule == schedule and sched2.last_epoch == 2 * steps
    assert opt2.param_groups[0]["lr"] == schedule(2 * steps)
    resumed = run(data, 4, sched2, net=restored, optimizer=opt2, schedule_unit="update",
                  history=d2l.History.from_dict(state["history"]), start_epoch=2)
    assert resumed.step_lrs == whole.step_lrs and resumed.lr == whole.lr
    assert resumed.schedule == whole.schedule == schedule_to_config(schedule)
    assert without_timings(resumed)["epochs"] == without_timings(whole)["epochs"]
    for (name, a), b in zip(whole_net.state_dict().items(), restored.state_dict().values()):
        assert torch.equal(a, b), name


def test_warmup_cosine_decay_natively_with_sequentiallr():
    T, w, h, target, final = 100, 10, 15, 0.2, 0.002
    ours = WarmupCosineDecay(T, w, hold=h, start_lr=0.0, target_lr=target, final_lr=final)
    opt = toy_optimizer(target)
    native = lr_scheduler.SequentialLR(opt, [
        lr_scheduler.LambdaLR(opt, lambda t: t / w),
        lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=h),
        lr_scheduler.CosineAnnealingLR(opt, T_max=T - w - h, eta_min=final)],
        milestones=[w, w + h])
    np.testing.assert_allclose(lrs_of(opt, native, T + 1), ours(np.arange(T + 1)),
                               rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- issue 6: find_lr
def test_find_lr_sweeps_reads_back_and_restores_the_net(data):
    net = d2l.lenet()
    run(data, 1, lr=0.1, net=net)  # not a fresh net: it has gradients too
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    grads_before = [p.grad.clone() for p in net.parameters()]
    timer = d2l.Timer()
    result = d2l.find_lr(net, data[0])
    seconds = timer.stop()
    print(f"\nfind_lr: {len(result.lrs)} steps on smoke data in {seconds:.2f} s "
          f"({result.stop_reason}, suggestion {result.suggestion})")
    after = net.state_dict()
    assert before.keys() == after.keys()
    for name in before:
        assert torch.equal(after[name], before[name]), name
    for g, p in zip(grads_before, net.parameters()):
        assert torch.equal(p.grad, g)
    assert not net.training  # the mode is restored too
    assert_default_sweep(result)  # the lr read back is exactly the planned one


def test_find_lr_cycles_the_data_and_is_repeatable(data):
    find_lr_twice_over_two_epochs(d2l, data[0])
    assert_linear_sweep(d2l, data[0], rtol=1e-12)


def test_find_lr_then_train_is_the_same_as_train(data):
    assert_find_lr_leaves_training_unchanged(run, d2l, data)


def test_find_lr_stops_when_the_loss_explodes(data):
    assert_find_lr_stops_when_the_loss_explodes(d2l, data[0], num_steps=60)


def test_d2l_device_decides_the_default_device(data, monkeypatch):
    assert_d2l_device_decides_the_default_device(d2l, data, monkeypatch, cpu=torch.device("cpu"))
