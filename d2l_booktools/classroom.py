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

**No checked answer is printed before the exercises.** ``python -m d2l_booktools.classroom
--check-answers [--chapters ...] [--frameworks ...] [--executed DIR]`` runs each chapter's
solutions (its master notebook's exercises section, in one kernel per call), prints every
question's answer values (the names its solution cells bind, :func:`solution_names`) and
where the executed notebook (the committed one, or ``DIR/<framework>/<chapter>.ipynb``)
prints one of them before ``## Checkable Exercises`` (:func:`printed_forms`: an int with
and without thousands separators, a float as ``repr`` and rounded to 3 or 4 decimals or
significant digits, a shape as its items joined by ``", "``; :func:`find_leaks`); exit 1
if it does. The committed notebooks of the chapters in
:data:`d2l_booktools.sources.PENDING_REEXECUTION` are stale, so without ``--executed`` they
are skipped, with that reason. ``tests/test_exercises.py`` runs the same check.
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
    return run_exercises(paths, replace)[0]


def run_exercises(paths, replace: dict[str, str] | None = None,
                  answers: dict[str, dict[str, list[str]]] | None = None
                  ) -> tuple[dict[str, dict[str, dict]], dict[str, dict[str, dict]]]:
    """Execute the exercises of each notebook of ``paths`` in one Jupyter kernel (as
    :func:`run_checks_of`) and return ``(checks, values)``: ``checks`` as
    :func:`run_checks_of` returns them; ``values`` ``{str(path): {question: {name:
    value}}}``, the values the names of ``answers[str(path)]`` (``{question: [name]}``,
    :func:`solution_names`) hold once the notebook's exercises have run, as
    :func:`answer_json` gives them. Works on a master notebook (as generated) as well as on
    otter's student and autograder notebooks."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    answers = answers or {}
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
        if str(given) in answers:
            run.append(nbformat.v4.new_code_cell(_answers_cell(answers[str(given)])))
            origin.append((str(given), path, None, "(the answers' values)"))
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
    values = {str(given): {} for given in paths if str(given) in answers}
    for cell, (given, *_) in zip(executed.cells, origin):
        for output in cell.get("outputs", []):
            if CHECK_MIME in output.get("data", {}):
                result = output.data[CHECK_MIME]
                results[given][result["question"]] = {"passed": result["passed"],
                                                      "report": result["report"]}
            if ANSWERS_MIME in output.get("data", {}):
                values[given] = dict(output.data[ANSWERS_MIME])
    return results, values


# ---------------------------------------------------------------------------------------------
# No checked answer printed before the exercises

ANSWERS_MIME = "application/vnd.d2l-compat.answers+json"   # how the answers' values come back
MIN_DIGITS = 3
"""A printed form of an answer with fewer digits than this (``21``, ``0.1``, ``1e-07``), or
only zeros (``0.000``), is not looked for: such numbers are in every output (epochs, rates)
and would be found everywhere."""
_MARKER = re.compile(r"^```otter\n#\s*(BEGIN|END)\s+(QUESTION|SOLUTION|TESTS)\b", re.I)


def solution_names(notebook: dict) -> dict[str, list[str]]:
    """``{question: [name]}``: the names each question's solution cells bind at top level
    (assignments, ``def``, ``class``), in order, from a master notebook (as generated)."""
    import ast

    names: dict[str, list[str]] = {}
    question, in_solution = None, False
    for cell in notebook["cells"]:
        text = _text(cell)
        if cell["cell_type"] == "markdown":
            marker = _MARKER.match(text.strip())
            if marker:
                begin, what = marker.group(1).upper() == "BEGIN", marker.group(2).upper()
                if what == "QUESTION":
                    found = _QUESTION.search(text)
                    question = found.group(1) if begin and found else None
                elif what == "SOLUTION":
                    in_solution = begin
            continue
        if not (question and in_solution and cell["cell_type"] == "code"):
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError as err:
            raise ValueError(f"question {question}: a solution cell does not parse ({err})") \
                from None
        bound = names.setdefault(question, [])
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found = [node.name]
            else:
                targets = (node.targets if isinstance(node, ast.Assign) else
                           [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign))
                           else [])
                found = [leaf.id for target in targets for leaf in ast.walk(target)
                         if isinstance(leaf, ast.Name)]
            bound += [name for name in found if name not in bound]
    return names


def answer_json(value):
    """An answer's value as JSON for :func:`printed_forms`: numbers, strings and nested
    lists of them as they are (numpy scalars and arrays converted, tuples as lists); a
    function as ``{"function": name}``, a bool as ``{"bool": value}`` and anything else
    as ``{"type": its type name}``: none of these has a printed form to look for.

    >>> import numpy as np
    >>> answer_json((6, np.int64(28), 28)), answer_json(np.float32(0.5)), answer_json(len)
    ([6, 28, 28], 0.5, {'function': 'len'})
    """
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if isinstance(value, bool) or (np is not None and isinstance(value, np.bool_)):
        return {"bool": bool(value)}
    if np is not None and isinstance(value, np.generic):
        value = value.item()
    if np is not None and isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [answer_json(item) for item in value]
    if callable(value):
        return {"function": getattr(value, "__name__", type(value).__name__)}
    return {"type": type(value).__name__}


def _answers_cell(names: dict[str, list[str]]) -> str:
    """A cell that displays the values of ``names`` (``{question: [name]}``) as
    :data:`ANSWERS_MIME`."""
    return ("import IPython.display as _d2l_display\n"
            "from d2l_booktools.classroom import answer_json as _d2l_answer_json\n"
            "_d2l_display.display({%r: {_q: {_n: _d2l_answer_json(globals().get(_n)) "
            "for _n in _names} for _q, _names in %r.items()}}, raw=True)\n"
            "del _d2l_display, _d2l_answer_json" % (ANSWERS_MIME, names))


def _digits(form: str) -> int:
    """The digits of a number's printed form (its mantissa); 0 when they are all zeros."""
    digits = [ch for ch in form.split("e")[0] if ch.isdigit()]
    return len(digits) if any(ch != "0" for ch in digits) else 0


def printed_forms(value) -> list[str]:
    """The texts an answer's value (:func:`answer_json`) may be printed as, that
    :func:`find_leaks` looks for: for an int its digits, with thousands separators (``,``
    and ``_``); for a float ``repr`` and its forms rounded to 3 and 4 decimals or
    significant digits; for a shape (a list of ints) its items joined by ``", "``; for a
    list of other values the forms of each item (a one-int shape in a list of shapes
    left out). Forms with fewer than :data:`MIN_DIGITS` digits are left out; strings,
    bools and functions have none.

    >>> printed_forms(61706), printed_forms([6, 28, 28]), printed_forms(21)
    (['61706', '61,706', '61_706'], ['6, 28, 28'], [])
    >>> printed_forms(0.4233), printed_forms([[16, 5, 5], [400]])
    (['0.4233', '0.423'], ['16, 5, 5'])
    """
    if isinstance(value, bool) or isinstance(value, (str, dict)) or value is None:
        return []
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, int):
        forms = [str(value), f"{value:,}", f"{value:_}"]
    elif isinstance(value, float):
        forms = [repr(value), f"{value:.4f}", f"{value:.3f}", f"{value:.4g}", f"{value:.3g}"]
    elif isinstance(value, list):
        if len(value) > 1 and all(isinstance(v, int) and not isinstance(v, bool)
                                  for v in value):
            forms = [", ".join(map(str, value))]
        elif len(value) == 1:
            return printed_forms(value[0])
        else:  # a list of shapes: a one-int shape, (256,), reads like any other number
            return list(dict.fromkeys(f for item in value for f in printed_forms(item)
                                      if not (isinstance(item, list) and len(item) == 1)))
    else:
        return []
    return [f for f in dict.fromkeys(forms) if _digits(f) >= MIN_DIGITS]


_TEXT_OUTPUTS = ("text/plain", "text/markdown", "text/html", "text/latex")


def output_texts(cell: dict) -> list[str]:
    """The texts a code cell printed or displayed (streams, and the text forms of its
    results and displays; images and errors left out)."""
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(_text({"source": output.get("text", "")}))
        for mime in _TEXT_OUTPUTS:
            if mime in output.get("data", {}):
                texts.append(_text({"source": output["data"][mime]}))
    return texts


def find_leaks(notebook: dict, values: dict[str, dict]) -> list[str]:
    """Where an executed notebook prints a checked answer before its ``## Checkable
    Exercises`` section: one line per (question, answer, form, cell) found, e.g.
    ``q2 num_params = 61706: '61,706' in the output of cell 12: ...61,706 trainable...``.

    ``values`` is ``{question: {name: value}}`` (:func:`run_exercises`); a form counts
    where it stands alone (no digit, letter, ``.`` or ``,`` before it, no digit or letter
    after it, nor ``.`` or ``,`` and a digit).
    """
    start = exercise_section(notebook).start
    texts = [(i, text) for i, cell in enumerate(notebook["cells"][:start])
             if cell["cell_type"] == "code" for text in output_texts(cell)]
    leaks = []
    for question, answers in values.items():
        for name, value in answers.items():
            for form in printed_forms(value):
                pattern = re.compile(r"(?<![\w.,])" + re.escape(form) + r"(?![\w]|[.,]\d)")
                for i, text in texts:
                    found = pattern.search(text)
                    if found:
                        line = text[text.rfind("\n", 0, found.start()) + 1:].split("\n")[0]
                        leaks.append(f"{question} {name} = {value!r}: {form!r} in the output "
                                     f"of cell {i}: {line.strip()[:120]}")
                        break
    return leaks


def answers_of(chapter, framework: str, workdir: Path) -> dict[str, dict]:
    """``{question: {name: value}}``: the values of the answers of ``chapter`` (a
    :class:`d2l_booktools.sources.ChapterSource`) for ``framework``, from its master
    notebook's solutions (:func:`solution_names`, :func:`run_exercises`)."""
    return answers_of_many([(chapter, framework)], workdir)[chapter.name, framework]


def answers_of_many(pairs, workdir: Path) -> dict[tuple[str, str], dict[str, dict]]:
    """:func:`answers_of` for each ``(chapter, framework)`` of ``pairs``, in one kernel."""
    import nbformat

    from d2l_booktools.sources import generate

    paths, names, keys = [], {}, {}
    for chapter, framework in pairs:
        master = generate(chapter, framework)
        path = Path(workdir) / framework / f"{chapter.name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(nbformat.writes(nbformat.from_dict(master)))
        paths.append(path)
        names[str(path)] = solution_names(master)
        keys[str(path)] = (chapter.name, framework)
    _, values = run_exercises(paths, answers=names)
    return {keys[path]: found for path, found in values.items()}


def check_answers(chapters=None, frameworks=FRAMEWORKS, executed: Path | None = None) -> int:
    """``--check-answers``: per chapter and framework, the answers' values and the leaks
    (:func:`find_leaks`) in the executed notebook; 1 if any answer is printed before the
    exercises, else 0. Without ``executed`` the committed notebooks are read, and a chapter
    of :data:`d2l_booktools.sources.PENDING_REEXECUTION` is skipped (its committed outputs
    are stale), with that reason."""
    from d2l_booktools.sources import (CHAPTERS_DIR, PENDING_REEXECUTION, chapter_sources,
                                       read_source)

    paths = ([CHAPTERS_DIR / f"{name}.md" for name in chapters] if chapters
             else chapter_sources())
    folder = executed or CHAPTERS_DIR
    pairs = []
    for path in paths:
        chapter = read_source(path)
        if executed is None and chapter.name in PENDING_REEXECUTION:
            print(f"{chapter.name}: skipped, it awaits re-execution (PENDING_REEXECUTION): its "
                  "committed outputs are stale")
            continue
        pairs += [(chapter, fw) for fw in frameworks
                  if (folder / fw / f"{chapter.name}.ipynb").exists()]
    leaks = 0
    with tempfile.TemporaryDirectory(prefix="d2l_answers_") as tmp:
        values = answers_of_many(pairs, Path(tmp)) if pairs else {}
    for (name, fw), answers in values.items():
        notebook = json.loads((folder / fw / f"{name}.ipynb").read_text())
        found = find_leaks(notebook, answers)
        leaks += len(found)
        shown = "; ".join(f"{q}: " + ", ".join(f"{n} = {v!r}" for n, v in a.items())
                          for q, a in answers.items())
        print(f"{fw}/{name}: {shown}")
        for line in found or ["no checked answer is printed before the exercises"]:
            print(f"  {line}")
    return 1 if leaks else 0


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
    parser.add_argument("--check-answers", action="store_true",
                        help="assign nothing: run the solutions of each chapter and framework, "
                             "print every question's answer values and where the executed "
                             "notebook prints one before its exercises (exit 1 if it does)")
    parser.add_argument("--executed", type=Path, default=None, metavar="DIR",
                        help="with --check-answers: the executed notebooks are "
                             "DIR/<framework>/<chapter>.ipynb (default: the committed ones in "
                             "chapters/, skipping the chapters of PENDING_REEXECUTION)")
    args = parser.parse_args(argv)
    if args.check_answers:
        return check_answers(args.chapters, args.frameworks, args.executed)
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
