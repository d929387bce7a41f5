"""Notebook 04, BatchNormalization pitfalls: unfreeze a base with BN kept in inference mode.

* 04.1 ``unfrozen_bn_inference``: ``prepare_fine_tuning(model, base)`` unfreezes the base,
  freezes its BatchNormalization layers (a frozen BN layer always runs in inference mode) and
  recompiles at a low rate, so ``training=True`` and ``training=False`` give one output.
* 04.2 ``top_unfrozen_except_bn``: ``unfreeze_top(base, n_top)`` makes the last ``n_top``
  layers trainable except BatchNormalization, and freezes the rest.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from exercises import Exercise
from exercises.answers import attempt, learning_rate, on, recorded_error, single
from exercises.checks import (checked, expect_layer, expect_low_learning_rate,
                              expect_only_batch_norm_frozen, expect_unfrozen, fail,
                              misplaced_around_cut, names)
from exercises.inputs import (BaseCase, TrainingCase, all_trainable, apply_layer_flags,
                              classifier_on, frozen_whole, layer_flags, small_cnn,
                              small_mobilenet_v2)
from exercises.kinds import FlagsExercise
from grader.records import Record


# --- 04.1 BatchNormalization in inference mode while the base trains ---------------------


@checked("base unfrozen for fine-tuning, BatchNormalization kept in inference mode")
def check_unfrozen_bn_inference(model, base, images) -> None:
    """The base trains, yet training=True and training=False give one output.

    ``model`` must have no Dropout, so the only layers that behave differently in training
    are the base's BatchNormalization layers.
    """
    expect_layer(model, "model")
    expect_layer(base, "base")
    expect_unfrozen(base)
    expect_only_batch_norm_frozen(base)
    gap = float(np.max(np.abs(np.asarray(model(images, training=True))
                              - np.asarray(model(images, training=False)))))
    if gap > 1e-4:
        fail(
            "BatchNormalization in inference mode while the base trains",
            "the same output with training=True and training=False (gap 0)",
            f"largest gap {gap:.3g}: BatchNormalization uses batch statistics in training",
            "after base.trainable = True, set trainable = False on every "
            "keras.layers.BatchNormalization layer of the base: a frozen BN layer always "
            "runs in inference mode.",
        )
    expect_low_learning_rate(model, 1e-4)


class UnfrozenBnInference(Exercise):
    """04.1 on a fresh frozen small CNN inside a classifier compiled for head training."""

    name = "unfrozen_bn_inference"
    case = TrainingCase(31, small_cnn, (16, 16, 3), 1, samples=16)

    def check(self, model, base, images) -> None:
        check_unfrozen_bn_inference(model, base, images)

    def inputs(self, seed: int) -> TrainingCase:
        return self.case

    def run(self, prepare_fine_tuning: Callable, case: TrainingCase) -> Record:
        base = case.model()
        base.trainable = False
        model = classifier_on(base)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        outcome = attempt(prepare_fine_tuning, model, base)
        if "error" not in outcome:
            outcome.update(flags=layer_flags(base), learning_rate=learning_rate(model))
        return Record([outcome])

    def judge(self, record: Record, case: TrainingCase) -> None:
        entry = single(record)
        with on(case.describe()):
            recorded_error(entry)
            base = case.model()
            model = classifier_on(base)
            apply_layer_flags(base, entry["flags"])
            if entry.get("learning_rate") is not None:
                model.compile(optimizer=keras.optimizers.Adam(entry["learning_rate"]),
                              loss="mse")
            images, _ = case.data()
            check_unfrozen_bn_inference(model, base, images)


# --- 04.2 the top layers, BatchNormalization frozen -------------------------------------


@checked("top layers unfrozen, BatchNormalization layers kept frozen")
def check_top_unfrozen_except_bn(base, n_top: int) -> None:
    """The last ``n_top`` layers trainable except BatchNormalization, the rest frozen."""
    expect_layer(base, "base")
    trained_low, frozen_top, wrong_bn = misplaced_around_cut(base, len(base.layers) - n_top)
    if wrong_bn or frozen_top or trained_low or not base.trainable:
        if not base.trainable:
            hint = ("set top_base.trainable = True first: a frozen model hides every layer "
                    "inside it; then freeze the lower layers and the BatchNormalization ones.")
        else:
            hint = (f"loop over base.layers[-{n_top}:] and set trainable = True only when the "
                    "layer is not a keras.layers.BatchNormalization; freeze the layers below.")
        fail(
            f"the last {n_top} layers trainable except BatchNormalization, the rest frozen",
            "no trainable BatchNormalization, no frozen top layer, no trainable lower layer",
            f"trainable BN: {names(wrong_bn)}; frozen top: {names(frozen_top)}; "
            f"trainable lower: {names(trained_low)}; base.trainable == {base.trainable}",
            hint,
        )


class TopUnfrozenExceptBn(FlagsExercise):
    """04.2 on a frozen MobileNetV2 and a trainable small CNN, counts drawn from the seed."""

    name = "top_unfrozen_except_bn"

    def check(self, base, n_top: int) -> None:
        check_top_unfrozen_except_bn(base, n_top)

    def inputs(self, seed: int) -> list[BaseCase]:
        rng = np.random.default_rng(seed + 3)
        return [BaseCase(small_mobilenet_v2, frozen_whole, int(rng.integers(5, 41))),
                BaseCase(small_cnn, all_trainable, int(rng.integers(2, 11)))]
