"""Learning-rate range test ("LR finder"), framework-free.

The test (Smith 2015, popularised by fastai) trains for one short pass while the
learning rate grows from a tiny ``start_lr`` to a huge ``end_lr``; the loss,
plotted against the lr on a log axis, falls, bottoms out and then blows up. A
good lr lies on the falling part, well before the bottom.

This module holds everything except the training step itself, so each
framework room only has to set its optimizer's lr and return a loss:

* :func:`lr_sweep` -- the lr used at update ``t = 0, 1, ..., num_steps - 1``;
* :func:`smooth_losses` -- the bias-corrected exponential moving average;
* :class:`LRRangeTest` -- the recorder driven from a training loop (stop rules);
* :func:`run_range_test` -- the same loop for a ``train_step(lr) -> loss`` callable;
* :class:`LRFinderResult` -- the curve, why it stopped, suggested lrs, a plot
  and a JSON-ready summary;
* ``suggest_steepest``, ``suggest_minimum_div_10``, ``suggest_valley`` -- the
  suggestion rules, usable on plain arrays; all three read the curve only up to
  the wall found by :func:`find_wall` (the first sudden rise of the loss above
  its running minimum that it does not recover from);
  :func:`longest_decreasing_chain` is the valley rule's chain;
* :func:`warmup_cosine_from` -- the schedule that trains from a suggestion.

Loop protocol for a framework room (snapshot the model and optimizer state
first and restore it afterwards: the test wrecks the weights on purpose);
:meth:`LRRangeTest.run` is this loop for an ``update(lr) -> (loss, lr_applied)``::

    rt = LRRangeTest(start_lr=1e-7, end_lr=10.0, num_steps=100)
    for step, lr in rt:                 # stops by itself when a stop rule fires
        set_optimizer_lr(lr)            # the lr of update `step`, set BEFORE it
        loss = train_one_minibatch()    # cycle the data loader if it runs out
        if not rt.record(loss, lr=read_optimizer_lr()):
            break
    result = rt.result()

Matplotlib is imported only inside :meth:`LRFinderResult.plot`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from d2l_compat.checks import check_int, check_number
from d2l_compat.schedules import WarmupCosineDecay

__all__ = [
    "DEFAULT_RULE",
    "MIN_POINTS",
    "WALL_HOLD",
    "WALL_JUMP",
    "STOP_REASONS",
    "SUGGESTERS",
    "LRFinderResult",
    "LRRangeTest",
    "find_wall",
    "longest_decreasing_chain",
    "lr_sweep",
    "run_range_test",
    "smooth_losses",
    "suggest_all",
    "suggest_minimum_div_10",
    "suggest_steepest",
    "suggest_valley",
    "warmup_cosine_from",
]

SWEEP_MODES = ("exponential", "linear")
"""The ``mode`` of :func:`lr_sweep`: how the lr grows from ``start_lr`` to ``end_lr``."""
STOP_REASONS = ("completed", "diverged", "nan", "interrupted")
MIN_POINTS = 5
"""Fewest points (after skipping) a suggestion rule accepts."""

DEFAULT_RULE = "steepest"
"""Rule behind :attr:`LRFinderResult.suggestion`.

``steepest`` (of the *smoothed* loss, after skipping the first tenth, before the
wall) is the default because plain SGD from a Xavier init sits on a long flat
plateau at ``ln 10`` before the loss falls: the plateau's tiny downward drift
makes the longest decreasing chain (``valley``) start at the very first lrs of
the plateau, which drags the valley suggestion towards the plateau, far below
the descent that the steepest rule points into. ``minimum_div_10`` is the
conservative alternative; all three are reported, and the chapters compare
them on their own runs.
"""

WALL_JUMP = 5.0
"""A rise of the smoothed loss by more than this many typical steps, to more than
this many typical steps above its running minimum, marks the wall unless the loss
recovers (see :func:`find_wall`)."""

WALL_HOLD = 10
"""Points (the rise's own included) within which a loss that comes back down to its
running minimum makes a sudden rise no wall (see :func:`find_wall`): about the
``1 / (1 - beta)`` points that the default EMA (``beta = 0.9``) takes to forget
one bad minibatch."""


def _check_beta(beta):
    return check_number("beta", beta, minimum=0.0, below=1.0)


# --------------------------------------------------------------------------- sweep

def lr_sweep(start_lr=1e-7, end_lr=10.0, num_steps=100, mode="exponential"):
    """Learning rates of the range test, one per update, endpoints included.

    .. math::

        lr(t) = \\begin{cases}
            start\\_lr \\cdot (end\\_lr / start\\_lr)^{t / (n - 1)} & \\text{exponential} \\\\
            start\\_lr + (end\\_lr - start\\_lr) \\cdot t / (n - 1) & \\text{linear}
        \\end{cases}

    for ``t = 0, ..., n - 1`` with ``n = num_steps``. ``start_lr`` must be
    positive in both modes because the curve is read on a log lr axis.

    Args:
      start_lr: lr of update 0 (> 0).
      end_lr: lr of the last update (> start_lr).
      num_steps: number of updates (int >= 2).
      mode: ``"exponential"`` (constant ratio, fastai/Keras default) or
        ``"linear"`` (constant difference).

    Raises:
      ValueError: naming the offending parameter.

    >>> lr_sweep(1e-3, 1.0, 4)
    array([0.001, 0.01 , 0.1  , 1.   ])
    >>> lr_sweep(0.1, 1.0, 4, mode="linear")
    array([0.1, 0.4, 0.7, 1. ])
    """
    if mode not in SWEEP_MODES:
        raise ValueError(f"mode must be one of {SWEEP_MODES}, got {mode!r}")
    start_lr = check_number("start_lr", start_lr)
    end_lr = check_number("end_lr", end_lr)
    num_steps = check_int("num_steps", num_steps, 2)
    if start_lr <= 0:
        raise ValueError(f"start_lr must be > 0 (the lr axis is logarithmic), got {start_lr!r}")
    if end_lr <= start_lr:
        raise ValueError(f"end_lr must be > start_lr={start_lr!r}, got {end_lr!r}")
    # geomspace/linspace pin both endpoints exactly.
    if mode == "exponential":
        return np.geomspace(start_lr, end_lr, num_steps)
    return np.linspace(start_lr, end_lr, num_steps)


# --------------------------------------------------------------------------- smoothing

def _ema_update(avg, loss, beta, i):
    """One step of the bias-corrected EMA: returns ``(avg, smoothed)``."""
    avg = beta * avg + (1.0 - beta) * loss
    return avg, avg / (1.0 - beta ** (i + 1))


def smooth_losses(losses, beta=0.9):
    """Bias-corrected exponential moving average of a loss sequence.

    .. math::

        avg_i = \\beta \\, avg_{i-1} + (1 - \\beta) \\, loss_i, \\quad avg_{-1} = 0,
        \\qquad smoothed_i = avg_i / (1 - \\beta^{i+1})

    The correction undoes the pull towards the zero start, so
    ``smoothed[0] == losses[0]``. The average lags the raw curve by about
    ``beta / (1 - beta)`` steps (9 for 0.9): the smoothed minimum sits a few
    grid points to the right of the raw one. ``beta = 0`` returns the losses.
    A NaN propagates to every later value.

    >>> np.round(smooth_losses([1.0, 2.0, 3.0]), 4)
    array([1.    , 1.5263, 2.0701])
    """
    beta = _check_beta(beta)
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 1:
        raise ValueError(f"losses must be 1-D, got shape {losses.shape}")
    out = np.empty_like(losses)
    avg = 0.0
    for i, loss in enumerate(losses):
        avg, out[i] = _ema_update(avg, loss, beta, i)
    return out


# --------------------------------------------------------------------------- suggestions

def _curve(lrs, losses, skip_start, skip_end, rule):
    """Validate a curve and return its ``[skip_start : n - skip_end]`` part."""
    lrs = np.asarray(lrs, dtype=float)
    losses = np.asarray(losses, dtype=float)
    if lrs.ndim != 1 or lrs.shape != losses.shape:
        raise ValueError(f"lrs and losses must be 1-D of equal length, got {lrs.shape} and {losses.shape}")
    skip_start = check_int("skip_start", skip_start, 0)
    skip_end = check_int("skip_end", skip_end, 0)
    lrs, losses = lrs[skip_start:len(lrs) - skip_end], losses[skip_start:len(losses) - skip_end]
    if len(lrs) < MIN_POINTS:
        raise ValueError(
            f"{rule} needs at least {MIN_POINTS} points after skipping, got {len(lrs)} "
            f"(skip_start={skip_start}, skip_end={skip_end}); run more steps or skip fewer")
    if not (np.all(np.isfinite(lrs)) and np.all(np.isfinite(losses))):
        raise ValueError(f"{rule}: lrs and losses must be finite")
    if np.any(lrs <= 0) or np.any(np.diff(lrs) <= 0):
        raise ValueError(f"{rule}: lrs must be positive and strictly increasing")
    return lrs, losses


def find_wall(losses, jump=WALL_JUMP):
    """Index of the first sudden rise of a loss curve (the *wall*), or ``len(losses)``.

    With ``step = median |losses[i] - losses[i - 1]|`` (a noise scale that the
    plateau and the descent set and a few steps of blow-up do not move) and
    ``low = min(losses[:i])`` (the running minimum before ``i``), the wall is the
    first ``i`` where

    * the loss jumps up: ``losses[i] - losses[i - 1] > jump * step``,
    * to above its running minimum: ``losses[i] > low + jump * step``, and
    * does not recover within ``WALL_HOLD`` points: there is no ``j`` in
      ``i + 1, ..., i + WALL_HOLD - 1`` with ``losses[j] <= low + jump * step``
      and the point after it (if any) below ``(low + losses[i]) / 2``, half way
      back down the jump.

    A fall is never a wall, and neither is a rise the loss recovers from: in a
    steep descent at a large lr one bad minibatch can lift the smoothed loss by
    many typical steps, but the descent takes it back down to its running minimum
    within a few points and goes on to a lower minimum. Past the valley the
    broken network's loss stays high. A single lucky point back down, undone by
    the next one, is no recovery; on a smoothed curve, though, one lucky
    minibatch is a dip over several points, and such a dip within ``WALL_HOLD``
    points of the jump reads as a recovery. The rules read the curve only up to
    the wall, because a network broken there (stuck at chance level, or
    recovering) can wander *below* the best loss of the real descent later in a
    sweep that never hits the divergence stop. A gradual rise (no single step
    above ``jump * step``) has no wall. If the median step is 0, any rise counts.

    Args:
      losses: 1-D loss curve, usually the smoothed one.
      jump: threshold in median absolute steps (> 0).

    >>> find_wall([2.30, 2.31, 2.30, 2.31, 2.30, 2.25, 2.20, 2.60, 2.40])
    7
    >>> find_wall([3.0, 2.0, 1.0, 1.5, 2.0])     # smooth: the rise is no jump
    5

    The jump to 2.9 inside this descent is recovered from at once; the one to 3.0
    is the wall:

    >>> find_wall([2.3, 2.3, 2.3, 2.3, 2.2, 2.0, 2.9, 1.5, 1.2, 1.0, 1.0, 1.0, 3.0])
    12
    """
    jump = check_number("jump", jump)
    if jump <= 0:
        raise ValueError(f"jump must be > 0, got {jump!r}")
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    steps = np.diff(losses)
    if steps.size == 0:
        return n
    margin = jump * np.median(np.abs(steps))
    running_min = np.minimum.accumulate(losses)
    for i in np.flatnonzero(steps > margin) + 1:
        low = running_min[i - 1]
        if losses[i] <= low + margin:
            continue
        half_way = (low + losses[i]) / 2
        recovered = any(losses[j] <= low + margin and (j + 1 == n or losses[j + 1] < half_way)
                        for j in range(i + 1, min(i + WALL_HOLD, n)))
        if not recovered:
            return int(i)
    return n


def suggest_steepest(lrs, losses, skip_start=0, skip_end=0):
    """lr where the loss falls fastest per decade of lr, on the way to its minimum.

    The gradient ``d loss / d log10(lr)`` is taken with :func:`numpy.gradient`
    (central differences inside, one-sided at the two ends), and the lr of the
    most negative value up to the lowest loss before the wall
    (:func:`find_wall`) is returned: a loss falling back after a spike past
    the wall is no descent. Skip the first points: there the lr is so small
    that any slope is noise.

    Raises:
      ValueError: fewer than ``MIN_POINTS`` points remain, or bad input.

    >>> lrs = lr_sweep(1e-6, 10.0, 8)            # one point per decade
    >>> suggest_steepest(lrs, [2.3, 2.3, 2.2, 1.4, 1.1, 1.0, 0.95, 9.0])
    0.001
    """
    lrs, losses = _curve(lrs, losses, skip_start, skip_end, "steepest")
    grad = np.gradient(losses, np.log10(lrs))
    bottom = int(np.argmin(losses[:find_wall(losses)]))
    return float(lrs[np.argmin(grad[:bottom + 1])])


def suggest_minimum_div_10(lrs, losses, skip_start=0, skip_end=0):
    """One tenth of the lr at the lowest loss before the wall (:func:`find_wall`).

    At the minimum the lr is already at the edge of stability; a tenth of it
    is a safe lr that still learns fast. On a smoothed curve the minimum lags
    (see :func:`smooth_losses`), which this rule inherits.

    Raises:
      ValueError: fewer than ``MIN_POINTS`` points remain, or bad input.

    >>> lrs = lr_sweep(1e-6, 10.0, 8)            # one point per decade
    >>> suggest_minimum_div_10(lrs, [2.3, 2.3, 2.2, 1.4, 1.1, 1.0, 0.95, 9.0])
    0.1
    """
    lrs, losses = _curve(lrs, losses, skip_start, skip_end, "minimum_div_10")
    return float(lrs[np.argmin(losses[:find_wall(losses)])] / 10.0)


def longest_decreasing_chain(losses):
    """The longest strictly decreasing subsequence of a curve: ``(start, end, length)``.

    Points ``i_1 < ... < i_k`` with ``losses[i_1] > ... > losses[i_k]``, not
    necessarily adjacent (one noisy uptick does not cut the chain in two). Among
    equally long chains the one ending first, and for it the earliest
    predecessor at each step; ``start = i_1``, ``end = i_k``, ``length = k``.
    ``end`` and ``length`` are those of fastai's ``valley`` (its ``max_end`` and
    ``lds[max_end]``); the start is the chain's real first point, which fastai
    does not compute. O(n^2) time.

    >>> longest_decreasing_chain([5.0, 4.0, 4.5, 3.0, 3.5, 2.0, 6.0])
    (0, 5, 4)
    """
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 1 or losses.size == 0:
        raise ValueError(f"losses must be a non-empty 1-D curve, got shape {losses.shape}")
    n = len(losses)
    length = np.ones(n, dtype=int)   # longest decreasing chain ending at i
    prev = np.full(n, -1)            # its previous index (-1: chain starts at i)
    for i in range(1, n):
        higher = np.flatnonzero(losses[:i] > losses[i])
        if higher.size:
            j = higher[np.argmax(length[higher])]  # argmax: earliest of the longest
            length[i], prev[i] = length[j] + 1, j
    end = int(np.argmax(length))
    start = end
    while prev[start] >= 0:
        start = int(prev[start])
    return start, end, int(length[end])


def suggest_valley(lrs, losses, skip_start=0, skip_end=0):
    """lr two thirds of the way along the longest valley of the loss.

    On the curve before the wall (:func:`find_wall`), the *valley* is the
    longest strictly decreasing chain of points, :func:`longest_decreasing_chain`,
    from its first point ``a`` to its last ``b`` (indices into the skipped
    curve); the suggestion is ``lrs[a + (2 * (b - a)) // 3]``. On an
    exponential sweep index is proportional to log lr, so this is two thirds
    of the way from the valley's top to its bottom along the log axis.

    fastai's ``valley`` (its ``lr_find`` default) finds the same chain's end
    ``b`` and length ``k`` but not its start: it takes ``b - k`` as the start,
    as if the ``k`` points were adjacent, and returns the point
    ``(b - k) + int(k / 3) + int(k / 6)``, about ``k / 2`` points before the
    bottom. On a chain of adjacent points that is half way down, before this
    rule's point; on a chain spread thinly over a long noisy plateau (``b - a``
    more than about ``1.5 k``) it is nearer the bottom than this rule's point.
    fastai also reads another curve: the loss smoothed with ``beta = 0.98``, the
    first 10% and the last 5 points skipped, and no wall.

    Raises:
      ValueError: fewer than ``MIN_POINTS`` points remain, or bad input.

    >>> lrs = lr_sweep(1e-6, 10.0, 8)            # one point per decade
    >>> suggest_valley(lrs, [2.3, 2.3, 2.2, 1.4, 1.1, 1.0, 0.95, 9.0])
    0.01
    """
    lrs, losses = _curve(lrs, losses, skip_start, skip_end, "valley")
    start, end, _ = longest_decreasing_chain(losses[:find_wall(losses)])
    return float(lrs[start + (2 * (end - start)) // 3])


SUGGESTERS = {
    "steepest": suggest_steepest,
    "minimum_div_10": suggest_minimum_div_10,
    "valley": suggest_valley,
}
"""Rule name -> function ``(lrs, losses, skip_start=0, skip_end=0) -> lr``."""


def suggest_all(lrs, losses, skip_start=0, skip_end=0):
    """Every rule of ``SUGGESTERS`` on one curve.

    Where the rules would raise for a short curve (fewer than ``MIN_POINTS``
    left after skipping) every entry is ``None`` instead, so a short or
    aborted test still gives a result; other bad input still raises.

    >>> lrs = lr_sweep(1e-6, 10.0, 8)            # one point per decade
    >>> suggest_all(lrs, [2.3, 2.3, 2.2, 1.4, 1.1, 1.0, 0.95, 9.0], skip_start=6)
    {'steepest': None, 'minimum_div_10': None, 'valley': None}
    """
    skip_start = check_int("skip_start", skip_start, 0)
    skip_end = check_int("skip_end", skip_end, 0)
    if len(np.asarray(lrs)) - skip_start - skip_end < MIN_POINTS:
        return {name: None for name in SUGGESTERS}
    # A long curve that a rule rejects is bad input: let that error through.
    return {name: rule(lrs, losses, skip_start=skip_start, skip_end=skip_end)
            for name, rule in SUGGESTERS.items()}


# --------------------------------------------------------------------------- result

@dataclass(frozen=True, eq=False)
class LRFinderResult:
    """Outcome of a range test.

    Attributes:
      lrs: lr of every recorded update (read back from the optimizer if given).
      losses: raw loss of every recorded update (never NaN/inf: a non-finite
        loss ends the test and is not kept).
      smoothed: :func:`smooth_losses` of ``losses``.
      stopped_early: whether fewer than ``num_steps`` updates were recorded.
      stop_reason: ``"completed"`` (all steps), ``"diverged"`` (smoothed loss
        above ``diverge_factor`` x best; that last point is kept), ``"nan"``
        (non-finite loss) or ``"interrupted"`` (the loop ended, or ``result()``
        was called, before any of these).
      suggestions: rule name -> suggested lr, ``None`` if the curve was too short.
      skip_start, skip_end: points ignored at each end when suggesting.
      config: the :class:`LRRangeTest` settings, for results files.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stopped_early: bool
    stop_reason: str
    suggestions: dict
    skip_start: int = 0
    skip_end: int = 0
    config: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.stop_reason not in STOP_REASONS:
            raise ValueError(f"stop_reason must be one of {STOP_REASONS}, got {self.stop_reason!r}")
        for name in ("lrs", "losses", "smoothed"):
            arr = np.array(getattr(self, name), dtype=float)  # own copy, then freeze it
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if not len(self.lrs) == len(self.losses) == len(self.smoothed):
            raise ValueError("lrs, losses and smoothed must have equal length")

    @property
    def suggestion(self):
        """The suggested lr: the ``DEFAULT_RULE`` (steepest) entry, or ``None``."""
        return self.suggestions.get(DEFAULT_RULE)

    @property
    def wall_lr(self):
        """lr of the wall the rules stop at (:func:`find_wall` on the smoothed
        curve between the skips), or ``None`` if the curve has none."""
        stop = len(self.lrs) - self.skip_end
        wall = find_wall(self.smoothed[self.skip_start:stop])
        return None if self.skip_start + wall >= stop else float(self.lrs[self.skip_start + wall])

    def __repr__(self):
        span = f"lr {self.lrs[0]:.2g}..{self.lrs[-1]:.2g}, " if len(self.lrs) else ""
        sug = "None" if self.suggestion is None else f"{self.suggestion:.3g}"
        return (f"LRFinderResult({len(self.lrs)} points, {span}"
                f"stop_reason={self.stop_reason!r}, suggestion={sug})")

    def to_dict(self):
        """JSON-serialisable summary (plain floats, lists and strings)."""
        return {
            "lrs": [float(x) for x in self.lrs],
            "losses": [float(x) for x in self.losses],
            "smoothed": [float(x) for x in self.smoothed],
            "stopped_early": bool(self.stopped_early),
            "stop_reason": self.stop_reason,
            "suggestions": {k: None if v is None else float(v) for k, v in self.suggestions.items()},
            "suggestion_rule": DEFAULT_RULE,
            "suggestion": None if self.suggestion is None else float(self.suggestion),
            "wall_lr": self.wall_lr,
            "skip_start": int(self.skip_start),
            "skip_end": int(self.skip_end),
            "config": dict(self.config),
        }

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict` (derived keys are ignored)."""
        return cls(lrs=d["lrs"], losses=d["losses"], smoothed=d["smoothed"],
                   stopped_early=d["stopped_early"], stop_reason=d["stop_reason"],
                   suggestions=dict(d["suggestions"]), skip_start=d.get("skip_start", 0),
                   skip_end=d.get("skip_end", 0), config=dict(d.get("config", {})))

    def plot(self, ax=None, skip_start=0, skip_end=0, show_raw=True):
        """Loss against lr (log axis): raw loss faint, smoothed solid, one
        labelled marker per suggestion (on the smoothed curve) and a dotted
        vertical line at the wall, if there is one.

        The y range follows the smoothed curve up to the wall (and the raw loss
        there, if shown), with headroom above: the descent stays readable and
        the blow-up past the wall leaves the top of the plot. Draws on ``ax`` (a new figure if ``None``),
        changes no global matplotlib state, never calls ``show``.

        Returns:
          The matplotlib Axes.
        """
        skip_start = check_int("skip_start", skip_start, 0)
        skip_end = check_int("skip_end", skip_end, 0)
        if ax is None:
            import matplotlib.pyplot as plt  # lazy: importing this module needs no matplotlib
            _, ax = plt.subplots()
        stop = len(self.lrs) - skip_end
        lrs, raw, smooth = (a[skip_start:stop] for a in (self.lrs, self.losses, self.smoothed))
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        if len(lrs) == 0:
            return ax
        if show_raw:
            ax.plot(lrs, raw, color="C0", alpha=0.3, linewidth=1, label="loss")
        ax.plot(lrs, smooth, color="C0", linewidth=2, label="smoothed loss")
        markers = ("o", "s", "^", "D", "v")
        for k, (name, lr) in enumerate(self.suggestions.items()):
            if lr is None:
                continue
            y = np.interp(np.log10(lr), np.log10(lrs), smooth)
            tag = " (suggested)" if name == DEFAULT_RULE else ""
            ax.plot([lr], [y], linestyle="none", marker=markers[k % len(markers)],
                    markersize=8, color=f"C{k + 1}", label=f"{name}: {lr:.2e}{tag}")
        wall = self.wall_lr
        if wall is not None:
            ax.axvline(wall, color="gray", linestyle=":", label=f"wall: {wall:.2e}")
        # Zoom on the curve before the wall, with room above for the rise at the wall.
        seen = lrs < wall if wall is not None and lrs[0] < wall else slice(None)
        lo = min(smooth[seen].min(), raw[seen].min()) if show_raw else smooth[seen].min()
        hi = smooth[seen].max()
        span = hi - lo if hi > lo else 0.05 * abs(hi) + 1e-12
        ax.set_ylim(lo - 0.05 * span, hi + (0.05 if wall is None else 0.5) * span)
        ax.legend(loc="best")
        return ax


# --------------------------------------------------------------------------- recorder

class LRRangeTest:
    """Stateful recorder that drives a range test from inside a training loop.

    Iterating yields ``(step, lr)`` for ``step = 0, 1, ...``: set the
    optimizer's lr to ``lr``, run ONE update, then call :meth:`record` with its
    loss before asking for the next pair. The iteration ends by itself after
    ``num_steps`` updates or when a stop rule fires:

    * **nan** -- the loss is NaN or inf; it is not kept;
    * **diverged** -- after the first step, the smoothed loss exceeds
      ``diverge_factor`` x the best smoothed loss so far (the rule assumes a
      positive loss such as cross-entropy); that point is kept.
      ``diverge_factor=None`` disables this rule.

    Args:
      start_lr, end_lr, num_steps, mode: the sweep, see :func:`lr_sweep`.
      beta: EMA factor of :func:`smooth_losses` (0 <= beta < 1).
      diverge_factor: > 1, or ``None``.
      skip_start: points ignored at the start when suggesting; default
        ``num_steps // 10`` (as fastai): there the lr is too small to matter
        and the EMA has barely started.
      skip_end: points ignored at the end when suggesting (default 0).

    >>> losses = [2.3, 2.3, 2.2, 1.4, 1.1, 1.0, 0.95, 9.0]  # one per decade of lr
    >>> rt = LRRangeTest(start_lr=1e-6, end_lr=10.0, num_steps=8, beta=0.0)
    >>> for step, lr in rt:
    ...     loss = losses[step]              # here: set the lr, train one batch
    ...     if not rt.record(loss):
    ...         break
    >>> res = rt.result()
    >>> res.stop_reason, len(res.lrs), float(res.lrs[-1])
    ('diverged', 8, 10.0)
    >>> res.suggestions
    {'steepest': 0.001, 'minimum_div_10': 0.1, 'valley': 0.01}
    """

    def __init__(self, start_lr=1e-7, end_lr=10.0, num_steps=100, mode="exponential",
                 beta=0.9, diverge_factor=4.0, skip_start=None, skip_end=0):
        self.lrs = lr_sweep(start_lr, end_lr, num_steps, mode)
        self.lrs.setflags(write=False)
        self.beta = _check_beta(beta)
        if diverge_factor is not None:
            diverge_factor = check_number("diverge_factor", diverge_factor)
            if diverge_factor <= 1:
                raise ValueError(f"diverge_factor must be > 1 (or None), got {diverge_factor!r}")
        self.diverge_factor = diverge_factor
        self.skip_start = num_steps // 10 if skip_start is None else check_int("skip_start", skip_start, 0)
        self.skip_end = check_int("skip_end", skip_end, 0)
        self.config = {"start_lr": float(start_lr), "end_lr": float(end_lr), "num_steps": int(num_steps),
                       "mode": mode, "beta": self.beta, "diverge_factor": diverge_factor,
                       "skip_start": self.skip_start, "skip_end": self.skip_end}
        self._lrs, self._losses, self._smoothed = [], [], []
        self._avg = 0.0
        self._best = math.inf
        self.stop_reason = None  # set when a stop rule fires or all steps are done

    @property
    def num_steps(self):
        return len(self.lrs)

    @property
    def step(self):
        """Number of losses recorded so far (= index of the next update)."""
        return len(self._losses)

    @property
    def done(self):
        return self.stop_reason is not None

    def __iter__(self):
        while not self.done:
            step = self.step
            yield step, float(self.lrs[step])
            if self.step == step and not self.done:
                raise RuntimeError(f"record(loss) was not called for step {step}")

    def record(self, loss, lr=None):
        """Record the loss of the current update; return whether to go on.

        Args:
          loss: the minibatch loss (anything ``float()`` accepts).
          lr: optionally the lr read back from the optimizer; it is stored
            instead of the planned one, and must match it (rtol 1e-3) --
            a mismatch means the lr was not applied before the update.

        Returns:
          ``False`` once the test is over (a stop rule fired or it was the
          last step), ``True`` otherwise.
        """
        if self.done:
            raise RuntimeError(f"the range test is over (stop_reason={self.stop_reason!r}); call result()")
        i = self.step
        planned = float(self.lrs[i])
        if lr is not None:
            lr = float(lr)
            if not math.isclose(lr, planned, rel_tol=1e-3):
                raise ValueError(f"lr read back at step {i} is {lr!r}, planned {planned!r}: "
                                 "set the optimizer lr before the update")
        loss = float(loss)
        if not math.isfinite(loss):
            self.stop_reason = "nan"
            return False
        self._avg, smoothed = _ema_update(self._avg, loss, self.beta, i)
        self._lrs.append(planned if lr is None else lr)
        self._losses.append(loss)
        self._smoothed.append(smoothed)
        self._best = min(self._best, smoothed)
        if i > 0 and self.diverge_factor is not None and smoothed > self.diverge_factor * self._best:
            self.stop_reason = "diverged"
        elif self.step == self.num_steps:
            self.stop_reason = "completed"
        return not self.done

    def run(self, update):
        """Drive the whole test and return its :class:`LRFinderResult`.

        ``update(lr)`` must train ONE minibatch at ``lr`` and return ``(loss,
        lr_applied)``: the minibatch loss and the lr read back from the
        optimizer (or ``None``), as :meth:`record` takes them.
        """
        for _, lr in self:
            loss, lr_applied = update(lr)
            if not self.record(loss, lr=lr_applied):
                break
        return self.result()

    def result(self):
        """The :class:`LRFinderResult` of what was recorded so far."""
        reason = self.stop_reason or "interrupted"
        return LRFinderResult(
            lrs=self._lrs, losses=self._losses, smoothed=self._smoothed,
            stopped_early=reason != "completed", stop_reason=reason,
            suggestions=suggest_all(self._lrs, self._smoothed, self.skip_start, self.skip_end),
            skip_start=self.skip_start, skip_end=self.skip_end, config=dict(self.config))


def run_range_test(train_step, **kwargs):
    """Run a whole range test with ``train_step(lr) -> loss``.

    ``train_step`` must apply ``lr`` to exactly one update and return its
    loss; ``kwargs`` go to :class:`LRRangeTest`.

    >>> curve = lambda lr: (np.log10(lr) + 2) ** 2 + 1   # minimum at lr = 1e-2
    >>> res = run_range_test(curve, start_lr=1e-5, end_lr=0.1, num_steps=41, beta=0.0)
    >>> res.stop_reason, res.suggestions["minimum_div_10"]
    ('completed', 0.001)
    """
    return LRRangeTest(**kwargs).run(lambda lr: (train_step(lr), None))


# --------------------------------------------------------------------------- pairing

def warmup_cosine_from(peak_lr, num_epochs, steps_per_epoch, warmup_epochs=1, final_div=100.0):
    """The schedule that trains from a finder's suggestion: warm up to it, then decay.

    Per-update :class:`~d2l_compat.schedules.WarmupCosineDecay` from 0 up to
    ``peak_lr`` over the first ``warmup_epochs``, then a cosine down to
    ``peak_lr / final_div`` at the end of epoch ``num_epochs``: the linear
    warmup of Goyal et al. (2017) followed by a cosine decay, the recipe of
    He et al. (2019, "Bag of Tricks"). The sweep only tells what a barely trained network
    survives for a few updates; the warmup keeps a whole training from breaking
    at the top of that range, and the decay ends it at a small, quiet lr.
    Train with ``schedule_unit="update"``.

    >>> warmup_cosine_from(0.2, num_epochs=5, steps_per_epoch=235)
    WarmupCosineDecay(total_steps=1175, warmup_steps=235, hold=0, start_lr=0.0, target_lr=0.2, final_lr=0.002)
    """
    peak_lr = check_number("peak_lr", peak_lr)
    if peak_lr <= 0:
        raise ValueError(f"peak_lr must be > 0, got {peak_lr!r}")
    num_epochs = check_int("num_epochs", num_epochs, 1)
    steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, 1)
    warmup_epochs = check_int("warmup_epochs", warmup_epochs, 0)
    if warmup_epochs >= num_epochs:
        raise ValueError(f"warmup_epochs must be < num_epochs ({num_epochs}), "
                         f"got {warmup_epochs!r}")
    final_div = check_number("final_div", final_div)
    if final_div < 1:
        raise ValueError(f"final_div must be >= 1, got {final_div!r}")
    return WarmupCosineDecay(total_steps=num_epochs * steps_per_epoch,
                             warmup_steps=warmup_epochs * steps_per_epoch, hold=0,
                             start_lr=0.0, target_lr=peak_lr, final_lr=peak_lr / final_div)
