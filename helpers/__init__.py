"""The lesson's helpers for the course "Transfer learning & fine-tuning with Keras".

What a notebook imports to load data, build bases and draw figures; the freezing, compiling
and calling stay in the notebooks, since they are the lesson.

* :mod:`helpers.config`: course profiles (``full`` / ``quick`` / ``smoke``).
* :mod:`helpers.assets`: official downloads or the offline mirror (``COURSE_ASSETS``).
* :mod:`helpers.data`: cats vs dogs splits, augmentation, raw examples.
* :mod:`helpers.folders`: train / validation / test class folders from a folder of images.
* :mod:`helpers.models`: the pretrained bases and their input sizes.
* :mod:`helpers.plots`: image grids, training curves, confusion matrix.
* :mod:`helpers.stats`: confidence intervals for an accuracy and for a difference of two.

The exercises and their checks are in ``exercises/``, the instructor's grading machinery in
``grader/``; nothing here imports either.

The modules that import TensorFlow first call :func:`import_tensorflow_quietly`:
TensorFlow's C++ start-up messages (no CUDA driver found, oneDNN notices) are not part of
the lesson, and in a notebook they would land in the stored outputs with timestamps.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and list its devices with file descriptor 2 sent to /dev/null.

    Python errors still show as usual. Does nothing once TensorFlow is imported."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
