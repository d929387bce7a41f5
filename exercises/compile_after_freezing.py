"""Notebook 03, compile after changing ``trainable``: freeze, then unfreeze for fine-tuning.

* 03.1 ``freeze_takes_effect``: ``freeze_base(model)`` freezes the layer named ``base`` so that
  the next ``fit`` leaves it unchanged and still trains ``head``.
* 03.2 ``unfreeze_takes_effect``: ``unfreeze_base(model)`` unfreezes ``base`` so that the next
  ``fit`` changes it, at a learning rate of at most 1e-4.

Both are judged after the fact: on a fresh model compiled and trained once before the answer
(so it holds a traced training step, as the notebook's does), the answer runs, then one
epoch of ``fit``; a ``trainable`` change without ``compile()`` does not reach that fit.
"""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import numpy as np

from exercises.checks import (changes_since, checked, expect_layer, expect_low_learning_rate,
                              fail, fit_changes)
from exercises.inputs import TrainingCase
from exercises.kinds import TrainingExercise

layers = keras.layers
#: The highest learning rate 03.2 accepts for fine-tuning.
MAX_FINE_TUNING_RATE = 1e-4


def _expect_frozen_in_fit(moved: dict[str, int]) -> None:
    """Fail unless a fit left ``base`` unchanged and trained ``head``."""
    if moved["base"]:
        fail("a fit after freezing leaves `base` unchanged", "0 weights changed",
             f"{moved['base']} weights changed",
             "the model still trains with the list of trainable weights it had when it was "
             "compiled: call compile() again after changing trainable.")
    if not moved["head"]:
        fail("a fit after freezing still trains `head`", "the head's weights to change",
             "0 weights changed",
             "freeze the layer named 'base' only, keep `head` trainable, and compile again.")


def _expect_unfrozen_in_fit(moved: dict[str, int]) -> None:
    """Fail unless a fit changed ``base``."""
    if not moved["base"]:
        fail("a fit after unfreezing changes `base`", "its weights to change",
             "0 weights changed",
             "the model still trains with the list of trainable weights it had when it was "
             "compiled: call compile() again after changing trainable.")


def dense_base() -> keras.Model:
    """6 inputs, a Dense base of 10 units, a Dense head."""
    inputs = keras.Input((6,))
    hidden = layers.Dense(10, activation="relu", name="base")(inputs)
    return keras.Model(inputs, layers.Dense(1, name="head")(hidden))


def two_layer_base() -> keras.Model:
    """3 inputs, a base block of two Dense layers, a Dense head of 2 outputs."""
    base = keras.Sequential([keras.Input((3,)), layers.Dense(8, activation="relu"),
                             layers.Dense(8, activation="relu")], name="base")
    inputs = keras.Input((3,))
    return keras.Model(inputs, layers.Dense(2, name="head")(base(inputs)))


def compile_and_trace(model: keras.Model, x: np.ndarray, y: np.ndarray) -> None:
    """Compile and fit once, as a notebook does before the exercise, then put the initial
    weights back: the model holds a traced training step, with its initial weights."""
    initial = model.get_weights()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, shuffle=False)
    model.set_weights(initial)


class _TrainableChange(TrainingExercise):
    """The answer changes ``base``'s flag on a model compiled with the other flag."""

    cases = [TrainingCase(21, dense_base, (6,), 1), TrainingCase(22, two_layer_base, (3,), 2)]
    flagged_layers = ("base", "head")
    frozen_first: bool

    def train(self, answer: Callable, model, x, y) -> None:
        model.get_layer("base").trainable = not self.frozen_first
        compile_and_trace(model, x, y)
        answer(model)
        model.fit(x, y, epochs=1, batch_size=32, verbose=0, shuffle=False)


# --- 03.1 freeze ------------------------------------------------------------------------


@checked("freezing `base` takes effect in fit")
def check_freeze_takes_effect(model, x, y) -> None:
    """``base`` is frozen, and a fit leaves it unchanged and trains ``head``."""
    expect_layer(model, "model")
    if model.get_layer("base").trainable:
        fail("`base` is frozen", "base.trainable == False", "True",
             "set model.get_layer('base').trainable = False.")
    _expect_frozen_in_fit(fit_changes(model, ["base", "head"], x, y))


@checked("freezing `base` took effect in the fit that followed")
def check_fit_after_freezing(model, before: Sequence[np.ndarray]) -> None:
    """Judged after the fact: ``model`` holds its weights after a fit that came after the
    answer; ``before`` is ``model.get_weights()`` from before the answer."""
    _expect_frozen_in_fit(changes_since(model, before, ["base", "head"]))


class FreezeTakesEffect(_TrainableChange):
    """03.1 on two fresh base-and-head models compiled and trained with ``base`` trainable."""

    name = "freeze_takes_effect"
    frozen_first = False

    def check(self, model, x, y) -> None:
        check_freeze_takes_effect(model, x, y)

    def judge_trained(self, model, initial: list[np.ndarray]) -> None:
        check_fit_after_freezing(model, initial)


# --- 03.2 unfreeze ----------------------------------------------------------------------


@checked("unfreezing `base` takes effect in fit, at a low learning rate")
def check_unfreeze_takes_effect(model, x, y, max_learning_rate: float = MAX_FINE_TUNING_RATE
                                ) -> None:
    """``base`` is trainable, a fit changes it, and the rate is low."""
    expect_layer(model, "model")
    if not model.get_layer("base").trainable:
        fail("`base` is trainable", "base.trainable == True", "False",
             "set model.get_layer('base').trainable = True.")
    _expect_unfrozen_in_fit(fit_changes(model, ["base", "head"], x, y))
    expect_low_learning_rate(model, max_learning_rate)


@checked("unfreezing `base` took effect in the fit that followed, at a low learning rate")
def check_fit_after_unfreezing(model, before: Sequence[np.ndarray],
                               max_learning_rate: float = MAX_FINE_TUNING_RATE) -> None:
    """Judged after the fact (see :func:`check_fit_after_freezing`)."""
    _expect_unfrozen_in_fit(changes_since(model, before, ["base", "head"]))
    expect_low_learning_rate(model, max_learning_rate)


class UnfreezeTakesEffect(_TrainableChange):
    """03.2 on two fresh base-and-head models compiled and trained with ``base`` frozen."""

    name = "unfreeze_takes_effect"
    frozen_first = True

    def check(self, model, x, y, max_learning_rate: float = MAX_FINE_TUNING_RATE) -> None:
        check_unfreeze_takes_effect(model, x, y, max_learning_rate)

    def judge_trained(self, model, initial: list[np.ndarray]) -> None:
        check_fit_after_unfreezing(model, initial)
