"""``make site``: the course as a website, built offline with Jupyter Book 1.

Runs in the site's own environment (``.venv-site``, installed from book/requirements.txt)::

    python book/build.py            # stage, build into book/_build/html, check

1. Stages the README (the home page), the guides of docs/ and one page per notebook in
   book/_build/source, in the repository's own layout, so that a link that works on GitHub
   (``docs/learners.md#the-notebooks``, ``notebooks/01-.../01-....ipynb``) works on the site.
2. Makes each notebook page the learner's version of its solutions/ source: nbgrader's own
   ClearSolutions, ClearHiddenTests and ClearMarkScheme, configured by the course's
   nbgrader_config.py as ``make release`` is; then the outputs of the exercise and check
   cells are cleared (they are the reference answer's) and every other stored output is kept.
   A note on each page says what the reader sees, how to run it, and links the learner
   notebook of notebooks/ for download.
3. Builds with warnings as errors (a broken link or anchor fails the build).
4. Checks what was built (book/checks.py): every link and anchor resolves, no built file
   holds a line of a solution or hidden test, every stored figure is an image on its page.
   A finding fails ``make site`` before anything can be published.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml
from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions
from traitlets.config.loader import PyFileConfigLoader

from checks import SiteReport, check_site

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
BUILD = BOOK / "_build"
SOURCE = BUILD / "source"
HTML = BUILD / "html"
#: The staged copy of each learner notebook that the pages link for download.
LEARNER = "learner"
NOTE_TAG = "course-site-note"


def assignments() -> list[str]:
    """The course's notebooks in course order (solutions/NN-name/NN-name.ipynb)."""
    return sorted(path.parent.name for path in ROOT.glob("solutions/[0-9]*/*.ipynb")
                  if path.stem == path.parent.name)


def guides() -> list[str]:
    """docs/*.md in the order the README lists them, then any the README does not list."""
    listed = re.findall(r"\]\(docs/([\w-]+)\.md\)", (ROOT / "README.md").read_text())
    names = list(dict.fromkeys(listed))
    return names + sorted(path.stem for path in (ROOT / "docs").glob("*.md")
                          if path.stem not in names)


def nbgrader_config():
    """The course's nbgrader_config.py (code stubs, region delimiters), as release loads it."""
    return PyFileConfigLoader("nbgrader_config.py", str(ROOT)).load_config()


def is_exercise_or_check(cell) -> bool:
    """An exercise (nbgrader solution) cell or a check (nbgrader grade) cell."""
    grading = cell.metadata.get("nbgrader", {})
    return bool(grading.get("solution") or grading.get("grade"))


def run_note(assignment: str) -> nbformat.NotebookNode:
    """The note at the top of a notebook page: what the page shows, and how to run it."""
    download = f"../../{LEARNER}/{assignment}/{assignment}.ipynb"
    return nbformat.v4.new_markdown_cell(
        f""":::{{admonition}} What this page shows, and how to run it
:class: note

This is the notebook as a learner gets it, with the outputs of the course's reference run
(the first code cell's output names its Keras version and profile). Each exercise cell shows
the stub you replace, and each *Check* cell's output is left blank: in your copy it prints
`✓` and what it verified, or `✗` with what it expected, what it found and a hint. Every
output after an exercise was computed with the reference answer, which is not on this page.

**Run it yourself.** With Python 3.11+ and `make`, in a clone of the course:

```bash
make lab    # install the course, open JupyterLab on workspace/
make test   # the whole test suite
```

then open `{assignment}/{assignment}.ipynb` in the lab.
{{download}}`Download the learner notebook <{download}>`: it runs inside the course's folder,
which provides its helpers and checks.
:::
""", metadata={"tags": [NOTE_TAG]})


def learner_page(assignment: str) -> nbformat.NotebookNode:
    """solutions/<assignment>'s notebook as the site shows it (see the module's docstring)."""
    notebook = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb",
                             as_version=4)
    config = nbgrader_config()
    resources: dict = {}
    for step in (ClearSolutions, ClearHiddenTests, ClearMarkScheme):
        notebook, resources = step(config=config).preprocess(notebook, resources)
    for cell in notebook.cells:
        if cell.cell_type == "code" and is_exercise_or_check(cell):
            cell.outputs, cell.execution_count = [], None
    notebook.cells.insert(1, run_note(assignment))
    return notebook


def toc() -> dict:
    """Jupyter Book's table of contents: the README, the notebooks in order, the guides."""
    return {"format": "jb-book", "root": "README", "parts": [
        {"caption": "The notebooks", "chapters": [
            {"file": f"notebooks/{name}/{name}"} for name in assignments()]},
        {"caption": "Guides", "chapters": [{"file": f"docs/{name}"} for name in guides()]},
    ]}


def stage() -> dict[str, nbformat.NotebookNode]:
    """book/_build/source: the configuration, the table of contents and every page; returns
    each notebook page's address in the built site, with the notebook it is made from."""
    shutil.rmtree(SOURCE, ignore_errors=True)
    (SOURCE / "docs").mkdir(parents=True)
    shutil.copy(BOOK / "_config.yml", SOURCE / "_config.yml")
    (SOURCE / "_toc.yml").write_text(yaml.safe_dump(toc(), sort_keys=False))
    shutil.copy(ROOT / "README.md", SOURCE / "README.md")
    for name in guides():
        shutil.copy(ROOT / "docs" / f"{name}.md", SOURCE / "docs" / f"{name}.md")
    pages = {}
    for name in assignments():
        page = SOURCE / "notebooks" / name / f"{name}.ipynb"
        page.parent.mkdir(parents=True)
        pages[f"notebooks/{name}/{name}.html"] = learner_page(name)
        nbformat.write(pages[f"notebooks/{name}/{name}.html"], page)
        download = SOURCE / LEARNER / name / f"{name}.ipynb"
        download.parent.mkdir(parents=True)
        shutil.copy(ROOT / "notebooks" / name / f"{name}.ipynb", download)
    return pages


def build() -> None:
    """Jupyter Book's HTML build of the staged pages, warnings as errors, into book/_build/html."""
    shutil.rmtree(HTML, ignore_errors=True)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jupyter_book), "build", str(SOURCE), "--path-output", str(BOOK),
                    "--builder", "html", "--warningiserror", "--keep-going", "--quiet"],
                   check=True)


def main() -> int:
    start = time.monotonic()
    pages = stage()
    try:
        build()
    except subprocess.CalledProcessError as error:
        print(f"make site: the build failed (exit {error.returncode}); its warnings are above",
              file=sys.stderr)
        return 1
    report: SiteReport = check_site(HTML, ROOT, pages, assignments())
    size = sum(path.stat().st_size for path in HTML.rglob("*") if path.is_file())
    print(f"make site: {report.pages} pages, {size / 2**20:.1f} MiB in {HTML.relative_to(ROOT)}"
          f", built and checked in {time.monotonic() - start:.0f} s")
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
