"""A class of three through nbgrader's whole lifecycle, with the Makefile's instructor commands.

The instructor runs ``make release``; three students, each with their own home folder and
user name, fetch the assignment from the exchange, answer it (one correctly, one not at all,
one with a plausible mistake) and submit, and a fourth submits a notebook cut short by a
failed upload; the instructor runs ``make collect autograde feedback grades``, which runs
through for the whole class. Then one student resubmits a fixed answer, and it alone is
graded again. Grading runs in the ``smoke`` profile, as
in test_nbgrader.py.
"""

from __future__ import annotations

import csv
import re

import nbformat

from conftest import needs_mirror
from mistakes import MISTAKES
from nbgrader_course import (copy_course, fetch_answer_submit, fill_answers, hidden_test_lines,
                             instructor, page_text, scores, student)

ASSIGNMENT = "01-trainable-weights"


def grades_csv(course) -> dict[tuple[str, str], float]:
    with open(course / "grades.csv") as file:
        return {(row["student_id"], row["exercise"]): float(row["score"])
                for row in csv.DictReader(file) if row["assignment"] == ASSIGNMENT}


@needs_mirror
def test_a_class_from_release_to_grades_past_a_broken_submission(released_course, tmp_path):
    course = copy_course(released_course, tmp_path)
    mistake = {"ex1-answer": MISTAKES[ASSIGNMENT]["ex1-answer"]}
    answers = {"ada": None, "bob": "blank", "cy": mistake}
    for name, answer in answers.items():
        fetch_answer_submit(course, name, ASSIGNMENT, answer)
    broken = course.parent / "dan"
    broken.mkdir()
    student(broken, "dan", "fetch_assignment", ASSIGNMENT)
    notebook = broken / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    notebook.write_text(notebook.read_text()[:3000])
    student(broken, "dan", "submit", ASSIGNMENT)

    # One make run: the broken submission does not stop the class's feedback and grades.
    done = instructor(course, "collect", "autograde", "feedback", "grades", assignment=ASSIGNMENT)
    assert re.search(r"1 not graded .*\n  dan 01-trainable-weights: \S+\.ipynb is not a "
                     r"readable notebook", done.stdout), done.stdout[-2000:]
    by_student = {name: scores(course, ASSIGNMENT, name) for name in answers}
    assert by_student == {
        "ada": {"ex1-check": (2.0, 2.0), "ex2-check": (2.0, 2.0)},
        "bob": {"ex1-check": (0.0, 2.0), "ex2-check": (0.0, 2.0)},
        "cy": {"ex1-check": (0.0, 2.0), "ex2-check": (2.0, 2.0)},
    }
    exported = grades_csv(course)
    assert exported == {(name, exercise): score for name, grades in by_student.items()
                        for exercise, (score, _) in grades.items()} | {
        ("ada", "total"): 4.0, ("bob", "total"): 0.0, ("cy", "total"): 2.0,
        ("dan", "ex1-check"): 0.0, ("dan", "ex2-check"): 0.0, ("dan", "total"): 0.0}
    hidden = hidden_test_lines(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    assert hidden
    pages = {name: page_text(course / "feedback" / name / ASSIGNMENT / f"{ASSIGNMENT}.html")
             for name in answers}
    for name, text in pages.items():
        assert [line for line in hidden if line in text] == [], f"{name}: hidden tests leaked"
    # The student still sees the failed check's feedback, and their points.
    assert all(word in pages["cy"] for word in ["✗", "expected:", "found:", "hint:"])
    assert re.search(r"Score:\s*2(\.0)?\s*/\s*4", pages["cy"]), pages["cy"][:500]

    instructor(course, "autograde", assignment=ASSIGNMENT)  # grading again gives the same grades
    assert {name: scores(course, ASSIGNMENT, name) for name in answers} == by_student

    # cy fixes her answer and submits again: collected, graded again without --force (a
    # newer timestamp.txt, as nbgrader decides), her feedback rebuilt; the others are kept.
    graded_ada = (course / "autograded" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").stat()
    home = course.parent / "cy"
    release = course / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nbformat.write(fill_answers(release, course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"),
                   home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    student(home, "cy", "submit", ASSIGNMENT)
    done = instructor(course, "collect", "autograde", "feedback", assignment=ASSIGNMENT)
    assert "autograde: cy 01-trainable-weights: a newer submission" in done.stdout, done.stdout
    assert "2 submissions" in done.stdout  # cy's, and dan's, which still cannot be read
    assert scores(course, ASSIGNMENT, "cy") == {"ex1-check": (2.0, 2.0), "ex2-check": (2.0, 2.0)}
    assert scores(course, ASSIGNMENT, "ada") == by_student["ada"]
    assert (course / "autograded" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").stat() == graded_ada
    page = page_text(course / "feedback" / "cy" / ASSIGNMENT / f"{ASSIGNMENT}.html")
    assert re.search(r"Score:\s*4(\.0)?\s*/\s*4", page) and "✗" not in page, page[:500]

