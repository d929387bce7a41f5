"""The judge's process: decide each hidden test from its record, outside the learner's kernel.

:mod:`grader.judge` starts this module in a fresh Python (``-I``: no current folder, no user
site, no ``PYTHON*`` variables on the path), after the kernel has finished. For each test
cell it looks the exercise up by name in the registry (:func:`exercises.exercise`), reads
the record as data (:func:`grader.records.load`), rebuilds the exercise's fresh inputs from
the submission's seed, and runs the exercise's judge on them. Nothing here knows any one
exercise.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

from grader import records

#: The judge's output line that holds its verdicts, as JSON.
VERDICTS_PREFIX = "VERDICTS "


def verdict(folder: Path, name: str, seed: int = 0) -> dict:
    """``{"passed": bool, "message": str}``, or ``{"missing": True}`` without a record."""
    import exercises
    from exercises.checks import CheckFailed

    try:
        chosen = exercises.exercise(name)
    except KeyError:
        return {"passed": False, "message": f"✗ no exercise named {name!r} (a course error)"}
    try:
        record = records.load(folder, name)
    except Exception as error:  # whatever the kernel left there (RecursionError, MemoryError)
        return {"passed": False, "message": f"✗ the record of your answer could not be read\n"
                                            f"  found:    {type(error).__name__}: {error}"}
    if record is None:
        return {"missing": True}
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            chosen.judge(record, chosen.inputs(seed))
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
    answering each with one line: :data:`VERDICTS_PREFIX` and the verdicts as JSON.

    One process serves every submission of an ``nbgrader autograde`` run, so TensorFlow is
    imported once per run, not once per submission. It only ever reads records as data.
    """
    import keras

    for line in sys.stdin:
        request = json.loads(line)
        verdicts = {name: verdict(Path(request["folder"]), name, int(request["seed"]))
                    for name in request["names"]}
        keras.backend.clear_session()  # nothing of one submission's models stays for the next
        sys.stdout.write(VERDICTS_PREFIX + json.dumps(verdicts) + "\n")
        sys.stdout.flush()
