"""Run nbgrader on a scratch copy of the course, the way an instructor would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from conftest import ROOT

BIN = Path(sys.executable).parent


def make_course(root: Path) -> Path:
    """Copy the nbgrader config and solutions/ into ``root``; return ``root``."""
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions", root / "solutions")
    (root / ".nbgrader").mkdir()
    return root


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
        lines = cell.source.splitlines()
        start = line_index(lines, "# YOUR CODE HERE")
        cell.source = "\n".join(lines[:start] + body.splitlines() + lines[start + 2 :])
    return notebook


def submit(course: Path, student: str, assignment: str, notebook) -> None:
    """Place a submission where `nbgrader autograde` looks for it."""
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{assignment}.ipynb")


def scores(course: Path, assignment: str, student: str) -> dict[str, tuple[float, float]]:
    """grade_id -> (score, max_score) of each autograded test cell of a submission."""
    from nbgrader.api import Gradebook

    url = "sqlite:///" + str(course / ".nbgrader" / "gradebook.db")
    with Gradebook(url, course_id="keras-transfer") as gradebook:
        submission = gradebook.find_submission_notebook(assignment, assignment, student)
        return {g.name: (g.score, g.max_score) for g in submission.grades}
