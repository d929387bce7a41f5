"""``make generate`` and ``make release`` (grader/release.py): students get only what the
instructor names, and opening the instructor's lab releases nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ASSIGNMENTS, ROOT

FIRST = ASSIGNMENTS[0]


def make(course: Path, *args: str, answer: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(["make", "-s", *args, f"VENV={ROOT / '.venv'}"], cwd=course,
                            input=answer, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def released(course: Path) -> list[str]:
    outbound = course / ".nbgrader" / "exchange" / "keras-transfer" / "outbound"
    return sorted(path.name for path in outbound.iterdir()) if outbound.is_dir() else []


@pytest.fixture(scope="module")
def generated_course(tmp_path_factory) -> Path:
    """A scratch course after `make generate`: every student version, nothing released."""
    course = tmp_path_factory.mktemp("release") / "course"
    course.mkdir()
    for name in ["Makefile", "nbgrader_config.py", "requirements.txt"]:
        shutil.copy(ROOT / name, course / name)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    said = make(course, "generate").stdout
    assert said.strip() == "generated (not released): " + " ".join(ASSIGNMENTS)
    return course


def copy(course: Path, tmp_path: Path) -> Path:
    return shutil.copytree(course, tmp_path / "course")


def test_generate_makes_every_student_version_and_releases_none(generated_course):
    assert all((generated_course / "notebooks" / a / f"{a}.ipynb").is_file() for a in ASSIGNMENTS)
    assert released(generated_course) == []


def test_release_without_a_name_asks_and_releases_nothing_new_unanswered(generated_course,
                                                                        tmp_path):
    course = copy(generated_course, tmp_path)
    said = make(course, "release").stdout  # no terminal: nobody to ask
    assert "not released yet, so students cannot fetch them: " + " ".join(ASSIGNMENTS) in said
    assert "make release ASSIGNMENT=<name>" in said and released(course) == []

    make(course, "release", f"ASSIGNMENT={FIRST}")
    assert released(course) == [FIRST]
    again = make(course, "release").stdout  # the released one is updated, the rest asked
    assert f"released {FIRST}" in again and released(course) == [FIRST]

    make(course, "release", "CONFIRM=release")
    assert released(course) == ASSIGNMENTS


def test_opening_the_instructors_lab_releases_nothing():
    plan = subprocess.run(["make", "-n", "instructor-lab"], cwd=ROOT, capture_output=True,
                          text=True).stdout
    assert "grader.release --generate-only" in plan and "jupyter lab" in plan
    assert [line for line in plan.splitlines()
            if "grader.release" in line and "--generate-only" not in line] == []
