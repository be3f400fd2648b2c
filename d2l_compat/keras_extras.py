"""Keras extras of the TensorFlow room: schedules, callbacks and helpers for ``model.fit``.

What is not the room's core (``train``, ``find_lr`` and the model) but what notebooks use
with Keras' own loop; the room re-exports every name as ``d2l.<name>``:

* :class:`KerasSchedule` -- a d2l_compat schedule as a
  ``keras.optimizers.schedules.LearningRateSchedule`` evaluated by the optimizer at every
  update (per update, or per epoch through ``steps_per_epoch``); graph- and XLA-safe, it
  survives ``model.save``;
* :class:`PerEpoch` -- steps a native Keras schedule once per epoch instead of once per
  update (Keras schedules always count updates);
* :class:`KerasJoinedSchedule` -- native Keras schedules applied one after another
  (``join_schedules`` for ``keras.optimizers.schedules``);
* :class:`LearningRateSetter` -- a ``keras.callbacks.Callback`` for ``model.fit`` that
  assigns ``schedule(epoch)`` (or ``schedule(update)``) to the optimizer's lr variable;
* :class:`LRFinderCallback` -- the learning-rate range test of :mod:`d2l_compat.lr_finder`
  as a ``model.fit`` callback; :class:`TrainCallback` -- D2L's ``train_ch6`` callback;
* :class:`KerasBatches` -- the room's loader, also a ``keras.utils.PyDataset``;
* :func:`applied_lrs`, :func:`lr_is_settable`, :func:`attached_schedule` -- what an
  optimizer applies, read through Keras' public API; :func:`native_schedule`,
  :func:`schedule_and_unit` -- a scheduler of ``train`` as a Keras schedule, and back.

The three schedule classes are registered with Keras' serialization registry under the
package name ``d2l_compat`` (``d2l_compat>KerasSchedule``, ...), which is what lets a
saved model that uses them be loaded again.
"""

from __future__ import annotations

import numpy as np

from d2l_compat._native import native_stderr_silenced

with native_stderr_silenced():
    import keras
    import tensorflow as tf

from d2l_compat import d2l_api as _d2l_api
from d2l_compat import loader as _data
from d2l_compat.checks import check_int
from d2l_compat.d2l_api import Timer
from d2l_compat.lr_finder import LRFinderResult, LRRangeTest
from d2l_compat.schedules import (MultiFactorScheduler, Schedule, schedule_from_config,  # noqa: F401
                                  schedule_to_config)
from d2l_compat.training import SCHEDULE_UNITS

__all__ = ["KerasBatches", "KerasSchedule", "PerEpoch", "KerasJoinedSchedule",
           "LearningRateSetter", "LRFinderCallback", "TrainCallback", "applied_lrs",
           "lr_is_settable", "attached_schedule", "native_schedule", "schedule_and_unit"]


def lr_is_settable(optimizer) -> bool:
    """Whether ``optimizer``'s lr is a variable that can be assigned (it was built with
    a float ``learning_rate``), not a ``LearningRateSchedule`` Keras evaluates itself:
    ``optimizer.learning_rate`` is then the variable.

    >>> lr_is_settable(keras.optimizers.SGD(0.1)), lr_is_settable(
    ...     keras.optimizers.SGD(KerasSchedule(MultiFactorScheduler([2], 0.5, 0.4))))
    (True, False)
    """
    return isinstance(optimizer.learning_rate, keras.Variable)


def attached_schedule(optimizer):
    """The ``LearningRateSchedule`` driving ``optimizer``, or None for a float lr.

    Read from the optimizer's public config (``get_config()["learning_rate"]``: the
    schedule serialized); a schedule Keras cannot deserialize (a class that is not
    registered) is returned as a plain ``LearningRateSchedule``, counted in updates.
    """
    config = optimizer.get_config()["learning_rate"]
    if not isinstance(config, dict):
        return None
    try:
        return keras.optimizers.schedules.deserialize(config)
    except (TypeError, ValueError):
        return keras.optimizers.schedules.LearningRateSchedule()


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
        if not lr_is_settable(optimizer):
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
        if not lr_is_settable(self.model.optimizer):
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


class KerasBatches(_data.ArrayBatches, keras.utils.PyDataset):
    """:class:`~d2l_compat.loader.ArrayBatches` that Keras' ``fit`` / ``evaluate`` accept.

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


def native_schedule(scheduler, per_epoch: int | None):
    """The LearningRateSchedule of a d2l_compat or native Keras ``scheduler``, counted in
    epochs of ``per_epoch`` updates (None: in updates)."""
    if isinstance(scheduler, Schedule):
        return KerasSchedule(scheduler, steps_per_epoch=per_epoch)
    if isinstance(scheduler, (KerasSchedule, PerEpoch)) or not per_epoch:
        return scheduler  # already says how it steps, or counted in updates
    return PerEpoch(scheduler, per_epoch)  # a native Keras schedule, counted in epochs


def schedule_and_unit(learning_rate):
    """(the d2l_compat schedule inside or None, the unit it steps in or None) of what
    drives an optimizer: a float (None, None) or a LearningRateSchedule."""
    if isinstance(learning_rate, KerasSchedule):
        return learning_rate.schedule, "epoch" if learning_rate.steps_per_epoch else "update"
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return None, "epoch" if isinstance(learning_rate, PerEpoch) else "update"
    return None, None
