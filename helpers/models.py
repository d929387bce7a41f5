"""Pretrained bases the course fine-tunes, with the input size and preprocessing each expects.

Only the loading is here. Freezing, calling the base with ``training=False`` and compiling
are the lesson, so the notebooks do those themselves.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

from helpers import assets

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications"


@dataclass(frozen=True)
class BaseSpec:
    """How to build one ``keras.applications`` base without its classification top.

    Attributes:
        name: registry key.
        label: human-readable name, for printing.
        image_size: side of the square input the course feeds it.
        build: ``build(input_shape, weights) -> keras.Model``.
        weights_file: the no-top ImageNet weights file Keras looks for in its cache.
        weights_url: where Keras downloads that file from.
        scale: ``(scale, offset)`` of the ``Rescaling`` layer that maps [0, 255] pixels to
            what the base was trained on (both bases here expect [-1, 1]).
    """

    name: str
    label: str
    image_size: int
    build: Callable
    weights_file: str
    weights_url: str
    scale: tuple[float, float] = (1 / 127.5, -1.0)


def _xception(input_shape, weights):
    import keras

    return keras.applications.Xception(input_shape=input_shape, include_top=False, weights=weights)


def _mobilenet_025(input_shape, weights):
    import keras

    with warnings.catch_warnings():
        # Keras warns that sizes other than 128/160/192/224 load the 224 weights. That is
        # the file we want: the convolutions work at any size, and the mirror has that one.
        warnings.filterwarnings("ignore", message=".*will be loaded as the default")
        return keras.applications.MobileNet(
            input_shape=input_shape, alpha=0.25, include_top=False, weights=weights
        )


BASES: dict[str, BaseSpec] = {
    "xception": BaseSpec(
        name="xception",
        label="Xception",
        image_size=150,
        build=_xception,
        weights_file="xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_url=f"{WEIGHTS_URL}/xception/xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "mobilenet_v1_025": BaseSpec(
        name="mobilenet_v1_025",
        label="MobileNet v1 (alpha 0.25)",
        image_size=150,
        build=_mobilenet_025,
        weights_file="mobilenet_2_5_224_tf_no_top.h5",
        weights_url=f"{WEIGHTS_URL}/mobilenet_v1/mobilenet_2_5_224_tf_no_top.h5",
    ),
}


def build_base(name: str, weights: str | None = "imagenet", image_size: int | None = None):
    """Build a registered base without its top, on square RGB input.

    With ``weights="imagenet"`` and an offline mirror set, a weights file missing from the
    mirror raises :class:`helpers.assets.MissingAssetError` instead of a failed download.
    """
    spec = BASES[name]
    if weights == "imagenet":
        assets.use_offline_assets()
        assets.require_keras_weights(spec.weights_file, spec.weights_url)
    size = image_size or spec.image_size
    return spec.build((size, size, 3), weights)
