"""Inputs the learner never saw: the models and data that grading runs each answer on.

An answer that types the number the notebook printed, or acts on the notebook's own object
only, cannot be right on a model it has never met. Every builder here is deterministic
(seeded, every layer named), so two processes build the same objects: the learner's kernel
runs the answer on them (:mod:`helpers.evidence`), and the judge rebuilds them in its own
process to decide what the answer did (:mod:`helpers.verdicts`).

Each ``*_CASES`` list pairs a builder with what the exercise is asked to do on it.
"""

from __future__ import annotations

from helpers import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything imports TensorFlow or Keras

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np

layers = keras.layers


# --- models of several shapes (01.1) -------------------------------------------------------


def mlp_with_batch_norm() -> keras.Model:
    """An MLP with two BatchNormalization layers and one frozen Dense layer."""
    return keras.Sequential(
        [keras.Input((6,)), layers.Dense(5, name="dense_1"), layers.BatchNormalization(name="bn_1"),
         layers.Dense(4, name="frozen_dense", trainable=False),
         layers.BatchNormalization(name="bn_2"), layers.Dense(2, name="output")],
        name="mlp_with_batch_norm")


def conv_net_with_frozen_block() -> keras.Model:
    """A conv net whose middle block (a convolution and a BatchNormalization) is frozen."""
    block = keras.Sequential([keras.Input((8, 8, 4)), layers.Conv2D(4, 3, padding="same",
                                                                   name="block_conv"),
                              layers.BatchNormalization(name="block_bn")], name="frozen_block")
    block.trainable = False
    return keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3, padding="same",
                                                                   name="conv"),
                             block, layers.GlobalAveragePooling2D(name="pool"),
                             layers.Dense(3, name="output")], name="conv_net_with_frozen_block")


def plain_mlp() -> keras.Model:
    """Two Dense layers and nothing else: every weight trainable."""
    return keras.Sequential([keras.Input((3,)), layers.Dense(4, name="hidden"),
                             layers.Dense(1, name="output")], name="plain_mlp")


WEIGHT_COUNT_MODELS: list[Callable[[], keras.Model]] = [
    mlp_with_batch_norm, conv_net_with_frozen_block, plain_mlp]


# --- bases with named layers (02, 04) ------------------------------------------------------


def small_cnn() -> keras.Model:
    """A 15-layer functional CNN with BatchNormalization and named blocks, 16x16 inputs."""
    inputs = keras.Input((16, 16, 3), name="image")
    x = inputs
    for block, filters in [("stem", 4), ("block1", 8), ("block2", 8)]:
        x = layers.Conv2D(filters, 3, padding="same", name=f"{block}_conv")(x)
        x = layers.BatchNormalization(name=f"{block}_bn")(x)
        x = layers.ReLU(name=f"{block}_relu")(x)
        if block != "stem":
            x = layers.MaxPooling2D(name=f"{block}_pool")(x)
    x = layers.Conv2D(16, 1, name="top_conv")(x)
    x = layers.BatchNormalization(name="top_bn")(x)
    return keras.Model(inputs, layers.ReLU(name="top_relu")(x), name="small_cnn")


def small_mobilenet_v2() -> keras.Model:
    """MobileNetV2 (width 0.35, 32x32 inputs, random weights): 150 layers, real block names."""
    return keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35,
                                          include_top=False, weights=None)


def frozen_whole(base: keras.Model) -> None:
    """The base as a feature extractor leaves it: ``base.trainable = False``."""
    base.trainable = False


def all_trainable(base: keras.Model) -> None:
    """The base as built: every layer trainable."""


@dataclass(frozen=True)
class BaseCase:
    """A base to build, the state it is handed over in, and the exercise's argument."""

    build: Callable[[], keras.Model]
    setup: Callable[[keras.Model], None]
    argument: str | int

    def base(self) -> keras.Model:
        base = self.build()
        self.setup(base)
        return base

    def describe(self) -> str:
        return f"{self.build.__name__} ({self.setup.__doc__.split(':')[0].strip()}), {self.argument!r}"


FROZEN_THROUGH_CASES = [BaseCase(small_mobilenet_v2, frozen_whole, "block_5_add"),
                        BaseCase(small_cnn, all_trainable, "block1_pool")]
UNFROZEN_FROM_CASES = [BaseCase(small_mobilenet_v2, frozen_whole, "block_11_expand"),
                       BaseCase(small_cnn, all_trainable, "block2_conv")]
TOP_UNFROZEN_CASES = [BaseCase(small_mobilenet_v2, frozen_whole, 12),
                      BaseCase(small_cnn, all_trainable, 5)]


def layer_flags(base: keras.Model) -> dict:
    """``base``'s trainable flags: its own, then each of its layers' in order."""
    return {"base": bool(base.trainable), "layers": [bool(layer.trainable) for layer in base.layers]}


def apply_layer_flags(base: keras.Model, flags: dict) -> None:
    """Set ``base``'s flags to ``flags`` (from :func:`layer_flags` on a base of the same build)."""
    if len(flags["layers"]) != len(base.layers):
        raise ValueError(f"{len(flags['layers'])} layer flags for {len(base.layers)} layers")
    base.trainable = bool(flags["base"])
    for layer, trainable in zip(base.layers, flags["layers"]):
        layer.trainable = bool(trainable)


# --- models with an encoder or a base to train (01.2, 03, 04.1) --------------------------


@dataclass(frozen=True)
class TrainingCase:
    """A seeded model and data: the same initial weights in every process."""

    seed: int
    build: Callable[[], keras.Model]
    input_shape: tuple[int, ...]
    outputs: int
    samples: int = 64

    def model(self) -> keras.Model:
        keras.utils.set_random_seed(self.seed)
        return self.build()

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        x = rng.normal(size=(self.samples, *self.input_shape)).astype("float32")
        y = np.tanh(x.reshape(self.samples, -1) @ rng.normal(size=(x[0].size, self.outputs)))
        return x, y.astype("float32")

    def describe(self) -> str:
        return self.build.__doc__.strip().rstrip(".")


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


ENCODER_CASES = [TrainingCase(11, dense_encoder, (5,), 2), TrainingCase(12, block_encoder, (4,), 1)]


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


BASE_HEAD_CASES = [TrainingCase(21, dense_base, (6,), 1), TrainingCase(22, two_layer_base, (3,), 2)]


def classifier_on(base: keras.Model) -> keras.Model:
    """``base`` -> global average pooling -> a Dense logit, no Dropout (notebook 04's model)."""
    inputs = keras.Input(base.input_shape[1:])
    pooled = layers.GlobalAveragePooling2D(name="pool")(base(inputs))
    return keras.Model(inputs, layers.Dense(1, name="head")(pooled))


BN_CASE = TrainingCase(31, small_cnn, (16, 16, 3), 1, samples=16)


def compile_and_trace(model: keras.Model, x: np.ndarray, y: np.ndarray) -> None:
    """Compile and fit once, as a notebook does before the exercise, then put the initial
    weights back: the model holds a traced training step, with its initial weights."""
    initial = model.get_weights()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, shuffle=False)
    model.set_weights(initial)
