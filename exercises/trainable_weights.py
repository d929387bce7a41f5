"""Notebook 01, trainable weights: count a model's weights; freeze a layer and train.

* 01.1 ``weight_counts``: ``count_weights(model)`` returns the lengths of ``model.weights``,
  ``model.trainable_weights`` and ``model.non_trainable_weights``.
* 01.2 ``classifier_only_training``: ``train_classifier_only(model, x, y)`` freezes the layer
  named ``encoder``, compiles and fits, so that only ``classifier`` moves.
"""

from __future__ import annotations

from functools import cache
from typing import Callable, Sequence

import keras
import numpy as np

from exercises import Exercise
from exercises.answers import attempt, on, paired, recorded_error, revive
from exercises.checks import checked, expect_layer, fail, frozen_layers, trainable_layers
from exercises.inputs import TrainingCase
from exercises.kinds import TrainingExercise
from grader.records import Record

layers = keras.layers


# --- 01.1 count the weights -----------------------------------------------------------------


def _expect_int(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        fail(f"`{name}` is a whole number", "an int, such as len(some_list)",
             f"{type(value).__name__}: {value!r:.80}",
             "count the weights with len(...) of the right list.")


@checked("weight counts returned by `count_weights`")
def check_weight_counts(count_weights: Callable, model) -> None:
    """``count_weights(model)`` gives the lengths of the three weight lists."""
    expect_layer(model, model.name if hasattr(model, "name") else "model")
    found = count_weights(model)
    if not isinstance(found, (tuple, list)) or len(found) != 3:
        fail("`count_weights` returns three numbers", "(n_weights, n_trainable, n_non_trainable)",
             f"{type(found).__name__}: {found!r:.80}",
             "end the function with return n_weights, n_trainable, n_non_trainable.")
    for value, name in zip(found, ["n_weights", "n_trainable", "n_non_trainable"]):
        _expect_int(value, name)
    expected = (len(model.weights), len(model.trainable_weights), len(model.non_trainable_weights))
    found = tuple(int(value) for value in found)
    if found != expected:
        fail(f"weight counts of `{model.name}` (weights, trainable, non-trainable)", expected,
             found, _weight_count_hint(model, found, expected))


def _weight_count_hint(model, found: tuple, expected: tuple) -> str:
    """The hint that matches what the learner counted instead."""
    layer_counts = (len(model.layers), len(trainable_layers(model.layers)),
                    len(frozen_layers(model.layers)))
    sizes = lambda weights: sum(int(np.prod(w.shape)) for w in weights)
    parameter_counts = (sizes(model.weights), sizes(model.trainable_weights),
                        sizes(model.non_trainable_weights))
    if found == layer_counts:
        return ("those are layer counts. Count weight tensors: a layer holds several (Conv2D a "
                "kernel and a bias, BatchNormalization four): len(model.weights).")
    if found == parameter_counts:
        return ("those are numbers of parameters (the values inside the tensors). Count the "
                "tensors themselves: len(model.weights), not count_params().")
    if found == (expected[0], expected[2], expected[1]):
        return ("trainable and non-trainable are swapped: take n_trainable from "
                "model.trainable_weights and n_non_trainable from model.non_trainable_weights.")
    if found[0] != found[1] + found[2]:
        return ("every weight is either trainable or not, so n_trainable + n_non_trainable "
                "must equal n_weights: take each from its own list, len(model...).")
    return ("read the three lists of the model you are given: BatchNormalization keeps 4 "
            "weights (gamma and beta trained by the optimizer, the moving mean and variance "
            "non-trainable), and a frozen layer's weights are all non-trainable.")


def _mlp(rng: np.random.Generator, name: str, batch_norm: float, frozen: float) -> keras.Model:
    """An MLP of 2 to 4 Dense layers; after each, a BatchNormalization with probability
    ``batch_norm``; each layer frozen with probability ``frozen``."""
    stack = [keras.Input((int(rng.integers(2, 7)),))]
    for index in range(int(rng.integers(2, 5))):
        stack.append(layers.Dense(int(rng.integers(2, 6)), name=f"dense_{index}",
                                  trainable=bool(rng.random() >= frozen)))
        if rng.random() < batch_norm:
            stack.append(layers.BatchNormalization(name=f"bn_{index}",
                                                   trainable=bool(rng.random() >= frozen)))
    stack.append(layers.Dense(int(rng.integers(1, 4)), name="output"))
    return keras.Sequential(stack, name=name)


def _conv_net_with_frozen_block(rng: np.random.Generator) -> keras.Model:
    """A conv net whose middle block (1 to 3 convolutions, each with a BatchNormalization)
    is frozen as a whole."""
    block = [keras.Input((8, 8, 4))]
    for index in range(int(rng.integers(1, 4))):
        block += [layers.Conv2D(4, 3, padding="same", name=f"block_conv_{index}"),
                  layers.BatchNormalization(name=f"block_bn_{index}")]
    frozen_block = keras.Sequential(block, name="frozen_block")
    frozen_block.trainable = False
    return keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3, padding="same",
                                                                   name="conv"),
                             frozen_block, layers.GlobalAveragePooling2D(name="pool"),
                             layers.Dense(int(rng.integers(1, 4)), name="output")],
                            name="conv_net_with_frozen_block")


def weight_count_models(seed: int) -> list[keras.Model]:
    """Three models whose depth, BatchNormalization layers and frozen layers come from
    ``seed``: their weight counts cannot be known before the seed is drawn."""
    rng = np.random.default_rng(seed)
    return [_mlp(rng, "mlp_with_batch_norm", batch_norm=0.7, frozen=0.3),
            _conv_net_with_frozen_block(rng),
            _mlp(rng, "plain_mlp", batch_norm=0.0, frozen=0.0)]


def describe_model(model: keras.Model) -> str:
    """``model``'s name, layer count, BatchNormalization layers and frozen layers."""
    def inner(layer) -> list:
        return [layer] + [deeper for sub in getattr(layer, "layers", []) for deeper in inner(sub)]

    norms = sum(isinstance(layer, layers.BatchNormalization) for layer in inner(model))
    frozen = sum(not layer.trainable for layer in model.layers)
    return (f"`{model.name}`, {len(model.layers)} layers, {norms} BatchNormalization, "
            f"{frozen} frozen")


class WeightCounts(Exercise):
    """01.1: the counts on three models drawn from the seed."""

    name = "weight_counts"

    def check(self, count_weights: Callable, model) -> None:
        check_weight_counts(count_weights, model)

    def inputs(self, seed: int) -> list[keras.Model]:
        return weight_count_models(seed)

    def run(self, count_weights: Callable, models: list[keras.Model]) -> Record:
        return Record([attempt(count_weights, model) for model in models])

    def judge(self, record: Record, models: list[keras.Model]) -> None:
        for _, model, case in paired(models, record):
            with on(describe_model(model)):
                def replay(_model, case=case):
                    recorded_error(case)
                    return revive(case["returned"])
                check_weight_counts(replay, model)


# --- 01.2 freeze a layer and train ----------------------------------------------------------


def snapshot(layer) -> list[np.ndarray]:
    """Copies of a layer's weight values, to compare after training."""
    return [np.array(w.numpy(), copy=True) for w in layer.weights]


def changed_count(layer, before: Sequence[np.ndarray]) -> int:
    """How many of ``layer``'s weights differ from the snapshot ``before``."""
    return sum(not np.array_equal(b, w.numpy()) for b, w in zip(before, layer.weights))


@checked("`encoder` frozen, `classifier` trained")
def check_frozen_during_fit(model, encoder_before: Sequence[np.ndarray],
                            classifier_before: Sequence[np.ndarray]) -> None:
    """After fit, the encoder is bit-identical and the classifier moved."""
    expect_layer(model, "model")
    encoder, classifier = model.get_layer("encoder"), model.get_layer("classifier")
    if encoder.trainable:
        fail("`encoder` is frozen", "encoder.trainable == False", "encoder.trainable == True",
             "set the layer's trainable attribute to False before compile().")
    moved = changed_count(encoder, encoder_before)
    if moved:
        fail("`encoder` weights unchanged by fit", f"0 of {len(encoder.weights)} weights changed",
             f"{moved} of {len(encoder.weights)} weights changed",
             "freeze before compile() and fit(): changes to trainable apply at compile().")
    if changed_count(classifier, classifier_before) == 0:
        fail("`classifier` weights changed by fit", "its weights to change",
             "they are unchanged (or fit was not run)",
             "keep `classifier` trainable, compile, then call fit().")


def dense_encoder() -> keras.Model:
    """5 inputs, a Dense encoder of 6 units, a Dense classifier of 2 outputs."""
    inputs = keras.Input((5,))
    features = layers.Dense(6, activation="relu", name="encoder")(inputs)
    return keras.Model(inputs, layers.Dense(2, name="classifier")(features))


def block_encoder() -> keras.Model:
    """4 inputs, an encoder block of Dense and BatchNormalization, a Dense classifier."""
    encoder = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu"),
                                layers.BatchNormalization()], name="encoder")
    inputs = keras.Input((4,))
    return keras.Model(inputs, layers.Dense(1, name="classifier")(encoder(inputs)))


class ClassifierOnlyTraining(TrainingExercise):
    """01.2: on two fresh encoder-classifier models, the encoder stays bit-identical."""

    name = "classifier_only_training"
    # one batch of fit's default 32 a case: the order fit shuffles them in cannot change
    # the weights, so the judge can replay the training the exercise fixes
    cases = [TrainingCase(11, dense_encoder, (5,), 2, samples=32),
             TrainingCase(12, block_encoder, (4,), 1, samples=32)]
    flagged_layers = ("encoder", "classifier")

    def check(self, model, encoder_before, classifier_before) -> None:
        check_frozen_during_fit(model, encoder_before, classifier_before)

    def train(self, train_classifier_only: Callable, model, x, y) -> None:
        train_classifier_only(model, x, y)

    def judge_trained(self, model, initial: list[np.ndarray]) -> None:
        position = {id(variable): i for i, variable in enumerate(model.weights)}
        before = {name: [initial[position[id(w)]] for w in model.get_layer(name).weights]
                  for name in ["encoder", "classifier"]}
        check_frozen_during_fit(model, before["encoder"], before["classifier"])

    def judge(self, record: Record, inputs: list[TrainingCase]) -> None:
        """As every training exercise, then the training the text fixes (encoder frozen,
        ``optimizer="adam"``, ``loss="mse"``, 3 epochs) replayed on the fresh case: the
        classifier must hold what that training gives. Training everything and putting the
        encoder's weights back leaves the classifier elsewhere."""
        super().judge(record, inputs)
        for index, case, _ in paired(inputs, record):
            with on(case.describe()):
                recorded = record.weights(index)
                off = max(float(np.max(np.abs(a - b)))
                          for a, b in zip(replayed_weights(case), recorded))
                if off > REPLAY_TOLERANCE:
                    fail("`classifier` trained as asked: `encoder` frozen, then compile "
                         "(adam, mse) and 3 epochs of fit",
                         "the weights that training gives",
                         f"weights up to {off:.2g} away from them",
                         "freeze `encoder` first, then compile and fit for 3 epochs; train "
                         "nothing else and put no weights back.")


#: How far 01.2's recorded weights may be from the judge's replay: two runs of the same
#: training differ by about 1e-10 (float rounding); training the encoder too and then
#: putting its weights back moves the classifier by 1e-5 or more.
REPLAY_TOLERANCE = 1e-7


@cache
def replayed_weights(case: TrainingCase) -> list[np.ndarray]:
    """The weights 01.2's training as asked gives on a fresh ``case``: the same for every
    submission, so a judge process trains it once, not once a submission."""
    model = case.model()
    train_classifier_only_as_asked(model, *case.data())
    return model.get_weights()


def train_classifier_only_as_asked(model, x, y) -> None:
    """01.2's training as its text fixes it (the reference answer)."""
    model.get_layer("encoder").trainable = False
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=3, verbose=0)
