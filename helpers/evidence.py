"""The hidden tests' half inside the learner's kernel: run the answer on fresh inputs, record.

Nothing here decides a grade. Each function below runs the learner's answer on models from
:mod:`helpers.fresh` (never the notebook's own) and writes down what came out: the values it
returned, the trainable flags it left, the weights after training. The judge
(:mod:`helpers.judge`, :mod:`helpers.verdicts`) then rebuilds the same fresh models in a
process of its own and decides there, with its own copy of the checks. So patching this
module, the checks, numpy or IPython inside the kernel can change what is recorded, never how
it is judged: a record passes only if it is what a right answer does to models the learner
never saw.

Records go to the folder named by ``$COURSE_EVIDENCE``, which the grader creates empty for
each submission, and the fresh inputs follow the seed in ``$COURSE_EVIDENCE_SEED``, which the
grader draws for it. Outside grading (the instructor running the solutions) records go to a
temporary folder that is thrown away, and the seed is 0.

To write a new exercise's hidden test: add a function here that runs the answer on fresh
inputs and calls :func:`record`, and a judge of the same name in :mod:`helpers.verdicts`.
"""

from __future__ import annotations

from helpers import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything imports TensorFlow or Keras

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from helpers import EVIDENCE_ENV, EVIDENCE_SEED_ENV, fresh


def folder() -> Path:
    """Where records go: ``$COURSE_EVIDENCE`` while grading, else a fresh temporary folder."""
    configured = os.environ.get(EVIDENCE_ENV)
    return Path(configured) if configured else Path(tempfile.mkdtemp(prefix="evidence-"))


def seed() -> int:
    """The seed of this run's fresh inputs."""
    return int(os.environ.get(EVIDENCE_SEED_ENV, "0"))


def record(name: str, cases: list[dict], arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write ``name``'s record: ``cases`` as JSON, ``arrays`` as an ``.npz`` file."""
    target = folder()
    target.mkdir(parents=True, exist_ok=True)
    if arrays:
        np.savez(target / f"{name}.npz", **arrays)
    (target / f"{name}.json").write_text(json.dumps({"cases": cases}))


def error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it: ints stay ints, anything else becomes its repr."""
    if isinstance(value, (bool, np.bool_)):
        return {"repr": repr(bool(value))}
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    return {"repr": repr(value)[:200], "type": type(value).__name__}


def attempt(answer: Callable, *args) -> dict:
    """Call the learner's ``answer``; ``{"error": ...}`` if it raised."""
    try:
        return {"returned": plain(answer(*args))}
    except Exception as error:  # the learner's code can raise anything
        return {"error": error_text(error)}


# --- 01 -------------------------------------------------------------------------------------


def weight_counts(count_weights: Callable) -> None:
    """01.1: ``count_weights`` on each of :func:`helpers.fresh.weight_count_models`."""
    record("weight_counts", [attempt(count_weights, model) for model in
                             fresh.weight_count_models(seed())])


@contextlib.contextmanager
def _without_retracing_warnings():
    """Training several fresh models makes TensorFlow warn that it traced new functions: true,
    and expected here, so the warning is left out of the test cell's output."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _trained_weights(name: str, cases: list[fresh.TrainingCase], run: Callable) -> None:
    """For each case: a fresh seeded model; ``run(model, x, y)`` (the answer, and whatever the
    exercise's check does after it); then the model's weights and flags, and the optimizer's
    learning rate if it has one."""
    cases_out, arrays = [], {}
    for index, case in enumerate(cases):
        model = case.model()
        x, y = case.data()
        try:
            with _without_retracing_warnings():
                run(model, x, y)
        except Exception as error:
            cases_out.append({"error": error_text(error)})
            continue
        optimizer = getattr(model, "optimizer", None)
        rate = getattr(optimizer, "learning_rate", None)
        cases_out.append({"flags": {layer.name: bool(layer.trainable) for layer in model.layers},
                          "learning_rate": None if rate is None else float(np.asarray(rate))})
        for position, weight in enumerate(model.get_weights()):
            arrays[f"case{index}_weight{position}"] = weight
    record(name, cases_out, arrays)


def classifier_only_training(train_classifier_only: Callable) -> None:
    """01.2: ``train_classifier_only(model, x, y)`` on fresh encoder-classifier models."""
    _trained_weights("classifier_only_training", fresh.ENCODER_CASES,
                     lambda model, x, y: train_classifier_only(model, x, y))


# --- 02 and 04.2 ----------------------------------------------------------------------------


def _flags_after(name: str, cases: list[fresh.BaseCase], answer: Callable) -> None:
    """For each case: a fresh base, ``answer(base, argument)``, then the base's flags."""
    results = []
    for case in cases:
        base = case.base()
        outcome = attempt(answer, base, case.argument)
        if "error" not in outcome:
            outcome["flags"] = fresh.layer_flags(base)
        results.append(outcome)
    record(name, results)


def frozen_through(freeze_through: Callable) -> None:
    """02.1: ``freeze_through(base, last_frozen)`` on fresh bases and layer names."""
    _flags_after("frozen_through", fresh.frozen_through_cases(seed()), freeze_through)


def unfrozen_from(unfreeze_from: Callable) -> None:
    """02.2: ``unfreeze_from(base, first_trainable)`` on fresh bases and layer names."""
    _flags_after("unfrozen_from", fresh.unfrozen_from_cases(seed()), unfreeze_from)


def top_unfrozen_except_bn(unfreeze_top: Callable) -> None:
    """04.2: ``unfreeze_top(base, n_top)`` on fresh bases and counts."""
    _flags_after("top_unfrozen_except_bn", fresh.top_unfrozen_cases(seed()), unfreeze_top)


# --- 03 -------------------------------------------------------------------------------------


def _freeze_then_fit(answer: Callable, frozen_first: bool) -> Callable:
    def run(model, x, y):
        model.get_layer("base").trainable = not frozen_first
        fresh.compile_and_trace(model, x, y)
        answer(model)
        model.fit(x, y, epochs=1, batch_size=32, verbose=0, shuffle=False)
    return run


def freeze_takes_effect(freeze_base: Callable) -> None:
    """03.1: on a fresh model compiled and trained with ``base`` trainable, ``freeze_base``,
    then one epoch of ``fit``."""
    _trained_weights("freeze_takes_effect", fresh.BASE_HEAD_CASES,
                     _freeze_then_fit(freeze_base, frozen_first=False))


def unfreeze_takes_effect(unfreeze_base: Callable) -> None:
    """03.2: on a fresh model compiled and trained with ``base`` frozen, ``unfreeze_base``,
    then one epoch of ``fit``."""
    _trained_weights("unfreeze_takes_effect", fresh.BASE_HEAD_CASES,
                     _freeze_then_fit(unfreeze_base, frozen_first=True))


# --- 04.1 -----------------------------------------------------------------------------------


def unfrozen_bn_inference(prepare_fine_tuning: Callable) -> None:
    """04.1: ``prepare_fine_tuning(model, base)`` on a fresh frozen base with BatchNormalization
    inside a classifier compiled for head training."""
    import keras

    base = fresh.BN_CASE.model()
    base.trainable = False
    model = fresh.classifier_on(base)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    outcome = attempt(prepare_fine_tuning, model, base)
    if "error" not in outcome:
        rate = getattr(getattr(model, "optimizer", None), "learning_rate", None)
        outcome.update(flags=fresh.layer_flags(base),
                       learning_rate=None if rate is None else float(np.asarray(rate)))
    record("unfrozen_bn_inference", [outcome])
