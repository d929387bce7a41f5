"""A new assignment, as an instructor adds one: the guide's worked exercise, and plain nbgrader.

* ``docs/writing-exercises.md`` writes an exercise as one module and two notebook cells. This
  test copies those code blocks from the page into a scratch course, releases the notebook
  with ``make release``, grades a right, a typed and a hostile answer with ``make
  autograde`` (the sandbox and the judge outside the kernel), and checks each grade; the
  example in the guide cannot fall out of date.
* An ordinary nbgrader assignment, with plain ``assert`` test cells and no exercise, graded by
  ``make autograde`` through the sandbox, gets the grades stock nbgrader gives it (its own
  ``nbgrader autograde``, default preprocessors, in a course of its own).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import ROOT
from grader.sandbox import bubblewrap_problem
from nbgrader_course import fill_answers, instructor, nbgrader, scores, submit

GUIDE = ROOT / "docs" / "writing-exercises.md"
TOY, PLAIN = "99-frozen-layers", "98-squares"

pytestmark = pytest.mark.skipif(bubblewrap_problem() is not None,
                                reason=f"the sandbox cannot start: {bubblewrap_problem()}")


def guide_blocks() -> dict[str, str]:
    """The guide's Python blocks, by the comment on their first line (which is dropped)."""
    blocks = re.findall(r"```python\n# ([^\n]+)\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    return {label: body for label, body in blocks}


def answer_cell(source: str, grade_id: str):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False,
                                 "schema_version": 3, "solution": True, "task": False}
    return cell


def graded_cell(source: str, grade_id: str, points: int):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True,
                                 "points": points, "schema_version": 3, "solution": False,
                                 "task": False}
    return cell


def write_assignment(course: Path, name: str, cells: list) -> None:
    folder = course / "solutions" / name
    folder.mkdir(parents=True)
    nbformat.write(new_notebook(cells=cells), folder / f"{name}.ipynb")


def toy_notebook(blocks: dict[str, str]) -> list:
    """The guide's exercise in a notebook: a setup cell, its answer cell and test cell."""
    return [new_markdown_cell("# Frozen layers"),
            new_code_cell("import keras\nfrom exercises import check\n\n"
                          "stack = keras.Sequential([keras.Input((3,)),\n"
                          "                          keras.layers.Dense(2, trainable=False),\n"
                          "                          keras.layers.Dense(2)], name='stack')"),
            answer_cell(blocks["answer cell"].strip(), "ex1-answer"),
            graded_cell(blocks["test cell"].strip(), "ex1-check", 1)]


SQUARES = '''def squares(n):
    """The squares of the numbers from 1 to n."""
    ### BEGIN SOLUTION
    if n < 1:
        raise ValueError("n must be at least 1")
    return [i ** 2 for i in range(1, n + 1)]
    ### END SOLUTION'''

#: nbgrader's own documentation assignment, in small: plain asserts, one hidden.
PLAIN_CELLS = [new_markdown_cell("# Squares"), answer_cell(SQUARES, "squares"),
               graded_cell("assert squares(1) == [1]\nassert squares(2) == [1, 4]",
                         "correct_squares", 1),
               graded_cell("try:\n    squares(0)\nexcept ValueError:\n    pass\nelse:\n"
                         "    raise AssertionError('did not raise')\n"
                         "### BEGIN HIDDEN TESTS\nassert squares(3) == [1, 4, 9]\n"
                         "### END HIDDEN TESTS", "squares_invalid_input", 2)]

#: student -> (the answer to the toy exercise, the grade it must get)
TOY_ANSWERS = {
    "right": (None, 1.0),
    # the notebook's own `stack` has one frozen layer
    "typed": ("    return 1", 0.0),
    # a typed number, a passing `check`, and every error swallowed
    "hostile": ("    return 1\n\n\ncheck = lambda *args, **kwargs: print('✓ faked')\n"
                "get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)",
                0.0),
}

#: student -> the body of `squares`, or None for the solution
PLAIN_ANSWERS = {
    "right": None,
    "no-error": "    return [i ** 2 for i in range(1, n + 1)]",
    "hidden-test-fails": "    if n < 1:\n        raise ValueError(n)\n    return [1, 4][:n]",
    "off-by-one": "    return [i ** 2 for i in range(n)]",
}


def solved(course: Path, name: str, body: str | None):
    release = course / "notebooks" / name / f"{name}.ipynb"
    source = course / "solutions" / name / f"{name}.ipynb"
    first_answer = next(cell.metadata["nbgrader"]["grade_id"]
                        for cell in nbformat.read(source, as_version=4).cells
                        if cell.metadata.get("nbgrader", {}).get("solution"))
    return fill_answers(release, source, {} if body is None else {first_answer: body})


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """A scratch course of the course's code with the guide's module added, both assignments
    released by `make release` and their submissions graded by `make autograde`."""
    course = tmp_path_factory.mktemp("authoring") / "course"
    for folder in ["helpers", "exercises", "grader"]:
        shutil.copytree(ROOT / folder, course / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ["Makefile", "nbgrader_config.py", "requirements.txt"]:
        shutil.copy(ROOT / name, course / name)
    blocks = guide_blocks()
    (course / "exercises" / "frozen_layers.py").write_text(blocks["exercises/frozen_layers.py"])
    write_assignment(course, TOY, toy_notebook(blocks))
    write_assignment(course, PLAIN, PLAIN_CELLS)
    instructor(course, "release", assignment=f"{TOY} {PLAIN}")
    (course / ".nbgrader" / "grading-secret").write_text("authoring")  # the same seeds
    for student, (answer, _) in TOY_ANSWERS.items():
        submit(course, student, TOY, solved(course, TOY, answer))
    for student, body in PLAIN_ANSWERS.items():
        submit(course, student, PLAIN, solved(course, PLAIN, body))
    instructor(course, "autograde", assignment=f"{TOY} {PLAIN}")
    return course


def test_the_guides_exercise_grades_right_typed_and_hostile_answers(graded):
    for student, (_, grade) in TOY_ANSWERS.items():
        assert scores(graded, TOY, student) == {"ex1-check": (grade, 1.0)}, student
    typed = nbformat.read(graded / "autograded" / "typed" / TOY / f"{TOY}.ipynb", as_version=4)
    (output,) = typed.cells[-1].outputs
    assert "graded on: `stack_" in output.evalue and "expected:" in output.evalue
    right = nbformat.read(graded / "autograded" / "right" / TOY / f"{TOY}.ipynb", as_version=4)
    assert "(on 3 input(s) the notebook does not show)" in right.cells[-1].outputs[0].text


def stock_nbgrader_grades(tmp_path: Path, graded: Path) -> dict[str, dict]:
    """The plain assignment's grades from stock nbgrader: its default configuration, its own
    gradebook, the same submissions."""
    course = tmp_path / "stock"
    shutil.copytree(graded / "solutions" / PLAIN, course / "source" / PLAIN)
    shutil.copytree(graded / "submitted", course / "submitted",
                    ignore=lambda folder, names: [n for n in names if n == TOY])
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'stock'\n")
    nbgrader(course, "generate_assignment", PLAIN, "--force")
    nbgrader(course, "autograde", PLAIN, "--force")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="stock") as gradebook:
        return {student: {grade.name: (grade.score, grade.max_score) for grade in
                          gradebook.find_submission_notebook(PLAIN, PLAIN, student).grades}
                for student in PLAIN_ANSWERS}


def test_a_plain_nbgrader_assignment_grades_as_stock_nbgrader_grades_it(graded, tmp_path):
    ours = {student: scores(graded, PLAIN, student) for student in PLAIN_ANSWERS}
    assert ours == stock_nbgrader_grades(tmp_path, graded)
    totals = {student: sum(score for score, _ in cells.values()) for student, cells in ours.items()}
    assert totals == {"right": 3.0, "no-error": 1.0, "hidden-test-fails": 1.0, "off-by-one": 0.0}
