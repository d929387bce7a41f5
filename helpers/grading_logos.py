"""The checks of notebook 07: fine-tuning on a folder of images (Flickr Logos 27).

Like :mod:`helpers.grading`, each ``check_*`` prints ``✓ ...`` or raises
:class:`helpers.feedback.CheckFailed` with what was expected, what was found and a hint. The
visible test cells call them on the notebook's objects, or run the learner's function on a
small public input; the judge (:mod:`helpers.verdicts`) calls them again on what the answer
did to inputs drawn for each submission (:mod:`helpers.fresh`).
"""

from __future__ import annotations

from helpers import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything imports TensorFlow or Keras

from typing import Callable, Sequence

import numpy as np

from helpers import fresh
from helpers.grading import (_check, _expect_layer, _misplaced_around_cut, _names,
                             _weights_then_and_now, fail)

LOSS_HINT = ("label_mode='int' gives class numbers: keras.losses.SparseCategoricalCrossentropy(); "
             "'categorical' gives one-hot rows: CategoricalCrossentropy(); 'binary' gives 0/1: "
             "BinaryCrossentropy(). The head ends in a softmax (or sigmoid), so its outputs "
             "are probabilities: keep from_logits=False.")


# --- 07.1 a head sized by the data ------------------------------------------------------


@_check("one output per class, and the outputs are probabilities")
def check_classifier_head(model, class_names: Sequence[str], images) -> None:
    """Exercise 07.1: ``model`` ends in ``len(class_names)`` softmax outputs."""
    _expect_layer(model, "model")
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


def _span(values: np.ndarray) -> str:
    return f"{float(np.min(values)):.3g} .. {float(np.max(values)):.3g}"


# --- 07.2 the loss matching the label mode -------------------------------------------


def loss_values(loss_for: Callable, seed: int) -> dict[str, float | str]:
    """For each label mode: the value ``loss_for(mode)`` gives on that mode's batch drawn
    from ``seed``, or the error it raised (as text)."""
    values: dict[str, float | str] = {}
    for mode in fresh.LABEL_MODES:
        labels, probabilities = fresh.labels_and_predictions(seed, mode)
        try:
            values[mode] = float(np.asarray(loss_for(mode)(labels, probabilities)))
        except Exception as error:  # the learner's loss can raise anything
            values[mode] = f"{type(error).__name__}: {error}"[:300]
    return values


@_check("the loss matches each label mode")
def check_loss_values(values: dict, seed: int) -> None:
    """Exercise 07.2: each mode's recorded loss value is the cross-entropy for that mode."""
    for mode in fresh.LABEL_MODES:
        expected = fresh.expected_loss(mode, *fresh.labels_and_predictions(seed, mode))
        found = values.get(mode)
        if not isinstance(found, float) or not np.isclose(found, expected, rtol=1e-3):
            fail(f"loss_for({mode!r}) scores {mode!r} labels against probabilities",
                 f"cross-entropy {expected:.4f}",
                 found if isinstance(found, str) else f"{found!r:.80}", LOSS_HINT)


def check_loss_for(loss_for: Callable) -> None:
    """Exercise 07.2's visible check: ``loss_for`` on a public batch of each label mode."""
    check_loss_values(loss_values(loss_for, seed=0), seed=0)


# --- 07.3 unfreezing from a block, BatchNormalization frozen ----------------------------


def block_start(base, block: str) -> int | None:
    """Index of the first layer of ``base`` in ``block`` (named ``block`` or ``block_...``)."""
    names = [layer.name for layer in base.layers]
    return next((i for i, name in enumerate(names)
                 if name == block or name.startswith(f"{block}_")), None)


@_check("the base trainable from the named block on, BatchNormalization frozen")
def check_unfrozen_from_block(base, block: str) -> None:
    """Exercise 07.3: layers (with weights) before ``block`` frozen; from its first layer on,
    trainable except BatchNormalization; ``base.trainable`` True."""
    _expect_layer(base, "base")
    start = block_start(base, block)
    if start is None:
        fail("the block exists", f"a layer named {block!r} or starting with '{block}_'",
             "no such layer", "print([layer.name for layer in base.layers]) to see the names.")
    trainable_before, frozen_after, trainable_bn = _misplaced_around_cut(base, start)
    if trainable_before or frozen_after or trainable_bn or not base.trainable:
        fail(f"layers before {base.layers[start].name!r} frozen; it and every later layer "
             "trainable except BatchNormalization",
             "no trainable layer before the block, no frozen layer in or after it (but "
             "BatchNormalization), base.trainable == True",
             f"trainable before: {_names(trainable_before)}; frozen from the block on: "
             f"{_names(frozen_after)}; trainable BatchNormalization: {_names(trainable_bn)}; "
             f"base.trainable == {base.trainable}",
             "set base.trainable = True, find the index of the first layer whose name is the "
             "block or starts with block + '_', freeze the layers before it, and from it on "
             "set trainable = not isinstance(layer, keras.layers.BatchNormalization). "
             "startswith(block) alone also matches 'block_1' inside 'block_13'.")


# --- 07.4 discriminative learning rates -------------------------------------------------


def _median_step(model, initial: Sequence[np.ndarray], variables) -> float:
    """Median size of one training step over the elements of ``variables`` of ``model``."""
    pairs = _weights_then_and_now(model, initial, variables,
                                  "build the optimizer for the model you are given.")
    steps = [np.abs(now - before).ravel() for before, now in pairs]
    return float(np.median(np.concatenate(steps))) if steps else 0.0


@_check("the base moves less than the head, in proportion to their learning rates")
def check_discriminative_step(model, base, initial: Sequence[np.ndarray], base_rate: float,
                              head_rate: float) -> None:
    """Exercise 07.4: after one step from ``initial``, the median change of the base's
    trainable weights over the head's is ``base_rate / head_rate`` (within a factor 2)."""
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


def rates_step(discriminative_optimizer: Callable, case: fresh.RatesCase):
    """(model, base, initial weights) after one step with the optimizer the answer builds."""
    model, base = case.model()
    initial = model.get_weights()
    optimizer = discriminative_optimizer(base, case.base_rate, case.head_rate)
    model.compile(optimizer=optimizer, loss=fresh.binary_loss())
    model.train_on_batch(*case.data())
    return model, base, initial


def check_discriminative_optimizer(discriminative_optimizer: Callable) -> None:
    """Exercise 07.4's visible check: the answer's optimizer on a public small classifier."""
    case = fresh.rates_case(0)
    try:
        model, base, initial = rates_step(discriminative_optimizer, case)
    except Exception as error:  # the learner's optimizer can raise anything
        fail("your optimizer trains a model", "one training step", f"{type(error).__name__}: "
             f"{error}"[:300], "return an optimizer built from the two rates you are given.")
    check_discriminative_step(model, base, initial, case.base_rate, case.head_rate)
