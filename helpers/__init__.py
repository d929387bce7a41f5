"""Helpers for the course "Transfer learning & fine-tuning with Keras".

* :mod:`helpers.config`: course profiles (``full`` / ``quick``).
* :mod:`helpers.assets`: official downloads or the offline mirror (``COURSE_ASSETS``).
* :mod:`helpers.data`: cats vs dogs splits, augmentation, raw examples.
* :mod:`helpers.models`: the pretrained bases and their input sizes.
* :mod:`helpers.plots`: image grids, training curves, confusion matrix.
* :mod:`helpers.stats`: confidence intervals for an accuracy and for a difference of two.
* :mod:`helpers.grading`: the checks behind the notebooks' test cells.
* :mod:`helpers.fresh`, :mod:`helpers.evidence`, :mod:`helpers.verdicts`, :mod:`helpers.judge`:
  hidden tests that run each answer on inputs the learner never saw, and judge what it did
  in a process of their own, outside the learner's kernel.
* :mod:`helpers.grades`: ``make grades``, the per-exercise CSV export of the gradebook.
* :mod:`helpers.release`: ``make release``, every assignment generated and released at once.
* :mod:`helpers.returned`: ``make feedback`` without the hidden tests.

The modules a notebook imports (config, data, grading, and those behind the hidden tests)
first call :func:`import_tensorflow_quietly`: TensorFlow's C++ start-up messages (no CUDA
driver found, oneDNN notices) are not part of the lesson, and in a notebook they would land
in the stored outputs with timestamps. The instructor's side (release, feedback, grades,
the judge that runs beside nbgrader) does not import TensorFlow at all.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: The environment variable naming the folder where a graded kernel records what the
#: learner's answers did (:mod:`helpers.evidence`, read by :mod:`helpers.judge`).
EVIDENCE_ENV = "COURSE_EVIDENCE"
#: The environment variable holding the seed the grader drew for a submission's fresh inputs.
EVIDENCE_SEED_ENV = "COURSE_EVIDENCE_SEED"
#: The judge's output line that holds its verdicts, as JSON (:mod:`helpers.verdicts`).
VERDICTS_PREFIX = "VERDICTS "


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

