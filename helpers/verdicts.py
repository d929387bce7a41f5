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
from typing import Any, Callable, Iterator

import keras
import numpy as np

from helpers import VERDICTS_PREFIX, fresh, grading
from helpers.feedback import CheckFailed

#: The largest record read, in bytes: the fresh models are small, and a record is only data.
MAX_RECORD_BYTES = 64 * 2**20


@dataclass
class Record:
    """What the kernel recorded for one hidden test: one entry per fresh input, and arrays."""

    cases: list[dict]
    arrays: dict[str, np.ndarray]

    def weights(self, case: int) -> list[np.ndarray]:
        prefix = f"case{case}_weight"
        count = sum(key.startswith(prefix) for key in self.arrays)
        return [self.arrays[f"{prefix}{position}"] for position in range(count)]


def load(folder: Path, name: str) -> Record | None:
    """``name``'s record in ``folder``, or None when the kernel never wrote one."""
    cases_file, arrays_file = folder / f"{name}.json", folder / f"{name}.npz"
    if not cases_file.is_file():
        return None
    for file in [cases_file, arrays_file]:
        if file.is_file() and file.stat().st_size > MAX_RECORD_BYTES:
            raise ValueError(f"{file.name} is larger than {MAX_RECORD_BYTES} bytes")
    cases = json.loads(cases_file.read_text())["cases"]
    arrays = {}
    if arrays_file.is_file():
        with np.load(arrays_file, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    return Record(list(cases), arrays)


def recorded_error(case: dict) -> None:
    """Re-raise the error the learner's code raised on this input, under its own class name."""
    if "error" in case:
        name, _, message = str(case["error"]).partition(": ")
        raise type(name if name.isidentifier() else "Error", (Exception,), {})(message)


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


def _with_recorded_weights(case: fresh.TrainingCase, entry: dict, weights: list[np.ndarray]
                           ) -> tuple[keras.Model, list[np.ndarray]]:
    """The case's fresh model holding the recorded weights, and its initial weights."""
    recorded_error(entry)
    model = case.model()
    initial = model.get_weights()
    if [w.shape for w in weights] != [w.shape for w in initial]:
        grading.fail("the model trained is the one given", "the given model's weights",
                     "weights of other shapes", "train the model passed to your function.")
    model.set_weights(weights)
    for name, trainable in entry.get("flags", {}).items():
        if name in {"encoder", "classifier", "base", "head"}:
            model.get_layer(name).trainable = bool(trainable)
    if entry.get("learning_rate") is not None:
        model.compile(optimizer=keras.optimizers.Adam(entry["learning_rate"]), loss="mse")
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
    ((_, _, entry),) = paired([fresh.BN_CASE], record)
    with on(fresh.BN_CASE.describe()):
        recorded_error(entry)
        base = fresh.BN_CASE.model()
        model = fresh.classifier_on(base)
        fresh.apply_layer_flags(base, entry["flags"])
        if entry.get("learning_rate") is not None:
            model.compile(optimizer=keras.optimizers.Adam(entry["learning_rate"]), loss="mse")
        images, _ = fresh.BN_CASE.data()
        grading.check_unfrozen_bn_inference(model, base, images)


JUDGES: dict[str, Callable[[Record, int], None]] = {
    "weight_counts": weight_counts, "classifier_only_training": classifier_only_training,
    "frozen_through": frozen_through, "unfrozen_from": unfrozen_from,
    "freeze_takes_effect": freeze_takes_effect, "unfreeze_takes_effect": unfreeze_takes_effect,
    "unfrozen_bn_inference": unfrozen_bn_inference,
    "top_unfrozen_except_bn": top_unfrozen_except_bn,
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
