"""Argument checks, one of each, shared by the core and every framework room.

The convention is PyTorch's: a value of the wrong *type* raises ``TypeError``, a value of
the right type that is out of range raises ``ValueError``; either message names the
parameter and repeats what was given. ``bool`` is not accepted as a number (``True`` is
an ``int`` in Python, but ``num_epochs=True`` is a mistake, not one epoch).

>>> check_int("num_epochs", 3, minimum=1)
3
>>> check_int("num_epochs", True, minimum=1)
Traceback (most recent call last):
  ...
TypeError: num_epochs must be a positive int, got True (bool)
>>> check_number("momentum", 1.0, minimum=0.0, below=1.0)
Traceback (most recent call last):
  ...
ValueError: momentum must be a number in [0.0, 1.0), got 1.0
"""

from __future__ import annotations

import math
import numbers


def _int_kind(minimum: int | None) -> str:
    return {None: "an int", 0: "a non-negative int", 1: "a positive int"}.get(
        minimum, f"an int >= {minimum}")


def check_int(name: str, value, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (numpy integers too); ``TypeError`` for anything else
    (``bool`` and ``float`` included), ``ValueError`` below ``minimum``."""
    kind = _int_kind(minimum)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def check_number(name: str, value, *, minimum: float | None = None,
                 below: float | None = None, above: float | None = None) -> float:
    """``value`` as a finite ``float``: ``TypeError`` unless it is a real number (not
    ``bool``), ``ValueError`` when it is not finite, ``< minimum``, ``>= below`` or
    ``<= above``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    bounded = minimum is not None or below is not None or above is not None
    low = f"({above}" if above is not None else f"[{minimum}" if minimum is not None else "(-inf"
    high = f"{below})" if below is not None else "inf)"
    kind = f"a number in {low}, {high}" if bounded else "a finite number"
    if (not math.isfinite(value) or (minimum is not None and value < minimum)
            or (below is not None and value >= below) or (above is not None and value <= above)):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return float(value)


def check_callable(name: str, value, signature: str = "step -> lr"):
    """``value`` when it is callable, else ``TypeError`` saying what it should be."""
    if not callable(value):
        raise TypeError(f"{name} must be callable ({signature}), got {value!r}")
    return value


def check_choice(name: str, value, choices) -> str:
    """``value`` when it is one of ``choices``, else ``ValueError`` listing them."""
    if value not in choices:
        listed = " or ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be {listed}, got {value!r}")
    return value
