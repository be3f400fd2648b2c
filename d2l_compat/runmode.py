"""The run mode (``D2L_MODE``: full or smoke) and the seed (``D2L_SEED``) of a run."""

from __future__ import annotations

import os

DEFAULT_SEED = 0
RUN_MODES = ("full", "smoke")
"""The values of ``D2L_MODE`` (see :func:`run_mode`)."""


def run_mode() -> str:
    """``'full'`` (default) or ``'smoke'``, from the ``D2L_MODE`` environment variable.

    Smoke mode keeps every code path and every epoch but trains on a small fixed subset,
    so that all notebooks execute in minutes (the tests set it).
    """
    mode = os.environ.get("D2L_MODE", "full").strip().lower() or "full"
    if mode not in RUN_MODES:
        raise ValueError(f"D2L_MODE must be one of {RUN_MODES}, got {mode!r}")
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
