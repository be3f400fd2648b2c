"""The set-up promises of the README: the same pins everywhere, the two commands."""

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from d2l_booktools import platforms as check_platforms
from d2l_compat.registry import FRAMEWORK_REGISTRY

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]
FRAMEWORK_EXTRAS = [f.extra for f in FRAMEWORK_REGISTRY]
CPU_EXTRAS = FRAMEWORK_EXTRAS + ["dev", "book", "grading"]  # environment.yml's
GPU_EXTRAS = [f.gpu_extra for f in FRAMEWORK_REGISTRY]
# A GPU build published under another name than the CPU pin it must match.
GPU_TWINS = {"mxnet-cu117": "mxnet", "tensorflow": "tensorflow-cpu"}


def lines_of(extras) -> list[str]:
    """The requirement lines of ``[project] dependencies`` and ``extras``, as written, with
    an extra that names other extras (``d2l_compat[grid]``) replaced by their lines."""
    def expand(extra):
        for line in EXTRAS[extra]:
            if line.startswith("d2l_compat["):
                for inner in line[len("d2l_compat["):line.index("]")].split(","):
                    yield from expand(inner)
            else:
                yield line
    return list(PROJECT["dependencies"]) + [line for extra in extras for line in expand(extra)]


def pyproject_pins() -> dict[str, str]:
    """name -> version of every requirement in pyproject.toml (one version per name)."""
    pins = {}
    for line in lines_of(EXTRAS):
        requirement = Requirement(line)  # raises for a marker that does not parse
        if requirement.name == PROJECT["name"]:
            continue
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", \
            f"pyproject.toml: {line!r} is not pinned with =="
        name = requirement.name.lower()
        assert pins.setdefault(name, specifiers[0].version) == specifiers[0].version, \
            f"pyproject.toml pins {name} at two versions"
    return pins


def environment_lines() -> list[str]:
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*- python=3\.11\s*$", text, re.M), "environment.yml: python=3.11"
    return [line.strip()[2:].strip('"') for line in text.splitlines()
            if line.strip().startswith("- ") and "==" in line]


def environment_pins() -> dict[str, str]:
    return {Requirement(line).name.lower(): str(Requirement(line).specifier)[2:]
            for line in environment_lines()}


def test_environment_yml_has_the_cpu_extras_with_their_markers():
    expected = [str(Requirement(line)) for line in lines_of(CPU_EXTRAS)]
    assert sorted(str(Requirement(line)) for line in environment_lines()) == sorted(expected)


def test_every_extra_pins_the_versions_of_environment_yml():
    pins, environment = pyproject_pins(), environment_pins()
    for name, version in pins.items():
        twin = GPU_TWINS.get(name, name)
        assert environment.get(name, environment[twin]) == version == environment[twin], name
    assert {"mxnet-cu117", "tensorflow"} <= set(pins)


def test_required_stack_is_pinned():
    pins = pyproject_pins()
    assert pins["numpy"].startswith("1.26.")
    assert pins["torch"] == "2.13.0" and pins["tensorflow-cpu"].startswith("2.21")
    assert pins["mxnet"] == "1.9.1" and pins["jax"] == pins["jaxlib"] == "0.7.1"
    assert pins["flax"].startswith("0.12") and pins["optax"] == "0.2.8"
    assert pins["nbval"].startswith("0.11")


def installed(extras, platform) -> set[str]:
    """What ``pip install '.[extras]'`` asks for on ``platform``, marker-free."""
    return {str(r) for r in check_platforms.requirements(extras, platform)}


CPU_STACK = {"numpy==1.26.4", "matplotlib==3.11.2", "tqdm==4.70.1", "torch==2.13.0", "keras==3.15.1",
             "jax==0.7.1", "jaxlib==0.7.1", "flax==0.12.0", "optax==0.2.8"}


@pytest.mark.parametrize("platform, tensorflow, mxnet", [
    ("linux-x86_64", "tensorflow-cpu==2.21.0", True),
    ("linux-aarch64", "tensorflow==2.21.0", True),
    ("macos-arm64", "tensorflow==2.21.0", False),
    ("windows-amd64", "tensorflow-cpu==2.21.0", False)])
def test_markers_pick_what_has_wheels_on_each_platform(platform, tensorflow, mxnet):
    expected = CPU_STACK | {tensorflow} | ({"mxnet==1.9.1"} if mxnet else set())
    assert installed(["all"], platform) == expected


def test_intel_macs_get_only_mxnet_of_the_four_frameworks():
    # torch, tensorflow and jaxlib publish no macOS x86_64 wheels at these pins
    assert installed(["all"], "macos-x86_64") == {"numpy==1.26.4", "matplotlib==3.11.2", "tqdm==4.70.1",
                                                  "mxnet==1.9.1"}


def test_gpu_extras_replace_the_cpu_builds_on_linux_x86_64():
    gpu = installed(["all-gpu"], "linux-x86_64")
    assert {"tensorflow[and-cuda]==2.21.0", "mxnet-cu117==1.9.1", "jax[cuda12]==0.7.1",
            "torch==2.13.0"} <= gpu
    # one package built twice must not be installed twice
    assert not {"tensorflow-cpu==2.21.0", "mxnet==1.9.1"} & gpu


@pytest.mark.parametrize("platform", ["linux-aarch64", "macos-arm64", "macos-x86_64",
                                      "windows-amd64"])
def test_gpu_extras_fall_back_to_the_cpu_extras_elsewhere(platform):
    assert installed(["all-gpu"], platform) == installed(["all"], platform)


def test_every_marker_parses_and_names_only_known_variables():
    known = {"sys_platform", "platform_machine"}
    for line in lines_of(EXTRAS):
        marker = Requirement(line).marker
        if marker is not None:
            assert set(re.findall(r"[a-z_]+(?= *[=!<>]=|(?= +(?:not )?in ))",
                                  str(marker))) <= known, line
            for platform in check_platforms.PLATFORMS:
                marker.evaluate(check_platforms.marker_environment(platform))


def test_extras_let_a_student_install_one_framework():
    assert set(FRAMEWORK_EXTRAS) | {"all", "dev"} <= set(EXTRAS)
    assert EXTRAS["all"] == [f"d2l_compat[{','.join(FRAMEWORK_EXTRAS)}]"]
    assert set(GPU_EXTRAS) | {"all-gpu"} <= set(EXTRAS)
    assert EXTRAS["all-gpu"] == [f"d2l_compat[{','.join(GPU_EXTRAS)}]"]


def test_ci_runs_exactly_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make setup" in readme and "make test" in readme
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")
                and not line.startswith(("set ", "cd "))]
    assert commands[-2:] == ["make setup", "make test"]
    # Before them only what CI needs beyond the README: the system's Chromium for the book.
    assert all("make" not in c and "pip" not in c for c in commands[:-2]), commands


def make_dry_run(target: str, venv: Path) -> list[str]:
    """The commands ``make -n target`` would run with ``VENV=venv`` (nothing is run)."""
    done = subprocess.run(["make", "-n", "--no-print-directory", target, f"VENV={venv}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("target, command", [("lab", "jupyter lab chapters"),
                                             ("book", "-m d2l_booktools.book")])
def test_lab_and_book_set_up_a_fresh_clone_first_and_only_once(tmp_path, target, command):
    venv = tmp_path / "venv"
    fresh = make_dry_run(target, venv)   # no venv: the whole set-up, then the command
    assert fresh[0] == "make setup", fresh
    assert any("-m venv" in line for line in fresh)
    assert any("pip install" in line for line in fresh)
    assert any("ipykernel install" in line for line in fresh)
    assert any("d2l_compat.fetch" in line for line in fresh)
    assert fresh[-2] == f"touch {venv}/.setup-done" and command in fresh[-1], fresh
    (venv / "bin").mkdir(parents=True)   # set up: the stamp is there
    (venv / "bin" / "python").touch()
    (venv / ".setup-done").touch()
    again = make_dry_run(target, venv)
    assert len(again) == 1 and command in again[0], again


def test_setup_always_runs_and_writes_the_stamp(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".setup-done").touch()
    steps = make_dry_run("setup", venv)  # CI's first command: never skipped by the stamp
    assert any("pip install" in line for line in steps)
    assert steps[-1] == f"touch {venv}/.setup-done"


def test_unit_is_the_fast_lane_and_test_runs_everything(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    [unit] = make_dry_run("unit", venv)
    assert '-m "not slow"' in unit and unit.endswith(" tests")
    pytest_lines = [line for line in make_dry_run("test", venv) if "/pytest " in line]
    assert len(pytest_lines) == 1 and " -m " not in pytest_lines[0]
    assert "tests chapters" in pytest_lines[0] and "--nbval-lax" in pytest_lines[0]
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    markers = options["ini_options"]["markers"]
    assert any(m.startswith("slow:") for m in markers)
    assert "--strict-markers" in options["ini_options"]["addopts"]
