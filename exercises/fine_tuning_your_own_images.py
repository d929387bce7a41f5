"""Notebook 07, fine-tuning on a folder of images (Flickr Logos 27, or your own).

* 07.1 ``classifier_for_classes``: ``build_classifier(base, class_names, preprocessing)``
  ends in ``len(class_names)`` softmax outputs: a head sized by the data.
* 07.2 ``loss_for_label_modes``: ``loss_for(label_mode)`` returns the cross-entropy that
  matches the labels ``image_dataset_from_directory`` gives in that mode.
* 07.3 ``unfrozen_from_block``: ``unfreeze_from_block(base, block)`` freezes the layers before
  the block, and makes the block and everything after it trainable except BatchNormalization.
* 07.4 ``discriminative_step``: ``discriminative_optimizer(base, base_rate, head_rate)``
  returns an optimizer that moves the base's weights less than the head's, in proportion.
"""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import numpy as np

from exercises import Exercise
from exercises.answers import error_text, on, quietly, recorded_error, single
from exercises.checks import (checked, expect_frozen_base_in_inference_mode, expect_layer,
                              fail, misplaced_around_cut, names, weights_then_and_now)
from exercises.inputs import (BaseCase, binary_images, binary_loss, expect_built_on_fresh_base,
                              fine_tuning_base, fine_tuning_model, frozen_whole, pick,
                              prepare_for_fine_tuning, small_cnn, small_mobilenet_v2)
from exercises.kinds import FlagsExercise, put_recorded_weights
from grader.records import Record, weight_arrays


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


# --- 07.3 unfreezing from a block, BatchNormalization frozen ----------------------------


def block_start(base, block: str) -> int | None:
    """Index of the first layer of ``base`` in ``block`` (named ``block`` or ``block_...``)."""
    layer_names = [layer.name for layer in base.layers]
    return next((i for i, name in enumerate(layer_names)
                 if name == block or name.startswith(f"{block}_")), None)


@checked("the base trainable from the named block on, BatchNormalization frozen")
def check_unfrozen_from_block(base, block: str) -> None:
    """Layers (with weights) before ``block`` frozen; from its first layer on, trainable
    except BatchNormalization; ``base.trainable`` True."""
    expect_layer(base, "base")
    start = block_start(base, block)
    if start is None:
        fail("the block exists", f"a layer named {block!r} or starting with '{block}_'",
             "no such layer", "print([layer.name for layer in base.layers]) to see the names.")
    trainable_before, frozen_after, trainable_bn = misplaced_around_cut(base, start)
    if trainable_before or frozen_after or trainable_bn or not base.trainable:
        fail(f"layers before {base.layers[start].name!r} frozen; it and every later layer "
             "trainable except BatchNormalization",
             "no trainable layer before the block, no frozen layer in or after it (but "
             "BatchNormalization), base.trainable == True",
             f"trainable before: {names(trainable_before)}; frozen from the block on: "
             f"{names(frozen_after)}; trainable BatchNormalization: {names(trainable_bn)}; "
             f"base.trainable == {base.trainable}",
             "set base.trainable = True, find the index of the first layer whose name is the "
             "block or starts with block + '_', freeze the layers before it, and from it on "
             "set trainable = not isinstance(layer, keras.layers.BatchNormalization). "
             "startswith(block) alone also matches 'block_1' inside 'block_13'.")


class UnfrozenFromBlock(FlagsExercise):
    """07.3 on a frozen MobileNetV2 block ``block_<k>`` and one of the small CNN's two
    blocks, drawn from the seed."""

    name = "unfrozen_from_block"

    def check(self, base, block: str) -> None:
        check_unfrozen_from_block(base, block)

    def inputs(self, seed: int) -> list[BaseCase]:
        rng = np.random.default_rng(seed + 73)
        return [BaseCase(small_mobilenet_v2, frozen_whole, f"block_{int(rng.integers(1, 17))}"),
                BaseCase(small_cnn, frozen_whole, pick(rng, ["block1", "block2"]))]


# --- 07.4 discriminative learning rates -------------------------------------------------


def _median_step(model, initial: Sequence[np.ndarray], variables) -> float:
    """Median size of one training step over the elements of ``variables`` of ``model``."""
    pairs = weights_then_and_now(model, initial, variables,
                                 "build the optimizer for the model you are given.")
    steps = [np.abs(now - before).ravel() for before, now in pairs]
    return float(np.median(np.concatenate(steps))) if steps else 0.0


@checked("the base moves less than the head, in proportion to their learning rates")
def check_discriminative_step(model, base, initial: Sequence[np.ndarray], base_rate: float,
                              head_rate: float) -> None:
    """After one step from ``initial``, the median change of the base's trainable weights
    over the head's is ``base_rate / head_rate`` (within a factor 2)."""
    base_ids = {id(variable) for variable in base.weights}
    head = [v for v in model.trainable_weights if id(v) not in base_ids]
    base_step = _median_step(model, initial, base.trainable_weights)
    head_step = _median_step(model, initial, head)
    expected = base_rate / head_rate
    found = base_step / head_step if head_step else float("inf")
    if not (base_step > 0 and 0.5 * expected <= found <= 2 * expected):
        fail("one step moves the base's weights less than the head's, by the ratio of their "
             "rates", f"base step / head step about {expected:.3g} "
             f"({base_rate:.2g} / {head_rate:.2g})",
             f"{found:.3g} (median steps: base {base_step:.2g}, head {head_step:.2g})",
             "return keras.optimizers.MultiOptimizer(choose), where choose(variable) returns "
             "Adam(base_learning_rate) for a variable of the base (its paths: "
             "{v.path for v in base.weights}) and Adam(head_learning_rate) for any other.")


def rates(seed: int) -> tuple[float, float]:
    """07.4's (base rate, head rate), drawn from ``seed``: the base's 10 to 100 times
    smaller than the head's."""
    rng = np.random.default_rng(seed + 74)
    head_rate = float(10 ** rng.uniform(-3.5, -2.5))
    return head_rate / float(10 ** rng.uniform(1, 2)), head_rate


def prepared_classifier() -> tuple[keras.Model, keras.Model]:
    """(model, base): the fresh classifier, its base unfrozen except BatchNormalization."""
    model, base = fine_tuning_model()
    prepare_for_fine_tuning(model, base)
    return model, base


def rates_step(discriminative_optimizer: Callable, base_rate: float, head_rate: float):
    """(model, base, initial weights) after one step with the optimizer the answer builds."""
    model, base = prepared_classifier()
    initial = model.get_weights()
    optimizer = discriminative_optimizer(base, base_rate, head_rate)
    model.compile(optimizer=optimizer, loss=binary_loss())
    model.train_on_batch(*binary_images(74, 16))
    return model, base, initial


class DiscriminativeStep(Exercise):
    """07.4: one training step of a fresh classifier with the answer's optimizer, at rates
    drawn from the seed; the visible check uses seed 0's rates."""

    name = "discriminative_step"

    def check(self, discriminative_optimizer: Callable) -> None:
        base_rate, head_rate = self.inputs(0)
        try:
            model, base, initial = rates_step(discriminative_optimizer, base_rate, head_rate)
        except Exception as error:  # the learner's optimizer can raise anything
            fail("your optimizer trains a model", "one training step", f"{type(error).__name__}: "
                 f"{error}"[:300], "return an optimizer built from the two rates you are given.")
        check_discriminative_step(model, base, initial, base_rate, head_rate)

    def inputs(self, seed: int) -> tuple[float, float]:
        return rates(seed)

    def run(self, discriminative_optimizer: Callable, inputs: tuple[float, float]) -> Record:
        try:
            with quietly():
                model, _, _ = rates_step(discriminative_optimizer, *inputs)
        except Exception as error:
            return Record([{"error": error_text(error)}])
        return Record([{"stepped": True}], weight_arrays(0, model))

    def judge(self, record: Record, inputs: tuple[float, float]) -> None:
        entry = single(record)
        base_rate, head_rate = inputs
        with on(f"a small CNN classifier, base rate {base_rate:.2g}, head rate {head_rate:.2g}"):
            model, base = prepared_classifier()
            initial = put_recorded_weights(model, entry, record.weights(0))
            check_discriminative_step(model, base, initial, base_rate, head_rate)
