"""The room contract: what a framework room provides, and the train template every room shares.

A *room* is the module a notebook imports as ``d2l`` (``d2l_compat.torch``,
``d2l_compat.tensorflow``, ``d2l_compat.mxnet``, ``d2l_compat.jax``). It provides the
names of :class:`Room`, with the same signatures and the same meaning in every
framework, and it is thin: only what needs the framework is written in it. The sequence
of ``train`` and ``find_lr`` is written here, once, as Keras 3 writes ``fit`` once in its
framework-free ``Trainer`` and each backend supplies small steps:

* :func:`train_with` -- ``train``: check the arguments (:func:`check_train_arguments`;
  ``TypeError`` for a wrong type, ``ValueError`` for a wrong value, as PyTorch does),
  default device, seed and place the net, build the optimizer, attach the schedule
  natively, begin the run, a new :class:`~d2l_compat.training.History`
  (:func:`new_history`), then the loop over the minibatches (:func:`train_loop`: the lr
  hook, the lr log, the per-update record of ``record_updates``, handed to
  :func:`~d2l_compat.training.fit` for the epochs, divergence and collapse);
* :func:`find_lr_with` -- ``find_lr``: the learning-rate range test
  (:class:`~d2l_compat.lr_finder.LRRangeTest`, its defaults written there once and shown
  by :func:`range_test_signature`) with the same hooks: a plain SGD, the same ``step``,
  the net's state saved before the sweep and restored after it;
* :func:`dead_relu_fraction_of` -- ``dead_relu_fraction``: the dead ReLUs of a room's
  net on a minibatch, by the numpy reference (:func:`~d2l_compat.lenet.dead_relus`) on
  the weights the room reads back (``lenet_weights_of``).

A room supplies the hooks, as a subclass of :class:`Trainer` (one instance per run):
``build_optimizer``, ``attach_schedule``, ``begin_run``, ``step``, ``read_lr``,
``set_lr``, ``evaluate``, ``save_state`` / ``restore_state`` and a few small ones.

The scheduler rule, the same in every room: ``scheduler`` is None, a d2l_compat
:class:`~d2l_compat.schedules.Schedule`, the framework's own scheduler, or any callable
``step -> lr``. The room attaches it to the optimizer natively where the framework can
(:meth:`Trainer.attaches`); otherwise the template sets ``scheduler(t)`` before every
update, as for ``lr_hook``. With ``optimizer=`` the scheduler drives the given
optimizer's lr. Setting the lr before every update needs an optimizer whose lr is a
settable number (``ValueError`` otherwise). The History records the schedule's config
for a d2l_compat schedule (None for any other scheduler) and its unit.

Importing this module imports no framework.
"""

from __future__ import annotations

import inspect
from typing import Callable, Protocol, runtime_checkable

from d2l_compat.arrays import as_float, as_numpy
from d2l_compat.checks import check_callable, check_choice, check_int, check_number
from d2l_compat.context import DEFAULT_SEED
from d2l_compat import loader as _loader
from d2l_compat.lenet import dead_relus
from d2l_compat.loader import cycle_batches, epoch_batches
from d2l_compat.lr_finder import LRFinderResult, LRRangeTest
from d2l_compat.registry import framework as _framework
from d2l_compat.schedules import Schedule, schedule_to_config
from d2l_compat.training import LR_LOG_EVERY, SCHEDULE_UNITS, EpochStats, History, fit


@runtime_checkable
class Room(Protocol):
    """What ``from d2l_compat import <room> as d2l`` offers in every framework.

    A room also re-exports the framework-free names of :mod:`d2l_compat.common`
    (schedules, plotting, results, the LR-finder core) and D2L's helpers of its
    framework (``train_ch6`` where D2L has one). ``isinstance(module, Room)`` checks
    that the names exist; ``tests/test_rooms.py`` checks what they do, in every room.
    """

    FRAMEWORK: str
    """The framework's name, one of ``d2l_compat.FRAMEWORKS``."""
    VERSIONS: dict
    """Package name -> version of what the room trains with (recorded in every History)."""

    def try_gpu(self, i: int = 0):
        """GPU ``i`` if it exists, else the CPU, as the framework names devices."""

    def default_device(self):
        """The device ``train`` uses when given none, by ``D2L_DEVICE`` (auto, cpu or gpu;
        see :mod:`d2l_compat.devices`)."""

    def try_all_gpus(self) -> list:
        """All GPUs, or ``[cpu]`` when there is none (D2L's ``try_all_gpus``)."""

    def load_data_fashion_mnist(self, batch_size: int, resize=None, seed: int = DEFAULT_SEED,
                                mode: str | None = None, class_train: int | None = None):
        """``(train_iter, test_iter)``: :class:`~d2l_compat.loader.ArrayBatches` of
        Fashion-MNIST yielding the framework's arrays in its layout (NCHW or NHWC): the
        data of the run mode, or of ``mode`` if given (``"full"``: the whole data set);
        ``class_train`` sizes the class-mode training subset (other modes ignore it)."""

    def lenet(self, seed: int = DEFAULT_SEED):
        """The chapter's LeNet with the weights ``d2l_compat.lenet.lenet_weights(seed)``."""

    def load_lenet_weights(self, net, weights):
        """Load canonical LeNet ``weights`` into ``net``; returns ``net``."""

    def lenet_weights_of(self, net) -> dict:
        """The inverse of ``load_lenet_weights``: ``net``'s weights now, as the canonical
        float32 numpy dict of :func:`~d2l_compat.lenet.lenet_weights` (so
        ``lenet_weights_of(lenet(s))`` equals ``lenet_weights(s)`` exactly), read with
        :func:`~d2l_compat.lenet.from_layout`."""

    def dead_relu_fraction(self, net, X) -> dict:
        """``{layer: fraction of dead ReLU units}`` of ``net`` on the minibatch ``X`` (in
        the room's layout, as ``train_iter`` yields it):
        :func:`~d2l_compat.lenet.dead_relus` of ``lenet_weights_of(net)``."""

    def num_params(self, net) -> int:
        """Number of scalar parameters of ``net``."""

    def evaluate_accuracy_gpu(self, net, data_iter, device=None) -> float:
        """Accuracy of ``net`` on ``data_iter``."""

    def accuracy(self, y_hat, y) -> float:
        """Number of correct predictions (D2L's ``accuracy``)."""

    def size(self, a) -> int:
        """Number of elements of ``a`` (D2L's ``size``)."""

    def arange(self, *args, **kwargs):
        """The framework's ``arange``."""

    def train(self, net, train_iter, test_iter, num_epochs: int, lr: float, scheduler=None,
              device=None, *, schedule_unit: str = "epoch", optimizer=None,
              seed: int = DEFAULT_SEED, animator=True, verbose: bool = True,
              history: History | None = None, start_epoch: int = 0, momentum: float = 0.0,
              lr_hook=None, record_updates: int = 0) -> History:
        """Train ``net`` with minibatch SGD on softmax cross-entropy; returns the History.

        Epoch (``schedule_unit="epoch"``) or update (``"update"``) ``t`` trains with
        lr ``scheduler(t)``; the lr recorded is read back from the framework's
        optimizer, never the one meant.

        Args:
          net: the room's model (e.g. from ``lenet``); trained in place.
          train_iter, test_iter: loaders of ``load_data_fashion_mnist`` (epoch ``e``
            uses ``train_iter.batches(e)``, so a run can resume) or any iterable of
            ``(X, y)`` batches with ``len()``.
          num_epochs (int >= 1): the run ends after epoch ``num_epochs - 1``.
          lr (float >= 0): the constant lr of the default optimizer when there is no
            scheduler.
          scheduler: None, a d2l_compat :class:`~d2l_compat.schedules.Schedule`, the
            framework's own scheduler (see the room) or any callable ``step -> lr``;
            anything else is a ``TypeError``. With ``optimizer``, it drives the given
            optimizer's lr.
          device: where to train (default ``default_device()``).
          schedule_unit (str): ``"epoch"`` (default) or ``"update"``.
          optimizer: the framework's optimizer to train with instead of the default SGD
            (e.g. to continue a run after restoring its state). A scheduler the
            framework cannot attach to it, and ``lr_hook``, set its lr before every
            update: that needs a settable lr (``ValueError`` otherwise).
          seed (int >= 0): seeds the framework's global generator, if it has one; the
            weights come from ``lenet(seed)`` and the data order from the loader.
          animator: True for a live plot, False for none, or an ``Animator``.
          verbose (bool): print the summary at the end.
          history, start_epoch (int >= 0): continue a run: epochs ``start_epoch ..
            num_epochs - 1`` are appended to ``history``, and schedules continue at the
            step of ``start_epoch``.
          momentum (float in [0, 1)): builds the default SGD with momentum (a given
            ``optimizer`` keeps its own: giving both is a ``ValueError``).
          lr_hook: a callable ``step -> lr`` called before every update ``step``
            (counted over the whole run) that sets the optimizer's lr: the other way to
            schedule per update. It excludes ``scheduler``; the History records
            ``schedule_unit="update"`` and, for a d2l_compat schedule, its config.
          record_updates (int >= 0, default 0): record the first ``record_updates``
            updates of this call (from the first update of ``start_epoch``) in
            ``history.updates``: ``(step, lr, loss)`` with ``step`` the update index over
            the run (as the schedules count), ``lr`` the lr that update applied (read
            back from the optimizer) and ``loss`` the mean training loss of its
            minibatch, the loss whose gradient it applied. 0 records nothing and costs
            nothing (no extra read from the device).

        Divergence (a non-finite loss) stops the run; a collapse (the loss back at
        chance level) is recorded (:func:`~d2l_compat.training.fit`).
        """

    def find_lr(self, net, train_iter, start_lr: float = 1e-7, end_lr: float = 10.0,
                num_steps: int = 100, mode: str = "exponential", beta: float = 0.9,
                diverge_factor: float = 4.0, skip_start=None, skip_end: int = 0, *,
                seed: int = DEFAULT_SEED) -> LRFinderResult:
        """The learning-rate range test on ``net`` with the framework's plain SGD.

        Update ``t`` trains one minibatch (cycling the epochs of ``train_iter`` as
        ``train`` sees them) at ``lr_sweep(start_lr, end_lr, num_steps, mode)[t]``,
        set in the optimizer before the update and read back for the record; the loss
        recorded is the minibatch's mean cross-entropy. The arguments and stop rules
        are :class:`~d2l_compat.lr_finder.LRRangeTest`'s (defaults included). ``net``
        is restored afterwards, also when the test raises (:class:`StateCacher`).
        """


CONTRACT_NAMES = ("FRAMEWORK", "VERSIONS", "try_gpu", "default_device", "try_all_gpus",
                  "load_data_fashion_mnist", "lenet", "load_lenet_weights",
                  "lenet_weights_of", "dead_relu_fraction", "num_params",
                  "evaluate_accuracy_gpu", "accuracy", "size", "arange", "train", "find_lr")
"""The names of :class:`Room`, which every room's ``__all__`` lists."""


def data_loader(layout: str, convert, doc: str, **options):
    """A room's ``load_data_fashion_mnist``: :func:`d2l_compat.loader.load_data_fashion_mnist`
    in ``layout`` with the room's ``convert(X, y)`` (and ``options``, e.g. ``loader``)."""
    def load_data_fashion_mnist(batch_size: int, resize=None, seed: int = DEFAULT_SEED,
                                mode: str | None = None, class_train: int | None = None):
        return _loader.load_data_fashion_mnist(batch_size, resize=resize, layout=layout,
                                               convert=convert, seed=seed, mode=mode,
                                               class_train=class_train, **options)

    load_data_fashion_mnist.__doc__ = doc
    load_data_fashion_mnist.__module__ = getattr(convert, "__module__", __name__)
    return load_data_fashion_mnist


def dead_relu_fraction_of(framework: str, lenet_weights_of):
    """A room's ``dead_relu_fraction(net, X)``: its minibatch ``X`` (the framework's
    array in the registry's layout of ``framework``) to NCHW numpy, then
    :func:`~d2l_compat.lenet.dead_relus` of ``lenet_weights_of(net)``."""
    layout = _framework(framework).layout

    def dead_relu_fraction(net, X) -> dict[str, float]:
        x = as_numpy(X)
        if x.ndim != 4:
            raise ValueError(f"X must be a minibatch of {layout} images (4 axes), got "
                             f"shape {x.shape}")
        return dead_relus(lenet_weights_of(net), x.transpose(0, 3, 1, 2)
                          if layout == "NHWC" else x)

    dead_relu_fraction.__doc__ = f"""The fraction of dead ReLU units of each ReLU layer of
    LeNet ``net`` on the minibatch ``X`` ({layout}, as ``train_iter`` yields it):
    ``{{"conv1": .., "conv2": .., "dense1": .., "dense2": ..}}``. A unit is dead when its
    output is 0 for every example (a conv channel: at every position); computed by the
    numpy reference, :func:`d2l_compat.lenet.dead_relus`, on ``lenet_weights_of(net)``."""
    dead_relu_fraction.__module__ = getattr(lenet_weights_of, "__module__", __name__)
    return dead_relu_fraction


# ----------------------------------------------------------------------- train

def check_train_arguments(*, num_epochs, lr, scheduler, schedule_unit, optimizer,
                          seed, start_epoch, momentum, lr_hook, record_updates=0,
                          schedulers: tuple = (),
                          scheduler_kinds: str = "the framework's own scheduler") -> None:
    """The checks of ``train`` every room makes, before anything changes.

    ``scheduler`` may be None, a d2l_compat ``Schedule``, one of ``schedulers`` (the
    framework's own types, said in words by ``scheduler_kinds`` for the ``TypeError``) or
    any callable ``step -> lr``.

    >>> kinds = dict(schedulers=(), scheduler_kinds="a torch LRScheduler")
    >>> check_train_arguments(num_epochs=True, lr=0.1, scheduler=None,
    ...     schedule_unit="epoch", optimizer=None, seed=0, start_epoch=0, momentum=0.0,
    ...     lr_hook=None, **kinds)
    Traceback (most recent call last):
      ...
    TypeError: num_epochs must be a positive int, got True (bool)
    >>> check_train_arguments(num_epochs=1, lr=0.1, scheduler=0.1, schedule_unit="epoch",
    ...     optimizer=None, seed=0, start_epoch=0, momentum=0.0, lr_hook=None, **kinds)
    Traceback (most recent call last):
      ...
    TypeError: scheduler must be None, a d2l_compat schedule, a torch LRScheduler or a callable step -> lr, got 0.1
    """
    check_int("num_epochs", num_epochs, minimum=1)
    check_number("lr", lr, minimum=0.0)
    check_choice("schedule_unit", schedule_unit, SCHEDULE_UNITS)
    check_int("seed", seed, minimum=0)
    check_int("start_epoch", start_epoch, minimum=0)
    check_number("momentum", momentum, minimum=0.0, below=1.0)
    check_int("record_updates", record_updates, minimum=0)
    if scheduler is not None and not (isinstance(scheduler, (Schedule, *schedulers))
                                      or callable(scheduler)):
        raise TypeError(f"scheduler must be None, a d2l_compat schedule, {scheduler_kinds} "
                        f"or a callable step -> lr, got {scheduler!r}")
    if lr_hook is not None:
        check_callable("lr_hook", lr_hook)
        if scheduler is not None:
            raise ValueError("pass either lr_hook or scheduler, not both: the hook sets "
                             "the lr of every update itself")
    if optimizer is not None and momentum:
        raise ValueError("momentum builds the default optimizer; set it on the given "
                         "optimizer instead")


def schedule_config(schedule) -> dict | None:
    """The config of a d2l_compat schedule (what a History records), else None."""
    return schedule_to_config(schedule) if isinstance(schedule, Schedule) else None


def new_history(framework: str, versions: dict, train_iter, *, device: str, seed: int,
                schedule=None, schedule_unit: str | None = None, lr_hook=None) -> History:
    """The History of a new run of a room (its ``FRAMEWORK`` and ``VERSIONS``).

    ``schedule`` is what sets the lr (its config is recorded when it is a d2l_compat
    schedule) and ``schedule_unit`` the unit it steps in, None for a constant lr; an
    ``lr_hook`` wins over both (it steps per update).
    """
    if lr_hook is not None:
        schedule, schedule_unit = lr_hook, "update"
    return History(framework=framework, device=device, seed=seed,
                   schedule=schedule_config(schedule), schedule_unit=schedule_unit,
                   data_source=getattr(train_iter, "source", None),
                   split_reconstructed=getattr(train_iter, "split_reconstructed", None),
                   versions=dict(versions))


def lr_of_step(scheduler, steps_per_epoch: int | None):
    """``step -> lr`` of ``scheduler`` counted in updates (``steps_per_epoch=None``) or in
    epochs (update ``u`` is in epoch ``u // steps_per_epoch``).

    >>> lr_of_step(lambda t: 0.1 * t, 4)(9)
    0.2
    """
    if steps_per_epoch is None:
        return scheduler
    return lambda step: scheduler(step // steps_per_epoch)


class Trainer:
    """The hooks of a room; :func:`train_with` and :func:`find_lr_with` call them.

    A room subclasses it once (its class attributes say the framework) and the template
    makes one instance per run: ``Trainer(net, device)``. The hooks, in the order the
    template calls them:

    * ``attaches(scheduler, optimizer)`` (class): can the framework attach ``scheduler``
      to the optimizer natively (else the template sets it before every update);
      ``lr_is_settable(optimizer, net)`` (class): can ``set_lr`` set a given
      optimizer's lr (``SETTABLE_LR`` says what it needs, for the ``ValueError``);
    * ``seed(seed)``, ``place()``: seed the framework's global generator; put the net on
      ``self.device`` (``train`` only);
    * ``build_optimizer(optimizer, scheduler, lr, momentum)``: the optimizer of the run,
      the given one or a new plain SGD;
    * ``attach_schedule(scheduler, steps_per_epoch, first_update, num_updates)``: attach
      ``scheduler`` (None: none) natively -- counted in epochs of ``steps_per_epoch``
      updates, or in updates when that is None, starting at update ``first_update`` --
      and return ``(schedule, unit)``, what drives the lr now, for the History;
    * ``begin_run(first_update, steps_per_epoch, sets_lr)``: the last preparations
      (state, update counter, compiled step); ``sets_lr`` when the lr is set before
      every update;
    * per epoch ``begin_epoch()``, per update ``set_lr(lr)`` (if set), ``step(X, y)``
      (one SGD update, its metrics summed) and ``read_lr()`` (the lr that update
      applied, read back from the optimizer: before the step when
      ``READS_LR_BEFORE_STEP``, else after it), then ``end_epoch() -> (loss sum,
      number correct)``; ``batch_loss()``: the last update's mean loss (``find_lr``, ``record_updates``);
    * ``evaluate(data_iter)``: the accuracy (the room's ``evaluate_accuracy_gpu``);
    * ``save_state()`` / ``restore_state(state)``: the net before and after ``find_lr``.
    """

    FRAMEWORK: str = ""
    VERSIONS: dict = {}
    SCHEDULERS: tuple = ()
    """The framework's own scheduler types (besides Schedule and any callable)."""
    SCHEDULER_KINDS: str = "the framework's own scheduler"
    SETTABLE_LR: str = "an optimizer whose lr is a number"
    READS_LR_BEFORE_STEP: bool = False

    def __init__(self, net, device):
        self.net, self.device, self.optimizer = net, device, None

    @classmethod
    def default_device(cls):
        raise NotImplementedError

    @classmethod
    def net_device(cls, net):
        """The device ``find_lr`` trains ``net`` on (default: :meth:`default_device`)."""
        return cls.default_device()

    @classmethod
    def attaches(cls, scheduler, optimizer) -> bool:
        return True

    @classmethod
    def lr_is_settable(cls, optimizer, net) -> bool:
        return True

    def device_label(self) -> str:
        """The device as the History records it."""
        return str(self.device)

    def seed(self, seed: int) -> None:
        pass

    def place(self) -> None:
        pass

    def begin_run(self, first_update: int, steps_per_epoch: int, sets_lr: bool) -> None:
        pass

    def begin_epoch(self) -> None:
        pass


def train_with(room: type[Trainer], net, train_iter, test_iter, num_epochs: int, lr: float,
               scheduler=None, device=None, *, schedule_unit: str = "epoch", optimizer=None,
               seed: int = DEFAULT_SEED, animator=True, verbose: bool = True,
               history: History | None = None, start_epoch: int = 0, momentum: float = 0.0,
               lr_hook=None, record_updates: int = 0) -> History:
    """``train`` of a room (:meth:`Room.train`) with the hooks of ``room``."""
    check_train_arguments(num_epochs=num_epochs, lr=lr, scheduler=scheduler,
                          schedule_unit=schedule_unit, optimizer=optimizer, seed=seed,
                          start_epoch=start_epoch, momentum=momentum, lr_hook=lr_hook,
                          record_updates=record_updates, schedulers=room.SCHEDULERS,
                          scheduler_kinds=room.SCHEDULER_KINDS)
    by_hand = scheduler is not None and not room.attaches(scheduler, optimizer)
    setter = "lr_hook" if lr_hook is not None else "scheduler" if by_hand else None
    if setter and optimizer is not None and not room.lr_is_settable(optimizer, net):
        raise ValueError(f"{setter} sets the lr before every update, so it needs "
                         f"{room.SETTABLE_LR}")
    run = room(net, room.default_device() if device is None else device)
    run.seed(seed)
    run.place()
    steps_per_epoch = len(train_iter)
    per_epoch = steps_per_epoch if schedule_unit == "epoch" else None
    first_update = start_epoch * steps_per_epoch
    run.optimizer = run.build_optimizer(optimizer, scheduler, lr, momentum)
    schedule, unit = run.attach_schedule(None if by_hand else scheduler, per_epoch,
                                         first_update, num_epochs * steps_per_epoch)
    if by_hand:
        schedule, unit = scheduler, schedule_unit
    run.begin_run(first_update, steps_per_epoch, sets_lr=setter is not None)
    history = history or new_history(room.FRAMEWORK, room.VERSIONS, train_iter, seed=seed,
                                     device=run.device_label(), schedule=schedule,
                                     schedule_unit=unit, lr_hook=lr_hook)
    return train_loop(run, train_iter, lambda: run.evaluate(test_iter), num_epochs, history,
                      start_epoch=start_epoch, animator=animator, verbose=verbose,
                      lr_hook=lr_of_step(scheduler, per_epoch) if by_hand else lr_hook,
                      record_updates=record_updates)


def train_signature(train):
    """Decorator: a room's ``train(*args, **kwargs)`` shows the signature of
    :func:`train_with` (without ``room``) in ``help``."""
    params = list(inspect.signature(train_with).parameters.values())[1:]
    train.__signature__ = inspect.Signature(params, return_annotation=History)
    return train


def train_loop(run: Trainer, train_iter, evaluate: Callable[[], float], num_epochs: int,
               history: History, *, start_epoch: int = 0, lr_hook=None, animator=True,
               verbose: bool = True, record_updates: int = 0) -> History:
    """Train epochs ``start_epoch .. num_epochs - 1`` with ``run``, recording into ``history``.

    Update ``step`` (counted over the whole run: ``epoch * len(train_iter) + i``) first
    sets ``lr_hook(step)`` when there is a hook, then runs ``run.step``; the lr is read
    back at the epoch's first update and every ``LR_LOG_EVERY`` updates. The first
    ``record_updates`` updates (from the first of ``start_epoch``) are also recorded as
    ``(step, lr, loss)`` in ``history.updates``: the lr read back at every one of them,
    the loss ``run.batch_loss()`` (not called at all when ``record_updates`` is 0). The
    epochs, their report and the History are :func:`~d2l_compat.training.fit`'s.
    """
    steps_per_epoch = len(train_iter)
    before = run.READS_LR_BEFORE_STEP
    last_recorded = start_epoch * steps_per_epoch + record_updates  # checked by train_with

    def train_epoch(epoch: int) -> EpochStats:
        run.begin_epoch()
        sampled, recorded, count = [], [], 0
        for i, (X, y) in enumerate(epoch_batches(train_iter, epoch)):
            step = epoch * steps_per_epoch + i
            if lr_hook is not None:
                run.set_lr(float(lr_hook(step)))
            record = step < last_recorded
            logged = i == 0 or step % LR_LOG_EVERY == 0
            lr = run.read_lr() if (logged or record) and before else None
            run.step(X, y)
            if logged or record:
                lr = lr if before else run.read_lr()
            if logged:
                sampled.append((step, lr))
            if record:
                recorded.append((step, lr, run.batch_loss()))
            count += int(y.shape[0])
        loss_sum, correct = run.end_epoch()
        step_lrs = [(step, float(lr)) for step, lr in sampled]  # device reads: once, here
        return EpochStats(as_float(loss_sum), as_float(correct), count, step_lrs[0][1],
                          [p for p in step_lrs if p[0] % LR_LOG_EVERY == 0],
                          [(step, float(lr), float(loss)) for step, lr, loss in recorded])

    return fit(train_epoch, evaluate, num_epochs, history, start_epoch=start_epoch,
               animator=animator, verbose=verbose)


# ------------------------------------------------------------------- find_lr

def find_lr_with(room: type[Trainer], net, train_iter, *sweep, seed: int = DEFAULT_SEED,
                 **options) -> LRFinderResult:
    """``find_lr`` of a room (:meth:`Room.find_lr`) with the hooks of ``room``.

    The arguments are checked before anything changes. The net's state is saved, a plain
    SGD at the sweep's ``start_lr`` is built on the net's device, and every update of
    :meth:`LRRangeTest.run` sets its lr, runs the room's ``step`` on the next minibatch
    (cycling the epochs of ``train_iter``) and returns the minibatch's mean loss and the
    lr read back; the state is restored afterwards, whatever happens.
    """
    test = LRRangeTest(*sweep, **options)
    check_int("seed", seed, minimum=0)
    run = room(net, room.net_device(net))
    state = run.save_state()
    try:
        run.seed(seed)
        run.optimizer = run.build_optimizer(None, None, test.config["start_lr"], 0.0)
        run.begin_run(0, len(train_iter), sets_lr=True)
        batches = cycle_batches(train_iter)

        def update(lr):
            X, y = next(batches)
            run.begin_epoch()  # each update is its own one-minibatch epoch
            run.set_lr(lr)
            run.step(X, y)
            return run.batch_loss(), float(run.read_lr())

        return test.run(update)
    finally:
        run.restore_state(state)


def range_test_signature(find_lr):
    """Decorator: ``find_lr(net, train_iter, *sweep, seed, **options)`` shows the
    arguments and defaults of :class:`LRRangeTest` (written there, once) in ``help``."""
    sweep = [p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
             for p in inspect.signature(LRRangeTest).parameters.values()]
    head = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for name in ("net", "train_iter")]
    seed = inspect.Parameter("seed", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_SEED,
                             annotation=int)
    find_lr.__signature__ = inspect.Signature([*head, *sweep, seed],
                                              return_annotation=LRFinderResult)
    return find_lr
