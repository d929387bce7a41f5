"""Helpers for the course "Transfer learning & fine-tuning with Keras".

* :mod:`helpers.config`: course profiles (``full`` / ``quick``).
* :mod:`helpers.assets`: official downloads or the offline mirror (``COURSE_ASSETS``).
* :mod:`helpers.data`: cats vs dogs splits, augmentation, raw examples.
* :mod:`helpers.models`: the pretrained bases and their input sizes.
* :mod:`helpers.plots`: image grids, training curves, confusion matrix.
* :mod:`helpers.stats`: confidence intervals for an accuracy and for a difference of two.
* :mod:`helpers.grading`: the checks behind the notebooks' test cells.
* :mod:`helpers.grades`: ``make grades``, the per-exercise CSV export of the gradebook.
* :mod:`helpers.release`: ``make release``, every assignment generated and released at once.
* :mod:`helpers.returned`: ``make feedback`` without the hidden tests.

Importing this package imports TensorFlow with its C++ start-up messages (no CUDA driver
found, oneDNN notices) silenced: they are not part of the lesson, and in a notebook they
would land in the stored outputs with timestamps. Python errors still show as usual.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow and list its devices with file descriptor 2 sent to /dev/null."""
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


_import_tensorflow_quietly()
