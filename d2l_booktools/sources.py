"""One source per chapter: the parallel notebooks are generated from ``chapters/<chapter>.md``.

A chapter source is a Jupytext MyST Markdown notebook (``jupytext --to ipynb`` reads it too).
It holds the prose once and the code cells once; a cell that belongs to some frameworks only
carries their names as tags::

    ```{code-cell} ipython3
    :tags: [pytorch]

    from d2l_compat import torch as d2l
    ```

A cell without a framework tag goes into all four notebooks. A Markdown cell with a framework
tag is a *framework note*: it must open with ``> **PyTorch note.**`` (or the framework's own
name) so that readers see it is specific, and it stays short (``NOTE_MAX_WORDS``).

``python -m d2l_booktools.sources`` (``make notebooks``) writes ``chapters/<framework>/<chapter>.ipynb``
for every framework. A cell whose source did not change keeps the outputs of the committed
notebook, so editing prose does not throw away an executed chapter; a new or changed code cell
has no outputs until the notebook is executed again (``make reproduce``). ``--check`` writes
nothing and fails when a committed notebook differs from what its source generates.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from d2l_compat.registry import FRAMEWORK_REGISTRY, FRAMEWORKS
from d2l_compat.files import project_root, write_atomic
from d2l_booktools.gridrecords import TIMINGS_FILE, timings_table

FRAMEWORK_TITLES = {f.name: f.title for f in FRAMEWORK_REGISTRY}
"""Framework -> its display name (framework notes, the book's tabs): the registry's."""
NOTE_MAX_WORDS = 150
# Chapters whose source is ahead of their committed, executed notebooks. Until the full
# re-execution (`make notebooks reproduce`) lands, the committed notebooks stay as they were
# executed, and the tests execute the notebooks generated from these sources instead
# (`--pending-to`). An entry goes once its notebooks are regenerated and re-executed.
PENDING_REEXECUTION: frozenset[str] = frozenset({"lr_finder"})
SOURCE_FORMAT = "md:myst"
CHAPTERS_DIR = project_root() / "chapters"
# A line of a Markdown cell holding this marker becomes the chapter's running times per mode
# and framework (results.timings_table), read from the committed running-times file, with
# the text before the marker ("> " in the box of *Running this chapter*) in front of every line.
TIMINGS_MARKER = "<!-- d2l: timings -->"
TIMINGS_PATH = project_root() / "results" / TIMINGS_FILE
NO_TIMINGS = ("No running time is recorded for this chapter yet: `make reproduce` records "
              "them.")


class SourceError(ValueError):
    """A chapter source breaks one of the rules above; the message names the file and cell."""


@dataclass(frozen=True)
class SourceCell:
    """One cell of a chapter source: its type, text, frameworks (empty = all) and tags."""

    cell_type: str
    source: str
    frameworks: tuple[str, ...]
    tags: tuple[str, ...]
    index: int

    def belongs_to(self, framework: str) -> bool:
        return not self.frameworks or framework in self.frameworks


@dataclass(frozen=True)
class ChapterSource:
    path: Path
    name: str
    metadata: dict
    cells: tuple[SourceCell, ...]

    @property
    def title(self) -> str:
        first = self.cells[0].source.splitlines()[0] if self.cells else ""
        return first.lstrip("# ").strip()

    def cells_for(self, framework: str) -> list[SourceCell]:
        return [cell for cell in self.cells if cell.belongs_to(framework)]


def note_marker(framework: str) -> str:
    """The words a framework note opens with, e.g. ``> **JAX note.**``."""
    return f"> **{FRAMEWORK_TITLES[framework]} note.**"


def read_source(path: str | Path) -> ChapterSource:
    """Parse and check ``path``; raises ``SourceError`` naming the file and the cell."""
    import jupytext  # only the maintainers' tool needs it, not the notebooks

    path = Path(path)
    try:
        notebook = jupytext.read(path, fmt=SOURCE_FORMAT)
    except FileNotFoundError:
        raise
    except Exception as exc:  # jupytext's parse errors come in many types
        raise SourceError(f"{path}: not a MyST Markdown notebook ({exc})") from exc
    cells = []
    for index, cell in enumerate(notebook.cells):
        where = f"{path}: cell {index} ({cell.source.strip().splitlines()[0][:60] if cell.source.strip() else 'empty'!r})"
        tags = tuple(cell.metadata.get("tags", ()))
        frameworks = tuple(tag for tag in tags if tag in FRAMEWORKS)
        if cell.cell_type not in ("markdown", "code"):
            raise SourceError(f"{where}: cell type {cell.cell_type!r} is not allowed")
        if not cell.source.strip():
            raise SourceError(f"{where}: empty cell")
        if cell.cell_type == "markdown" and frameworks:
            if len(frameworks) != 1:
                raise SourceError(f"{where}: a framework note belongs to one framework, "
                                  f"got {list(frameworks)}")
            if not cell.source.startswith(note_marker(frameworks[0])):
                raise SourceError(f"{where}: a framework note must open with "
                                  f"{note_marker(frameworks[0])!r}")
            words = len(re.findall(r"[A-Za-z]+", cell.source))
            if words > NOTE_MAX_WORDS:
                raise SourceError(f"{where}: framework note of {words} words; at most "
                                  f"{NOTE_MAX_WORDS} (move shared prose out of it)")
        cells.append(SourceCell(cell.cell_type, cell.source, frameworks, tags, index))
    if not cells or cells[0].cell_type != "markdown" or not cells[0].source.startswith("# "):
        raise SourceError(f"{path}: a chapter source opens with a Markdown cell '# Title'")
    for framework in FRAMEWORKS:
        if not any(c.cell_type == "code" and c.frameworks == (framework,) for c in cells) \
                and not any(c.cell_type == "code" and not c.frameworks for c in cells):
            raise SourceError(f"{path}: no code cell for {framework}")
    return ChapterSource(path, path.stem, dict(notebook.metadata), tuple(cells))


def _cell_id(source: str, seen: dict) -> str:
    digest = hashlib.sha1(source.encode()).hexdigest()[:8]
    seen[digest] = seen.get(digest, 0) + 1
    return digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def _key(cell: dict) -> tuple[str, str]:
    source = cell["source"]
    return cell["cell_type"], source if isinstance(source, str) else "".join(source)


def with_timings(text: str, chapter: str, timings: Path = TIMINGS_PATH) -> str:
    """``text`` with every line holding :data:`TIMINGS_MARKER` replaced by the chapter's
    running times from ``timings``, each line prefixed as the marker was."""
    lines = []
    for line in text.split("\n"):
        prefix, marker, _ = line.partition(TIMINGS_MARKER)
        if not marker:
            lines.append(line)
            continue
        table = timings_table(timings, chapter=chapter) or NO_TIMINGS
        lines += [(prefix + row).rstrip() for row in table.split("\n")]
    return "\n".join(lines)


def generate(chapter: ChapterSource, framework: str, previous: dict | None = None,
             timings: Path = TIMINGS_PATH) -> dict:
    """The notebook (nbformat 4 JSON dict) of ``chapter`` for ``framework``.

    Cells equal to cells of ``previous`` (same type and source, matched in order) keep
    their outputs and execution counts; others start unexecuted. Markdown cells get the
    chapter's running times from ``timings`` where they hold :data:`TIMINGS_MARKER`.
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    old_cells = (previous or {}).get("cells", [])
    new_cells, seen = [], {}
    for cell in chapter.cells_for(framework):
        tags = [tag for tag in cell.tags if tag not in FRAMEWORKS]
        source = (with_timings(cell.source, chapter.name, timings)
                  if cell.cell_type == "markdown" else cell.source)
        out = {"cell_type": cell.cell_type, "id": _cell_id(source, seen),
               "metadata": {"tags": tags} if tags else {}, "source": source}
        if cell.cell_type == "code":
            out.update(execution_count=None, outputs=[])
        new_cells.append(out)
    matcher = difflib.SequenceMatcher(a=[_key(c) for c in old_cells],
                                      b=[_key(c) for c in new_cells], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            old, new = old_cells[block.a + k], new_cells[block.b + k]
            if new["cell_type"] == "code":
                new["outputs"] = old.get("outputs", [])
                new["execution_count"] = old.get("execution_count")
    metadata = {"kernelspec": chapter.metadata["kernelspec"]}
    if previous and "language_info" in previous.get("metadata", {}):
        metadata["language_info"] = previous["metadata"]["language_info"]
    for key, value in (previous or {}).get("metadata", {}).items():
        if key.startswith("d2l"):  # what the execution recorded (machine, mode, seed)
            metadata[key] = value
    return {"cells": new_cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def notebook_path(chapter: ChapterSource, framework: str, out: Path | None = None) -> Path:
    """``<out>/<framework>/<chapter>.ipynb``; ``out`` defaults to the source's folder."""
    return (out or chapter.path.parent) / framework / f"{chapter.name}.ipynb"


def chapter_sources(directory: str | Path = CHAPTERS_DIR) -> list[Path]:
    return sorted(Path(directory).glob("*.md"))


def differences(chapter: ChapterSource, framework: str) -> list[str]:
    """How the committed notebook's cells differ from what the source generates."""
    path = notebook_path(chapter, framework)
    if not path.exists():
        return [f"{path} is missing"]
    committed = json.loads(path.read_text())["cells"]
    expected = generate(chapter, framework)["cells"]
    got, want = [_key(c) for c in committed], [_key(c) for c in expected]
    if got == want:
        return []
    diff = difflib.unified_diff([f"{t}: {s}" for t, s in want], [f"{t}: {s}" for t, s in got],
                                "generated", str(path), n=0, lineterm="")
    return [f"{path} differs from {chapter.path.name} (run `make notebooks`):",
            *list(diff)[2:12]]


def executed_cells(notebook: dict | None) -> int:
    """How many code cells of ``notebook`` hold an execution (a count or outputs)."""
    return sum(1 for c in (notebook or {}).get("cells", []) if c["cell_type"] == "code"
               and (c.get("execution_count") is not None or c.get("outputs")))


def write_notebooks(chapter: ChapterSource, out: Path | None = None,
                    keep_outputs: bool = False) -> list[Path]:
    """Write the chapter's four notebooks (atomically) under ``out`` (default: next to the
    source); return the paths that changed.

    With ``keep_outputs`` a notebook whose regeneration would drop the outputs of executed
    code cells (their code changed in the source since the notebook was executed) is left
    as it is, and named on stderr: what refreshes only the running times or the prose (the
    end of a grid run, ``make results``) must not strip a chapter that awaits its
    execution. ``make notebooks`` regenerates it, dropping those outputs.
    """
    import nbformat

    written = []
    for framework in FRAMEWORKS:
        path = notebook_path(chapter, framework, out)
        previous = json.loads(path.read_text()) if path.exists() else None
        notebook = generate(chapter, framework, previous)
        lost = executed_cells(previous) - executed_cells(notebook)
        if keep_outputs and lost > 0:
            print(f"{path}: kept as executed: {lost} of its executed code cells changed in "
                  f"{chapter.path.name} since; `make notebooks` regenerates it without "
                  f"their outputs, to be executed", file=sys.stderr)
            continue
        text = nbformat.writes(nbformat.from_dict(notebook))
        text += "\n"
        if not path.exists() or path.read_text() != text:
            written.append(write_atomic(path, text))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m d2l_booktools.sources",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="*", type=Path,
                        help="chapter sources (default: chapters/*.md)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; fail when a notebook differs from its source")
    parser.add_argument("--pending-to", type=Path, default=None, metavar="DIR",
                        help="write fresh (unexecuted) notebooks of the chapters pending "
                             "re-execution to DIR/<framework>/<chapter>.ipynb, for the tests")
    parser.add_argument("--out", type=Path, default=None,
                        help="write <out>/<framework>/<chapter>.ipynb instead (carrying "
                             "over outputs of notebooks already there)")
    parser.add_argument("--keep-outputs", action="store_true",
                        help="leave a notebook as it is when regenerating it would drop the "
                             "outputs of executed code cells (its code changed since it ran)")
    args = parser.parse_args(argv)
    if args.pending_to:
        import shutil

        shutil.rmtree(args.pending_to, ignore_errors=True)
        args.pending_to.mkdir(parents=True)  # empty when nothing is pending
        for name in sorted(PENDING_REEXECUTION):
            write_notebooks(read_source(CHAPTERS_DIR / f"{name}.md"), args.pending_to)
        return 0
    paths = args.sources or chapter_sources()
    if not paths:
        parser.error(f"no chapter sources (*.md) in {CHAPTERS_DIR}")
    problems = []
    for path in paths:
        try:
            chapter = read_source(path)
        except (SourceError, FileNotFoundError) as exc:
            problems.append(str(exc))
            continue
        if args.check:
            for framework in FRAMEWORKS:
                problems.extend(differences(chapter, framework))
        else:
            for written in write_notebooks(chapter, args.out, args.keep_outputs):
                print(f"wrote {written}")
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
