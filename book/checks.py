"""Checks of the built course website (book/build.py runs them; tests/test_site.py tests them).

- ``broken_links``: every relative link, image and script of every page reaches a built file,
  and every ``#anchor`` an element of the page it names.
- ``leaked_lines``: no built file, whatever its kind (page, download, search index, source
  copy), holds a line of a solution, hidden-test or mark-scheme region of solutions/ that the
  learner's release does not show anyway.
- ``missing_figures``: every figure stored in a notebook page's kept outputs is an image on
  that page, byte for byte.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions

#: nbgrader's region delimiters, from its own preprocessors' defaults.
REGIONS = [(ClearSolutions.begin_solution_delimeter.default_value,
            ClearSolutions.end_solution_delimeter.default_value),
           (ClearHiddenTests.begin_test_delimeter.default_value,
            ClearHiddenTests.end_test_delimeter.default_value),
           (ClearMarkScheme.begin_mark_scheme_delimeter.default_value,
            ClearMarkScheme.end_mark_scheme_delimeter.default_value)]
#: A line of fewer words (``])``, ``else:``) says nothing of an answer and is everywhere.
MIN_WORDS = 2
FIGURES = {"image/png", "image/jpeg"}
#: Files whose bytes hold no text to search.
BINARY = {".png", ".jpg", ".jpeg", ".gif", ".ico", ".woff", ".woff2", ".ttf", ".eot", ".pickle",
          ".doctree", ".inv"}


@dataclass
class SiteReport:
    pages: int
    problems: list[str] = field(default_factory=list)


class PageParser(HTMLParser):
    """An HTML page's text, element ids, and the addresses it links (href) and loads (src)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.ids.update(values[name] for name in ("id", "name") if values.get(name))
        if tag in ("a", "link") and "href" in values:
            self.links.append(values["href"])
        if tag in ("img", "script") and "src" in values:
            self.links.append(values["src"])
            if tag == "img":
                self.images.append(values["src"])

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: Path) -> PageParser:
    parser = PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def local_target(page: Path, address: str) -> tuple[Path, str] | None:
    """The file and fragment a relative address on ``page`` points at; None for external
    addresses (a scheme, a host, or mailto:)."""
    parts = urlsplit(address)
    if parts.scheme or parts.netloc:
        return None
    target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
    if target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


def broken_links(site: Path) -> list[str]:
    parsed = {page: parse(page) for page in site.rglob("*.html")
              if "_static" not in page.relative_to(site).parts}  # the theme's templates
    problems = []
    for page, parser in parsed.items():
        for address in parser.links:
            found = local_target(page, address)
            if found is None:
                continue
            target, fragment = found
            where = f"{page.relative_to(site)}: link {address!r}"
            if not target.is_file():
                problems.append(f"{where} reaches no file")
            elif fragment and target.suffix == ".html" and fragment not in (
                    parsed[target].ids if target in parsed else parse(target).ids):
                problems.append(f"{where}: no element has the id {fragment!r}")
    return problems


def region_lines(source: str) -> list[str]:
    """The lines of ``source`` inside nbgrader's solution, hidden-test and mark-scheme regions."""
    inside, lines = None, []
    for line in source.splitlines():
        if inside is None:
            inside = next((end for begin, end in REGIONS if begin in line), None)
        elif inside in line:
            inside = None
        else:
            lines.append(line)
    return lines


def secret_lines(root: Path, assignments: list[str]) -> dict[str, str]:
    """Each line that only the instructor sees, with where it comes from: the lines of the
    regions of solutions/, and whole solution cells without regions (nbgrader replaces all
    of them), less the lines the course publishes anyway: those of the learner's release in
    notebooks/, and those the README and the guides show (writing-exercises.md shows a
    check cell's hidden part, ``import exercises``, on purpose)."""
    published = [cell.source for name in assignments for cell in nbformat.read(
        root / "notebooks" / name / f"{name}.ipynb", as_version=4).cells]
    published += [path.read_text() for path in [root / "README.md", *(root / "docs").glob("*.md")]]
    public = {squeezed(line) for text in published for line in text.splitlines()}
    secrets: dict[str, str] = {}
    for name in assignments:
        for cell in nbformat.read(root / "solutions" / name / f"{name}.ipynb",
                                  as_version=4).cells:
            lines = region_lines(cell.source)
            if not lines and cell.metadata.get("nbgrader", {}).get("solution") and not any(
                    begin in cell.source for begin, _ in REGIONS):
                lines = cell.source.splitlines()
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "?")
            for line in lines:
                if len(re.findall(r"\w+", line)) >= MIN_WORDS and squeezed(line) not in public:
                    secrets.setdefault(line.strip(), f"{name} {grade_id}")
    return secrets


def json_strings(text: str) -> list[str]:
    """The string literals of JSON or JavaScript in ``text``, decoded: a notebook's source
    lines, whatever its file is named, and text a script carries."""
    strings = []
    for literal in re.findall(r'"(?:[^"\\\n]|\\.)*"', text):
        try:
            strings.append(json.loads(literal))
        except ValueError:
            continue
    return strings


def searchable_text(path: Path) -> str | None:
    """What a reader of ``path`` can see of it as text: its text, a page's text without its
    markup, and every string literal it holds, decoded; None for binaries."""
    if path.suffix in BINARY:
        return None
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None
    parts = [raw, *json_strings(raw)]
    if path.suffix == ".html":
        parts += ["".join(parse(path).text), html.unescape(raw)]
    return "\n".join(parts)


def squeezed(line: str) -> str:
    """``line`` without its indentation, runs of spaces as one."""
    return re.sub(r"\s+", " ", line).strip()


def leaked_lines(site: Path, secrets: dict[str, str]) -> list[str]:
    """A built file leaks a secret line when one of its lines is that line (spacing aside)."""
    wanted = {squeezed(line): (line, origin) for line, origin in secrets.items()}
    problems = []
    for path in sorted(site.rglob("*")):
        text = path.is_file() and searchable_text(path)
        for found in {squeezed(line) for line in text.splitlines()} & set(wanted) if text else ():
            line, origin = wanted[found]
            problems.append(f"{path.relative_to(site)} holds a line of {origin}: {line!r}")
    return problems


def stored_figures(notebook: nbformat.NotebookNode) -> list[bytes]:
    """The figures a page keeps: the image outputs of its cells, as bytes."""
    return [base64.b64decode(output.data[kind]) for cell in notebook.cells
            if cell.cell_type == "code" for output in cell.outputs
            for kind in FIGURES if kind in output.get("data", {})]


def missing_figures(site: Path, pages: dict[str, nbformat.NotebookNode]) -> list[str]:
    """``pages`` maps a page's path in the site (notebooks/01-x/01-x.html) to its notebook."""
    problems = []
    for address, notebook in pages.items():
        page = site / address
        shown = {target.read_bytes() for source in parse(page).images
                 if (found := local_target(page, source)) and (target := found[0]).is_file()}
        missing = [figure for figure in stored_figures(notebook) if figure not in shown]
        if missing:
            problems.append(f"{address}: {len(missing)} stored figure(s) not shown as images")
    return problems


def check_site(site: Path, root: Path, pages: dict[str, nbformat.NotebookNode],
               assignments: list[str]) -> SiteReport:
    """All three checks of the built ``site``."""
    return SiteReport(
        pages=sum(1 for _ in site.rglob("*.html")),
        problems=broken_links(site) + leaked_lines(site, secret_lines(root, assignments))
        + missing_figures(site, pages))
