"""Offline assets: the mirror is linked into a cache, never written to; gaps are explained."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import MIRROR, make_mirror, needs_mirror, zipped_dataset
from helpers import assets, models


def tree_state(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*")}


def test_without_mirror_nothing_is_redirected(isolated_assets):
    assert assets.mirror_root() is None
    assert assets.use_offline_assets() is None
    assets.require_keras_weights("anything.h5", "https://example.invalid/anything.h5")


def test_mirror_weights_are_linked_into_a_cache_and_keras_points_there(isolated_assets, monkeypatch):
    from keras.src.backend import config as keras_config

    mirror = make_mirror(isolated_assets / "mirror")
    before = tree_state(mirror)
    monkeypatch.setenv("COURSE_ASSETS", str(mirror))

    keras_home = assets.use_offline_assets()
    assets.use_offline_assets()  # a second call finds the links in place

    link = keras_home / "models" / "weights_a.h5"
    assert link.is_symlink() and link.resolve() == (mirror / "keras/models/weights_a.h5").resolve()
    assert keras_home.is_relative_to(isolated_assets / "cache")
    assert os.environ["KERAS_HOME"] == str(keras_home)
    assert keras_config.keras_home() == str(keras_home)
    assert tree_state(mirror) == before, "the mirror must never be written to"


def test_missing_weights_name_the_file_the_folder_and_how_to_get_it(isolated_assets, monkeypatch):
    mirror = make_mirror(isolated_assets / "mirror")
    monkeypatch.setenv("COURSE_ASSETS", str(mirror))
    with pytest.raises(assets.MissingAssetError) as caught:
        models.build_base("xception", weights="imagenet")
    message = str(caught.value)
    spec = models.BASES["xception"]
    assert spec.weights_file in message
    assert str(mirror / "keras" / "models") in message
    assert spec.weights_url in message and "COURSE_ASSETS" in message


def test_dataset_comes_from_the_mirror_or_is_explained(isolated_assets, monkeypatch):
    mirror = make_mirror(isolated_assets / "mirror")
    monkeypatch.setenv("COURSE_ASSETS", str(mirror))
    assert assets.dataset_dir("cats_and_dogs_filtered") == mirror / "datasets" / "cats_and_dogs_filtered"
    with pytest.raises(assets.MissingAssetError, match="flickr_logos_27_dataset.tar.gz"):
        assets.dataset_dir("flickr_logos_27_dataset")
    with pytest.raises(KeyError, match="unknown dataset"):
        assets.dataset_dir("imagenet")


def test_a_mirror_path_that_is_not_a_folder_is_reported(isolated_assets, monkeypatch):
    monkeypatch.setenv("COURSE_ASSETS", str(isolated_assets / "nowhere"))
    with pytest.raises(NotADirectoryError, match="COURSE_ASSETS"):
        assets.mirror_root()


def test_a_relative_mirror_path_that_points_nowhere_names_what_it_resolved_to(
        isolated_assets, monkeypatch):
    # As in the lab: a kernel runs in workspace/<notebook>/, two levels below the course.
    kernel_folder = isolated_assets / "course" / "workspace" / "01-trainable-weights"
    kernel_folder.mkdir(parents=True)
    make_mirror(isolated_assets / "shared" / "assets")  # ../shared/assets from the course
    monkeypatch.chdir(kernel_folder)
    monkeypatch.setenv("COURSE_ASSETS", "../shared/assets")
    with pytest.raises(NotADirectoryError) as caught:
        assets.mirror_root()
    message = str(caught.value)
    resolved = (kernel_folder / "../shared/assets").resolve()
    for part in ["COURSE_ASSETS=../shared/assets", f"looked at: {resolved}",
                 f"resolved from the current folder {kernel_folder.resolve()}", "absolute path"]:
        assert part in message


def test_an_absolute_mirror_path_that_points_nowhere_names_it_without_a_folder_to_resolve_from(
        isolated_assets, monkeypatch):
    nowhere = isolated_assets / "nowhere"
    monkeypatch.setenv("COURSE_ASSETS", str(nowhere))
    with pytest.raises(NotADirectoryError) as caught:
        assets.mirror_root()
    message = str(caught.value)
    assert f"looked at: {nowhere.resolve()}" in message
    assert "relative" not in message


def test_a_relative_mirror_path_to_a_real_folder_is_used(isolated_assets, monkeypatch):
    mirror = make_mirror(isolated_assets / "shared" / "assets")
    course = isolated_assets / "course"
    course.mkdir()
    monkeypatch.chdir(course)
    monkeypatch.setenv("COURSE_ASSETS", "../shared/assets")
    assert assets.mirror_root() == mirror.resolve()
    assert assets.dataset_dir("cats_and_dogs_filtered") == (
        mirror.resolve() / "datasets" / "cats_and_dogs_filtered")
    keras_home = assets.use_offline_assets()
    assert (keras_home / "models" / "weights_a.h5").resolve() == (
        mirror.resolve() / "keras" / "models" / "weights_a.h5")


@needs_mirror
def test_real_mirror_gives_imagenet_mobilenet_offline(isolated_assets, monkeypatch):
    import numpy as np

    monkeypatch.setenv("COURSE_ASSETS", MIRROR)
    base = models.build_base("mobilenet_v1_025", weights="imagenet")
    random_base = models.build_base("mobilenet_v1_025", weights=None)
    assert base.output.shape == (None, 4, 4, 256)
    assert base.count_params() == 218_544
    loaded = base.get_layer("conv1").kernel.numpy()
    assert not np.allclose(loaded, random_base.get_layer("conv1").kernel.numpy())


@pytest.fixture
def no_internet(isolated_assets, monkeypatch):
    """No mirror, an empty Keras cache, and every Keras download failing as it does offline."""
    import socket
    import urllib.error

    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(isolated_assets / "keras"))

    requested = []

    def unreachable(url, *args, **kwargs):
        requested.append(url)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(file_utils, "urlretrieve", unreachable)
    return requested


@pytest.mark.parametrize("name", sorted(models.BASES))
def test_each_base_names_the_url_keras_downloads_its_weights_from(no_internet, name):
    with pytest.raises(assets.DownloadFailedError):
        models.build_base(name)
    assert no_internet == [models.BASES[name].weights_url]


def test_failed_weights_download_names_course_assets_the_layout_and_the_url(no_internet):
    spec = models.BASES["mobilenet_v1_025"]
    with pytest.raises(assets.DownloadFailedError) as caught:
        models.build_base("mobilenet_v1_025")
    message = str(caught.value)
    for part in ["COURSE_ASSETS", assets.MIRROR_LAYOUT, f"keras/models/{spec.weights_file}",
                 spec.weights_url, "Name or service not known"]:
        assert part in message


def test_failed_dataset_download_names_course_assets_the_layout_and_the_url(no_internet):
    with pytest.raises(assets.DownloadFailedError) as caught:
        assets.dataset_dir("cats_and_dogs_filtered")
    message = str(caught.value)
    for part in ["COURSE_ASSETS", "datasets/cats_and_dogs_filtered/",
                 assets.DATASET_URLS["cats_and_dogs_filtered"]]:
        assert part in message


@pytest.mark.parametrize("error", [ValueError("a bug, not a download"),
                                   OSError("Unable to open file (truncated file)"),
                                   FileNotFoundError("no such folder")])
def test_other_errors_are_not_reported_as_downloads(error):
    with pytest.raises(type(error)) as caught:
        with assets.explain_failed_download("x", "https://example.invalid/x", "offline"):
            raise error
    assert caught.value is error  # not wrapped: DownloadFailedError is an OSError too



def test_a_downloaded_dataset_is_extracted_once_into_the_course_cache(internet, isolated_assets):
    name = "cats_and_dogs_filtered"
    internet[assets.DATASET_URLS[name]] = zipped_dataset(isolated_assets, name)
    folder = assets.dataset_dir(name)
    assert folder == isolated_assets / "cache" / "downloads" / name
    assert (folder / "train" / "cats" / "cat.0.jpg").read_bytes() == b"jpeg"
    assert sorted(path.name for path in folder.parent.iterdir()) == [name]  # no archive left
    assert assets.dataset_dir(name) == folder and internet.requested == [
        assets.DATASET_URLS[name]]  # the second call reads the cache: one download
