"""grader/autograde.py's decisions that need no grading: how many workers, and which
submissions are graded again."""

from __future__ import annotations

from pathlib import Path

import pytest
from nbgrader.coursedir import CourseDirectory

from grader.autograde import local_workers, resubmitted, submissions


@pytest.mark.parametrize("asked, cores, available_gib, expected", [
    (None, 2, 22.0, 2),    # this machine: 2 cores, memory for 4 kernels of 5 GiB
    (None, 16, 22.0, 4),   # many cores, the memory decides
    (None, 8, 3.0, 1),     # less than one kernel's worth: still one
    (6, 2, 22.0, 6),       # asked for: as asked, with a warning past the memory
])
def test_workers_fit_the_cores_and_the_memory(asked, cores, available_gib, expected):
    workers, why = local_workers(asked, 4096, cores=cores, available_mb=available_gib * 1024)
    assert workers == expected
    assert f"{cores} cores" in why and "5.0 GiB (Sandbox.memory_mb + 1024 MiB)" in why
    assert ("may run out of memory" in why) == (asked is not None and asked > 4)


def course_with(tmp_path: Path, submitted: str | None, graded: str | None) -> CourseDirectory:
    """A course where ada's 01 was collected at ``submitted`` and graded from ``graded``
    (timestamp.txt contents; None: no such folder)."""
    for folder, stamp in [("submitted", submitted), ("autograded", graded)]:
        if stamp is not None:
            path = tmp_path / folder / "ada" / "01"
            path.mkdir(parents=True)
            (path / "timestamp.txt").write_text(stamp)
    return CourseDirectory(root=str(tmp_path))


@pytest.mark.parametrize("submitted, graded, force, graded_again", [
    ("2026-12-07 10:00:00.000000 UTC", None, False, True),       # never graded
    ("2026-12-07 10:00:00.000000 UTC", "2026-12-07 10:00:00.000000 UTC", False, False),
    ("2026-12-07 10:05:00.000000 UTC", "2026-12-07 10:00:00.000000 UTC", False, True),
    ("2026-12-07 09:00:00.000000 UTC", "2026-12-07 10:00:00.000000 UTC", False, False),
    ("not a time", "2026-12-07 10:00:00.000000 UTC", False, False),  # kept, no crash
    ("2026-12-07 10:00:00.000000 UTC", "2026-12-07 10:00:00.000000 UTC", True, True),
])
def test_a_newer_submission_is_graded_again_as_nbgrader_decides(tmp_path, capsys, submitted,
                                                                graded, force, graded_again):
    course = course_with(tmp_path, submitted, graded)
    assert submissions(course, ["01"], force) == ([("01", "ada")] if graded_again else [])
    said = capsys.readouterr().out
    assert ("a newer submission" in said) == (graded_again and graded is not None and not force)


def test_resubmitted_needs_both_timestamps(tmp_path):
    course = course_with(tmp_path, "2026-12-07 10:00:00.000000 UTC", None)
    assert not resubmitted(course, tmp_path / "submitted" / "ada" / "01",
                           tmp_path / "autograded" / "ada" / "01")
