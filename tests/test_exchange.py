"""``make collect`` takes regular files and folders only (grader/exchange.py): a submission
holding a symbolic link to the instructor's files, or a FIFO, is refused with the student's
name, and the rest of the class is collected."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nbgrader_course import BIN, COURSE_ID, copy_course, fetch_answer_submit

ASSIGNMENT = "01-trainable-weights"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


def inbound(course: Path, student: str) -> Path:
    (folder,) = (course / ".nbgrader" / "exchange" / COURSE_ID / "inbound").glob(
        f"{student}+{ASSIGNMENT}+*")
    return folder


def collect(course: Path, *options: str) -> subprocess.CompletedProcess:
    """``make collect``'s command, with nbgrader's log at WARN as the Makefile runs it."""
    return subprocess.run([sys.executable, "-m", "nbgrader", "collect", ASSIGNMENT, "--update",
                           "--log-level=WARN", *options], cwd=course, capture_output=True,
                          text=True, env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})


@pytest.fixture(scope="module")
def submitted_class(released_course, tmp_path_factory) -> Path:
    """ada submits her notebook; eve's notebook is a link to the solutions notebook, mal's
    submission holds a link to the grading secret, sam's whole folder is a link; fay
    submits too (see class_with_links)."""
    course = copy_course(released_course, tmp_path_factory.mktemp("links"))
    secret = course / ".nbgrader" / "grading-secret"
    secret.write_text("the course's secret")
    fetch_answer_submit(course, "ada", ASSIGNMENT, "blank")
    ada = inbound(course, "ada")
    for name in ["eve", "mal", "sam", "fay"]:  # the same submission under their names
        shutil.copytree(ada, ada.with_name(ada.name.replace("ada+", f"{name}+", 1)))
    solution = course / "solutions" / ASSIGNMENT / NOTEBOOK
    (inbound(course, "eve") / NOTEBOOK).unlink()
    (inbound(course, "eve") / NOTEBOOK).symlink_to(solution)
    (inbound(course, "mal") / "notes.txt").symlink_to(secret)
    sam = inbound(course, "sam")
    os.rename(sam, course.parent / "sam-submission")
    sam.symlink_to(course / "solutions" / ASSIGNMENT)
    return course


@pytest.fixture
def class_with_links(submitted_class, tmp_path) -> Path:
    """A copy of submitted_class (its links kept as links), where fay's submission also
    holds a FIFO, made in the copy since copying one would wait on it forever."""
    course = copy_course(submitted_class, tmp_path)
    os.mkfifo(inbound(course, "fay") / "data")
    return course


def test_collect_refuses_links_and_names_the_student_and_file(class_with_links):
    course = class_with_links
    result = collect(course)
    assert result.returncode == 0, result.stderr
    submitted = course / "submitted"
    assert sorted(path.name for path in submitted.iterdir()) == ["ada"]
    said = result.stderr
    for student, file in [("eve", NOTEBOOK), ("mal", "notes.txt"), ("sam", ""), ("fay", "data")]:
        where = re.escape(f"/{file}") if file else ""
        assert re.search(rf"not collected: {student}'s submission of {ASSIGNMENT}: "
                         rf"{student}\+{ASSIGNMENT}\+[^/\n]*{where} is ", said), said
    assert f"is a symbolic link to {os.readlink(inbound(course, 'eve') / NOTEBOOK)}" in said
    assert "data is not a regular file or folder" in said


def test_nbgraders_own_collect_would_store_the_solutions_as_a_submission(class_with_links):
    """The attack, verified: stock nbgrader follows the link (the FIFO is left out, since
    copying it would hang)."""
    course = class_with_links
    os.unlink(next((inbound(course, "fay")).glob("data")))
    result = collect(course, "--ExchangeFactory.collect="
                             "nbgrader.exchange.default.ExchangeCollect")
    assert result.returncode == 0, result.stderr
    eve = course / "submitted" / "eve" / ASSIGNMENT / NOTEBOOK
    solution = Path(os.readlink(inbound(course, "eve") / NOTEBOOK))
    assert solution.name == NOTEBOOK and solution.parent.parent.name == "solutions"
    assert not eve.is_symlink() and eve.read_bytes() == solution.read_bytes()
    mal = course / "submitted" / "mal" / ASSIGNMENT / "notes.txt"
    assert mal.read_text() == "the course's secret"
