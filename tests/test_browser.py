"""JupyterLab in a real browser: the system's Chromium, driven through its chromedriver.

The learner opens a notebook of their workspace in the lab `make lab` starts, pastes a
plausible mistake and sees the check's ✗ with its hint, pastes the fix and sees ✓, and presses
Validate before and after answering the last exercise. The instructor opens Formgrader from
the Nbgrader menu of the lab `make instructor-lab` starts, sees every assignment released,
collects a student's submission and autogrades it with the ⚡ button.

Nothing here downloads a browser: Selenium is pointed at Chromium and chromedriver from the
system's packages. Without them the tests are skipped and say what to install; under CI
(CI=true) they fail instead, since `.ci/run` installs both.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from browser import Page, chromium_page
from conftest import ASSIGNMENTS, NOTEBOOKS, ROOT, SOLUTIONS, needs_mirror
from lab_server import learner_lab, running_lab
from mistakes import MISTAKES
from nbgrader_course import answered, copy_course, fetch_answer_submit, scores, solution_body

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

ASSIGNMENT = ASSIGNMENTS[0]  # 01: two exercises, a few seconds to run
#: How long a Run All of it may take: seconds alone, minutes beside the grading round trip.
RUN_SECONDS = 300


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with chromium_page() as tab:
        yield tab


def answer(grade_id: str) -> str:
    """The instructor's solution of ``grade_id`` in ASSIGNMENT, as a learner would type it."""
    source = SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    cell = next(cell for cell in nbformat.read(source, as_version=4).cells
                if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "\n".join(solution_body(cell.source))


@needs_mirror
def test_learner_sees_a_check_fail_then_pass_and_validates(page, tmp_path):
    released = NOTEBOOKS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    before = released.read_bytes()
    with learner_lab(tmp_path / "workspace") as lab:
        page.driver.get(lab.page(f"/lab/tree/{ASSIGNMENT}/{ASSIGNMENT}.ipynb?reset"))
        notebook = nbformat.read(released, as_version=4)
        graded = [(cell, index) for index, cell in enumerate(notebook.cells)
                  if cell.metadata.get("nbgrader", {}).get("grade_id")]
        page.cells(len(notebook.cells))
        answers = [i for cell, i in graded if cell.metadata.nbgrader.get("solution")]
        checks = [i for cell, i in graded if cell.metadata.nbgrader.get("grade")]
        stubs = [cell.source for cell, _ in graded if cell.metadata.nbgrader.get("solution")]
        assert len(answers) == len(checks) == 2

        # A plausible mistake: the check says what it expected, what it found, and a hint.
        mistake = answered(stubs[0], MISTAKES[ASSIGNMENT]["ex1-answer"])
        page.paste_into(page.cell(answers[0]), mistake)
        page.run_all(RUN_SECONDS)
        failed = page.output(page.cell(checks[0]))
        assert failed.startswith("✗") and all(
            word in failed for word in ["expected:", "found:", "hint:"]), failed

        # The fix, run again once the first run is over (it stopped at the failed check).
        page.paste_into(page.cell(answers[0]), answered(stubs[0], answer("ex1-answer")))
        page.run_all(RUN_SECONDS)
        passed = page.output(page.cell(checks[0]))
        assert passed.startswith("✓ weight counts"), passed

        # Validate runs the saved notebook: exercise 2 is still unanswered, and it says so.
        message = page.validate()
        assert "validation-failed" in message.get_attribute("class")
        assert '"classifier_only_training"' in message.text and "hint:" in message.text
        assert '"weight_counts"' not in message.text
        page.close_dialog()

        page.paste_into(page.cell(answers[1]), answered(stubs[1], answer("ex2-answer")))
        message = page.validate()
        assert message.text == "Success! Your notebook passes all the tests.", message.text
        page.close_dialog()

        saved = nbformat.read(lab.root / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        typed = [cell.source for cell in saved.cells
                 if cell.metadata.get("nbgrader", {}).get("solution")]
        assert [answer("ex1-answer") in typed[0], answer("ex2-answer") in typed[1]] == [True] * 2
    assert released.read_bytes() == before, "the learner's work reached the release"


@needs_mirror
def test_instructor_collects_and_autogrades_in_formgrader(page, released_course, tmp_path):
    course = copy_course(released_course, tmp_path)
    fetch_answer_submit(course, "ada", ASSIGNMENT, None)
    with running_lab(course, {"COURSE_PROFILE": "smoke"}, cwd=course) as lab:
        page.driver.get(lab.page("/lab?reset"))
        page.menu("Nbgrader", "Formgrader")
        frame = page.wait(lambda: page.find("#formgrader iframe"), what="Formgrader")
        page.driver.switch_to.frame(frame[0])
        try:
            def assignments() -> dict[str, WebElement]:
                return {page.find("td.name", row)[0].text: row
                        for row in page.find("tbody tr") if page.find("td.name", row)}

            def cell(row: WebElement, column: str) -> str:
                return page.find(f"td.{column}", row)[0].text

            rows = page.wait(lambda: len(assignments()) == len(ASSIGNMENTS) and assignments(),
                             what="the assignments")
            assert {name: (cell(row, "status"), cell(row, "num-submissions"))
                    for name, row in rows.items()} == {
                name: ("released", "0") for name in ASSIGNMENTS}

            page.find("td.collect a", rows[ASSIGNMENT])[0].click()
            assert "Successfully collected" in modal_text(page)
            page.wait(lambda: cell(assignments()[ASSIGNMENT], "num-submissions") == "1",
                      what="one submission")
            page.find("td.num-submissions a", assignments()[ASSIGNMENT])[0].click()

            (ada,) = page.wait(lambda: page.find("tbody tr td.student-id") and page.find(
                "tbody tr"), what="the submissions")
            assert (cell(ada, "student-id"), cell(ada, "status")) == ("ada", "needs autograding")
            page.find("td.autograde a", ada)[0].click()
            assert "Successfully autograded" in modal_text(page, 300)
            page.wait(lambda: cell(page.find("tbody tr")[0], "score"), what="the score")
            ada = page.find("tbody tr")[0]
            assert (cell(ada, "status"), cell(ada, "score")) == ("graded", "4 / 4")
        finally:
            page.driver.switch_to.default_content()
    assert scores(course, ASSIGNMENT, "ada") == {"ex1-check": (2.0, 2.0),
                                                 "ex2-check": (2.0, 2.0)}


def modal_text(page: Page, seconds: float = 60) -> str:
    """The text of Formgrader's result dialog, which is then closed."""
    dialog = page.wait(lambda: page.find(".modal-dialog"), seconds, "Formgrader's dialog")[0]
    page.wait(lambda: dialog.find_element(By.CSS_SELECTOR, ".modal-title").text,
              what="the dialog's title")
    text = dialog.text
    page.find(".modal-footer button", dialog)[0].click()
    page.wait(lambda: not page.find(".modal-dialog"), what="the dialog to close")
    return text


@pytest.mark.parametrize("ci", ["", "true"])
def test_without_chromium_the_tests_say_what_to_install(ci):
    """A learner without Chromium gets a skip naming the packages; CI gets a failure."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=-rsf",
         f"{__file__}::test_learner_sees_a_check_fail_then_pass_and_validates"],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PATH": str(Path(sys.executable).parent), "CI": ci,
             "CHROMIUM": "", "CHROMEDRIVER": ""})
    assert ("1 error" if ci else "1 skipped") in result.stdout, result.stdout[-2000:]
    assert "sudo apt-get install chromium chromium-driver" in result.stdout
