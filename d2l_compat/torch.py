"""PyTorch room of d2l_compat: ``from d2l_compat import torch as d2l``.

Thin by design: it converts arrays, builds LeNet with the shared initial weights of
:func:`d2l_compat.models.lenet_weights` and the SGD optimizer, and bridges the
framework-free schedules of :mod:`d2l_compat.schedules` to ``torch.optim.lr_scheduler``
through :class:`ScheduleLR`. ``train(..., lr_hook=...)`` is the other, hook style of a
per-update schedule, and :func:`find_lr` runs the learning-rate range test of
:mod:`d2l_compat.lr_finder` with ``torch.optim.SGD``. Importing it changes no global state.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from d2l_compat import d2l_api as _d2l_api
from d2l_compat import data as _data
from d2l_compat.common import *  # noqa: F401,F403  (the shared D2L names)
from d2l_compat.devices import choose_device
from d2l_compat.common import (
    check_schedule_unit,
    DEFAULT_SEED, EpochStats, History, LRFinderResult, LRRangeTest, LR_LOG_EVERY,
    MultiFactorScheduler, Schedule, fit, join_schedules, lr_sweep,
    lenet_weights, schedule_from_config, schedule_to_config)
from d2l_compat.models import match_layers, to_layout

FRAMEWORK = "pytorch"
VERSIONS = {"torch": str(torch.__version__)}  # a plain str: checkpoints load weights_only


def try_gpu(i: int = 0) -> torch.device:
    """GPU ``i`` if it exists, else the CPU."""
    if torch.cuda.device_count() > i:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def default_device() -> torch.device:
    """The device ``train`` uses when given none: ``D2L_DEVICE`` (auto, cpu or gpu) decides.

    ``auto`` is :func:`try_gpu`; ``gpu`` raises a RuntimeError when torch sees no CUDA GPU
    (see :mod:`d2l_compat.devices`).
    """
    if choose_device(FRAMEWORK, torch.cuda.device_count()) == "gpu":
        return try_gpu()
    return torch.device("cpu")


def load_data_fashion_mnist(batch_size: int, resize=None, seed: int = DEFAULT_SEED):
    """Fashion-MNIST in memory as (train_iter, test_iter) of NCHW float32 / int64 tensors."""
    def to_tensors(X, y):
        return torch.from_numpy(X), torch.from_numpy(y).long()

    return _data.load_data_fashion_mnist(batch_size, resize=resize, layout="NCHW",
                                         convert=to_tensors, seed=seed)


def load_lenet_weights(net: nn.Module, weights) -> nn.Module:
    """Load LeNet ``weights`` (canonical layout, from :func:`lenet_weights`) into ``net``.

    ``net``'s ``nn.Conv2d`` and ``nn.Linear`` layers, in module order, receive the five
    (weight, bias) pairs in torch's layout (conv OIHW as canonical, ``Linear.weight``
    ``(out, in)``: the transpose of the canonical ``(in, out)``), copied onto the
    parameters' device. Any net with LeNet's layer shapes works (e.g. a sigmoid,
    average-pooling variant); other shapes raise ``ValueError`` before anything changes.
    Returns ``net``.
    """
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    matched = match_layers(layers, to_layout(weights, "OIHW"),
                           lambda layer: (layer.weight.shape, layer.bias.shape))
    with torch.no_grad():
        for layer, w, b in matched:
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    return net


def lenet(seed: int = DEFAULT_SEED) -> nn.Sequential:
    """The chapter's modernised LeNet (ReLU, max-pooling) with the weights of ``seed``.

    The weights are :func:`d2l_compat.models.lenet_weights` ``(seed)`` -- Xavier-uniform,
    zero biases, drawn once with numpy -- the same numbers every framework's ``lenet``
    loads (:func:`load_lenet_weights`). torch's global RNG is left alone.
    """
    # Layer constructors draw a default init from the global RNG: fork it so that
    # building the net leaves torch's global RNG state exactly as it was.
    with torch.random.fork_rng(devices=[]):
        net = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))
    return load_lenet_weights(net, lenet_weights(seed))


def num_params(net: nn.Module) -> int:
    """Number of scalar parameters of ``net``."""
    return sum(p.numel() for p in net.parameters())


class ScheduleLR(torch.optim.lr_scheduler.LRScheduler):
    """A ``torch.optim.lr_scheduler`` driven by a d2l_compat schedule.

    After ``k`` calls of ``step()`` every param group's lr is ``schedule(k)`` (so right
    after construction it is ``schedule(0)``); call ``step()`` once per epoch or once per
    update, after ``optimizer.step()`` as for any torch scheduler. The optimizer's own
    lr is ignored: the schedule holds the absolute values.

    ``last_epoch=k - 1`` starts at step ``k`` (lr ``schedule(k)``), also on a fresh
    optimizer. ``state_dict()`` stores the schedule's config as plain types, so a run
    saved with ``torch.save`` and restored with ``torch.load(..., weights_only=True)``
    and ``load_state_dict`` resumes with the same lr sequence. Inside ``SequentialLR``
    each piece restarts at its milestone, exactly as in ``join_schedules``.

    Example (one update per step; the ``opt.step()`` is a no-op here)::

        >>> p = torch.nn.Parameter(torch.zeros(1))
        >>> opt = torch.optim.SGD([p], lr=1.0)
        >>> sched = ScheduleLR(opt, MultiFactorScheduler([2], factor=0.5, base_lr=0.4))
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
        >>> lrs
        [0.4, 0.4, 0.2, 0.2]
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule,
                 last_epoch: int = -1):
        if not isinstance(schedule, Schedule):
            raise TypeError(
                f"schedule must be a d2l_compat.schedules.Schedule, got {schedule!r} "
                "(for a plain function use torch.optim.lr_scheduler.LambdaLR)")
        if not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"last_epoch must be an int >= -1, got {last_epoch!r}")
        self.schedule = schedule
        for group in getattr(optimizer, "param_groups", []):
            # torch needs initial_lr to resume (last_epoch >= 0); ours does not use it.
            group.setdefault("initial_lr", group["lr"])
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.schedule(self.last_epoch)] * len(self.optimizer.param_groups)

    # step(epoch) and SequentialLR's milestone jump use the closed form: the same formula.
    _get_closed_form_lr = get_lr

    def state_dict(self) -> dict:
        """The scheduler's counters plus the schedule as ``schedule_to_config`` (plain types)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedule")}
        state["schedule"] = schedule_to_config(self.schedule)
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore counters and schedule; the optimizer's lrs become the restored step's."""
        state = dict(state_dict)
        self.schedule = schedule_from_config(state.pop("schedule"))
        self.__dict__.update(state)
        if self.last_epoch >= 0:  # -1: a SequentialLR piece that has not started yet
            values = self.get_lr()
            for group, lr in zip(self.optimizer.param_groups, values):
                group["lr"] = lr
            self._last_lr = list(values)


def evaluate_accuracy_gpu(net: nn.Module, data_iter, device=None) -> float:
    """Accuracy of ``net`` on ``data_iter``."""
    net.eval()
    device = device or next(net.parameters()).device
    correct = count = 0
    with torch.no_grad():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            correct += int((net(X).argmax(dim=1) == y).sum())
            count += y.numel()
    return correct / count


def _bridge_scheduler(scheduler, optimizer, start_step: int):
    """(torch scheduler or None, schedule config or None) for ``train``'s ``scheduler``."""
    if scheduler is None:
        return None, None
    if isinstance(scheduler, Schedule):
        return (ScheduleLR(optimizer, scheduler, last_epoch=start_step - 1),
                schedule_to_config(scheduler))
    if isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler):
        if scheduler.optimizer is not optimizer:
            raise ValueError("scheduler steps another optimizer than the one training uses: "
                             "pass its optimizer as optimizer=")
        config = (schedule_to_config(scheduler.schedule)
                  if isinstance(scheduler, ScheduleLR) else None)
        return scheduler, config
    raise TypeError(f"scheduler must be None, a d2l_compat schedule or a "
                    f"torch.optim.lr_scheduler.LRScheduler, got {scheduler!r}")


def train(net: nn.Module, train_iter, test_iter, num_epochs: int, lr: float,
          scheduler=None, device=None, *, schedule_unit: str = "epoch", optimizer=None,
          seed: int = DEFAULT_SEED, animator=True, verbose: bool = True,
          history: History | None = None, start_epoch: int = 0, momentum: float = 0.0,
          lr_hook=None) -> History:
    """Train with minibatch SGD; epoch (or update) ``t`` uses ``scheduler(t)``.

    ``scheduler`` is a d2l_compat schedule (wrapped in :class:`ScheduleLR`), a native
    ``torch.optim.lr_scheduler`` (it trains with that scheduler's optimizer), or None for
    a constant ``lr`` (``lr`` only builds the default ``torch.optim.SGD``; a given
    ``optimizer`` keeps its own). ``schedule_unit`` says whether it steps once per ``"epoch"`` or per
    ``"update"``. ``start_epoch`` with ``history`` continues a run: a d2l_compat schedule
    starts at the step of ``start_epoch``; a native scheduler continues from its state.

    ``momentum`` builds the default optimizer as ``torch.optim.SGD(lr, momentum=momentum)``
    (torch keeps the lr outside the buffer: ``v <- momentum * v + g; w <- w - lr * v``).
    ``lr_hook`` is the other way to schedule per update: a callable ``step -> lr`` (e.g.
    a d2l_compat schedule) that the loop calls before every update ``step`` (counted over
    the whole run, so it continues after ``start_epoch``), setting the result as the
    ``lr`` of every ``optimizer.param_groups`` entry. It excludes ``scheduler``; the
    History records ``schedule_unit="update"`` and, for a d2l_compat schedule, its config.
    """
    check_schedule_unit(schedule_unit)
    if lr_hook is not None:
        if scheduler is not None:
            raise ValueError("pass either lr_hook or scheduler, not both")
        if not callable(lr_hook):
            raise TypeError(f"lr_hook must be a callable step -> lr, got {lr_hook!r}")
    if optimizer is not None and momentum:
        raise ValueError("momentum builds the default optimizer; set it on the given "
                         "optimizer instead")
    device = device or default_device()
    torch.manual_seed(seed)  # for any randomness inside the net (none in LeNet)
    net.to(device)
    if optimizer is None and isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler):
        optimizer = scheduler.optimizer  # a native scheduler comes with its optimizer
    optimizer = optimizer or torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    loss = nn.CrossEntropyLoss()
    steps_per_epoch = len(train_iter)
    start_step = start_epoch * (steps_per_epoch if schedule_unit == "update" else 1)
    scheduler, schedule_config = _bridge_scheduler(scheduler, optimizer, start_step)
    if lr_hook is not None:
        schedule_config = schedule_to_config(lr_hook) if isinstance(lr_hook, Schedule) else None
    history = history or History(
        framework=FRAMEWORK, device=str(device), seed=seed, schedule=schedule_config,
        schedule_unit=("update" if lr_hook is not None else
                       schedule_unit if scheduler is not None else None),
        data_source=getattr(train_iter, "source", None),
        split_reconstructed=getattr(train_iter, "split_reconstructed", None),
        versions=dict(VERSIONS))
    per_update = scheduler is not None and schedule_unit == "update"

    def train_epoch(epoch: int) -> EpochStats:
        net.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        count, step_lrs = 0, []
        for i, (X, y) in enumerate(_data.epoch_batches(train_iter, epoch)):
            step = epoch * steps_per_epoch + i
            if lr_hook is not None:
                hook_lr = float(lr_hook(step))
                for group in optimizer.param_groups:
                    group["lr"] = hook_lr
            if step % LR_LOG_EVERY == 0 or i == 0:
                step_lrs.append((step, optimizer.param_groups[0]["lr"]))
            X, y = X.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            y_hat = net(X)
            batch_loss = loss(y_hat, y)
            batch_loss.backward()
            optimizer.step()
            if per_update:
                scheduler.step()
            with torch.no_grad():
                loss_sum += batch_loss * y.numel()
                correct += (y_hat.argmax(dim=1) == y).sum()
            count += y.numel()
        if scheduler is not None and not per_update:
            scheduler.step()
        first_lr = step_lrs[0][1]
        return EpochStats(float(loss_sum), float(correct), count, first_lr,
                          [p for p in step_lrs if p[0] % LR_LOG_EVERY == 0])

    return fit(train_epoch, lambda: evaluate_accuracy_gpu(net, test_iter, device),
               num_epochs, history, start_epoch=start_epoch, animator=animator,
               verbose=verbose)


# --------------------------------------------------------------------------- LR finder

def find_lr(net: nn.Module, train_iter, start_lr: float = 1e-7, end_lr: float = 10.0,
            num_steps: int = 100, mode: str = "exponential", beta: float = 0.9,
            diverge_factor: float = 4.0, seed: int = DEFAULT_SEED) -> LRFinderResult:
    """The learning-rate range test on ``net`` with ``torch.optim.SGD``; ``net`` is unchanged.

    Update ``t`` trains one minibatch (cycling the epochs of ``train_iter`` as
    :func:`train` sees them) at lr ``lr_sweep(start_lr, end_lr, num_steps, mode)[t]``,
    set as every ``param_groups[...]["lr"]`` before the update and read back from
    ``param_groups[0]["lr"]`` for the record; the loss recorded is the minibatch's mean
    softmax cross-entropy. The test stops early when the smoothed loss exceeds
    ``diverge_factor`` times its best or a loss is not finite (see
    :class:`d2l_compat.lr_finder.LRRangeTest`).

    The sweep uses its own plain SGD optimizer (an optimizer of yours is never touched).
    Afterwards, also if the test raises, the net's ``state_dict`` (a deep copy taken
    before), the parameters' ``.grad`` and the train/eval mode are restored exactly.
    ``torch.manual_seed(seed)`` is called as in :func:`train` (LeNet draws nothing).
    """
    sweep = LRRangeTest(start_lr=start_lr, end_lr=end_lr, num_steps=num_steps, mode=mode,
                        beta=beta, diverge_factor=diverge_factor)
    state = copy.deepcopy(net.state_dict())
    params = list(net.parameters())
    grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
    was_training = net.training
    device = params[0].device
    torch.manual_seed(seed)
    optimizer = torch.optim.SGD(params, lr=start_lr)
    loss = nn.CrossEntropyLoss()
    batches = _data.cycle_batches(train_iter)

    def update(lr):
        X, y = next(batches)
        X, y = X.to(device), y.to(device)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        batch_loss = loss(net(X), y)
        batch_loss.backward()
        optimizer.step()
        return float(batch_loss.detach()), optimizer.param_groups[0]["lr"]

    try:
        net.train()
        return sweep.run(update)
    finally:
        net.load_state_dict(state)
        for p, g in zip(params, grads):
            p.grad = g
        net.train(was_training)


# --------------------------------------------------------------------------- D2L names
# D2L's helpers with D2L's signatures, so D2L's chapter code runs after changing only
# its import line; the framework-free half lives in d2l_compat.d2l_api.

arange = torch.arange
size = torch.numel  # D2L's d2l.size(y): the number of elements


def try_all_gpus() -> list[torch.device]:
    """All GPUs, or ``[cpu]`` when there is none (D2L's try_all_gpus)."""
    gpus = [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
    return gpus or [torch.device("cpu")]


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """The number of correct predictions (a float): rows of logits ``y_hat`` or labels."""
    if y_hat.ndim > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return float((y_hat.type(y.dtype) == y).sum())


def train_ch6(net: nn.Module, train_iter, test_iter, num_epochs: int, lr: float,
              device=None) -> None:
    """D2L's ``train_ch6``: Xavier-uniform weights, SGD(lr), cross-entropy, an Animator.

    As in D2L, the weights of every ``nn.Linear`` / ``nn.Conv2d`` are re-drawn with
    ``nn.init.xavier_uniform_`` (torch's global RNG), and it prints
    ``training on <device>``, the final loss/accuracies and the examples/sec.
    """
    device = device or try_gpu()

    def init_weights(m):
        if type(m) in (nn.Linear, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)

    net.apply(init_weights)
    print("training on", device)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()

    def train_step(X, y):
        net.train()
        optimizer.zero_grad()
        X, y = X.to(device), y.to(device)
        y_hat = net(X)
        batch_loss = loss(y_hat, y)
        batch_loss.backward()
        optimizer.step()
        return batch_loss.detach() * X.shape[0], accuracy(y_hat, y), X.shape[0]

    _d2l_api.train_ch6_loop(train_step, lambda: evaluate_accuracy_gpu(net, test_iter),
                            train_iter, num_epochs, device)
