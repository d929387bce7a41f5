"""The judge's half: decide each hidden test from its record, in a process of its own.

:mod:`helpers.judge` starts this module in a fresh Python (``-I``: no current folder, no user
site, no ``PYTHON*`` variables on the path), outside the learner's kernel, after the kernel
has finished. It reads what :mod:`helpers.evidence` recorded, rebuilds the same fresh models
(:mod:`helpers.fresh`), puts the recorded results, flags or weights onto them, and runs its
own copy of the checks (:mod:`helpers.grading`). A record counts only as data (JSON, and
``.npz`` arrays loaded without pickle), never as code.

Each judge below has the name of the evidence function it judges. It returns nothing when
the answer is right on every fresh input and raises :class:`helpers.feedback.CheckFailed`
(expected / found / hint) on the first one where it is not.
"""

from __future__ import annotations

from helpers import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything imports TensorFlow or Keras

import contextlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import keras
import numpy as np

from helpers import VERDICTS_PREFIX, fresh, grading, grading_logos
from helpers.feedback import CheckFailed

#: The largest record read, in bytes: the fresh models are small, and a record is only data.
MAX_RECORD_BYTES = 64 * 2**20


@dataclass
class Record:
    """What the kernel recorded for one hidden test: one entry per fresh input, arrays, and
    the folder holding it (and any model the kernel saved there)."""

    cases: list[dict]
    arrays: dict[str, np.ndarray]
    folder: Path

    def weights(self, case: int) -> list[np.ndarray]:
        prefix = f"case{case}_weight"
        count = sum(key.startswith(prefix) for key in self.arrays)
        return [self.arrays[f"{prefix}{position}"] for position in range(count)]


def load(folder: Path, name: str) -> Record | None:
    """``name``'s record in ``folder``, or None when the kernel never wrote one."""
    cases_file, arrays_file = folder / f"{name}.json", folder / f"{name}.npz"
    if not cases_file.is_file():
        return None
    for file in [cases_file, arrays_file, *folder.glob("*.keras")]:
        if file.is_symlink():
            raise ValueError(f"{file.name} is a link, not a record")
        if file.is_file() and file.stat().st_size > MAX_RECORD_BYTES:
            raise ValueError(f"{file.name} is larger than {MAX_RECORD_BYTES} bytes")
    cases = json.loads(cases_file.read_text())["cases"]
    arrays = {}
    if arrays_file.is_file():
        with np.load(arrays_file, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    return Record(list(cases), arrays, folder)


def recorded_error(case: dict) -> None:
    """Fail with the error the learner's code raised on this input, if it raised one."""
    if "error" in case:
        grading.fail("your function runs on an input it has not seen", "no error",
                     str(case["error"]),
                     "work only from the arguments your function is given, not from the "
                     "notebook's own variables.")


def revive(value: Any) -> Any:
    """A recorded return value as the check can inspect it (see evidence.plain)."""
    if isinstance(value, list):
        return tuple(revive(item) for item in value)
    if isinstance(value, dict):  # anything that was not an int: keep its type name and repr
        text = str(value.get("repr"))
        kind = str(value.get("type", "object"))
        return type(kind if kind.isidentifier() else "object", (), {"__repr__": lambda _: text})()
    return value


def paired(inputs: list, record: Record) -> list[tuple[int, Any, dict]]:
    """(index, fresh input, recorded entry) for every fresh input, each with its record."""
    if len(record.cases) != len(inputs):
        grading.fail("your answer ran on every input the grader gave it",
                     f"{len(inputs)} recorded results", f"{len(record.cases)}",
                     "run the notebook from the top, as it is, without changing the test cells.")
    return [(index, item, entry) for index, (item, entry) in
            enumerate(zip(inputs, record.cases))]


def single(record: Record) -> dict:
    """The entry of a record made for one fresh input."""
    return paired([None], record)[0][2]


@contextlib.contextmanager
def on(description: str) -> Iterator[None]:
    """Say which fresh input a failure is about."""
    try:
        yield
    except CheckFailed as failure:
        raise type(failure)(f"{failure}\n  graded on: {description}, an input the notebook "
                            "does not show") from None


# --- judges ----------------------------------------------------------------------------------


def weight_counts(record: Record, seed: int) -> None:
    for _, model, case in paired(fresh.weight_count_models(seed), record):
        with on(fresh.describe_model(model)):
            def replay(_model, case=case):
                recorded_error(case)
                return revive(case["returned"])
            grading.check_weight_counts(replay, model)


def _put_recorded_weights(model: keras.Model, entry: dict, weights: list[np.ndarray],
                          loss: Any = "mse") -> list[np.ndarray]:
    """Put the recorded weights on the fresh ``model``, compiled at the recorded learning rate
    if the answer left an optimizer; return the model's initial weights."""
    recorded_error(entry)
    initial = model.get_weights()
    if [w.shape for w in weights] != [w.shape for w in initial]:
        grading.fail("the model trained is the one given", "the given model's weights",
                     "weights of other shapes", "train the model passed to your function.")
    model.set_weights(weights)
    if entry.get("learning_rate") is not None:
        model.compile(optimizer=keras.optimizers.Adam(entry["learning_rate"]), loss=loss)
    return initial


def _with_recorded_weights(case: fresh.TrainingCase, entry: dict, weights: list[np.ndarray]
                           ) -> tuple[keras.Model, list[np.ndarray]]:
    """The case's fresh model holding the recorded weights and flags, and its initial weights."""
    model = case.model()
    initial = _put_recorded_weights(model, entry, weights)
    for name, trainable in entry.get("flags", {}).items():
        if name in {"encoder", "classifier", "base", "head"}:
            model.get_layer(name).trainable = bool(trainable)
    return model, initial


def classifier_only_training(record: Record, seed: int) -> None:
    for index, case, entry in paired(fresh.ENCODER_CASES, record):
        with on(case.describe()):
            model, initial = _with_recorded_weights(case, entry, record.weights(index))
            position = {id(variable): i for i, variable in enumerate(model.weights)}
            before = {name: [initial[position[id(w)]] for w in model.get_layer(name).weights]
                      for name in ["encoder", "classifier"]}
            grading.check_frozen_during_fit(model, before["encoder"], before["classifier"])


def freeze_takes_effect(record: Record, seed: int) -> None:
    for index, case, entry in paired(fresh.BASE_HEAD_CASES, record):
        with on(case.describe()):
            model, initial = _with_recorded_weights(case, entry, record.weights(index))
            grading.check_fit_after_freezing(model, initial)


def unfreeze_takes_effect(record: Record, seed: int) -> None:
    for index, case, entry in paired(fresh.BASE_HEAD_CASES, record):
        with on(case.describe()):
            model, initial = _with_recorded_weights(case, entry, record.weights(index))
            grading.check_fit_after_unfreezing(model, initial, max_learning_rate=1e-4)


def _flags_judge(cases: Callable[[int], list[fresh.BaseCase]], check: Callable
                 ) -> Callable[[Record, int], None]:
    def judge(record: Record, seed: int) -> None:
        for _, case, entry in paired(cases(seed), record):
            with on(case.describe()):
                recorded_error(entry)
                base = case.build()
                fresh.apply_layer_flags(base, entry["flags"])
                check(base, case.argument)
    return judge


frozen_through = _flags_judge(fresh.frozen_through_cases, grading.check_frozen_through)
unfrozen_from = _flags_judge(fresh.unfrozen_from_cases, grading.check_unfrozen_from)
top_unfrozen_except_bn = _flags_judge(fresh.top_unfrozen_cases,
                                      grading.check_top_unfrozen_except_bn)


def unfrozen_bn_inference(record: Record, seed: int) -> None:
    entry = single(record)
    with on(fresh.BN_CASE.describe()):
        recorded_error(entry)
        base = fresh.BN_CASE.model()
        model = fresh.classifier_on(base)
        fresh.apply_layer_flags(base, entry["flags"])
        if entry.get("learning_rate") is not None:
            model.compile(optimizer=keras.optimizers.Adam(entry["learning_rate"]), loss="mse")
        images, _ = fresh.BN_CASE.data()
        grading.check_unfrozen_bn_inference(model, base, images)


def extracted_features(record: Record, seed: int) -> None:
    entry = single(record)
    with on("a random extractor on 24 random images, read in a new order on every pass"):
        recorded_error(entry)
        images, labels = fresh.labelled_images()
        result = ((record.arrays["features"], record.arrays["labels"])
                  if entry.get("returned") == "arrays" else revive(entry.get("returned")))
        grading.check_recorded_features(result, fresh.feature_extractor(), images, labels)


def logit_head(record: Record, seed: int) -> None:
    entry = single(record)
    epochs = fresh.head_epochs(seed)
    with on(f"random separable features of dimension 6, {epochs} epochs"):
        recorded_error(entry)
        head = keras.saving.load_model(record.folder / "logit_head.keras", safe_mode=True)
        history = SimpleNamespace(epoch=entry["epoch"], history=entry["history"])
        validation = fresh.separable_features(seed)["validation"]
        grading.check_logit_head(head, history, epochs, validation=validation)


def ranking(record: Record, seed: int) -> None:
    entry = single(record)
    with on("8 search results with other accuracies"):
        recorded_error(entry)
        results = fresh.results_to_rank(seed)
        by_name = {result["name"]: result for result in results}
        if not entry.get("same_entries"):
            grading.fail("`rank_by_validation` returns the entries it is given",
                         "the same dict objects, reordered", "new or changed objects",
                         "return sorted(results, key=..., reverse=True): it reorders the "
                         "entries without copying or changing them.")
        ranked = [by_name.get(name, {"name": name, "val_accuracy": float("nan")})
                  for name in entry["names"]]
        grading.check_ranking(ranked, ranked[0] if ranked else None, results,
                              key="val_accuracy")


def _expect_small_cnn_inside(model: keras.Model) -> None:
    """Fail unless ``model`` holds the fresh base it was given (a layer named small_cnn)."""
    names = [layer.name for layer in model.layers]
    if "small_cnn" not in names:
        grading.fail("the model is built on the base it is given", "a layer named 'small_cnn'",
                     ", ".join(names)[:200],
                     "call the `base` passed to your function, not another one.")


def classifier_on_frozen_base(record: Record, seed: int) -> None:
    entry = single(record)
    with on("a small CNN with BatchNormalization as the base, 16x16 images"):
        recorded_error(entry)
        model = keras.saving.load_model(record.folder / "classifier.keras", safe_mode=True)
        _expect_small_cnn_inside(model)
        images, _ = fresh.binary_images(64, 8)
        grading.check_frozen_base_in_inference_mode(
            model, model.get_layer("small_cnn"), images, fresh.pixels_to_unit)


def _fine_tuning_model_with(entry: dict, weights: list[np.ndarray]
                            ) -> tuple[keras.Model, keras.Model, list[np.ndarray]]:
    """06's fresh classifier and base holding the recorded weights and flags; its initial
    weights."""
    model, base = fresh.fine_tuning_model()
    initial = _put_recorded_weights(model, entry, weights, loss=fresh.binary_loss())
    fresh.apply_layer_flags(base, entry["flags"])
    return model, base, initial


def unfrozen_for_fine_tuning(record: Record, seed: int) -> None:
    entry = single(record)
    with on(f"a small CNN base with BatchNormalization, learning_rate={fresh.FINE_TUNE_RATE:g}"):
        model, base, initial = _fine_tuning_model_with(entry, record.weights(0))
        grading.check_fit_after_preparing(model, base, initial, fresh.FINE_TUNE_RATE)


def fine_tune_run(record: Record, seed: int) -> None:
    entry = single(record)
    with on("a small CNN classifier, 32 training and 16 validation images, 2 epochs"):
        model, base, initial = _fine_tuning_model_with(entry, record.weights(0))
        history = SimpleNamespace(epoch=entry["epoch"], history=entry["history"])
        grading.check_fine_tune_run(model, base, history, initial, fresh.validation_batches(),
                                    int(entry["train_batches"]), fresh.FINE_TUNE_TRAIN_BATCHES)


def classifier_for_classes(record: Record, seed: int) -> None:
    entry = single(record)
    names = fresh.class_names(seed)
    with on(f"a small CNN base, {len(names)} classes"):
        recorded_error(entry)
        model = keras.saving.load_model(record.folder / "classifier_for_classes.keras",
                                        safe_mode=True)
        _expect_small_cnn_inside(model)
        grading_logos.check_classifier_head(model, names, fresh.binary_images(75, 4)[0])


def loss_for_label_modes(record: Record, seed: int) -> None:
    entry = single(record)
    with on("a batch of labels of each mode, with other classes and probabilities"):
        recorded_error(entry)
        grading_logos.check_loss_values(
            {mode: value for mode, value in entry.items() if isinstance(value, (float, str))},
            seed)


unfrozen_from_block = _flags_judge(fresh.block_cases, grading_logos.check_unfrozen_from_block)


def discriminative_step(record: Record, seed: int) -> None:
    entry = single(record)
    case = fresh.rates_case(seed)
    with on(case.describe()):
        model, base = case.model()
        initial = _put_recorded_weights(model, entry, record.weights(0))
        grading_logos.check_discriminative_step(model, base, initial, case.base_rate,
                                                case.head_rate)


JUDGES: dict[str, Callable[[Record, int], None]] = {
    "weight_counts": weight_counts, "classifier_only_training": classifier_only_training,
    "frozen_through": frozen_through, "unfrozen_from": unfrozen_from,
    "freeze_takes_effect": freeze_takes_effect, "unfreeze_takes_effect": unfreeze_takes_effect,
    "unfrozen_bn_inference": unfrozen_bn_inference,
    "top_unfrozen_except_bn": top_unfrozen_except_bn,
    "extracted_features": extracted_features, "logit_head": logit_head, "ranking": ranking,
    "classifier_on_frozen_base": classifier_on_frozen_base,
    "unfrozen_for_fine_tuning": unfrozen_for_fine_tuning, "fine_tune_run": fine_tune_run,
    "classifier_for_classes": classifier_for_classes,
    "loss_for_label_modes": loss_for_label_modes, "unfrozen_from_block": unfrozen_from_block,
    "discriminative_step": discriminative_step,
}


def verdict(folder: Path, name: str, seed: int = 0) -> dict:
    """``{"passed": bool, "message": str}``, or ``{"missing": True}`` without a record."""
    if name not in JUDGES:
        return {"passed": False, "message": f"✗ no judge named {name!r} (a course error)"}
    try:
        record = load(folder, name)
    except (ValueError, OSError, KeyError, TypeError) as error:
        return {"passed": False, "message": f"✗ the record of your answer could not be read\n"
                                            f"  found:    {type(error).__name__}: {error}"}
    if record is None:
        return {"missing": True}
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            JUDGES[name](record, seed)
    except CheckFailed as failure:
        return {"passed": False, "message": str(failure)}
    except Exception as error:  # a record of the wrong form
        return {"passed": False, "message": "✗ the record of your answer has an unexpected "
                                            f"form\n  found:    {type(error).__name__}: {error}"}
    checked = list(dict.fromkeys(printed.getvalue().splitlines()))
    return {"passed": True, "message": "\n".join(checked) + f"\n  (on {len(record.cases)} "
            "input(s) the notebook does not show)"}


def main() -> None:
    """Judge requests read from stdin, one JSON line each (``{"folder": ..., "names": [...],
    "seed": ...}``, the seed the grader drew for the submission's fresh inputs),
    answering each with one line: :data:`helpers.VERDICTS_PREFIX` and the verdicts as JSON.

    One process serves every submission of an ``nbgrader autograde`` run, so TensorFlow is
    imported once per run, not once per submission. It only ever reads records as data.
    """
    for line in sys.stdin:
        request = json.loads(line)
        verdicts = {name: verdict(Path(request["folder"]), name, int(request["seed"]))
                    for name in request["names"]}
        keras.backend.clear_session()  # nothing of one submission's models stays for the next
        sys.stdout.write(VERDICTS_PREFIX + json.dumps(verdicts) + "\n")
        sys.stdout.flush()
