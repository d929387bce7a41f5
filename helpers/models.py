"""Pretrained bases the course fine-tunes, with the input size and preprocessing each expects.

Only the loading is here. Freezing, calling the base with ``training=False`` and compiling
are the lesson, so the notebooks do those themselves.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from helpers import assets

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications"


@dataclass(frozen=True)
class BaseSpec:
    """How to build one ``keras.applications`` base without its classification top.

    Attributes:
        name: registry key.
        label: human-readable name, for printing.
        application: the ``keras.applications`` constructor, e.g. ``"Xception"``.
        module: the ``keras.applications`` module holding its ``preprocess_input``.
        image_size: side of the square input the course feeds it.
        weights_file: the no-top ImageNet weights file Keras looks for in its cache, at
            ``image_size``.
        weights_folder: folder of that file under the Keras Applications storage.
        options: extra constructor arguments (``alpha`` for MobileNet).
    """

    name: str
    label: str
    application: str
    module: str
    image_size: int
    weights_file: str
    weights_folder: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def weights_url(self) -> str:
        """Where Keras downloads the no-top ImageNet weights from."""
        return f"{WEIGHTS_URL}/{self.weights_folder}/{self.weights_file}"

    def preprocess_input(self, images):
        """The base's own preprocessing of [0, 255] RGB images (``keras.applications``)."""
        import keras

        return getattr(keras.applications, self.module).preprocess_input(images)


def _spec(name, label, application, module, size, weights_file, folder, **options):
    return BaseSpec(name, label, application, module, size, weights_file, folder, options)


BASES: dict[str, BaseSpec] = {
    spec.name: spec
    for spec in [
        _spec("xception", "Xception", "Xception", "xception", 150,
              "xception_weights_tf_dim_ordering_tf_kernels_notop.h5", "xception"),
        _spec("mobilenet_v1_025", "MobileNet v1 (alpha 0.25)", "MobileNet", "mobilenet", 150,
              "mobilenet_2_5_224_tf_no_top.h5", "mobilenet", alpha=0.25),
        _spec("mobilenet_v2", "MobileNetV2", "MobileNetV2", "mobilenet_v2", 160,
              "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5",
              "mobilenet_v2"),
        _spec("vgg16", "VGG16", "VGG16", "vgg16", 224,
              "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg16"),
        _spec("resnet50", "ResNet50", "ResNet50", "resnet50", 224,
              "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "resnet"),
        _spec("inception_v3", "InceptionV3", "InceptionV3", "inception_v3", 299,
              "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "inception_v3"),
    ]
}


def build_base(name: str, weights: str | None = "imagenet", image_size: int | None = None):
    """Build a registered base without its top, on square RGB input.

    With ``weights="imagenet"`` and an offline mirror set, a weights file missing from the
    mirror raises :class:`helpers.assets.MissingAssetError` instead of a failed download.
    A non-default ``image_size`` can make Keras look for another weights file (MobileNet
    sizes 128, 160, 192); the check covers the registered size.
    """
    import keras

    if name not in BASES:
        raise KeyError(f"unknown base {name!r}; known: {sorted(BASES)}")
    spec = BASES[name]
    if weights == "imagenet":
        assets.use_offline_assets()
        assets.require_keras_weights(spec.weights_file, spec.weights_url)
    size = image_size or spec.image_size
    constructor = getattr(keras.applications, spec.application)
    with warnings.catch_warnings():
        # MobileNet warns that sizes other than 128/160/192/224 load the 224 weights. That
        # is the file we want: the convolutions work at any size, and the mirror has it.
        warnings.filterwarnings("ignore", message=".*will be loaded as the default")
        with assets.explain_failed_download(
                f"{spec.label}'s ImageNet weights", spec.weights_url,
                assets.offline_hint(f"keras/models/{spec.weights_file}")):
            return constructor(input_shape=(size, size, 3), include_top=False,
                               weights=weights, **spec.options)


#: The ImageNet means that ``preprocess_input`` subtracts in "caffe" mode, in BGR order.
CAFFE_BGR_MEANS = (103.939, 116.779, 123.68)


def preprocessing_layer(name: str):
    """A Keras layer doing base ``name``'s ``preprocess_input`` on [0, 255] RGB images, to
    put inside a model so the saved file takes raw pixels.

    Xception and the MobileNets scale to [-1, 1]: a ``Rescaling`` layer. VGG16 and ResNet50
    ("caffe" mode) swap RGB to BGR and subtract ImageNet's means: a frozen 1x1 ``Conv2D``
    whose weights do exactly that (a plain layer, so the model loads with ``safe_mode``).
    """
    import keras
    import numpy as np

    if BASES[name].module not in {"vgg16", "resnet50"}:
        return keras.layers.Rescaling(scale=1 / 127.5, offset=-1, name="preprocessing")
    layer = keras.layers.Conv2D(3, 1, name="preprocessing", trainable=False)
    layer.build((None, None, None, 3))
    swap = np.zeros((1, 1, 3, 3), dtype="float32")
    for channel in range(3):
        swap[0, 0, 2 - channel, channel] = 1.0
    layer.set_weights([swap, -np.array(CAFFE_BGR_MEANS, dtype="float32")])
    return layer
