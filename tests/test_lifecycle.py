"""A class of three through nbgrader's whole lifecycle, with the Makefile's instructor commands.

The instructor runs ``make release``; three students, each with their own home folder and
user name, fetch the assignment from the exchange, answer it (one correctly, one not at all,
one with a plausible mistake) and submit; the instructor runs ``make collect``, ``make
autograde``, ``make feedback`` and ``make grades``. Grading runs in the ``smoke`` profile, as
in test_nbgrader.py.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import nbformat

from conftest import ROOT, needs_mirror
from mistakes import MISTAKES
from nbgrader_course import BIN, fill_answers, scores

ASSIGNMENT = "01-trainable-weights"
COURSE_ID = "keras-transfer"


def instructor(course, *targets: str) -> subprocess.CompletedProcess:
    """``make TARGETS`` in the scratch course, with the course's venv."""
    result = subprocess.run(
        ["make", "-s", *targets, f"VENV={ROOT / '.venv'}", f"ASSIGNMENT={ASSIGNMENT}"],
        cwd=course, capture_output=True, text=True,
        env={**os.environ, "COURSE_PROFILE": "smoke"})
    assert result.returncode == 0, f"make {' '.join(targets)}:\n{result.stderr[-3000:]}"
    return result


def student(home, name: str, *args: str) -> None:
    """An nbgrader command run by student ``name`` from their home folder.

    On a shared JupyterHub each student is a system user, whose name nbgrader's exchange
    takes as the student id; here all three share this machine's user, so each names
    themselves with ``--student`` (nbgrader's own option for it)."""
    environment = {**os.environ, "HOME": str(home), "USER": name, "LOGNAME": name,
                   "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args, f"--course={COURSE_ID}", f"--student={name}",
         f"--Exchange.root={home.parent / 'course' / '.nbgrader' / 'exchange'}"],
        cwd=home, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, f"{name}: nbgrader {args}:\n{result.stderr[-3000:]}"


def grades_csv(course) -> dict[tuple[str, str], float]:
    with open(course / "grades.csv") as file:
        return {(row["student_id"], row["exercise"]): float(row["score"])
                for row in csv.DictReader(file) if row["assignment"] == ASSIGNMENT}


@needs_mirror
def test_three_students_from_release_to_grades(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    for name in ["Makefile", "nbgrader_config.py", "requirements.txt"]:
        shutil.copy(ROOT / name, course / name)
    for folder in ["solutions", "notebooks"]:
        shutil.copytree(ROOT / folder, course / folder)
    instructor(course, "release")

    source = course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    answers = {"ada": None, "bob": "blank", "cy": MISTAKES[ASSIGNMENT]["ex1-answer"]}
    for name, answer in answers.items():
        home = tmp_path / name
        home.mkdir()
        student(home, name, "fetch_assignment", ASSIGNMENT)
        fetched = home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        if answer != "blank":
            filled = fill_answers(fetched, source, {"ex1-answer": answer} if answer else None)
            nbformat.write(filled, fetched)
        student(home, name, "submit", ASSIGNMENT)

    instructor(course, "collect", "autograde", "feedback", "grades")
    by_student = {name: scores(course, ASSIGNMENT, name) for name in answers}
    assert by_student == {
        "ada": {"ex1-check": (2.0, 2.0), "ex2-check": (2.0, 2.0)},
        "bob": {"ex1-check": (0.0, 2.0), "ex2-check": (0.0, 2.0)},
        "cy": {"ex1-check": (0.0, 2.0), "ex2-check": (2.0, 2.0)},
    }
    exported = grades_csv(course)
    assert exported == {(name, exercise): score for name, grades in by_student.items()
                        for exercise, (score, _) in grades.items()} | {
        ("ada", "total"): 4.0, ("bob", "total"): 0.0, ("cy", "total"): 2.0}
    for name in answers:
        assert (course / "feedback" / name / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file()

    instructor(course, "autograde")  # grading again gives the same grades
    assert {name: scores(course, ASSIGNMENT, name) for name in answers} == by_student
