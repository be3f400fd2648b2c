"""TensorFlow / Keras 3 room of d2l_compat: ``from d2l_compat import tensorflow as d2l``.

Thin by design: it converts arrays, builds LeNet as a ``keras.Sequential`` and trains it
with ``keras.optimizers.SGD`` in a compiled ``tf.function`` step, and bridges the
framework-free schedules of :mod:`d2l_compat.schedules` to Keras:

* :class:`KerasSchedule` -- a ``keras.optimizers.schedules.LearningRateSchedule``
  evaluated by the optimizer at every update (per update, or per epoch through
  ``steps_per_epoch``); it is graph- and XLA-safe and survives ``model.save``;
* :class:`PerEpoch` -- steps a native Keras schedule once per epoch instead of once per
  update (Keras schedules always count updates);
* :class:`LearningRateSetter` -- a ``keras.callbacks.Callback`` for ``model.fit`` that
  assigns ``schedule(epoch)`` (or ``schedule(update)``) to the optimizer's lr variable.

Importing this module changes no global state (no seeds, no TF config, no env vars);
the only side effect is registering the two schedule classes with Keras' serialization
registry under the package name ``d2l_compat``, which is what lets a saved model that
uses them be loaded again.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from d2l_compat import data as _data
from d2l_compat.data import get_fashion_mnist_labels, load_fashion_mnist  # noqa: F401
from d2l_compat.plotting import Animator, plot, set_figsize, show_images  # noqa: F401
from d2l_compat.results import compare_with_d2l, record_run  # noqa: F401
from d2l_compat.runmode import DEFAULT_SEED, Accumulator, Timer, run_mode  # noqa: F401
from d2l_compat.schedules import (  # noqa: F401
    Constant,
    CosineScheduler,
    FactorScheduler,
    MultiFactorScheduler,
    PolyScheduler,
    Schedule,
    SquareRootScheduler,
    WarmupCosineDecay,
    join_schedules,
    plot_schedules,
    schedule_from_config,
    schedule_to_config,
)
from d2l_compat.training import LR_LOG_EVERY, EpochStats, History, fit  # noqa: F401

FRAMEWORK = "tensorflow"
VERSIONS = {"tensorflow": tf.__version__, "keras": keras.__version__}
# XLA-compile the train and eval steps? Measured on 2 CPU cores, XLA's CPU convolutions
# make LeNet ~4x slower than TF's oneDNN kernels (and op determinism has no XLA MaxPool
# gradient), so the steps are plain tf.function graphs. KerasSchedule works either way.
JIT_COMPILE = False
SCHEDULE_UNITS = ("epoch", "update")


def try_gpu(i: int = 0) -> str:
    """The TF device name of GPU ``i`` if it exists, else ``'/CPU:0'``.

    (D2L returns a ``tf.device`` context; a name works the same in ``with tf.device(...)``.)
    """
    if len(tf.config.list_physical_devices("GPU")) > i:
        return f"/GPU:{i}"
    return "/CPU:0"


def _device_name(device) -> str:
    """A device name from a name, a ``tf.device(...)`` context (D2L's ``try_gpu``) or None."""
    if device is None:
        return try_gpu()
    return str(getattr(device, "_device_name", device))


def _device_label(device: str) -> str:
    """``'/CPU:0'`` -> ``'cpu'``, ``'/GPU:1'`` -> ``'gpu:1'`` (History's device field)."""
    name = tf.DeviceSpec.from_string(device)
    kind = (name.device_type or "cpu").lower()
    return "cpu" if kind == "cpu" else f"{kind}:{name.device_index or 0}"


def load_data_fashion_mnist(batch_size: int, resize=None, seed: int = DEFAULT_SEED):
    """Fashion-MNIST in memory as (train_iter, test_iter) of NHWC float32 / int32 tensors."""
    def to_tensors(X, y):
        return tf.convert_to_tensor(X), tf.convert_to_tensor(y)

    return _data.load_data_fashion_mnist(batch_size, resize=resize, layout="NHWC",
                                         convert=to_tensors, seed=seed)


# ---------------------------------------------------------------------------- model

def _layer_seed(seed: int, index: int) -> int:
    """A per-layer int seed derived from ``seed`` (stateless: no global RNG is touched)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] & 0x7FFFFFFF)


def lenet(seed: int = DEFAULT_SEED) -> keras.Sequential:
    """The chapter's modernised LeNet (ReLU, max-pooling) on NHWC 28x28x1 inputs.

    Kernels are Glorot(Xavier)-uniform, seeded per layer from ``seed`` (integer seeds
    make Keras initializers stateless, so the same seed gives the same weights and no
    global random state changes); biases are zero. The last layer returns logits.
    """
    def init(index):
        return dict(kernel_initializer=keras.initializers.GlorotUniform(
                        seed=_layer_seed(seed, index)),
                    bias_initializer="zeros")

    layers = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1", **init(0)),
        layers.MaxPooling2D(pool_size=2, strides=2, name="pool1"),
        layers.Conv2D(16, 5, activation="relu", name="conv2", **init(1)),
        layers.MaxPooling2D(pool_size=2, strides=2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(120, activation="relu", name="dense1", **init(2)),
        layers.Dense(84, activation="relu", name="dense2", **init(3)),
        layers.Dense(10, name="logits", **init(4)),
    ], name="lenet")


# ----------------------------------------------------------------- schedule adapters

def _is_core_schedule(scheduler) -> bool:
    return isinstance(scheduler, Schedule)


def _check_steps_per_epoch(steps_per_epoch):
    if steps_per_epoch is None:
        return None
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, (int, np.integer)) \
            or steps_per_epoch <= 0:
        raise ValueError(f"steps_per_epoch must be a positive int or None, "
                         f"got {steps_per_epoch!r}")
    return int(steps_per_epoch)


def _schedule_step(step, steps_per_epoch):
    """The schedule's ``t`` for optimizer update ``step``: the update, or its epoch."""
    step = tf.cast(step, tf.int64)
    if steps_per_epoch:
        step = step // steps_per_epoch
    return step


@keras.saving.register_keras_serializable(package="d2l_compat")
class KerasSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A d2l_compat schedule as a Keras ``LearningRateSchedule``.

    Keras calls it with ``optimizer.iterations`` (the number of updates done), so update
    ``u`` trains with ``schedule(u)``; with ``steps_per_epoch`` it is a per-epoch
    schedule: update ``u`` trains with ``schedule(u // steps_per_epoch)``, i.e. every
    update of epoch ``t`` uses ``schedule(t)``.

    The formula is the core's, evaluated on TF tensors by ``schedule.evaluate(t,
    xp=tf.experimental.numpy)``, so it runs inside ``tf.function`` and XLA
    (``jit_compile=True``) with no Python callback. ``get_config()`` holds the
    schedule's config and ``steps_per_epoch``; the class is registered as
    ``d2l_compat>KerasSchedule``, so a model compiled with an optimizer using it
    survives ``model.save("x.keras")`` / ``keras.models.load_model``.

    >>> sgd = keras.optimizers.SGD(KerasSchedule(MultiFactorScheduler([2], 0.5, 0.4),
    ...                                          steps_per_epoch=10))
    >>> round(float(sgd.learning_rate), 6)   # at optimizer.iterations == 0
    0.4
    """

    def __init__(self, schedule, steps_per_epoch=None):
        super().__init__()
        if isinstance(schedule, dict):  # from_config
            schedule = schedule_from_config(schedule)
        if not _is_core_schedule(schedule):
            raise ValueError(f"schedule must be a d2l_compat schedule, got {schedule!r}")
        self.schedule = schedule
        self.steps_per_epoch = _check_steps_per_epoch(steps_per_epoch)

    def __call__(self, step):
        t = tf.cast(_schedule_step(step, self.steps_per_epoch), tf.float64)
        lr = self.schedule.evaluate(t, xp=tf.experimental.numpy)
        return tf.cast(lr, tf.float32)

    def get_config(self):
        return {"schedule": schedule_to_config(self.schedule),
                "steps_per_epoch": self.steps_per_epoch}

    def __repr__(self):
        return f"KerasSchedule({self.schedule!r}, steps_per_epoch={self.steps_per_epoch})"


@keras.saving.register_keras_serializable(package="d2l_compat")
class PerEpoch(keras.optimizers.schedules.LearningRateSchedule):
    """Step a native Keras schedule once per epoch: update ``u`` uses
    ``schedule(u // steps_per_epoch)``.

    Keras schedules count optimizer updates; this wrapper lets one written in epochs
    (e.g. ``CosineDecay(0.3, decay_steps=20)``) drive a per-update optimizer.
    """

    def __init__(self, schedule, steps_per_epoch):
        super().__init__()
        if isinstance(schedule, dict):  # from_config
            schedule = keras.saving.deserialize_keras_object(schedule)
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError(f"schedule must be a keras LearningRateSchedule, got {schedule!r}")
        self.schedule = schedule
        self.steps_per_epoch = _check_steps_per_epoch(steps_per_epoch)
        if self.steps_per_epoch is None:
            raise ValueError("steps_per_epoch must be a positive int, got None")

    def __call__(self, step):
        return self.schedule(_schedule_step(step, self.steps_per_epoch))

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule),
                "steps_per_epoch": self.steps_per_epoch}


class LearningRateSetter(keras.callbacks.Callback):
    """A ``model.fit`` callback that sets the optimizer's lr from a schedule.

    ``unit="epoch"``: before epoch ``t`` (``on_epoch_begin``) the lr variable is assigned
    ``schedule(t)``, so the whole epoch ``t`` trains with ``schedule(t)`` -- the same
    convention as Keras' ``LearningRateScheduler`` and as :func:`train`.
    ``unit="update"``: before each batch the lr is assigned ``schedule(u)``, where ``u`` is
    ``optimizer.iterations`` (updates done so far, so it continues across ``fit`` calls).

    The optimizer must have a settable lr (built with a float ``learning_rate``, not a
    ``LearningRateSchedule``). ``lrs`` records ``(epoch, lr)`` read back from the
    optimizer at the end of each epoch, and the epoch logs get a ``learning_rate`` entry.
    ``schedule`` may be a d2l_compat schedule or any callable ``t -> lr``.
    """

    def __init__(self, schedule, unit: str = "epoch"):
        super().__init__()
        if unit not in SCHEDULE_UNITS:
            raise ValueError(f"unit must be 'epoch' or 'update', got {unit!r}")
        if not callable(schedule):
            raise ValueError(f"schedule must be callable, got {schedule!r}")
        self.schedule, self.unit = schedule, unit
        self.lrs: list[tuple[int, float]] = []

    def _set(self, t: int) -> None:
        optimizer = self.model.optimizer
        if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            raise TypeError("LearningRateSetter needs an optimizer built with a float "
                            "learning_rate; this one holds a LearningRateSchedule "
                            "(use KerasSchedule instead of the callback)")
        optimizer.learning_rate = float(self.schedule(int(t)))  # assigns the lr variable

    def on_epoch_begin(self, epoch, logs=None):
        if self.unit == "epoch":
            self._set(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.unit == "update":
            self._set(int(self.model.optimizer.iterations))

    def on_epoch_end(self, epoch, logs=None):
        lr = float(self.model.optimizer.learning_rate)
        self.lrs.append((int(epoch), lr))
        if logs is not None:
            logs["learning_rate"] = lr


def _learning_rate(scheduler, lr, schedule_unit, steps_per_epoch):
    """What to give ``SGD(learning_rate=...)``: a float or a LearningRateSchedule."""
    per_epoch = steps_per_epoch if schedule_unit == "epoch" else None
    if scheduler is None:
        return float(lr)
    if _is_core_schedule(scheduler):
        return KerasSchedule(scheduler, steps_per_epoch=per_epoch)
    if isinstance(scheduler, (KerasSchedule, PerEpoch)):  # already says how it steps
        return scheduler
    if isinstance(scheduler, keras.optimizers.schedules.LearningRateSchedule):
        return PerEpoch(scheduler, per_epoch) if per_epoch else scheduler
    raise TypeError("scheduler must be a d2l_compat schedule, a keras LearningRateSchedule "
                    f"or None, got {scheduler!r}")


# ------------------------------------------------------------------ compiled steps

_PREDICT = weakref.WeakKeyDictionary()  # net -> its compiled count-correct function


def _signature(net):
    """Batch-size-free input specs, so a step is traced once per net (the last batch of
    an epoch is smaller), or None when the net has no fixed input shape."""
    try:
        shape = tuple(net.input_shape)
    except (AttributeError, ValueError):
        return None
    return [tf.TensorSpec((None, *shape[1:]), tf.float32), tf.TensorSpec((None,), tf.int32)]


def _as_batch(X, y):
    """float32 images and int32 labels as tensors (a no-op for our loaders' batches)."""
    return tf.convert_to_tensor(X, tf.float32), tf.cast(y, tf.int32)


def _correct_fn(net):
    fn = _PREDICT.get(net)
    if fn is None:
        net_ref = weakref.ref(net)  # the cached function must not keep the net alive

        @tf.function(jit_compile=JIT_COMPILE, input_signature=_signature(net),
                     reduce_retracing=True)
        def fn(X, y):
            logits = net_ref()(X, training=False)
            return tf.reduce_sum(tf.cast(
                tf.equal(tf.argmax(logits, axis=1, output_type=y.dtype), y), tf.int64))
        _PREDICT[net] = fn
    return fn


def evaluate_accuracy_gpu(net, data_iter, device=None) -> float:
    """Accuracy of ``net`` on ``data_iter`` (a compiled forward pass per batch)."""
    correct_fn = _correct_fn(net)
    correct, count = 0, 0
    with tf.device(_device_name(device)):
        for X, y in _data.epoch_batches(data_iter, 0):
            correct += int(correct_fn(*_as_batch(X, y)))
            count += int(y.shape[0])
    return correct / count


def _train_step_fn(net, optimizer):
    """One SGD update on a batch; returns (sum of losses, number correct)."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    variables = net.trainable_variables

    @tf.function(jit_compile=JIT_COMPILE, input_signature=_signature(net),
                 reduce_retracing=True)
    def step(X, y):
        with tf.GradientTape() as tape:
            logits = net(X, training=True)
            losses = loss_fn(y, logits)
            loss = tf.reduce_mean(losses)
        grads = tape.gradient(loss, variables)
        optimizer.apply(grads, variables)
        correct = tf.reduce_sum(tf.cast(
            tf.equal(tf.argmax(logits, axis=1, output_type=y.dtype), y), tf.float32))
        return tf.reduce_sum(losses), correct

    return step


# ---------------------------------------------------------------------------- train

def train(net, train_iter, test_iter, num_epochs: int, lr: float, scheduler=None,
          device=None, *, schedule_unit: str = "epoch", optimizer=None,
          seed: int = DEFAULT_SEED, animator=True, verbose: bool = True,
          history: History | None = None, start_epoch: int = 0) -> History:
    """Train with minibatch SGD; epoch (or update) ``t`` uses ``scheduler(t)``.

    ``scheduler`` is a d2l_compat schedule (applied through :class:`KerasSchedule`), a
    native ``keras.optimizers.schedules.LearningRateSchedule`` (counted in epochs when
    ``schedule_unit="epoch"``, through :class:`PerEpoch`; in updates otherwise), or None
    for a constant ``lr``. ``schedule_unit`` says whether it steps once per ``"epoch"``
    or per ``"update"``. ``optimizer`` defaults to ``keras.optimizers.SGD(lr)``; when
    given, a scheduler replaces its learning rate. The lr recorded is read back from the
    optimizer (``float(optimizer.learning_rate)``, which Keras evaluates at
    ``optimizer.iterations``) before the epoch's first update and every
    ``LR_LOG_EVERY`` updates. The history records the schedule's config (for a
    d2l_compat schedule) and the unit it actually steps in.

    The train step is a ``tf.function`` graph over in-memory batches (XLA-compiled when
    ``JIT_COMPILE``). The same call repeated gives identical metrics on CPU: weights are
    seeded by :func:`lenet`, the batch order by the loader, and TF's CPU kernels are
    deterministic at a fixed thread count, so ``enable_op_determinism()`` is not needed
    (it is not called). ``tf.random.set_seed(seed)`` is called here (never at import)
    for any randomness inside the net (none in LeNet). When resuming
    (``start_epoch > 0``) with an optimizer whose update counter is 0, the counter is
    set to ``start_epoch * len(train_iter)`` so schedules continue where they were.
    """
    if schedule_unit not in SCHEDULE_UNITS:
        raise ValueError(f"schedule_unit must be 'epoch' or 'update', got {schedule_unit!r}")
    device = _device_name(device)
    tf.random.set_seed(seed)  # for any randomness inside the net (none in LeNet)
    steps_per_epoch = len(train_iter)
    learning_rate = _learning_rate(scheduler, lr, schedule_unit, steps_per_epoch)
    applied = learning_rate if scheduler is not None or optimizer is None \
        else optimizer._learning_rate  # what will drive the optimizer
    schedule_config = None
    if isinstance(applied, KerasSchedule):  # a d2l_compat schedule: record it
        schedule_config = schedule_to_config(applied.schedule)
        schedule_unit = "epoch" if applied.steps_per_epoch else "update"
    elif isinstance(applied, PerEpoch):
        schedule_unit = "epoch"
    elif isinstance(applied, keras.optimizers.schedules.LearningRateSchedule):
        schedule_unit = "update"
    else:
        schedule_unit = None  # a constant lr
    with tf.device(device):
        if optimizer is None:
            optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
        elif scheduler is not None:
            optimizer.learning_rate = learning_rate
        optimizer.build(net.trainable_variables)
        if start_epoch and int(optimizer.iterations) == 0:
            optimizer.iterations.assign(start_epoch * steps_per_epoch)
        step_fn = _train_step_fn(net, optimizer)
    history = history or History(
        framework=FRAMEWORK, device=_device_label(device), seed=seed,
        schedule=schedule_config,
        schedule_unit=schedule_unit,
        data_source=getattr(train_iter, "source", None),
        split_reconstructed=getattr(train_iter, "split_reconstructed", None),
        versions=dict(VERSIONS))

    def train_epoch(epoch: int) -> EpochStats:
        loss_sum = correct = 0.0
        count, step_lrs = 0, []
        with tf.device(device):
            for i, (X, y) in enumerate(_data.epoch_batches(train_iter, epoch)):
                step = epoch * steps_per_epoch + i
                if i == 0 or step % LR_LOG_EVERY == 0:
                    step_lrs.append((step, float(optimizer.learning_rate)))
                batch_loss, batch_correct = step_fn(*_as_batch(X, y))
                loss_sum += batch_loss
                correct += batch_correct
                count += int(y.shape[0])
        return EpochStats(float(loss_sum), float(correct), count, step_lrs[0][1],
                          [p for p in step_lrs if p[0] % LR_LOG_EVERY == 0])

    return fit(train_epoch, lambda: evaluate_accuracy_gpu(net, test_iter, device),
               num_epochs, history, start_epoch=start_epoch, animator=animator,
               verbose=verbose)
