"""Which of pyproject.toml's pins have a wheel on which platform, for Python 3.11.

For every platform below, each requirement of the chosen extras is first filtered by its
environment marker, evaluated for *that* platform (pip evaluates markers for the machine
it runs on, so the script does it itself), then resolved with pip's dry run::

    pip install --dry-run --no-deps --only-binary=:all: --platform TAG... \\
        --python-version 3.11 --implementation cp --abi cp311 REQUIREMENT

which reads the wheel's metadata and downloads no wheel where the index publishes it
separately (PyPI does). A requirement with extras (``tensorflow[and-cuda]``,
``jax[cuda12]``) is resolved with its dependencies too on the platform this script runs
on, the one where pip's own marker evaluation is right. Prints a table platform x
requirement -> the wheel pip chose, ``none`` (no wheel: the install would fail) or
``-`` (skipped by the marker). It asks the index once per cell, so it takes a minute or
two; it is a check, not a test::

    python python -m d2l_booktools.platforms [--extras all all-gpu] [--ignore-markers]

Exit status 1 if a requirement that its marker keeps on a platform has no wheel there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from d2l_compat.files import project_root

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = project_root()
PYTHON = "3.11"


def _manylinux(arch: str) -> list[str]:
    """The wheel tags a glibc 2.28 Linux accepts (pip does not expand manylinux itself)."""
    return [f"manylinux_2_{v}_{arch}" for v in range(28, 16, -1)] + [f"manylinux2014_{arch}"]


def _env(sys_platform: str, system: str, machine: str, os_name: str) -> dict[str, str]:
    return {"sys_platform": sys_platform, "platform_system": system,
            "platform_machine": machine, "os_name": os_name}


# name -> (pip --platform tags, marker environment). macOS 15 tags accept every older one.
PLATFORMS = {
    "linux-x86_64": (_manylinux("x86_64"), _env("linux", "Linux", "x86_64", "posix")),
    "linux-aarch64": (_manylinux("aarch64"), _env("linux", "Linux", "aarch64", "posix")),
    "macos-arm64": (["macosx_15_0_arm64"], _env("darwin", "Darwin", "arm64", "posix")),
    "macos-x86_64": (["macosx_15_0_x86_64"], _env("darwin", "Darwin", "x86_64", "posix")),
    "windows-amd64": (["win_amd64"], _env("win32", "Windows", "AMD64", "nt")),
}


def marker_environment(name: str) -> dict[str, str]:
    """The environment-marker variables of platform ``name`` with CPython 3.11."""
    environment = default_environment()
    environment.update(python_version=PYTHON, python_full_version=f"{PYTHON}.0",
                       implementation_name="cpython", platform_python_implementation="CPython",
                       **PLATFORMS[name][1])
    return environment


def requirements(extras: list[str], name: str | None = None) -> list[Requirement]:
    """The requirements ``pip install '.[extras]'`` asks for on platform ``name``, in order.

    ``[project] dependencies`` come first; a self-reference such as
    ``d2l_compat[torch]; <marker>`` is followed into its extras when its marker holds.
    Markers are evaluated for ``name`` (``None``: every requirement, markers ignored).
    The returned requirements carry no marker; duplicates are dropped.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    table = project["optional-dependencies"]
    unknown = sorted(set(extras) - set(table))
    if unknown:
        raise ValueError(f"extras: {unknown} not in pyproject.toml (has {sorted(table)})")
    environment = None if name is None else marker_environment(name)
    lines, todo, done = list(project["dependencies"]), list(extras), set()
    found: dict[str, Requirement] = {}
    while lines or todo:
        if not lines:
            extra = todo.pop(0)
            if extra not in done:
                done.add(extra)
                lines = list(table[extra])
            continue
        requirement = Requirement(lines.pop(0))
        if environment is not None and requirement.marker is not None \
                and not requirement.marker.evaluate(environment):
            continue
        if requirement.name == project["name"]:
            todo += sorted(requirement.extras)
            continue
        requirement.marker = None
        found.setdefault(str(requirement), requirement)
    return list(found.values())


def host_platform() -> str | None:
    """The entry of :data:`PLATFORMS` this script runs on, or None."""
    machine = platform.machine()
    for name, (_, environment) in PLATFORMS.items():
        if environment["sys_platform"] == sys.platform and \
                environment["platform_machine"].lower() == machine.lower():
            return name
    return None


def resolve(requirement: Requirement, name: str) -> str:
    """The wheel file name(s) pip picks for ``requirement`` on ``name``, or ``'none'``."""
    with_deps = bool(requirement.extras) and name == host_platform()
    with tempfile.TemporaryDirectory() as target:
        report = Path(target) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                   "--quiet", "--only-binary=:all:", "--python-version", PYTHON,
                   "--implementation", "cp", "--abi", "cp311", "--target", target,
                   "--report", str(report), str(requirement)]
        command += [] if with_deps else ["--no-deps"]
        for tag in PLATFORMS[name][0]:
            command += ["--platform", tag]
        # A machine-wide constraints file must not hide what the index offers.
        env = dict(os.environ, PIP_CONSTRAINT="")
        subprocess.run(command, env=env, capture_output=True, text=True)
        if not report.exists():
            return "none"
        installs = json.loads(report.read_text())["install"]
    wheels = [item["download_info"]["url"].rsplit("/", 1)[-1] for item in installs
              if item["metadata"]["name"].lower().replace("_", "-") == requirement.name.lower()]
    suffix = f" (+{len(installs) - len(wheels)} deps resolved)" if with_deps else ""
    return (wheels[0].replace("%2B", "+") if wheels else "none") + suffix


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", nargs="+", default=["all", "all-gpu"],
                        help="extras of pyproject.toml to check (default: all all-gpu)")
    parser.add_argument("--platforms", nargs="+", choices=PLATFORMS, default=list(PLATFORMS))
    parser.add_argument("--ignore-markers", action="store_true",
                        help="check every requirement on every platform")
    args = parser.parse_args()
    rows = requirements(args.extras)
    kept = {name: {str(r) for r in requirements(args.extras, None if args.ignore_markers
                                                  else name)}
            for name in args.platforms}
    pip_version = subprocess.check_output([sys.executable, "-m", "pip", "--version"],
                                          text=True).split()[1]
    print(f"Python {PYTHON} wheels for extras {', '.join(args.extras)} (pip {pip_version}); "
          f"'-': not installed there (environment marker)")
    missing = []
    for requirement in rows:
        print(f"\n{requirement}")
        for name in args.platforms:
            cell = resolve(requirement, name) if str(requirement) in kept[name] else "-"
            if cell.startswith("none"):
                missing.append((name, str(requirement)))
            print(f"  {name:<15}{cell}", flush=True)
    print("\nno wheel where the marker keeps the requirement:" if missing else
          "\nevery requirement that its marker keeps has a wheel")
    for name, requirement in missing:
        print(f"  {name:<15}{requirement}")
    return 1 if missing and not args.ignore_markers else 0


if __name__ == "__main__":
    raise SystemExit(main())
