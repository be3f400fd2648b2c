"""Classroom versions of the chapters: checkable exercises graded with otter-grader.

Every chapter source has a section ``## Checkable Exercises`` written in otter-grader's
*assign* format (https://otter-grader.readthedocs.io, format v1), so each notebook that
``python -m d2l_booktools.sources`` generates is an otter **master notebook**:

* a Markdown cell with a fenced ``otter`` block ``# ASSIGNMENT CONFIG`` (the YAML below);
* per question, fenced ``# BEGIN QUESTION`` (``name: q1``) ... ``# END QUESTION`` cells around
  the prompt, a ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` block of solution cells (lines
  ending in ``# SOLUTION`` or between ``# BEGIN SOLUTION`` / ``# END SOLUTION`` comments
  become ``...`` in the student version) and a ``# BEGIN TESTS`` ... ``# END TESTS`` block of
  test cells. A test cell is one function whose arguments otter takes from the notebook's
  variables, and a call of it (so the master notebook checks its own solutions when it
  runs); a test cell whose first line is ``# HIDDEN`` is only in the autograder.

The section is self-contained: its first code cells import what the exercises use, and no
exercise trains anything, so the checks run in seconds without executing the chapter.

``python -m d2l_booktools.classroom`` (``make student``) runs ``otter assign`` on every chapter and
framework and writes ``dist/<framework>/<chapter>/``:

* ``student/<chapter>.ipynb``: solutions replaced by ``...``, hidden tests removed, a
  ``grader.check("q1")`` cell after every question and otter's set-up cell at the top;
* ``autograder/<chapter>.ipynb``: the solutions with all tests (public and hidden);
* ``autograder/<chapter>-autograder_<time>.zip``: the Gradescope autograder.

Before assigning, every code cell outside the exercises section is tagged ``otter_ignore``, so
grading a submission runs only the exercises, not the chapter's training.

The notebooks' tests use :func:`require_answer` so that a blank answer fails its check with a
message that says what to do, and the chapters end with :func:`execution_time`.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from d2l_compat.files import project_root
from d2l_compat.registry import FRAMEWORKS

EXERCISES_HEADING = "## Checkable Exercises"
IGNORE_TAG = "otter_ignore"
DIST_DIR = project_root() / "dist"
_CHECK = re.compile(r"""^grader\.check\(["'](\w+)["']\)\s*$""")
_QUESTION = re.compile(r"#\s*BEGIN\s+QUESTION\s*\n\s*name:\s*(\w+)", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# The exercises section of a notebook


def _text(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def exercise_section(notebook: dict) -> range:
    """Indices of the cells of the ``## Checkable Exercises`` section (up to the next ``## ``
    or ``# `` heading); ValueError if the notebook has none."""
    cells = notebook["cells"]
    starts = [i for i, c in enumerate(cells)
              if c["cell_type"] == "markdown" and _text(c).startswith(EXERCISES_HEADING)]
    if len(starts) != 1:
        raise ValueError(f"a notebook has one {EXERCISES_HEADING!r} section, found {len(starts)}")
    end = next((i for i in range(starts[0] + 1, len(cells))
                if cells[i]["cell_type"] == "markdown"
                and re.match(r"#{1,2} ", _text(cells[i]))), len(cells))
    return range(starts[0], end)


def is_grading_marker(markdown: str) -> bool:
    """Whether a Markdown cell is only an otter fence (``# BEGIN QUESTION``, ``# ASSIGNMENT
    CONFIG``...): markers for otter assign, which the book leaves out.

    >>> is_grading_marker("```otter\\n# END TESTS\\n```"), is_grading_marker("## Exercises")
    (True, False)
    """
    return bool(re.fullmatch(r"```otter\n.*\n```", markdown.strip(), flags=re.S))


def questions(notebook: dict) -> list[str]:
    """The question names of a master notebook, in order."""
    return [m.group(1) for c in notebook["cells"] if c["cell_type"] == "markdown"
            for m in _QUESTION.finditer(_text(c))]


def grading_master(notebook: dict) -> dict:
    """A copy of ``notebook`` whose code cells outside the exercises are tagged
    ``otter_ignore``: grading a submission runs only the exercises."""
    notebook = copy.deepcopy(notebook)
    section = exercise_section(notebook)
    for i, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code" and i not in section:
            tags = cell.setdefault("metadata", {}).setdefault("tags", [])
            if IGNORE_TAG not in tags:
                tags.append(IGNORE_TAG)
    return notebook


CHECK_MIME = "application/vnd.d2l-compat.check+json"  # how a check cell reports back
THIS_PYTHON = "python3"          # the kernel's name: this interpreter (_this_python_kernel)
CHECK_TIMEOUT = 600                                   # seconds per cell


def _check_cell(source: str, question: str) -> str:
    """A ``grader.check`` cell that also displays its result as :data:`CHECK_MIME`. The check
    stays a top-level call: otter takes the notebook's variables from the calling frame."""
    return (f"_d2l_check = {source.strip()}\n"
            "import IPython.display as _d2l_display\n"
            "_d2l_display.display({%r: {'question': %r, 'passed': bool(_d2l_check.passed_all), "
            "'report': repr(_d2l_check)}}, raw=True)\n"
            "del _d2l_check, _d2l_display" % (CHECK_MIME, question))


def _this_python_kernel():
    """A kernel manager class (for nbclient) whose ``python3`` kernel is this very
    interpreter (ipykernel's own kernel spec), whatever kernels are installed: the checks
    run in the environment that runs them."""
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisPythonSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            if kernel_name == THIS_PYTHON:
                return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                              **ipykernel.kernelspec.get_kernel_dict())
            return super().get_kernel_spec(kernel_name)

    class ThisPythonKernel(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _this_python_specs(self):
            return ThisPythonSpecs(data_dir=self.data_dir)

    return ThisPythonKernel


def _start_cell(folder: Path) -> str:
    """The cell run before each notebook's cells: an empty namespace, in its folder."""
    return (f"%reset -f\nimport os as _d2l_os\n_d2l_os.chdir({str(folder)!r})\n"
            "del _d2l_os")


def run_checks(path: str | Path, replace: dict[str, str] | None = None) -> dict[str, dict]:
    """Execute the exercise cells of an otter student or autograder notebook in a fresh
    Jupyter kernel (``nbclient``: otter's set-up cell, then the ``## Checkable Exercises``
    section) and return, per ``grader.check`` cell, ``{"passed": bool, "report": str}``.

    The cells run in the notebook's folder (otter reads the tests from the notebook file
    there). An exception in an exercise cell raises RuntimeError with the cell's source: a
    notebook as generated must run through. ``replace`` maps a source line to the line to
    run instead (to try a wrong answer).
    """
    return run_checks_of([path], replace)[str(path)]


def run_checks_of(paths, replace: dict[str, str] | None = None) -> dict[str, dict[str, dict]]:
    """:func:`run_checks` of each notebook of ``paths``, ``{str(path): results}``, in one
    Jupyter kernel: each notebook starts with an empty namespace (``%reset -f``) in its own
    folder, and the framework is imported once for all of them."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    run, origin = [], []   # the cells to execute; per cell (notebook, its cell, source)
    for given in paths:
        path = Path(given).resolve()
        notebook = json.loads(path.read_text())
        cells = notebook["cells"]
        chosen = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
                  and "grader = otter.Notebook(" in _text(c)]
        chosen += [i for i in exercise_section(notebook) if cells[i]["cell_type"] == "code"]
        run.append(nbformat.v4.new_code_cell(_start_cell(path.parent)))
        origin.append((str(given), path, None, ""))
        for i in chosen:
            source = _text(cells[i])
            for old, new in (replace or {}).items():
                source = source.replace(old, new)
            check = _CHECK.match(source.strip())
            run.append(nbformat.v4.new_code_cell(_check_cell(source, check.group(1)) if check
                                                 else source))
            origin.append((str(given), path, i, source))
    executed = nbformat.v4.new_notebook(cells=run)
    first = Path(paths[0]).resolve().parent if paths else Path.cwd()
    client = NotebookClient(executed, timeout=CHECK_TIMEOUT, kernel_name=THIS_PYTHON,
                            kernel_manager_class=_this_python_kernel(),
                            resources={"metadata": {"path": str(first)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        failed = next((k for k, cell in enumerate(executed.cells)
                       if any(o.output_type == "error" for o in cell.get("outputs", []))),
                      None)
        if failed is None:
            raise
        error = next(o for o in executed.cells[failed].outputs if o.output_type == "error")
        _, path, i, source = origin[failed]
        raise RuntimeError(f"{path}: cell {i} raised {error.ename}({error.evalue!r}):\n"
                           f"{source}") from exc
    results = {str(given): {} for given in paths}
    for cell, (given, *_) in zip(executed.cells, origin):
        for output in cell.get("outputs", []):
            if CHECK_MIME in output.get("data", {}):
                result = output.data[CHECK_MIME]
                results[given][result["question"]] = {"passed": result["passed"],
                                                      "report": result["report"]}
    return results


# ---------------------------------------------------------------------------------------------
# otter assign


def assign(chapter, framework: str, out: Path = DIST_DIR) -> Path:
    """Run ``otter assign`` on the master notebook of ``chapter`` (a
    :class:`d2l_booktools.sources.ChapterSource`) for ``framework``; return
    ``out/<framework>/<chapter>/`` with ``student/`` and ``autograder/``."""
    import nbformat
    from otter.assign import main as otter_assign

    from d2l_booktools.sources import generate

    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    target = Path(out) / framework / chapter.name
    master = grading_master(generate(chapter, framework))
    if not questions(master):
        raise ValueError(f"{chapter.path}: no otter question in {EXERCISES_HEADING!r}")
    with tempfile.TemporaryDirectory(prefix="d2l_assign_") as tmp:
        master_path = Path(tmp) / f"{chapter.name}.ipynb"
        master_path.write_text(nbformat.writes(nbformat.from_dict(master)))
        built = Path(tmp) / "dist"
        cwd = os.getcwd()
        try:  # otter's API, in this process: one import of otter for all notebooks
            otter_assign(str(master_path), str(built), no_pdfs=True, no_run_tests=True)
        except Exception as exc:
            raise RuntimeError(f"otter assign failed on {chapter.name} ({framework}): "
                               f"{exc}") from exc
        finally:
            os.chdir(cwd)
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(built, target)
    return target


def main(argv=None) -> int:
    from d2l_booktools.sources import CHAPTERS_DIR, chapter_sources, read_source

    parser = argparse.ArgumentParser(prog="python -m d2l_booktools.classroom",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DIST_DIR,
                        help="write OUT/<framework>/<chapter>/ (default: dist/)")
    parser.add_argument("--chapters", nargs="*", default=None,
                        help="chapter names (default: every chapters/*.md)")
    parser.add_argument("--frameworks", nargs="*", default=list(FRAMEWORKS),
                        choices=FRAMEWORKS)
    parser.add_argument("--run-checks", nargs="+", type=Path, metavar="NOTEBOOK",
                        help="assign nothing: run the exercises and checks of these otter "
                             "student/autograder notebooks and print the results as JSON")
    parser.add_argument("--replace", nargs=2, action="append", default=[],
                        metavar=("OLD", "NEW"), help="with --run-checks: run NEW instead of "
                        "the source line OLD")
    args = parser.parse_args(argv)
    if args.run_checks:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):  # what the cells print
            results = run_checks_of(args.run_checks, dict(args.replace))
        print(json.dumps(results))
        return 0
    paths = ([CHAPTERS_DIR / f"{name}.md" for name in args.chapters] if args.chapters
             else chapter_sources())
    for path in paths:
        if not path.exists():
            parser.error(f"no chapter source {path}")
        chapter = read_source(path)
        for framework in args.frameworks:
            target = assign(chapter, framework, args.out)
            print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
