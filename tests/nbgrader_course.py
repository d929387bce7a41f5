"""Run nbgrader on a scratch copy of the course, the way an instructor would."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from conftest import ROOT

BIN = Path(sys.executable).parent
COURSE_ID = "keras-transfer"


def nbgrader(course: Path, *args: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess:
    """Run an nbgrader command in ``course`` (with the venv's tools, alembic, on PATH).

    ``env`` adds or replaces environment variables for the command (and the kernels it starts).
    """
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
        capture_output=True, text=True,
    )
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stderr[-4000:]}"
    return result


def autograde(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``make autograde``'s command (``python -m grader.autograde``) in ``course``, with
    kernels in the ``smoke`` profile (see test_nbgrader.py)."""
    result = subprocess.run([sys.executable, "-m", "grader.autograde", *args], cwd=course,
                            capture_output=True, text=True,
                            env={**os.environ, "COURSE_PROFILE": "smoke"})
    assert not check or result.returncode == 0, (
        f"autograde {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


def line_index(lines: list[str], marker: str) -> int:
    """Index of the first line that is ``marker`` (indentation ignored)."""
    return next(i for i, line in enumerate(lines) if line.strip() == marker)


def solution_body(source: str) -> list[str]:
    """The lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, as indented."""
    lines = source.splitlines()
    return lines[line_index(lines, "### BEGIN SOLUTION") + 1 : line_index(lines, "### END SOLUTION")]


def fill_answers(release: Path, source: Path, answers: dict[str, str] | None = None):
    """A student's submission: the released notebook with every answer cell filled in.

    Answer cells get the instructor's solution, except those named in ``answers``
    (grade_id -> code, indented as it must stand in the cell), which get that code instead.
    """
    answers = answers or {}
    solutions = {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nbformat.read(source, as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    notebook = nbformat.read(release, as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id not in solutions:
            continue
        body = answers.get(grade_id, "\n".join(solution_body(solutions[grade_id])))
        cell.source = answered(cell.source, body)
    return notebook


def answered(stub_source: str, body: str) -> str:
    """An answer cell's released source with its stub (``# YOUR CODE HERE`` and the
    ``raise NotImplementedError()`` after it) replaced by ``body``."""
    lines = stub_source.splitlines()
    start = line_index(lines, "# YOUR CODE HERE")
    return "\n".join(lines[:start] + body.splitlines() + lines[start + 2 :])


def submit(course: Path, student: str, assignment: str, notebook) -> None:
    """Place a submission where `nbgrader autograde` looks for it."""
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{assignment}.ipynb")


def scores(course: Path, assignment: str, student: str) -> dict[str, tuple[float, float]]:
    """grade_id -> (score, max_score) of each autograded test cell of a submission."""
    from nbgrader.api import Gradebook

    url = "sqlite:///" + str(course / ".nbgrader" / "gradebook.db")
    with Gradebook(url, course_id=COURSE_ID) as gradebook:
        submission = gradebook.find_submission_notebook(assignment, assignment, student)
        return {g.name: (g.score, g.max_score) for g in submission.grades}


def instructor(course: Path, *targets: str, assignment: str) -> subprocess.CompletedProcess:
    """``make TARGETS ASSIGNMENT=assignment`` in a scratch course, with the course's venv.

    Kernels run the ``smoke`` profile (see test_nbgrader.py)."""
    result = subprocess.run(
        ["make", "-s", *targets, f"VENV={ROOT / '.venv'}", f"ASSIGNMENT={assignment}"],
        cwd=course, capture_output=True, text=True,
        env={**os.environ, "COURSE_PROFILE": "smoke"})
    assert result.returncode == 0, f"make {' '.join(targets)}:\n{result.stderr[-3000:]}"
    return result


def student(home: Path, name: str, *args: str) -> None:
    """An nbgrader command run by student ``name`` from their home folder.

    On a shared JupyterHub each student is a system user, whose name nbgrader's exchange
    takes as the student id; here all students share this machine's user, so each names
    themselves with ``--student`` (nbgrader's own option for it). The course is
    ``home``'s sibling ``course/``."""
    environment = {**os.environ, "HOME": str(home), "USER": name, "LOGNAME": name,
                   "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args, f"--course={COURSE_ID}", f"--student={name}",
         f"--Exchange.root={home.parent / 'course' / '.nbgrader' / 'exchange'}"],
        cwd=home, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, f"{name}: nbgrader {args}:\n{result.stderr[-3000:]}"


def fetch_answer_submit(course: Path, name: str, assignment: str,
                        answers: dict[str, str] | None | str) -> None:
    """Student ``name`` fetches ``assignment``, answers it and submits it.

    ``answers`` is passed to :func:`fill_answers`, or is "blank" for an untouched notebook."""
    home = course.parent / name
    home.mkdir()
    student(home, name, "fetch_assignment", assignment)
    fetched = home / assignment / f"{assignment}.ipynb"
    if answers != "blank":
        source = course / "solutions" / assignment / f"{assignment}.ipynb"
        nbformat.write(fill_answers(fetched, source, answers), fetched)
    student(home, name, "submit", assignment)


def released_scratch_course(course: Path) -> Path:
    """A scratch copy of the course at ``course`` after the instructor's `make release
    CONFIRM=release` (every assignment generated into the gradebook and released to the
    course's exchange)."""
    course.mkdir(parents=True)
    for name in ["Makefile", "nbgrader_config.py", "requirements.txt"]:
        shutil.copy(ROOT / name, course / name)
    shutil.copytree(ROOT / "solutions", course / "solutions")  # notebooks/ is generated
    instructor(course, "release", "CONFIRM=release", assignment="")
    return course


def copy_course(course: Path, parent: Path) -> Path:
    """A copy of ``course`` (gradebook and exchange included) as ``parent/course``."""
    return shutil.copytree(course, parent / "course", symlinks=True)


def hidden_test_lines(source: Path) -> list[str]:
    """Every non-blank line between the instructor's HIDDEN TESTS markers."""
    lines, hidden = [], False
    for cell in nbformat.read(source, as_version=4).cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                hidden = "BEGIN" in line
            elif hidden and line.strip():
                lines.append(line.strip())
    return lines


def page_text(path: Path) -> str:
    """An HTML page's text with its markup removed, as a student could read or search it
    (syntax highlighting splits code into many tags)."""
    return html.unescape(re.sub(r"<[^>]*>", "", path.read_text()))
