"""The HTML book: built from the sources and the executed notebooks, read in a real browser.

The browser tests drive Debian's Chromium through playwright (``executable_path``); they
skip, saying why, when no Chromium is installed (``apt-get install chromium``).
"""

import base64
import functools
import http.server
import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

from d2l_compat import FRAMEWORKS
from d2l_booktools import book, sources
from test_sources import HEADER

ROOT = Path(__file__).resolve().parents[1]
TITLES = [sources.FRAMEWORK_TITLES[fw] for fw in FRAMEWORKS]
PIXEL = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478"
    "da63f8cfc0f01f0005000201c7a0b1d40000000049454e44ae426082")).decode()


# ---------------------------------------------------------------- the builder, no browser

def test_shown_code_drops_the_test_markers_only():
    assert book.shown_code("# NBVAL_CHECK_OUTPUT\n\nx = 1  # keep\nprint(x)") == \
        "x = 1  # keep\nprint(x)"


def test_outputs_become_text_tables_and_image_files(tmp_path):
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": ["\x1b[31mred\x1b[0m\n"]},
        {"output_type": "display_data", "data": {"image/png": PIXEL,
                                                 "text/plain": "<Figure size 10x10>"}},
        {"output_type": "display_data", "data": {"text/markdown": "| a |\n|---|\n| 1 |"}},
        {"output_type": "execute_result", "data": {"text/plain": "<Figure size 640x480>"}},
        {"output_type": "execute_result", "data": {"text/plain": "0.25"}},
    ]
    blocks = book.render_outputs(outputs, tmp_path / "img", "ch-jax-3")
    assert blocks == ["```text\nred\n```", "![output of the cell above](img/ch-jax-3-1.png)",
                      "| a |\n|---|\n| 1 |", "```text\n0.25\n```"]
    assert (tmp_path / "img" / "ch-jax-3-1.png").read_bytes().startswith(b"\x89PNG")


def test_tab_set_has_one_synced_tab_per_framework_in_order():
    text = book.tab_set({"jax": ["jax code"], "pytorch": ["torch code"]})
    assert re.findall(r":::\{tab-item\} (\w+)\n:sync: (\w+)", text) == \
        list(zip(TITLES, FRAMEWORKS))
    assert text.startswith("::::{tab-set}\n:sync-group: framework")
    assert "*No TensorFlow code for this step.*" in text


def demo_chapter(tmp_path) -> Path:
    source = tmp_path / "chapters" / "demo.md"
    source.parent.mkdir(parents=True)
    source.write_text(HEADER + "\n# Demo\n\nProse once, $\\eta(t)$.\n\n"
                      + "".join(f"```{{code-cell}} ipython3\n:tags: [{fw}]\n\nprint('{fw}')\n```\n\n"
                                for fw in FRAMEWORKS)
                      + "```{code-cell} ipython3\n# NBVAL_CHECK_OUTPUT\nprint('same')\n```\n")
    chapter = sources.read_source(source)
    sources.write_notebooks(chapter)
    for fw in FRAMEWORKS:  # execute by hand: the framework cell prints its name
        path = source.parent / fw / "demo.ipynb"
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        code[0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": f"{fw}\n"}]
        code[1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "same\n"}]
        path.write_text(json.dumps(nb))
    return source


def test_chapter_page_groups_framework_cells_and_shows_shared_output_once(tmp_path):
    source = demo_chapter(tmp_path)
    chapter = sources.read_source(source)
    notebooks = {fw: json.loads((source.parent / fw / "demo.ipynb").read_text())
                 for fw in FRAMEWORKS}
    page = book.chapter_page(chapter, notebooks, tmp_path / "pages")
    assert page.count("::::{tab-set}") == 1  # four tagged cells in a row: one tab set
    for fw in FRAMEWORKS:
        assert f"print('{fw}')\n```\n\n```text\n{fw}\n```" in page
    assert page.count("```text\nsame\n```") == 1 and "NBVAL" not in page
    assert "{download}`JAX <notebooks/jax/demo.ipynb>`" in page


# ---------------------------------------------------------------- the book in a browser

def chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def built_book():
    if not sources.chapter_sources():
        pytest.skip("no chapter sources under chapters/")
    return book.build()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(built_book):
    handler = functools.partial(QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set CHROMIUM)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable)
        yield browser
        browser.close()


def chapter_names():
    return [p.stem for p in book.ordered_chapters()]


def open_page(context, url):
    """Open ``url``; return the page and what went wrong while it loaded."""
    page = context.new_page()
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status}: {r.url}"))
    base = url.split("/")[2]
    page.on("request", lambda r: r.url.split("/")[2] != base
            and problems.append(f"external request: {r.url}"))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page, problems


def checked_tabs(page) -> list[str]:
    """The label of the selected tab of every tab set on the page."""
    return page.eval_on_selector_all(
        ".sd-tab-set", "sets => sets.map(s => s.querySelector('input:checked + label')"
                       ".textContent.trim())")


@pytest.mark.slow  # builds the book with Sphinx
def test_no_page_references_an_external_resource(built_book):
    resource = re.compile(r'<(?:script|link|img|source|iframe)\b[^>]*?(?:src|href)="(https?:)?//')
    for html in built_book.glob("*.html"):
        assert not resource.search(html.read_text()), f"{html.name} loads from the network"
    for css in built_book.rglob("*.css"):
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", css.read_text()), css.name


@pytest.mark.slow  # builds the book with Sphinx and opens it in Chromium
@pytest.mark.parametrize("name", ["index", *chapter_names()])
def test_every_page_loads_cleanly_with_its_images(browser, site, name):
    context = browser.new_context()
    page, problems = open_page(context, f"{site}/{name}.html")
    assert problems == []
    sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.src, i.naturalWidth])")
    assert [src for src, width in sizes if width == 0] == []
    if name != "index":
        # a chapter pending re-execution shows the outputs of its unchanged cells only
        assert sizes or name in sources.PENDING_REEXECUTION, f"{name} shows no figure"
        shots = Path(book.BOOK_DIR) / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=False)
    context.close()


@pytest.mark.slow  # builds the book with Sphinx and opens it in Chromium
@pytest.mark.parametrize("name", chapter_names())
def test_the_opening_box_shows_the_measured_minutes_per_mode(browser, site, name):
    from d2l_booktools.gridrecords import timings_table

    expected = timings_table(sources.TIMINGS_PATH, chapter=name)
    context = browser.new_context()
    page, _ = open_page(context, f"{site}/{name}.html")
    # the box is in the section "Running this chapter" at the end, wherever it is
    box = page.locator("blockquote").filter(has_text="How long this chapter took").first
    assert "How long this chapter took" in box.inner_text()
    if expected is None:
        assert sources.NO_TIMINGS.split(":")[0] in box.inner_text()
    else:  # the table of results/timings.json, as a table, with the CPU it was measured on
        rows = box.locator("table tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.querySelectorAll('td')].map(c => c.textContent.trim()))")
        want = [[cell.strip() for cell in line.strip("| ").split(" | ")]
                for line in expected.splitlines()[2:] if line.startswith("| ")]
        assert rows == want
        assert "thread" in box.locator("li").first.inner_text()
    context.close()


@pytest.mark.slow  # builds the book with Sphinx and opens it in Chromium
@pytest.mark.parametrize("name", chapter_names())
def test_every_framework_specific_cell_has_four_tabs(browser, site, name):
    chapter = sources.read_source(sources.CHAPTERS_DIR / f"{name}.md")
    context = browser.new_context()
    page, _ = open_page(context, f"{site}/{name}.html")
    labels = page.eval_on_selector_all(
        ".sd-tab-set", "sets => sets.map(s => [...s.querySelectorAll(':scope > label')]"
                       ".map(l => l.textContent.trim()))")
    assert labels and all(tabs == TITLES for tabs in labels)
    is_tagged = [c.cell_type == "code" and bool(c.frameworks) for c in chapter.cells]
    runs = sum(1 for before, now in zip([False, *is_tagged], is_tagged) if now and not before)
    assert len(labels) >= runs  # one tab set per run of framework cells, plus shared outputs
    context.close()


@pytest.mark.slow  # builds the book with Sphinx and opens it in Chromium
def test_clicking_jax_switches_every_tab_set_and_the_next_page_opens_on_jax(browser, site):
    names = chapter_names()
    first, second = names[0], names[1 % len(names)]
    context = browser.new_context()
    page, _ = open_page(context, f"{site}/{first}.html")
    assert set(checked_tabs(page)) == {"PyTorch"}  # the default: first tab
    page.locator(".sd-tab-set label", has_text="JAX").first.click()
    assert set(checked_tabs(page)) == {"JAX"}
    page, problems = open_page(context, f"{site}/{second}.html")
    assert set(checked_tabs(page)) == {"JAX"} and problems == []
    context.close()


@pytest.mark.slow  # builds the book with Sphinx and opens it in Chromium
def test_the_address_selects_the_framework(browser, site):
    context = browser.new_context()  # fresh localStorage
    page, problems = open_page(context, f"{site}/{chapter_names()[-1]}.html?framework=mxnet")
    assert set(checked_tabs(page)) == {"MXNet"} and problems == []
    context.close()
