"""grader/feedback.py: what a student's feedback page is made from."""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_notebook, new_output

from grader.feedback import FeedbackWithoutHiddenTests

MARKED = "x = 1  # ### BEGIN HIDDEN TESTS, a student's own comment"


def cell(source: str, grade: bool, solution: bool, outputs=()):
    made = new_code_cell(source, outputs=list(outputs))
    made.metadata["nbgrader"] = {"grade": grade, "solution": solution, "grade_id": source[:9],
                                 "points": 2 if grade else 0}
    return made


def test_hidden_tests_go_and_a_students_marker_text_stays():
    error = new_output("error", ename="CheckFailed", evalue="✗ expected 3",
                       traceback=["Traceback", "  hidden_line()", "CheckFailed: ✗ expected 3"])
    test = cell('check("x", x)\n### BEGIN HIDDEN TESTS\nhidden_line()\n### END HIDDEN TESTS',
                grade=True, solution=False, outputs=[error])
    answer = cell(MARKED, grade=False, solution=True)
    unpaired = cell("### BEGIN HIDDEN TESTS\nhidden_line()", grade=True, solution=False)
    notebook, _ = FeedbackWithoutHiddenTests().preprocess(
        new_notebook(cells=[answer, test, new_code_cell(MARKED), unpaired]), {})
    answer, test, other, unpaired = notebook.cells
    assert answer.source == MARKED and other.source == MARKED  # as the student wrote them
    assert test.source == 'check("x", x)'
    assert test.outputs[0].traceback == ["CheckFailed: ✗ expected 3"]
    assert "hidden_line" not in unpaired.source
