"""The checkable exercises (otter-grader) of every chapter: `make student` and the checks.

otter assign runs once on every chapter and framework (into a temporary dist/); then, per
framework and kind, ``python -m d2l_booktools.classroom --run-checks`` executes otter's set-up
cell and the exercises section of each autograder notebook (solutions, all tests) or each
student notebook (as generated) in one Jupyter kernel (nbclient), and reports every
``grader.check``. Those tests are marked slow (a kernel importing each framework); the
rest is in ``make unit``.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import framework_missing
from d2l_compat import FRAMEWORKS
from d2l_compat.exercises import execution_time, require_answer
from d2l_booktools.classroom import (IGNORE_TAG, assign, exercise_section, grading_master,
                                     questions)
from d2l_booktools.sources import chapter_sources, generate, read_source

pytest.importorskip("otter", reason="otter-grader is not installed (pip install -e '.[grading]')")

CHAPTERS = [read_source(path) for path in chapter_sources()]
MIN_PER_CHAPTER = 3


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    for chapter in CHAPTERS:
        for framework in FRAMEWORKS:
            assign(chapter, framework, out)
    return out


def _notebooks(dist, framework, kind):
    return [dist / framework / c.name / kind / f"{c.name}.ipynb" for c in CHAPTERS]


def _run_checks(notebooks, *replace):
    args = [a for pair in replace for a in ("--replace", *pair)]
    done = subprocess.run([sys.executable, "-m", "d2l_booktools.classroom", "--run-checks",
                           *map(str, notebooks), *args], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return {Path(k).parent.parent.name: v
            for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


@pytest.fixture(scope="module")
def outcomes(dist):
    """framework -> kind -> chapter -> question -> {"passed", "report"}, run lazily."""
    cache = {}

    def get(framework, kind):
        if (reason := framework_missing(framework)):
            pytest.skip(reason)
        if (framework, kind) not in cache:
            cache[framework, kind] = _run_checks(_notebooks(dist, framework, kind))
        return cache[framework, kind]
    return get


def test_at_least_three_questions_per_chapter_and_framework_48_in_all():
    counts = {(c.name, f): len(questions(generate(c, f))) for c in CHAPTERS for f in FRAMEWORKS}
    assert min(counts.values()) >= MIN_PER_CHAPTER, counts
    assert sum(counts.values()) >= MIN_PER_CHAPTER * len(FRAMEWORKS) * len(CHAPTERS)
    if len(CHAPTERS) >= 4:
        assert sum(counts.values()) >= 48


@pytest.mark.slow  # a Jupyter kernel per notebook, importing its framework
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_check_passes_on_the_solutions(outcomes, framework):
    results = outcomes(framework, "autograder")
    for chapter in CHAPTERS:
        got = results[chapter.name]
        assert list(got) == questions(generate(chapter, framework)), chapter.name
        failed = {q: r["report"] for q, r in got.items() if not r["passed"]}
        assert not failed, f"{framework}/{chapter.name}: {failed}"


@pytest.mark.slow  # a Jupyter kernel per notebook, importing its framework
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_check_fails_on_the_student_notebook_with_a_clear_message(outcomes, framework):
    # the notebook as generated runs through (run_checks raises if a cell does), and each
    # blank answer fails its check by name instead of with an error inside the test
    results = outcomes(framework, "student")
    for chapter in CHAPTERS:
        got = results[chapter.name]
        assert list(got) == questions(generate(chapter, framework)), chapter.name
        for question, result in got.items():
            assert not result["passed"], f"{framework}/{chapter.name} {question} passes blank"
            assert re.search(r"`.+` is not answered yet: replace the `\.\.\.`", result["report"]), \
                result["report"]


@pytest.mark.slow  # a Jupyter kernel per notebook, importing its framework
def test_a_wrong_answer_passes_the_public_check_and_fails_the_hidden_one(dist):
    # lr_scheduler q2: one epoch too early is an int (public test) but not the floor (hidden)
    framework = "jax" if not framework_missing("jax") else "pytorch"
    notebook = dist / framework / "lr_scheduler"
    solution = ("floor_step = math.ceil(math.log(0.01 / 0.3) / math.log(0.85))",
                "floor_step = math.floor(math.log(0.01 / 0.3) / math.log(0.85))")
    graded = _run_checks([notebook / "autograder" / "lr_scheduler.ipynb"], solution)
    q2 = graded["lr_scheduler"]["q2"]
    assert not q2["passed"] and "above the floor" in q2["report"], q2["report"]
    student = json.loads((notebook / "student" / "lr_scheduler.ipynb").read_text())
    public = student["metadata"]["otter"]["tests"]["q2"]
    assert "test_floor_step_type" in public and "test_floor_step_value" not in public


@pytest.mark.slow  # otter assign on every chapter and framework
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_student_notebooks_keep_no_solution_and_no_hidden_test(dist, chapter):
    for framework in FRAMEWORKS:
        folder = dist / framework / chapter.name
        student = json.loads((folder / "student" / f"{chapter.name}.ipynb").read_text())
        text = json.dumps(student["cells"])
        assert "SOLUTION" not in text and "# HIDDEN" not in text
        tests = student["metadata"]["otter"]["tests"]
        assert set(tests) == set(questions(generate(chapter, framework)))
        assert all("hidden=False" in t and "hidden=True" not in t for t in tests.values())
        checks = [c for c in student["cells"] if "".join(c["source"]).startswith("grader.check(")]
        assert len(checks) == len(tests)
        autograder = json.loads((folder / "autograder" / f"{chapter.name}.ipynb").read_text())
        hidden = autograder["metadata"]["otter"]["tests"]
        assert all("hidden=True" in t for t in hidden.values()), "each question has hidden tests"
        zips = list((folder / "autograder").glob(f"{chapter.name}-autograder_*.zip"))
        assert len(zips) == 1


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_grading_runs_only_the_exercises(chapter):
    notebook = grading_master(generate(chapter, "pytorch"))
    section = exercise_section(notebook)
    for i, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            ignored = IGNORE_TAG in cell.get("metadata", {}).get("tags", [])
            assert ignored == (i not in section), (i, cell["source"][:80])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="Checkable Exercises"):
        exercise_section({"cells": [{"cell_type": "markdown", "source": "# Title"}]})
    with pytest.raises(ValueError, match="framework must be one of"):
        assign(CHAPTERS[0], "theano")
    with pytest.raises(AssertionError, match="`x` is not answered yet"):
        require_answer(None, "x")


def test_the_running_time_line_names_mode_cores_and_cpu():
    line = execution_time("smoke")
    assert re.match(r"this kernel has run for \d+\.\d min \(smoke mode\) on "
                    rf"{os.cpu_count()} cores of \S", line), line
