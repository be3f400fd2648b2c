"""PyTorch room of d2l_compat: ``from d2l_compat import torch as d2l``.

Thin by design: it converts arrays, builds LeNet with the shared initial weights of
:func:`d2l_compat.lenet.lenet_weights` and the SGD optimizer, and bridges the
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
from d2l_compat import common, rooms
from d2l_compat.common import *  # noqa: F401,F403  (re-exported: the shared D2L names)
from d2l_compat.context import DEFAULT_SEED
from d2l_compat.devices import choose_device
from d2l_compat.lenet import from_layout, lenet_weights, match_layers, to_layout
from d2l_compat.lr_finder import LRFinderResult
from d2l_compat.schedules import Schedule, schedule_from_config, schedule_to_config
from d2l_compat.training import History

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


def _to_tensors(X, y):
    return torch.from_numpy(X), torch.from_numpy(y).long()


load_data_fashion_mnist = rooms.data_loader("NCHW", _to_tensors, """Fashion-MNIST in memory
    as (train_iter, test_iter) of NCHW float32 / int64 tensors.""")


def load_lenet_weights(net: nn.Module, weights) -> nn.Module:
    """Load LeNet ``weights`` (canonical layout, from :func:`lenet_weights`) into ``net``.

    ``net``'s ``nn.Conv2d`` and ``nn.Linear`` layers, in module order, receive the five
    (weight, bias) pairs in torch's layout (conv OIHW as canonical, ``Linear.weight``
    ``(out, in)``: the transpose of the canonical ``(in, out)``), copied onto the
    parameters' device. Any net with LeNet's layer shapes works (e.g. a sigmoid,
    average-pooling variant); other shapes raise ``ValueError`` before anything changes.
    Returns ``net``.
    """
    matched = match_layers(_weight_layers(net), to_layout(weights, "OIHW"),
                           lambda layer: (layer.weight.shape, layer.bias.shape))
    with torch.no_grad():
        for layer, w, b in matched:
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    return net


def _weight_layers(net: nn.Module) -> list:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def lenet_weights_of(net: nn.Module) -> dict:
    """The canonical LeNet weights of ``net`` now (the inverse of :func:`load_lenet_weights`)."""
    return from_layout([(layer.weight.detach().cpu().numpy(), layer.bias.detach().cpu().numpy())
                        for layer in _weight_layers(net)], "OIHW")


dead_relu_fraction = rooms.dead_relu_fraction_of(FRAMEWORK, lenet_weights_of)


def lenet(seed: int = DEFAULT_SEED) -> nn.Sequential:
    """The chapter's modernised LeNet (ReLU, max-pooling) with the weights of ``seed``.

    The weights are :func:`d2l_compat.lenet.lenet_weights` ``(seed)`` -- Xavier-uniform,
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


class _TorchTrainer(rooms.Trainer):
    """The hooks of :func:`d2l_compat.rooms.train_with` for a torch net and optimizer."""

    FRAMEWORK, VERSIONS = FRAMEWORK, VERSIONS
    SCHEDULERS = (torch.optim.lr_scheduler.LRScheduler,)
    SCHEDULER_KINDS = "a torch.optim.lr_scheduler.LRScheduler"
    READS_LR_BEFORE_STEP = True  # a scheduler steps after the update: read the lr before
    # Convolutions in channels-last (NHWC in memory, still NCHW in shape): oneDNN's faster
    # CPU kernels for LeNet's few channels (measured side by side on an AVX2 CPU, see the
    # README's performance paragraph); the values differ only by float32 rounding.
    MEMORY_FORMAT = torch.channels_last
    default_device = staticmethod(default_device)
    scheduler, per_update = None, False  # find_lr attaches none

    @classmethod
    def net_device(cls, net):
        return next(net.parameters()).device

    @classmethod
    def attaches(cls, scheduler, optimizer) -> bool:  # a plain function is set by hand
        return isinstance(scheduler, (Schedule, torch.optim.lr_scheduler.LRScheduler))

    def seed(self, seed: int) -> None:
        torch.manual_seed(seed)  # for any randomness inside the net (none in LeNet)

    def place(self) -> None:
        self.net.to(self.device, memory_format=self.MEMORY_FORMAT)

    def build_optimizer(self, optimizer, scheduler, lr, momentum):
        if optimizer is None and isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler):
            optimizer = scheduler.optimizer  # a native scheduler comes with its optimizer
        return optimizer or torch.optim.SGD(self.net.parameters(), lr=lr, momentum=momentum)

    def attach_schedule(self, scheduler, steps_per_epoch, first_update, num_updates):
        if isinstance(scheduler, Schedule):
            start = first_update // steps_per_epoch if steps_per_epoch else first_update
            scheduler = ScheduleLR(self.optimizer, scheduler, last_epoch=start - 1)
        elif scheduler is not None and scheduler.optimizer is not self.optimizer:
            raise ValueError("scheduler steps another optimizer than the one training uses: "
                             "pass its optimizer as optimizer=")
        self.scheduler, self.per_update = scheduler, steps_per_epoch is None
        return (scheduler.schedule if isinstance(scheduler, ScheduleLR) else None,
                None if scheduler is None else "epoch" if steps_per_epoch else "update")

    def begin_run(self, first_update, steps_per_epoch, sets_lr) -> None:
        self.loss = nn.CrossEntropyLoss()

    def begin_epoch(self) -> None:
        self.net.train()
        self.loss_sum = torch.zeros((), device=self.device)
        self.correct = torch.zeros((), device=self.device)

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def read_lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def step(self, X, y) -> None:
        X, y = X.to(self.device, memory_format=self.MEMORY_FORMAT), y.to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        y_hat = self.net(X)
        self.last_loss = self.loss(y_hat, y)
        self.last_loss.backward()
        self.optimizer.step()
        if self.scheduler is not None and self.per_update:
            self.scheduler.step()
        with torch.no_grad():
            self.loss_sum += self.last_loss * y.numel()
            self.correct += (y_hat.argmax(dim=1) == y).sum()

    def batch_loss(self) -> float:
        return float(self.last_loss.detach())

    def end_epoch(self) -> tuple:
        if self.scheduler is not None and not self.per_update:
            self.scheduler.step()
        return self.loss_sum, self.correct

    def evaluate(self, data_iter) -> float:
        return evaluate_accuracy_gpu(self.net, data_iter, self.device)

    def save_state(self):
        """The net's ``state_dict`` (a deep copy), its parameters' ``.grad`` and its mode."""
        params = list(self.net.parameters())
        grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
        return copy.deepcopy(self.net.state_dict()), params, grads, self.net.training

    def restore_state(self, state) -> None:
        weights, params, grads, training = state
        self.net.load_state_dict(weights)
        for p, g in zip(params, grads):
            p.grad = g
        self.net.train(training)


@rooms.train_signature
def train(*args, **kwargs) -> History:
    """Train with ``torch.optim.SGD``; the arguments are :meth:`d2l_compat.rooms.Room.train`'s.

    ``scheduler`` is a d2l_compat schedule (wrapped in :class:`ScheduleLR`, which starts
    at the step of ``start_epoch``), a native ``torch.optim.lr_scheduler`` (training then
    uses its optimizer and continues from its state), any function ``step -> lr`` (set
    in every param group before every update) or None. A scheduler steps after
    ``optimizer.step()``, once per epoch or per update. ``lr`` only builds the default
    ``torch.optim.SGD(lr, momentum=momentum)`` (torch keeps the lr outside the buffer:
    ``v <- momentum * v + g; w <- w - lr * v``); ``lr_hook`` sets the ``lr`` of every
    ``optimizer.param_groups`` entry. ``torch.manual_seed(seed)`` is called.
    """
    return rooms.train_with(_TorchTrainer, *args, **kwargs)


@rooms.range_test_signature
def find_lr(*args, **kwargs) -> LRFinderResult:
    """The learning-rate range test on ``net`` with ``torch.optim.SGD``; ``net`` is unchanged.

    The arguments and the test are :meth:`d2l_compat.rooms.Room.find_lr`'s. The lr is
    set as every ``param_groups[...]["lr"]`` and read back from ``param_groups[0]``;
    the sweep's plain SGD is its own (an optimizer of yours is never touched). The
    net's ``state_dict`` (a deep copy), the parameters' ``.grad`` and the train/eval
    mode are restored exactly. ``torch.manual_seed(seed)`` is called as in :func:`train`.
    """
    return rooms.find_lr_with(_TorchTrainer, *args, **kwargs)


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


__all__ = [*rooms.CONTRACT_NAMES, "ScheduleLR", "train_ch6",
           *common.__all__]
