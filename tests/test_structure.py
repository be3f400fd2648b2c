"""The package structure the redesign promises, checked so that each promise can fail.

* a notebook's ``from d2l_compat import <room>`` loads nothing of the book's tooling
  (``d2l_booktools``) and nothing of the grid's machinery (Dask, the kernel protocol);
* only the run-context module (``d2l_compat/context.py``) reads the environment;
* ``d2l_compat.registry`` is the only place that lists the four frameworks;
* the library never imports the tooling package.

Every check but the first reads the sources (``ast``), so it runs in well under a second.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from d2l_compat.registry import FRAMEWORK_REGISTRY, FRAMEWORKS, ROOMS

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "d2l_compat"
TOOLING = "d2l_booktools"
# The grid's machinery: the Dask cluster and its wire protocol, and the notebook kernels'
# protocol (nbclient over jupyter_client). A notebook importing its room needs none of it.
GRID_PACKAGES = ("dask", "distributed", "nbclient", "jupyter_client")
# The one module that reads the environment (and where the registry lives).
CONTEXT_MODULE = LIBRARY / "context.py"
REGISTRY_MODULE = LIBRARY / "registry.py"
# Folders whose Python files must not spell out the framework list.
REGISTRY_READERS = ("d2l_compat", "d2l_booktools", "tests", "benchmarks")


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py")
                  if "__pycache__" not in path.parts)


def parse(path: Path) -> ast.Module:
    """``path``'s syntax tree; IPython's ``%magic`` and ``!shell`` lines (in D2L's verbatim
    notebook code under tests/d2l_code) are read as blank lines."""
    text = path.read_text()
    try:
        return ast.parse(text, filename=str(path))
    except SyntaxError:
        plain = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                          for line in text.splitlines())
        return ast.parse(plain, filename=str(path))


def relative(path: Path) -> str:
    """``path`` from the project root (its bare name outside the project: a test's file)."""
    return str(path.relative_to(ROOT)) if ROOT in path.parents else path.name


# ---------------------------------------------------------------------------------------------
# A room's import, in a clean interpreter


def loaded_by(statement: str, cwd: Path) -> list[str]:
    """The modules ``statement`` leaves in ``sys.modules`` of a fresh, isolated interpreter
    (``-I``: no PYTHONPATH, no user site, not this folder)."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                          cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def forbidden(modules: list[str]) -> list[str]:
    """The modules of the tooling package or of the grid's machinery among ``modules``."""
    return [m for m in modules if m.split(".")[0] in (TOOLING, *GRID_PACKAGES)]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_room_loads_no_tooling_and_no_grid_machinery(framework, tmp_path):
    room = ROOMS[framework]
    if importlib.util.find_spec(room) is None:
        pytest.skip(f"{room} is not installed")
    modules = loaded_by(f"from d2l_compat import {room}", tmp_path)
    assert f"d2l_compat.{room}" in modules
    assert forbidden(modules) == [], (
        f"`from d2l_compat import {room}` loads {forbidden(modules)}: a notebook's import "
        "must not pull in the book's tooling or the grid")


def test_the_package_itself_loads_no_tooling_and_no_framework(tmp_path):
    modules = loaded_by("import d2l_compat, d2l_compat.registry, d2l_compat.context", tmp_path)
    assert forbidden(modules) == []
    assert not [m for m in modules if m.split(".")[0] in ROOMS.values()]


def test_the_check_sees_a_forbidden_module(tmp_path):
    # the same check, on an import that does load the tooling: it must say so
    modules = loaded_by("import d2l_compat, d2l_booktools.gridrecords", tmp_path)
    assert "d2l_booktools.gridrecords" in forbidden(modules)


# ---------------------------------------------------------------------------------------------
# Reading the environment


ENV_TEXT = re.compile(r"\bos\s*\.\s*(environ|environb|getenv|getenvb|putenv|unsetenv)\b"
                      r"|\bfrom\s+os\s+import\b[^\n]*\b(environ|getenv)\b")
ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def code_only(text: str) -> list[str]:
    """The lines of ``text`` with every string literal and comment blanked out (so that
    prose mentioning ``os.environ`` is not a read)."""
    lines = text.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in (tokenize.STRING, tokenize.COMMENT):
            continue
        (row, col), (end_row, end_col) = token.start, token.end
        for number in range(row, end_row + 1):
            line = lines[number - 1]
            start = col if number == row else 0
            stop = end_col if number == end_row else len(line)
            lines[number - 1] = line[:start] + " " * (stop - start) + line[stop:]
    return lines


def environment_reads(path: Path) -> list[str]:
    """``'file:line: text'`` for every use of the process environment in ``path``: a grep for
    ``os.environ`` / ``os.getenv`` (...) in its code (strings and comments left out), and
    the same in its syntax tree, which also sees ``import os as o; o.environ``."""
    text = path.read_text()
    hits = {number for number, line in enumerate(code_only(text), 1) if ENV_TEXT.search(line)}
    tree = ast.parse(text, filename=str(path))
    os_names = {"os"} | {alias.asname for node in ast.walk(tree) if isinstance(node, ast.Import)
                         for alias in node.names if alias.name == "os" and alias.asname}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in ENV_NAMES
                and isinstance(node.value, ast.Name) and node.value.id in os_names):
            hits.add(node.lineno)
        elif (isinstance(node, ast.ImportFrom) and node.module in ("os", "posix", "nt")
              and any(alias.name in ENV_NAMES for alias in node.names)):
            hits.add(node.lineno)
    lines = text.splitlines()
    return [f"{relative(path)}:{n}: {lines[n - 1].strip()}" for n in sorted(hits)]


def test_only_the_context_module_reads_the_environment():
    reads = [hit for path in python_files("d2l_compat") if path != CONTEXT_MODULE
             for hit in environment_reads(path)]
    assert reads == [], ("only d2l_compat/context.py reads the environment; ask "
                         "d2l_compat.context.current() instead:\n" + "\n".join(reads))
    assert environment_reads(CONTEXT_MODULE), "the context module reads the environment"


def test_the_environment_check_sees_every_spelling(tmp_path):
    module = tmp_path / "module.py"
    module.write_text('"""Reads os.environ? Not this docstring."""\n'
                      "import os as system\n"
                      "from os import getenv\n"
                      "mode = os.environ.get('D2L_MODE')\n"
                      "seed = system.environ['D2L_SEED']\n"
                      "# os.getenv('X') in a comment\n")
    assert [hit.split(":")[1] for hit in environment_reads(module)] == ["3", "4", "5"]


def test_the_native_module_only_redirects_file_descriptors():
    # d2l_compat/_native.py silences native stderr by dup'ing fd 2: no environment there
    native = LIBRARY / "_native.py"
    if not native.exists():
        pytest.skip("no d2l_compat/_native.py")
    assert environment_reads(native) == []
    calls = {node.func.attr for node in ast.walk(parse(native)) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
             and node.func.value.id == "os"}
    assert calls <= {"dup", "dup2", "open", "close", "fsync"}, calls


# ---------------------------------------------------------------------------------------------
# One list of frameworks


def _strings(nodes) -> set[str]:
    return {node.value for node in nodes
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def framework_lists(path: Path) -> list[str]:
    """``'file:line'`` of every literal list, tuple, set or dict (keys or values) in ``path``
    that holds all four framework names (or all four room names), and every
    ``"... ... ... ...".split()`` that does."""
    names = set(FRAMEWORKS)
    rooms = set(ROOMS.values())
    hits = []
    for node in ast.walk(parse(path)):
        groups = []
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            groups.append(_strings(node.elts))
        elif isinstance(node, ast.Dict):
            groups += [_strings(k for k in node.keys if k is not None), _strings(node.values)]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "split" and isinstance(node.func.value, ast.Constant)
              and isinstance(node.func.value.value, str)):
            groups.append(set(re.split(r"[\s,]+", node.func.value.value)))
        if any(names <= group or rooms <= group for group in groups):
            hits.append(f"{relative(path)}:{node.lineno}")
    return hits


def test_the_registry_is_the_only_list_of_frameworks():
    assert len(FRAMEWORK_REGISTRY) == len(FRAMEWORKS) == len(ROOMS)
    offenders = [hit for path in python_files(*REGISTRY_READERS) if path != REGISTRY_MODULE
                 for hit in framework_lists(path)]
    assert offenders == [], ("spell the frameworks as d2l_compat.registry.FRAMEWORKS (or "
                             "ROOMS, framework(name)), not as a literal:\n" + "\n".join(offenders))


def test_the_framework_list_check_sees_a_literal(tmp_path):
    module = tmp_path / "module.py"
    quoted = ", ".join(repr(name) for name in FRAMEWORKS)
    rooms = ", ".join(f"{name!r}: {room!r}" for name, room in ROOMS.items())
    module.write_text(f"A = [{quoted}]\nB = {{{rooms}}}\nC = {' '.join(FRAMEWORKS)!r}.split()\n"
                      f"D = ({quoted[:quoted.rindex(',')]})\n")
    assert framework_lists(module) == ["module.py:1", "module.py:2", "module.py:3"]


# ---------------------------------------------------------------------------------------------
# The library never imports the tooling


def tooling_imports(path: Path) -> list[str]:
    """``'file:line: module'`` of every import of the tooling package in ``path``: import
    statements (also inside functions) and ``importlib.import_module`` / ``__import__``
    calls with a literal name."""
    hits = []
    for node in ast.walk(parse(path)):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name)
                       and node.func.id in ("__import__", "import_module")))):
            modules = [node.args[0].value]
        hits += [f"{relative(path)}:{node.lineno}: {m}" for m in modules
                 if m.split(".")[0] == TOOLING]
    return hits


def test_the_library_never_imports_the_tooling():
    imports = [hit for path in python_files("d2l_compat") for hit in tooling_imports(path)]
    assert imports == [], "d2l_compat must not import d2l_booktools:\n" + "\n".join(imports)


def test_the_import_check_sees_every_form(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("import d2l_booktools.regress\n"
                      "def f():\n    from d2l_booktools import tables\n"
                      "import importlib\nimportlib.import_module('d2l_booktools.book')\n"
                      "from d2l_compat import registry\n")
    assert [h.split(":")[1] for h in tooling_imports(module)] == ["1", "3", "5"]
    # and the tooling does import the library, so the check reads real imports
    assert any("d2l_compat" in line for path in python_files(TOOLING)
               for line in path.read_text().splitlines() if line.startswith("from d2l_compat"))
