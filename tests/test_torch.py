"""What only the PyTorch room has: ScheduleLR, native torch schedulers, state_dict checkpoints.

The room contract (training, lr read-back, find_lr) is tested in tests/test_rooms.py.
"""

import functools
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (extra 'torch')")

from torch.optim import lr_scheduler  # noqa: E402

from d2l_compat import torch as d2l  # noqa: E402
from d2l_compat.schedules import (Constant, CosineScheduler,  # noqa: E402
                                  MultiFactorScheduler, PolyScheduler, SquareRootScheduler,
                                  WarmupCosineDecay, join_schedules, schedule_to_config)
from test_rooms import BATCH, SCHEDULES, without_timings  # noqa: E402
from test_rooms import run as run_in  # noqa: E402

pytestmark = pytest.mark.slow  # trains networks: left out of make unit


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Run this module's trainings on one intra-op thread, restored afterwards.

    On a 2-core machine shared with other jobs, two OpenMP threads spin at every barrier
    and a smoke epoch takes 10-20x longer; one thread keeps the file fast and robust.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    return d2l.load_data_fashion_mnist(BATCH)


run = functools.partial(run_in, d2l)


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
def test_torch_lenet_is_a_sequential_of_twelve_layers():
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


def test_importing_the_torch_room_changes_no_global_state():
    code = (
        "import matplotlib, torch\n"
        "rc = dict(matplotlib.rcParams); rng = torch.get_rng_state()\n"
        "threads = torch.get_num_threads()\n"
        "from d2l_compat import torch as d2l\n"
        "assert dict(matplotlib.rcParams) == rc\n"
        "assert torch.equal(torch.get_rng_state(), rng)\n"
        "assert torch.get_num_threads() == threads\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------- training
def test_a_stateful_native_scheduler_stepped_while_plotting_is_the_d2l_pitfall():
    opt = toy_optimizer(0.5)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[15, 30], gamma=0.5)
    lrs_of(opt, sched, 30)  # D2L's plotting cell
    assert opt.param_groups[0]["lr"] == 0.125  # training starts fully decayed...
    assert lrs_of(opt, sched, 30) == [0.125] * 30  # ...and never decays during training


def test_train_with_a_native_torch_scheduler_records_what_the_optimizer_used(data):
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


def test_train_start_epoch_starts_a_per_update_schedule_at_its_update(data):
    steps = len(data[0])
    s = CosineScheduler(3 * steps, base_lr=0.3, final_lr=0.01)
    h = run(data, 3, s, schedule_unit="update", start_epoch=2)
    assert [e.epoch for e in h.epochs] == [2] and h.lr == [s(2 * steps)]


# ------------------------------------------------- issue 5: lr_hook, momentum, resuming
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


def test_torch_checkpoint_resumes_a_per_update_warmup_cosine_mid_schedule(data, tmp_path):
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
def test_find_lr_restores_the_grads_and_the_eval_mode(data):
    net = d2l.lenet()
    run(data, 1, lr=0.1, net=net)  # not a fresh net: it has gradients too
    net.eval()
    grads_before = [p.grad.clone() for p in net.parameters()]
    d2l.find_lr(net, data[0], num_steps=20)
    for g, p in zip(grads_before, net.parameters()):
        assert torch.equal(p.grad, g)
    assert not net.training  # the mode is restored too
