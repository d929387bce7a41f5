"""nbgrader: notebooks/ is what nbgrader makes from solutions/, and grading works end to end.

The round trip autogrades, for each assignment: the instructor's solutions (full marks),
the untouched student notebook (zero, without crashing), the plausible mistakes of every
other exercise together (exactly those exercises' points lost, see :func:`mistake_groups`,
while the right answers beside them keep theirs though their visible checks fail),
and the submissions of tests/hostile.py that try to get points without the lesson or attack
the checks (exactly the points they faked lost, and the solutions' grade unchanged). One
`make autograde` run grades them all, in a copy of the released course.

Grading runs in the ``smoke`` profile (96x96 images, 160 per split, 2 epochs a phase; 07 at
48x48, 3 images per class and split, 1 epoch a phase): every submission executes its whole
notebook, and the quick profile's training, run once per submission, would take most of CI's
time. nbval executes the quick profile once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import nbformat
import pytest

from conftest import ASSIGNMENTS, NOTEBOOKS, SOLUTIONS, needs_mirror
from hostile import HOSTILE
from mistakes import MISTAKES
from grader.judge import JUDGED_CALL
from nbgrader_course import (autograde, copy_course, fill_answers, hidden_test_lines, nbgrader,
                             page_text, scores, submit)


def test_release_of_an_unknown_assignment_stops_and_names_it(released_course, tmp_path):
    course = copy_course(released_course, tmp_path)
    result = subprocess.run([sys.executable, "-m", "grader.release", ASSIGNMENTS[0], "07-nope"],
                            cwd=course, capture_output=True, text=True)
    # every assignment is generated before any is released: nothing reaches the students
    assert result.returncode != 0 and result.stdout == ""
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
        f"{committed} differs from what nbgrader generates from solutions/: run `make generate`"
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


def mistake_groups(assignment) -> list[list[str]]:
    """The answer cells whose plausible mistakes share a submission: every other exercise,
    so that each submission holds a mistake next to a right answer on either side. A mistake in a
    later cell cannot change an earlier test cell's verdict, and the right neighbours show that no
    mistake costs another exercise's points; notebooks of three or four exercises execute
    two mistaken submissions instead of one per exercise."""
    answers = list(MISTAKES.get(assignment, {}))
    return [group for group in (answers[0::2], answers[1::2]) if group]


def mistakes_name(group: list[str]) -> str:
    return "mistakes-" + "-".join(answer_id.removesuffix("-answer") for answer_id in group)


#: A cell that makes exercise NAME's visible check fail, as the notebook's own objects can
#: when an earlier exercise was answered wrongly (03.1 leaving 03.2's model untrainable).
BROKEN_VISIBLE_CHECK = (
    "import exercises\n"
    "def _broken(*args, **kwargs):\n"
    "    raise exercises.checks.CheckFailed('✗ the notebook state an earlier answer left')\n"
    "exercises.exercise({name!r}).check = _broken")


def with_visible_checks_broken(notebook, test_ids: list[str]):
    """``notebook`` with a cell before each of the test cells ``test_ids`` that makes its
    visible check fail: a right answer must keep its points (its grade comes from the fresh
    inputs alone)."""
    for test_id in test_ids:
        index = next(i for i, cell in enumerate(notebook.cells)
                     if cell.metadata.get("nbgrader", {}).get("grade_id") == test_id)
        name = JUDGED_CALL.search(notebook.cells[index].source)
        if name is None:  # the student's notebook: the hidden call is in the gradebook's copy
            name = re.search(r'check\(\s*"(\w+)"', notebook.cells[index].source)
        notebook.cells.insert(index, nbformat.v4.new_code_cell(
            BROKEN_VISIBLE_CHECK.format(name=name.group(1))))
    return notebook


def submit_round_trip(course, assignment) -> None:
    """The round trip's submissions of ``assignment``: the solutions, the untouched notebook,
    one per plausible mistake, and the hostile ones."""
    release, source = paths(course, assignment)
    submit(course, "solution", assignment, fill_answers(release, source))
    submit(course, "blank", assignment, nbformat.read(release, as_version=4))
    for group in mistake_groups(assignment):
        notebook = fill_answers(release, source, {answer_id: MISTAKES[assignment][answer_id]
                                                  for answer_id in group})
        submit(course, mistakes_name(group), assignment, with_visible_checks_broken(
            notebook, [a.replace("-answer", "-check") for a in MISTAKES[assignment]
                       if a not in group]))
    for name, (answers, files, _) in HOSTILE.get(assignment, {}).items():
        submit(course, name, assignment, fill_answers(release, source, answers))
        for path, text in files.items():
            shipped = course / "submitted" / name / assignment / path
            shipped.parent.mkdir(parents=True, exist_ok=True)
            shipped.write_text(text)


@pytest.fixture(scope="module")
def graded(released_course, tmp_path_factory):
    """A copy of the released course once every assignment's round trip is autograded and
    its feedback generated.

    Graded in the smoke profile: the same cells and checks on little data, since every
    submission executes the whole notebook (nbval runs the real quick profile once). One run
    of `make autograde`'s command grades every assignment, as an instructor's does, with a
    worker per core; the assignments are named longest first, so that the last submissions
    graded are short ones."""
    course = copy_course(released_course, tmp_path_factory.mktemp("round-trip"))
    for assignment in ASSIGNMENTS:
        submit_round_trip(course, assignment)
    (course / ".nbgrader" / "grading-secret").write_text("round trip")  # the same seeds
    autograde(course, *reversed(ASSIGNMENTS), "--force", f"--workers={os.cpu_count() or 1}")
    for assignment in ASSIGNMENTS:
        nbgrader(course, "generate_feedback", assignment, "--force")
    return course


@needs_mirror
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_autograde_round_trip(graded, assignment):
    course = graded
    mistakes = MISTAKES.get(assignment, {})
    full = scores(course, assignment, "solution")
    assert len(full) >= 2 and all(score == top > 0 for score, top in full.values()), full
    assert scores(course, assignment, "blank") == expected_scores(full, lost=full), "blank"
    assert set(mistakes) == {name.replace("-check", "-answer") for name in full}, (
        "every exercise needs one plausible mistake in tests/mistakes.py"
    )
    for group in mistake_groups(assignment):
        lost = {answer_id.replace("-answer", "-check") for answer_id in group}
        assert scores(course, assignment, mistakes_name(group)) == expected_scores(
            full, lost=lost), f"mistakes in {group}"


@needs_mirror
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_never_shows_hidden_tests(graded, assignment):
    course = graded
    hidden = hidden_test_lines(course / "solutions" / assignment / f"{assignment}.ipynb")
    pages = sorted((course / "feedback").glob(f"*/{assignment}/{assignment}.html"))
    assert hidden and len(pages) == len(list(course.glob(f"submitted/*/{assignment}")))
    for page in pages:
        student = page.parent.parent.name
        own = (course / "submitted" / student / assignment / f"{assignment}.ipynb").read_text()
        text = page_text(page)
        leaked = [line for line in hidden if line in text and json.dumps(line)[1:-1] not in own]
        assert leaked == [], f"{page}: hidden tests leaked"  # lines it did not write itself


@needs_mirror
@pytest.mark.parametrize("assignment, name", [(assignment, name) for assignment in HOSTILE
                                              for name in HOSTILE[assignment]])
def test_hostile_submissions_get_the_honest_grade(graded, assignment, name):
    course = graded
    full = scores(course, assignment, "solution")
    assert all(score == top > 0 for score, top in full.values()), "the control lost points"
    _, _, lost = HOSTILE[assignment][name]
    assert scores(course, assignment, name) == expected_scores(full, lost=lost)


@needs_mirror
@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if "describe()" in (
    SOLUTIONS / a / f"{a}.ipynb").read_text()])
def test_graded_kernels_load_the_graders_assets_without_the_mirror(graded, assignment):
    """The kernels never see COURSE_ASSETS: the solutions' full marks in 04-07 come from the
    weights and datasets the grader fetched and bound into each sandbox (grader/assets.py),
    read through the course's online code path, as on a grading host with no mirror."""
    notebook = nbformat.read(graded / "autograded" / "solution" / assignment /
                             f"{assignment}.ipynb", as_version=4)
    printed = "".join(output.get("text", "") for cell in notebook.cells
                      if cell.cell_type == "code" for output in cell.outputs)
    sources = re.findall(r"weights and data from ([\w ]+)", printed)
    assert sources and set(sources) == {"official downloads"}, sources
