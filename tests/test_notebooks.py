"""The chapters as documents: parallel structure, clean committed outputs.

nbval executes the notebooks (make test); these tests read the committed files.
"""

import json
import re
from pathlib import Path

import pytest

from d2l_compat import FRAMEWORKS, ROOMS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*/*.ipynb"))
CHAPTERS = sorted({nb.stem for nb in NOTEBOOKS})
CHECK = "# NBVAL_CHECK_OUTPUT"
MEMORY_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def headings(path: Path) -> list[str]:
    return [line.strip() for cell in load(path)["cells"] if cell["cell_type"] == "markdown"
            for line in "".join(cell["source"]).splitlines() if line.startswith("#")]


def output_text(output: dict) -> str:
    if output["output_type"] == "stream":
        return "".join(output["text"])
    return "".join(output.get("data", {}).get("text/plain", ""))


# Chapters every framework must have.
COMPLETE_CHAPTERS = ("lenet", "lr_scheduler", "warmup_cosine", "lr_finder")


def test_complete_chapters_exist_in_every_framework():
    for chapter in COMPLETE_CHAPTERS:
        missing = [fw for fw in FRAMEWORKS
                   if not (ROOT / "chapters" / fw / f"{chapter}.ipynb").exists()]
        assert not missing, f"{chapter}.ipynb missing for {missing}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_version_of_a_chapter_has_the_same_headings(chapter):
    paths = {fw: ROOT / "chapters" / fw / f"{chapter}.ipynb" for fw in FRAMEWORKS}
    paths = {fw: path for fw, path in paths.items() if path.exists()}
    reference = headings(next(iter(paths.values())))
    assert len(reference) >= 5
    for framework, path in paths.items():
        assert headings(path) == reference, f"{framework}/{chapter}.ipynb headings differ"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_committed_executed_and_clean(path):
    notebook = load(path)
    assert notebook["metadata"]["kernelspec"]["name"] == "d2l-compat"
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code and all(cell["execution_count"] for cell in code), "not fully executed"
    source = "\n".join("".join(cell["source"]) for cell in code)
    assert f"from d2l_compat import {ROOMS[path.parent.name]} as d2l" in source
    assert any(CHECK in "".join(cell["source"]) for cell in code), "no regression-checked cell"
    for cell in code:
        for output in cell["outputs"]:
            assert output["output_type"] != "error", f"error output in {path.name}"
        if CHECK in "".join(cell["source"]):
            text = "".join(output_text(o) for o in cell["outputs"])
            assert not MEMORY_ADDRESS.search(text), f"memory address in a checked cell: {text}"
            assert not TIMESTAMP.search(text), f"timestamp in a checked cell: {text}"
            assert all(o.get("name") != "stderr" for o in cell["outputs"]), \
                f"stderr in a checked cell of {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_outputs_are_full_mode(path):
    """Readers see real outputs: the setup cell printed the mode, and it was 'full'."""
    texts = [output_text(o) for cell in load(path)["cells"] if cell["cell_type"] == "code"
             for o in cell["outputs"]]
    modes = [m for text in texts for m in re.findall(r"run mode: (\w+)", text)]
    assert modes == ["full"], f"{path.name}: run mode outputs {modes}"


def test_book_parts_are_there():
    for path in NOTEBOOKS:
        marks = headings(path)
        assert marks[0].startswith("# "), f"{path}: no title"
        assert "## Summary" in marks and "## Exercises" in marks, path
