"""Fresh inputs that several notebooks' exercises share: small bases, seeded training cases.

An answer that types the number the notebook printed, or acts on the notebook's own object
only, cannot be right on a model it has never met. Every builder here is deterministic
(seeded, every layer named), so two processes build the same objects: the learner's kernel
runs the answer on them, and the judge rebuilds them in its own process to decide what the
answer did. Inputs that only one exercise uses stand with that exercise.
"""

from __future__ import annotations

from helpers import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything imports TensorFlow or Keras

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np

layers = keras.layers


def pick(rng: np.random.Generator, options: list):
    """One of ``options``, drawn with ``rng``."""
    return options[int(rng.integers(len(options)))]


# --- bases with named layers -----------------------------------------------------------


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
    """MobileNetV2 (width 0.35, 32x32 inputs, random weights): 154 layers, real block names."""
    return keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35,
                                          include_top=False, weights=None)


#: The small CNN's layers between its first and last, where a cut may fall.
SMALL_CNN_NAMES = [f"{block}_{part}" for block in ["stem", "block1", "block2"]
                   for part in ["conv", "bn", "relu", "pool"] if f"{block}_{part}" != "stem_pool"]


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


# --- models to train -------------------------------------------------------------------


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


def classifier_on(base: keras.Model) -> keras.Model:
    """``base`` -> global average pooling -> a Dense logit, no Dropout (notebook 04's model)."""
    inputs = keras.Input(base.input_shape[1:])
    pooled = layers.GlobalAveragePooling2D(name="pool")(base(inputs))
    return keras.Model(inputs, layers.Dense(1, name="head")(pooled))


def fine_tuning_base() -> keras.Model:
    """A seeded small CNN with BatchNormalization, standing in for a pretrained base."""
    keras.utils.set_random_seed(51)
    return small_cnn()


def fine_tuning_model() -> tuple[keras.Model, keras.Model]:
    """(model, base): a seeded classifier around :func:`fine_tuning_base`, the base frozen."""
    base = fine_tuning_base()
    base.trainable = False
    return classifier_on(base), base


def binary_images(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random 16x16 images in [0, 255] and 0/1 labels that depend on them."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, size=(count, 16, 16, 3)).astype("float32")
    return images, (images[..., 0].mean(axis=(1, 2)) > 127.5).astype("float32")


def binary_loss() -> keras.losses.Loss:
    return keras.losses.BinaryCrossentropy(from_logits=True)


def prepare_for_fine_tuning(model: keras.Model, base: keras.Model) -> None:
    """The state fine-tuning starts from: the base unfrozen except BatchNormalization,
    compiled."""
    base.trainable = True
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=binary_loss())


def expect_built_on_fresh_base(model: keras.Model) -> keras.Model:
    """The fresh base inside ``model`` (a layer named small_cnn); fail if there is none."""
    from exercises.checks import fail

    layer_names = [layer.name for layer in model.layers]
    if "small_cnn" not in layer_names:
        fail("the model is built on the base it is given", "a layer named 'small_cnn'",
             ", ".join(layer_names)[:200],
             "call the `base` passed to your function, not another one.")
    return model.get_layer("small_cnn")
