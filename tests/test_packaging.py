"""The set-up promises of the README: the same pins everywhere, the two commands."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$")


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra, deps in project["optional-dependencies"].items():
        requirements += [d for d in deps if not d.startswith("d2l_compat")]
    pins = {}
    for requirement in requirements:
        match = PIN.match(requirement)
        assert match, f"pyproject.toml: {requirement!r} is not pinned with =="
        pins[match[1].lower()] = match[2]
    return pins


def environment_pins() -> dict[str, str]:
    text = (ROOT / "environment.yml").read_text()
    pins = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("- ") and "==" in line:
            name, version = line[2:].split("==")
            pins[name.strip().lower()] = version.strip()
    assert re.search(r"^\s*- python=3\.11\s*$", text, re.M), "environment.yml: python=3.11"
    return pins


def test_environment_yml_and_pyproject_name_the_same_versions():
    assert environment_pins() == pyproject_pins()


def test_required_stack_is_pinned():
    pins = pyproject_pins()
    assert pins["numpy"].startswith("1.26.")
    assert pins["torch"] == "2.13.0" and pins["tensorflow-cpu"].startswith("2.21")
    assert pins["mxnet"] == "1.9.1" and pins["jax"] == pins["jaxlib"] == "0.7.1"
    assert pins["flax"].startswith("0.12") and pins["optax"] == "0.2.8"
    assert pins["nbval"].startswith("0.11")


def test_extras_let_a_student_install_one_framework():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert {"torch", "tensorflow", "mxnet", "jax", "all", "dev"} <= set(extras)
    assert extras["all"] == ["d2l_compat[torch,tensorflow,mxnet,jax]"]


def test_ci_runs_exactly_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make setup" in readme and "make test" in readme
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")
                and not line.startswith(("set ", "cd "))]
    assert commands[-2:] == ["make setup", "make test"]
    # Before them only what CI needs beyond the README: the system's Chromium for the book.
    assert all("make" not in c and "pip" not in c for c in commands[:-2]), commands
