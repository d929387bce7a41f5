"""nbgrader: notebooks/ is what nbgrader makes from solutions/, and grading works end to end.

The round trip autogrades, for each assignment: the instructor's solutions (full marks),
the untouched student notebook (zero, without crashing), one submission per plausible
mistake (exactly that exercise's points lost), and the submissions of tests/hostile.py that
try to get points without the lesson or attack the checks (exactly the points they faked
lost, and the solutions' grade unchanged). Assignments are graded side by side, each in its
own copy of the released course.

Grading runs in the ``smoke`` profile (96x96 images, 160 per split, 2 epochs a phase; 07 at
48x48, 3 images per class and split, 1 epoch a phase): every submission executes its whole
notebook, and the quick profile's training, run once per submission, would take most of CI's
time. nbval executes the quick profile once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from conftest import ASSIGNMENTS, NOTEBOOKS, needs_mirror
from hostile import HOSTILE
from mistakes import MISTAKES
from nbgrader_course import (autograde, copy_course, fill_answers, hidden_test_lines, nbgrader,
                             page_text, scores, submit)


def test_release_of_an_unknown_assignment_stops_and_names_it(released_course, tmp_path):
    course = copy_course(released_course, tmp_path)
    result = subprocess.run([sys.executable, "-m", "grader.release", ASSIGNMENTS[0], "07-nope"],
                            cwd=course, capture_output=True, text=True)
    assert result.returncode != 0 and result.stdout == f"released {ASSIGNMENTS[0]}\n"
    assert result.stderr.startswith("generate_assignment 07-nope failed:\n[ERROR] No notebooks")


def paths(course, assignment):
    name = f"{assignment}/{assignment}.ipynb"
    return course / "notebooks" / name, course / "solutions" / name


def test_every_solution_has_a_released_notebook_and_no_more():
    released = sorted(p.name for p in NOTEBOOKS.iterdir() if p.is_dir())
    assert released == ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebooks_are_exactly_what_nbgrader_generates(released_course, assignment):
    generated, _ = paths(released_course, assignment)
    committed = NOTEBOOKS / assignment / f"{assignment}.ipynb"
    assert committed.read_text() == generated.read_text(), (
        f"{committed} differs from what nbgrader generates from solutions/: run `make release`"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebooks_hide_solutions_and_hidden_tests(released_course, assignment):
    generated, _ = paths(released_course, assignment)
    text = generated.read_text()
    for marker in ["BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "importlib.reload",
                   "exercises.record"]:
        assert marker not in text
    notebook = nbformat.read(generated, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


def expected_scores(grades, lost=()):
    return {name: (0.0 if name in lost else top, top) for name, (_, top) in grades.items()}


def submit_round_trip(course, assignment) -> None:
    """The round trip's submissions of ``assignment``: the solutions, the untouched notebook,
    one per plausible mistake, and the hostile ones."""
    release, source = paths(course, assignment)
    submit(course, "solution", assignment, fill_answers(release, source))
    submit(course, "blank", assignment, nbformat.read(release, as_version=4))
    for answer_id, code in MISTAKES.get(assignment, {}).items():
        submit(course, f"mistake-{answer_id}", assignment,
               fill_answers(release, source, {answer_id: code}))
    for name, (answers, files, _) in HOSTILE.get(assignment, {}).items():
        submit(course, name, assignment, fill_answers(release, source, answers))
        for path, text in files.items():
            shipped = course / "submitted" / name / assignment / path
            shipped.parent.mkdir(parents=True, exist_ok=True)
            shipped.write_text(text)


@pytest.fixture(scope="module")
def graded(released_course, tmp_path_factory):
    """assignment -> a future of its own course copy, once its round trip is autograded.

    Graded in the smoke profile: the same cells and checks on little data, since every
    submission executes the whole notebook (nbval runs the real quick profile once). Each
    assignment is graded by `make autograde`'s command with one worker, in its own course
    copy, as many side by side as the machine has cores (tests/test_sandbox.py grades
    with two workers)."""
    def grade_round_trip(assignment):
        course = copy_course(released_course, tmp_path_factory.mktemp(assignment))
        submit_round_trip(course, assignment)
        (course / ".nbgrader" / "grading-secret").write_text("round trip")  # the same seeds
        autograde(course, assignment, "--force", "--workers=1")
        nbgrader(course, "generate_feedback", assignment, "--force")
        return course

    with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, len(ASSIGNMENTS))) as pool:
        yield {assignment: pool.submit(grade_round_trip, assignment)
               for assignment in reversed(ASSIGNMENTS)}  # the longer notebooks first


@needs_mirror
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_autograde_round_trip(graded, assignment):
    course = graded[assignment].result()
    mistakes = MISTAKES.get(assignment, {})
    full = scores(course, assignment, "solution")
    assert len(full) >= 2 and all(score == top > 0 for score, top in full.values()), full
    assert scores(course, assignment, "blank") == expected_scores(full, lost=full), "blank"
    assert set(mistakes) == {name.replace("-check", "-answer") for name in full}, (
        "every exercise needs one plausible mistake in tests/mistakes.py"
    )
    for answer_id in mistakes:
        check_id = answer_id.replace("-answer", "-check")
        assert scores(course, assignment, f"mistake-{answer_id}") == expected_scores(
            full, lost={check_id}
        ), f"mistake in {answer_id}"


@needs_mirror
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_never_shows_hidden_tests(graded, assignment):
    course = graded[assignment].result()
    hidden = hidden_test_lines(course / "solutions" / assignment / f"{assignment}.ipynb")
    pages = sorted((course / "feedback").glob(f"*/{assignment}/{assignment}.html"))
    assert hidden and len(pages) == len(list((course / "submitted").iterdir()))
    for page in pages:
        text = page_text(page)
        assert [line for line in hidden if line in text] == [], f"{page}: hidden tests leaked"


@needs_mirror
@pytest.mark.parametrize("assignment, name", [(assignment, name) for assignment in HOSTILE
                                              for name in HOSTILE[assignment]])
def test_hostile_submissions_get_the_honest_grade(graded, assignment, name):
    course = graded[assignment].result()
    full = scores(course, assignment, "solution")
    assert all(score == top > 0 for score, top in full.values()), "the control lost points"
    _, _, lost = HOSTILE[assignment][name]
    assert scores(course, assignment, name) == expected_scores(full, lost=lost)
