"""Kinds of exercise that several notebooks share, so each declares only what differs.

* :class:`FlagsExercise`: the answer sets trainable flags on a base (02.1, 02.2, 04.2, 08.1).
  The kernel records the flags it left on each fresh base; the judge puts them on a fresh
  build of the same base and runs the exercise's check on it.
* :class:`TrainingExercise`: the answer trains a model, or prepares one that is then trained
  (01.2, 03.1, 03.2). The kernel records the weights, flags and learning rate it left; the
  judge puts them on a fresh build of the same model and compares with its initial weights.
"""

from __future__ import annotations

import abc
from typing import Any, Callable

import keras
import numpy as np

from exercises import Exercise
from exercises.answers import (attempt, error_text, learning_rate, on, paired, quietly,
                               recorded_error)
from exercises.checks import fail
from exercises.inputs import BaseCase, TrainingCase, apply_layer_flags, layer_flags
from grader.records import Record, weight_arrays


class FlagsExercise(Exercise):
    """``answer(base, argument)`` sets flags; :meth:`check` judges a base and its argument."""

    def run(self, answer: Callable, inputs: list[BaseCase]) -> Record:
        results = []
        for case in inputs:
            base = case.base()
            outcome = attempt(answer, base, case.argument)
            if "error" not in outcome:
                outcome["flags"] = layer_flags(base)
            results.append(outcome)
        return Record(results)

    def judge(self, record: Record, inputs: list[BaseCase]) -> None:
        for _, case, entry in paired(inputs, record):
            with on(case.describe()):
                recorded_error(entry)
                base = case.build()
                apply_layer_flags(base, entry["flags"])
                self.check(base, case.argument)


def put_recorded_weights(model: keras.Model, entry: dict, weights: list[np.ndarray],
                         loss: Any = "mse") -> list[np.ndarray]:
    """Put the recorded weights on the fresh ``model``, compiled at the recorded learning rate
    if the answer left an optimizer; return the model's initial weights."""
    recorded_error(entry)
    initial = model.get_weights()
    if [w.shape for w in weights] != [w.shape for w in initial]:
        fail("the model trained is the one given", "the given model's weights",
             "weights of other shapes", "train the model passed to your function.")
    model.set_weights(weights)
    if entry.get("learning_rate") is not None:
        model.compile(optimizer=keras.optimizers.Adam(entry["learning_rate"]), loss=loss)
    return initial


class TrainingExercise(Exercise):
    """The answer trains (or prepares) a fresh seeded model of each :class:`TrainingCase`."""

    #: The layers whose flags the judge puts back on the fresh model.
    flagged_layers: tuple[str, ...] = ()

    def inputs(self, seed: int) -> list[TrainingCase]:
        return self.cases

    @property
    @abc.abstractmethod
    def cases(self) -> list[TrainingCase]:
        """The models to train (the same for every seed: the right answer is no value)."""

    @abc.abstractmethod
    def train(self, answer: Callable, model: keras.Model, x, y) -> None:
        """The answer on ``model``, and whatever the exercise does after it (a fit)."""

    @abc.abstractmethod
    def judge_trained(self, model: keras.Model, initial: list[np.ndarray]) -> None:
        """Check ``model``, which holds the recorded weights, against its ``initial`` ones."""

    def run(self, answer: Callable, inputs: list[TrainingCase]) -> Record:
        cases, arrays = [], {}
        for index, case in enumerate(inputs):
            model = case.model()
            x, y = case.data()
            try:
                with quietly():
                    self.train(answer, model, x, y)
            except Exception as error:
                cases.append({"error": error_text(error)})
                continue
            cases.append({"flags": {layer.name: bool(layer.trainable) for layer in model.layers},
                          "learning_rate": learning_rate(model)})
            arrays.update(weight_arrays(index, model))
        return Record(cases, arrays)

    def judge(self, record: Record, inputs: list[TrainingCase]) -> None:
        for index, case, entry in paired(inputs, record):
            with on(case.describe()):
                model = case.model()
                initial = put_recorded_weights(model, entry, record.weights(index))
                for name, trainable in entry.get("flags", {}).items():
                    if name in self.flagged_layers:
                        model.get_layer(name).trainable = bool(trainable)
                self.judge_trained(model, initial)
