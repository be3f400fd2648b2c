"""TensorFlow / Keras 3 room of d2l_compat: ``from d2l_compat import tensorflow as d2l``.

Thin by design: it converts arrays, builds LeNet as a ``keras.Sequential`` holding the
shared initial weights of :func:`d2l_compat.models.lenet_weights` and trains it
with ``keras.optimizers.SGD`` in a compiled ``tf.function`` step, and bridges the
framework-free schedules of :mod:`d2l_compat.schedules` to Keras:

* :class:`KerasSchedule` -- a ``keras.optimizers.schedules.LearningRateSchedule``
  evaluated by the optimizer at every update (per update, or per epoch through
  ``steps_per_epoch``); it is graph- and XLA-safe and survives ``model.save``;
* :class:`PerEpoch` -- steps a native Keras schedule once per epoch instead of once per
  update (Keras schedules always count updates);
* :class:`LearningRateSetter` -- a ``keras.callbacks.Callback`` for ``model.fit`` that
  assigns ``schedule(epoch)`` (or ``schedule(update)``) to the optimizer's lr variable;
* :class:`KerasJoinedSchedule` -- native Keras schedules applied one after another
  (``join_schedules`` for ``keras.optimizers.schedules``);
* :func:`find_lr` and :class:`LRFinderCallback` -- the learning-rate range test of
  :mod:`d2l_compat.lr_finder` driven by a Keras SGD optimizer, from our own loop or
  from ``model.fit``.

Importing this module changes no global state (no seeds, no TF config, no env vars);
TensorFlow itself is imported with the process's native stderr silenced for the duration
of the import: its C++ libraries log "oneDNN custom operations are on" through absl before
any log level can be set (``TF_CPP_MIN_LOG_LEVEL`` does not reach those lines), which put
log noise into every notebook. Python exceptions raised by the import still propagate.
The only other side effect is registering the three schedule classes with Keras' serialization
registry under the package name ``d2l_compat``, which is what lets a saved model that
uses them be loaded again.
"""

from __future__ import annotations

import weakref

import numpy as np

from d2l_compat._native import native_stderr_silenced

with native_stderr_silenced():
    import keras
    import tensorflow as tf

from d2l_compat import d2l_api as _d2l_api
from d2l_compat import data as _data
from d2l_compat.common import *  # noqa: F401,F403  (the shared D2L names)
from d2l_compat.devices import choose_device
from d2l_compat.common import (
    SCHEDULE_UNITS, DEFAULT_SEED, History, LRFinderResult, LRRangeTest,
    MultiFactorScheduler, Schedule, Timer, lenet_weights, schedule_from_config,
    schedule_to_config)
from d2l_compat.checks import check_int
from d2l_compat.rooms import (StateCacher, check_train_arguments, find_lr_with, new_history,
                              range_test_signature, train_loop)
from d2l_compat.models import match_layers, to_layout

FRAMEWORK = "tensorflow"
VERSIONS = {"tensorflow": tf.__version__, "keras": keras.__version__}
SCHEDULERS = (Schedule, keras.optimizers.schedules.LearningRateSchedule)
SCHEDULER_KINDS = "a d2l_compat schedule or a keras.optimizers.schedules.LearningRateSchedule"
# XLA-compile the train and eval steps? Measured on 2 CPU cores, XLA's CPU convolutions
# make LeNet ~4x slower than TF's oneDNN kernels (and op determinism has no XLA MaxPool
# gradient), so the steps are plain tf.function graphs. KerasSchedule works either way.
JIT_COMPILE = False


def try_gpu(i: int = 0):
    """``tf.device('/GPU:i')`` if GPU ``i`` exists, else ``tf.device('/CPU:0')`` (as D2L).

    The result is a device context (``with d2l.try_gpu(): ...``) whose ``_device_name``
    is the name, as D2L's code reads it (``tf.distribute.OneDeviceStrategy(
    d2l.try_gpu()._device_name)``). Every function here also takes a plain name.
    """
    if len(tf.config.list_physical_devices("GPU")) > i:
        return tf.device(f"/GPU:{i}")
    return tf.device("/CPU:0")


def default_device() -> str:
    """The device ``train`` uses when given none: ``D2L_DEVICE`` (auto, cpu or gpu) decides.

    ``auto`` is :func:`try_gpu`; ``gpu`` raises a RuntimeError when TensorFlow sees no GPU
    (see :mod:`d2l_compat.devices`).
    """
    if choose_device(FRAMEWORK, len(tf.config.list_physical_devices("GPU"))) == "gpu":
        return try_gpu()
    return "/CPU:0"


def _device_name(device) -> str:
    """A device name from a name, a ``tf.device(...)`` context (D2L's ``try_gpu``) or None."""
    if device is None:
        device = default_device()
    return str(getattr(device, "_device_name", device))


def _device_label(device: str) -> str:
    """``'/CPU:0'`` -> ``'cpu'``, ``'/GPU:1'`` -> ``'gpu:1'`` (History's device field)."""
    name = tf.DeviceSpec.from_string(device)
    kind = (name.device_type or "cpu").lower()
    return "cpu" if kind == "cpu" else f"{kind}:{name.device_index or 0}"


def load_data_fashion_mnist(batch_size: int, resize=None, seed: int = DEFAULT_SEED,
                            mode: str | None = None, class_train: int | None = None):
    """Fashion-MNIST in memory as (train_iter, test_iter) of NHWC float32 / int32 tensors."""
    def to_tensors(X, y):
        return tf.convert_to_tensor(X), tf.convert_to_tensor(y)

    return _data.load_data_fashion_mnist(batch_size, resize=resize, layout="NHWC",
                                         convert=to_tensors, seed=seed, loader=KerasBatches,
                                         mode=mode, class_train=class_train)


class KerasBatches(_data.ArrayBatches, keras.utils.PyDataset):
    """:class:`~d2l_compat.data.ArrayBatches` that Keras' ``fit`` / ``evaluate`` accept.

    Iterating yields tensors as any loader of this package does; as a
    ``keras.utils.PyDataset``, ``loader[i]`` is minibatch ``i`` (numpy arrays) of the
    current Keras epoch, and Keras' ``on_epoch_end`` moves to the next epoch's order,
    so ``model.fit(train_iter, ...)`` (D2L's TensorFlow code) sees the orders of
    ``batches(0)``, ``batches(1)``, ... (``fit`` may also shuffle the batches' order).
    """

    def __init__(self, *args, **kwargs):
        _data.ArrayBatches.__init__(self, *args, **kwargs)
        keras.utils.PyDataset.__init__(self)
        self._keras_epoch, self._keras_order = 0, None

    def __getitem__(self, index: int):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {index!r}")
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of a loader with {len(self)} batches")
        if self._keras_order is None:
            self._keras_order = self.order(self._keras_epoch)
        idx = self._keras_order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.X[idx], self.y[idx]

    def on_epoch_end(self) -> None:
        self._keras_epoch, self._keras_order = self._keras_epoch + 1, None

    @property
    def _variant_tensor(self):
        """What ``tf.data.experimental.cardinality(loader)`` reads (D2L's TensorFlow
        ``TrainCallback`` calls it): the variant of a dataset with ``len(self)`` elements,
        so the cardinality is the number of minibatches, as for D2L's ``tf.data`` loader."""
        return tf.data.Dataset.range(len(self))._variant_tensor


# ---------------------------------------------------------------------------- model

def load_lenet_weights(net: keras.Model, weights) -> keras.Model:
    """Load LeNet ``weights`` (canonical layout, from :func:`lenet_weights`) into ``net``.

    ``net``'s ``Conv2D`` and ``Dense`` layers, in order, receive the five (kernel, bias)
    pairs in Keras' layout (``to_layout(weights, "HWIO")``: HWIO kernels, ``Dense``
    kernels ``(in, out)``, and the rows of the first ``Dense`` permuted to the
    height-width-channel order in which ``Flatten`` walks NHWC features, so an image
    gives the same logits as in the NCHW frameworks). Any built net with LeNet's layer
    shapes works; other shapes raise ``ValueError`` before anything changes.
    Returns ``net``.
    """
    layers = [layer for layer in net.layers
              if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    for layer, kernel, bias in match_layers(layers, to_layout(weights, "HWIO"),
                                            lambda layer: (layer.kernel.shape,
                                                           layer.bias.shape)):
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
    return net


def lenet(seed: int = DEFAULT_SEED) -> keras.Sequential:
    """The chapter's modernised LeNet (ReLU, max-pooling) on NHWC 28x28x1 inputs.

    The weights are :func:`d2l_compat.models.lenet_weights` ``(seed)`` -- Xavier-uniform,
    zero biases, drawn once with numpy -- the same numbers every framework's ``lenet``
    loads (:func:`load_lenet_weights`). The layers are built with constant (zero)
    initializers, so no random state of Keras, TF or Python changes. The last layer
    returns logits.
    """
    zeros = dict(kernel_initializer="zeros", bias_initializer="zeros")  # then loaded
    layers = keras.layers
    net = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1", **zeros),
        layers.MaxPooling2D(pool_size=2, strides=2, name="pool1"),
        layers.Conv2D(16, 5, activation="relu", name="conv2", **zeros),
        layers.MaxPooling2D(pool_size=2, strides=2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(120, activation="relu", name="dense1", **zeros),
        layers.Dense(84, activation="relu", name="dense2", **zeros),
        layers.Dense(10, name="logits", **zeros),
    ], name="lenet")
    return load_lenet_weights(net, lenet_weights(seed))


def num_params(net: keras.Model) -> int:
    """Number of scalar parameters of ``net`` (``net.count_params()``)."""
    return int(net.count_params())


# ----------------------------------------------------------------- schedule adapters

def _is_core_schedule(scheduler) -> bool:
    return isinstance(scheduler, Schedule)


def _check_steps_per_epoch(steps_per_epoch):
    if steps_per_epoch is None:
        return None
    return check_int("steps_per_epoch", steps_per_epoch, minimum=1)


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

    # Plain tensor ops: nothing for autograph to convert (and converting a callable
    # object can trip over its zero-argument super() in __init__).
    @tf.autograph.experimental.do_not_convert
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


def _check_boundaries(boundaries, num_schedules):
    values = list(boundaries) if isinstance(boundaries, (list, tuple)) else None
    if values is None or len(values) != num_schedules - 1 or any(
            isinstance(b, bool) or not isinstance(b, (int, np.integer)) for b in values) \
            or any(b <= a for a, b in zip([0] + values, values)):
        raise ValueError(f"boundaries must be {num_schedules - 1} strictly increasing "
                         f"positive ints (one per schedule after the first), "
                         f"got {boundaries!r}")
    return [int(b) for b in values]


@keras.saving.register_keras_serializable(package="d2l_compat")
class KerasJoinedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Native Keras schedules one after another, each restarting its count at its boundary.

    With boundaries ``b_1 < ... < b_n``, update ``u >= b_i`` uses ``schedules[i](u - b_i)``
    (``u < b_1`` uses ``schedules[0](u)``): optax's ``join_schedules`` semantics, the
    same as :func:`d2l_compat.schedules.join_schedules`. Keras has no composition of its
    own; this is it, graph-safe (``tf.where``, no Python branching on the step) and
    serializable, so a model whose optimizer uses it survives ``model.save``.

    >>> K = keras.optimizers.schedules
    >>> warm_then_cos = KerasJoinedSchedule(
    ...     [K.PolynomialDecay(0.0, 4, end_learning_rate=0.2, power=1),
    ...      K.CosineDecay(0.2, decay_steps=6)], boundaries=[4])
    >>> [round(float(warm_then_cos(u)), 4) for u in (0, 2, 4, 7, 10)]
    [0.0, 0.1, 0.2, 0.1, 0.0]
    """

    def __init__(self, schedules, boundaries):
        super().__init__()
        schedules = [keras.saving.deserialize_keras_object(s) if isinstance(s, dict) else s
                     for s in schedules]
        if not schedules:
            raise ValueError("schedules must not be empty")
        for i, s in enumerate(schedules):
            if not isinstance(s, keras.optimizers.schedules.LearningRateSchedule):
                raise ValueError(f"schedules[{i}] must be a keras LearningRateSchedule "
                                 f"(wrap a d2l_compat schedule in KerasSchedule), got {s!r}")
        self.schedules = schedules
        self.boundaries = _check_boundaries(boundaries, len(schedules))

    def __call__(self, step):
        step = tf.cast(step, tf.int64)
        lr = tf.cast(self.schedules[0](step), tf.float32)
        for schedule, start in zip(self.schedules[1:], self.boundaries):
            piece = tf.cast(schedule(tf.maximum(step - start, 0)), tf.float32)
            lr = tf.where(step >= start, piece, lr)
        return lr

    def get_config(self):
        return {"schedules": [keras.saving.serialize_keras_object(s) for s in self.schedules],
                "boundaries": list(self.boundaries)}


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


class LRFinderCallback(keras.callbacks.Callback):
    """The learning-rate range test as a ``model.fit`` callback.

    Drives an :class:`~d2l_compat.lr_finder.LRRangeTest`: before each batch it sets the
    optimizer's lr to the test's next value; after it, it records the batch loss with
    the lr read back from the optimizer, and stops ``fit`` when a stop rule fires or
    the sweep is done. Afterwards ``callback.result()`` is the
    :class:`~d2l_compat.lr_finder.LRFinderResult` -- the same algorithm as
    :func:`find_lr`, which runs it from our own loop and also restores the weights.

    Keras' batch logs hold the *running mean* of the loss over the epoch so far (weighted
    by batch size), not the batch's loss. The callback reads the batch loss from the
    model's loss tracker instead (the ``keras.metrics.Mean`` named ``"loss"`` in
    ``model.metrics``): the change of its weighted ``total`` divided by the change of
    its ``count``. Give ``fit`` enough epochs for ``num_steps`` batches, keep
    ``steps_per_execution=1`` (the default), compile with a float learning rate, and
    snapshot the weights yourself: the test wrecks them.
    """

    def __init__(self, range_test=None, **kwargs):
        super().__init__()
        if range_test is not None and kwargs:
            raise ValueError("give either an LRRangeTest or its keyword arguments, not both")
        self.range_test = range_test if range_test is not None else LRRangeTest(**kwargs)
        if not isinstance(self.range_test, LRRangeTest):
            raise ValueError(f"range_test must be an LRRangeTest, got {self.range_test!r}")
        self._sweep = self._tracker = None
        self._sums = (0.0, 0.0)

    def on_train_begin(self, logs=None):
        if isinstance(self.model.optimizer._learning_rate,
                      keras.optimizers.schedules.LearningRateSchedule):
            raise TypeError("LRFinderCallback needs an optimizer built with a float "
                            "learning_rate, not a LearningRateSchedule")
        trackers = [m for m in self.model.metrics
                    if m.name == "loss" and isinstance(m, keras.metrics.Mean)]
        if not trackers:
            raise TypeError("LRFinderCallback needs a compiled model with a loss")
        self._tracker = trackers[0]
        self._sweep = iter(self.range_test)

    def _tracked(self):
        return (float(self._tracker.total.numpy()), float(self._tracker.count.numpy()))

    def on_epoch_begin(self, epoch, logs=None):
        self._sums = (0.0, 0.0)  # Keras resets its loss tracker every epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.range_test.done:
            self.model.stop_training = True
            return
        _, lr = next(self._sweep)
        self.model.optimizer.learning_rate.assign(lr)

    def on_train_batch_end(self, batch, logs=None):
        if self.range_test.done:
            return
        (total, count), (prev_total, prev_count) = self._tracked(), self._sums
        self._sums = (total, count)
        loss = (total - prev_total) / (count - prev_count)
        if not self.range_test.record(loss, lr=float(self.model.optimizer.learning_rate)):
            self.model.stop_training = True

    def result(self) -> LRFinderResult:
        return self.range_test.result()


def _learning_rate(scheduler, lr, schedule_unit, steps_per_epoch):
    """What to give ``SGD(learning_rate=...)``: a float or a LearningRateSchedule."""
    per_epoch = steps_per_epoch if schedule_unit == "epoch" else None
    if scheduler is None:
        return float(lr)
    if _is_core_schedule(scheduler):
        return KerasSchedule(scheduler, steps_per_epoch=per_epoch)
    if isinstance(scheduler, (KerasSchedule, PerEpoch)) or not per_epoch:
        return scheduler  # already says how it steps, or counted in updates
    return PerEpoch(scheduler, per_epoch)  # a native Keras schedule, counted in epochs


def _schedule_and_unit(learning_rate):
    """(the d2l_compat schedule inside or None, the unit it steps in or None) of what
    drives an optimizer: a float (None, None) or a LearningRateSchedule."""
    if isinstance(learning_rate, KerasSchedule):
        return learning_rate.schedule, "epoch" if learning_rate.steps_per_epoch else "update"
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return None, "epoch" if isinstance(learning_rate, PerEpoch) else "update"
    return None, None


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

def _holds_schedule(optimizer) -> bool:
    return isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule)


def _optimizer(net, optimizer, learning_rate, momentum: float, first_update: int, device):
    """The SGD of a run, built on ``device`` for ``net``: ``optimizer`` (its lr replaced
    by ``learning_rate`` unless that is None) or a new ``SGD(learning_rate, momentum)``;
    a fresh one resuming at ``first_update > 0`` gets that update count."""
    with tf.device(device):
        if optimizer is None:
            optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
        elif learning_rate is not None:
            optimizer.learning_rate = learning_rate
        optimizer.build(net.trainable_variables)
        if first_update and int(optimizer.iterations) == 0:
            optimizer.iterations.assign(first_update)
    return optimizer


class _EpochLoop:
    """:class:`d2l_compat.rooms.EpochLoop` of ``train``: the compiled step on ``device``."""

    def __init__(self, net, optimizer, device: str):
        self.optimizer, self.device = optimizer, device
        with tf.device(device):
            self.step_fn = _train_step_fn(net, optimizer)

    def begin_epoch(self) -> None:
        self.loss_sum = self.correct = 0.0

    def set_lr(self, lr: float) -> None:
        self.optimizer.learning_rate.assign(lr)

    def update(self, X, y, read_lr: bool):
        with tf.device(self.device):
            lr = float(self.optimizer.learning_rate) if read_lr else None  # before the step
            batch_loss, batch_correct = self.step_fn(*_as_batch(X, y))
            self.loss_sum += batch_loss
            self.correct += batch_correct
        return lr

    def end_epoch(self) -> tuple:
        return self.loss_sum, self.correct


def train(net, train_iter, test_iter, num_epochs: int, lr: float, scheduler=None,
          device=None, *, schedule_unit: str = "epoch", optimizer=None,
          seed: int = DEFAULT_SEED, animator=True, verbose: bool = True,
          history: History | None = None, start_epoch: int = 0, momentum: float = 0.0,
          lr_hook=None) -> History:
    """Train with ``keras.optimizers.SGD``; the arguments are :meth:`d2l_compat.rooms.Room.train`'s.

    ``scheduler`` is a d2l_compat schedule (applied through :class:`KerasSchedule`), a
    native ``keras.optimizers.schedules.LearningRateSchedule`` (counted in epochs through
    :class:`PerEpoch` when ``schedule_unit="epoch"``, in updates otherwise) or None; it
    replaces the lr of a given ``optimizer``. The lr is read back as
    ``float(optimizer.learning_rate)`` (Keras evaluates it at ``optimizer.iterations``);
    ``lr_hook`` assigns ``optimizer.learning_rate``, so it needs an optimizer holding a
    float lr. When resuming (``start_epoch > 0``) with an optimizer whose update counter
    is 0, the counter is set to ``start_epoch * len(train_iter)``.

    The train step is a ``tf.function`` graph (XLA-compiled when ``JIT_COMPILE``); TF's
    CPU kernels are deterministic at a fixed thread count, so the same call gives the
    same metrics without ``enable_op_determinism()``. ``tf.random.set_seed(seed)`` is
    called here (never at import).
    """
    check_train_arguments(num_epochs=num_epochs, lr=lr, scheduler=scheduler,
                          schedule_unit=schedule_unit, optimizer=optimizer, seed=seed,
                          start_epoch=start_epoch, momentum=momentum, lr_hook=lr_hook,
                          schedulers=SCHEDULERS, scheduler_kinds=SCHEDULER_KINDS)
    if lr_hook is not None and optimizer is not None and _holds_schedule(optimizer):
        raise TypeError("lr_hook needs an optimizer built with a float learning_rate; "
                        "this one holds a LearningRateSchedule")
    device = _device_name(device)
    tf.random.set_seed(seed)  # for any randomness inside the net (none in LeNet)
    steps_per_epoch = len(train_iter)
    learning_rate = (None if optimizer is not None and scheduler is None else
                     _learning_rate(scheduler, lr, schedule_unit, steps_per_epoch))
    optimizer = _optimizer(net, optimizer, learning_rate, momentum,
                           start_epoch * steps_per_epoch, device)
    schedule, unit = _schedule_and_unit(optimizer._learning_rate)
    history = history or new_history(FRAMEWORK, VERSIONS, train_iter, seed=seed,
                                     device=_device_label(device), schedule=schedule,
                                     schedule_unit=unit, lr_hook=lr_hook)
    return train_loop(_EpochLoop(net, optimizer, device), train_iter,
                      lambda: evaluate_accuracy_gpu(net, test_iter, device), num_epochs,
                      history, start_epoch=start_epoch, lr_hook=lr_hook, animator=animator,
                      verbose=verbose)


# --------------------------------------------------------------------------- LR finder

def _net_state(net) -> StateCacher:
    """Every variable of ``net``, as numpy arrays."""
    def restore(snapshot):
        for variable, value in zip(net.variables, snapshot):
            variable.assign(value)

    return StateCacher(lambda: [v.numpy() for v in net.variables], restore)


def _sweep_update(net, train_iter):
    """``make_update`` of :func:`d2l_compat.rooms.find_lr_with` for a Keras net."""
    def make_update(start_lr: float, seed: int):
        tf.random.set_seed(seed)
        optimizer = keras.optimizers.SGD(learning_rate=start_lr)
        optimizer.build(net.trainable_variables)
        step_fn = _train_step_fn(net, optimizer)
        batches = _data.cycle_batches(train_iter)

        def update(lr):
            optimizer.learning_rate.assign(lr)
            X, y = next(batches)
            loss_sum, _ = step_fn(*_as_batch(X, y))
            return float(loss_sum) / int(y.shape[0]), float(optimizer.learning_rate)
        return update
    return make_update


@range_test_signature
def find_lr(net, train_iter, *sweep, seed: int = DEFAULT_SEED, **options) -> LRFinderResult:
    """The learning-rate range test on ``net``; the net is unchanged by the call.

    The arguments and the test are :meth:`d2l_compat.rooms.Room.find_lr`'s. A fresh
    ``keras.optimizers.SGD`` runs the same compiled step as :func:`train`: its lr
    variable is assigned before each update and read back for the record. Every
    variable of ``net`` is restored afterwards; an optimizer the net was compiled with
    is never touched. ``seed`` seeds TF's global generator as :func:`train` does.
    """
    return find_lr_with(_net_state(net), _sweep_update(net, train_iter), *sweep, seed=seed,
                        **options)


# --------------------------------------------------------------------------- D2L names
# D2L's helpers with D2L's signatures, so D2L's chapter code runs after changing only
# its import line; the framework-free half lives in d2l_compat.d2l_api.

arange = tf.range


def size(a) -> int:
    """The number of elements of ``a`` (D2L's ``d2l.size``)."""
    return int(tf.size(a))


def try_all_gpus() -> list:
    """``tf.device`` contexts of all GPUs, or ``[tf.device('/CPU:0')]`` (D2L's try_all_gpus)."""
    count = len(tf.config.list_physical_devices("GPU"))
    return [tf.device(f"/GPU:{i}") for i in range(count)] or [tf.device("/CPU:0")]


def accuracy(y_hat, y) -> float:
    """The number of correct predictions (a float): rows of logits ``y_hat`` or labels."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = tf.argmax(y_hat, axis=1)
    return float(tf.reduce_sum(tf.cast(tf.cast(y_hat, y.dtype) == y, tf.float32)))


def _num_examples(data_iter) -> int:
    """Examples per epoch: a loader's own count, else batch size x batches (as D2L)."""
    if hasattr(data_iter, "num_examples"):
        return int(data_iter.num_examples)
    return int(next(iter(data_iter))[0].shape[0]) * len(data_iter)


class TrainCallback(keras.callbacks.Callback):
    """D2L's ``model.fit`` callback of ``train_ch6``: an Animator and the closing lines.

    After every epoch it evaluates ``net`` on ``test_iter`` (``net.evaluate``, so the
    net must be compiled with ``metrics=['accuracy']``) and adds the epoch's train loss,
    train accuracy (Keras' logs) and the test accuracy to its ``animator``; after the
    last epoch it prints them and the examples/sec on ``device_name``.
    """

    def __init__(self, net, train_iter, test_iter, num_epochs: int, device_name):
        super().__init__()
        self.timer = Timer()
        self.animator = _d2l_api.animator_ch6(num_epochs)
        self.net, self.train_iter, self.test_iter = net, train_iter, test_iter
        self.num_epochs, self.device_name = num_epochs, device_name

    def on_epoch_begin(self, epoch, logs=None):
        self.timer.start()

    def on_epoch_end(self, epoch, logs=None):
        self.timer.stop()
        test_acc = self.net.evaluate(self.test_iter, verbose=0, return_dict=True)["accuracy"]
        metrics = (logs["loss"], logs["accuracy"], test_acc)
        self.animator.add(epoch + 1, metrics)
        if epoch == self.num_epochs - 1:
            _d2l_api.report_ch6(*metrics, _num_examples(self.train_iter) / self.timer.avg(),
                                self.device_name)


def train_ch6(net_fn, train_iter, test_iter, num_epochs: int, lr: float, device=None):
    """D2L's TensorFlow ``train_ch6``: build ``net_fn()`` in a ``OneDeviceStrategy``.

    The net is compiled with ``keras.optimizers.SGD(lr)`` and sparse softmax
    cross-entropy on logits, trained by ``fit`` with a :class:`TrainCallback`, and
    returned. ``device`` is D2L's ``try_gpu()`` (the default) or a device name.
    """
    device_name = _device_name(device)
    strategy = tf.distribute.OneDeviceStrategy(device_name)
    with strategy.scope():
        net = net_fn()
        net.compile(optimizer=keras.optimizers.SGD(learning_rate=lr),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=["accuracy"])
    callback = TrainCallback(net, train_iter, test_iter, num_epochs, device_name)
    net.fit(train_iter, epochs=num_epochs, verbose=0, callbacks=[callback])
    return net


def applied_lrs(schedule, steps) -> np.ndarray:
    """The learning rate a Keras SGD optimizer driven by ``schedule`` applies at each update.

    ``schedule`` is anything ``keras.optimizers.SGD(learning_rate=...)`` accepts (a float, a
    ``LearningRateSchedule``); ``steps`` are update counters. Keras evaluates the schedule at
    ``optimizer.iterations``, so this sets the counter to each step and reads the lr back.

    >>> applied_lrs(keras.optimizers.schedules.ExponentialDecay(1.0, 1, 0.5), [0, 1, 3])
    array([1.   , 0.5  , 0.125])
    """
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    lrs = []
    for step in steps:
        optimizer.iterations.assign(int(step))
        lrs.append(float(optimizer.learning_rate))
    return np.array(lrs)
