"""Shared test fixtures: paths of the course, and a clean asset environment per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
ASSIGNMENTS = sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and p.name[:2].isdigit())
MIRROR = os.environ.get("COURSE_ASSETS")


def pytest_configure(config) -> None:
    """Under pytest-xdist (`make test`), each worker process gets a course cache of its own:
    two workers would otherwise build the same folders of links, or crops, at once."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        from helpers.assets import CACHE_ENV, cache_root

        os.environ[CACHE_ENV] = str(cache_root() / f"pytest-{worker}")


needs_mirror = pytest.mark.skipif(
    not MIRROR, reason="set COURSE_ASSETS to the offline mirror (CI sets ../shared/assets)"
)


@pytest.fixture
def isolated_assets(tmp_path, monkeypatch):
    """No mirror and a private cache folder; restores Keras's cache folder afterwards."""
    from keras.src.backend import config as keras_config

    monkeypatch.delenv("COURSE_ASSETS", raising=False)
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", os.environ.get("KERAS_HOME", ""))
    monkeypatch.setattr(keras_config, "_KERAS_DIR", keras_config._KERAS_DIR)
    return tmp_path


@pytest.fixture(scope="session")
def released_course(tmp_path_factory):
    """A scratch course after `make release`, made once; copy it (nbgrader_course.copy_course)
    before changing it."""
    from nbgrader_course import released_scratch_course

    return released_scratch_course(tmp_path_factory.mktemp("released") / "course")
