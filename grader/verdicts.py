"""The judge's process: build each hidden test's fresh inputs, and decide it from its record,
outside the learner's kernel and the answer runner.

:mod:`grader.judge` starts this module in a fresh Python (``-I``: no current folder, no user
site, no ``PYTHON*`` variables on the path), while the first kernel runs. For each test
cell it looks the exercise up by name in the registry (:func:`exercises.exercise`), builds
its fresh inputs from the submission's seed for the answer runner (:func:`write_inputs`),
then reads the answer runner's record as data (:func:`grader.records.load`), rebuilds the
same inputs, and runs the exercise's judge on them (:func:`verdict`). Nothing here knows
any one exercise.
"""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import sys
from pathlib import Path

from grader import records

#: The judge's output line that holds its verdicts, as JSON.
VERDICTS_PREFIX = "VERDICTS "
#: The fresh inputs built for the submission being graded, by (exercise name, seed): its
#: records are judged on the very inputs pickled for its answer runner, not built twice.
_built: dict[tuple[str, int], object] = {}


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
        try:
            reason = records.not_run(folder, name)
        except Exception as error:  # a trap in place of the message
            reason = f"✗ your answer was not run on the grader's inputs ({error})"
        if reason is None:
            return {"missing": True}
        return {"passed": False, "message": reason if reason.startswith("✗") else "✗ " + reason}
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            built = _built.pop((name, seed)) if (name, seed) in _built else chosen.inputs(seed)
            chosen.judge(record, built)
    except CheckFailed as failure:
        return {"passed": False, "message": str(failure)}
    except Exception as error:  # a record of the wrong form
        return {"passed": False, "message": "✗ the record of your answer has an unexpected "
                                            f"form\n  found:    {type(error).__name__}: {error}"}
    checked = list(dict.fromkeys(printed.getvalue().splitlines()))
    return {"passed": True, "message": "\n".join(checked) + f"\n  (on {len(record.cases)} "
            "input(s) the notebook does not show)"}


def write_inputs(folder: Path, name: str, seed: int) -> dict:
    """Pickle exercise ``name``'s fresh inputs for ``seed`` into ``folder``, for the answer
    runner (which never learns the seed); ``{}``, or ``{"error": ...}`` for a course error."""
    import exercises
    from grader.answer_runner import INPUTS_FILE

    try:
        made = exercises.exercise(name).inputs(seed)
        path = folder / INPUTS_FILE.format(name=name)
        with open(path, "xb") as file:  # a fresh file in the grader's own folder
            pickle.dump(made, file)
        path.chmod(0o644)
        _built[(name, seed)] = made
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"[:500]}
    return {}


def main() -> None:
    """Requests read from stdin, one JSON line each (``{"task": "inputs" or "verdicts",
    "folder": ..., "names": [...], "seed": ...}``, the seed the grader drew for the
    submission's fresh inputs), answering each with one line: :data:`VERDICTS_PREFIX` and a
    result per name as JSON. "inputs" writes each exercise's fresh inputs to the folder
    (:func:`write_inputs`); "verdicts" judges the records the folder holds (:func:`verdict`).

    One process serves every submission of an ``nbgrader autograde`` run, so TensorFlow is
    imported once per run, not once per submission. It only ever reads records as data.
    What one submission's requests built is dropped after its verdicts.
    """
    import keras

    for line in sys.stdin:
        request = json.loads(line)
        task = write_inputs if request.get("task") == "inputs" else verdict
        verdicts = {name: task(Path(request["folder"]), name, int(request["seed"]))
                    for name in request["names"]}
        if task is verdict:  # nothing of one submission's models stays for the next
            _built.clear()
            keras.backend.clear_session()
        sys.stdout.write(VERDICTS_PREFIX + json.dumps(verdicts) + "\n")
        sys.stdout.flush()
