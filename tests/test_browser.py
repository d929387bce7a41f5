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
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import nbformat
import pytest

from conftest import ASSIGNMENTS, NOTEBOOKS, ROOT, SOLUTIONS, needs_mirror
from lab_server import learner_lab, running_lab
from mistakes import MISTAKES
from nbgrader_course import answered, copy_course, fetch_answer_submit, scores, solution_body

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

ASSIGNMENT = ASSIGNMENTS[0]  # 01: two exercises, a few seconds to run
INSTALL = ("the browser tests need Chromium and its chromedriver. On Debian: sudo apt-get "
           "install chromium chromium-driver; elsewhere put Chromium or Chrome and the matching "
           "chromedriver on PATH, or set CHROMIUM and CHROMEDRIVER to their paths")
T = TypeVar("T")


def browser_paths() -> tuple[str | None, str | None]:
    """Chromium's and chromedriver's paths: $CHROMIUM / $CHROMEDRIVER, else found on PATH."""
    chromium = os.environ.get("CHROMIUM") or next(
        filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None)
    return chromium, os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")


class Page:
    """A browser tab on JupyterLab, with the few gestures the tests make."""

    def __init__(self, driver) -> None:
        self.driver = driver

    def wait(self, condition: Callable[[], T], seconds: float = 60, what: str = "") -> T:
        """``condition()``'s first truthy value, polled for up to ``seconds``."""
        return WebDriverWait(self.driver, seconds, ignored_exceptions=[
            StaleElementReferenceException]).until(  # JupyterLab re-renders as it loads
            lambda _: condition(), f"waited {seconds} s for {what or condition}")

    def find(self, css: str, within: WebElement | None = None) -> list[WebElement]:
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    def menu(self, title: str, item: str) -> None:
        """Click ``title`` in the lab's menu bar, then ``item`` in the menu it opens."""
        def labelled(css: str, text: str) -> list[WebElement]:
            return [element for element in self.find(css) if element.text == text]
        self.wait(lambda: labelled(".lm-MenuBar-itemLabel", title), what=f"menu {title}")[0].click()
        self.wait(lambda: labelled(".lm-Menu-itemLabel", item), what=f"menu item {item}")[0].click()

    def cells(self, count: int) -> list[WebElement]:
        """The notebook's cells, once all ``count`` of them are in the page. JupyterLab puts
        every cell in the page but renders only those near the view, so a cell is found by
        its position, not by the text of its lines."""
        return self.wait(lambda: len(found := self.find(".jp-Notebook .jp-Cell")) == count
                         and found, 120, f"the notebook's {count} cells")

    def source(self, cell: WebElement) -> str:
        return "\n".join(line.text for line in self.find(".cm-line", cell))

    def output(self, cell: WebElement) -> str:
        return "\n".join(area.text for area in self.find(".jp-OutputArea-output", cell))

    def paste_into(self, cell: WebElement, source: str) -> None:
        """Replace the cell's source with ``source``, as a learner pastes it: Ctrl+A, then a
        paste (typing key by key would meet the editor's auto-indentation inside functions)."""
        editor = self.find(".cm-content", cell)[0]
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", editor)
        editor.click()
        webdriver.ActionChains(self.driver).key_down(Keys.CONTROL).send_keys("a").key_up(
            Keys.CONTROL).perform()
        self.driver.execute_script(
            "const data = new DataTransfer(); data.setData('text/plain', arguments[1]);"
            "arguments[0].dispatchEvent(new ClipboardEvent('paste', "
            "{clipboardData: data, bubbles: true, cancelable: true}));", editor, source)
        self.wait(lambda: self.source(cell) == source, 10, "the pasted source in the editor")

    def validate(self) -> WebElement:
        """Press Validate; returns the message of the dialog it opens."""
        self.find("jp-button.validate-button")[0].click()
        return self.wait(lambda: self.find("#validation-message"), 300, "Validate's result")[0]

    def close_dialog(self) -> None:
        self.find(".jp-Dialog button.jp-mod-accept")[0].click()
        self.wait(lambda: not self.find(".jp-Dialog"), what="the dialog to close")


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    chromium, chromedriver = browser_paths()
    if not (chromium and chromedriver):
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(INSTALL)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000", "--disable-background-networking"]:
        options.add_argument(flag)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not look for one online
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield Page(driver)
    finally:
        driver.quit()


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
        cells = page.cells(len(notebook.cells))
        answers = [cells[i] for cell, i in graded if cell.metadata.nbgrader.get("solution")]
        checks = [cells[i] for cell, i in graded if cell.metadata.nbgrader.get("grade")]
        stubs = [cell.source for cell, _ in graded if cell.metadata.nbgrader.get("solution")]
        assert len(answers) == len(checks) == 2

        # A plausible mistake: the check says what it expected, what it found, and a hint.
        page.paste_into(answers[0], answered(stubs[0], MISTAKES[ASSIGNMENT]["ex1-answer"]))
        page.menu("Run", "Run All Cells")
        failed = page.wait(lambda: page.output(checks[0]), 120, "the first check")
        assert failed.startswith("✗") and all(
            word in failed for word in ["expected:", "found:", "hint:"]), failed

        # The fix, run from the menu again (keystrokes sent to a cell were lost once in CI).
        page.paste_into(answers[0], answered(stubs[0], answer("ex1-answer")))
        page.menu("Run", "Run All Cells")
        passed = page.wait(lambda: page.output(checks[0]) not in ("", failed)
                           and page.output(checks[0]), 180, "the first check's new output")
        assert passed.startswith("✓ weight counts"), passed

        # Validate runs the saved notebook: exercise 2 is still unanswered, and it says so.
        message = page.validate()
        assert "validation-failed" in message.get_attribute("class")
        assert '"classifier_only_training"' in message.text and "hint:" in message.text
        assert '"weight_counts"' not in message.text
        page.close_dialog()

        page.paste_into(answers[1], answered(stubs[1], answer("ex2-answer")))
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
