"""Data pipelines: shapes, labels and splits of both profiles, skipped files, augmentation."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from conftest import MIRROR, needs_mirror
from helpers import assets, data
from helpers.config import PROFILES, Profile

SIZE = 32  # small images keep the fake-data tests fast
BATCH = 4
#: Images per class in the fake validation/ folder; file k is filled with the value 40k + 10.
FAKE_VALIDATION_PER_CLASS = 4


def tree_state(root: Path) -> dict[str, tuple[int, float]]:
    """Size and modification time of everything under ``root``."""
    return {str(p): (p.lstat().st_size, p.lstat().st_mtime) for p in root.rglob("*")}


def write_jpeg(path: Path, value: int) -> None:
    """A small JPEG: a left-to-right ramp from ``value`` to ``value + 29`` (flips change it)."""
    ramp = value + np.arange(24) * 30 // 24
    pixels = np.broadcast_to(ramp[None, :, None], (20, 24, 3)).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, "JPEG", quality=95)


def fake_index(images: np.ndarray) -> list[int]:
    """The ``k`` of each fake image (filled with about 40k + 10 + 15 on average)."""
    return [int(image.mean() // 40) for image in images]


@pytest.fixture
def fake_mirror(isolated_assets, monkeypatch) -> Path:
    """A mirror with a tiny ``cats_and_dogs_filtered``, plus 2 corrupt files and 1 text file.

    train/: 3 cats and 3 dogs, plus an undecodable ``cat.999.jpg`` and a truncated
    ``dog.999.jpg``. validation/: cat.2000-2003 and dog.2000-2003 (file k filled with
    40k + 10, so images say which file they came from), plus ``dogs/notes.txt``.
    """
    mirror = isolated_assets / "mirror"
    dataset = mirror / "datasets" / "cats_and_dogs_filtered"
    for label, animal in enumerate(("cat", "dog")):
        for k in range(3):
            write_jpeg(dataset / "train" / f"{animal}s" / f"{animal}.{k}.jpg", 100 * label + 20 * k)
        for k in range(FAKE_VALIDATION_PER_CLASS):
            name = f"{animal}.{2000 + k}.jpg"
            write_jpeg(dataset / "validation" / f"{animal}s" / name, 40 * k + 10)
    (dataset / "train" / "cats" / "cat.999.jpg").write_bytes(b"not a JPEG at all")
    whole = (dataset / "train" / "dogs" / "dog.0.jpg").read_bytes()
    (dataset / "train" / "dogs" / "dog.999.jpg").write_bytes(whole[: len(whole) // 2])
    (dataset / "validation" / "dogs" / "notes.txt").write_text("where these photos come from")
    monkeypatch.setenv("COURSE_ASSETS", str(mirror))
    return mirror


def quick_profile(**changes) -> Profile:
    """The quick profile with small images and batches."""
    return dataclasses.replace(PROFILES["quick"], image_size=SIZE, batch_size=BATCH, **changes)


def assert_batches(dataset, size: int, expected_images: int, batch_size: int) -> None:
    """Batches of float32 images in [0, 255] and float32 0/1 labels, ``batch_size`` but the last."""
    counts = []
    for images, labels in dataset:
        assert images.dtype == "float32" and labels.dtype == "float32"
        assert images.shape[1:] == (size, size, 3) and labels.shape == (images.shape[0],)
        assert 0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 255
        assert set(labels.numpy().tolist()) <= {0.0, 1.0}
        counts.append(int(images.shape[0]))
    assert sum(counts) == expected_images
    assert all(count == batch_size for count in counts[:-1]) and 0 < counts[-1] <= batch_size


def test_full_profile_loads_the_guides_tfds_slices(monkeypatch):
    """Offline, on TFDS's mock data.

    ``tfds.testing.mock_data(num_examples=n)`` makes every split, slices included, hold
    exactly n examples (it ignores the percentages), so the 40% / 10% / 10% slicing itself is
    checked on the split names passed to ``tfds.load``.
    """
    calls = []
    real_load = tfds.load

    def recording_load(name, **kwargs):
        calls.append((name, kwargs))
        return real_load(name, **kwargs)

    monkeypatch.setattr(tfds, "load", recording_load)
    profile = dataclasses.replace(PROFILES["full"], image_size=SIZE, batch_size=BATCH)
    with tfds.testing.mock_data(num_examples=10):
        splits = data.load_cats_vs_dogs(profile)
        for dataset in (splits.train, splits.validation, splits.test):
            assert_batches(dataset, SIZE, expected_images=10, batch_size=BATCH)

    assert calls == [
        (
            "cats_vs_dogs",
            {"split": ["train[:40%]", "train[40%:50%]", "train[50%:60%]"], "as_supervised": True},
        )
    ]
    assert splits.sizes == {"train": 10, "validation": 10, "test": 10}
    assert len(splits.skipped) == 0


def test_quick_profile_skips_bad_files_and_never_writes_the_mirror(fake_mirror):
    before = tree_state(fake_mirror)
    splits = data.load_cats_vs_dogs(quick_profile(), batch_size=5)

    assert splits.sizes == {"train": 6, "validation": 4, "test": 4}
    assert splits.skipped.summary() == "skipped 3 files: 2 corrupt, 1 not an image"
    assert [p.name for p in splits.skipped.by_reason["corrupt"]] == ["cat.999.jpg", "dog.999.jpg"]
    assert [p.name for p in splits.skipped.by_reason["not an image"]] == ["notes.txt"]
    assert_batches(splits.train, SIZE, expected_images=6, batch_size=5)
    assert_batches(splits.validation, SIZE, expected_images=4, batch_size=5)
    assert_batches(splits.test, SIZE, expected_images=4, batch_size=5)
    assert data.load_cats_vs_dogs(quick_profile()).sizes == splits.sizes  # links reused
    assert tree_state(fake_mirror) == before


def test_quick_validation_and_test_are_the_two_halves_of_each_class_by_name(fake_mirror):
    splits = data.load_cats_vs_dogs(quick_profile())

    def files_in(dataset) -> list[tuple[int, int]]:
        found = []
        for images, labels in dataset:
            found += zip(labels.numpy().astype(int).tolist(), fake_index(images.numpy()))
        return sorted(found)

    # (label, k) of each image: cat.2000-2001 and dog.2000-2001, then 2002-2003.
    assert files_in(splits.validation) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert files_in(splits.test) == [(0, 2), (0, 3), (1, 2), (1, 3)]


def test_train_is_reshuffled_every_epoch(fake_mirror):
    splits = data.load_cats_vs_dogs(quick_profile(), batch_size=6)
    orders = [
        np.concatenate([images.numpy().mean(axis=(1, 2, 3)) for images, _ in splits.train])
        for _epoch in range(4)
    ]
    assert all(sorted(order) == sorted(orders[0]) for order in orders)
    assert any(not np.array_equal(order, orders[0]) for order in orders[1:])


def test_a_clean_folder_is_used_as_it_is(tmp_path):
    root = tmp_path / "images"
    write_jpeg(root / "cats" / "cat.0.jpg", 10)
    write_jpeg(root / "dogs" / "dog.0.png", 10)

    folder, skipped = data.clean_image_folder(root, tmp_path / "cache")

    assert folder == root and len(skipped) == 0 and skipped.summary() == "skipped 0 files"
    assert not (tmp_path / "cache").exists()


def test_clean_image_folder_refuses_a_cache_inside_the_folder(tmp_path):
    write_jpeg(tmp_path / "cats" / "cat.0.jpg", 10)
    with pytest.raises(ValueError, match="must not be written to"):
        data.clean_image_folder(tmp_path, tmp_path / "cache")


def test_an_unknown_dataset_is_named_in_the_error():
    with pytest.raises(ValueError, match="'mnist'"):
        data.load_cats_vs_dogs(quick_profile(dataset="mnist"))


def test_augmentation_changes_every_pass_while_the_cached_data_does_not(fake_mirror):
    validation = data.load_cats_vs_dogs(quick_profile()).validation
    augmented = data.augment(validation, seed=7)

    def one_pass(dataset) -> tuple[np.ndarray, np.ndarray]:
        batches = list(dataset.as_numpy_iterator())
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])

    first, second = one_pass(augmented), one_pass(augmented)
    plain_first, plain_second = one_pass(validation), one_pass(validation)
    assert np.array_equal(plain_first[0], plain_second[0])
    assert not np.array_equal(first[0], second[0])
    assert not np.array_equal(first[0], plain_first[0])
    assert np.array_equal(first[1], plain_first[1]) and first[0].shape == plain_first[0].shape
    assert [type(layer).__name__ for layer in data.augmentation().layers] == [
        "RandomFlip",
        "RandomRotation",
    ]


@needs_mirror
def test_real_mirror_splits(isolated_assets, monkeypatch):
    monkeypatch.setenv("COURSE_ASSETS", MIRROR)
    profile = PROFILES["quick"]
    splits = data.load_cats_vs_dogs(profile)

    assert splits.sizes == {"train": 2000, "validation": 500, "test": 500}
    assert len(splits.skipped) == 0
    images, labels = next(iter(splits.test))
    assert images.shape == (profile.batch_size, profile.image_size, profile.image_size, 3)
    assert labels.shape == (profile.batch_size,) and labels.dtype == "float32"
    assert splits.train.element_spec[0].shape.as_list() == [None, profile.image_size,
                                                        profile.image_size, 3]


def test_raw_examples_come_at_their_stored_size_cats_first(fake_mirror):
    examples = data.raw_examples(quick_profile(), count=4)
    assert [label for _, label in examples] == [0, 0, 1, 1]
    assert all(image.shape == (20, 24, 3) and image.dtype == np.uint8 for image, _ in examples)


def test_raw_examples_of_the_full_profile(monkeypatch):
    with tfds.testing.mock_data(num_examples=20):
        examples = data.raw_examples(PROFILES["full"], count=3)
    assert sorted(label for _, label in examples) == [label for _, label in examples]
    assert len(examples) == 3 and all(image.ndim == 3 for image, _ in examples)


def test_example_image_file_is_the_first_dog_of_the_test_split(fake_mirror):
    path = data.example_image_file(quick_profile())
    assert path.name == "dog.2002.jpg"  # test = the second half of dog.2000-2003
    data.load_cats_vs_dogs(quick_profile())
    test_dogs = assets.cache_root() / "datasets" / "cats_and_dogs_filtered" / "test" / "dogs"
    assert path.name == min(link.name for link in test_dogs.iterdir())


def test_example_image_file_of_the_full_profile_is_a_jpeg(isolated_assets):
    with tfds.testing.mock_data(num_examples=4):
        path = data.example_image_file(PROFILES["full"])
    with Image.open(path) as image:
        assert image.format == "JPEG"


def test_seeded_augmentation_repeats_exactly(fake_mirror):
    validation = data.load_cats_vs_dogs(quick_profile(), batch_size=2).validation

    def augmented_run():
        return np.concatenate([images for images, _ in
                               data.augment(validation, seed=3).as_numpy_iterator()])

    assert np.array_equal(augmented_run(), augmented_run())


def test_splits_are_cached_in_full_when_loaded(fake_mirror):
    """Loading reads every image once, so a later read (whole, or stopped part-way to look at
    one batch) never touches the files and cannot find a half-filled cache."""
    splits = data.load_cats_vs_dogs(quick_profile(), batch_size=1)
    shutil.rmtree(assets.cache_root() / "datasets")  # the links every split reads through
    next(iter(splits.validation))
    counts = {name: sum(int(images.shape[0]) for images, _ in getattr(splits, name))
              for name in ("train", "validation", "test")}
    assert counts == splits.sizes


def test_images_per_split_draws_a_fixed_subset_from_every_class(fake_mirror):
    splits = data.load_cats_vs_dogs(quick_profile(images_per_split=3), batch_size=2)
    assert splits.sizes == {"train": 3, "validation": 3, "test": 3}

    def drawn(dataset) -> list[tuple[int, int]]:
        return sorted((int(label), k) for images, labels in dataset
                      for label, k in zip(labels.numpy(), fake_index(images.numpy())))

    for dataset in (splits.train, splits.validation, splits.test):
        first = drawn(dataset)
        assert len(first) == 3 and first == drawn(dataset)  # the same images on every read
    # the fake training folder is stored cats first: a subset of the first files would be
    # all cats, a draw over the whole split is not (with this seed)
    assert {label for label, _ in drawn(splits.train)} == {0, 1}


def test_only_the_smoke_profile_cuts_the_data():
    smoke = PROFILES["smoke"]
    assert smoke.images_per_split and smoke.image_size not in (128, 160, 192)
    assert PROFILES["quick"].images_per_split is None and PROFILES["full"].images_per_split is None


def test_failed_tfds_download_says_the_full_profile_needs_internet(monkeypatch):
    import requests
    from tensorflow_datasets.image_classification import cats_vs_dogs

    def unreachable(name, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'download.microsoft.com'")

    monkeypatch.setattr(tfds, "load", unreachable)
    with pytest.raises(assets.DownloadFailedError) as caught:
        data.load_cats_vs_dogs(PROFILES["full"])
    message = str(caught.value)
    assert data.TFDS_URL == cats_vs_dogs._URL  # the URL TFDS itself downloads
    assert data.TFDS_URL in message and "COURSE_PROFILE=quick COURSE_ASSETS" in message
