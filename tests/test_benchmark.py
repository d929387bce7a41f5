"""`make bench` writes its tables into the performance guide, in place of the last run's."""

from __future__ import annotations

import shutil

import pytest

import benchmark
from conftest import ROOT


def test_the_latest_run_replaces_the_last_one_and_keeps_the_rest(tmp_path):
    guide = tmp_path / "performance.md"
    shutil.copy(ROOT / "docs" / "performance.md", guide)
    kept = guide.read_text().split(benchmark.LATEST_END, 1)[1]
    benchmark.write_latest(guide, "| first run |")
    benchmark.write_latest(guide, "| second run |")
    text = guide.read_text()
    assert "| second run |" in text and "| first run |" not in text
    assert text.split(benchmark.LATEST_END, 1)[1] == kept


def test_a_guide_without_the_section_is_left_alone_and_named(tmp_path):
    guide = tmp_path / "performance.md"
    guide.write_text("# Performance\n")
    with pytest.raises(SystemExit, match="no section for the latest run"):
        benchmark.write_latest(guide, "| run |")
    assert guide.read_text() == "# Performance\n"


def test_each_submissions_seconds_come_from_the_progress_lines():
    progress = ("autograde: 1 workers for 3 submissions\n"
                "[##########....................] 1/3 student-0 01-trainable-weights: 4/4 (19.4 s)\n"
                "some warning (3.0 s)\n"
                "[####################..........] 2/3 student-1 01-trainable-weights: 0/4 (8.9 s)\n"
                "[##############################] 3/3 student-2 01-trainable-weights: "
                "NOT RECORDED (the grader failed, see the end)\n")
    assert benchmark.submission_seconds(progress) == [19.4, 8.9]
    table = benchmark.grading_table({"01-trainable-weights": (12.3, [19.4, 8.9, 9.5])})
    assert "19.4 s, 8.9 s, 9.5 s" in table[-1] and "<= 10 s: meets the bar" in table[-1]
    table = benchmark.grading_table({"01-trainable-weights": (12.3, [9.0, 10.5])})
    assert "<= 10 s: **misses the bar**" in table[-1]
