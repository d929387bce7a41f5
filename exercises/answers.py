"""Running a learner's answer on fresh inputs, and reading back what it did.

In the kernel, :func:`attempt` and :func:`quietly` run the answer without letting it fill
the test cell, and :func:`plain` turns what it returned into JSON a record can hold. In the
judge, :func:`paired` lines the recorded entries up with the rebuilt inputs, :func:`revive`
turns a recorded value back into one a check can inspect, :func:`recorded_error` fails with
the error the answer raised, and :func:`on` says which fresh input a failure is about.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Any, Callable, Iterator

import numpy as np

from exercises.checks import CheckFailed, fail, optimizer_rate
from grader.records import Record


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


def revive(value: Any) -> Any:
    """A recorded return value as the check can inspect it (see :func:`plain`)."""
    if isinstance(value, list):
        return tuple(revive(item) for item in value)
    if isinstance(value, dict):  # anything that was not an int: keep its type name and repr
        text = str(value.get("repr"))
        kind = str(value.get("type", "object"))
        return type(kind if kind.isidentifier() else "object", (), {"__repr__": lambda _: text})()
    return value


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
    """Call the learner's ``answer``; ``{"returned": ...}``, or ``{"error": ...}`` if it
    raised."""
    try:
        with quietly():
            return {"returned": plain(answer(*args))}
    except Exception as error:  # the learner's code can raise anything
        return {"error": error_text(error)}


def learning_rate(model) -> float | None:
    """The learning rate ``model``'s optimizer steps with (NaN for an optimizer that is not
    one of Keras's own, see :func:`exercises.checks.optimizer_rate`), or None without one."""
    optimizer = getattr(model, "optimizer", None)
    return None if optimizer is None else optimizer_rate(optimizer)


def recorded_error(case: dict) -> None:
    """Fail with the error the learner's code raised on this input, if it raised one."""
    if "error" in case:
        fail("your function runs on an input it has not seen", "no error", str(case["error"]),
             "work only from the arguments your function is given, not from the notebook's "
             "own variables.")


def paired(inputs: list, record: Record) -> list[tuple[int, Any, dict]]:
    """(index, fresh input, recorded entry) for every fresh input, each with its entry."""
    if len(record.cases) != len(inputs):
        fail("your answer ran on every input the grader gave it",
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
