"""The room contract: what a framework room provides, and the parts every room shares.

A *room* is the module a notebook imports as ``d2l`` (``d2l_compat.torch``,
``d2l_compat.tensorflow``, ``d2l_compat.mxnet``, ``d2l_compat.jax``). It provides the
names of :class:`Room`, with the same signatures and the same meaning in every
framework, and it is thin: only what needs the framework is written in it. Everything
else is here, written once, and a room calls it:

* :func:`check_train_arguments` -- the argument checks of ``train`` (``TypeError`` for a
  wrong type, ``ValueError`` for a wrong value, as PyTorch does; see :mod:`.checks`);
* :func:`new_history` -- the :class:`~d2l_compat.training.History` of a run: framework,
  versions, device, seed, data source, and the schedule's config and unit;
* :func:`train_loop` -- the loop over the minibatches of an epoch around a room's
  :class:`EpochLoop` (one update), with the lr hook and the lr log (the lr read back
  from the optimizer at the epoch's first update and every ``LR_LOG_EVERY`` updates),
  handed to :func:`~d2l_compat.training.fit` (epochs, animation, divergence, collapse);
* :func:`find_lr_with` -- the learning-rate range test around a room's one-update
  function: :class:`~d2l_compat.lr_finder.LRRangeTest` with its defaults (written once,
  in ``LRRangeTest``; :func:`range_test_signature` shows them in ``help(d2l.find_lr)``),
  and a :class:`StateCacher` that stores the net before the sweep and resets it after.

Importing this module imports no framework.
"""

from __future__ import annotations

import inspect
from typing import Callable, Protocol, runtime_checkable

from d2l_compat.arrays import as_float
from d2l_compat.checks import check_callable, check_choice, check_int, check_number
from d2l_compat.data import epoch_batches
from d2l_compat.lr_finder import LRFinderResult, LRRangeTest
from d2l_compat.runmode import DEFAULT_SEED
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
        """``(train_iter, test_iter)``: :class:`~d2l_compat.data.ArrayBatches` of
        Fashion-MNIST yielding the framework's arrays in its layout (NCHW or NHWC): the
        data of the run mode, or of ``mode`` if given (``"full"``: the whole data set);
        ``class_train`` sizes the class-mode training subset (other modes ignore it)."""

    def lenet(self, seed: int = DEFAULT_SEED):
        """The chapter's LeNet with the weights ``d2l_compat.models.lenet_weights(seed)``."""

    def load_lenet_weights(self, net, weights):
        """Load canonical LeNet ``weights`` into ``net``; returns ``net``."""

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
              lr_hook=None) -> History:
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
          scheduler: None, a d2l_compat :class:`~d2l_compat.schedules.Schedule`, or the
            framework's own scheduler (see the room); anything else is a ``TypeError``.
          device: where to train (default ``default_device()``).
          schedule_unit (str): ``"epoch"`` (default) or ``"update"``.
          optimizer: the framework's optimizer to train with instead of the default SGD
            (e.g. to continue a run after restoring its state).
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


# ----------------------------------------------------------------------- train

def check_train_arguments(*, num_epochs, lr, scheduler, schedule_unit, optimizer,
                          seed, start_epoch, momentum, lr_hook, schedulers: tuple,
                          scheduler_kinds: str) -> None:
    """The checks of ``train`` every room makes, before anything changes.

    ``schedulers`` are the types the room accepts as ``scheduler`` besides None (a
    d2l_compat ``Schedule`` and the framework's own; ``typing.Callable`` for any
    callable) and ``scheduler_kinds`` says them in words, for the ``TypeError``.

    >>> kinds = dict(schedulers=(Schedule,), scheduler_kinds="a d2l_compat schedule")
    >>> check_train_arguments(num_epochs=True, lr=0.1, scheduler=None,
    ...     schedule_unit="epoch", optimizer=None, seed=0, start_epoch=0, momentum=0.0,
    ...     lr_hook=None, **kinds)
    Traceback (most recent call last):
      ...
    TypeError: num_epochs must be a positive int, got True (bool)
    """
    check_int("num_epochs", num_epochs, minimum=1)
    check_number("lr", lr, minimum=0.0)
    check_choice("schedule_unit", schedule_unit, SCHEDULE_UNITS)
    check_int("seed", seed, minimum=0)
    check_int("start_epoch", start_epoch, minimum=0)
    check_number("momentum", momentum, minimum=0.0, below=1.0)
    if scheduler is not None and not isinstance(scheduler, schedulers):
        raise TypeError(f"scheduler must be None, {scheduler_kinds}, got {scheduler!r}")
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


class EpochLoop(Protocol):
    """What a room's ``train`` gives :func:`train_loop`: one epoch, update by update."""

    def begin_epoch(self) -> None:
        """Before the epoch's first update (e.g. reset the sums, set training mode)."""

    def set_lr(self, lr: float) -> None:
        """Set the optimizer's lr for the next update (for ``lr_hook``)."""

    def update(self, X, y, read_lr: bool):
        """One SGD update on the minibatch; when ``read_lr``, return the lr this update
        applied, read back from the optimizer (else anything)."""

    def end_epoch(self) -> tuple:
        """After the last update: ``(sum of losses, number correct)``, numbers or
        one-element arrays of the framework."""


def train_loop(loop: EpochLoop, train_iter, evaluate: Callable[[], float], num_epochs: int,
               history: History, *, start_epoch: int = 0, lr_hook=None, animator=True,
               verbose: bool = True) -> History:
    """Train epochs ``start_epoch .. num_epochs - 1`` with ``loop``, recording into ``history``.

    Update ``step`` (counted over the whole run: ``epoch * len(train_iter) + i``) first
    sets ``lr_hook(step)`` when there is a hook, then runs ``loop.update``; the lr is
    read back at the epoch's first update and every ``LR_LOG_EVERY`` updates. The
    epochs, their report and the History are :func:`~d2l_compat.training.fit`'s.
    """
    steps_per_epoch = len(train_iter)

    def train_epoch(epoch: int) -> EpochStats:
        loop.begin_epoch()
        sampled, count = [], 0
        for i, (X, y) in enumerate(epoch_batches(train_iter, epoch)):
            step = epoch * steps_per_epoch + i
            if lr_hook is not None:
                loop.set_lr(float(lr_hook(step)))
            read_lr = i == 0 or step % LR_LOG_EVERY == 0
            lr = loop.update(X, y, read_lr)
            if read_lr:
                sampled.append((step, lr))
            count += int(y.shape[0])
        loss_sum, correct = loop.end_epoch()
        step_lrs = [(step, float(lr)) for step, lr in sampled]  # device reads: once, here
        return EpochStats(as_float(loss_sum), as_float(correct), count, step_lrs[0][1],
                          [p for p in step_lrs if p[0] % LR_LOG_EVERY == 0])

    return fit(train_epoch, evaluate, num_epochs, history, start_epoch=start_epoch,
               animator=animator, verbose=verbose)


# ------------------------------------------------------------------- find_lr

class StateCacher:
    """What ``find_lr`` gives back: :meth:`store` before the sweep, :meth:`reset` after.

    The room says how to take and put back its net's state (``save() -> state``,
    ``restore(state)``); the sweep runs between the two, and ``reset`` runs also when
    it raises (:func:`find_lr_with`). As pytorch-lr-finder's ``state_cacher``.
    """

    def __init__(self, save: Callable[[], object], restore: Callable[[object], None]):
        self._save, self._restore = save, restore
        self._state, self._stored = None, False

    def store(self) -> None:
        """Keep the state as it is now."""
        self._state, self._stored = self._save(), True

    def reset(self) -> None:
        """Put back the state kept by :meth:`store`."""
        if not self._stored:
            raise RuntimeError("StateCacher.reset() before store(): nothing to put back")
        self._restore(self._state)


def find_lr_with(cacher: StateCacher, make_update, *sweep, seed: int = DEFAULT_SEED,
                 **options) -> LRFinderResult:
    """Run the range test ``LRRangeTest(*sweep, **options)`` with a room's update.

    ``make_update(start_lr, seed)`` prepares the sweep (optimizer, seeding, compiled
    step) and returns ``update(lr) -> (loss, lr read back)``, one minibatch per call
    (see :meth:`LRRangeTest.run`). The arguments are checked before anything changes;
    the net is stored before ``make_update`` and reset afterwards, whatever happens.
    """
    test = LRRangeTest(*sweep, **options)
    check_int("seed", seed, minimum=0)
    cacher.store()
    try:
        return test.run(make_update(test.config["start_lr"], seed))
    finally:
        cacher.reset()


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
