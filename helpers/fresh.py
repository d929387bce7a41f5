"""Inputs the learner never saw: the models and data that grading runs each answer on.

An answer that types the number the notebook printed, or acts on the notebook's own object
only, cannot be right on a model it has never met. Every builder here is deterministic
(seeded, every layer named), so two processes build the same objects: the learner's kernel
runs the answer on them (:mod:`helpers.evidence`), and the judge rebuilds them in its own
process to decide what the answer did (:mod:`helpers.verdicts`).

Where a right answer is a value (a count, a layer name, a number of layers), the inputs
depend on a seed the grader draws for each submission (``$COURSE_EVIDENCE_SEED``): this file
is public, so fixed inputs would have fixed answers that could be typed in.
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
    """MobileNetV2 (width 0.35, 32x32 inputs, random weights): 154 layers, real block names."""
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


#: Names a cut may fall on: MobileNetV2's residual additions and expansions, which end and
#: start its blocks, and the small CNN's layers between its first and last.
MOBILENET_V2_ADDS = [f"block_{k}_add" for k in [2, 4, 5, 7, 8, 9, 11, 12, 14, 15]]
MOBILENET_V2_EXPANDS = [f"block_{k}_expand" for k in range(1, 17)]
SMALL_CNN_NAMES = [f"{block}_{part}" for block in ["stem", "block1", "block2"]
                   for part in ["conv", "bn", "relu", "pool"] if f"{block}_{part}" != "stem_pool"]


def _pick(rng: np.random.Generator, options: list):
    return options[int(rng.integers(len(options)))]


def frozen_through_cases(seed: int) -> list[BaseCase]:
    """02.1's bases, each with a layer to freeze through drawn from ``seed``."""
    rng = np.random.default_rng(seed + 1)
    return [BaseCase(small_mobilenet_v2, frozen_whole, _pick(rng, MOBILENET_V2_ADDS)),
            BaseCase(small_cnn, all_trainable, _pick(rng, SMALL_CNN_NAMES))]


def unfrozen_from_cases(seed: int) -> list[BaseCase]:
    """02.2's bases, each with a first trainable layer drawn from ``seed``."""
    rng = np.random.default_rng(seed + 2)
    return [BaseCase(small_mobilenet_v2, frozen_whole, _pick(rng, MOBILENET_V2_EXPANDS)),
            BaseCase(small_cnn, all_trainable, _pick(rng, SMALL_CNN_NAMES))]


def top_unfrozen_cases(seed: int) -> list[BaseCase]:
    """04.2's bases, each with a number of top layers drawn from ``seed``."""
    rng = np.random.default_rng(seed + 3)
    return [BaseCase(small_mobilenet_v2, frozen_whole, int(rng.integers(5, 41))),
            BaseCase(small_cnn, all_trainable, int(rng.integers(2, 11)))]


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


# --- feature extraction (05) ----------------------------------------------------------------


def feature_extractor() -> keras.Model:
    """A seeded extractor: a convolution and global average pooling over 16x16 images."""
    keras.utils.set_random_seed(41)
    inputs = keras.Input((16, 16, 3))
    features = layers.Conv2D(6, 3, activation="relu", name="conv")(inputs)
    return keras.Model(inputs, layers.GlobalAveragePooling2D(name="pool")(features),
                       name="fresh_extractor")


def labelled_images(per_class: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` random images of each label, in [0, 255], labels 0/1 in mixed order."""
    rng = np.random.default_rng(42)
    labels = rng.permutation(np.repeat([0.0, 1.0], per_class)).astype("float32")
    return rng.uniform(0, 255, size=(len(labels), 16, 16, 3)).astype("float32"), labels


def reshuffled(images: np.ndarray, labels: np.ndarray, batch_size: int = 8):
    """Batches in a new order on every pass, as the training split is read."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(
        len(labels), seed=43, reshuffle_each_iteration=True).batch(batch_size)


def separable_features(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train and validation features (dimension 6) whose labels a logistic head can learn,
    and a number of epochs, all drawn from ``seed``."""
    rng = np.random.default_rng(seed + 4)
    direction = rng.normal(size=6)
    def split(count: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(count, 6)).astype("float32")
        return x, ((x @ direction + rng.normal(scale=0.3, size=count)) > 0).astype("float32")
    return {"train": split(96), "validation": split(48)}


def head_epochs(seed: int) -> int:
    """The epochs asked of 05.2's function on fresh features: 2 to 4."""
    return 2 + seed % 3


def results_to_rank(seed: int) -> list[dict]:
    """Eight search results with distinct validation and test accuracies in different orders."""
    rng = np.random.default_rng(seed + 5)
    validation = rng.permutation(np.linspace(0.80, 0.95, 8))
    test = rng.permutation(np.linspace(0.81, 0.96, 8))
    return [{"name": f"head_{index}", "units": int(rng.choice([0, 16, 64])),
             "val_accuracy": float(validation[index]), "test_accuracy": float(test[index])}
            for index in range(8)]


# --- fine-tuning (06) -----------------------------------------------------------------------

#: The learning rate 06.2's function is asked for on fresh inputs (not the notebook's 1e-5).
FINE_TUNE_RATE = 3e-5
#: Images per batch of the fresh datasets of 06.3, and batches in its training data.
FINE_TUNE_BATCH, FINE_TUNE_TRAIN_BATCHES = 8, 4


def pixels_to_unit(images) -> np.ndarray:
    """The fresh base's preprocessing: [0, 255] to [-1, 1], as MobileNet's."""
    return np.asarray(images, dtype="float32") / 127.5 - 1


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


def validation_batches():
    """06.3's fresh validation data: 16 images in batches of FINE_TUNE_BATCH."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(binary_images(62, 16)).batch(FINE_TUNE_BATCH)


def prepare_for_fine_tuning(model: keras.Model, base: keras.Model) -> None:
    """The state 06.3 starts from: the base unfrozen except BatchNormalization, compiled."""
    base.trainable = True
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=binary_loss())


# --- fine-tuning on a folder of images (07) -------------------------------------------------

#: Label modes of ``image_dataset_from_directory`` that 07.2's loss must match.
LABEL_MODES = ("int", "categorical", "binary")


def class_names(seed: int) -> list[str]:
    """07.1's classes: 3 to 12 names, their number drawn from ``seed``."""
    rng = np.random.default_rng(seed + 71)
    return [f"brand_{index}" for index in range(int(rng.integers(3, 13)))]


def frozen_small_base() -> keras.Model:
    """07.1's base: :func:`fine_tuning_base`, frozen, as the notebook hands it over."""
    base = fine_tuning_base()
    base.trainable = False
    return base


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


def block_cases(seed: int) -> list[BaseCase]:
    """07.3's bases, each with a block name (the prefix of its layers' names) drawn from
    ``seed``: a MobileNetV2 block ``block_<k>``, and one of the small CNN's two blocks."""
    rng = np.random.default_rng(seed + 73)
    return [BaseCase(small_mobilenet_v2, frozen_whole, f"block_{int(rng.integers(1, 17))}"),
            BaseCase(small_cnn, frozen_whole, _pick(rng, ["block1", "block2"]))]


@dataclass(frozen=True)
class RatesCase:
    """07.4's input: a classifier whose base is unfrozen except BatchNormalization, data,
    and the two learning rates (the base's 10 to 100 times smaller than the head's)."""

    base_rate: float
    head_rate: float

    def model(self) -> tuple[keras.Model, keras.Model]:
        model, base = fine_tuning_model()
        prepare_for_fine_tuning(model, base)
        return model, base

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return binary_images(74, 16)

    def describe(self) -> str:
        return (f"a small CNN classifier, base rate {self.base_rate:.2g}, "
                f"head rate {self.head_rate:.2g}")


def rates_case(seed: int) -> RatesCase:
    """07.4's rates, drawn from ``seed``."""
    rng = np.random.default_rng(seed + 74)
    head_rate = float(10 ** rng.uniform(-3.5, -2.5))
    return RatesCase(head_rate / float(10 ** rng.uniform(1, 2)), head_rate)
