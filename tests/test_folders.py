"""Class folders for notebook 07: Flickr Logos 27 from its annotations, and a learner's own
folder; no picture in two splits, duplicates and bad files counted, clear errors."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import needs_mirror
from helpers import assets, folders
from helpers.folders import SPLITS, folder_splits, logo_splits
from test_data import tree_state, write_jpeg


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_of_each_source(root: Path) -> dict[str, set[str]]:
    """Content digest of each source picture -> the splits it reached (from the plan)."""
    splits = defaultdict(set)
    for split, _, _, source, _ in json.loads((root / folders.PLAN_FILE).read_text()):
        splits[digest(Path(source))].add(split)
    return splits


def files_in(root: Path, split: str) -> list[Path]:
    return sorted(p for p in (root / split).rglob("*") if p.is_file())


@needs_mirror
@pytest.mark.parametrize("crops", [False, True], ids=["whole-images", "crops"])
def test_logo_splits_keep_every_picture_in_one_split(crops, tmp_path):
    logos = logo_splits(crops, seed=7, cache=tmp_path)
    assert len(logos.class_names) == 27 and "none" not in logos.class_names
    for split in SPLITS:
        found = files_in(logos.root, split)
        assert len(found) == logos.sizes[split] > 0
        assert {p.parent.name for p in found} == set(logos.class_names), split
    assert all(len(reached) == 1 for reached in split_of_each_source(logos.root).values())
    # the mirror's 9 groups of byte-identical files hold 13 extra copies; 2 of them are
    # query images, which crops (boxes come from the training set) never use
    assert logos.duplicates == (11 if crops else 13)
    # and copies re-encoded or resized: none of the photos behind one split is one of
    # those behind another, nor looks like it
    assert logos.left_out[folders.NEAR_COPY] > 10
    assert folders.near_copies(logos) == []
    assert len(logos.no_logo) == 135
    used = set(split_of_each_source(logos.root))
    assert not used & {digest(path) for path in logos.no_logo}
    # the query photos with a logo are in the whole-photo splits; crops never see them
    assert not used & {digest(path) for path in logos.unseen_logos}
    assert (len(logos.unseen_logos) > 100) if crops else logos.unseen_logos == ()


@needs_mirror
def test_a_logo_split_cut_per_class_keeps_every_class_and_no_picture_twice(tmp_path):
    small = logo_splits(False, seed=7, cache=tmp_path, per_class=2)
    for split in SPLITS:
        counts = defaultdict(int)
        for path in files_in(small.root, split):
            counts[path.parent.name] += 1
        assert set(counts) == set(small.class_names) and max(counts.values()) <= 2, split
    assert all(len(reached) == 1 for reached in split_of_each_source(small.root).values())


@needs_mirror
def test_logo_crops_are_the_annotated_boxes(tmp_path):
    logos = logo_splits(True, seed=7, cache=tmp_path)
    plan = json.loads((logos.root / folders.PLAN_FILE).read_text())
    for split, label, name, source, (x1, y1, x2, y2) in plan[::97]:
        with Image.open(logos.root / split / label / name) as crop:
            assert crop.size == (x2 - x1, y2 - y1)
        with Image.open(source) as image:
            assert 0 <= x1 < x2 <= image.width and 0 <= y1 < y2 <= image.height
    # each crop Keras lists leads back to its photo: the photo-level intervals rely on it
    listed = keras.utils.image_dataset_from_directory(
        logos.folder("test"), image_size=(8, 8), shuffle=False, verbose=False).file_paths
    behind = logos.source_of("test")
    assert len(listed) == len(behind) == logos.sizes["test"]
    assert all(Path(path).name.startswith(behind[Path(path)].stem + "-") for path in listed)
    assert len(set(behind.values())) < len(listed)  # some photos gave several crops


@needs_mirror
def test_logo_splits_depend_only_on_the_seed(tmp_path):
    first = logo_splits(False, seed=7, cache=tmp_path / "a")
    again = logo_splits(False, seed=7, cache=tmp_path / "b")
    other = logo_splits(False, seed=8, cache=tmp_path / "c")

    def tests(splits):
        return sorted(p.name for p in files_in(splits.root, "test"))

    assert tests(first) == tests(again) != tests(other)
    assert first.sizes == other.sizes


@pytest.fixture
def own_folder(tmp_path) -> Path:
    """cats/ and dogs/ and birds/ with 5 distinct JPEGs each, plus: a copy of cats' first
    image inside cats/ (a duplicate), the same bytes in cats/ and dogs/ (no single label),
    an undecodable .jpg, a text file, and nested subfolders sharing a file name."""
    source = tmp_path / "photos"
    for offset, name in enumerate(["birds", "cats", "dogs"]):
        for k in range(5):
            write_jpeg(source / name / f"{k}.jpg", 60 * offset + 10 * k)
    shutil.copy(source / "cats" / "0.jpg", source / "cats" / "copy-of-0.jpg")
    write_jpeg(source / "cats" / "ambiguous.jpg", 250)
    write_jpeg(source / "dogs" / "ambiguous.jpg", 250)
    (source / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    (source / "birds" / "notes.txt").write_text("taken in May")
    write_jpeg(source / "birds" / "nest" / "0.jpg", 200)
    return source


def test_own_folder_splits_count_what_they_leave_out(own_folder, tmp_path):
    before = tree_state(own_folder)
    splits = folder_splits(own_folder, seed=1, cache=tmp_path / "cache")
    assert tree_state(own_folder) == before  # the learner's folder is never written to
    assert splits.class_names == ("birds", "cats", "dogs")
    assert splits.duplicates == 2  # cats/copy-of-0.jpg, and the second ambiguous.jpg
    assert splits.left_out == {"labelled with two classes": 1}
    assert sorted(splits.skipped.reasons.values()) == ["corrupt", "not an image"]
    assert sum(splits.sizes.values()) == 6 + 5 + 5  # birds has the nested 0.jpg too
    assert all(len(reached) == 1 for reached in split_of_each_source(splits.root).values())
    assert "skipped 2 files" in splits.summary()


def test_own_folder_splits_read_back_with_keras(own_folder, tmp_path):
    splits = folder_splits(own_folder, seed=1, cache=tmp_path / "cache")
    dataset = keras.utils.image_dataset_from_directory(
        splits.folder("train"), image_size=(16, 16), batch_size=None, shuffle=False,
        verbose=False)
    assert tuple(dataset.class_names) == splits.class_names
    labels = np.array([int(label) for _, label in dataset])
    assert len(labels) == splits.sizes["train"] and set(labels) == {0, 1, 2}


def test_own_folder_splits_rebuild_when_the_folder_changes(own_folder, tmp_path):
    cache = tmp_path / "cache"
    first = folder_splits(own_folder, seed=1, cache=cache)
    write_jpeg(own_folder / "dogs" / "new.jpg", 123)
    second = folder_splits(own_folder, seed=1, cache=cache)
    assert sum(second.sizes.values()) == sum(first.sizes.values()) + 1
    assert len(list(cache.rglob("new.jpg"))) == 1


@pytest.mark.parametrize("layout, message", [
    ({"cats": 4}, "needs at least 2 class folders"),
    ({}, "found 0: none"),
    ({"cats": 4, "dogs": 0}, "class 'dogs'"),
    ({"cats": 4, "dogs": 2}, "has 2 usable images; each class needs at least 3"),
])
def test_own_folder_without_enough_images_says_which_class(layout, message, tmp_path):
    source = tmp_path / "photos"
    source.mkdir()
    for offset, (name, count) in enumerate(layout.items()):
        (source / name).mkdir()
        for k in range(count):
            write_jpeg(source / name / f"{k}.jpg", 100 * offset + 10 * k)
    with pytest.raises(ValueError, match=message):
        folder_splits(source, seed=1, cache=tmp_path / "cache")


def test_a_class_of_unreadable_files_is_reported_as_such(tmp_path):
    source = tmp_path / "photos"
    for k in range(3):
        write_jpeg(source / "cats" / f"{k}.jpg", 10 * k)
        (source / "dogs" / f"{k}.jpg").parent.mkdir(parents=True, exist_ok=True)
        (source / "dogs" / f"{k}.jpg").write_bytes(b"broken")
    with pytest.raises(ValueError, match=r"class 'dogs' .* 0 usable images \(3 more could not"):
        folder_splits(source, seed=1, cache=tmp_path / "cache")


def test_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        folder_splits(tmp_path / "nowhere", seed=1, cache=tmp_path / "cache")


def test_a_cache_folder_it_did_not_make_is_not_deleted(own_folder, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not made by helpers.folders"):
        folder_splits(own_folder, seed=1, cache=cache)
    assert (cache / "thesis.tex").read_text() == "precious"


# --- a folder that is split already ---------------------------------------------------------


@pytest.fixture
def split_folder(tmp_path) -> Path:
    """train/, val/ and test/ with cats and dogs, phone-style upper-case names, a PNG, a copy
    of a training photo in test/ (leakage), a copy within train/, and a broken file."""
    source = tmp_path / "photos"
    value = 0
    for split, count in [("train", 4), ("val", 2), ("test", 2)]:
        for label in ["cats", "dogs"]:
            for k in range(count):
                value += 7
                write_jpeg(source / split / label / f"IMG-20240101-WA{k:04d}.JPG", value)
    Image.new("RGB", (24, 20), (9, 99, 199)).save(source / "test" / "dogs" / "screenshot.png")
    shutil.copy(source / "train" / "cats" / "IMG-20240101-WA0000.JPG",
                source / "test" / "cats" / "IMG-20240102-WA0007.JPG")
    shutil.copy(source / "train" / "dogs" / "IMG-20240101-WA0001.JPG",
                source / "train" / "dogs" / "IMG-20240101-WA0001 (1).JPG")
    (source / "val" / "cats" / "IMG-20240103-WA0001.JPG").write_bytes(b"\xff\xd8 truncated")
    return source


def test_a_folder_split_already_keeps_its_split(split_folder, tmp_path):
    before = tree_state(split_folder)
    splits = folder_splits(split_folder, seed=1, cache=tmp_path / "cache")
    assert tree_state(split_folder) == before
    assert splits.class_names == ("cats", "dogs")  # not train, val and test
    assert splits.sizes == {"train": 8, "validation": 4, "test": 5}
    assert splits.left_out == {"in train already": 1} and splits.duplicates == 1
    assert list(splits.skipped.reasons.values()) == ["corrupt"]
    for split, given in [("train", "train"), ("validation", "val"), ("test", "test")]:
        for label in splits.class_names:
            kept = {p.resolve() for p in (splits.folder(split) / label).iterdir()}
            assert kept <= set((split_folder / given / label).iterdir())
    assert all(len(reached) == 1 for reached in split_of_each_source(splits.root).values())
    again = folder_splits(split_folder, seed=2, cache=tmp_path / "cache")
    assert again.sizes == splits.sizes  # the seed draws nothing for a given split


def test_a_picture_given_two_classes_is_left_out_of_every_split(split_folder, tmp_path):
    shutil.copy(split_folder / "train" / "dogs" / "IMG-20240101-WA0003.JPG",
                split_folder / "val" / "cats" / "IMG-20240104-WA0000.JPG")
    splits = folder_splits(split_folder, seed=1, cache=tmp_path / "cache")
    assert splits.left_out == {"in train already": 1, "labelled with two classes": 1}
    assert splits.sizes == {"train": 7, "validation": 4, "test": 5}
    reached = split_of_each_source(splits.root)
    assert digest(split_folder / "train" / "dogs" / "IMG-20240101-WA0003.JPG") not in reached


@pytest.mark.parametrize("remove, message", [
    ("test", r"no test/"),
    ("val", r"no validation/ or val/"),
])
def test_a_folder_split_in_part_names_the_missing_split(split_folder, tmp_path, remove,
                                                          message):
    shutil.rmtree(split_folder / remove)
    with pytest.raises(ValueError, match=message):
        folder_splits(split_folder, seed=1, cache=tmp_path / "cache")


def test_splits_with_different_classes_are_named(split_folder, tmp_path):
    write_jpeg(split_folder / "test" / "birds" / "0.jpg", 3)
    with pytest.raises(ValueError, match=r"different classes: .*test holds birds, cats, dogs"):
        folder_splits(split_folder, seed=1, cache=tmp_path / "cache")


def test_a_class_called_train_is_a_class(tmp_path):
    source = tmp_path / "vehicles"
    for offset, label in enumerate(["bus", "train"]):
        for k in range(4):
            write_jpeg(source / label / f"{k}.jpg", 100 * offset + 10 * k)
    splits = folder_splits(source, seed=1, cache=tmp_path / "cache")
    assert splits.class_names == ("bus", "train")


def test_the_held_out_shares_can_be_chosen_and_are_checked(tmp_path):
    source = tmp_path / "photos"
    for offset, label in enumerate(["cats", "dogs"]):
        for k in range(10):
            write_jpeg(source / label / f"{k}.jpg", 100 * offset + 9 * k)
    splits = folder_splits(source, seed=1, cache=tmp_path / "cache",
                           held_out={"validation": 0.3, "test": 0.2})
    assert splits.sizes == {"train": 10, "validation": 6, "test": 4}
    with pytest.raises(ValueError, match="together below 1"):
        folder_splits(source, seed=1, cache=tmp_path / "cache",
                      held_out={"validation": 0.6, "test": 0.5})


# --- copies a byte comparison misses ---------------------------------------------------------


def write_photo(path: Path, seed: int, size: tuple[int, int] = (64, 48)) -> None:
    """A photo-like JPEG: smooth random blobs, different for each seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC).save(path, quality=92)


def photos_folder(source: Path, splits: list[str]) -> Path:
    """3 different photo-like JPEGs per class, cats and dogs, under each of ``splits``
    (``[""]``: class folders at the top)."""
    for number, (split, label) in enumerate([(split, label) for split in splits
                                             for label in ["cats", "dogs"]]):
        for k in range(3):
            write_photo(source / split / label / f"{k}.jpg", 10 * number + k)
    return source


def copy_again(photo: Path, resized: Path, brighter: Path) -> None:
    """The same photo, smaller and re-encoded as a JPEG, and brighter as a PNG."""
    with Image.open(photo) as image:
        image.resize((48, 36)).save(resized, quality=60)
    with Image.open(photo) as image:
        image.point(lambda value: min(255, value + 20)).save(brighter)


def test_a_reencoded_or_resized_copy_reaches_one_split_only(tmp_path):
    source = photos_folder(tmp_path / "photos", ["train", "val", "test"])
    splits = folder_splits(source, seed=1, cache=tmp_path / "cache")
    assert splits.left_out == {} and folders.near_copies(splits) == []  # 18 different photos
    copy_again(source / "train" / "cats" / "0.jpg", source / "test" / "cats" / "resent.jpg",
               source / "val" / "cats" / "e.png")
    splits = folder_splits(source, seed=1, cache=tmp_path / "cache")
    assert splits.duplicates == 0  # no byte-identical copy: a byte check sees nothing
    assert splits.left_out == {"in train already": 2}
    assert splits.sizes == {"train": 6, "validation": 6, "test": 6}
    assert folders.near_copies(splits) == []


def test_a_reencoded_copy_in_another_class_leaves_the_picture_out(tmp_path):
    source = photos_folder(tmp_path / "photos", ["train", "val", "test"])
    copy_again(source / "train" / "cats" / "0.jpg", source / "test" / "dogs" / "resent.jpg",
               source / "train" / "cats" / "e.png")
    splits = folder_splits(source, seed=1, cache=tmp_path / "cache")
    assert splits.left_out == {"labelled with two classes": 1}
    assert splits.sizes == {"train": 5, "validation": 6, "test": 6}


def test_copies_in_a_class_folder_are_one_picture(tmp_path):
    source = photos_folder(tmp_path / "photos", [""])
    for k in range(3, 9):
        write_photo(source / "cats" / f"{k}.jpg", 100 + k)
        write_photo(source / "dogs" / f"{k}.jpg", 200 + k)
    copy_again(source / "cats" / "0.jpg", source / "cats" / "resent.jpg",
               source / "cats" / "e.png")
    splits = folder_splits(source, seed=1, cache=tmp_path / "cache")
    assert splits.left_out == {folders.NEAR_COPY: 2}
    assert sum(splits.sizes.values()) == 18
    assert folders.near_copies(splits) == []


def test_flat_images_are_not_copies_of_each_other(tmp_path):
    prints = []
    for number, colour in enumerate([(200, 30, 30), (30, 30, 200), (240, 240, 240)]):
        Image.new("RGB", (64, 48), colour).save(tmp_path / f"{number}.png")
        prints.append(folders.fingerprint(tmp_path / f"{number}.png"))
    assert all(folders.featureless(bits) for bits in prints)  # all 128 bits alike: no picture
    source = tmp_path / "photos"
    for label, count in [("red", 3), ("blue", 3)]:
        for k in range(count):
            write_jpeg(source / label / f"{k}.jpg", 40 * k + (100 if label == "red" else 0))
    splits = folder_splits(source, seed=1, cache=tmp_path / "cache")
    assert splits.left_out == {} and sum(splits.sizes.values()) == 6  # ramps, all alike


def test_a_fingerprint_is_decoded_once_and_again_when_the_file_changes(tmp_path, monkeypatch):
    photo = tmp_path / "photo.jpg"
    write_photo(photo, 7)
    first = folders.fingerprint(photo)
    with monkeypatch.context() as patch:   # the same file, named another way: not decoded
        patch.setattr(folders.Image, "open", lambda *_: pytest.fail("decoded again"))
        assert folders.fingerprint(tmp_path / "." / "photo.jpg") == first
    write_photo(photo, 8)   # another picture, at the same path
    os.utime(photo, ns=(photo.stat().st_atime_ns, photo.stat().st_mtime_ns + 10**9))
    assert folders.fingerprint_distance(folders.fingerprint(photo), first) > folders.NEAR_COPY_BITS


def test_a_placeholder_gif_among_photos_is_named_for_a_look(tmp_path):
    source = tmp_path / "photos"
    for number in range(30):
        write_photo(source / ("cats" if number % 2 else "dogs") / f"IMG-{number:04d}.jpg", number)
    placeholder = Image.new("RGB", (500, 374), (240, 240, 240))
    placeholder.paste((190, 190, 190), (200, 140, 300, 230))   # an icon, in grey
    placeholder.save(source / "cats" / "photo_unavailable.gif")
    splits = folder_splits(source, seed=1, cache=tmp_path / "cache")
    assert [path.name for path in splits.odd_formats] == ["photo_unavailable.gif"]
    assert "worth a look" in splits.summary() and "cats/photo_unavailable.gif" in splits.summary()
    assert sum(splits.sizes.values()) == 31   # flagged, not dropped: the learner decides
    for number in range(0, 30, 2):             # half the photos as PNG: no format is odd
        path = source / "dogs" / f"IMG-{number:04d}.jpg"
        with Image.open(path) as image:
            image.save(path.with_suffix(".png"))
        path.unlink()
    (source / "cats" / "photo_unavailable.gif").unlink()
    splits = folder_splits(source, seed=1, cache=tmp_path / "cache")
    assert splits.odd_formats == () and "worth a look" not in splits.summary()


def test_near_copies_names_each_leak_across_splits(tmp_path):
    photo, other = tmp_path / "photo.jpg", tmp_path / "other.jpg"
    write_photo(photo, 7)
    write_photo(other, 8)
    copy_again(photo, tmp_path / "resized.jpg", tmp_path / "brighter.png")
    behind = {"train": [photo], "validation": [tmp_path / "resized.jpg", other],
              "test": [photo]}
    pairs = folders.near_copies(SimpleNamespace(sources=behind.__getitem__))
    assert [(first.name, second.name) for first, second, _ in pairs] == [
        ("photo.jpg", "resized.jpg"), ("photo.jpg", "photo.jpg"), ("resized.jpg", "photo.jpg")]
    assert pairs[1][2] == 0 and all(distance <= folders.NEAR_COPY_BITS
                                    for _, _, distance in pairs)


def test_a_flat_fingerprint_is_close_to_nothing_on_either_side():
    some_edges = (0b1111 << 64) | 0b1111   # 4 bits set in each half: a picture, barely
    flat = 0                                # no bit set: featureless
    assert not folders.featureless(some_edges) and folders.featureless(flat)
    assert folders.fingerprint_distance(some_edges, flat) == 4 <= folders.NEAR_COPY_BITS
    assert list(folders._close_pairs([some_edges], [flat], folders.NEAR_COPY_BITS)) == []
    assert list(folders._close_pairs([flat], [some_edges], folders.NEAR_COPY_BITS)) == []
    assert list(folders._close_pairs([some_edges], [flat, some_edges ^ 1],
                                     folders.NEAR_COPY_BITS)) == [(0, 1, 1)]


#: Pairs of Flickr Logos 27 photos (file stems), looked at: copies of one picture
#: (re-encoded, resized, recoloured), and different photos whose 64-bit horizontal hash
#: alone was within 6 bits (dark, vignetted shots of Apple and Texaco, Ferrari, Heineken or
#: McDonald's and Adidas).
ONE_PICTURE = [("2452451692", "3116688672"), ("3007900027", "2584787090"),
               ("2974513280", "2974365916"), ("3817452506", "4734939463"),
               ("2132909220", "310688144"), ("4582547170", "4582547214")]
DIFFERENT_PHOTOS = [("299768792", "2515731280"), ("3206116179", "2450743885"),
                    ("3831371619", "2450743885"), ("3024711242", "2450743885")]


@needs_mirror
def test_near_copies_of_real_photos_are_told_from_look_alikes():
    images = folders._logo_images(assets.dataset_dir(folders.LOGOS))

    def distance(first: str, second: str) -> int:
        return folders.fingerprint_distance(folders.fingerprint(images / f"{first}.jpg"),
                                            folders.fingerprint(images / f"{second}.jpg"))

    assert max(distance(*pair) for pair in ONE_PICTURE) <= folders.NEAR_COPY_BITS
    assert min(distance(*pair) for pair in DIFFERENT_PHOTOS) > folders.NEAR_COPY_BITS + 2
