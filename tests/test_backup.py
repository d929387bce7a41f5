"""``make backup``, ``make restore``, ``make clean`` and ``make delete-class`` on a scratch
course: grades are copied and put back, and nothing deletes them by accident."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from pathlib import Path

from nbgrader.api import Gradebook

from conftest import ASSIGNMENTS, ROOT
from grader.backup import copy_database
from nbgrader_course import COURSE_ID, copy_course


def make(course: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args, f"VENV={ROOT / '.venv'}"], cwd=course,
                          input=stdin, capture_output=True, text=True)


def students(course: Path) -> list[str]:
    url = "sqlite:///" + str(course / ".nbgrader" / "gradebook.db")
    with Gradebook(url, course_id=COURSE_ID) as gradebook:
        return sorted(student.id for student in gradebook.students)


def add_student(course: Path, name: str) -> None:
    url = "sqlite:///" + str(course / ".nbgrader" / "gradebook.db")
    with Gradebook(url, course_id=COURSE_ID) as gradebook:
        gradebook.add_student(name)


def test_backup_then_restore_brings_the_gradebook_and_secret_back(released_course, tmp_path):
    course = copy_course(released_course, tmp_path)
    secret = course / ".nbgrader" / "grading-secret"
    secret.write_bytes(b"the course's secret")
    add_student(course, "ada")

    made = make(course, "backup")
    assert made.returncode == 0, made.stderr
    folder = course / re.search(r"backed up into (\S+):", made.stdout)[1]
    assert sorted(path.name for path in folder.iterdir()) == ["gradebook.db", "grading-secret"]
    assert f"{len(ASSIGNMENTS)} assignments, 1 students, 0 submissions" in made.stdout, made.stdout
    assert oct(folder.stat().st_mode & 0o777) == "0o700"

    add_student(course, "bob")  # the gradebook changes after the backup; the secret is lost
    secret.unlink()

    restored = make(course, "restore", f"BACKUP={folder.relative_to(course)}")
    assert restored.returncode == 0, restored.stderr
    assert students(course) == ["ada"] and secret.read_bytes() == b"the course's secret"
    kept = course / re.search(r"what the course had is in (\S+)$", restored.stdout.strip())[1]
    assert kept != folder and (kept / "gradebook.db").is_file()  # the replaced one is kept
    assert "2 students" in make(course, "restore", f"BACKUP={kept.relative_to(course)}").stdout


def test_restore_needs_a_backup_folder(released_course, tmp_path):
    course = copy_course(released_course, tmp_path)
    assert "usage: make restore BACKUP=" in make(course, "restore").stdout
    wrong = make(course, "restore", "BACKUP=notebooks")
    assert wrong.returncode != 0 and "holds no gradebook.db" in wrong.stderr


def test_a_backup_while_a_grade_is_being_written_is_consistent(tmp_path):
    database = tmp_path / "gradebook.db"
    with sqlite3.connect(database) as setup:
        setup.execute("CREATE TABLE grade (score REAL)")
        setup.execute("INSERT INTO grade VALUES (1)")
    writer = sqlite3.connect(database)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO grade VALUES (2)")  # not committed yet
    copy_database(database, tmp_path / "copy.db")
    writer.rollback()
    writer.close()
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT score FROM grade").fetchall() == [(1,)]


def test_clean_keeps_the_class_and_delete_class_asks_first(released_course, tmp_path):
    course = copy_course(released_course, tmp_path)
    (course / "submitted" / "ada").mkdir(parents=True)
    class_data = [course / ".nbgrader" / "gradebook.db", course / ".nbgrader" / "exchange",
                  course / "submitted" / "ada"]

    assert make(course, "clean").returncode == 0
    assert all(path.exists() for path in class_data)

    for answer in [None, "yes\n"]:  # no terminal, or anything but "delete": nothing goes
        refused = make(course, "delete-class", stdin=answer)
        assert refused.returncode != 0 and "nothing deleted" in refused.stdout
        assert ".nbgrader" in refused.stdout and all(path.exists() for path in class_data)

    deleted = make(course, "delete-class", stdin="delete\n")
    assert deleted.returncode == 0, deleted.stderr
    assert not any(path.exists() for path in class_data)
