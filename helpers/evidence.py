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
import io
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from helpers import EVIDENCE_ENV, EVIDENCE_SEED_ENV, fresh


_OUTSIDE_GRADING: tempfile.TemporaryDirectory | None = None


def folder() -> Path:
    """Where records go: ``$COURSE_EVIDENCE`` while grading, else one temporary folder for
    this kernel (removed when it exits)."""
    global _OUTSIDE_GRADING
    configured = os.environ.get(EVIDENCE_ENV)
    if configured:
        return Path(configured)
    if _OUTSIDE_GRADING is None:
        _OUTSIDE_GRADING = tempfile.TemporaryDirectory(prefix="evidence-")
    return Path(_OUTSIDE_GRADING.name)


def learning_rate(model) -> float | None:
    """The learning rate of ``model``'s optimizer, or None without one."""
    rate = getattr(getattr(model, "optimizer", None), "learning_rate", None)
    return None if rate is None else float(np.asarray(rate))


def weight_arrays(index: int, model) -> dict[str, np.ndarray]:
    """``model``'s weights, named as case ``index``'s arrays in a record."""
    return {f"case{index}_weight{position}": weight
            for position, weight in enumerate(model.get_weights())}


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


@contextlib.contextmanager
def quietly():
    """Run the answer on fresh inputs without filling the test cell: what it prints there
    (progress bars) is dropped, and so are Python's warnings and TensorFlow's warning that
    training several fresh models traced new functions (true, and expected here)."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def attempt(answer: Callable, *args) -> dict:
    """Call the learner's ``answer``; ``{"error": ...}`` if it raised."""
    try:
        with quietly():
            return {"returned": plain(answer(*args))}
    except Exception as error:  # the learner's code can raise anything
        return {"error": error_text(error)}


# --- 01 -------------------------------------------------------------------------------------


def weight_counts(count_weights: Callable) -> None:
    """01.1: ``count_weights`` on each of :func:`helpers.fresh.weight_count_models`."""
    record("weight_counts", [attempt(count_weights, model) for model in
                             fresh.weight_count_models(seed())])


def _trained_weights(name: str, cases: list[fresh.TrainingCase], run: Callable) -> None:
    """For each case: a fresh seeded model; ``run(model, x, y)`` (the answer, and whatever the
    exercise's check does after it); then the model's weights and flags, and the optimizer's
    learning rate if it has one."""
    cases_out, arrays = [], {}
    for index, case in enumerate(cases):
        model = case.model()
        x, y = case.data()
        try:
            with quietly():
                run(model, x, y)
        except Exception as error:
            cases_out.append({"error": error_text(error)})
            continue
        cases_out.append({"flags": {layer.name: bool(layer.trainable) for layer in model.layers},
                          "learning_rate": learning_rate(model)})
        arrays.update(weight_arrays(index, model))
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
        outcome.update(flags=fresh.layer_flags(base), learning_rate=learning_rate(model))
    record("unfrozen_bn_inference", [outcome])


# --- 05 -------------------------------------------------------------------------------------


def extracted_features(extract_features: Callable) -> None:
    """05.1: ``extract_features(feature_extractor, dataset)`` with a fresh extractor, on fresh
    images read in a new order on every pass."""
    images, labels = fresh.labelled_images()
    try:
        with quietly():
            result = extract_features(fresh.feature_extractor(), fresh.reshuffled(images, labels))
    except Exception as error:
        record("extracted_features", [{"error": error_text(error)}])
        return
    if not isinstance(result, tuple) or len(result) != 2:
        record("extracted_features", [{"returned": plain(result)}])
        return
    record("extracted_features", [{"returned": "arrays"}],
           {"features": np.asarray(result[0], dtype="float32"),
            "labels": np.asarray(result[1], dtype="float32")})


def logit_head(train_logit_head: Callable) -> None:
    """05.2: ``train_logit_head(train_features, train_labels, val_features, val_labels,
    epochs)`` on fresh features; the head is saved as a ``.keras`` file, with its history."""
    splits, epochs = fresh.separable_features(seed()), fresh.head_epochs(seed())
    try:
        with quietly():
            head, history = train_logit_head(*splits["train"], *splits["validation"], epochs)
        head.save(folder() / "logit_head.keras")
        entry = {"epoch": [int(epoch) for epoch in history.epoch],
                 "history": {key: [float(value) for value in values]
                             for key, values in history.history.items()}}
    except Exception as error:
        entry = {"error": error_text(error)}
    record("logit_head", [entry])


def ranking(rank_by_validation: Callable) -> None:
    """05.3: ``rank_by_validation(results)`` on fresh search results; records the names of
    the entries it returned, in order, and whether each is one of the entries it was given."""
    results = fresh.results_to_rank(seed())
    given = {id(entry) for entry in results}
    try:
        with quietly():
            ranked = list(rank_by_validation(results))
        entry = {"names": [str(item.get("name")) if isinstance(item, dict) else repr(item)[:80]
                           for item in ranked],
                 "same_entries": all(id(item) in given for item in ranked)}
    except Exception as error:
        entry = {"error": error_text(error)}
    record("ranking", [entry])


# --- 06 -------------------------------------------------------------------------------------


def classifier_on_frozen_base(build_classifier: Callable) -> None:
    """06.1: ``build_classifier(base, image_size)`` around a fresh base; the model is saved as
    a ``.keras`` file (its layers, their flags and the arguments of every call)."""
    try:
        with quietly():
            model = build_classifier(fresh.fine_tuning_base(), 16)
            model.save(folder() / "classifier.keras")
        entry = {"saved": "classifier.keras"}
    except Exception as error:
        entry = {"error": error_text(error)}
    record("classifier_on_frozen_base", [entry])


def _weights_entry(model, base) -> tuple[dict, dict]:
    entry = {"flags": fresh.layer_flags(base), "learning_rate": learning_rate(model)}
    return entry, weight_arrays(0, model)


def unfrozen_for_fine_tuning(prepare_fine_tuning: Callable) -> None:
    """06.2: on a fresh classifier trained with its base frozen, ``prepare_fine_tuning(model,
    base, learning_rate)``, then one epoch of ``fit``."""
    import keras

    model, base = fresh.fine_tuning_model()
    x, y = fresh.binary_images(61, 16)
    initial = model.get_weights()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=fresh.binary_loss())
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    model.set_weights(initial)
    try:
        with quietly():
            prepare_fine_tuning(model, base, fresh.FINE_TUNE_RATE)
            model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    except Exception as error:
        record("unfrozen_for_fine_tuning", [{"error": error_text(error)}])
        return
    entry, arrays = _weights_entry(model, base)
    record("unfrozen_for_fine_tuning", [entry], arrays)


def fine_tune_run(fine_tune: Callable) -> None:
    """06.3: ``fine_tune(model, train, validation, epochs, callbacks)`` on a fresh classifier
    prepared for fine-tuning, with fresh data; counts the training batches it read."""
    import tensorflow as tf

    model, base = fresh.fine_tuning_model()
    fresh.prepare_for_fine_tuning(model, base)
    images, labels = fresh.binary_images(63, fresh.FINE_TUNE_BATCH * fresh.FINE_TUNE_TRAIN_BATCHES)
    read = {"batches": 0}

    def batches():
        for start in range(0, len(labels), fresh.FINE_TUNE_BATCH):
            read["batches"] += 1
            yield images[start:start + fresh.FINE_TUNE_BATCH], labels[start:start + fresh.FINE_TUNE_BATCH]

    train = tf.data.Dataset.from_generator(batches, output_signature=(
        tf.TensorSpec((None, 16, 16, 3), tf.float32), tf.TensorSpec((None,), tf.float32)))
    try:
        with quietly():
            history = fine_tune(model, train, fresh.validation_batches(), 2, [])
        entry, arrays = _weights_entry(model, base)
        entry.update(epoch=[int(epoch) for epoch in history.epoch],
                     history={key: [float(value) for value in values]
                              for key, values in history.history.items()},
                     train_batches=read["batches"])
    except Exception as error:
        record("fine_tune_run", [{"error": error_text(error)}])
        return
    record("fine_tune_run", [entry], arrays)


# --- 07 -------------------------------------------------------------------------------------


def classifier_for_classes(build_classifier: Callable) -> None:
    """07.1: ``build_classifier(base, class_names, preprocessing)`` on a fresh frozen base,
    with a number of classes drawn for this run; the model is saved as a ``.keras`` file."""
    import keras

    try:
        with quietly():
            model = build_classifier(fresh.frozen_small_base(), fresh.class_names(seed()),
                                     keras.layers.Rescaling(1 / 255))
            model.save(folder() / "classifier_for_classes.keras")
        entry = {"saved": "classifier_for_classes.keras"}
    except Exception as error:
        entry = {"error": error_text(error)}
    record("classifier_for_classes", [entry])


def loss_for_label_modes(loss_for: Callable) -> None:
    """07.2: the value of ``loss_for(mode)`` on a fresh batch of each label mode."""
    from helpers import grading_logos

    with quietly():
        record("loss_for_label_modes", [grading_logos.loss_values(loss_for, seed())])


def unfrozen_from_block(unfreeze_from_block: Callable) -> None:
    """07.3: ``unfreeze_from_block(base, block)`` on fresh bases and block names."""
    _flags_after("unfrozen_from_block", fresh.block_cases(seed()), unfreeze_from_block)


def discriminative_step(discriminative_optimizer: Callable) -> None:
    """07.4: one training step of a fresh classifier with the optimizer
    ``discriminative_optimizer(base, base_rate, head_rate)`` builds, at rates drawn for this
    run; records the weights after it."""
    from helpers import grading_logos

    try:
        with quietly():
            model, _, _ = grading_logos.rates_step(discriminative_optimizer,
                                                   fresh.rates_case(seed()))
    except Exception as error:
        record("discriminative_step", [{"error": error_text(error)}])
        return
    record("discriminative_step", [{"stepped": True}], weight_arrays(0, model))
