"""Framework-free learning-rate schedules: pure functions of the step.

A schedule maps a step ``t = 0, 1, 2, ...`` (completed epochs, or completed updates
when applied per update) to the learning rate used during step ``t``::

    >>> s = CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01)
    >>> round(s(0), 6), round(s(10), 6), round(s(20), 6), round(s(30), 6)
    (0.3, 0.155, 0.01, 0.01)

Conventions shared by every schedule here:

* **Stateless and immutable.** Calling a schedule never changes it, so plotting a
  schedule before training cannot change the learning rate used in training (the
  D2L chapter's TensorFlow and PyTorch cells get this wrong). Attributes cannot be
  reassigned; build a new schedule instead.
* **Steps.** ``s(t)`` accepts a non-negative Python int or numpy integer and returns a
  Python ``float``; it accepts a numpy array (or list) of non-negative integers and
  returns a float64 array of the same shape, computed without a Python loop. Floats
  are rejected even when integral (``3.0``): a fractional epoch is never silently
  truncated. Negative steps, floats and bools raise ``ValueError``; non-numeric steps
  raise ``TypeError``. Both messages name ``step``.
* **Parameters** are validated on construction; a bad one raises ``ValueError``
  naming it. Every ``*lr`` must be a finite number ``>= 0``.
* **Config.** ``get_config()`` returns exactly the constructor arguments as plain JSON
  types, ``from_config(get_config())`` rebuilds an equal schedule, and
  :func:`schedule_to_config` / :func:`schedule_from_config` add the class name so any
  schedule (joined ones included) round-trips through ``json``.

The formulas (and the docstrings that state them) agree with optax, torch and MXNet at
every integer step; ``tests/test_schedule_conformance.py`` checks it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from d2l_compat.checks import check_int, check_number

__all__ = [
    "Schedule",
    "Constant",
    "SquareRootScheduler",
    "FactorScheduler",
    "MultiFactorScheduler",
    "CosineScheduler",
    "PolyScheduler",
    "WarmupCosineDecay",
    "JoinedSchedule",
    "join_schedules",
    "schedule_to_config",
    "schedule_from_config",
    "plot_schedules",
]


# --------------------------------------------------------------------------- checks
def _is_int(x):
    # bool is an Integral in Python, but True as a step count is always a mistake.
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))



def _plain(x):
    """Return a numpy scalar as the equal Python int/float (JSON-safe configs)."""
    return int(x) if _is_int(x) else float(x)


def _check_lr(name, value):
    """A finite number >= 0 (``TypeError`` for a non-number, ``ValueError`` out of range);
    an int stays an int in the config."""
    check_number(name, value, minimum=0.0)
    return _plain(value)


def _check_int(name, value, low, high=None, high_name=None):
    """Check ``low <= value`` (and ``value < high`` when given); return a Python int."""
    value = check_int(name, value, minimum=low)
    if high is not None and value >= high:
        raise ValueError(f"{name} must be < {high_name} ({high}), got {value!r}")
    return value


def _check_factor(value):
    check_number("factor", value, above=0.0)
    if not value <= 1:
        raise ValueError(f"factor must be a number in (0, 1], got {value!r}")
    return _plain(value)


def _check_increasing(name, values, low):
    """A strictly increasing list (possibly empty) of integers >= ``low``."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of ints, got {values!r}")
    values = list(values)
    for i, v in enumerate(values):
        check_int(f"{name}[{i}]", v, minimum=low)
        if i and v <= values[i - 1]:
            raise ValueError(
                f"{name} must be strictly increasing, got {values!r}")
    return [int(v) for v in values]


def _as_steps(step):
    """Validate ``step``; return (float64 array, is_scalar).

    Computing in float64 lets one formula serve scalars and arrays, and Python ints
    beyond int64 still work.
    """
    if _is_int(step):
        if step < 0:
            raise ValueError(f"step must be a non-negative integer, got {step!r}")
        return np.array(step, dtype=np.float64), True
    if isinstance(step, (numbers.Number, np.bool_)):  # bool, float, complex, ...
        hint = " (floats are rejected even when whole: use int(step))" \
            if isinstance(step, numbers.Real) and not isinstance(step, bool) else ""
        raise TypeError(f"step must be a non-negative integer, got {step!r}{hint}")
    try:
        arr = np.asarray(step)
    except Exception as err:  # ragged lists and other oddities
        raise TypeError(f"step must be an integer or an integer array, got {step!r}") from err
    kind = arr.dtype.kind
    if arr.size == 0 and kind in "iuf":  # np.asarray([]) is float64: nothing to check
        return arr.astype(np.float64), False
    if kind in "fcb":
        raise TypeError(f"step must hold non-negative integers, got an array of dtype "
                         f"{arr.dtype} (convert whole-number floats with .astype(int))")
    if kind not in "iu":
        raise TypeError(f"step must be an integer or an integer array, got {step!r}")
    if kind == "i" and arr.size and arr.min() < 0:
        raise ValueError(f"step must be non-negative, got minimum {arr.min()}")
    return arr.astype(np.float64), False


# ----------------------------------------------------------- shared formula pieces
def _linear_warmup(t, warmup_steps, begin_lr, peak_lr, after, xp):
    """``begin_lr -> peak_lr`` linearly for ``t < warmup_steps``, else ``after``.

    Cosine, Poly and WarmupCosineDecay share this warmup: at ``t = warmup_steps`` the
    ramp would reach ``peak_lr``, which is where every decay phase starts.
    """
    if warmup_steps == 0:
        return after
    ramp = begin_lr + (peak_lr - begin_lr) * (t / warmup_steps)
    return xp.where(t < warmup_steps, ramp, after)


def _progress(t, start, length, xp):
    """Fraction of a decay phase done at ``t``, clipped to [0, 1].

    Clipping makes the phase flat before ``start`` (the hold of WarmupCosineDecay) and
    flat at the final value after ``start + length``, with no extra branch.
    """
    return xp.clip((t - start) / length, 0.0, 1.0)


def _cosine(progress, peak_lr, final_lr, xp):
    return final_lr + (peak_lr - final_lr) * (1 + xp.cos(math.pi * progress)) / 2


# --------------------------------------------------------------------------- base
class Schedule:
    """Base class: a stateless, immutable map from step ``t`` to learning rate.

    Subclasses validate their arguments, pass them (in signature order) to
    ``Schedule.__init__`` -- which makes them the config and read-only attributes --
    and implement ``_lr(t, xp)`` for a float array ``t`` of non-negative steps, written
    against the array module ``xp`` so one formula serves numpy and compiled graphs.
    """

    _registry: dict = {}  # class name -> class, filled by __init_subclass__

    def __init_subclass__(cls, **kwargs):
        """Every subclass is registered under its name, so that
        :func:`schedule_from_config` restores it (no hand-written list)."""
        super().__init_subclass__(**kwargs)
        if cls.__name__ in Schedule._registry:
            raise TypeError(f"a schedule class named {cls.__name__!r} exists already")
        Schedule._registry[cls.__name__] = cls

    def __init__(self, **config):
        object.__setattr__(self, "_config", config)
        for name, value in config.items():
            object.__setattr__(self, name, tuple(value) if isinstance(value, list) else value)

    def __setattr__(self, name, value):
        raise AttributeError(
            f"{type(self).__name__} is immutable (schedules are stateless); "
            f"build a new one instead of setting {name!r}")

    def __call__(self, step):
        t, scalar = _as_steps(step)
        lr = self._lr(t, np)
        return float(lr) if scalar else np.asarray(lr, dtype=np.float64)

    def evaluate(self, t, xp=np):
        """The same formula on a float array ``t`` of the array module ``xp``.

        For compiled graphs: ``xp`` is ``numpy``, ``jax.numpy`` or
        ``tf.experimental.numpy`` and ``t`` may be traced, so nothing is validated and
        nothing branches on its values. Use ``s(t)`` everywhere else.

        >>> round(float(CosineScheduler(20, 0.3, 0.01).evaluate(np.float32(10.0))), 6)
        0.155
        """
        return self._lr(t, xp)

    def _lr(self, t, xp):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self):
        """The constructor arguments as plain JSON types (a fresh copy)."""
        return {name: list(value) if isinstance(value, (list, tuple)) else value
                for name, value in self._config.items()}

    @classmethod
    def from_config(cls, config):
        """Inverse of :meth:`get_config`."""
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        if type(self) is not type(other):
            return NotImplemented
        return self.get_config() == other.get_config()

    def __hash__(self):
        # Hash the config, not repr(): Constant(1) == Constant(1.0) must hash alike.
        return hash((type(self).__name__, _freeze(self.get_config())))


def _freeze(value):
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


# ---------------------------------------------------------------------- schedules
class Constant(Schedule):
    r"""A constant learning rate.

    .. math::
        \text{lr}(t) = \text{lr}

    Args:
      lr: the learning rate, finite and ``>= 0``.

    Example:
      >>> s = Constant(0.3)
      >>> s(0), s(100)
      (0.3, 0.3)
    """

    def __init__(self, lr):
        super().__init__(lr=_check_lr("lr", lr))

    def _lr(self, t, xp):
        return xp.full_like(t, float(self.lr))


class SquareRootScheduler(Schedule):
    r"""Decay with the inverse square root of the step.

    .. math::
        \text{lr}(t) = \text{lr} \cdot (t + 1)^{-1/2}

    Args:
      lr: the learning rate at ``t = 0``, finite and ``>= 0``.

    Example:
      >>> s = SquareRootScheduler(lr=0.1)
      >>> round(s(0), 6), round(s(3), 6)
      (0.1, 0.05)
    """

    def __init__(self, lr=0.1):
        super().__init__(lr=_check_lr("lr", lr))

    def _lr(self, t, xp):
        return self.lr / xp.sqrt(t + 1)


class FactorScheduler(Schedule):
    r"""Multiply by ``factor`` every step, never going below ``stop_factor_lr``.

    .. math::
        \text{lr}(t) = \max(\text{stop\_factor\_lr},\; \text{base\_lr} \cdot
        \text{factor}^t)

    Unlike D2L's version this is a pure function: ``s(0)`` is ``base_lr``, however
    often it is called.

    Args:
      factor: the per-step multiplier, in ``(0, 1]``.
      stop_factor_lr: the floor, finite and ``>= 0``.
      base_lr: the learning rate at ``t = 0``, finite and ``>= 0``.

    Example:
      >>> s = FactorScheduler(factor=0.9, stop_factor_lr=1e-2, base_lr=2.0)
      >>> round(s(2), 6), round(s(100), 6)
      (1.62, 0.01)
    """

    def __init__(self, factor, stop_factor_lr=1e-8, base_lr=0.1):
        super().__init__(factor=_check_factor(factor),
                         stop_factor_lr=_check_lr("stop_factor_lr", stop_factor_lr),
                         base_lr=_check_lr("base_lr", base_lr))

    def _lr(self, t, xp):
        # exp(t log f) == f**t to ~1e-15 relative, and is ~10x faster than np.power.
        decayed = self.base_lr * xp.exp(t * math.log(self.factor))
        return xp.maximum(self.stop_factor_lr, decayed)


class MultiFactorScheduler(Schedule):
    r"""Multiply by ``factor`` at each step listed in ``step``.

    .. math::
        \text{lr}(t) = \text{base\_lr} \cdot \text{factor}^{\,|\{s \in \text{step}
        : s \le t\}|}

    so the decay is in effect from step ``s`` itself (``torch.optim.lr_scheduler.
    MultiStepLR`` stepped once per ``t``, optax's ``piecewise_constant_schedule``).

    Args:
      step: non-empty, strictly increasing list of positive integers.
      factor: the multiplier applied at each of them, in ``(0, 1]``.
      base_lr: the learning rate before the first step, finite and ``>= 0``.

    Example:
      >>> s = MultiFactorScheduler(step=[15, 30], factor=0.5, base_lr=0.5)
      >>> s(14), s(15), s(30)
      (0.5, 0.25, 0.125)
    """

    def __init__(self, step, factor=1, base_lr=0.1):
        step = _check_increasing("step", step, low=1)
        if not step:
            raise ValueError("step must be a non-empty list of integers, got []")
        super().__init__(step=step, factor=_check_factor(factor),
                         base_lr=_check_lr("base_lr", base_lr))

    def _lr(self, t, xp):
        # Count the boundaries s <= t, then look the level up (cheaper than a power).
        passed = sum(xp.where(t >= s, 1, 0) for s in self.step)
        levels = [self.base_lr * float(self.factor) ** k for k in range(len(self.step) + 1)]
        return xp.take(xp.asarray(levels, dtype=t.dtype), passed)


class CosineScheduler(Schedule):
    r"""Linear warmup, then cosine decay from ``base_lr`` to ``final_lr``.

    With :math:`w` = ``warmup_steps`` and :math:`T` = ``max_update``:

    .. math::
        \text{lr}(t) = \begin{cases}
          \text{warmup\_begin\_lr} + (\text{base\_lr} - \text{warmup\_begin\_lr})
            \, t / w & t < w \\
          \text{final\_lr} + (\text{base\_lr} - \text{final\_lr})
            \frac{1 + \cos(\pi (t - w) / (T - w))}{2} & w \le t \le T \\
          \text{final\_lr} & t > T
        \end{cases}

    Same as ``mxnet.lr_scheduler.CosineScheduler`` called with ``num_update = t`` and
    optax's ``warmup_cosine_decay_schedule(warmup_begin_lr, base_lr, w, T, final_lr)``.

    Args:
      max_update: :math:`T`, the step at which ``final_lr`` is reached; an integer > 0.
      base_lr: the peak learning rate, reached at ``t = w``.
      final_lr: the learning rate from ``t = T`` on.
      warmup_steps: :math:`w`, an integer with ``0 <= w < T`` (the cosine phase needs
        at least one step).
      warmup_begin_lr: the learning rate at ``t = 0`` when ``w > 0``.

    Example:
      >>> s = CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01, warmup_steps=5)
      >>> round(s(1), 6), round(s(5), 6), round(s(25), 6)
      (0.06, 0.3, 0.01)
    """

    def __init__(self, max_update, base_lr=0.01, final_lr=0, warmup_steps=0,
                 warmup_begin_lr=0):
        max_update = _check_int("max_update", max_update, low=1)
        super().__init__(
            max_update=max_update,
            base_lr=_check_lr("base_lr", base_lr),
            final_lr=_check_lr("final_lr", final_lr),
            warmup_steps=_check_int("warmup_steps", warmup_steps, 0, max_update, "max_update"),
            warmup_begin_lr=_check_lr("warmup_begin_lr", warmup_begin_lr))

    def _lr(self, t, xp):
        w = self.warmup_steps
        decay = _cosine(_progress(t, w, self.max_update - w, xp), self.base_lr,
                        self.final_lr, xp)
        return _linear_warmup(t, w, self.warmup_begin_lr, self.base_lr, decay, xp)


class PolyScheduler(Schedule):
    r"""Linear warmup, then polynomial decay from ``base_lr`` to ``final_lr``.

    With :math:`w` = ``warmup_steps``, :math:`T` = ``max_update``, :math:`p` = ``pwr``:

    .. math::
        \text{lr}(t) = \begin{cases}
          \text{warmup\_begin\_lr} + (\text{base\_lr} - \text{warmup\_begin\_lr})
            \, t / w & t < w \\
          \text{final\_lr} + (\text{base\_lr} - \text{final\_lr})
            \left(1 - \frac{t - w}{T - w}\right)^p & w \le t \le T \\
          \text{final\_lr} & t > T
        \end{cases}

    Same as ``mxnet.lr_scheduler.PolyScheduler`` called with ``num_update = t``.

    Args:
      max_update: :math:`T`, the step at which ``final_lr`` is reached; an integer > 0.
      base_lr: the peak learning rate, reached at ``t = w``.
      pwr: the power :math:`p > 0` (1 is linear decay).
      final_lr: the learning rate from ``t = T`` on.
      warmup_steps: :math:`w`, an integer with ``0 <= w < T``.
      warmup_begin_lr: the learning rate at ``t = 0`` when ``w > 0``.

    Example:
      >>> s = PolyScheduler(max_update=10, base_lr=1.0, pwr=2)
      >>> round(s(5), 6), round(s(10), 6)
      (0.25, 0.0)
    """

    def __init__(self, max_update, base_lr=0.01, pwr=2, final_lr=0, warmup_steps=0,
                 warmup_begin_lr=0):
        max_update = _check_int("max_update", max_update, low=1)
        check_number("pwr", pwr, above=0.0)
        super().__init__(
            max_update=max_update,
            base_lr=_check_lr("base_lr", base_lr),
            pwr=_plain(pwr),
            final_lr=_check_lr("final_lr", final_lr),
            warmup_steps=_check_int("warmup_steps", warmup_steps, 0, max_update, "max_update"),
            warmup_begin_lr=_check_lr("warmup_begin_lr", warmup_begin_lr))

    def _lr(self, t, xp):
        w = self.warmup_steps
        remaining = 1 - _progress(t, w, self.max_update - w, xp)
        decay = self.final_lr + (self.base_lr - self.final_lr) * remaining ** self.pwr
        return _linear_warmup(t, w, self.warmup_begin_lr, self.base_lr, decay, xp)


class WarmupCosineDecay(Schedule):
    r"""Linear warmup, a hold at ``target_lr``, then cosine decay to ``final_lr``.

    With :math:`w` = ``warmup_steps``, :math:`h` = ``hold``, :math:`T` = ``total_steps``:

    .. math::
        \text{lr}(t) = \begin{cases}
          \text{start\_lr} + (\text{target\_lr} - \text{start\_lr}) \, t / w & t < w \\
          \text{target\_lr} & w \le t < w + h \\
          \text{final\_lr} + (\text{target\_lr} - \text{final\_lr})
            \frac{1 + \cos(\pi (t - w - h) / (T - w - h))}{2} & w + h \le t \le T \\
          \text{final\_lr} & t > T
        \end{cases}

    With ``hold=0`` this is optax's ``warmup_cosine_decay_schedule(start_lr,
    target_lr, w, T, final_lr)``.

    Args:
      total_steps: :math:`T`, the step at which ``final_lr`` is reached; an integer > 0.
      warmup_steps: :math:`w`, an integer ``>= 0``.
      hold: :math:`h`, an integer ``>= 0``; ``w + h < T`` (the cosine phase needs at
        least one step).
      start_lr: the learning rate at ``t = 0`` when ``w > 0``.
      target_lr: the peak learning rate, from ``t = w`` to ``t = w + h``.
      final_lr: the learning rate from ``t = T`` on.

    Example:
      >>> s = WarmupCosineDecay(total_steps=30, warmup_steps=5, hold=5, target_lr=0.1)
      >>> round(s(2), 6), round(s(8), 6), round(s(20), 6)
      (0.04, 0.1, 0.05)
    """

    def __init__(self, total_steps, warmup_steps, hold=0, start_lr=0, target_lr=1e-3,
                 final_lr=0):
        total_steps = _check_int("total_steps", total_steps, low=1)
        warmup_steps = _check_int("warmup_steps", warmup_steps, 0, total_steps, "total_steps")
        hold = _check_int("hold", hold, low=0)
        if warmup_steps + hold >= total_steps:
            raise ValueError(
                f"warmup_steps + hold must be < total_steps ({total_steps}) so the cosine "
                f"phase has at least one step, got {warmup_steps} + {hold}")
        super().__init__(total_steps=total_steps, warmup_steps=warmup_steps, hold=hold,
                         start_lr=_check_lr("start_lr", start_lr),
                         target_lr=_check_lr("target_lr", target_lr),
                         final_lr=_check_lr("final_lr", final_lr))

    def _lr(self, t, xp):
        w, decay_start = self.warmup_steps, self.warmup_steps + self.hold
        # _progress is 0 throughout the hold, so the cosine term equals target_lr there.
        decay = _cosine(_progress(t, decay_start, self.total_steps - decay_start, xp),
                        self.target_lr, self.final_lr, xp)
        return _linear_warmup(t, w, self.start_lr, self.target_lr, decay, xp)


class JoinedSchedule(Schedule):
    r"""Schedules applied one after another; build it with :func:`join_schedules`.

    With boundaries :math:`b_1 < \dots < b_n` and schedules :math:`s_0, \dots, s_n`:

    .. math::
        \text{lr}(t) = \begin{cases}
          s_0(t) & t < b_1 \\
          s_i(t - b_i) & b_i \le t < b_{i+1} \\
          s_n(t - b_n) & t \ge b_n
        \end{cases}

    Its config holds the schedules as ``schedule_to_config`` dicts, so it round-trips
    through ``json`` like any other schedule.
    """

    def __init__(self, schedules, boundaries):
        if isinstance(schedules, Schedule) or not isinstance(schedules, (list, tuple)):
            raise TypeError(f"schedules must be a list of Schedule objects, got {schedules!r}")
        if not schedules:
            raise ValueError("schedules must not be empty")
        for i, s in enumerate(schedules):
            if not isinstance(s, Schedule):
                # optax schedules and lambdas have no config and are not vectorised here.
                raise TypeError(f"schedules[{i}] must be a d2l_compat.schedules.Schedule, "
                                 f"got {s!r}")
        boundaries = _check_increasing("boundaries", boundaries, low=0)
        if len(boundaries) != len(schedules) - 1:
            raise ValueError(
                f"boundaries must have len(schedules) - 1 = {len(schedules) - 1} entries, "
                f"got {len(boundaries)}")
        super().__init__(schedules=list(schedules), boundaries=boundaries)

    def _lr(self, t, xp):
        # Later pieces overwrite from their boundary on; each sees its own count, kept
        # >= 0 so no piece is ever evaluated at a negative step.
        lr = self.schedules[0]._lr(t, xp)
        for s, start in zip(self.schedules[1:], self.boundaries):
            lr = xp.where(t >= start, s._lr(xp.maximum(t - start, 0), xp), lr)
        return lr

    def get_config(self):
        return {"schedules": [schedule_to_config(s) for s in self.schedules],
                "boundaries": list(self.boundaries)}

    @classmethod
    def from_config(cls, config):
        return cls([schedule_from_config(d) for d in config["schedules"]],
                   config["boundaries"])


def join_schedules(schedules, boundaries):
    r"""Apply ``schedules[i + 1]`` from ``boundaries[i]`` on, restarting its count.

    .. math::
        \text{lr}(t) = s_i(t - b_i) \quad \text{for } b_i \le t < b_{i+1}
        \quad (b_0 = 0,\; b_{n+1} = \infty)

    The semantics of ``optax.join_schedules``.

    Args:
      schedules: a list of :class:`Schedule` objects.
      boundaries: ``len(schedules) - 1`` strictly increasing integers ``>= 0``.

    Returns:
      a :class:`JoinedSchedule`.

    Example:
      >>> s = join_schedules([Constant(0.1), SquareRootScheduler(0.1)], boundaries=[5])
      >>> s(4), round(s(8), 6)
      (0.1, 0.05)
    """
    return JoinedSchedule(schedules, boundaries)


# ---------------------------------------------------------------- serialisation
def schedule_to_config(schedule):
    """``{"class": name, "config": schedule.get_config()}``, JSON-serialisable.

    Example:
      >>> schedule_to_config(Constant(0.1))
      {'class': 'Constant', 'config': {'lr': 0.1}}
    """
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a Schedule, got {schedule!r}")
    return {"class": type(schedule).__name__, "config": schedule.get_config()}


def schedule_from_config(config):
    """Inverse of :func:`schedule_to_config`.

    Example:
      >>> schedule_from_config({"class": "Constant", "config": {"lr": 0.1}})
      Constant(lr=0.1)
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict with keys 'class' and 'config', got {config!r}")
    if set(config) != {"class", "config"}:
        raise ValueError(f"config must be a dict with keys 'class' and 'config', got {config!r}")
    name = config["class"]
    if name not in Schedule._registry:
        raise ValueError(f"class must be one of {sorted(Schedule._registry)}, got {name!r}")
    return Schedule._registry[name].from_config(config["config"])


# ---------------------------------------------------------------------- plotting
def plot_schedules(schedules, num_steps, labels=None, ax=None, xlabel="epoch",
                   ylabel="learning rate", yscale="linear", figsize=(3.5, 2.5)):
    """Draw one or more schedules over steps ``0 .. num_steps - 1``; return the Axes.

    Draws on ``ax`` when given, else on a new figure of size ``figsize``. Never calls
    ``plt.show`` and never touches ``rcParams``; matplotlib is imported only here.

    Args:
      schedules: a :class:`Schedule` or a list of them.
      num_steps: how many steps to draw, an integer > 0.
      labels: one legend label per schedule (default: no legend).
      ax: a matplotlib Axes to draw on.
      xlabel, ylabel, yscale: axis settings.
      figsize: size of the new figure when ``ax`` is None.
    """
    if isinstance(schedules, Schedule):
        schedules = [schedules]
    num_steps = _check_int("num_steps", num_steps, low=1)
    if labels is not None and len(labels) != len(schedules):
        raise ValueError(f"labels must have one entry per schedule ({len(schedules)}), "
                         f"got {len(labels)}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    t = np.arange(num_steps)
    for i, s in enumerate(schedules):
        ax.plot(t, s(t), label=None if labels is None else labels[i])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_yscale(yscale)
    ax.set_xlim(0, max(num_steps - 1, 1))
    if labels is not None:
        ax.legend()
    return ax
