"""A real browser for the tests: the system's Chromium, driven through its chromedriver.

Nothing here downloads a browser: Selenium is pointed at Chromium and chromedriver from the
system's packages. Without them a test using ``chromium_page`` is skipped and says what to
install; under CI (CI=true) it fails instead, since `.ci/run` installs both.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

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
    """A browser tab, with the few gestures the tests make (most of them in JupyterLab)."""

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

    def kernel_status(self) -> str:
        """The notebook's kernel as its toolbar's execution indicator shows it: 'idle',
        'busy', or '' while the kernel starts."""
        indicators = self.find(".jp-NotebookPanel:not(.lm-mod-hidden) "
                               ".jp-Notebook-ExecutionIndicator")
        return indicators[0].get_attribute("data-status") or "" if indicators else ""

    def cell(self, index: int) -> WebElement:
        """The notebook's cell at ``index``, found anew (an element held across a run can go
        stale when JupyterLab re-renders the cell)."""
        return self.find(".jp-Notebook .jp-Cell")[index]

    def prompts(self) -> list[str]:
        """Every cell's input prompt: ``[3]:`` once run, ``[*]:`` while queued or running."""
        return [prompt.text for prompt in self.find(".jp-Notebook .jp-Cell .jp-InputPrompt")]

    def kernel_status(self) -> str:
        """The kernel's state as the notebook toolbar's execution indicator shows it
        ('idle', 'busy', ...; '' before the indicator is drawn)."""
        indicators = self.find(".jp-Notebook-ExecutionIndicator")
        return (indicators[0].get_attribute("data-status") or "") if indicators else ""

    def wait_idle(self, seconds: float, what: str) -> None:
        """Until the kernel is idle and no cell is queued."""
        self.wait(lambda: self.kernel_status() == "idle"
                  and not any("[*]" in prompt for prompt in self.prompts()), seconds, what)

    def run_all(self, seconds: float, tries: int = 3) -> None:
        """Run All Cells from the Run menu, on an idle kernel, and wait until the run is over.

        The run must be seen to start (a prompt changes): a gesture sent to a browser starved
        of CPU has been lost, a keystroke once and a menu click once, and the test then waited
        for an output that no run would write. A lost click is clicked again; a click that was
        taken late only queues a second, identical run."""
        self.wait_idle(seconds, "the kernel to be idle before Run All")
        before = self.prompts()
        for _ in range(tries):
            self.menu("Run", "Run All Cells")
            try:
                self.wait(lambda: self.prompts() != before, 30, "Run All to start")
                break
            except TimeoutException:
                continue
        else:
            raise AssertionError(f"Run All Cells started no run in {tries} clicks")
        self.wait_idle(seconds, "Run All to finish")

    def paste_into(self, cell: WebElement, source: str) -> None:
        """Replace the cell's source with ``source``, as a learner pastes it: Ctrl+A, then a
        paste (typing key by key would meet the editor's auto-indentation inside functions).
        Returns once the editor holds exactly ``source``."""
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


@contextlib.contextmanager
def chromium_page() -> Iterator[Page]:
    """A headless Chromium tab, offline; skipped (failed under CI) without Chromium."""
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
