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
