"""Train / validation / test class folders from a folder of images: Flickr Logos 27, or yours.

``keras.utils.image_dataset_from_directory`` reads one subfolder per class. Notebook 07
needs three such folders, split so that nothing seen in training is tested on:

* :func:`logo_splits` builds them from Flickr Logos 27's annotation files, either as
  whole images (symbolic links to the originals) or as crops of the annotated logo boxes
  (JPEG files written to the cache).
* :func:`folder_splits` builds them from a folder of your own, ``class_name/*.jpg``, or
  takes the split it already has (``train/``, ``validation/`` or ``val/``, ``test/``).

Both keep one file of each picture before splitting: byte-identical duplicates (the mirror
has 9 groups of them), and copies re-encoded or resized, found by :func:`fingerprint`. So
one picture, and every crop of it, lands in exactly one split; both split each class
separately (stratified) with a seed, so a rerun gives the same folders; both skip and count
files that do not decode, as :mod:`helpers.data` does. The folders go under the course
cache; the source folder is never written to.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import shutil
import tarfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from helpers import assets
from helpers.data import SkippedFiles, class_folders, problem_with_image

LOGOS = "flickr_logos_27_dataset"
LOGO_IMAGES = "flickr_logos_27_dataset_images"
LOGO_BOXES = "flickr_logos_27_dataset_training_set_annotation.txt"
LOGO_QUERIES = "flickr_logos_27_dataset_query_set_annotation.txt"
#: The query set's label for an image that shows none of the 27 logos.
NO_LOGO = "none"
SPLITS = ("train", "validation", "test")
#: Share of each class's images that goes to validation and to test (train gets the rest).
HELD_OUT = {"validation": 0.15, "test": 0.15}
#: The top-level folders of a folder that is split already, by split (the first name found).
GIVEN_SPLIT_NAMES = {"train": ("train",), "validation": ("validation", "val"),
                     "test": ("test",)}
#: Written last into a split folder; a folder whose plan matches is reused as it is.
PLAN_FILE = "plan.json"
#: Bits each half of a :func:`fingerprint` may differ by for two files to be one photo. On
#: Flickr Logos 27, 11 of 12 pairs of one picture (re-encoded, resized, recoloured) differ by
#: at most 6 in each half (the twelfth, a BMW roundel drawn again, by 7), and the four pairs
#: of different photos that agree in one half (dark, vignetted shots) by 10 or more.
NEAR_COPY_BITS = 6
#: Set bits below which (or above 64 less which) a half of a fingerprint carries no picture:
#: a flat or evenly graded image, which looks like every other one to a difference hash.
FEATURELESS_BITS = 2
#: A file format that less than this share of a folder's pictures has is worth a look: a
#: GIF among JPEG photos, as a web page's "image not found" placeholder saved as a photo.
ODD_FORMAT_SHARE = 0.05
#: Fingerprints kept in memory, one per file (a few hundred bytes each).
FINGERPRINTS_REMEMBERED = 100_000
#: Why a file that looks like a picture already kept is left out.
NEAR_COPY = "a copy of a kept picture, re-encoded or resized"

Box = tuple[int, int, int, int]  # x1, y1, x2, y2, in pixels


@dataclass(frozen=True)
class FolderSplits:
    """Class folders ready for ``image_dataset_from_directory``.

    Attributes:
        root: holds ``train/``, ``validation/`` and ``test/``, each with one folder per class.
        class_names: in the order ``image_dataset_from_directory`` numbers them (sorted).
        sizes: images per split.
        duplicates: files left out because another file has the same bytes.
        left_out: other files left out, by reason (``"labelled with two classes"``, or
            :data:`NEAR_COPY` for a re-encoded or resized copy of a picture kept).
        skipped: files that are not decodable images.
        no_logo: images that show none of the classes (Flickr Logos 27's "none" queries),
            kept out of every split.
        unseen_logos: whole photos that show one of the classes, behind no split and no copy
            of a photo behind one (Flickr Logos 27's query photos with a logo, when the
            splits are crops of the training set): the control for ``no_logo``.
        odd_formats: pictures kept whose file format few others share (:func:`odd_formats`),
            worth a look before training: a GIF among JPEG photos is often a web page's
            "image not found" placeholder saved in place of the photo.
    """

    root: Path
    class_names: tuple[str, ...]
    sizes: dict[str, int]
    duplicates: int = 0
    left_out: dict[str, int] = field(default_factory=dict)
    skipped: SkippedFiles = field(default_factory=SkippedFiles)
    no_logo: tuple[Path, ...] = ()
    unseen_logos: tuple[Path, ...] = ()
    odd_formats: tuple[Path, ...] = ()

    def folder(self, split: str) -> Path:
        """The class folders of ``split`` (``"train"``, ``"validation"`` or ``"test"``)."""
        return self.root / split

    def source_of(self, split: str) -> dict[Path, Path]:
        """Each image file of ``split`` (as ``image_dataset_from_directory`` lists it in
        ``file_paths``) -> the photo behind it: the one it links to, or its crop was cut
        from (read from the split's plan)."""
        plan = json.loads((self.root / PLAN_FILE).read_text())
        return {self.folder(split) / label / name: Path(source)
                for entry_split, label, name, source, _ in plan if entry_split == split}

    def sources(self, split: str) -> list[Path]:
        """The photos behind ``split``'s images (:meth:`source_of`), each once, sorted."""
        return sorted(set(self.source_of(split).values()))

    def summary(self) -> str:
        """One line of counts, e.g. ``"27 classes; train 660, validation 135, test 135
        images; 13 duplicate files dropped; ..."``."""
        parts = [f"{len(self.class_names)} classes",
                 ", ".join(f"{split} {self.sizes[split]}" for split in SPLITS) + " images",
                 f"{self.duplicates} duplicate files dropped"]
        parts += [f"{count} left out ({reason})" for reason, count in sorted(self.left_out.items())]
        if self.no_logo:
            parts.append(f"{len(self.no_logo)} no-logo images kept aside")
        line = "; ".join(parts) + f"; {self.skipped.summary()}"
        if self.odd_formats:
            line += (f"\nworth a look, in a format few other pictures have (a placeholder saved "
                     f"in place of a photo?): "
                     + ", ".join(f"{path.parent.name}/{path.name}" for path in self.odd_formats))
        return line


@dataclass(frozen=True)
class _Picture:
    """One distinct picture (its other copies dropped) and what it is labelled."""

    path: Path
    labels: dict[str, set[Box]]  # class -> annotated boxes (empty for a whole-image label)


def logo_splits(crops: bool, seed: int, cache: Path | None = None,
                per_class: int | None = None) -> FolderSplits:
    """Flickr Logos 27 as train / validation / test class folders.

    Images come from the annotated training set (each with logo boxes) and from the query
    set (one class per image, no boxes). Query images labelled ``"none"`` show no logo:
    they are returned in ``no_logo``, never put in a class.

    Args:
        crops: True for one image per annotated box, cropped; False for whole images. An
            image annotated with two classes has no single whole-image label, so it is left
            out of whole images (and counted); its crops keep their own classes. Query
            images have no boxes, so crops come from the training set only.
        seed: the split's seed.
        cache: the folder to build them in (default: one under the course cache for each
            of crops and whole images).
        per_class: if set, each split keeps at most this many pictures of a class (the
            test suite's small profile); duplicates are dropped and splits drawn first.
    """
    source = assets.dataset_dir(LOGOS)
    images = _logo_images(source)
    labels: dict[str, dict[str, set[Box]]] = defaultdict(lambda: defaultdict(set))
    for line in (source / LOGO_BOXES).read_text().splitlines():
        if line.strip():  # <image> <class> <subset> <x1> <y1> <x2> <y2>; boxes repeat by subset
            name, label, _, *box = line.split()
            labels[name][label].add(tuple(int(v) for v in box))
    no_logo, queries = [], []
    for line in (source / LOGO_QUERIES).read_text().splitlines():
        if line.strip():
            name, label = line.split()
            if label == NO_LOGO:
                no_logo.append(images / name)
            elif crops:
                queries.append(images / name)
            else:
                labels[name].setdefault(label, set())
    pictures, duplicates, left_out, skipped = _distinct_pictures(
        {images / name: boxes for name, boxes in labels.items()})
    cache = cache or assets.cache_root() / "datasets" / (
        f"logos-{'crops' if crops else 'images'}" + (f"-{per_class}" if per_class else ""))
    splits = _build(pictures, cache, crops, seed, duplicates, left_out, skipped,
                    tuple(sorted(no_logo)), per_class=per_class)
    return replace(splits, unseen_logos=_unseen(queries, [picture.path for picture in pictures]))


def _unseen(photos: list[Path], used: list[Path]) -> tuple[Path, ...]:
    """The decodable ``photos`` that are none of ``used``, nor look like one of them
    (:func:`_close_pairs`), each once, sorted."""
    photos = sorted({path for path in photos if not problem_with_image(path)} - set(used))
    if not photos:
        return ()
    alike = {i for i, _, _ in _close_pairs([fingerprint(path) for path in photos],
                                           [fingerprint(path) for path in used], NEAR_COPY_BITS)}
    return tuple(path for i, path in enumerate(photos) if i not in alike)


def folder_splits(source: Path, seed: int, cache: Path | None = None,
                  held_out: dict[str, float] | None = None) -> FolderSplits:
    """Your own ``source/<class name>/<image>`` folder as train / validation / test folders.

    A folder that is split already, ``source/train/<class name>/...`` with ``validation/``
    (or ``val/``) and ``test/`` beside it, keeps its own split; else
    each class is split with ``seed``, ``held_out`` (default :data:`HELD_OUT`) giving the
    shares of validation and test.

    Files that are not decodable images are skipped and counted. Copies of one picture
    (the same bytes, or re-encoded or resized: :func:`fingerprint_distance`) reach one split
    only: one is kept, the others are left out and counted. A picture found in two classes
    has no single label: every copy is left out and counted.

    Raises:
        FileNotFoundError: ``source`` is not a folder.
        ValueError: fewer than 2 class folders, or a class with fewer than 3 usable images
            (one for each split); a split given in part (``train/`` and ``test/`` only), or
            splits that name different classes; a ``held_out`` that leaves train nothing.
            The message names the folder and the class.
    """
    source = Path(source)
    held_out = held_out or HELD_OUT
    if set(held_out) - {"validation", "test"} or not (
            all(share > 0 for share in held_out.values()) and sum(held_out.values()) < 1):
        raise ValueError(f"held_out gives the shares of validation and test, each above 0 "
                         f"and together below 1, e.g. {HELD_OUT}; found {held_out}")
    cache = cache or assets.cache_root() / "datasets" / f"folder-{_digest(str(source.resolve()))}"
    given = _given_split_folders(source)
    if given is not None:
        return _with_odd_formats(_given_split(given, cache))
    classes = class_folders(source)
    if len(classes) < 2:
        found = ", ".join(folder.name for folder in classes) or "none"
        raise ValueError(
            f"{source} needs at least 2 class folders (one per class, each holding that "
            f"class's images), found {len(classes)}: {found}")
    files = {path: {folder.name: set()} for folder in classes
             for path in sorted(folder.rglob("*")) if path.is_file()}
    pictures, duplicates, left_out, skipped = _distinct_pictures(files)
    return _with_odd_formats(_build(pictures, cache, False, seed, duplicates, left_out,
                                    skipped, (), source, held_out=held_out))


def _with_odd_formats(splits: FolderSplits) -> FolderSplits:
    """``splits`` with the pictures behind them that :func:`odd_formats` flags."""
    return replace(splits, odd_formats=odd_formats(
        [path for split in SPLITS for path in splits.sources(split)]))


def odd_formats(paths: list[Path]) -> tuple[Path, ...]:
    """The files among ``paths`` whose image format (Pillow's: JPEG, PNG, GIF, ...) fewer
    than :data:`ODD_FORMAT_SHARE` of them share, sorted; none when no format is that rare."""
    formats = {}
    for path in paths:
        with Image.open(path) as image:
            formats[path] = image.format
    counts = Counter(formats.values())
    return tuple(sorted(path for path, image_format in formats.items()
                        if counts[image_format] < ODD_FORMAT_SHARE * len(paths)))


def _given_split_folders(source: Path) -> dict[str, Path] | None:
    """``source``'s own split folders, by split; None unless its top level holds ``train/``
    and another split's folder (a class may be called ``train``, or ``test``).

    Raises:
        ValueError: it names some splits but not all (the message says which are missing).
    """
    tops = {folder.name.lower(): folder for folder in class_folders(source)}
    found = {split: next((tops[name] for name in names if name in tops), None)
             for split, names in GIVEN_SPLIT_NAMES.items()}
    if found["train"] is None or sum(folder is not None for folder in found.values()) < 2:
        return None
    missing = [" or ".join(f"{name}/" for name in GIVEN_SPLIT_NAMES[split])
               for split, folder in found.items() if folder is None]
    if missing:
        raise ValueError(
            f"{source} looks split already ({', '.join(f'{f.name}/' for f in found.values() if f)}"
            f" at its top level), but has no {' and no '.join(missing)}: give all three "
            f"splits, each with one folder per class, or one folder per class at the top "
            f"and let the course split it")
    return found


def _given_split(folders: dict[str, Path], cache: Path) -> FolderSplits:
    """The split a folder came with (``folders``: train, validation and test, each holding
    the same class folders), laid out under ``cache``. A picture whose bytes are already in
    an earlier split (train, then validation) would be tested on what was trained on: it is
    left out of the later one, and counted, and so is a file that looks like it (re-encoded
    or resized, :func:`fingerprint_distance`). One whose copies name two classes has no single
    label: every copy is left out, as in a folder the course splits.

    Raises:
        ValueError: the splits' classes differ, or a class has no usable image in a split.
    """
    classes = {split: [folder.name for folder in class_folders(root)]
               for split, root in folders.items()}
    if len(classes["train"]) < 2:
        raise ValueError(f"{folders['train']} needs at least 2 class folders, found "
                         f"{len(classes['train'])}: {', '.join(classes['train']) or 'none'}")
    for split, names in classes.items():
        if names != classes["train"]:
            raise ValueError(
                f"the splits name different classes: {folders['train']} holds "
                f"{', '.join(classes['train'])}; {folders[split]} holds "
                f"{', '.join(names) or 'none'}. Each split needs the same class folders")
    files = {path: (split, label) for split, root in folders.items() for label in classes[split]
             for path in sorted((root / label).rglob("*")) if path.is_file()}
    groups, skipped = _copies(files)
    plan, duplicates, left_out = [], 0, defaultdict(int)
    for cluster in _look_alike(groups):
        paths = [path for group in cluster for path in group]
        places = sorted({files[path] for path in paths}, key=lambda at: SPLITS.index(at[0]))
        if len({label for _, label in places}) > 1:
            left_out["labelled with two classes"] += 1
            continue
        split, label = places[0]
        kept = next(group for group in cluster if any(files[path][0] == split for path in group))
        kept = [path for path in kept if files[path][0] == split]
        duplicates += len(kept) - 1
        alike = sum(files[path][0] == split for path in paths) - len(kept)
        later = sum(files[path][0] != split for path in paths)
        if alike:
            left_out[NEAR_COPY] += alike
        if later:
            left_out[f"in {split} already"] += later
        plan.append([split, label, kept[0].name, str(kept[0]), None])
    for split, root in folders.items():
        for label in classes[split]:
            if not any(entry[:2] == [split, label] for entry in plan):
                raise ValueError(f"class {label!r} has no usable image in {root / label}; "
                                 f"each class needs at least one in each split")
    _unique_names(plan)
    _lay_out(cache, plan)
    sizes = {split: sum(entry[0] == split for entry in plan) for split in SPLITS}
    return FolderSplits(cache, tuple(classes["train"]), sizes, duplicates, dict(left_out),
                        skipped)


def fingerprint(path: Path) -> int:
    """A 128-bit difference hash of the image at ``path``, in grey: 64 bits that tell, on
    9 x 8 pixels, whether each pixel is brighter than its right-hand neighbour, then 64 that
    tell, on 8 x 9 pixels, whether it is brighter than the one below. Re-encoding, resizing
    or recolouring a photo changes a few bits of each half; another photo, about half of
    them (:func:`fingerprint_distance`). Remembered for each file while it is unchanged (the
    same size and modification time), since a notebook asks again for the same photos."""
    status = Path(path).stat()
    return _fingerprint(str(Path(path).resolve()), status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=FINGERPRINTS_REMEMBERED)
def _fingerprint(path: str, size: int, modified_ns: int) -> int:
    """:func:`fingerprint` of the file at ``path``, as it is at ``size`` and ``modified_ns``."""
    with Image.open(path) as image:
        image.draft("L", (64, 64))  # JPEG: decoded at a small scale, as the hash needs
        grey = image.convert("L")
        across = np.asarray(grey.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
        down = np.asarray(grey.resize((8, 9), Image.Resampling.LANCZOS), dtype=np.int16)
    bits = np.concatenate([(across[:, :-1] > across[:, 1:]).ravel(),
                           (down[:-1, :] > down[1:, :]).ravel()])
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def fingerprint_distance(first: int, second: int) -> int:
    """The bits two :func:`fingerprint` s differ by, in the half where they differ more: two
    different photos with the same layout of light and dark can agree in one direction,
    seldom in both."""
    differ = first ^ second
    return max((differ >> 64).bit_count(), (differ & (2**64 - 1)).bit_count())


def featureless(bits: int) -> bool:
    """Whether a :func:`fingerprint` is too flat to tell its image from another: a half with
    at most :data:`FEATURELESS_BITS` bits set, or unset."""
    return any(not FEATURELESS_BITS < half.bit_count() < 64 - FEATURELESS_BITS
               for half in (bits >> 64, bits & (2**64 - 1)))


def near_copies(splits: FolderSplits, max_bits: int = NEAR_COPY_BITS
                ) -> list[tuple[Path, Path, int]]:
    """Pairs of source photos (:meth:`FolderSplits.sources`) behind two different splits
    that look like one photo (:func:`_close_pairs`), with their
    :func:`fingerprint_distance`: the copies a byte comparison misses, re-encoded or
    resized. A photo behind two splits is a pair at distance 0, however flat. Each pair is
    (the earlier split's photo, the later's), in the order of :data:`SPLITS`."""
    sources = {split: splits.sources(split) for split in SPLITS}
    prints = {split: [fingerprint(path) for path in sources[split]] for split in SPLITS}
    pairs = []
    for position, earlier in enumerate(SPLITS):
        for later in SPLITS[position + 1:]:
            close = {(i, j): distance for i, j, distance
                     in _close_pairs(prints[earlier], prints[later], max_bits)}
            position = {path: j for j, path in enumerate(sources[later])}
            close.update({(i, position[path]): 0 for i, path in enumerate(sources[earlier])
                          if path in position})
            pairs += [(sources[earlier][i], sources[later][j], distance)
                      for (i, j), distance in sorted(close.items())]
    return pairs


def _close_pairs(first: list[int], second: list[int], max_bits: int
                 ) -> Iterator[tuple[int, int, int]]:
    """``(i, j, distance)`` for each pair of :func:`fingerprint` s ``first[i]`` and
    ``second[j]`` within ``max_bits`` of each other (:func:`fingerprint_distance`), neither
    of them :func:`featureless`, in order of ``i`` then ``j``."""
    def halves(prints: list[int]) -> np.ndarray:
        return np.array([[bits >> 64, bits & (2**64 - 1)] for bits in prints],
                        dtype=np.uint64).reshape(-1, 2)

    others = halves(second)
    usable = np.array([not featureless(bits) for bits in second], dtype=bool)
    for i, (bits, halves_i) in enumerate(zip(first, halves(first))):
        if featureless(bits):
            continue
        distance = np.bitwise_count(others ^ halves_i).max(axis=1)
        for j in np.flatnonzero((distance <= max_bits) & usable):
            yield i, int(j), int(distance[j])


def _logo_images(source: Path) -> Path:
    """The folder of Flickr Logos 27's images: the mirror has it extracted; the official
    archive holds it as a nested archive, extracted here into the cache."""
    folder = source / LOGO_IMAGES
    if folder.is_dir():
        return folder
    archive = source / f"{LOGO_IMAGES}.tar.gz"
    target = assets.cache_root() / "datasets" / LOGOS
    if not (target / LOGO_IMAGES).is_dir():
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    return target / LOGO_IMAGES


def _distinct_pictures(files: dict[Path, dict[str, set[Box]]]
                       ) -> tuple[list[_Picture], int, dict[str, int], SkippedFiles]:
    """One picture per distinct photo: the first path by name keeps the labels of all its
    byte-identical copies, and the classes (not the boxes, which are its own) of the files
    that look like it (:func:`_look_alike`); the number of byte copies dropped; the files
    that looked alike and were dropped, as ``{NEAR_COPY: count}``; the files that do not
    decode."""
    groups, skipped = _copies(files)
    pictures, looked_alike = [], 0
    for cluster in _look_alike(groups):
        labels: dict[str, set[Box]] = defaultdict(set)
        for path in cluster[0]:
            for label, boxes in files[path].items():
                labels[label] |= boxes
        for path in (path for group in cluster[1:] for path in group):
            for label in files[path]:
                labels.setdefault(label, set())
        pictures.append(_Picture(cluster[0][0], dict(labels)))
        looked_alike += len(cluster) - 1
    duplicates = sum(len(paths) - 1 for paths in groups)
    return pictures, duplicates, {NEAR_COPY: looked_alike} if looked_alike else {}, skipped


def _look_alike(groups: list[list[Path]], max_bits: int = NEAR_COPY_BITS
                ) -> list[list[list[Path]]]:
    """``groups`` of byte-identical files gathered into clusters of one picture: two groups
    join when their first files look like one photo (:func:`_close_pairs`), and so on, in a
    chain. Clusters, and the groups in each, keep the order of ``groups``."""
    prints = [fingerprint(group[0]) for group in groups]
    parent = list(range(len(groups)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for index, other, _ in _close_pairs(prints, prints, max_bits):
        if other > index:
            first, second = sorted((root(index), root(other)))
            parent[second] = first
    clusters: dict[int, list[list[Path]]] = defaultdict(list)
    for index, group in enumerate(groups):
        clusters[root(index)].append(group)
    return list(clusters.values())


def _copies(paths: Iterable[Path]) -> tuple[list[list[Path]], SkippedFiles]:
    """The decodable files among ``paths`` in groups of byte-identical copies (each group in
    order of file name, then path); the files that do not decode."""
    problems = {path: problem_with_image(path) for path in paths}
    skipped = SkippedFiles({path: reason for path, reason in problems.items() if reason})
    copies: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(problems, key=lambda p: (p.name, str(p))):
        if not problems[path]:
            copies[_digest(path.read_bytes())].append(path)
    return list(copies.values()), skipped


def _build(pictures: list[_Picture], cache: Path, crops: bool, seed: int, duplicates: int,
           dropped: dict[str, int], skipped: SkippedFiles, no_logo: tuple[Path, ...],
           source: Path | None = None, per_class: int | None = None,
           held_out: dict[str, float] = HELD_OUT) -> FolderSplits:
    """Split ``pictures`` by class and lay the folders out under ``cache``; ``dropped``
    counts, by reason, the files left out before."""
    left_out: dict[str, int] = defaultdict(int, dropped)
    by_class: dict[str, list[_Picture]] = defaultdict(list)
    for picture in pictures:
        if len(picture.labels) > 1 and not crops:
            left_out["labelled with two classes"] += 1
        else:
            by_class[min(picture.labels)].append(picture)
    if source is not None:
        _check_class_sizes(source, by_class, skipped)
    plan = []  # [split, class, file name, source path, crop box or None]
    for label, members in sorted(by_class.items()):
        kept: dict[str, int] = defaultdict(int)
        for split, picture in _stratified(members, seed, held_out):
            kept[split] += 1
            if per_class and kept[split] > per_class:
                continue
            if crops:
                plan += [[split, name, f"{picture.path.stem}-{number}.jpg", str(picture.path),
                          list(box)]
                         for name, box, number in _crop_boxes(picture)]
            else:
                plan.append([split, label, picture.path.name, str(picture.path), None])
    _unique_names(plan)
    sizes = {split: sum(entry[0] == split for entry in plan) for split in SPLITS}
    _lay_out(cache, plan)
    names = tuple(sorted({entry[1] for entry in plan}))
    return FolderSplits(cache, names, sizes, duplicates, dict(left_out), skipped, no_logo)


def _crop_boxes(picture: _Picture) -> list[tuple[str, Box, int]]:
    """(class, box clipped to the image, number) of each box with an area: the annotations
    hold a few boxes of zero width or height, and some reach past the image's edge."""
    with Image.open(picture.path) as image:
        width, height = image.size
    boxes = []
    for name, annotated in sorted(picture.labels.items()):
        for x1, y1, x2, y2 in sorted(annotated):
            box = (max(0, x1), max(0, y1), min(width, x2), min(height, y2))
            if box[2] > box[0] and box[3] > box[1]:
                boxes.append((name, box, len(boxes)))
    return boxes


def _unique_names(plan: list) -> None:
    """Rename entries that would share a file in one class folder (``a/1.jpg`` and
    ``b/1.jpg`` of one class): the second becomes ``1-2.jpg``, and so on."""
    seen: dict[tuple[str, str, str], int] = defaultdict(int)
    for entry in plan:
        split, label, name = entry[:3]
        seen[split, label, name] += 1
        if seen[split, label, name] > 1:
            stem, dot, suffix = name.rpartition(".")
            entry[2] = f"{stem}-{seen[split, label, name]}.{suffix}"


def _check_class_sizes(source: Path, by_class: dict[str, list[_Picture]],
                       skipped: SkippedFiles) -> None:
    """Each class folder of ``source`` needs an image for each split."""
    for folder in class_folders(source):
        count = len(by_class.get(folder.name, []))
        if count < len(SPLITS):
            unreadable = sum(path.is_relative_to(folder) for path in skipped.reasons)
            raise ValueError(
                f"class {folder.name!r} ({folder}) has {count} usable image"
                f"{'' if count == 1 else 's'}"
                + (f" ({unreadable} more could not be read)" if unreadable else "")
                + f"; each class needs at least {len(SPLITS)}, one for each of "
                f"{', '.join(SPLITS)}")


def _stratified(members: list[_Picture], seed: int, held_out: dict[str, float] = HELD_OUT
                ) -> list[tuple[str, _Picture]]:
    """The pictures of one class, each with its split: a seeded shuffle, then the
    ``held_out`` shares (at least one each) for validation and test, the rest train."""
    order = sorted(members, key=lambda picture: picture.path.name)
    random.Random(f"{seed}-{min(order[0].labels)}").shuffle(order)
    counts = {split: max(1, round(held_out.get(split, 0.0) * len(order)))
              for split in ("validation", "test")}
    assigned, start = [], 0
    for split, count in counts.items():
        assigned += [(split, picture) for picture in order[start:start + count]]
        start += count
    return assigned + [("train", picture) for picture in order[start:]]


def _lay_out(folder: Path, plan: list) -> None:
    """Make ``folder`` hold exactly ``plan``'s files: links to whole images, JPEG crops.

    A folder that already holds this plan is reused; another plan's folder is replaced.
    """
    marker = folder / PLAN_FILE
    if marker.is_file() and json.loads(marker.read_text()) == plan:
        return
    if folder.exists():
        if not marker.is_file() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} exists and was not made by helpers.folders; "
                                  f"remove it or point COURSE_CACHE elsewhere")
        shutil.rmtree(folder)
    for split, label, name, source, box in plan:
        target = folder / split / label / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if box is None:
            target.symlink_to(Path(source).resolve())
        else:
            with Image.open(source) as image:
                image.convert("RGB").crop(tuple(box)).save(target, quality=95)
    marker.write_text(json.dumps(plan))


def _digest(content: bytes | str) -> str:
    data = content.encode() if isinstance(content, str) else content
    return hashlib.sha256(data).hexdigest()[:16]
