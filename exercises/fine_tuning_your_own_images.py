"""Notebook 07, your own folder of images (Flickr Logos 27, or your own) to a test score.

* 07.1 ``photo_split``: ``split_by_photo(photos, held_out, seed)`` gives every image its
  photo's split, each held-out split its share of the photos, drawn from the seed.
* 07.2 ``classifier_for_classes``: ``build_classifier(base, class_names, preprocessing)``
  ends in ``len(class_names)`` softmax outputs: a head sized by the data.
* 07.3 ``loss_for_label_modes``: ``loss_for(label_mode)`` returns the cross-entropy that
  matches the labels ``image_dataset_from_directory`` gives in that mode.
"""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import numpy as np

from exercises import Exercise
from exercises.answers import error_text, on, quietly, recorded_error, single
from exercises.checks import (checked, expect_frozen_base_in_inference_mode, expect_layer,
                              fail)
from exercises.inputs import binary_images, expect_built_on_fresh_base, fine_tuning_base
from grader.records import Record


# --- 07.1 a split grouped by photo --------------------------------------------------------

#: The splits 07.1 assigns images to, the held-out ones after train.
SPLITS = ("train", "validation", "test")

SPLIT_HINT = ("draw photos, not images: take the distinct photos in a fixed order "
              "(sorted(set(photos)): a set of strings comes out in another order in every "
              "Python process), shuffle them with random.Random(seed), give each held-out "
              "split round(share * number of photos) of them and train the rest, then give "
              "each image its photo's split.")


def images_of_photos(seed: int) -> tuple[list[str], dict[str, float], int]:
    """07.1's inputs for ``seed``: the photo behind each image (1 to 4 crops of each of 30 to
    60 photos, phone-style names, in a shuffled order), the held-out shares (0.1 to 0.25
    each), and the seed to split with."""
    rng = np.random.default_rng(seed + 70)
    count = int(rng.integers(30, 61))
    days = rng.choice(np.arange(101, 1229), size=count, replace=False)
    photos = [f"IMG-2024{day:04d}-WA{int(rng.integers(0, 10_000)):04d}.jpg" for day in days]
    images = [photo for photo in photos for _ in range(int(rng.integers(1, 5)))]
    order = rng.permutation(len(images))
    held_out = {split: round(float(rng.uniform(0.1, 0.25)), 2) for split in SPLITS[1:]}
    return [images[i] for i in order], held_out, int(rng.integers(0, 1000))


def split_names(split_by_photo: Callable, photos: list[str], held_out: dict[str, float],
                seed: int) -> list[str] | str:
    """The split ``split_by_photo`` gives each image, as plain strings, or what went wrong:
    the error it raised, or what it returned instead of a split name for each image."""
    try:
        with quietly():
            returned = list(split_by_photo(list(photos), dict(held_out), seed))
    except Exception as error:  # the learner's code can raise anything
        return error_text(error)
    if len(returned) != len(photos) or not all(isinstance(name, str) for name in returned):
        return (f"{len(returned)} values ({', '.join(sorted({type(n).__name__ for n in returned}))}) "
                f"for {len(photos)} images")
    return [str(name)[:20] for name in returned]


@checked("every photo in one split, the held-out shares of photos, the split seeded")
def check_photo_split(photos: list[str], held_out: dict[str, float], assigned, again,
                      reseeded) -> None:
    """``assigned`` gives every image of a photo one split name among :data:`SPLITS`, each
    held-out split ``round(share * photos)`` photos (give or take one); ``again`` (the same
    seed) is ``assigned``, and ``reseeded`` (the next seed) is another split."""
    if isinstance(assigned, str):
        fail("split_by_photo returns a split name for each image", f"{len(photos)} strings",
             assigned, SPLIT_HINT)
    unknown = sorted(set(assigned) - set(SPLITS))
    if unknown:
        fail("every image gets one of the split names", " / ".join(SPLITS),
             ", ".join(map(repr, unknown[:3])), "use the names train, validation and test.")
    splits_of: dict[str, set[str]] = {}
    for photo, split in zip(photos, assigned):
        splits_of.setdefault(photo, set()).add(split)
    torn = [photo for photo, splits in splits_of.items() if len(splits) > 1]
    if torn:
        fail("no photo has images in two splits", "every image of a photo in its photo's split",
             f"{len(torn)} of {len(splits_of)} photos in two or three splits, e.g. {torn[0]}: "
             f"{', '.join(sorted(splits_of[torn[0]]))}", SPLIT_HINT)
    for split, share in held_out.items():
        expected = round(share * len(splits_of))
        found = sum(splits == {split} for splits in splits_of.values())
        if abs(found - expected) > 1:
            fail(f"the {split} split holds its share of the photos",
                 f"about {expected} photos ({share:.0%} of {len(splits_of)})",
                 f"{found} photos", SPLIT_HINT)
    if again != assigned:
        fail("the same seed gives the same split", "two calls with one seed, one split",
             "two different splits", SPLIT_HINT)
    if reseeded == assigned:
        fail("the split is drawn from the seed", "another seed, another split",
             "the same split for two seeds", SPLIT_HINT)


class PhotoSplit(Exercise):
    """07.1 on images of photos drawn from the seed (names, crops per photo, shares and the
    split's own seed); the visible check uses seed 0's."""

    name = "photo_split"

    def check(self, split_by_photo: Callable) -> None:
        photos, held_out, seed = self.inputs(0)
        check_photo_split(photos, held_out, *[split_names(split_by_photo, photos, held_out, s)
                                              for s in (seed, seed, seed + 1)])

    def inputs(self, seed: int) -> tuple[list[str], dict[str, float], int]:
        return images_of_photos(seed)

    def run(self, split_by_photo: Callable, inputs: tuple) -> Record:
        photos, held_out, seed = inputs
        return Record([{"splits": [split_names(split_by_photo, photos, held_out, s)
                                   for s in (seed, seed, seed + 1)]}])

    def judge(self, record: Record, inputs: tuple) -> None:
        photos, held_out, _ = inputs
        splits = single(record).get("splits")
        with on(f"{len(photos)} images of {len(set(photos))} photos, held out "
                f"{held_out}"):
            if not (isinstance(splits, list) and len(splits) == 3):
                fail("split_by_photo ran three times", "three recorded splits", repr(splits)[:80],
                     "run the notebook from the top, as it is.")
            check_photo_split(photos, held_out, *splits)


# --- 07.2 a head sized by the data ------------------------------------------------------


def _span(values: np.ndarray) -> str:
    return f"{float(np.min(values)):.3g} .. {float(np.max(values)):.3g}"


@checked("one output per class, and the outputs are probabilities")
def check_classifier_head(model, class_names: Sequence[str], images) -> None:
    """``model`` ends in ``len(class_names)`` softmax outputs."""
    expect_layer(model, "model")
    outputs = model.output_shape[-1]
    if outputs != len(class_names):
        fail("the head has one output per class", f"{len(class_names)} outputs "
             f"(len(class_names))", f"{outputs} outputs",
             "size the last Dense layer from the data: Dense(len(class_names), ...); a "
             "number typed in is right for one folder only.")
    probabilities = np.asarray(model(images, training=False))
    sums = probabilities.sum(axis=-1)
    if probabilities.min() < 0 or not np.allclose(sums, 1, atol=1e-3):
        fail("the head's outputs are probabilities over the classes",
             "each row >= 0 and summing to 1", f"rows summing to {_span(sums)}",
             'end the head with activation="softmax": one probability per class.')


def class_names(seed: int) -> list[str]:
    """07.2's classes: 3 to 12 names, their number drawn from ``seed``."""
    rng = np.random.default_rng(seed + 71)
    return [f"brand_{index}" for index in range(int(rng.integers(3, 13)))]


def frozen_small_base() -> keras.Model:
    """07.2's base: the fresh small CNN, frozen, as the notebook hands it over."""
    base = fine_tuning_base()
    base.trainable = False
    return base


class ClassifierForClasses(Exercise):
    """07.2 on a fresh frozen base, with a number of classes drawn from the seed; the model
    is recorded as a ``.keras`` file."""

    name = "classifier_for_classes"

    def check(self, model, class_names: Sequence[str], images) -> None:
        check_classifier_head(model, class_names, images)

    def inputs(self, seed: int) -> list[str]:
        return class_names(seed)

    def run(self, build_classifier: Callable, names: list[str]) -> Record:
        try:
            with quietly():
                model = build_classifier(frozen_small_base(), names,
                                         keras.layers.Rescaling(1 / 255))
        except Exception as error:
            return Record([{"error": error_text(error)}])
        return Record([{"built": True}], models={"classifier": model})

    def judge(self, record: Record, names: list[str]) -> None:
        """Every numbered step of the exercise: raw pixels in, ``preprocessing`` (the fresh
        one scales [0, 255] to [0, 1]), the frozen base with ``training=False``, pooling and
        ``Dropout(0.2)``, a softmax head named ``head`` with one output per class."""
        entry = single(record)
        with on(f"a small CNN base, {len(names)} classes, preprocessing Rescaling(1 / 255)"):
            recorded_error(entry)
            model = record.model("classifier")
            base = expect_built_on_fresh_base(model)
            images = binary_images(75, 4)[0]
            expect_frozen_base_in_inference_mode(
                model, base, images, lambda raw: raw / 255,
                "apply the `preprocessing` layer your function is given to the inputs, then "
                "call the base on its output.")
            expect_pooled_then_dropped(model)
            check_classifier_head(model, names, images)
            head = model.layers[-1]
            if head.name != "head":
                fail('the last layer is named "head"', 'name="head"', repr(head.name),
                     'name the Dense layer: Dense(..., activation="softmax", name="head"); '
                     "the notebook finds it by that name.")


def expect_pooled_then_dropped(model) -> None:
    """Fail unless ``model`` pools globally and then drops out at 0.2 before its head."""
    kinds = [type(layer).__name__ for layer in model.layers]
    dropout = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    pooled = "GlobalAveragePooling2D" in kinds
    if not (pooled and len(dropout) == 1 and abs(float(dropout[0].rate) - 0.2) < 1e-9
            and kinds.index("GlobalAveragePooling2D") < kinds.index("Dropout")):
        fail("GlobalAveragePooling2D, then Dropout(0.2), before the head",
             "GlobalAveragePooling2D -> Dropout(0.2) -> Dense",
             " -> ".join(kinds[1:])[:200],
             "after the base: keras.layers.GlobalAveragePooling2D(), then "
             "keras.layers.Dropout(0.2), then the head.")


# --- 07.3 the loss matching the label mode -------------------------------------------

#: Label modes of ``image_dataset_from_directory`` that 07.3's loss must match.
LABEL_MODES = ("int", "categorical", "binary")

LOSS_HINT = ("label_mode='int' gives class numbers: keras.losses.SparseCategoricalCrossentropy(); "
             "'categorical' gives one-hot rows: CategoricalCrossentropy(); 'binary' gives 0/1: "
             "BinaryCrossentropy(). The head ends in a softmax (or sigmoid), so its outputs "
             "are probabilities: keep from_logits=False.")


def labels_and_predictions(seed: int, mode: str, count: int = 12
                           ) -> tuple[np.ndarray, np.ndarray]:
    """07.3's batch for ``mode``: labels as ``image_dataset_from_directory`` gives them
    (class numbers, one-hot rows, or 0/1 in a column) and probabilities of a softmax head
    (a sigmoid one for ``"binary"``), all drawn from ``seed``."""
    rng = np.random.default_rng(seed + 72 + LABEL_MODES.index(mode))
    if mode == "binary":
        labels = rng.integers(0, 2, size=(count, 1)).astype("float32")
        return labels, rng.uniform(0.05, 0.95, size=(count, 1)).astype("float32")
    classes = int(rng.integers(3, 9))
    logits = rng.normal(size=(count, classes))
    probabilities = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    numbers = rng.integers(0, classes, size=count)
    labels = numbers.astype("int32") if mode == "int" else np.eye(classes, dtype="float32")[numbers]
    return labels, probabilities.astype("float32")


def expected_loss(mode: str, labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The mean cross-entropy of ``probabilities`` against ``labels`` in ``mode``."""
    p = np.clip(probabilities.astype("float64"), 1e-7, 1 - 1e-7)
    if mode == "binary":
        return float(np.mean(-(labels * np.log(p) + (1 - labels) * np.log(1 - p))))
    numbers = labels if mode == "int" else labels.argmax(axis=1)
    return float(np.mean(-np.log(p[np.arange(len(p)), numbers])))


def loss_values(loss_for: Callable, batches: dict[str, tuple]) -> dict[str, float | str]:
    """For each label mode: the value ``loss_for(mode)`` gives on that mode's batch, or the
    error it raised (as text)."""
    values: dict[str, float | str] = {}
    for mode, (labels, probabilities) in batches.items():
        try:
            values[mode] = float(np.asarray(loss_for(mode)(labels, probabilities)))
        except Exception as error:  # the learner's loss can raise anything
            values[mode] = f"{type(error).__name__}: {error}"[:300]
    return values


@checked("the loss matches each label mode")
def check_loss_values(values: dict, batches: dict[str, tuple]) -> None:
    """Each mode's loss value is the cross-entropy for that mode on its batch."""
    for mode, (labels, probabilities) in batches.items():
        expected = expected_loss(mode, labels, probabilities)
        found = values.get(mode)
        if not isinstance(found, float) or not np.isclose(found, expected, rtol=1e-3):
            fail(f"loss_for({mode!r}) scores {mode!r} labels against probabilities",
                 f"cross-entropy {expected:.4f}",
                 found if isinstance(found, str) else f"{found!r:.80}", LOSS_HINT)


class LossForLabelModes(Exercise):
    """07.3 on a batch of each label mode, with classes and probabilities drawn from the
    seed; the visible check uses seed 0's batches."""

    name = "loss_for_label_modes"

    def check(self, loss_for: Callable) -> None:
        batches = self.inputs(0)
        check_loss_values(loss_values(loss_for, batches), batches)

    def inputs(self, seed: int) -> dict[str, tuple]:
        return {mode: labels_and_predictions(seed, mode) for mode in LABEL_MODES}

    def run(self, loss_for: Callable, batches: dict[str, tuple]) -> Record:
        with quietly():
            return Record([loss_values(loss_for, batches)])

    def judge(self, record: Record, batches: dict[str, tuple]) -> None:
        entry = single(record)
        with on("a batch of labels of each mode, with other classes and probabilities"):
            recorded_error(entry)
            check_loss_values({mode: value for mode, value in entry.items()
                               if isinstance(value, (float, str))}, batches)
