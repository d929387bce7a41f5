"""Notebook 07, your own folder of images (Flickr Logos 27, or your own) to a test score.

* 07.1 ``classifier_for_classes``: ``build_classifier(base, class_names, preprocessing)``
  ends in ``len(class_names)`` softmax outputs: a head sized by the data.
* 07.2 ``loss_for_label_modes``: ``loss_for(label_mode)`` returns the cross-entropy that
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


# --- 07.1 a head sized by the data ------------------------------------------------------


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
    """07.1's classes: 3 to 12 names, their number drawn from ``seed``."""
    rng = np.random.default_rng(seed + 71)
    return [f"brand_{index}" for index in range(int(rng.integers(3, 13)))]


def frozen_small_base() -> keras.Model:
    """07.1's base: the fresh small CNN, frozen, as the notebook hands it over."""
    base = fine_tuning_base()
    base.trainable = False
    return base


class ClassifierForClasses(Exercise):
    """07.1 on a fresh frozen base, with a number of classes drawn from the seed; the model
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


# --- 07.2 the loss matching the label mode -------------------------------------------

#: Label modes of ``image_dataset_from_directory`` that 07.2's loss must match.
LABEL_MODES = ("int", "categorical", "binary")

LOSS_HINT = ("label_mode='int' gives class numbers: keras.losses.SparseCategoricalCrossentropy(); "
             "'categorical' gives one-hot rows: CategoricalCrossentropy(); 'binary' gives 0/1: "
             "BinaryCrossentropy(). The head ends in a softmax (or sigmoid), so its outputs "
             "are probabilities: keep from_logits=False.")


def labels_and_predictions(seed: int, mode: str, count: int = 12
                           ) -> tuple[np.ndarray, np.ndarray]:
    """07.2's batch for ``mode``: labels as ``image_dataset_from_directory`` gives them
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
    """07.2 on a batch of each label mode, with classes and probabilities drawn from the
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
