"""JAX room of d2l_compat (flax.linen + optax): ``from d2l_compat import jax as d2l``.

Thin by design: it converts arrays, builds LeNet with the shared initial weights of
:func:`d2l_compat.lenet.lenet_weights` and the SGD optimizer, and bridges the
framework-free schedules of :mod:`d2l_compat.schedules` to optax.

JAX is functional, so the model returned by :func:`lenet` is a small wrapper, :class:`Model`,
holding the linen module, its parameters and (after training) the optimizer state.
:func:`train` updates ``net.params`` and ``net.opt_state`` in place, so the D2L idiom
``train(net, ...)`` then ``evaluate_accuracy_gpu(net, test_iter)`` works unchanged.

How optax reports the lr. The SGD optimizer is ``optax.inject_hyperparams(optax.sgd)``;
its state holds ``hyperparams['learning_rate']``. When the lr is a schedule, update number
``c`` (counting from 0) evaluates ``schedule(c)`` at the state's count *before*
incrementing it and stores that value in ``hyperparams``. So after ``k >= 1`` updates the
state holds the lr *applied by the last update*, ``schedule(k - 1)``; right after
``init`` it holds ``schedule(0)``, the lr of the first update. :func:`train` records the
lr returned by the compiled step after each update: exactly the lr that update applied.

Two ways to schedule per update (the chapter "Warmup, Hold and Cosine Decay"): a schedule
owned by the optimizer (``train(..., scheduler=s, schedule_unit="update")``: an optax
schedule of the state's count), or a per-batch hook (``train(..., lr_hook=s)``) that sets a
number-valued ``hyperparams['learning_rate']`` before every update (:func:`set_lr`).
:func:`find_lr` runs the learning-rate range test of :mod:`d2l_compat.lr_finder` with the
same SGD and compiled step.
"""

from __future__ import annotations

import functools

import flax
import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
import optax

from d2l_compat import common, jax_kernels, rooms
from d2l_compat.common import *  # noqa: F401,F403  (re-exported: the shared D2L names)
from d2l_compat.context import DEFAULT_SEED
from d2l_compat.devices import choose_device
from d2l_compat.jax_kernels import (Flatten, MaxPool2D, ReLU, conv_as_matmul,  # noqa: F401
                                    lenet_module, lenet_params)
from d2l_compat.lenet import from_layout, lenet_weights
from d2l_compat.lr_finder import LRFinderResult
from d2l_compat.optax_extras import (cached_sgd, current_lr, lr_is_scheduled,  # noqa: F401
                                     optax_schedule, resumed_state, set_lr, sgd, store_lr,
                                     table_size)
from d2l_compat.schedules import Schedule
from d2l_compat.training import History

FRAMEWORK = "jax"
VERSIONS = {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "flax": flax.__version__, "optax": optax.__version__}


def _gpus() -> list:
    """The GPUs jax sees (none when this jaxlib has no GPU backend)."""
    try:
        return jax.devices("gpu")
    except RuntimeError:  # no GPU backend in this jaxlib
        return []


def try_gpu(i: int = 0):
    """GPU ``i`` if it exists, else the CPU (a ``jax.Device``)."""
    gpus = _gpus()
    return gpus[i] if len(gpus) > i else jax.devices("cpu")[0]


def default_device():
    """The device ``train`` uses when given none: ``D2L_DEVICE`` (auto, cpu or gpu) decides.

    ``auto`` is :func:`try_gpu`; ``gpu`` raises a RuntimeError when jax sees no GPU
    (see :mod:`d2l_compat.devices`).
    """
    if choose_device(FRAMEWORK, len(_gpus())) == "gpu":
        return try_gpu()
    return jax.devices("cpu")[0]


def _to_arrays(X, y):
    return jnp.asarray(X), jnp.asarray(y)


load_data_fashion_mnist = rooms.data_loader("NHWC", _to_arrays, """Fashion-MNIST in memory
    as (train_iter, test_iter) of NHWC float32 jax arrays.""")


class _ByIdentity:
    """A static jit argument for an unhashable module (e.g. ``nn.Sequential([...])``)."""

    def __init__(self, module):
        self.module = module

    def apply(self, *args, **kwargs):
        return self.module.apply(*args, **kwargs)


def _static(module):
    try:
        hash(module)
        return module
    except TypeError:
        return _ByIdentity(module)


@functools.partial(jax.jit, static_argnums=0)
def _apply(module, params, X):
    return module.apply({"params": params}, X)


@functools.partial(jax.jit, static_argnums=0)
def _num_correct(module, params, X, y):
    return jnp.sum(jnp.argmax(module.apply({"params": params}, X), axis=-1) == y)


class Model:
    """A linen module with its parameters: what :func:`train` and the notebooks use.

    ``net(X)`` applies the model; ``net.params`` are its parameters and ``net.opt_state``
    the optimizer state of the last training (``None`` before). ``to_bytes()`` /
    ``from_bytes()`` save and restore both (flax.serialization, msgpack).
    """

    def __init__(self, module: nn.Module, params, seed: int = DEFAULT_SEED):
        self.module, self.params, self.seed = module, params, seed
        self._static = _static(module)  # how compiled functions receive the module
        self.opt_state = None
        self._restored_opt_state = None  # a state dict from from_bytes, shaped by train

    def __call__(self, X):
        return _apply(self._static, self.params, X)

    @property
    def num_params(self) -> int:
        return sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(self.params))

    @property
    def layers(self):
        """The module's layers bound to the parameters, callable one by one."""
        return self.module.bind({"params": self.params}).layers

    def state_dict(self) -> dict:
        opt_state = (self._restored_opt_state if self.opt_state is None
                     else flax.serialization.to_state_dict(self.opt_state))
        return {"params": flax.serialization.to_state_dict(self.params),
                "opt_state": opt_state}

    def to_bytes(self) -> bytes:
        """Parameters and optimizer state as msgpack bytes."""
        return flax.serialization.msgpack_serialize(self.state_dict())

    def from_bytes(self, blob: bytes) -> "Model":
        """Restore what :meth:`to_bytes` saved; the optimizer state is taken up by the
        next ``train(..., start_epoch=k)``."""
        state = flax.serialization.msgpack_restore(blob)
        self.params = flax.serialization.from_state_dict(self.params, state["params"])
        self.opt_state, self._restored_opt_state = None, state.get("opt_state")
        return self

    def __repr__(self):
        return f"Model({type(self.module).__name__}, {self.num_params:,} parameters)"


def num_params(net: Model) -> int:
    """The number of trainable parameters (61,706 for LeNet)."""
    return net.num_params


def load_lenet_weights(net: Model, weights) -> Model:
    """Load LeNet ``weights`` (canonical layout) into ``net.params`` (:func:`lenet_params`);
    returns ``net``."""
    net.params = lenet_params(net.module, weights)
    return net


def lenet_weights_of(net: Model) -> dict:
    """The canonical LeNet weights of ``net`` now (the inverse of :func:`load_lenet_weights`);
    the layers by their index (a trained tree comes back with its keys sorted)."""
    names = sorted(net.params, key=lambda name: int(name.rsplit("_", 1)[1]))
    return from_layout([(np.asarray(net.params[n]["kernel"]), np.asarray(net.params[n]["bias"]))
                        for n in names], "HWIO")


dead_relu_fraction = rooms.dead_relu_fraction_of(FRAMEWORK, lenet_weights_of)


def lenet(seed: int = DEFAULT_SEED) -> Model:
    """The chapter's modernised LeNet (ReLU, max-pooling) with the weights of ``seed``.

    The weights are :func:`d2l_compat.lenet.lenet_weights` ``(seed)`` -- Xavier-uniform,
    zero biases, drawn once with numpy -- the same numbers every framework's ``lenet``
    loads (:func:`lenet_params`); nothing is drawn with ``jax.random``.
    """
    module = lenet_module()
    return Model(module, lenet_params(module, lenet_weights(seed)), seed)


def _copy(tree):
    return jax.tree_util.tree_map(jnp.copy, tree)


# ------------------------------------------------------------------ train / evaluate
def evaluate_accuracy_gpu(net: Model, data_iter, device=None) -> float:
    """Accuracy of ``net`` on ``data_iter`` (counts summed on the device)."""
    params = net.params if device is None else jax.device_put(net.params, device)
    correct, count = jnp.zeros((), jnp.int32), 0
    for X, y in data_iter:
        correct = correct + _num_correct(net._static, params, X, y)
        count += int(y.shape[0])
    return int(correct) / count


@functools.lru_cache(maxsize=32)
def _make_train_step(module: nn.Module, optimizer):
    def loss_fn(params, X, y):
        logits = module.apply({"params": params}, X)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        return losses.mean(), logits

    def step(state, metrics, X, y):
        params, opt_state = state
        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, X, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        correct = jnp.sum(jnp.argmax(logits, axis=-1) == y)
        metrics = metrics + jnp.stack([loss * y.shape[0], correct.astype(jnp.float32)])
        # the lr this update applied, read back from the optimizer state; the batch's loss
        return (params, opt_state), metrics, current_lr(opt_state), loss

    return jax.jit(step, donate_argnums=(0, 1))


class _OptaxTrainer(rooms.Trainer):
    """The hooks of :func:`d2l_compat.rooms.train_with`: optax SGD, the compiled step.

    The step donates (reuses) the buffers of its state, so the run works on its own
    copy ``state = (params, opt_state)`` and gives the net a copy at every epoch end:
    ``net.params`` stay valid if training stops.
    """

    FRAMEWORK, VERSIONS = FRAMEWORK, VERSIONS
    SCHEDULER_KINDS = "an optax schedule"  # a function of the step, like any callable
    SETTABLE_LR = ("an optimizer whose learning_rate is a number (e.g. d2l.sgd(0.1)): a "
                   "schedule is re-evaluated by optax at every update, overwriting the value")
    default_device = staticmethod(default_device)
    constant_lr = None  # the lr to set in the state, for the default SGD without schedule

    @classmethod
    def attaches(cls, scheduler, optimizer) -> bool:
        """An optax schedule lives in the default optimizer. A d2l_compat schedule is set
        before every update instead (exactly ``np.float32(scheduler(t))``, the value the
        tabulated optax schedule gives): one compiled step then serves every run of a
        chapter, where a schedule baked into the step compiled it again for each run."""
        return optimizer is None and not isinstance(scheduler, Schedule)

    @classmethod
    def lr_is_settable(cls, optimizer, net) -> bool:
        return not lr_is_scheduled(optimizer.init(net.params))

    def device_label(self) -> str:
        device = self.device
        return "cpu" if device.platform == "cpu" else f"{device.platform}:{device.id}"

    def build_optimizer(self, optimizer, scheduler, lr, momentum):
        if optimizer is not None:
            return optimizer
        self.constant_lr, self.momentum = lr, momentum
        return cached_sgd("constant", None, None, momentum)

    def attach_schedule(self, scheduler, steps_per_epoch, first_update, num_updates):
        """The SGD of the schedule replaces the default one (cached: one compiled step)."""
        if scheduler is None:
            return None, None
        if isinstance(scheduler, Schedule):  # tabulated per update: exactly float32(s(u))
            self.optimizer = cached_sgd("schedule", scheduler, steps_per_epoch, self.momentum,
                                      None if steps_per_epoch else table_size(num_updates))
        else:  # an optax schedule
            self.optimizer = cached_sgd("native", scheduler, steps_per_epoch, self.momentum)
        self.constant_lr = None
        return scheduler, "epoch" if steps_per_epoch else "update"

    def begin_run(self, first_update, steps_per_epoch, sets_lr) -> None:
        params = jax.device_put(self.net.params, self.device)
        opt_state = self.optimizer.init(params)
        current_lr(opt_state)  # fail early if the lr cannot be read back
        constant_lr = None if sets_lr else self.constant_lr  # else set before every update
        if constant_lr is not None:
            store_lr(opt_state, constant_lr)
        if first_update > 0:
            net = self.net  # its state kept by the last train, or restored by from_bytes
            saved = (flax.serialization.to_state_dict(net.opt_state)
                     if net.opt_state is not None else net._restored_opt_state)
            opt_state = jax.device_put(resumed_state(opt_state, saved, first_update //
                                                     steps_per_epoch, steps_per_epoch,
                                                     constant_lr), self.device)
        # every leaf committed to the device, so each batch shape compiles once
        self.state = jax.device_put(_copy((params, opt_state)), self.device)
        self.step_fn = _make_train_step(self.net._static, self.optimizer)

    def begin_epoch(self) -> None:
        self.metrics = jax.device_put(jnp.zeros(2, jnp.float32), self.device)

    def set_lr(self, lr: float) -> None:
        set_lr(self.state[1], lr)  # before the update, through the optimizer state

    def read_lr(self):
        return self.lr_applied  # a device scalar: no sync here

    def step(self, X, y) -> None:
        self.state, self.metrics, self.lr_applied, self.last_loss = self.step_fn(
            self.state, self.metrics, X, y)

    def batch_loss(self) -> float:
        return float(self.last_loss)

    def end_epoch(self) -> tuple:
        self.net.params, self.net.opt_state = _copy(self.state)
        self.net._restored_opt_state = None
        loss_sum, correct = np.asarray(self.metrics)
        return loss_sum, correct

    def evaluate(self, data_iter) -> float:
        return evaluate_accuracy_gpu(self.net, data_iter, self.device)

    def save_state(self):
        """``net.params`` and ``net.opt_state`` (the objects: the sweep trains a copy)."""
        return self.net.params, self.net.opt_state, self.net._restored_opt_state

    def restore_state(self, state) -> None:
        self.net.params, self.net.opt_state, self.net._restored_opt_state = state


@rooms.train_signature
def train(*args, **kwargs) -> History:
    """Train with optax SGD; the arguments are :meth:`d2l_compat.rooms.Room.train`'s.

    ``scheduler`` is a d2l_compat schedule (set with :func:`set_lr` before every update,
    like ``lr_hook``: the optimizer applies exactly ``np.float32(scheduler(t))``, and one
    compiled step serves every run, whatever its schedule), an optax schedule (any
    function of ``t``, part of the optimizer: :func:`optax_schedule` makes one from a
    d2l_compat schedule) or None. ``optimizer`` is an optax
    optimizer built with ``optax.inject_hyperparams`` (e.g. :func:`sgd`); optax
    schedules are part of the optimizer, so a ``scheduler`` given with it is set with
    :func:`set_lr` before every update, like ``lr_hook`` (both need a number-valued lr).
    ``momentum`` builds ``sgd(lr, momentum)`` (optax's heavy ball).

    The run continues from ``net.params``; with ``start_epoch > 0`` also from the
    optimizer state of ``net`` (kept by the previous ``train`` or restored by
    ``net.from_bytes``), else one whose count is ``start_epoch`` epochs of updates.
    ``net.params`` and ``net.opt_state`` hold the result. JAX has no global random
    state: ``seed`` is recorded, and the data order is the loader's.
    """
    return rooms.train_with(_OptaxTrainer, *args, **kwargs)


@rooms.range_test_signature
def find_lr(*args, **kwargs) -> LRFinderResult:
    """Learning-rate range test of ``net`` with optax SGD; the net is left unchanged.

    The arguments and the test are :meth:`d2l_compat.rooms.Room.find_lr`'s. The lr is
    set with :func:`set_lr` before the update and read back from the optimizer state
    after it, in the compiled step of :func:`train`. JAX is functional: the sweep
    trains a copy of ``net.params`` with its own plain-SGD state, so ``net.params`` and
    ``net.opt_state`` are never replaced. ``seed`` is accepted for the parallel
    signature of the four rooms (nothing here is random; the data order is the loader's).
    """
    return rooms.find_lr_with(_OptaxTrainer, *args, **kwargs)


# --------------------------------------------------------------------------- D2L names
# D2L's helpers that make sense without a train_ch6 of D2L's shape in JAX.

arange = jnp.arange


def size(a) -> int:
    """The number of elements of ``a`` (D2L's ``d2l.size``)."""
    return int(jnp.size(a))


def try_all_gpus() -> list:
    """All GPUs (``jax.Device``), or ``[cpu]`` when there is none (D2L's try_all_gpus)."""
    return _gpus() or [jax.devices("cpu")[0]]


def accuracy(y_hat, y) -> float:
    """The number of correct predictions (a float): rows of logits ``y_hat`` or labels."""
    if y_hat.ndim > 1 and y_hat.shape[1] > 1:
        y_hat = jnp.argmax(y_hat, axis=1)
    return float(jnp.sum(y_hat.astype(y.dtype) == y))


__all__ = [*rooms.CONTRACT_NAMES, "Model", "optax_schedule", "sgd", "current_lr", "set_lr",
           *jax_kernels.__all__, *common.__all__]
