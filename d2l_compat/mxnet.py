"""MXNet (Gluon) room of d2l_compat: ``from d2l_compat import mxnet as d2l``.

Thin by design: it converts arrays to ``mx.nd`` NDArrays (classic Gluon, the global
``npx.set_np()`` switch is never called), builds LeNet with the shared initial weights
of :func:`d2l_compat.lenet.lenet_weights` and the ``gluon.Trainer``, and
bridges the framework-free schedules of :mod:`d2l_compat.schedules` to
``mxnet.lr_scheduler`` through :class:`GluonSchedule`, and runs the learning-rate range
test of :mod:`d2l_compat.lr_finder` with a Gluon ``Trainer`` (:func:`find_lr`).

Importing it changes no global state except the documented numpy shim
(:mod:`d2l_compat._mxnet_shim`, which restores ``np.bool`` for MXNet 1.9.1) and, unless you
set it, ``OMP_NUM_THREADS`` to the physical cores before MXNet loads
(:func:`d2l_compat.context.apply_framework_defaults`: MXNet's own default is half the
logical CPUs).
"""

from __future__ import annotations

from d2l_compat import _mxnet_shim  # noqa: F401  (must run before mxnet is imported)
from d2l_compat.context import DEFAULT_SEED, apply_framework_defaults

apply_framework_defaults("mxnet")  # before MXNet loads: it reads them then

import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from d2l_compat import d2l_api as _d2l_api  # noqa: E402
from d2l_compat import common, rooms  # noqa: E402
from d2l_compat.checks import check_callable, check_int  # noqa: E402
from d2l_compat.common import *  # noqa: E402,F401,F403  (re-exported: the shared D2L names)
from d2l_compat.devices import choose_device  # noqa: E402
from d2l_compat.lenet import from_layout, lenet_weights, match_layers, to_layout  # noqa: E402
from d2l_compat.lr_finder import LRFinderResult  # noqa: E402
from d2l_compat.schedules import Schedule, schedule_from_config, schedule_to_config  # noqa: E402
from d2l_compat.training import History  # noqa: E402

FRAMEWORK = "mxnet"
VERSIONS = {"mxnet": mx.__version__}


def try_gpu(i: int = 0) -> mx.Context:
    """GPU ``i`` if it exists, else the CPU."""
    return mx.gpu(i) if mx.context.num_gpus() > i else mx.cpu()


def default_device() -> mx.Context:
    """The context ``train`` uses when given none: ``D2L_DEVICE`` (auto, cpu or gpu) decides.

    ``auto`` is :func:`try_gpu`; ``gpu`` raises a RuntimeError when MXNet sees no GPU
    (see :mod:`d2l_compat.devices`).
    """
    if choose_device(FRAMEWORK, mx.context.num_gpus()) == "gpu":
        return try_gpu()
    return mx.cpu()


def _to_ndarrays(X, y):
    module = mx.np if mx.util.is_np_array() else mx.nd
    return module.array(X, dtype="float32"), module.array(y, dtype="int32")


load_data_fashion_mnist = rooms.data_loader("NCHW", _to_ndarrays, """Fashion-MNIST in memory
    as (train_iter, test_iter) of NCHW float32 / int32 arrays.

    The batches are ``mx.nd`` NDArrays, or ``mx.np`` ndarrays (which have D2L's
    ``as_in_ctx``) while MXNet's NumPy mode is on (D2L's code calls ``npx.set_np()``):
    the mode is read when each batch is made.
    """)


def load_lenet_weights(net: gluon.Block, weights) -> gluon.Block:
    """Load LeNet ``weights`` (canonical layout, from :func:`lenet_weights`) into ``net``.

    ``net``'s ``Conv2D`` and ``Dense`` blocks, in order, receive the five (weight, bias)
    pairs in Gluon's layout (conv OIHW as canonical, ``Dense`` weight ``(out, in)``: the
    transpose of the canonical ``(in, out)``; ``Dense`` flattens NCHW channel-major like
    the canonical layout) with ``Parameter.set_data``. The parameters must be initialised
    (any initializer: they are overwritten). Any net with LeNet's layer shapes works;
    other shapes raise ``ValueError`` before anything changes. Returns ``net``.
    """
    for layer, w, b in match_layers(_weight_layers(net), to_layout(weights, "OIHW"),
                                    lambda layer: (layer.weight.shape, layer.bias.shape)):
        layer.weight.set_data(mx.nd.array(w, dtype="float32"))
        layer.bias.set_data(mx.nd.array(b, dtype="float32"))
    return net


def _weight_layers(net: gluon.Block) -> list:
    return [block for block in net if isinstance(block, (nn.Conv2D, nn.Dense))]


def lenet_weights_of(net: gluon.Block) -> dict:
    """The canonical LeNet weights of ``net`` now (the inverse of :func:`load_lenet_weights`)."""
    return from_layout([(layer.weight.data().asnumpy(), layer.bias.data().asnumpy())
                        for layer in _weight_layers(net)], "OIHW")


dead_relu_fraction = rooms.dead_relu_fraction_of(FRAMEWORK, lenet_weights_of)


def lenet(seed: int = DEFAULT_SEED) -> nn.HybridSequential:
    """The chapter's modernised LeNet (ReLU, max-pooling) with the weights of ``seed``, on the CPU.

    The weights are :func:`d2l_compat.lenet.lenet_weights` ``(seed)`` -- Xavier-uniform,
    zero biases, drawn once with numpy -- the same numbers every framework's ``lenet``
    loads (:func:`load_lenet_weights`). Input sizes are given explicitly, so the
    parameters exist at once (initialised to zeros, then loaded); MXNet's RNG is not used.
    """
    net = nn.HybridSequential()
    net.add(nn.Conv2D(6, kernel_size=5, padding=2, activation="relu", in_channels=1),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Conv2D(16, kernel_size=5, activation="relu", in_channels=6),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Dense(120, activation="relu", in_units=16 * 5 * 5),  # Dense flattens
            nn.Dense(84, activation="relu", in_units=120),
            nn.Dense(10, in_units=84))
    net.initialize(mx.init.Zero(), ctx=mx.cpu())
    return load_lenet_weights(net, lenet_weights(seed))


def num_params(net: gluon.Block) -> int:
    """Number of scalar parameters of ``net``."""
    return sum(p.data().size for p in net.collect_params().values())


class GluonSchedule(mx.lr_scheduler.LRScheduler):
    """An ``mxnet.lr_scheduler.LRScheduler`` driven by a d2l_compat schedule.

    Gluon's optimizer increments ``num_update`` *before* it asks the scheduler for the
    lr, so update ``u`` (counting from 0) sees ``num_update = u + 1``. This adapter maps
    it back: update ``u`` trains with ``schedule(u // steps_per_epoch)`` -- per update
    with ``steps_per_epoch=1``, per epoch with the number of minibatches of an epoch.
    Reading ``trainer.learning_rate`` after a ``trainer.step`` returns the lr that update
    used (before the first update it returns ``schedule(0)``).

    It also wraps any callable ``t -> lr``, e.g. a native ``mxnet.lr_scheduler`` object
    (MXNet's schedulers called with ``num_update = t`` equal ours).

    ``get_config()`` / ``from_config()`` round-trip it through JSON, and it pickles as
    that config, so ``trainer.save_states`` / ``load_states`` (which pickle the optimizer
    with its scheduler) resume mid-schedule with the same lr sequence.
    """

    def __init__(self, schedule, steps_per_epoch: int = 1):
        self.schedule = check_callable("schedule", schedule, "t -> lr")
        self.steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        super().__init__(base_lr=float(schedule(0)))

    def step_of(self, num_update: int) -> int:
        """The schedule step ``t`` of Gluon's 1-based ``num_update``."""
        return max(int(num_update) - 1, 0) // self.steps_per_epoch

    def __call__(self, num_update: int) -> float:
        return float(self.schedule(self.step_of(num_update)))

    def get_config(self) -> dict:
        """``{"schedule": schedule_to_config(...), "steps_per_epoch": n}`` (JSON types)."""
        if not isinstance(self.schedule, Schedule):
            raise ValueError(f"only a d2l_compat schedule has a config, got {self.schedule!r}")
        return {"schedule": schedule_to_config(self.schedule),
                "steps_per_epoch": self.steps_per_epoch}

    @classmethod
    def from_config(cls, config: dict) -> "GluonSchedule":
        return cls(schedule_from_config(config["schedule"]), config["steps_per_epoch"])

    def __reduce__(self):
        if isinstance(self.schedule, Schedule):  # pickle-free of our classes' internals
            return (GluonSchedule.from_config, (self.get_config(),))
        return (GluonSchedule, (self.schedule, self.steps_per_epoch))

    def __repr__(self):
        return f"GluonSchedule({self.schedule!r}, steps_per_epoch={self.steps_per_epoch})"


def evaluate_accuracy_gpu(net: gluon.Block, data_iter, device=None) -> float:
    """Accuracy of ``net`` on ``data_iter`` (``mx.nd`` or, in NumPy mode, ``mx.np`` batches)."""
    device = device or list(net.collect_params().values())[0].list_ctx()[0]
    correct = count = 0
    for X, y in data_iter:
        X, y = X.as_in_context(device), y.as_in_context(device)
        correct += accuracy(net(X), y)
        count += y.size
    return correct / count


def _hybridize(net: gluon.Block) -> None:
    if isinstance(net, gluon.HybridBlock):
        net.hybridize(static_alloc=True, static_shape=True)


def _lr_scheduler(scheduler, steps_per_epoch: int | None):
    """What a Trainer gets as ``lr_scheduler`` for ``train``'s ``scheduler``, counted in
    epochs of ``steps_per_epoch`` updates (None: in updates)."""
    if isinstance(scheduler, GluonSchedule):
        return scheduler
    if isinstance(scheduler, mx.lr_scheduler.LRScheduler):  # native: Gluon steps it per update
        if steps_per_epoch:
            raise ValueError(
                "MXNet's Trainer calls a native mxnet.lr_scheduler once per update "
                "(with num_update = update + 1): pass schedule_unit='update', or wrap it "
                "as GluonSchedule(scheduler, steps_per_epoch=len(train_iter)) to step it "
                "once per epoch")
        return scheduler
    return GluonSchedule(scheduler, steps_per_epoch or 1)


class _GluonTrainer(rooms.Trainer):
    """The hooks of :func:`d2l_compat.rooms.train_with` for a Gluon net and Trainer."""

    FRAMEWORK, VERSIONS = FRAMEWORK, VERSIONS
    SCHEDULERS = (mx.lr_scheduler.LRScheduler,)
    SCHEDULER_KINDS = "an mxnet.lr_scheduler.LRScheduler"
    SETTABLE_LR = ("a Trainer without lr_scheduler (Gluon refuses set_learning_rate while "
                   "a scheduler is attached)")
    default_device = staticmethod(default_device)

    @classmethod
    def net_device(cls, net):
        return list(net.collect_params().values())[0].list_ctx()[0]

    @classmethod
    def lr_is_settable(cls, optimizer, net) -> bool:
        return optimizer.optimizer.lr_scheduler is None

    def seed(self, seed: int) -> None:
        mx.random.seed(seed)

    def place(self) -> None:
        self.net.collect_params().reset_ctx(self.device)

    def build_optimizer(self, optimizer, scheduler, lr, momentum):
        """The given Trainer, or a new one with Gluon's ``"sgd"``."""
        if optimizer is not None:
            return optimizer
        # Only one of learning_rate / lr_scheduler: given both, MXNet overwrites the
        # scheduler's base_lr with learning_rate.
        params = {"learning_rate": lr} if scheduler is None else {}
        return gluon.Trainer(self.net.collect_params(), "sgd", {**params, "momentum": momentum})

    def attach_schedule(self, scheduler, steps_per_epoch, first_update, num_updates):
        if scheduler is not None:
            self.optimizer.optimizer.lr_scheduler = _lr_scheduler(scheduler, steps_per_epoch)
        adapter = self.optimizer.optimizer.lr_scheduler
        return (adapter.schedule if isinstance(adapter, GluonSchedule) else None,
                None if adapter is None else "epoch" if steps_per_epoch else "update")

    def begin_run(self, first_update, steps_per_epoch, sets_lr) -> None:
        _hybridize(self.net)
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        optimizer = self.optimizer.optimizer
        if first_update and optimizer.num_update == 0:  # a fresh Trainer resuming:
            optimizer.begin_num_update = optimizer.num_update = first_update

    def begin_epoch(self) -> None:
        self.loss_sum = mx.nd.zeros((1,), ctx=self.device)
        self.correct = mx.nd.zeros((1,), ctx=self.device)

    def set_lr(self, lr: float) -> None:
        self.optimizer.set_learning_rate(lr)

    def read_lr(self) -> float:
        """After the step: the optimizer's lr is then the one this update used."""
        return float(self.optimizer.learning_rate)

    def step(self, X, y) -> None:
        X, y = X.as_in_context(self.device), y.as_in_context(self.device)
        with autograd.record():
            y_hat = self.net(X)
            self.last_loss = self.loss(y_hat, y)
        self.last_loss.backward()
        self.optimizer.step(X.shape[0])
        self.loss_sum += self.last_loss.sum()
        self.correct += (y_hat.argmax(axis=1) == y.astype("float32")).sum()

    def batch_loss(self):
        return self.last_loss.mean().asscalar()

    def end_epoch(self) -> tuple:
        return self.loss_sum, self.correct

    def evaluate(self, data_iter) -> float:
        return evaluate_accuracy_gpu(self.net, data_iter, self.device)

    def save_state(self):
        """The parameters' data and gradients (copies) and the Trainer each is linked to."""
        params = list(self.net.collect_params().values())
        return params, [([d.copy() for d in p.list_data()],
                         [g.copy() for g in p.list_grad()] if p.grad_req != "null" else [],
                         getattr(p, "_trainer", None)) for p in params]

    def restore_state(self, state) -> None:
        params, saved = state
        for param, (data, grads, owner) in zip(params, saved):
            for target, value in zip(param.list_data(), data):
                value.copyto(target)
            for target, value in zip(param.list_grad() if grads else [], grads):
                value.copyto(target)
            if hasattr(param, "_set_trainer"):
                param._set_trainer(owner)
        mx.nd.waitall()


@rooms.train_signature
def train(*args, **kwargs) -> History:
    """Train with a ``gluon.Trainer``; the arguments are :meth:`d2l_compat.rooms.Room.train`'s.

    ``scheduler`` is a d2l_compat schedule (or any callable ``t -> lr``), wrapped in
    :class:`GluonSchedule` so that ``t`` counts epochs or updates as ``schedule_unit``
    says; a ready :class:`GluonSchedule`; a native ``mxnet.lr_scheduler`` object, given
    to the Trainer unchanged (MXNet calls it per update with ``num_update = u + 1``, so
    it needs ``schedule_unit="update"``); or None. ``lr_hook`` sets the lr with
    ``trainer.set_learning_rate``, which Gluon refuses while a scheduler is attached: a
    given ``optimizer`` must then have none.

    ``optimizer`` is an existing ``gluon.Trainer`` to continue with (e.g. after
    ``trainer.load_states``); it keeps its own scheduler unless ``scheduler`` is given.
    A Trainer that has made no update and resumes (``start_epoch > 0``) starts its update
    count at ``start_epoch * len(train_iter)``, so its scheduler continues there.
    Otherwise a Trainer with Gluon's ``"sgd"`` is built, with ``momentum`` (Gluon's SGD
    keeps the lr inside the momentum buffer: ``v <- momentum * v - lr * g; w <- w + v``).
    ``mx.random.seed(seed)`` is called; the net is hybridized with ``static_alloc=True,
    static_shape=True``.
    """
    return rooms.train_with(_GluonTrainer, *args, **kwargs)


@rooms.range_test_signature
def find_lr(*args, **kwargs) -> LRFinderResult:
    """Learning-rate range test of ``net`` with Gluon's SGD; the net is left unchanged.

    The arguments and the test are :meth:`d2l_compat.rooms.Room.find_lr`'s. The lr is
    set with ``trainer.set_learning_rate`` before the update and read back from
    ``trainer.learning_rate`` after it. The sweep uses its own plain-SGD
    ``gluon.Trainer`` (any Trainer of yours is not touched) and afterwards restores the
    parameters, their gradients and their Trainer link exactly as they were.
    ``mx.random.seed(seed)`` is called; the net is hybridized like in :func:`train`.
    """
    return rooms.find_lr_with(_GluonTrainer, *args, **kwargs)


# --------------------------------------------------------------------------- D2L names
# D2L's helpers with D2L's signatures, so D2L's chapter code runs after changing only
# its import line; the framework-free half lives in d2l_compat.d2l_api. They work on
# ``mx.nd`` arrays and, after D2L's ``npx.set_np()``, on ``mx.np`` arrays.

arange = mx.np.arange


def size(a) -> int:
    """The number of elements of ``a`` (D2L's ``d2l.size``)."""
    return a.size


def try_all_gpus() -> list[mx.Context]:
    """All GPUs, or ``[mx.cpu()]`` when there is none (D2L's try_all_gpus)."""
    return [mx.gpu(i) for i in range(mx.context.num_gpus())] or [mx.cpu()]


def accuracy(y_hat, y) -> float:
    """The number of correct predictions (a float): rows of logits ``y_hat`` or labels."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    return float((y_hat.astype(y.dtype) == y).astype(y.dtype).sum().asnumpy().item())


def train_ch6(net: gluon.Block, train_iter, test_iter, num_epochs: int, lr: float,
              device=None) -> None:
    """D2L's ``train_ch6``: ``init.Xavier()`` on ``device``, Gluon SGD(lr), softmax CE.

    As in D2L, the parameters are re-initialised (``force_reinit=True``, MXNet's global
    RNG) and it prints the final loss/accuracies and the examples/sec.
    """
    device = device or try_gpu()
    net.initialize(force_reinit=True, ctx=device, init=mx.init.Xavier())
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})

    def train_step(X, y):
        X, y = X.as_in_context(device), y.as_in_context(device)
        with autograd.record():
            y_hat = net(X)
            batch_loss = loss(y_hat, y)
        batch_loss.backward()
        trainer.step(X.shape[0])
        return batch_loss.sum(), accuracy(y_hat, y), X.shape[0]

    _d2l_api.train_ch6_loop(train_step, lambda: evaluate_accuracy_gpu(net, test_iter),
                            train_iter, num_epochs, device)


__all__ = [*rooms.CONTRACT_NAMES, "GluonSchedule", "train_ch6",
           *common.__all__]
