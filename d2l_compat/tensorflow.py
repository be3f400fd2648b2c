"""TensorFlow / Keras 3 room of d2l_compat: ``from d2l_compat import tensorflow as d2l``.

Thin by design: it converts arrays, builds LeNet as a ``keras.Sequential`` holding the
shared initial weights of :func:`d2l_compat.lenet.lenet_weights` and trains it
with ``keras.optimizers.SGD`` in a compiled ``tf.function`` step (:func:`train`,
:func:`find_lr`: the hooks of :class:`d2l_compat.rooms.Trainer`). The Keras schedules
and callbacks for ``model.fit`` (:class:`KerasSchedule`, :class:`PerEpoch`,
:class:`KerasJoinedSchedule`, :class:`LearningRateSetter`, :class:`LRFinderCallback`,
:class:`TrainCallback`, :func:`applied_lrs`) live in :mod:`d2l_compat.keras_extras` and
are re-exported here.

Importing this module changes no global state (no seeds, no TF config) but one variable:
unless you set it, ``TF_ENABLE_ONEDNN_OPTS=1`` before TensorFlow loads
(:func:`d2l_compat.context.apply_framework_defaults`): TensorFlow enables its oneDNN
kernels by default only on CPUs with AVX-512, and without them trains LeNet about 2-3x
slower on an AVX2 CPU. TensorFlow is imported with the process's native stderr silenced
for the duration of the import: its C++ libraries log "oneDNN custom operations are on"
through absl before any log level can be set (``TF_CPP_MIN_LOG_LEVEL`` does not reach
them). Python exceptions raised by the import still propagate. The only other side
effect is registering the three schedule classes with Keras' serialization registry
under the package name ``d2l_compat`` (:mod:`d2l_compat.keras_extras`), which lets a
saved model that uses them be loaded again.
"""

from __future__ import annotations

import weakref

from d2l_compat._native import native_stderr_silenced
from d2l_compat.context import apply_framework_defaults

apply_framework_defaults("tensorflow")  # before TensorFlow loads: it reads them then
with native_stderr_silenced():
    import keras
    import tensorflow as tf

from d2l_compat import common, keras_extras, rooms
from d2l_compat import loader as _data
from d2l_compat.common import *  # noqa: F401,F403  (re-exported: the shared D2L names)
from d2l_compat.context import DEFAULT_SEED
from d2l_compat.devices import choose_device
from d2l_compat.keras_extras import (KerasBatches, KerasJoinedSchedule,  # noqa: F401
                                     KerasSchedule, LearningRateSetter, LRFinderCallback,
                                     PerEpoch, TrainCallback, applied_lrs, attached_schedule,
                                     lr_is_settable, native_schedule, schedule_and_unit)
from d2l_compat.lenet import from_layout, lenet_weights, match_layers, to_layout
from d2l_compat.lr_finder import LRFinderResult
from d2l_compat.schedules import Schedule
from d2l_compat.training import History

FRAMEWORK = "tensorflow"
VERSIONS = {"tensorflow": tf.__version__, "keras": keras.__version__}
# XLA-compile the train and eval steps? Measured on 2 CPU cores, XLA's CPU convolutions
# make LeNet ~4x slower than TF's oneDNN kernels (and op determinism has no XLA MaxPool
# gradient), so the steps are plain tf.function graphs. KerasSchedule works either way.
JIT_COMPILE = False


def try_gpu(i: int = 0):
    """``tf.device('/GPU:i')`` if GPU ``i`` exists, else ``tf.device('/CPU:0')`` (as D2L).

    The result is a device context (``with d2l.try_gpu(): ...``) whose ``_device_name``
    is the name, as D2L's code reads it (``tf.distribute.OneDeviceStrategy(
    d2l.try_gpu()._device_name)``). Every function here also takes a plain name
    (:func:`tf_device`).
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


def tf_device(device) -> str:
    """The TF device string (``'/CPU:0'``) of a name, a ``tf.device(...)`` context (D2L's
    ``try_gpu``) or None (:func:`default_device`)."""
    if device is None:
        device = default_device()
    return str(getattr(device, "_device_name", device))


def device_label(device: str) -> str:
    """``'/CPU:0'`` -> ``'cpu'``, ``'/GPU:1'`` -> ``'gpu:1'`` (History's device field)."""
    name = tf.DeviceSpec.from_string(device)
    kind = (name.device_type or "cpu").lower()
    return "cpu" if kind == "cpu" else f"{kind}:{name.device_index or 0}"


def _to_tensors(X, y):
    return tf.convert_to_tensor(X), tf.convert_to_tensor(y)


load_data_fashion_mnist = rooms.data_loader("NHWC", _to_tensors, """Fashion-MNIST in memory
    as (train_iter, test_iter) of NHWC float32 / int32 tensors.""", loader=KerasBatches)


# ---------------------------------------------------------------------------- model
def load_lenet_weights(net: keras.Model, weights) -> keras.Model:
    """Load LeNet ``weights`` (canonical layout, from :func:`lenet_weights`) into ``net``.

    ``net``'s ``Conv2D`` and ``Dense`` layers, in order, receive the five (kernel, bias)
    pairs in Keras' layout (``to_layout(weights, "HWIO")``: HWIO kernels, ``Dense``
    kernels ``(in, out)``, and the rows of the first ``Dense`` permuted to the
    height-width-channel order in which ``Flatten`` walks NHWC features, so an image
    gives the same logits as in the NCHW frameworks). Any built net with LeNet's layer
    shapes works; other shapes raise ``ValueError`` before anything changes. Returns ``net``.
    """
    for layer, kernel, bias in match_layers(_weight_layers(net), to_layout(weights, "HWIO"),
                                            lambda la: (la.kernel.shape, la.bias.shape)):
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
    return net


def _weight_layers(net: keras.Model) -> list:
    return [la for la in net.layers if isinstance(la, (keras.layers.Conv2D, keras.layers.Dense))]


def lenet_weights_of(net: keras.Model) -> dict:
    """The canonical LeNet weights of ``net`` now (the inverse of :func:`load_lenet_weights`)."""
    return from_layout([(la.kernel.numpy(), la.bias.numpy()) for la in _weight_layers(net)],
                       "HWIO")


dead_relu_fraction = rooms.dead_relu_fraction_of(FRAMEWORK, lenet_weights_of)


def lenet(seed: int = DEFAULT_SEED) -> keras.Sequential:
    """The chapter's modernised LeNet (ReLU, max-pooling) on NHWC 28x28x1 inputs.

    The weights are :func:`d2l_compat.lenet.lenet_weights` ``(seed)`` -- Xavier-uniform,
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
    with tf.device(tf_device(device)):
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

class _KerasTrainer(rooms.Trainer):
    """The hooks of :func:`d2l_compat.rooms.train_with`: Keras SGD, a compiled step."""

    FRAMEWORK, VERSIONS = FRAMEWORK, VERSIONS
    SCHEDULERS = (keras.optimizers.schedules.LearningRateSchedule,)
    SCHEDULER_KINDS = "a keras.optimizers.schedules.LearningRateSchedule"
    SETTABLE_LR = "an optimizer built with a float learning_rate, not a LearningRateSchedule"
    READS_LR_BEFORE_STEP = True  # Keras evaluates the lr at iterations, before the update
    default_device = staticmethod(default_device)

    def __init__(self, net, device):
        super().__init__(net, tf_device(device))

    @classmethod
    def attaches(cls, scheduler, optimizer) -> bool:  # a plain function is set by hand
        return isinstance(scheduler, (Schedule, keras.optimizers.schedules.LearningRateSchedule))

    @classmethod
    def lr_is_settable(cls, optimizer, net) -> bool:
        return lr_is_settable(optimizer)

    def device_label(self) -> str:
        return device_label(self.device)

    def seed(self, seed: int) -> None:
        tf.random.set_seed(seed)  # for any randomness inside the net (none in LeNet)

    def build_optimizer(self, optimizer, scheduler, lr, momentum):
        if optimizer is not None:
            return optimizer
        with tf.device(self.device):
            return keras.optimizers.SGD(learning_rate=float(lr), momentum=momentum)

    def attach_schedule(self, scheduler, steps_per_epoch, first_update, num_updates):
        """A schedule replaces the optimizer's lr (Keras evaluates it at every update)."""
        if scheduler is None:
            return schedule_and_unit(attached_schedule(self.optimizer))
        native = native_schedule(scheduler, steps_per_epoch)
        with tf.device(self.device):
            self.optimizer.learning_rate = native
        return schedule_and_unit(native)

    def begin_run(self, first_update, steps_per_epoch, sets_lr) -> None:
        with tf.device(self.device):
            self.optimizer.build(self.net.trainable_variables)
            if first_update and int(self.optimizer.iterations) == 0:
                self.optimizer.iterations.assign(first_update)  # a fresh one resuming
            self.step_fn = _train_step_fn(self.net, self.optimizer)

    def begin_epoch(self) -> None:
        self.loss_sum = self.correct = 0.0

    def set_lr(self, lr: float) -> None:
        self.optimizer.learning_rate.assign(lr)

    def read_lr(self) -> float:
        with tf.device(self.device):
            return float(self.optimizer.learning_rate)

    def step(self, X, y) -> None:
        with tf.device(self.device):
            self.last_loss, batch_correct = self.step_fn(*_as_batch(X, y))
            self.count = int(y.shape[0])
            self.loss_sum += self.last_loss
            self.correct += batch_correct

    def batch_loss(self) -> float:
        return float(self.last_loss) / self.count

    def end_epoch(self) -> tuple:
        return self.loss_sum, self.correct

    def evaluate(self, data_iter) -> float:
        return evaluate_accuracy_gpu(self.net, data_iter, self.device)

    def save_state(self):
        """Every variable of the net, as numpy arrays."""
        return [v.numpy() for v in self.net.variables]

    def restore_state(self, state) -> None:
        for variable, value in zip(self.net.variables, state):
            variable.assign(value)


@rooms.train_signature
def train(*args, **kwargs) -> History:
    """Train with ``keras.optimizers.SGD``; the arguments are :meth:`d2l_compat.rooms.Room.train`'s.

    ``scheduler`` is a d2l_compat schedule (applied through :class:`KerasSchedule`), a
    native ``keras.optimizers.schedules.LearningRateSchedule`` (counted in epochs through
    :class:`PerEpoch` when ``schedule_unit="epoch"``, in updates otherwise), any function
    ``step -> lr`` (assigned to the lr variable before every update) or None; it
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
    return rooms.train_with(_KerasTrainer, *args, **kwargs)


@rooms.range_test_signature
def find_lr(*args, **kwargs) -> LRFinderResult:
    """The learning-rate range test on ``net``; the net is unchanged by the call.

    The arguments and the test are :meth:`d2l_compat.rooms.Room.find_lr`'s. A fresh
    ``keras.optimizers.SGD`` runs the same compiled step as :func:`train`: its lr
    variable is assigned before each update and read back for the record. Every
    variable of ``net`` is restored afterwards; an optimizer the net was compiled with
    is never touched. ``seed`` seeds TF's global generator as :func:`train` does.
    """
    return rooms.find_lr_with(_KerasTrainer, *args, **kwargs)


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


def train_ch6(net_fn, train_iter, test_iter, num_epochs: int, lr: float, device=None):
    """D2L's TensorFlow ``train_ch6``: build ``net_fn()`` in a ``OneDeviceStrategy``.

    The net is compiled with ``keras.optimizers.SGD(lr)`` and sparse softmax
    cross-entropy on logits, trained by ``fit`` with a :class:`TrainCallback`, and
    returned. ``device`` is D2L's ``try_gpu()`` (the default) or a device name.
    """
    device_name = tf_device(device)
    strategy = tf.distribute.OneDeviceStrategy(device_name)
    with strategy.scope():
        net = net_fn()
        net.compile(optimizer=keras.optimizers.SGD(learning_rate=lr),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=["accuracy"])
    callback = TrainCallback(net, train_iter, test_iter, num_epochs, device_name)
    net.fit(train_iter, epochs=num_epochs, verbose=0, callbacks=[callback])
    return net


__all__ = [*rooms.CONTRACT_NAMES, "JIT_COMPILE", "tf_device", "device_label", "train_ch6",
           *keras_extras.__all__, *common.__all__]
