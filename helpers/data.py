"""The course's data: cats vs dogs as batched ``tf.data`` pipelines, and their augmentation.

:func:`load_cats_vs_dogs` gives the train / validation / test splits of the active profile:

* ``full``: TFDS ``cats_vs_dogs`` with the Keras transfer-learning guide's splits (40% / 10% /
  10% of TFDS's ``train``).
* ``quick``: ``cats_and_dogs_filtered`` (2,000 training and 1,000 validation images), read
  from the offline mirror when ``COURSE_ASSETS`` is set, else downloaded.

Images are float32 RGB with values in [0, 255] (each base applies its own preprocessing);
labels are float32, 0 = cat and 1 = dog. Augmentation is never part of the cached
pipeline: :func:`augment` applies it afterwards, so every epoch sees new random images.

Image folders may hold files that TensorFlow cannot decode (a broken download, a stray text
file); :func:`clean_image_folder` finds them and leaves them out instead of letting the
first epoch crash on them.
"""

from __future__ import annotations

from helpers import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything imports TensorFlow or Keras

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from helpers import assets
from helpers.config import Profile

#: Class folder names of ``cats_and_dogs_filtered``, in label order (cats = 0, dogs = 1).
CLASS_NAMES = ("cats", "dogs")

#: The Keras transfer-learning guide's slices of TFDS ``cats_vs_dogs``.
TFDS_SPLITS = {"train": "train[:40%]", "validation": "train[40%:50%]", "test": "train[50%:60%]"}
#: Where TFDS downloads cats_vs_dogs from (named when the download fails).
TFDS_URL = ("https://download.microsoft.com/download/3/E/1/3E1C3F21-ECDB-4869-8368-"
            "6DEBA77B919F/kagglecatsanddogs_5340.zip")

#: File extensions ``keras.utils.image_dataset_from_directory`` reads (it ignores others).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")

#: Image formats (as Pillow names them) that those extensions stand for.
IMAGE_FORMATS = ("BMP", "GIF", "JPEG", "PNG")

NOT_AN_IMAGE = "not an image"
CORRUPT = "corrupt"
UNSUPPORTED_FORMAT = "unsupported format"


@dataclass(frozen=True)
class SkippedFiles:
    """Files left out of image folders, each with the reason.

    Attributes:
        reasons: path of each skipped file -> ``"not an image"`` (an extension that is not
            an image's), ``"corrupt"`` (an image extension, but it does not decode) or
            ``"unsupported format"`` (an image, but not JPEG, PNG, GIF or BMP).
    """

    reasons: dict[Path, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.reasons)

    def __add__(self, other: SkippedFiles) -> SkippedFiles:
        return SkippedFiles({**self.reasons, **other.reasons})

    @property
    def by_reason(self) -> dict[str, list[Path]]:
        """Reason -> sorted paths skipped for it."""
        grouped: dict[str, list[Path]] = {}
        for path, reason in sorted(self.reasons.items()):
            grouped.setdefault(reason, []).append(path)
        return grouped

    def summary(self) -> str:
        """One line, e.g. ``"skipped 2 files: 1 corrupt, 1 not an image"``."""
        total = f"skipped {len(self)} file{'' if len(self) == 1 else 's'}"
        counts = Counter(self.reasons.values())
        if not counts:
            return total
        return total + ": " + ", ".join(f"{counts[r]} {r}" for r in sorted(counts))


@dataclass(frozen=True)
class Splits:
    """The three splits of a dataset, batched, cached and prefetched.

    Attributes:
        train: shuffled anew each epoch (seeded); not augmented.
        validation: for model selection (early stopping, tuning).
        test: held out; evaluate on it only once the model is chosen.
        sizes: number of images in each split, by split name.
        skipped: files left out because they are not decodable images.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    sizes: dict[str, int]
    skipped: SkippedFiles


def load_cats_vs_dogs(profile: Profile, batch_size: int | None = None) -> Splits:
    """Train, validation and test splits of the profile's cats-vs-dogs dataset.

    Each split yields ``(images, labels)`` batches: images float32 of shape
    ``(batch, S, S, 3)`` with values in [0, 255] (``S = profile.image_size``), labels float32
    of shape ``(batch,)``, 0 = cat and 1 = dog. Every split is resized, cached and
    prefetched; ``train`` is reshuffled each epoch by a shuffle seeded with ``profile.seed``
    that comes after the cache. Nothing is augmented: see :func:`augment`.

    * ``full`` (``tfds:cats_vs_dogs``): ``train[:40%]``, ``train[40%:50%]`` and
      ``train[50%:60%]`` of TFDS ``cats_vs_dogs``, as in the Keras transfer-learning guide.
    * ``quick`` (``cats_and_dogs_filtered``): ``train`` is the whole ``train/`` folder
      (2,000 images). The official ``validation/`` folder (1,000 images) is cut in two by
      sorted file name within each class: the first half of each class
      (``cat.2000``-``cat.2249``, ``dog.2000``-``dog.2249``) is ``validation``, used for model
      selection, early stopping and tuning; the second half (``2250``-``2499``) is ``test``,
      held out and never used to choose anything, so its score is an honest estimate.
      Files that are not decodable images are skipped and counted in ``skipped``.

    Args:
        profile: a :class:`helpers.config.Profile`.
        batch_size: default ``profile.batch_size``.

    Raises:
        ValueError: the profile names a dataset this function does not know.
    """
    if profile.dataset == "tfds:cats_vs_dogs":
        examples = _tfds_cats_vs_dogs(profile.image_size)
        skipped = SkippedFiles()  # TFDS leaves out cats_vs_dogs's corrupt images itself
    elif profile.dataset == "cats_and_dogs_filtered":
        examples, skipped = _cats_and_dogs_filtered(profile.image_size)
    else:
        raise ValueError(
            f"profile {profile.name!r} uses dataset {profile.dataset!r}; load_cats_vs_dogs "
            f"knows 'tfds:cats_vs_dogs' and 'cats_and_dogs_filtered'"
        )
    if profile.images_per_split:
        examples = {name: _subset(dataset, profile.images_per_split, profile.seed)
                    for name, dataset in examples.items()}
    batch_size = batch_size or profile.batch_size
    sizes = {name: int(dataset.cardinality()) for name, dataset in examples.items()}
    return Splits(
        train=_batched(examples["train"], batch_size, shuffle_seed=profile.seed),
        validation=_batched(examples["validation"], batch_size),
        test=_batched(examples["test"], batch_size),
        sizes=sizes,
        skipped=skipped,
    )


def raw_examples(profile: Profile, count: int = 8) -> list[tuple[np.ndarray, int]]:
    """``count`` training images as stored, before any resizing: ``(uint8 array, label)``.

    Cats first, then dogs, half each (one cat more for an odd count): ``quick`` takes the
    first files of each class folder by name, ``full`` the first examples of each label in
    TFDS ``cats_vs_dogs``'s order.
    """
    wanted = {0: count - count // 2, 1: count // 2}
    picked: dict[int, list[tuple[np.ndarray, int]]] = {0: [], 1: []}
    if profile.dataset == "tfds:cats_vs_dogs":
        dataset = _load_tfds(TFDS_SPLITS["train"])
        for image, label in dataset.as_numpy_iterator():
            if len(picked[int(label)]) < wanted[int(label)]:
                picked[int(label)].append((image, int(label)))
            if all(len(picked[k]) == wanted[k] for k in picked):
                break
    else:
        folder = assets.dataset_dir(profile.dataset) / "train"
        for label, name in enumerate(CLASS_NAMES):
            files = [p for p in sorted((folder / name).iterdir()) if not problem_with_image(p)]
            picked[label] = [(np.asarray(Image.open(path).convert("RGB")), label)
                             for path in files[:wanted[label]]]
    return picked[0] + picked[1]


def example_image_file(profile: Profile) -> Path:
    """A JPEG file of the test split, to show prediction on a file as a user would have one.

    ``quick``: the first dog of the test split, ``dog.2250.jpg``. ``full``: TFDS stores no
    files, so the first test example is written as a JPEG under the course cache.
    """
    if profile.dataset == "tfds:cats_vs_dogs":
        path = assets.cache_root() / "datasets" / "cats_vs_dogs" / "test-example.jpg"
        if not path.exists():
            image, _ = next(iter(_load_tfds(TFDS_SPLITS["test"])))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(tf.io.encode_jpeg(image).numpy())
        return path
    folder = assets.dataset_dir(profile.dataset) / "validation" / "dogs"
    images = sorted((p for p in folder.iterdir() if not problem_with_image(p)),
                    key=lambda p: p.name)
    return images[len(images) // 2]  # the first of the half that is the test split


def augmentation(seed: int | None = None) -> keras.Sequential:
    """The Keras guide's augmentation: random horizontal flips and rotations up to 10%."""
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.1, seed=seed),
        ],
        name="augmentation",
    )


def augment(dataset: tf.data.Dataset, seed: int | None = None) -> tf.data.Dataset:
    """``dataset`` with :func:`augmentation` applied to its images, anew on every pass.

    Apply it after any ``cache()``: the random transformations then differ from epoch to
    epoch, while a cached augmentation would show the model the same images every epoch.
    Batches are augmented one after the other (prefetch still overlaps this with training):
    parallel calls would draw from the layers' random state in a varying order, and a seeded
    run would no longer repeat.
    """
    layers = augmentation(seed)
    return dataset.map(
        lambda images, labels: (layers(images, training=True), labels)
    ).prefetch(tf.data.AUTOTUNE)


def clean_image_folder(root: Path, cache: Path) -> tuple[Path, SkippedFiles]:
    """``root`` (laid out ``root/<class>/...``) without the files that are not decodable images.

    Every file under a class folder is checked: an image extension
    (``image_dataset_from_directory``'s), a JPEG, PNG, GIF or BMP inside, and one that
    decodes (JPEGs at 1/8 scale, which is quick and still catches truncated files). When all
    pass, ``root`` itself is returned. Otherwise ``cache`` is made a copy of ``root`` in
    symbolic links to the good files and returned; ``root`` is never written to.

    Args:
        root: folder with one subfolder per class.
        cache: where to build the folder of links, if one is needed; must be outside ``root``.

    Raises:
        ValueError: ``cache`` is inside ``root``.
    """
    root, cache = Path(root), Path(cache)
    if cache.resolve().is_relative_to(root.resolve()):
        raise ValueError(
            f"the cache folder {cache} is inside {root}, which must not be written to"
        )
    classes = class_folders(root)
    files = [path for folder in classes for path in sorted(folder.rglob("*")) if path.is_file()]
    problems = {path: problem_with_image(path) for path in files}
    skipped = SkippedFiles({path: reason for path, reason in problems.items() if reason})
    if not skipped:
        return root, skipped
    good = [path for path, reason in problems.items() if not reason]
    class_names = [folder.relative_to(root) for folder in classes]
    _link_files(cache, class_names, {path.relative_to(root): path for path in good})
    return cache, skipped


def _load_tfds(split):
    """``tfds.load("cats_vs_dogs")`` as ``(image, label)`` pairs; a failed download says
    that the full profile needs internet and how to run offline instead."""
    with assets.explain_failed_download(
            "TFDS cats_vs_dogs (the full profile's data, about 800 MB)", TFDS_URL,
            f"the course mirror has no copy of it: run the quick profile instead, "
            f"`COURSE_PROFILE=quick {assets.ASSETS_ENV}=/path/to/assets make lab`."):
        return tfds.load("cats_vs_dogs", split=split, as_supervised=True)


def _tfds_cats_vs_dogs(image_size: int) -> dict[str, tf.data.Dataset]:
    """The guide's TFDS slices as unbatched ``(image, label)``, resized, all float32."""
    datasets = _load_tfds(list(TFDS_SPLITS.values()))

    def resize(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.image.resize(image, (image_size, image_size)), tf.cast(label, tf.float32)

    return {
        name: dataset.map(resize, num_parallel_calls=tf.data.AUTOTUNE)
        for name, dataset in zip(TFDS_SPLITS, datasets)
    }


def _cats_and_dogs_filtered(image_size: int) -> tuple[dict[str, tf.data.Dataset], SkippedFiles]:
    """``cats_and_dogs_filtered`` as unbatched ``(image, label)``, with what was skipped.

    The links this needs (clean copies, the validation and test halves) go under
    ``<cache_root>/datasets/cats_and_dogs_filtered/``.
    """
    root = assets.dataset_dir("cats_and_dogs_filtered")
    cache = assets.cache_root() / "datasets" / "cats_and_dogs_filtered"
    train, train_skipped = clean_image_folder(root / "train", cache / "train-clean")
    official_validation, validation_skipped = clean_image_folder(
        root / "validation", cache / "validation-clean"
    )
    validation, test = _split_by_sorted_name(
        official_validation, cache / "validation", cache / "test"
    )
    folders = {"train": train, "validation": validation, "test": test}
    examples = {name: _image_folder_dataset(folder, image_size) for name, folder in folders.items()}
    return examples, train_skipped + validation_skipped


def _image_folder_dataset(folder: Path, image_size: int) -> tf.data.Dataset:
    """Unbatched ``(image, label)`` of ``folder/{cats,dogs}``, in file order, all float32."""
    dataset = keras.utils.image_dataset_from_directory(
        folder,
        label_mode="int",
        class_names=list(CLASS_NAMES),
        batch_size=None,
        image_size=(image_size, image_size),
        shuffle=False,
        verbose=False,
    )
    return dataset.map(lambda image, label: (image, tf.cast(label, tf.float32)))


def _subset(examples: tf.data.Dataset, count: int, seed: int) -> tf.data.Dataset:
    """``count`` examples drawn from all of ``examples`` (seeded, the same draw every read).

    The shuffle spans the whole split, so a split stored class by class (all cats, then all
    dogs) still gives both classes.
    """
    total = int(examples.cardinality())
    buffer = total if total > 0 else 10_000
    shuffled = examples.shuffle(buffer, seed=seed, reshuffle_each_iteration=False)
    return shuffled.take(count)


def _batched(
    examples: tf.data.Dataset, batch_size: int, shuffle_seed: int | None = None
) -> tf.data.Dataset:
    """Cache ``examples``, shuffle them each epoch if given a seed, then batch and prefetch.

    The shuffle comes after the cache, so that it draws a new order every epoch, and before
    the batching, so that batches mix cats and dogs. The cache is filled here, by one full
    read: with a cache still being filled, a read that stops part-way (``next(iter(...))``
    to look at one batch) can leave the next read of the split truncated.
    """
    dataset = examples.cache()
    for _ in dataset.batch(256):
        pass
    if shuffle_seed is not None:
        buffer = int(examples.cardinality())
        dataset = dataset.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def class_folders(root: Path) -> list[Path]:
    """Subfolders of ``root`` that ``image_dataset_from_directory`` takes as classes."""
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def problem_with_image(path: Path) -> str | None:
    """Why ``path`` cannot be read as an image by TensorFlow, or None when it can."""
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        return NOT_AN_IMAGE
    try:
        with Image.open(path) as image:
            image_format = image.format
            image.draft("RGB", (1, 1))  # JPEG: decode at the smallest scale; others: no-op
            image.load()
    except Exception:  # Pillow reports a broken file with many exception types
        return CORRUPT
    return None if image_format in IMAGE_FORMATS else UNSUPPORTED_FORMAT


def _split_by_sorted_name(folder: Path, first: Path, second: Path) -> tuple[Path, Path]:
    """Link the first half of each class of ``folder`` into ``first``, the rest into ``second``.

    Halves are taken by sorted file name; with an odd count, ``second`` gets the extra file.
    """
    classes = [Path(c.name) for c in class_folders(folder)]
    halves: tuple[dict[Path, Path], dict[Path, Path]] = ({}, {})
    for name in classes:
        files = sorted(
            (p for p in (folder / name).rglob("*") if p.is_file()), key=lambda p: p.name
        )
        middle = len(files) // 2
        halves[0].update({p.relative_to(folder): p for p in files[:middle]})
        halves[1].update({p.relative_to(folder): p for p in files[middle:]})
    _link_files(first, classes, halves[0])
    _link_files(second, classes, halves[1])
    return first, second


def _link_files(folder: Path, classes: list[Path], links: dict[Path, Path]) -> None:
    """Make ``folder`` hold the class folders ``classes`` and ``links`` (relative path -> file).

    Links point at the real files (links are followed), and a folder that already holds
    exactly these links is left as it is.
    """
    targets = {relative: Path(os.path.realpath(source)) for relative, source in links.items()}
    in_place = folder.is_dir() and all((folder / name).is_dir() for name in classes)
    if in_place and _existing_links(folder) == targets:
        return
    if folder.exists():
        _remove_links(folder)
    for name in classes:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for relative, target in sorted(targets.items()):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).symlink_to(target)


def _existing_links(folder: Path) -> dict[Path, Path]:
    """Relative path -> target of every symbolic link under ``folder``."""
    return {
        path.relative_to(folder): Path(os.readlink(path))
        for path in folder.rglob("*")
        if path.is_symlink()
    }


def _remove_links(folder: Path) -> None:
    """Empty ``folder`` of the links and folders :func:`_link_files` made there.

    Raises:
        FileExistsError: ``folder`` holds a real file, so it is not a folder of links.
    """
    for path in sorted(folder.rglob("*"), reverse=True):  # contents before their folder
        if path.is_symlink():
            path.unlink()
        elif path.is_dir():
            path.rmdir()
        else:
            raise FileExistsError(
                f"{folder} should hold only links made by helpers.data, but {path} is a "
                f"real file; remove {folder} or point COURSE_CACHE elsewhere"
            )
