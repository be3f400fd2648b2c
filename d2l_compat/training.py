"""The framework-free part of training: the epoch loop, its history and its report.

A framework room supplies two callables and this module does the rest:

* ``train_epoch(epoch) -> EpochStats``: one pass over the training data with the
  framework's optimizer, returning sums and the lr read back from the optimizer;
* ``evaluate() -> float``: test accuracy.

How a run that did not train is named is written once, here: :func:`outcome` (its three
wordings) and :data:`FAILED`, the word tables use for any of them (:attr:`History.failed`,
:func:`failed_runs`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

from d2l_compat.plotting import Animator, _in_notebook
from d2l_compat.checks import check_choice, check_int
from d2l_compat.context import DEFAULT_SEED, run_mode

# A network that predicts every class with probability 1/10 has cross-entropy ln 10 = 2.303.
CHANCE_LOSS = math.log(10)
# A run has *collapsed* when its training loss climbs back to within this fraction of
# CHANCE_LOSS (0.95 * 2.303 = 2.19) after having been well below it, below
# LEARNED_FRACTION * CHANCE_LOSS (0.6 * 2.303 = 1.38): it learned, then lost it. A run
# that never got that low had not learned yet: a far too small or too large lr, or the
# plateau of the first epochs on a small subset (class and smoke mode), where the loss
# hovers around 2.1-2.3 before it drops; a return to chance from there is not a collapse.
COLLAPSE_FRACTION = 0.95
LEARNED_FRACTION = 0.6

# The live plot of fit redraws at most once per this many seconds (and at the end).
LIVE_PLOT_INTERVAL = 1.0
# Per-update lrs are read back from the optimizer every this many updates.
LR_LOG_EVERY = 10
SCHEDULE_UNITS = ("epoch", "update")


def check_schedule_unit(schedule_unit: str) -> None:
    """A schedule steps once per ``"epoch"`` or once per ``"update"``; nothing else."""
    check_choice("schedule_unit", schedule_unit, SCHEDULE_UNITS)


def collapse_epoch(train_losses) -> int | None:
    """The first epoch whose training loss returned to chance level, or None.

    Chance level is ``COLLAPSE_FRACTION * CHANCE_LOSS``; the loss must have been below
    ``LEARNED_FRACTION * CHANCE_LOSS`` in an earlier epoch (the run had learned). A
    non-finite loss (NaN, inf) counts as at chance level.

    >>> collapse_epoch([1.2, 0.6, 0.5, 2.31, 2.30])
    3
    >>> collapse_epoch([2.30, 2.28, 2.25]) is None   # at chance in every epoch: no collapse
    True
    >>> collapse_epoch([2.18, 2.25, 1.9, 0.9]) is None   # an early plateau: not learned yet
    True
    """
    level, learned_level = COLLAPSE_FRACTION * CHANCE_LOSS, LEARNED_FRACTION * CHANCE_LOSS
    learned = False
    for epoch, loss in enumerate(train_losses):
        if learned and (not math.isfinite(loss) or loss >= level):
            return epoch
        learned = learned or (math.isfinite(loss) and loss < learned_level)
    return None


def slow_start(train_losses) -> tuple[int, int] | None:
    """How long a run took to learn: ``(epochs at chance level before it learned, the first
    epoch it learned)``, or None when no epoch's loss got below the learned level.

    An epoch *learned* when its training loss is below ``LEARNED_FRACTION * CHANCE_LOSS``
    and is *at chance level* when it is at or above ``COLLAPSE_FRACTION * CHANCE_LOSS``
    (a non-finite loss counts as at chance). ``(0, k)`` is a run that never sat at chance
    on its way down; ``(m, k)`` with ``m > 0`` one that was slow to start: such a run has not
    failed (:func:`outcome`), it only waited.

    >>> slow_start([2.31, 2.30, 1.9, 0.9, 0.5])   # two epochs at chance, learned in epoch 3
    (2, 3)
    >>> slow_start([1.1, 0.6])                     # learned at once
    (0, 0)
    >>> slow_start([2.31, 2.30]) is None           # never learned
    True
    """
    level, learned_level = COLLAPSE_FRACTION * CHANCE_LOSS, LEARNED_FRACTION * CHANCE_LOSS
    losses = list(train_losses)
    learned = next((epoch for epoch, loss in enumerate(losses)
                    if math.isfinite(loss) and loss < learned_level), None)
    if learned is None:
        return None
    return sum(not math.isfinite(loss) or loss >= level for loss in losses[:learned]), learned


STUCK = "at chance in every epoch"  # how tables and summaries name such a run
ENDED_AT_CHANCE = "ended at chance"  # left chance level for a while, never learned, back
FAILED = "failed"
"""The one word for a run whose :func:`outcome` is not empty (at chance in every epoch,
collapsed, diverged or ended at chance), in tables: "1 of 3 failed"."""


def stuck_at_chance(train_losses) -> bool:
    """True when every epoch's training loss is at chance level (:data:`STUCK`).

    The epoch means cannot tell a run that never trained from one that broke within its
    first epoch (it learned for some updates, then fell back): both read so; the
    per-update losses (``train(..., record_updates=n)``) tell them apart. Such a run is
    not *collapsed* in the sense of :func:`collapse_epoch` (no epoch mean ever showed it
    learned), yet it ends no better than guessing.
    Chance level is ``COLLAPSE_FRACTION * CHANCE_LOSS``; a non-finite loss is divergence,
    not this. An empty list is not stuck.

    >>> stuck_at_chance([2.31, 2.303, 2.302])
    True
    >>> stuck_at_chance([2.31, 1.9, 2.30])   # it moved below chance level once
    False
    """
    level = COLLAPSE_FRACTION * CHANCE_LOSS
    losses = list(train_losses)
    return bool(losses) and all(math.isfinite(loss) and loss >= level for loss in losses)


def outcome(history: "History") -> str:
    """How a failed run is named, in every table, chapter and report: ``""`` for a run that
    trained, else the outcomes that apply, joined by ", ", epochs counted from 0:

    * ``at chance in every epoch``: the epoch-mean training loss never left chance level
      (the run never trained, or broke within its first epoch: the epoch means cannot
      tell these apart -- never write "never trained" from them; the per-update losses of
      ``train(..., record_updates=n)`` can; :func:`stuck_at_chance`);
    * ``collapsed in epoch k``: it trained, then its loss went back to chance level in
      epoch ``k`` (:func:`collapse_epoch`);
    * ``diverged in epoch k``: its loss became NaN or infinite in epoch ``k``;
    * ``ended at chance``: none of the above, yet its last epoch's loss is at chance level
      (it left chance level for a while, never far enough to count as learned).

    A run with any of these has *failed* (:attr:`History.failed`); a table counting
    them says :data:`FAILED` ("2 of 5 failed", :func:`failed_runs`), and names the kind
    with the words above where it matters.

    >>> h = History("jax", epochs=[EpochRecord(e, 0.5, l, 0.1, 0.1, 1.0, 1.0)
    ...                            for e, l in enumerate([2.31, 2.30])])
    >>> outcome(h)
    'at chance in every epoch'
    >>> outcome(History("jax", epochs=[EpochRecord(e, 0.5, l, 0.1, 0.1, 1.0, 1.0)
    ...                               for e, l in enumerate([2.31, 2.13, 2.30])]))
    'ended at chance'
    """
    notes = [STUCK] if history.stuck else []
    collapse = history.collapsed_at
    if collapse is None:  # a History made by hand: decide from its losses
        record = history.collapse_record()
        collapse = None if record is None else record.epoch
    if collapse is not None:
        notes.append(f"collapsed in epoch {collapse}")
    if history.diverged:
        notes.append(f"diverged in epoch {history.epochs[-1].epoch}")
    if not notes and history.epochs and stuck_at_chance(history.train_loss[-1:]):
        notes.append(ENDED_AT_CHANCE)
    return ", ".join(notes)


def failed_runs(histories) -> int:
    """How many of ``histories`` failed (:attr:`History.failed`: at chance in every epoch,
    collapsed, diverged or ended at chance; see :func:`outcome`).

    >>> ok = History("jax", epochs=[EpochRecord(0, 0.5, 0.9, 0.7, 0.7, 1.0, 1.0)])
    >>> stuck = History("jax", epochs=[EpochRecord(0, 0.5, 2.31, 0.1, 0.1, 1.0, 1.0)])
    >>> failed_runs([ok, stuck, stuck]), f"{failed_runs([ok, stuck])} of 2 {FAILED}"
    (2, '1 of 2 failed')
    """
    return sum(bool(h.failed) for h in histories)


@dataclass
class EpochStats:
    """What one epoch of training returns to the loop."""

    loss_sum: float      # sum of per-example losses
    correct: float       # number of correct predictions
    count: int           # number of examples
    lr: float            # lr of the epoch's first update, read back from the optimizer
    step_lrs: list = field(default_factory=list)  # [(update index, lr)] sampled
    updates: list = field(default_factory=list)   # [(update index, lr, loss)] recorded


@dataclass
class EpochRecord:
    epoch: int
    lr: float
    train_loss: float
    train_acc: float
    test_acc: float
    examples_per_sec: float
    seconds: float


@dataclass
class History:
    """Per-epoch metrics of one training run, with what is needed to reproduce it."""

    framework: str
    device: str = "cpu"
    seed: int = DEFAULT_SEED
    mode: str = field(default_factory=run_mode)
    schedule: dict | None = None       # schedule config, when a d2l_compat schedule was used
    schedule_unit: str | None = None   # "epoch" or "update"
    data_source: str | None = None
    split_reconstructed: bool | None = None
    versions: dict = field(default_factory=dict)
    epochs: list[EpochRecord] = field(default_factory=list)
    step_lrs: list = field(default_factory=list)
    diverged: bool = False
    collapsed_at: int | None = None    # epoch whose training loss was back at chance level
    updates: list = field(default_factory=list)
    """``[(step, lr, loss)]`` of the first updates (``train(..., record_updates=n)``):
    update index over the run, the lr it applied (read back) and its minibatch's mean
    training loss; empty unless asked for."""

    def column(self, name: str) -> list:
        return [getattr(record, name) for record in self.epochs]

    @property
    def lr(self) -> list[float]:
        return self.column("lr")

    @property
    def train_loss(self) -> list[float]:
        return self.column("train_loss")

    @property
    def train_acc(self) -> list[float]:
        return self.column("train_acc")

    @property
    def test_acc(self) -> list[float]:
        return self.column("test_acc")

    @property
    def collapsed(self) -> bool:
        """True when the training loss returned to chance level (see ``collapse_epoch``)."""
        return self.collapsed_at is not None

    @property
    def update_losses(self) -> list[float]:
        """The mean minibatch loss of each recorded update (see ``updates``)."""
        return [loss for _, _, loss in self.updates]

    @property
    def update_lrs(self) -> list[float]:
        """The lr each recorded update applied, read back from the optimizer."""
        return [lr for _, lr, _ in self.updates]

    @property
    def failed(self) -> bool:
        """True when the run did not train: at chance in every epoch, collapsed,
        diverged or ended at chance (:func:`outcome` is not empty)."""
        return bool(outcome(self))

    @property
    def stuck(self) -> bool:
        """True when the training loss was at chance level in every epoch, and the run
        neither collapsed nor diverged (see :func:`stuck_at_chance`)."""
        return not self.collapsed and not self.diverged and stuck_at_chance(self.train_loss)

    def collapse_record(self) -> EpochRecord | None:
        """The record of the epoch in which this run collapsed, or None.

        Computed from the training losses with :func:`collapse_epoch`. A non-finite loss
        is divergence (``diverged``), not a collapse: a record is returned only when its
        loss is a finite number at chance level.
        """
        index = collapse_epoch(self.train_loss)
        if index is None or not math.isfinite(self.epochs[index].train_loss):
            return None
        return self.epochs[index]

    @property
    def examples_per_sec(self) -> float:
        """Median training throughput over the epochs (robust to a slow first epoch)."""
        rates = sorted(self.column("examples_per_sec"))
        return rates[len(rates) // 2] if rates else float("nan")

    @property
    def final(self) -> dict:
        last = self.epochs[-1]
        return {"train_loss": last.train_loss, "train_acc": last.train_acc,
                "test_acc": last.test_acc}

    def summary(self) -> str:
        f = self.final  # the live log already said how a run diverged or broke
        collapse = f" ({outcome(self)})" if self.collapsed else ""
        return (f"loss {f['train_loss']:.3f}, train acc {f['train_acc']:.3f}, "
                f"test acc {f['test_acc']:.3f}{collapse}\n"
                f"{self.examples_per_sec:.1f} examples/sec on {self.device}")

    def to_dict(self) -> dict:
        """The fields as plain types; ``updates`` only when some were recorded."""
        data = asdict(self)
        if not data["updates"]:
            del data["updates"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        data = dict(data)
        data["epochs"] = [  # JSON stores a diverged run's NaN as null
            EpochRecord(**{k: math.nan if v is None else v for k, v in record.items()})
            for record in data.get("epochs", [])]
        data["step_lrs"] = [tuple(pair) for pair in data.get("step_lrs", [])]
        data["updates"] = [(step, *(math.nan if v is None else v for v in rest))
                           for step, *rest in data.get("updates", [])]
        history = cls(**data)
        if "collapsed_at" not in data:  # written before collapses were recorded
            record = history.collapse_record()
            history.collapsed_at = None if record is None else record.epoch
        return history


def fit(train_epoch, evaluate, num_epochs: int, history: History, *, start_epoch: int = 0,
        animator: bool | Animator = True, verbose: bool = True) -> History:
    """Run epochs ``start_epoch .. num_epochs-1``, recording into ``history``.

    Epoch ``t`` trains with whatever lr the framework's optimizer holds for it; the lr
    recorded is the one read back from the optimizer, never the one we meant to set.

    Two outcomes are reported live and recorded in ``history``:

    * *divergence*: a non-finite training loss sets ``history.diverged`` and stops the run
      (every later epoch would be NaN too);
    * *collapse*: a training loss back at chance level, ``>= COLLAPSE_FRACTION *
      CHANCE_LOSS`` after having been well below it (``< LEARNED_FRACTION * CHANCE_LOSS``,
      :func:`collapse_epoch`), sets
      ``history.collapsed_at`` to the epoch the first time it happens; training goes on,
      since the run may recover.

    Progress is shown live, epoch by epoch: in Jupyter by the animator's plot, whose title
    says which epoch of how many just ended and its numbers; in a terminal (``verbose``,
    outside Jupyter) by a tqdm bar over the epochs with the same numbers.
    """
    check_int("num_epochs", num_epochs, minimum=1)
    check_int("start_epoch", start_epoch, minimum=0)
    if animator is True:
        animator = Animator(xlabel="epoch", xlim=[0, max(num_epochs - 1, 1)],
                            legend=["train loss", "train acc", "test acc"],
                            min_interval=LIVE_PLOT_INTERVAL)
    bar = None
    if verbose and not _in_notebook() and num_epochs > start_epoch:
        from tqdm import tqdm
        bar = tqdm(total=num_epochs - start_epoch, unit="epoch")
    for epoch in range(start_epoch, num_epochs):
        start = time.perf_counter()
        stats = train_epoch(epoch)
        seconds = time.perf_counter() - start
        test_acc = float(evaluate())
        record = EpochRecord(epoch=epoch, lr=float(stats.lr),
                             train_loss=stats.loss_sum / stats.count,
                             train_acc=stats.correct / stats.count, test_acc=test_acc,
                             examples_per_sec=stats.count / seconds, seconds=seconds)
        history.epochs.append(record)
        history.step_lrs.extend((int(s), float(lr)) for s, lr in stats.step_lrs)
        history.updates.extend((int(s), float(lr), float(loss))
                               for s, lr, loss in stats.updates)
        collapse = None if history.collapsed else history.collapse_record()
        if collapse is not None:  # the first time: say so now, and go on training
            history.collapsed_at = collapse.epoch
            print(f"collapsed: training loss back at chance level "
                  f"({collapse.train_loss:.2f} >= {COLLAPSE_FRACTION * CHANCE_LOSS:.2f}) "
                  f"in epoch {collapse.epoch} (lr {collapse.lr:g})")
        if not math.isfinite(record.train_loss):  # diverged: later epochs would be NaN too
            history.diverged = True
            print(f"stopped: training diverged in epoch {epoch} (lr {record.lr:g})")
            break
        progress = (f"epoch {epoch} of {num_epochs}: train loss {record.train_loss:.3f}, "
                    f"test acc {test_acc:.3f}")
        if bar is not None:
            bar.set_postfix_str(progress.split(": ", 1)[1], refresh=False)
            bar.update()
        if animator:
            animator.title = progress
            animator.add(epoch, (record.train_loss, record.train_acc, test_acc))
    if bar is not None:
        bar.close()
    if animator:
        animator.close()
    if verbose:
        print(history.summary())
    return history
