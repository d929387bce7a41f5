"""The README and the guides name only commands, variables and options that exist: every
``make`` target, every variable given to ``make`` or read from the environment, every
``--Class.trait`` option and every option of ``python -m grader.autograde`` they show."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from traitlets.config import Configurable

from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MAKEFILE = (ROOT / "Makefile").read_text()
#: Variables the course's code reads from the environment (not the Makefile's).
CODE = "\n".join(path.read_text() for folder in ["helpers", "grader", "exercises", "tests"]
                 for path in (ROOT / folder).glob("*.py")) + (ROOT / ".ci" / "run").read_text()


def code_of(page: Path) -> list[str]:
    """The page's code: fenced blocks and `inline` spans."""
    text = page.read_text()
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    without_blocks = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return blocks + re.findall(r"`([^`\n]+)`", without_blocks)


def named(pattern: str) -> list[tuple[str, str]]:
    """(page, match) for every match of ``pattern`` in the code of every page."""
    return sorted({(page.relative_to(ROOT).as_posix(), match) for page in PAGES
                   for code in code_of(page) for match in re.findall(pattern, code)})


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*)\s*:(?!=)", MAKEFILE, re.MULTILINE))


@pytest.mark.parametrize("page, target", named(r"\bmake\s+(?:-\w+\s+)?([a-z][\w-]*)"))
def test_every_make_command_shown_exists(page, target):
    assert target in make_targets(), f"{page} shows `make {target}`, which the Makefile lacks"


@pytest.mark.parametrize("page, variable", named(r"\b([A-Z][A-Z0-9_]{2,})="))
def test_every_variable_shown_is_read(page, variable):
    in_make = re.search(rf"\$\({variable}\)|^{variable}\s*[?:]?=|ifdef {variable}", MAKEFILE,
                        re.MULTILINE)
    in_code = re.search(rf"[\"']{variable}[\"']|\b{variable}\b\s*=\s*[\"']", CODE)
    assert in_make or in_code, f"{page} sets {variable}, which nothing reads"


def configurables() -> dict[str, type[Configurable]]:
    """Every configurable class nbgrader_config.py may set, by name."""
    import nbgrader.preprocessors
    from nbgrader.exchange import ExchangeFactory

    from grader import autograde, execute, judge, sandbox

    classes = [sandbox.Sandbox, execute.SandboxedExecute, judge.CollectEvidence,
               judge.JudgeOutsideKernel, autograde.UseGradedNotebook, ExchangeFactory]
    classes += [getattr(nbgrader.preprocessors, name) for name in nbgrader.preprocessors.__all__]
    return {cls.__name__: cls for cls in classes}


@pytest.mark.parametrize("page, option", named(r"--([A-Z]\w+\.\w+)"))
def test_every_class_trait_option_shown_exists(page, option):
    name, trait = option.split(".")
    found = configurables().get(name)
    assert found is not None, f"{page} configures {name}, which the grader does not use"
    assert trait in found.class_trait_names(config=True), f"{page}: {name} has no {trait}"


@pytest.mark.parametrize("page, option", named(r"(?:AUTOGRADE_ARGS=\"?|grader\.autograde\b.*?)"
                                               r"--([a-z][\w-]*)"))
def test_every_autograde_option_shown_exists(page, option):
    from grader.autograde import arguments

    assert f"--{option}" in arguments()._option_string_actions, (
        f"{page} passes --{option} to autograde, which it does not take")


def test_the_checks_find_what_the_pages_show():
    """Not vacuous: the pages show make commands, variables and options."""
    assert len(named(r"\bmake\s+([a-z][\w-]*)")) > 30
    assert len(named(r"\b([A-Z][A-Z0-9_]{2,})=")) > 10
    assert named(r"--([A-Z]\w+\.\w+)")
