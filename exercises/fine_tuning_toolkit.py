"""Notebook 08, the fine-tuning toolkit (on Flickr Logos 27, or your own folder).

* 08.1 ``unfrozen_from_block``: ``unfreeze_from_block(base, block)`` freezes the layers before
  the block, and makes the block and everything after it trainable except BatchNormalization.
* 08.2 ``peak_rate_from_curve``: ``peak_rate(rates, smoothed)`` reads the peak learning rate
  off a range test: the largest rate before the smoothed loss leaves its level for good.
* 08.3 ``discriminative_step``: ``discriminative_optimizer(base, base_rate, head_rate)``
  returns an optimizer that moves the base's weights less than the head's, in proportion.
"""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import numpy as np

from exercises import Exercise
from exercises.answers import error_text, on, quietly, single
from exercises.checks import (checked, expect_layer, fail, misplaced_around_cut, names,
                              weights_then_and_now)
from exercises.inputs import (BaseCase, binary_images, binary_loss, fine_tuning_model,
                              frozen_whole, pick, prepare_for_fine_tuning, small_cnn,
                              small_mobilenet_v2)
from exercises.kinds import FlagsExercise, put_recorded_weights
from grader.records import Record, weight_arrays


# --- 08.1 unfreezing from a block, BatchNormalization frozen ----------------------------


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
    """08.1 on a frozen MobileNetV2 block ``block_<k>`` and one of the small CNN's two
    blocks, drawn from the seed."""

    name = "unfrozen_from_block"

    def check(self, base, block: str) -> None:
        check_unfrozen_from_block(base, block)

    def inputs(self, seed: int) -> list[BaseCase]:
        rng = np.random.default_rng(seed + 73)
        return [BaseCase(small_mobilenet_v2, frozen_whole, f"block_{int(rng.integers(1, 17))}"),
                BaseCase(small_cnn, frozen_whole, pick(rng, ["block1", "block2"]))]


# --- 08.2 the peak rate read off a range test --------------------------------------------

#: 08.2's rule: the starting level is the median smoothed loss over this first share of the
#: rates, and the peak rate the largest whose smoothed loss is within this factor of it.
LEVEL_SHARE, WITHIN = 1 / 3, 1.1

RATE_HINT = ("level = np.median(smoothed[:len(rates) // 3]); the peak is rates[i] for the "
             "largest i with smoothed[i] <= 1.1 * level: every later rate is above it. Not "
             "the first crossing (a bump can cross and come back), not the rate of the "
             "lowest loss, not smoothed[0] as the level (one noisy batch).")


def expected_peak(rates: np.ndarray, smoothed: np.ndarray) -> float:
    """08.2's rule on one curve."""
    level = float(np.median(smoothed[:int(len(rates) * LEVEL_SHARE)]))
    return float(rates[np.flatnonzero(smoothed <= WITHIN * level)[-1]])


def range_test_curves(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """08.2's curves for ``seed``: three range tests of 25 to 60 rising rates, a flat start
    with a first batch off the level, a dip, a bump that crosses 1.1x the level and comes
    back, then a climb from a knee drawn from the seed."""
    rng = np.random.default_rng(seed + 75)
    curves = []
    for _ in range(3):
        count = int(rng.integers(25, 61))
        rates = np.geomspace(10 ** rng.uniform(-7, -5), 10 ** rng.uniform(-1.5, 0), count)
        level = float(rng.uniform(0.3, 3.0))
        position = np.arange(count) / (count - 1)
        knee = float(rng.uniform(0.55, 0.8))
        smoothed = level * (1 + 0.02 * rng.standard_normal(count)
                            - 0.08 * np.exp(-((position - knee + 0.15) / 0.06) ** 2)
                            + np.where(position > knee, np.expm1(12 * (position - knee)), 0))
        smoothed[0] = level * rng.choice([0.8, 1.25])
        bump = int(rng.integers(count // 3 + 1, int(knee * count) - 3))
        smoothed[bump] = level * 1.2
        curves.append((rates.astype("float64"), smoothed.astype("float64")))
    return curves


def peaks_found(peak_rate: Callable, curves: list[tuple[np.ndarray, np.ndarray]]
                ) -> list[float | str]:
    """``peak_rate`` on each curve: the rate it returned, or what went wrong, as text."""
    found: list[float | str] = []
    for rates, smoothed in curves:
        try:
            with quietly():
                value = peak_rate(rates.copy(), smoothed.copy())
            found.append(float(value))
        except Exception as error:  # the learner's code can raise anything
            found.append(error_text(error))
    return found


@checked("the peak rate is the largest before the smoothed loss leaves its level for good")
def check_peak_rates(curves: list[tuple[np.ndarray, np.ndarray]], found: list) -> None:
    """Each of ``found`` is :func:`expected_peak` of its curve."""
    for number, ((rates, smoothed), value) in enumerate(zip(curves, found), 1):
        expected = expected_peak(rates, smoothed)
        if not (isinstance(value, float) and np.isclose(value, expected, rtol=1e-9)):
            shown = value if isinstance(value, str) else f"{value!r:.40}"
            if isinstance(value, float) and np.any(np.isclose(rates, value, rtol=1e-9)):
                shown += f" (rate number {int(np.argmin(np.abs(rates - value)))} of {len(rates)})"
            fail(f"peak_rate on curve {number} of {len(curves)}",
                 f"{expected:.4g} (rate number {int(np.argmin(np.abs(rates - expected)))} "
                 f"of {len(rates)})", shown, RATE_HINT)
    if len(found) != len(curves):
        fail("peak_rate ran on every curve", f"{len(curves)} rates", f"{len(found)}",
             "run the notebook from the top, as it is.")


class PeakRateFromCurve(Exercise):
    """08.2 on three range-test curves drawn from the seed; the visible check uses seed 0's."""

    name = "peak_rate_from_curve"

    def check(self, peak_rate: Callable) -> None:
        curves = self.inputs(0)
        check_peak_rates(curves, peaks_found(peak_rate, curves))

    def inputs(self, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return range_test_curves(seed)

    def run(self, peak_rate: Callable, curves: list) -> Record:
        return Record([{"peaks": peaks_found(peak_rate, curves)}])

    def judge(self, record: Record, curves: list) -> None:
        found = single(record).get("peaks")
        with on("three range-test curves of other lengths, levels and knees"):
            check_peak_rates(curves, found if isinstance(found, list) else [])


# --- 08.3 discriminative learning rates -------------------------------------------------


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
    """08.3's (base rate, head rate), drawn from ``seed``: the base's 10 to 100 times
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
    """08.3: one training step of a fresh classifier with the answer's optimizer, at rates
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
