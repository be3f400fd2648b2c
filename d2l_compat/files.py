"""Files, written once: atomic writes, strict JSON, and the project's root folder.

Every file the suite writes (the data cache, results, notebooks, tables) goes through
:func:`write_atomic`: a temporary file beside the target, then a rename, so a reader never
sees a half-written file and an interrupted write leaves the old one intact.

>>> import tempfile, math
>>> folder = Path(tempfile.mkdtemp())
>>> path = write_json_atomic(folder / "a" / "run.json", {"loss": math.nan, "acc": [0.5]})
>>> path.read_text()
'{\\n "loss": null,\\n "acc": [\\n  0.5\\n ]\\n}\\n'
>>> read_json(folder / "missing.json") is None
True
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` through a temporary file and a
    rename; the parent folder is created. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def finite_or_none(value):
    """``value`` with every non-finite float (NaN, inf) as None, in nested lists and dicts:
    JSON has no NaN, so a diverged run's loss is stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def write_json_atomic(path: str | os.PathLike, data) -> Path:
    """Write ``data`` as strict JSON (NaN as null, indent 1, a final newline), atomically."""
    return write_atomic(path, json.dumps(finite_or_none(data), indent=1) + "\n")


def read_json(path: str | os.PathLike) -> dict | None:
    """The JSON object in ``path``, or None when the file does not exist.

    Raises:
        ValueError: the file is not valid JSON, or holds something else than an object;
            the message names the file.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def project_root() -> Path:
    """The checkout this package runs from (the folder with ``pyproject.toml`` above the
    package), else the current folder (an installed, non-editable package)."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").exists() else Path.cwd()
