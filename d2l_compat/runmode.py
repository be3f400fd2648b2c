"""The run mode (``D2L_MODE``: full, class or smoke) and the seed (``D2L_SEED``) of a run."""

from __future__ import annotations

import os

DEFAULT_SEED = 0
RUN_MODES = ("full", "class", "smoke")
"""The values of ``D2L_MODE`` (see :func:`run_mode`)."""


def check_mode(mode, parameter: str) -> str:
    """``mode`` normalised (``" Class"`` -> ``"class"``); else ``ValueError`` naming ``parameter``."""
    if not isinstance(mode, str) or mode.strip().lower() not in RUN_MODES:
        raise ValueError(f"{parameter} must be one of {RUN_MODES}, got {mode!r}")
    return mode.strip().lower()


def run_mode() -> str:
    """``'full'`` (default), ``'class'`` or ``'smoke'``, from ``D2L_MODE``.

    * full: the whole data set, the numbers the chapters are written about;
    * class: every epoch on a fixed class-balanced subset (``data.SUBSET_SIZES``), sized so
      that a chapter runs in minutes in a classroom (see the README for the measured times
      and which conclusions still hold);
    * smoke: every code path and every epoch on a small subset, only to check that the
      notebooks work (the tests set it); its numbers support no conclusion.
    """
    return check_mode(os.environ.get("D2L_MODE", "full").strip() or "full", "D2L_MODE")


def set_mode(mode: str) -> str:
    """Choose the run mode from inside a notebook: ``d2l.set_mode("class")``.

    It sets ``D2L_MODE`` for this kernel (and the processes it starts), so call it before
    the cell that loads the data. Returns the mode; a bad value raises ``ValueError`` and
    changes nothing.
    """
    mode = check_mode(mode, "mode")
    os.environ["D2L_MODE"] = mode
    return mode


def run_seed() -> int:
    """The seed of this run: ``D2L_SEED`` (a non-negative integer), else ``DEFAULT_SEED``.

    Chapters draw their weights and data order from it, so one notebook can be executed
    for several seeds (the reproduction grid sets ``D2L_SEED`` for each execution).
    """
    raw = os.environ.get("D2L_SEED", "").strip()
    if not raw:
        return DEFAULT_SEED
    if not raw.isdigit():
        raise ValueError(f"D2L_SEED must be a non-negative integer, got {raw!r}")
    return int(raw)
