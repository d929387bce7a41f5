"""What a student gets back from ``make feedback``: the grades, never the hidden tests.

nbgrader builds each feedback page from the *autograded* notebook, whose test cells hold the
instructor's hidden tests, and by default prints them in full (nbgrader issues #917, #1363):
the first graded assignment would hand every student the hidden checks of the whole term.
:class:`FeedbackWithoutHiddenTests` is a preprocessor for nbgrader's ``GenerateFeedback``
(``nbgrader_config.py``) that, in every test cell,

* removes the hidden-test region (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``),
  as nbgrader does when it releases an assignment, and
* leaves every other cell as the student wrote it: only test cells hold hidden tests
  (nbgrader restored them from the gradebook), and nbgrader's own ClearHiddenTests raises,
  failing the whole assignment's feedback, on a student's cell that merely contains the
  marker's text; and
* cuts each error down to its last line, ``ErrorName: message``, since a Python traceback
  quotes the lines that failed, hidden ones included.

The student still sees each test cell's points and what it printed, and for a failed check
its feedback (expected, found, hint), which :class:`exercises.checks.CheckFailed` carries
in its message.
"""

from __future__ import annotations

from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests


class FeedbackWithoutHiddenTests(ClearHiddenTests):
    """ClearHiddenTests for feedback: also reduces test cells' errors to ``ename: evalue``."""

    def preprocess_cell(self, cell, resources, cell_index):
        if not utils.is_grade(cell):
            return cell, resources
        if not utils.is_solution(cell):  # a test cell, as the gradebook has it
            try:
                self._remove_hidden_test_region(cell)
            except RuntimeError:  # markers that do not pair: show none of it
                cell.source = "# (this test cell's source is hidden)"
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources
