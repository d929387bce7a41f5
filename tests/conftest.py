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


def make_mirror(root: Path) -> Path:
    """A tiny mirror laid out like ../shared/assets."""
    (root / "keras" / "models").mkdir(parents=True)
    (root / "keras" / "models" / "weights_a.h5").write_bytes(b"a")
    (root / "datasets" / "cats_and_dogs_filtered" / "train").mkdir(parents=True)
    return root


class Internet(dict):
    """URL -> local file that the ``internet`` fixture serves, and the URLs asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.requested: list[str] = []


@pytest.fixture
def internet(isolated_assets, monkeypatch):
    """No mirror, an empty Keras cache, and Keras's downloads served from local files:
    ``internet[url] = path`` puts a file online; every URL asked for is recorded."""
    import shutil

    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(isolated_assets / "keras"))
    served = Internet()

    def download(url, target, *args, **kwargs):
        served.requested.append(url)
        shutil.copy(served[url], target)

    monkeypatch.setattr(file_utils, "urlretrieve", download)
    return served


def zipped_dataset(folder: Path, name: str) -> Path:
    """A zip holding ``name/train/cats/cat.0.jpg``, as the official archive is laid out."""
    import zipfile

    archive = folder / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as made:
        made.writestr(f"{name}/train/cats/cat.0.jpg", b"jpeg")
    return archive
