"""Reports on training runs: lr tables, run plots, result tables and computed verdicts.

A chapter compares runs, each a :class:`~d2l_compat.training.History` under a run name
(``{"baseline": h0, "cosine": h1}``), or the same runs over several seeds
(``{seed: {run name: History}}``). Every number and every verdict these functions write is
computed from the histories, so a re-run (another mode, seed or CPU) never contradicts the
prose around it. The text is deterministic: the same histories give the same characters.

Conventions:

* metrics are the History columns ``train_loss``, ``train_acc``, ``test_acc`` and ``lr``;
  a run's *final* value of a metric is the one of its last recorded epoch;
* numbers are shown with 3 decimals, and verdicts are decided on the numbers as shown
  (``0.8004`` does not beat ``0.8001``: both read ``0.800``), so a sentence never
  contradicts the figures it quotes; a lower ``train_loss`` is better, a higher accuracy;
* epochs are numbered from 0, as in ``schedule(t)`` and in ``fit``'s live output; plots
  put the metrics measured after epoch ``t`` at ``x = t + 1`` (D2L's convention);
* a *collapsed* run's training loss returned to chance level (``History.collapsed_at``);
  a *diverged* run's loss became NaN (``History.diverged``), shown as ``diverged``; a run
  whose epoch-mean training loss was at chance level in every epoch is reported as *at
  chance in every epoch* (it never trained, or it collapsed within its first epoch: the
  epoch means cannot tell these apart).

Example (two one-epoch histories with the given final loss and test accuracy):

>>> from d2l_compat.training import EpochRecord, History
>>> def run(loss, test_acc):
...     return History("pytorch", epochs=[EpochRecord(0, 0.3, loss, 0.9, test_acc, 0, 0)])
>>> runs = {"baseline": run(0.152, 0.893), "cosine": run(0.171, 0.905)}
>>> compare(runs["cosine"], runs["baseline"])
'0.905 vs 0.893 (+0.012)'
>>> verdict(runs, "cosine", "baseline"), verdict(runs, "cosine", "baseline", "train_loss")
(True, False)
>>> verdict_line(runs, "cosine", "baseline", labels={"baseline": "the baseline"})
'cosine beats the baseline by 0.012 test accuracy (0.905 vs 0.893)'
>>> verdict_line(runs, "cosine", "baseline", margin=0.02)
'cosine does not beat baseline by more than 0.020 (0.905 vs 0.893 test accuracy)'
>>> print(runs_table(runs, columns=("train_loss", "test_acc")))
| run | train loss | test acc |
|---|---|---|
| baseline | 0.152 | 0.893 |
| cosine | 0.171 | 0.905 |
>>> collapse_summary(runs)
'none of 2 runs collapsed; none diverged'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import fmean

from d2l_compat import plotting
from d2l_compat.checks import check_int, check_number
from d2l_compat.context import check_mode
from d2l_compat.records import seed_stats
from d2l_compat.training import FAILED, STUCK, History, failed_runs, outcome

# D2L v1.0.3 published outputs (GPU, single unseeded runs): train loss, train acc, test acc.
D2L_REFERENCE = {
    "baseline": {"pytorch": (.145, .944, .877), "mxnet": (.160, .939, .884),
                 "tensorflow": (.228, .916, .890)},
    "square_root": {"pytorch": (.273, .900, .886), "mxnet": (.523, .810, .815),
                    "tensorflow": (.388, .858, .847)},
    "multi_factor": {"pytorch": (.194, .927, .869), "mxnet": (.194, .927, .887),
                     "tensorflow": (.234, .912, .891)},
    "cosine": {"pytorch": (.159, .942, .904), "mxnet": (.343, .878, .859),
               "tensorflow": (.264, .904, .880)},
    "cosine_warmup": {"pytorch": (.181, .934, .901), "mxnet": (.348, .874, .871),
                      "tensorflow": (.274, .899, .880)},
}
RUN_TITLES = {
    "baseline": "baseline lr 0.3",
    "square_root": "square root lr 0.1",
    "multi_factor": "multi-factor [15,30] x0.5 from 0.5",
    "cosine": "cosine 20, 0.3 -> 0.01",
    "cosine_warmup": "cosine + 5 warmup",
    "factor": "factor x0.85 from 0.3, floor 0.01",
}
"""How tables name the runs of *Learning Rate Scheduling*."""

# Metric -> (column header, words for prose).
METRICS = {
    "train_loss": ("train loss", "training loss"),
    "train_acc": ("train acc", "training accuracy"),
    "test_acc": ("test acc", "test accuracy"),
    "lr": ("lr", "learning rate"),
}
LOWER_IS_BETTER = frozenset({"train_loss"})
# Relative tolerance of lr_table: an lr held in float32 (TensorFlow, JAX, MXNet) is within
# 2**-24 = 6e-8 of the float64 schedule value; 1e-6 leaves room, a wrong epoch does not fit.
LR_RTOL = 1e-6

# failed_count and d2l_range are not re-exported by the rooms yet (d2l_compat/common.py).
__all__ = ["collapse_summary", "compare", "count_beats", "lr_table", "md", "plot_runs",
           "runs_table", "seed_table", "verdict", "verdict_line"]


# ---------------------------------------------------------------------- checks
def _check_metric(metric: str, parameter: str = "metric") -> str:
    if metric not in METRICS:
        raise ValueError(f"{parameter} must be one of {list(METRICS)}, got {metric!r}")
    return metric


def _check_histories(histories, parameter: str = "histories") -> Mapping:
    if not isinstance(histories, Mapping):
        raise TypeError(f"{parameter} must be a dict of run name -> History, "
                        f"got {type(histories).__name__}")
    if not histories:
        raise ValueError(f"{parameter} is empty: give at least one run")
    for name, history in histories.items():
        if not isinstance(history, History):
            raise TypeError(f"{parameter}[{name!r}] must be a History, "
                            f"got {type(history).__name__}")
        if not history.epochs:
            raise ValueError(f"{parameter}[{name!r}] has no epochs")
    return histories


def _run(histories: Mapping, name: str) -> History:
    if name not in histories:
        raise KeyError(f"no run {name!r}; known runs: {', '.join(map(str, histories))}")
    return histories[name]


def _check_per_seed(per_seed) -> list:
    """Validate ``{seed: {run name: History}}``; return the run names (same in every seed)."""
    if not isinstance(per_seed, Mapping):
        raise TypeError("per_seed must be a dict of seed -> {run name: History}, "
                        f"got {type(per_seed).__name__}")
    if not per_seed:
        raise ValueError("per_seed is empty: give at least one seed")
    runs = None
    for seed, histories in per_seed.items():
        _check_histories(histories, f"per_seed[{seed!r}]")
        if runs is None:
            first_seed, runs = seed, list(histories)
        elif set(histories) != set(runs):
            raise ValueError(f"per_seed[{seed!r}] has runs {sorted(histories)}, but "
                             f"per_seed[{first_seed!r}] has {sorted(runs)}")
    return runs


# ---------------------------------------------------------------------- numbers
def _final(history: History, metric: str) -> float:
    return float(getattr(history.epochs[-1], metric))


def _text(value: float) -> str:
    """A number as shown: 3 decimals, ``diverged`` when not finite."""
    return f"{value:.3f}" if math.isfinite(value) else "diverged"


def _shown(value: float) -> float:
    """The value a reader sees (3 decimals); NaN for a diverged one."""
    return float(f"{value:.3f}") if math.isfinite(value) else math.nan


def _gain(a: float, b: float, metric: str) -> float:
    """How much better ``a`` is than ``b`` as shown; a diverged value is the worst."""
    a, b = _shown(a), _shown(b)
    if math.isnan(a) or math.isnan(b):
        return -math.inf if math.isnan(a) else math.inf
    gain = b - a if metric in LOWER_IS_BETTER else a - b
    return round(gain, 3) + 0.0  # as shown; + 0.0 turns -0.0 into 0.0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


# ---------------------------------------------------------------------- lr table
def lr_table(history: History, schedule, per_row: int = 10, *, steps_per_epoch: int = 1,
             rtol: float = LR_RTOL, digits: int = 4) -> str:
    """The lr each epoch trained with, read back from the optimizer, next to ``schedule(t)``.

    Epoch ``t``'s recorded lr (``history.lr[t]``, the lr of the epoch's first update) must
    equal ``schedule(t * steps_per_epoch)`` within ``rtol``:
    ``|lr - s| <= rtol * max(|lr|, |s|)``. The table is checked before it is returned,
    so a printed table is a verified one.

    Args:
      history: a run's History.
      schedule: a callable ``t -> lr``, e.g. a :class:`~d2l_compat.schedules.Schedule`.
      per_row: epochs per block of the table (default 10).
      steps_per_epoch: 1 (default) for a schedule counted in epochs; the number of updates
        per epoch for one counted in updates.
      rtol: relative tolerance (default ``LR_RTOL`` = 1e-6, float32 precision with room).
      digits: decimals of the lrs shown (default 4).

    Returns:
      Lines of text: per block, the epochs, the lrs read back and the schedule's values,
      then a line stating the check.

    Raises:
      AssertionError: naming the first epoch whose lr differs from the schedule.
    """
    if not isinstance(history, History):
        raise TypeError(f"history must be a History, got {type(history).__name__}")
    if not history.epochs:
        raise ValueError("history has no epochs")
    if not callable(schedule):
        raise TypeError(f"schedule must be callable (t -> lr), got {type(schedule).__name__}")
    for name, value in (("per_row", per_row), ("steps_per_epoch", steps_per_epoch)):
        check_int(name, value, minimum=1)
    epochs = [record.epoch for record in history.epochs]
    used = history.lr
    meant = [float(schedule(t * steps_per_epoch)) for t in epochs]
    argument = "t" if steps_per_epoch == 1 else f"{steps_per_epoch} t"
    for t, lr, s in zip(epochs, used, meant):
        if not math.isclose(lr, s, rel_tol=rtol, abs_tol=0.0):
            raise AssertionError(
                f"epoch {t}: the optimizer trained with lr {lr!r}, but schedule({argument}) "
                f"= {s!r} (relative difference {abs(lr - s) / max(abs(lr), abs(s)):.1e} "
                f"> rtol {rtol:g})")
    width = max(digits + 3, len(str(epochs[-1]))) + 1
    lines = []
    for start in range(0, len(epochs), per_row):
        block = slice(start, start + per_row)
        lines.append("epoch t     " + "".join(f"{t:>{width}d}" for t in epochs[block]))
        lines.append("optimizer   " + "".join(f"{x:>{width}.{digits}f}" for x in used[block]))
        lines.append(f"{'schedule':<12}" + "".join(f"{x:>{width}.{digits}f}"
                                                   for x in meant[block]))
    lines.append(f"the optimizer's lr equals schedule({argument}) in all "
                 f"{_plural(len(epochs), 'epoch')} (rtol {rtol:g})")
    return "\n".join(lines)


# ---------------------------------------------------------------------- plots
def plot_runs(histories: dict[str, History], metrics=("train_loss", "test_acc"),
              title: str | None = None, collapse_marks: bool = True, *,
              labels: dict | None = None, log_scale=(), figsize=None):
    """One figure comparing runs: a panel per metric, a line per run, over epochs 1..n.

    The legend sits below the panels, where it hides no curve. A collapsed run gets an
    ``x`` in its color at the epoch it collapsed (``History.collapsed_at``); a diverged
    run's line ends where its loss became NaN. Draws with pyplot, so Jupyter shows the
    figure once the cell ends; end the line with ``;`` (as with ``d2l.plot``), or the
    returned Figure is shown a second time. No rcParams are changed.

    Args:
      histories: run name -> History.
      metrics: History columns to draw, one panel each (default train loss, test acc).
      title: a title over the panels (default none).
      collapse_marks: mark collapses (default True).
      labels: run name -> legend label (default: the run name).
      log_scale: metrics drawn on a log axis, e.g. ``("train_loss",)`` when an lr is far
        too large (default none).
      figsize: figure size (default: ``d2l.set_figsize``'s size per panel, plus the legend).

    Returns:
      The matplotlib Figure.
    """
    _check_histories(histories)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    log_scale = [log_scale] if isinstance(log_scale, str) else list(log_scale)
    if not metrics:
        raise ValueError("metrics is empty: give at least one History column")
    for metric in [*metrics, *log_scale]:
        _check_metric(metric, "metrics" if metric in metrics else "log_scale")
    labels = dict(labels or {})
    for name in labels:
        _run(histories, name)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    width, height = plotting._DEFAULTS["figsize"]
    legend_rows = math.ceil((len(histories) + 1) / 3)
    figsize = figsize or (width * len(metrics), height + 0.35 * legend_rows)
    fig, axes = plt.subplots(1, len(metrics), figsize=figsize, layout="constrained",
                             squeeze=False)
    last = max(h.epochs[-1].epoch for h in histories.values())
    marked = False
    for ax, metric in zip(axes[0], metrics):
        for name, history in histories.items():
            x = [record.epoch for record in history.epochs]  # 0-based, as the schedules
            y = history.column(metric)
            (line,) = ax.plot(x, y, label=labels.get(name, name))
            if collapse_marks and history.collapsed:
                i = [record.epoch for record in history.epochs].index(history.collapsed_at)
                ax.plot([x[i]], [y[i]], "x", color=line.get_color(), markersize=8,
                        markeredgewidth=2)
                marked = True
        plotting.set_axes(ax, xlabel="epoch", ylabel=METRICS[metric][1],
                          xlim=[0, max(last, 1)],
                          yscale="log" if metric in log_scale else "linear")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, texts = axes[0][0].get_legend_handles_labels()
    if marked:
        handles.append(Line2D([], [], color="black", marker="x", linestyle="none",
                              markersize=8, markeredgewidth=2))
        texts.append("collapsed")
    fig.legend(handles, texts, loc="outside lower center", ncol=min(len(texts), 3),
               fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------- tables

def markdown_table(header: list, rows: list, title: str | None = None) -> str:
    """A Markdown table (every table of the suite is made here), with a bold ``title``
    line above it if given.

    >>> print(markdown_table(["run", "test acc"], [["cosine", "0.905"]]))
    | run | test acc |
    |---|---|
    | cosine | 0.905 |
    """
    lines = [f"**{title}**", ""] if title else []
    lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def runs_table(histories: dict[str, History], columns=("train_loss", "train_acc", "test_acc"),
               title: str | None = None) -> str:
    """A Markdown table of each run's final metrics, one row per run.

    A ``note`` column is added when a run collapsed, diverged or stayed at chance level
    (``collapsed in epoch 25``, ``diverged in epoch 3``, ``at chance in every epoch``); a
    non-finite value reads ``diverged``.

    Args:
      histories: run name -> History, in the order of the rows.
      columns: History columns (default train loss, train acc, test acc).
      title: a bold line above the table (default none).
    """
    _check_histories(histories)
    columns = [columns] if isinstance(columns, str) else list(columns)
    for column in columns:
        _check_metric(column, "columns")
    notes = {name: outcome(history) for name, history in histories.items()}
    header = ["run", *(METRICS[c][0] for c in columns)]
    rows = [[str(name), *(_text(_final(history, c)) for c in columns)]
            for name, history in histories.items()]
    if any(notes.values()):
        header.append("note")
        for row, note in zip(rows, notes.values()):
            row.append(note)
    return markdown_table(header, rows, title)


def failed_count(runs) -> str:
    """How many runs of one experiment failed, and how, in the one wording of a failed run
    (:func:`d2l_compat.training.outcome`, :func:`~d2l_compat.training.failed_runs`): a run
    *failed* when it stayed at chance in every epoch, collapsed, diverged or ended at chance.

    Args:
      runs: ``{seed: History}`` (the failures are named by seed) or a list of Histories
        (the failures are counted per outcome).

    >>> from d2l_compat.training import EpochRecord, History
    >>> def run(*losses):
    ...     return History("jax", epochs=[EpochRecord(e, 0.5, l, 0.5, 0.5, 1.0, 1.0)
    ...                                   for e, l in enumerate(losses)])
    >>> failed_count({0: run(2.31, 2.30), 1: run(1.0, 0.5), 2: run(1.0, 0.5, 2.31)})
    '2 of 3 failed (seed 0: at chance in every epoch; seed 2: collapsed in epoch 2)'
    >>> failed_count([run(2.31, 2.30), run(2.32, 2.30), run(1.0, 0.5)])
    '2 of 3 failed (2 at chance in every epoch)'
    >>> failed_count([run(1.0, 0.5)])
    '0 of 1 failed'
    """
    if isinstance(runs, Mapping):
        named = list(runs.items())
    elif isinstance(runs, (list, tuple)):
        named = [(None, history) for history in runs]
    else:
        raise TypeError(f"runs must be a dict of seed -> History or a list of Histories, "
                        f"got {type(runs).__name__}")
    if not named:
        raise ValueError("runs is empty: give at least one History")
    for seed, history in named:
        if not isinstance(history, History):
            where = "runs" + ("" if seed is None else f"[{seed!r}]")
            raise TypeError(f"{where} must hold Histories, got {type(history).__name__}")
    failed = [(seed, outcome(history)) for seed, history in named if history.failed]
    text = f"{failed_runs(h for _, h in named)} of {len(named)} {FAILED}"
    if not failed:
        return text
    if isinstance(runs, Mapping):
        how = "; ".join(f"seed {seed}: {words}" for seed, words in failed)
    else:
        counts = {}
        for _, words in failed:
            counts[words] = counts.get(words, 0) + 1
        how = ", ".join(f"{count} {words}" for words, count in counts.items())
    return f"{text} ({how})"


def seed_table(per_seed: dict[int, dict[str, History]], metric: str = "test_acc", *,
               title: str | None = None) -> str:
    """A Markdown table over seeds: per run, the mean and range of a final metric, and how
    many seeds failed.

    Columns: run, mean, ``min – max`` over the seeds, and ``k of n failed`` with, per failed
    seed, its outcome (:func:`failed_count`: at chance in every epoch, collapsed in epoch
    ``k``, diverged in epoch ``k``, ended at chance). Diverged seeds (a non-finite value) are left out of
    the mean and range; ``—`` when every seed diverged.

    Args:
      per_seed: ``{seed: {run name: History}}``, the same runs for every seed.
      metric: the History column (default ``"test_acc"``).
      title: a bold line above the table (default none).
    """
    runs = _check_per_seed(per_seed)
    _check_metric(metric)
    rows = []
    for run in runs:
        by_seed = {seed: seed_runs[run] for seed, seed_runs in per_seed.items()}
        values = [v for v in (_final(h, metric) for h in by_seed.values()) if math.isfinite(v)]
        failed = failed_count(by_seed)
        if values:
            rows.append([str(run), f"{fmean(values):.3f}",
                         f"{min(values):.3f} – {max(values):.3f}", failed])
        else:
            rows.append([str(run), "—", "—", failed])
    header = ["run", f"mean {METRICS[metric][0]}", "min – max", "failed"]
    return markdown_table(header, rows, title)


# ---------------------------------------------------------------------- verdicts
def compare(a: History, b: History, metric: str = "test_acc") -> str:
    """``"a vs b (a - b)"`` for the final values of ``metric``: ``0.905 vs 0.893 (+0.012)``.

    A non-finite value reads ``diverged`` and the difference is left out.
    """
    for name, history in (("a", a), ("b", b)):
        if not isinstance(history, History) or not history.epochs:
            raise TypeError(f"{name} must be a History with epochs, got {history!r:.80}")
    _check_metric(metric)
    x, y = _final(a, metric), _final(b, metric)
    if not (math.isfinite(x) and math.isfinite(y)):
        return f"{_text(x)} vs {_text(y)}"
    return f"{_text(x)} vs {_text(y)} ({round(_shown(x) - _shown(y), 3) + 0.0:+.3f})"


def _check_margin(margin) -> float:
    return check_number("margin", margin, minimum=0.0)


def verdict(histories: dict[str, History], better: str, worse: str,
            metric: str = "test_acc", margin: float = 0.0) -> bool:
    """Whether run ``better`` ends ahead of run ``worse`` by more than ``margin``.

    Ahead means a higher accuracy or a lower loss, compared at the 3 decimals shown; a
    diverged run is behind every other.
    """
    _check_histories(histories)
    _check_metric(metric)
    margin = _check_margin(margin)
    gain = _gain(_final(_run(histories, better), metric),
                 _final(_run(histories, worse), metric), metric)
    return gain > margin + 1e-9  # 1e-9: the decimals shown are not exact in binary


def verdict_line(histories: dict[str, History], better: str, worse: str,
                 metric: str = "test_acc", margin: float = 0.0, *,
                 labels: dict | None = None) -> str:
    """The sentence :func:`verdict` decides, with the numbers it decided on.

    ``cosine beats baseline by 0.012 test accuracy (0.905 vs 0.893)`` or
    ``cosine does not beat baseline (0.800 vs 0.801 test accuracy)``.

    Args:
      histories, better, worse, metric, margin: as for :func:`verdict`.
      labels: run name -> words in the sentence, e.g. ``{"baseline": "the baseline"}``
        (default: the run names).
    """
    beats = verdict(histories, better, worse, metric, margin)
    labels = labels or {}
    a, b = _final(histories[better], metric), _final(histories[worse], metric)
    subject, other = labels.get(better, better), labels.get(worse, worse)
    words = METRICS[metric][1]
    if beats and math.isfinite(_gain(a, b, metric)):
        return (f"{subject} beats {other} by {_gain(a, b, metric):.3f} {words} "
                f"({_text(a)} vs {_text(b)})")
    if beats:  # the other run diverged
        return f"{subject} beats {other}, which diverged ({_text(a)} {words})"
    by = f" by more than {margin:.3f}" if margin else ""
    return f"{subject} does not beat {other}{by} ({_text(a)} vs {_text(b)} {words})"


def count_beats(per_seed: dict[int, dict[str, History]], better: str, worse: str,
                metric: str = "test_acc") -> tuple[int, int]:
    """``(k, n)``: in ``k`` of the ``n`` seeds, run ``better`` ends ahead of run ``worse``.

    Each seed is decided as by :func:`verdict` (margin 0).
    """
    _check_per_seed(per_seed)
    wins = sum(verdict(histories, better, worse, metric) for histories in per_seed.values())
    return wins, len(per_seed)


def collapse_summary(histories: dict[str, History]) -> str:
    """Which runs collapsed and which diverged, with the epochs, in one line.

    ``2 of 6 runs collapsed: no_warmup_seed1 (epoch 3), no_warmup_seed2 (epoch 1); none
    diverged``. Runs at chance level in every epoch are named between the two parts
    (``...; 1 at chance in every epoch: no_warmup_seed0; none diverged``).
    """
    _check_histories(histories)
    collapsed = [f"{name} (epoch {h.collapsed_at})" for name, h in histories.items()
                 if h.collapsed]
    diverged = [f"{name} (epoch {h.epochs[-1].epoch})" for name, h in histories.items()
                if h.diverged]
    runs = _plural(len(histories), "run")
    first = (f"{len(collapsed)} of {runs} collapsed: {', '.join(collapsed)}" if collapsed
             else f"none of {runs} collapsed")
    stuck = [str(name) for name, h in histories.items() if h.stuck]
    middle = [f"{len(stuck)} {STUCK}: {', '.join(stuck)}"] if stuck else []
    last = (f"{len(diverged)} diverged: {', '.join(diverged)}" if diverged
            else "none diverged")
    return "; ".join([first, *middle, last])


CONCLUSIONS_KEY = "d2l_compat/conclusions"
"""Where the output of ``md(conclusions(...))`` carries its claims as data (in the
output's metadata), for the grid to record."""


class Conclusions(str):
    """The Markdown :func:`conclusions` returns, with the ``claims`` and ``mode`` it was
    made from; :func:`md` shows it and puts them in the output's metadata."""

    claims: dict
    mode: str

    def __new__(cls, text: str, claims: Mapping[str, bool], mode: str):
        self = super().__new__(cls, text)
        self.claims, self.mode = dict(claims), mode
        return self

    @property
    def data(self) -> dict:
        """``{"mode": ..., "claims": {conclusion: holds}}``."""
        return {"mode": self.mode, "claims": dict(self.claims)}


def conclusions(claims: Mapping[str, bool], mode: str) -> Conclusions:
    """Markdown: which of a chapter's conclusions hold in this run, and how many.

    ``claims`` maps each conclusion the chapter's text relies on, in words, to whether this
    run's histories support it (decided by the caller, e.g. with :func:`verdict`); ``mode``
    is the run mode the histories were trained in. In class or smoke mode a teacher reads
    here which statements of the text the students' runs bear out. The text is a
    :class:`Conclusions` (a ``str``) that keeps the claims: shown with :func:`md`, they
    travel in the output's metadata, where the reproduction grid reads them for its table
    over seeds. Nothing is written.

    >>> print(conclusions({"cosine beats the constant rate": True,
    ...                    "no run collapses": False}, "class"))
    **The chapter's conclusions in this run (class mode): 1 of 2 hold.**
    <BLANKLINE>
    * holds: cosine beats the constant rate
    * does not hold: no run collapses
    """
    if not isinstance(claims, Mapping):
        raise TypeError(f"claims must be a mapping of conclusion -> bool, "
                        f"got {type(claims).__name__}")
    if not claims:
        raise ValueError("claims must be a non-empty mapping of conclusion -> bool")
    for text, holds in claims.items():
        if not isinstance(text, str):
            raise TypeError(f"claims: every conclusion must be a str, got {text!r}")
        if not text:
            raise ValueError(f"claims: every conclusion must be a non-empty str, got {text!r}")
        if not isinstance(holds, bool):
            raise TypeError(f"claims[{text!r}] must be a bool, got {type(holds).__name__}")
    mode = check_mode(mode, "mode")
    held = sum(claims.values())
    lines = [f"**The chapter's conclusions in this run ({mode} mode): {held} of "
             f"{len(claims)} hold.**", ""]
    lines += [f"* {'holds' if holds else 'does not hold'}: {text}"
              for text, holds in claims.items()]
    return Conclusions("\n".join(lines), claims, mode)


# ---------------------------------------------------------------------- prose
def md(text: str):
    """Markdown for a notebook cell's output: ``d2l.md(f"cosine ends at {acc:.3f}")``.

    Returns an ``IPython.display.Markdown`` object, which Jupyter renders when it is the
    cell's value (or passed to ``display``); without IPython, the string itself. The
    claims of a :class:`Conclusions` go into the output's metadata (:data:`CONCLUSIONS_KEY`).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    try:
        from IPython.display import Markdown
    except ImportError:
        return text
    if isinstance(text, Conclusions):
        return Markdown(str(text), metadata={CONCLUSIONS_KEY: text.data})
    return Markdown(text)


# ---------------------------------------------------------------------- D2L's numbers
D2L_CHAPTER = "lr_scheduler"
"""The chapter whose runs :data:`D2L_REFERENCE` quotes (D2L's *Learning Rate Scheduling*)."""

# The multi-factor run's schedule as D2L's code writes it: from 0.5, halved at 15 and 30.
_D2L_BASE_LR, _D2L_FACTOR, _D2L_STEPS = 0.5, 0.5, (15, 30)

D2L_NOTES = {
    ("multi_factor", "pytorch"):
        "D2L's PyTorch code plots the multi-step schedule with the optimizer and the "
        "`MultiStepLR(milestones=[15, 30], gamma=0.5)` it then trains with: the plotting "
        "call runs `trainer.step(); scheduler.step()` once per epoch for all 30 epochs, so "
        "the scheduler has passed both milestones before training starts, and training "
        f"runs at {_D2L_BASE_LR} x {_D2L_FACTOR}^{len(_D2L_STEPS)} = "
        f"{_D2L_BASE_LR * _D2L_FACTOR ** len(_D2L_STEPS):g} in every epoch (no milestone is "
        "left). Its published number is that of a constant-rate run, not of this schedule.",
    ("multi_factor", "mxnet"):
        "D2L's MXNet code gives Gluon's `MultiFactorScheduler(step=[15, 30], factor=0.5, "
        "base_lr=0.5)` to the trainer, which calls it once per update, not per epoch; its "
        f"plotting call had already applied the first decay (`num_update > {_D2L_STEPS[0]}`), "
        f"and the second fires at update {_D2L_STEPS[1]} (counted from 0; Gluon's "
        f"`num_update` is then {_D2L_STEPS[1] + 1}): the run trains at "
        f"{_D2L_BASE_LR * _D2L_FACTOR:g} for its first {_D2L_STEPS[1]} updates and at "
        f"{_D2L_BASE_LR * _D2L_FACTOR ** len(_D2L_STEPS):g} from then on, inside its first "
        "epoch.",
}
"""Why a published D2L number is not that of the schedule its row names: (run, framework)
-> a footnote, shown by :func:`compare_with_d2l` and the results tables."""


def d2l_range(histories, reference: float, metric: str = "test_acc") -> str:
    """Whether a published number lies within our runs' range over seeds.

    ``within``, ``above`` or ``below`` the range ``min–max`` of the final ``metric`` over
    ``histories`` (one run, one History per seed; diverged seeds left out), compared at the
    3 decimals shown, with the range (one number for one seed).

    >>> from d2l_compat.training import EpochRecord, History
    >>> runs = [History("jax", epochs=[EpochRecord(0, 0.3, 0.2, 0.9, acc, 1.0, 1.0)])
    ...         for acc in (0.859, 0.886, 0.871)]
    >>> d2l_range(runs, 0.877), d2l_range(runs, 0.904), d2l_range(runs[:1], 0.877)
    ('within 0.859–0.886', 'above 0.859–0.886', 'above 0.859')
    >>> d2l_range(runs, 0.8)
    'below 0.859–0.886'
    """
    histories = list(histories)
    if not histories:
        raise ValueError("histories must hold at least one History")
    _check_metric(metric)
    reference = check_number("reference", reference)
    stats = seed_stats(histories, metric)  # the tables' rule: diverged seeds left out
    if math.isnan(stats.mean):
        return f"every one of {_plural(len(histories), 'seed')} diverged"
    low, high, ref = _shown(stats.min), _shown(stats.max), _shown(reference)
    where = "within" if low <= ref <= high else "above" if ref > high else "below"
    span = f"{low:.3f}" if stats.n - stats.diverged == 1 else f"{low:.3f}–{high:.3f}"
    return f"{where} {span}"


def compare_with_d2l(histories: dict[str, History], framework: str,
                     per_seed: dict[int, dict[str, History]] | None = None) -> str:
    """A markdown table of our runs next to D2L's published numbers for ``framework``.

    Columns: our ``train loss / train acc / test acc`` after the last epoch, D2L's
    (:data:`D2L_REFERENCE`, or ``not published``); with ``per_seed``
    (``{seed: {run name: History}}``, e.g. ``load_seeds(...)``) also our test accuracy's
    range over the seeds and whether D2L's lies within it (:func:`d2l_range`). A row whose
    D2L number is not that of its schedule gets a footnote (:data:`D2L_NOTES`).
    """
    _check_histories(histories)
    if per_seed is not None:
        if not isinstance(per_seed, Mapping) or not per_seed:
            raise TypeError("per_seed must be a non-empty dict of seed -> {run name: History}, "
                            f"got {per_seed!r:.60}")
    header = ["run", "ours: train loss / train acc / test acc",
              "D2L: train loss / train acc / test acc"]
    if per_seed is not None:
        header.append("D2L's test acc vs ours over seeds")
    rows, notes = [], []
    for run, history in histories.items():
        f = history.final
        ours = f"{f['train_loss']:.3f} / {f['train_acc']:.3f} / {f['test_acc']:.3f}"
        ref = D2L_REFERENCE.get(run, {}).get(framework)
        theirs = " / ".join(f"{v:.3f}" for v in ref) if ref else "not published"
        if (run, framework) in D2L_NOTES:
            notes.append(D2L_NOTES[run, framework])
            theirs += f" [{len(notes)}]"
        row = [RUN_TITLES.get(run, run), ours, theirs]
        if per_seed is not None:
            seeds = [by_run[run] for by_run in per_seed.values() if run in by_run]
            row.append(d2l_range(seeds, ref[2]) + f" ({_plural(len(seeds), 'seed')})"
                       if ref and seeds else "—")
        rows.append(row)
    lines = [markdown_table(header, rows)]
    lines += [""] + [f"[{k}] {note}" for k, note in enumerate(notes, 1)] if notes else []
    return "\n".join(lines)
