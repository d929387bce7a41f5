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


def test_the_seed_table_shows_each_seeds_kept_model_and_the_spread():
    found = {"fine_tuning_gain.estimate": 0.084, "fine_tuning_gain.low": 0.039,
             "fine_tuning_gain.high": 0.144, "keep_fine_tuned": 1.0,
             "validation_gain.estimate": 0.062}
    head_kept = found | {"fine_tuning_gain.estimate": 0.0, "fine_tuning_gain.low": 0.0,
                         "fine_tuning_gain.high": 0.0, "keep_fine_tuned": 0.0,
                         "validation_gain.estimate": 0.02}
    lines = benchmark.seed_table({1337: found, 1: head_kept})
    assert lines[2] == "| 1337 | fine-tuned | +8.4 points [+3.9, +14.4] | +6.2 points |"
    assert lines[3] == "| 1 | the head | +0.0 points [+0.0, +0.0] | +0.0 points |"
    assert lines[-1].endswith("from +0.0 to +8.4 points (spread 8.4).")


def test_a_seed_reaches_the_notebooks_kernel_and_is_put_back(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_SEED", "7")
    notebook = tmp_path / "seed.ipynb"
    nbformat = pytest.importorskip("nbformat")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from helpers import config\nseed = config.load_profile('smoke').seed")]), notebook)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    assert benchmark.run_under_seeds(notebook, ["seed"], (3, 4)) == {3: {"seed": 3.0},
                                                                     4: {"seed": 4.0}}
    assert benchmark.os.environ["COURSE_SEED"] == "7"
