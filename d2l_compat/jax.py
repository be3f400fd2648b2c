"""JAX room of d2l_compat (flax.linen + optax): ``from d2l_compat import jax as d2l``.

Thin by design: it converts arrays, builds LeNet with the shared initial weights of
:func:`d2l_compat.models.lenet_weights` and the SGD optimizer, and bridges the
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
from collections.abc import Callable

import flax
import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
import optax
from jax import lax

from d2l_compat import data as _data
from d2l_compat import common
from d2l_compat.common import *  # noqa: F401,F403  (the shared D2L names)
from d2l_compat.devices import choose_device
from d2l_compat.common import (
    DEFAULT_SEED, History, LRFinderResult, Schedule, lenet_weights)
from d2l_compat.checks import check_int, check_number
from d2l_compat.rooms import (StateCacher, check_train_arguments, find_lr_with, new_history,
                              range_test_signature, train_loop)
from d2l_compat.models import match_layers, to_layout

FRAMEWORK = "jax"
VERSIONS = {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "flax": flax.__version__, "optax": optax.__version__}
SCHEDULERS = (Schedule, Callable)  # optax schedules are functions of the step
SCHEDULER_KINDS = "a d2l_compat schedule or an optax schedule (a function of the step)"


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


def _device_name(device) -> str:
    return "cpu" if device.platform == "cpu" else f"{device.platform}:{device.id}"


def load_data_fashion_mnist(batch_size: int, resize=None, seed: int = DEFAULT_SEED,
                            mode: str | None = None, class_train: int | None = None):
    """Fashion-MNIST in memory as (train_iter, test_iter) of NHWC float32 jax arrays."""
    def to_arrays(X, y):
        return jnp.asarray(X), jnp.asarray(y)

    return _data.load_data_fashion_mnist(batch_size, resize=resize, layout="NHWC",
                                         convert=to_arrays, seed=seed, mode=mode,
                                         class_train=class_train)


# ------------------------------------------------------------------------- the model
class ReLU(nn.Module):
    """ReLU as a layer, so the model's layers can be listed like D2L's nn.Sequential."""

    def __call__(self, x):
        return nn.relu(x)


class MaxPool2D(nn.Module):
    """Max-pooling; non-overlapping windows that tile the input are computed as a
    reshape + max, whose gradient XLA runs several times faster on CPU than the
    ``select_and_scatter`` of ``nn.max_pool`` (same values)."""

    window: int = 2
    stride: int = 2

    def __call__(self, x):
        n, h, w, c = x.shape
        k = self.window
        if self.stride == k and h % k == 0 and w % k == 0:
            return x.reshape(n, h // k, k, w // k, k, c).max(axis=(2, 4))
        return nn.max_pool(x, (k, k), (self.stride, self.stride))


class Flatten(nn.Module):
    def __call__(self, x):
        return x.reshape((x.shape[0], -1))


_NHWC = ("NHWC", "HWIO", "NHWC")


def conv_as_matmul(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                   dimension_numbers=None, feature_group_count=1, **kwargs):
    """``lax.conv_general_dilated`` for LeNet's ``nn.Conv`` layers, written as one matmul.

    XLA's CPU convolution is slow for LeNet's few channels (above all for the
    one-channel input). For a stride-1 NHWC convolution, every output row is the
    ``kh`` input rows it covers, flattened, times a banded (Toeplitz) matrix built from
    the kernel, so the whole convolution is one large matmul, which XLA runs fast; JAX
    differentiates it as usual. The values are those of the convolution up to float32
    rounding (``tests/test_jax.py`` checks values and gradients). Anything else (strides,
    dilation, groups, other layouts) goes to ``lax.conv_general_dilated``.
    """
    simple = (lhs.ndim == 4 and tuple(np.ravel(window_strides)) in ((1,), (1, 1))
              and all(d is None or set(np.ravel(d)) == {1} for d in (lhs_dilation, rhs_dilation))
              and feature_group_count == 1 and kwargs.get("precision") is None
              and kwargs.get("batch_group_count", 1) == 1
              and dimension_numbers == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC))
    if not simple:
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                        rhs_dilation, dimension_numbers, feature_group_count,
                                        **kwargs)
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], (1, 1), padding)
    (top, bottom), (left, right) = padding
    x = jnp.pad(lhs, ((0, 0), (top, bottom), (left, right), (0, 0)))
    n, h, w, c_in = x.shape
    kh, kw, _, c_out = rhs.shape
    h_out, w_out = h - kh + 1, w - kw + 1
    shift = np.zeros((kw, w, w_out), lhs.dtype)  # shift[b, j + b, j] = 1
    for b in range(kw):
        shift[b, np.arange(w_out) + b, np.arange(w_out)] = 1
    band = jnp.einsum("abio,bwj->awijo", rhs, shift).reshape(kh * w * c_in, w_out * c_out)
    x = x.reshape(n, h, w * c_in)
    rows = jnp.concatenate([x[:, a:a + h_out] for a in range(kh)], axis=-1)
    return (rows.reshape(n * h_out, -1) @ band).reshape(n, h_out, w_out, c_out)


@functools.lru_cache(maxsize=None)
def lenet_module() -> nn.Sequential:
    """The chapter's modernised LeNet as a linen module (NHWC input).

    Its parameters come from :func:`lenet_params` (``module.init`` would draw flax's
    default init instead). Modules are immutable, so every :func:`lenet` shares this one
    object (and the compiled functions cached for it)."""
    conv = dict(conv_general_dilated=conv_as_matmul)
    return nn.Sequential((
        nn.Conv(6, (5, 5), padding=2, **conv), ReLU(), MaxPool2D(2, 2),
        nn.Conv(16, (5, 5), padding="VALID", **conv), ReLU(), MaxPool2D(2, 2),
        Flatten(),
        nn.Dense(120), ReLU(),
        nn.Dense(84), ReLU(),
        nn.Dense(10)))


def lenet_params(module: nn.Module, weights) -> dict:
    """LeNet ``weights`` (canonical layout, from :func:`lenet_weights`) as ``module``'s params.

    ``module``'s ``Conv`` and ``Dense`` layers, in call order, receive the five
    (kernel, bias) pairs in flax's layout (``to_layout(weights, "HWIO")``: HWIO kernels,
    ``Dense`` kernels ``(in, out)``, and the rows of the first ``Dense`` permuted to the
    height-width-channel order in which NHWC features are flattened, so an image gives
    the same logits as in the NCHW frameworks). The parameter tree is traced with
    ``jax.eval_shape`` (nothing is drawn or computed); any module on 28x28x1 NHWC inputs
    with LeNet's layer shapes works, other shapes raise ``ValueError``.
    """
    call_order = []  # jax sorts the keys of a returned dict: record flax's order

    def init(X):
        params = module.init(jax.random.PRNGKey(0), X)["params"]
        call_order.extend(params)
        return params

    shapes = jax.eval_shape(init, jnp.zeros((1, 28, 28, 1), jnp.float32))
    matched = match_layers(call_order, to_layout(weights, "HWIO"),
                           lambda name: (shapes[name]["kernel"].shape,
                                         shapes[name]["bias"].shape))
    return {name: {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}
            for name, kernel, bias in matched}


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


def lenet(seed: int = DEFAULT_SEED) -> Model:
    """The chapter's modernised LeNet (ReLU, max-pooling) with the weights of ``seed``.

    The weights are :func:`d2l_compat.models.lenet_weights` ``(seed)`` -- Xavier-uniform,
    zero biases, drawn once with numpy -- the same numbers every framework's ``lenet``
    loads (:func:`lenet_params`); nothing is drawn with ``jax.random``.
    """
    module = lenet_module()
    return Model(module, lenet_params(module, lenet_weights(seed)), seed)


# ------------------------------------------------------------------- schedule adapter
def optax_schedule(schedule, steps_per_epoch: int | None = None,
                   num_steps: int | None = None):
    """An optax schedule (a jit-safe function of the update count) for ``schedule``.

    ``steps_per_epoch=None``: update ``u`` uses ``schedule(u)``. Otherwise the schedule is
    per epoch: update ``u`` uses ``schedule(u // steps_per_epoch)``, so every update of
    epoch ``t`` uses ``schedule(t)``. The formula is the schedule's own
    (``schedule.evaluate(t, xp=jax.numpy)``), traced into the compiled step; the result is
    float32 like the parameters. Pass it to ``optax.inject_hyperparams(optax.sgd)`` as
    ``learning_rate`` to read the applied lr back from the optimizer state.

    JAX computes in float32 (64-bit mode is off by default), so the traced formula can
    differ from ``np.float32(schedule(t))`` -- numpy's float64 value, rounded -- in the
    last bits. ``num_steps=n`` makes the first ``n`` values exactly those: they are
    computed once with numpy and looked up in a constant table inside the compiled step
    (the formula still serves ``t >= n``), so a per-batch hook that sets
    ``float(schedule(t))`` and this schedule give bit-identical rates.
    """
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a d2l_compat schedule, got {schedule!r}")
    if steps_per_epoch is not None:
        check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    if num_steps is not None:
        check_int("num_steps", num_steps, minimum=1)
    table = None if num_steps is None else np.asarray(schedule(np.arange(num_steps)),
                                                      np.float32)

    def lr_fn(count):
        t = jnp.asarray(count)
        if steps_per_epoch is not None:
            t = t // steps_per_epoch
        lr = jnp.asarray(schedule.evaluate(t.astype(jnp.float32), xp=jnp), jnp.float32)
        if table is not None:
            lr = jnp.where(t < num_steps, jnp.asarray(table)[jnp.clip(t, 0, num_steps - 1)],
                           lr)
        return lr

    lr_fn.schedule, lr_fn.steps_per_epoch, lr_fn.num_steps = schedule, steps_per_epoch, num_steps
    return lr_fn


def sgd(learning_rate, momentum: float = 0.0):
    """``optax.inject_hyperparams(optax.sgd)``: SGD whose lr (a number or an optax
    schedule) can be read and set through ``opt_state.hyperparams['learning_rate']``.

    ``momentum > 0`` is optax's heavy ball (``optax.trace``): ``v <- momentum * v + g``,
    ``w <- w - lr * v`` (PyTorch's form: the lr multiplies the whole velocity); it is then
    a hyperparameter too. ``momentum=0`` is plain SGD, with no momentum buffer.
    """
    check_number("momentum", momentum, minimum=0.0, below=1.0)
    return optax.inject_hyperparams(optax.sgd)(learning_rate=learning_rate,
                                               momentum=float(momentum) or None)


def _hyperparams_state(opt_state):
    """The ``inject_hyperparams`` state holding the lr, searched through chains."""
    if hasattr(opt_state, "hyperparams") and "learning_rate" in opt_state.hyperparams:
        return opt_state
    if isinstance(opt_state, (tuple, list)):
        for sub in opt_state:
            found = _hyperparams_state(sub)
            if found is not None:
                return found
    return None


def current_lr(opt_state):
    """``opt_state.hyperparams['learning_rate']``: the lr of the last update (after
    ``init``: of the first), as a jax scalar."""
    state = _hyperparams_state(opt_state)
    if state is None:
        raise ValueError("the optimizer state has no hyperparams['learning_rate']: build "
                         "the optimizer with optax.inject_hyperparams (e.g. d2l.sgd(lr)) "
                         "so the lr can be read back")
    return state.hyperparams["learning_rate"]


def _lr_is_scheduled(opt_state) -> bool:
    """Whether ``inject_hyperparams`` recomputes the lr from a schedule at every update."""
    state = _hyperparams_state(opt_state)
    return "learning_rate" in getattr(state, "hyperparams_states", {})


def set_lr(opt_state, lr):
    """Set ``opt_state.hyperparams['learning_rate']`` to ``lr`` (float32); returns the state.

    The state is changed in place, as in ``opt_state.hyperparams['learning_rate'] = lr``;
    the next ``update`` applies ``lr`` and keeps it. That needs a number-valued lr: when
    it is a schedule, ``inject_hyperparams`` recomputes it at every update and would
    overwrite the value, so this raises a ``ValueError`` instead.
    """
    state = _hyperparams_state(opt_state)
    if state is None:
        current_lr(opt_state)  # raises the explanation
    if _lr_is_scheduled(opt_state):
        raise ValueError("the optimizer's learning_rate is a schedule: optax recomputes it "
                         "at every update and would overwrite a value set by hand; build "
                         "the optimizer with a number (e.g. d2l.sgd(0.1)) to set the lr")
    old, new = state.hyperparams["learning_rate"], jnp.asarray(lr, jnp.float32)
    if getattr(old, "committed", False):  # keep it where the state lives
        new = jax.device_put(new, old.sharding)
    state.hyperparams["learning_rate"] = new
    return opt_state


def _with_count(opt_state, count: int):
    """``opt_state`` with every step counter set to ``count`` (to resume a run)."""
    def reset(tree):
        if isinstance(tree, dict):
            return {k: (np.asarray(count, np.asarray(v).dtype) if k == "count" else reset(v))
                    for k, v in tree.items()}
        return tree

    return flax.serialization.from_state_dict(
        opt_state, reset(flax.serialization.to_state_dict(opt_state)))


def _copy(tree):
    return jax.tree_util.tree_map(jnp.copy, tree)


def _is_core_schedule(scheduler) -> bool:
    return isinstance(scheduler, Schedule)


# ------------------------------------------------------------------ train / evaluate
def evaluate_accuracy_gpu(net: Model, data_iter, device=None) -> float:
    """Accuracy of ``net`` on ``data_iter`` (counts summed on the device)."""
    params = net.params if device is None else jax.device_put(net.params, device)
    correct, count = jnp.zeros((), jnp.int32), 0
    for X, y in data_iter:
        correct = correct + _num_correct(net._static, params, X, y)
        count += int(y.shape[0])
    return int(correct) / count


def _table_size(num_updates: int) -> int:
    """Updates tabulated for a per-update schedule: a power of two >= 4096."""
    return max(4096, 1 << (max(num_updates, 1) - 1).bit_length())


def _sgd_for(kind: str, spec, per_epoch: int | None, momentum: float = 0.0,
             num_steps: int | None = None):
    """The SGD optimizer of a run; cached, so equal runs share one compiled step."""
    return _cached_sgd(kind, spec, per_epoch, float(momentum), num_steps)


@functools.lru_cache(maxsize=32)
def _cached_sgd(kind, spec, per_epoch, momentum, num_steps):
    if kind == "constant":  # the lr lives in the state: one optimizer serves every value
        return sgd(0.0, momentum)
    if kind == "schedule":
        return sgd(optax_schedule(spec, per_epoch, num_steps), momentum)
    return sgd(spec if per_epoch is None else lambda count: spec(count // per_epoch),
               momentum)


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
        # the lr this update applied, read back from the optimizer state
        return (params, opt_state), metrics, current_lr(opt_state)

    return jax.jit(step, donate_argnums=(0, 1))


def _default_sgd(scheduler, lr: float, momentum: float, per_epoch: int | None,
                 num_updates: int):
    """(the SGD ``train`` builds for ``scheduler``, the constant lr to set or None)."""
    if scheduler is None:
        return _sgd_for("constant", None, None, momentum), lr
    if _is_core_schedule(scheduler):
        return _sgd_for("schedule", scheduler, per_epoch, momentum,
                        None if per_epoch else _table_size(num_updates)), None
    return _sgd_for("native", scheduler, per_epoch, momentum), None  # an optax schedule


def _set_constant_lr(opt_state, lr) -> None:
    _hyperparams_state(opt_state).hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)


def _resumed(opt_state, net: Model, start_epoch: int, steps_per_epoch: int, constant_lr):
    """``opt_state`` continuing at epoch ``start_epoch``: the state ``net`` kept (or
    restored with ``from_bytes``), whose count must be that epoch's first update, else a
    fresh one with that count. A constant lr passed now wins, as in the other rooms."""
    first_update = start_epoch * steps_per_epoch
    saved = (flax.serialization.to_state_dict(net.opt_state)
             if net.opt_state is not None else net._restored_opt_state)
    if saved is None:
        return _with_count(opt_state, first_update)
    try:
        opt_state = flax.serialization.from_state_dict(opt_state, saved)
    except (ValueError, KeyError) as err:
        raise ValueError(f"the saved optimizer state does not fit this optimizer "
                         f"({err})") from None
    count = int(flax.serialization.to_state_dict(opt_state).get("count", first_update))
    if count != first_update:
        raise ValueError(f"the saved optimizer state has made {count} updates, but "
                         f"start_epoch={start_epoch} needs "
                         f"{first_update}")
    if constant_lr is not None:
        _set_constant_lr(opt_state, constant_lr)
    return opt_state


class _EpochLoop:
    """:class:`d2l_compat.rooms.EpochLoop` of ``train``: the compiled step on ``device``.

    The step donates (reuses) the buffers of its state, so the loop works on its own
    copy ``state = (params, opt_state)`` and gives the net a copy at every epoch end:
    ``net.params`` stay valid if training stops.
    """

    def __init__(self, net: Model, optimizer, state, device):
        self.net, self.state, self.device = net, state, device
        self.step_fn = _make_train_step(net._static, optimizer)

    def begin_epoch(self) -> None:
        self.metrics = jax.device_put(jnp.zeros(2, jnp.float32), self.device)

    def set_lr(self, lr: float) -> None:
        set_lr(self.state[1], lr)  # before the update, through the optimizer state

    def update(self, X, y, read_lr: bool):
        self.state, self.metrics, lr_applied = self.step_fn(self.state, self.metrics, X, y)
        return lr_applied  # a device scalar: no sync here

    def end_epoch(self) -> tuple:
        self.net.params, self.net.opt_state = _copy(self.state)
        self.net._restored_opt_state = None
        loss_sum, correct = np.asarray(self.metrics)
        return loss_sum, correct


def train(net: Model, train_iter, test_iter, num_epochs: int, lr: float,
          scheduler=None, device=None, *, schedule_unit: str = "epoch", optimizer=None,
          seed: int = DEFAULT_SEED, animator=True, verbose: bool = True,
          history: History | None = None, start_epoch: int = 0, momentum: float = 0.0,
          lr_hook=None) -> History:
    """Train with optax SGD; the arguments are :meth:`d2l_compat.rooms.Room.train`'s.

    ``scheduler`` is a d2l_compat schedule (applied through :func:`optax_schedule`; per
    update it is tabulated over at least the run's updates, a power of two >= 4096, so
    the optimizer applies exactly ``np.float32(scheduler(u))``, the value a hook sets),
    an optax schedule (any function of ``t``) or None. ``optimizer`` is an optax
    optimizer built with ``optax.inject_hyperparams`` (e.g. :func:`sgd`) and excludes
    ``scheduler``. ``momentum`` builds ``sgd(lr, momentum)`` (optax's heavy ball).
    ``lr_hook`` sets the lr with :func:`set_lr`, so it needs a number-valued lr.

    The run continues from ``net.params``; with ``start_epoch > 0`` also from the
    optimizer state of ``net`` (kept by the previous ``train`` or restored by
    ``net.from_bytes``), else one whose count is ``start_epoch`` epochs of updates.
    ``net.params`` and ``net.opt_state`` hold the result. JAX has no global random
    state: ``seed`` is recorded, and the data order is the loader's.
    """
    check_train_arguments(num_epochs=num_epochs, lr=lr, scheduler=scheduler,
                          schedule_unit=schedule_unit, optimizer=optimizer, seed=seed,
                          start_epoch=start_epoch, momentum=momentum, lr_hook=lr_hook,
                          schedulers=SCHEDULERS, scheduler_kinds=SCHEDULER_KINDS)
    if optimizer is not None and scheduler is not None:
        raise ValueError("pass either optimizer (with its schedule inside) or scheduler, "
                         "not both: optax schedules are part of the optimizer")
    device = device or default_device()
    steps_per_epoch = len(train_iter)
    constant_lr = None
    if optimizer is None:
        optimizer, constant_lr = _default_sgd(
            scheduler, lr, momentum, steps_per_epoch if schedule_unit == "epoch" else None,
            num_epochs * steps_per_epoch)
    params = jax.device_put(net.params, device)
    opt_state = optimizer.init(params)
    current_lr(opt_state)  # fail early if the lr cannot be read back
    if lr_hook is not None:
        if _lr_is_scheduled(opt_state):
            raise ValueError("lr_hook needs an optimizer whose learning_rate is a number: "
                             "this one's is a schedule, which optax re-evaluates at every "
                             "update, overwriting the hook's value")
        constant_lr = None  # the hook sets the lr of every update
    if constant_lr is not None:
        _set_constant_lr(opt_state, constant_lr)
    if start_epoch > 0:
        opt_state = jax.device_put(_resumed(opt_state, net, start_epoch, steps_per_epoch,
                                            constant_lr), device)
    # every leaf committed to the device, so each batch shape compiles once
    state = jax.device_put(_copy((params, opt_state)), device)
    history = history or new_history(
        FRAMEWORK, VERSIONS, train_iter, device=_device_name(device), seed=seed,
        schedule=scheduler, lr_hook=lr_hook,
        schedule_unit=schedule_unit if scheduler is not None else None)
    return train_loop(_EpochLoop(net, optimizer, state, device), train_iter,
                      lambda: evaluate_accuracy_gpu(net, test_iter, device), num_epochs,
                      history, start_epoch=start_epoch, lr_hook=lr_hook, animator=animator,
                      verbose=verbose)


# -------------------------------------------------------------------------- LR finder
def _net_state(net: Model) -> StateCacher:
    """``net.params`` and ``net.opt_state`` (the objects: the sweep trains a copy)."""
    def restore(state):
        net.params, net.opt_state, net._restored_opt_state = state

    return StateCacher(lambda: (net.params, net.opt_state, net._restored_opt_state), restore)


def _sweep_update(net: Model, train_iter):
    """``make_update`` of :func:`d2l_compat.rooms.find_lr_with` for a JAX :class:`Model`."""
    def make_update(start_lr: float, seed: int):
        batches = _data.cycle_batches(train_iter)
        optimizer = _sgd_for("constant", None, None)  # the same compiled step as train's
        device = default_device()
        params = _copy(net.params)  # the step donates its input buffers: never the net's own
        loop = _EpochLoop(net, optimizer, jax.device_put((params, optimizer.init(params)),
                                                         device), device)

        def update(lr):
            X, y = next(batches)
            loop.set_lr(lr)
            loop.begin_epoch()
            lr_applied = loop.update(X, y, read_lr=True)
            return float(loop.metrics[0]) / int(y.shape[0]), float(lr_applied)
        return update
    return make_update


@range_test_signature
def find_lr(net: Model, train_iter, *sweep, seed: int = DEFAULT_SEED,
            **options) -> LRFinderResult:
    """Learning-rate range test of ``net`` with optax SGD; the net is left unchanged.

    The arguments and the test are :meth:`d2l_compat.rooms.Room.find_lr`'s. The lr is
    set with :func:`set_lr` before the update and read back from the optimizer state
    after it, in the compiled step of :func:`train`. JAX is functional: the sweep
    trains a copy of ``net.params`` with its own plain-SGD state, so ``net.params`` and
    ``net.opt_state`` are never replaced. ``seed`` is accepted for the parallel
    signature of the four rooms (nothing here is random; the data order is the loader's).
    """
    return find_lr_with(_net_state(net), _sweep_update(net, train_iter), *sweep, seed=seed,
                        **options)


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


__all__ = [
    "arange", "size", "try_all_gpus", "accuracy",
    "FRAMEWORK", "VERSIONS", "try_gpu", "default_device", "load_data_fashion_mnist", "lenet",
    "lenet_module", "lenet_params", "load_lenet_weights",
    "Model", "num_params", "ReLU", "MaxPool2D", "Flatten", "conv_as_matmul",
    "optax_schedule", "sgd", "current_lr", "set_lr", "evaluate_accuracy_gpu", "train",
    "find_lr", *common.__all__,
]
