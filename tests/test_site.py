"""``make site``: the course website, built offline, shows the learner's notebooks with their
stored outputs and serves no solution or hidden test (book/build.py, book/checks.py)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from browser import Page, chromium_page
from conftest import ASSIGNMENTS, NOTEBOOKS, ROOT, SOLUTIONS
from lockfile import read_lock

sys.path.insert(0, str(ROOT / "book"))
import checks  # noqa: E402  (book/ is the site's code, not a package of the course)

BOOK = ROOT / "book"
SITE = BOOK / "_build" / "html"
STAGED = BOOK / "_build" / "source"
SITE_PYTHON = ROOT / ".venv-site" / "bin" / "python"


@pytest.fixture(scope="module")
def site() -> Path:
    """The site as `make site` builds it (its own venv from book/requirements.txt)."""
    made = subprocess.run(["make", "-s", "site"], cwd=ROOT, capture_output=True, text=True)
    assert made.returncode == 0, made.stdout[-4000:] + made.stderr[-4000:]
    assert re.search(r"make site: \d+ pages, [\d.]+ MiB", made.stdout), made.stdout[-2000:]
    return SITE


def page_notebook(name: str) -> nbformat.NotebookNode:
    """The notebook a page was built from, as staged."""
    return nbformat.read(STAGED / "notebooks" / name / f"{name}.ipynb", as_version=4)


def grading(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_site_lock_is_exact_hashed_and_resolved_from_its_ranges():
    lock = BOOK / "requirements.txt"
    pins = read_lock(lock)
    assert pins and all(pin.hashes for pin in pins)
    assert "make site-lock" in lock.read_text().splitlines()[1]
    declared = {re.split(r"[<>=!~\[ ]", line)[0].lower() for line in
                (BOOK / "requirements.in").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    roots = {pin.name for pin in pins if any("requirements.in" in via for via in pin.required_by)}
    assert roots == declared, "book/requirements.txt is not made from requirements.in: make site-lock"
    assert next(pin.version for pin in pins if pin.name == "jupyter-book").startswith("1.")


def test_every_guide_and_notebook_has_a_page_in_course_order(site):
    home = (site / "README.html").read_text()
    nav = re.findall(r'class="reference internal" href="([^"#]+)"', home.split(
        'bd-docs-nav', 1)[1].split("</nav>", 1)[0])
    notebooks = [f"notebooks/{name}/{name}.html" for name in ASSIGNMENTS]
    listed = re.findall(r"\]\(docs/([\w-]+)\.md\)", (ROOT / "README.md").read_text())
    guides = [f"docs/{name}.html" for name in dict.fromkeys(listed)]
    every_guide = (ROOT / "docs").glob("*.md")
    assert sorted(guides) == sorted(f"docs/{path.stem}.html" for path in every_guide)
    assert [link for link in nav if link != "#"] == notebooks + guides
    assert (site / "index.html").is_file() and "<h1>Transfer learning" in home


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_a_notebook_page_is_the_learners_version_with_the_stored_outputs(site, name):
    solution = nbformat.read(SOLUTIONS / name / f"{name}.ipynb", as_version=4)
    shown = page_notebook(name)
    note, cells = shown.cells[1], shown.cells[:1] + shown.cells[2:]
    assert note.metadata.tags == ["course-site-note"] and "make lab" in note.source
    assert len(cells) == len(solution.cells)
    learner = nbformat.read(NOTEBOOKS / name / f"{name}.ipynb", as_version=4)
    for index, (page_cell, source_cell, release_cell) in enumerate(
            zip(cells, solution.cells, learner.cells)):
        assert page_cell.source == release_cell.source, f"cell {index} is not the learner's"
        if page_cell.cell_type != "code":
            continue
        graded = grading(source_cell).get("solution") or grading(source_cell).get("grade")
        assert page_cell.outputs == ([] if graded else source_cell.outputs), f"cell {index}"

    page = site / "notebooks" / name / f"{name}.html"
    download = re.search(r'href="([^"]+\.ipynb)"', page.read_text())
    assert download, "the page links no notebook for download"
    target = (site / "notebooks" / name / download[1]).resolve()
    assert target.read_bytes() == (NOTEBOOKS / name / f"{name}.ipynb").read_bytes()
    text = "".join(checks.parse(page).text)
    stubs = [line.strip() for line in text.splitlines()].count("raise NotImplementedError()")
    assert stubs == sum(
        1 for cell in learner.cells if grading(cell).get("solution"))
    assert "make lab" in text


def test_the_pages_show_every_stored_figure_and_nothing_leaks(site):
    pages = {f"notebooks/{name}/{name}.html": page_notebook(name) for name in ASSIGNMENTS}
    figures = sum(len(checks.stored_figures(notebook)) for notebook in pages.values())
    kept = sum(1 for name in ASSIGNMENTS
               for cell in nbformat.read(SOLUTIONS / name / f"{name}.ipynb", as_version=4).cells
               if cell.cell_type == "code" and not (grading(cell).get("solution")
                                                    or grading(cell).get("grade"))
               for output in cell.outputs if set(output.get("data", {})) & checks.FIGURES)
    assert figures == kept > 0
    secrets = checks.secret_lines(ROOT, ASSIGNMENTS)
    assert len(secrets) >= 2 * len(ASSIGNMENTS), "every notebook has solution lines to look for"
    assert checks.check_site(site, ROOT, pages, ASSIGNMENTS).problems == []
    assert not (site / "_sources").exists()


def planted(site: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "html"
    shutil.copytree(site, copy)
    return copy


def test_the_leak_check_finds_a_solution_wherever_the_build_puts_it(site, tmp_path):
    copy = planted(site, tmp_path)
    secrets = checks.secret_lines(ROOT, ASSIGNMENTS)
    solution_of = {name: SOLUTIONS / name / f"{name}.ipynb" for name in ASSIGNMENTS}
    # Sphinx's copy of a page's source, and a download of the instructor's notebook.
    (copy / "_sources" / "notebooks").mkdir(parents=True)
    shutil.copy(solution_of[ASSIGNMENTS[0]], copy / "_sources" / "notebooks" / "01.ipynb.txt")
    shutil.copy(solution_of[ASSIGNMENTS[-1]], copy / "_downloads" / "answers.ipynb")
    # A hidden test's line on a page, split into highlighted tokens and escaped as Pygments does.
    hidden = next(line for line, origin in secrets.items() if "check" in origin
                  and '"' in line)
    tokens = "".join(f'<span class="n">{part}</span>' for part in
                     hidden.replace('"', "&quot;").split("."))
    tokens = tokens.replace('</span><span class="n">', '</span>.<span class="n">')
    page = copy / "docs" / "tests.html"
    page.write_text(page.read_text().replace("</main>", f"<pre>{tokens}\n</pre></main>", 1))
    found = checks.leaked_lines(copy, secrets)
    for where in ["_sources/notebooks/01.ipynb.txt", "_downloads/answers.ipynb", "docs/tests.html"]:
        assert any(problem.startswith(where) for problem in found), (where, found[:5])
    assert not any(problem.startswith("README.html") for problem in found)


def test_the_link_check_finds_a_missing_page_and_a_missing_anchor(site, tmp_path):
    copy = planted(site, tmp_path)
    page = copy / "docs" / "learners.html"
    page.write_text(page.read_text().replace("</main>", '<a href="grading.html#no-such-part">x</a>'
                                             '<a href="../gone.html">y</a></main>', 1))
    found = checks.broken_links(copy)
    assert len(found) == 2 and all(problem.startswith("docs/learners.html") for problem in found)
    assert "no-such-part" in found[0] + found[1] and "reaches no file" in found[0] + found[1]


def test_the_figure_check_finds_a_figure_that_is_not_shown(site, tmp_path):
    copy = planted(site, tmp_path)
    name = next(name for name in ASSIGNMENTS if checks.stored_figures(page_notebook(name)))
    address = f"notebooks/{name}/{name}.html"
    first = checks.stored_figures(page_notebook(name))[0]
    for image in (copy / "_images").iterdir():
        if image.read_bytes() == first:
            image.write_bytes(first[:-10])  # cut short: no longer the stored figure
    assert checks.missing_figures(copy, {address: page_notebook(name)}) == [
        f"{address}: 1 stored figure(s) not shown as images"]


def test_a_broken_anchor_in_a_guide_fails_the_build(site, tmp_path):
    """Sphinx's own check, with warnings as errors, as `make site` builds."""
    source = tmp_path / "source"
    shutil.copytree(STAGED, source)
    with (source / "docs" / "tests.md").open("a") as guide:
        guide.write("\nSee [the sandbox](grading.md#no-such-section).\n")
    built = subprocess.run(
        [str(SITE_PYTHON.parent / "jupyter-book"), "build", str(source), "--path-output",
         str(tmp_path), "--warningiserror", "--keep-going", "--quiet"],
        capture_output=True, text=True)
    assert built.returncode != 0
    assert "no-such-section" in built.stdout + built.stderr


@pytest.fixture(scope="module")
def browser() -> Iterator[Page]:
    with chromium_page() as tab:
        yield tab


def test_a_notebook_page_in_chromium_shows_its_figures_and_readable_checks(site, browser,
                                                                          tmp_path):
    name = next(name for name in ASSIGNMENTS if checks.stored_figures(page_notebook(name)))
    browser.driver.get((site / "notebooks" / name / f"{name}.html").as_uri())
    figures = browser.wait(lambda: [image for image in browser.find(".cell_output img")
                                    if browser.driver.execute_script(
                                        "return arguments[0].complete && "
                                        "arguments[0].naturalWidth", image)],
                           what="a figure drawn on the page")
    assert len(figures) == len(checks.stored_figures(page_notebook(name)))
    note = browser.find(".admonition")[0]
    assert "✓" in note.text and "✗" in note.text and "make lab" in note.text
    # Readable: the page's fonts draw ✓ and ✗, not the empty box of a missing glyph.
    widths = browser.driver.execute_script(
        "const font = getComputedStyle(arguments[0]).font;"
        "const context = document.createElement('canvas').getContext('2d');"
        "context.font = font;"
        "return ['✓', '✗', '\\uE83A'].map(c => context.measureText(c).width);", note)
    assert widths[0] > 0 and widths[1] > 0 and widths[0] != widths[2], widths
    browser.driver.save_screenshot(str(tmp_path / f"{name}.png"))
