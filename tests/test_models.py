"""The base registry: every architecture builds offline; the Keras guide's Xception numbers."""

import keras
import numpy as np
import pytest

from helpers import models


@pytest.mark.parametrize("name", sorted(models.BASES))
def test_every_base_builds_offline_without_weights(name):
    spec = models.BASES[name]
    base = models.build_base(name, weights=None)
    assert base.input_shape == (None, spec.image_size, spec.image_size, 3)
    assert len(base.output_shape) == 4, "no top: a feature map comes out"
    pixels = np.full((1, 2, 2, 3), 255.0, dtype="float32")
    assert np.isfinite(spec.preprocess_input(pixels)).all()


def test_unknown_base_names_the_choices():
    with pytest.raises(KeyError, match="xception"):
        models.build_base("alexnet", weights=None)


def guide_model(base):
    """The Keras guide's classifier around a base (augmentation and Rescaling included)."""
    inputs = keras.Input((150, 150, 3))
    x = keras.layers.RandomFlip("horizontal")(inputs)
    x = keras.layers.RandomRotation(0.1)(x)
    x = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)(x)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def test_xception_matches_the_keras_guide():
    base = models.build_base("xception", weights=None)
    assert base.count_params() == 20_861_480
    base.trainable = False
    model = guide_model(base)
    assert model.count_params() == 20_863_529
    assert count(model.trainable_weights) == 2_049
    base.trainable = True
    assert count(model.trainable_weights) == 20_809_001
    assert count(model.non_trainable_weights) == 54_528


@pytest.mark.parametrize("name", ["mobilenet_v1_025", "vgg16", "xception"])
def test_preprocessing_layer_matches_preprocess_input(name):
    images = np.random.default_rng(0).uniform(0, 255, size=(2, 8, 8, 3)).astype("float32")
    layer = models.preprocessing_layer(name)
    expected = models.BASES[name].preprocess_input(images.copy())
    np.testing.assert_allclose(np.asarray(layer(images)), expected, atol=1e-3)
    assert not layer.trainable_weights
