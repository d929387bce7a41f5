"""The answer runner (grader/answer_runner.py): only the answers' definitions run, each
exercise in a process of its own, on inputs the grader built, with no seed in sight.

The round trip (test_nbgrader.py) and the hostile batch (test_sandbox.py) run it in the
sandbox through `make autograde`; here it runs unsandboxed, to test what it selects and how
it keeps exercises apart."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from nbformat.v4 import new_code_cell, new_notebook

from conftest import needs_mirror
from grader import answer_runner, judge, records, verdicts
from grader.judge import AnswerRunner, CollectEvidence
from grader.sandbox import Sandbox


def selected(cells: list[str], answer: str) -> list[str]:
    return [ast.unparse(statement).splitlines()[0]
            for statement in answer_runner.definitions(cells, answer)]


def test_only_the_answers_definitions_and_what_they_read_run():
    cells = ["import os\nimport numpy as np\nscale = 3",
             "def helper(x):\n    return x * scale\nos.system('touch /tmp/x')\n"
             "import exercises\nexercises.write_record = None\nunused = helper(2)",
             "def count(model):\n    return helper(len(model.weights))\n"
             "count(object())\nprint('a demonstration')"]
    assert selected(cells, "count") == ["scale = 3", "def helper(x):", "def count(model):"]


def test_a_functions_own_names_pull_in_nothing_from_the_notebook():
    cells = ["import keras\nmodel = keras.applications.Xception()\nbase = model.layers[1]",
             "def freeze(model, base):\n    base.trainable = False\n    for layer in model.layers:"
             "\n        layer.trainable = False\n    return [keras.layers.Dense(1)]"]
    assert selected(cells, "freeze") == ["import keras", "def freeze(model, base):"]


def test_ipython_syntax_and_a_broken_cell_leave_the_rest():
    cells = ["%matplotlib inline\n!ls\ndef helper():\n    return 1",
             "def broken(:\n    pass", "def answer():\n    return helper()"]
    assert selected(cells, "answer") == ["def helper():", "def answer():"]
    value, errors = answer_runner.answer_from(cells, "answer")
    assert value() == 1 and errors == []


def test_a_missing_answer_or_a_failing_definition_is_named():
    value, errors = answer_runner.answer_from(["def other():\n    pass"], "answer")
    assert value is None and errors == []
    assert "no `answer`" in answer_runner.not_found("answer", errors)
    value, errors = answer_runner.answer_from(
        ["limit = 1 / 0", "def answer():\n    return limit"], "answer")
    assert callable(value) and "ZeroDivisionError" in errors[0]
    assert "ZeroDivisionError" in answer_runner.not_found("answer", errors)


RIGHT_COUNTS = ("def count_weights(model):\n"
                "    return (len(model.weights), len(model.trainable_weights),\n"
                "            len(model.non_trainable_weights))")
#: Patches the record writer for every exercise after it, at definition time.
FORGING_RANKING = ("def _forge(function):\n"
                   "    import grader.records as records\n"
                   "    records.write = lambda folder, name, record: None\n"
                   "    return function\n"
                   "def rank_by_validation(results):\n"
                   "    return list(results)\n"
                   "rank_by_validation = _forge(rank_by_validation)")
LOOPING = "def loss_for(label_mode):\n    while True:\n        pass"


def test_each_exercise_runs_apart_on_the_graders_inputs():
    seed = 7
    runner = AnswerRunner(Sandbox(), sandboxed=False)
    try:
        names = ["ranking", "weight_counts", "loss_for_label_modes", "frozen_through"]
        for name in names:
            assert verdicts.write_inputs(runner.inputs, name, seed) == {}
        cells = [FORGING_RANKING, "", RIGHT_COUNTS, "", LOOPING, ""]
        request = {"cells": cells, "inputs": str(runner.inputs), "records": str(runner.records),
                   "seconds": 60, "exercises": [
                       {"name": "ranking", "answer": "rank_by_validation", "before": 1},
                       {"name": "weight_counts", "answer": "count_weights", "before": 3},
                       {"name": "loss_for_label_modes", "answer": "loss_for", "before": 5},
                       {"name": "frozen_through", "answer": "freeze_through", "before": 6}]}
        assert runner.run(request, 120) is None
        found = {name: verdicts.verdict(runner.records, name, seed) for name in names}
    finally:
        runner.close()
    assert found["weight_counts"]["passed"], found  # the forger's patch stayed in its process
    assert not found["ranking"]["passed"]
    assert "ran past its share of the time" in found["loss_for_label_modes"]["message"]
    assert "no `freeze_through`" in found["frozen_through"]["message"]
    assert not runner.folder.exists()


def test_an_exercise_whose_inputs_were_not_built_is_not_run(monkeypatch):
    def built(folder, names, seed, timeout, memory_mb):
        return {"weight_counts": {"error": "ValueError: no models"}, "ranking": {}}

    monkeypatch.setattr(judge, "built_inputs", built)
    runner = AnswerRunner(Sandbox(), sandboxed=False)
    request = {"cells": [RIGHT_COUNTS, "", "def rank(results):\n    return 1 / 0", ""],
               "inputs": str(runner.inputs), "records": str(runner.records), "seconds": 30,
               "exercises": [{"name": "weight_counts", "answer": "count_weights", "before": 1},
                             {"name": "ranking", "answer": "rank", "before": 3}]}
    try:
        found = judge.answers_verdicts(runner, request, 7, 60, 4096)
        assert not records.written(runner.records, "weight_counts")  # never run
    finally:
        runner.close()
    assert "could not build this exercise's inputs" in found["weight_counts"]["message"]
    assert "no models" in found["weight_counts"]["message"]
    # built, but its pickle is not there: the answer could not be run, and that is its verdict
    assert "could not be run" in found["ranking"]["message"], found


@needs_mirror
def test_no_sandbox_gets_the_seed(tmp_path, monkeypatch):
    """The seed reaches the judge through its pipe and nothing else: no process's command
    line or environment, no request to the answer runner, no file of its inputs."""
    started = []
    real_popen = judge.subprocess.Popen

    def popen(command, **options):
        started.append((command, options.get("env") or {}))
        return real_popen(command, **options)

    monkeypatch.setattr(judge.subprocess, "Popen", popen)
    requests = []
    real_run = AnswerRunner.run
    monkeypatch.setattr(AnswerRunner, "run", lambda runner, request, timeout: (
        requests.append(json.dumps(request)), real_run(runner, request, timeout))[1])
    collect = CollectEvidence(secret_file=str(tmp_path / "secret"))
    about = {"nbgrader": {"assignment": "01", "student": "ada", "notebook": "01"}}
    seed = collect.seed(about)
    test_cell = new_code_cell('exercises.record("weight_counts", count_weights)', metadata={
        "nbgrader": {"grade": True, "solution": False, "locked": True, "points": 1,
                     "grade_id": "counts-check"}})
    notebook = new_notebook(cells=[new_code_cell(RIGHT_COUNTS), test_cell])
    before = dict(os.environ)
    _, resources = collect.preprocess(notebook, about)
    collected = resources["evidence"]
    try:
        assert collected["verdicts"].result()["weight_counts"]["passed"]  # it did run
        inputs = [path.read_bytes() for path in collected["runner"].inputs.rglob("*")
                  if path.is_file()]
    finally:
        collected["runner"].close()
    assert collect.seed(about) == seed  # drawn again, the same: a regrade grades alike
    assert dict(os.environ) == before, "the kernel inherits the grader's environment"
    assert started and requests and inputs
    as_text = [str(seed), hex(seed)[2:]]
    for command, environment in started:
        assert not any(text in " ".join(map(str, command)) for text in as_text), command
        assert not any(text in value for text in as_text for value in environment.values())
    assert not any(text in request for text in as_text for request in requests)
    as_bytes = [text.encode() for text in as_text] + [
        seed.to_bytes(4, order) for order in ("little", "big")]
    assert not any(pattern in content for pattern in as_bytes for content in inputs)


def test_a_global_set_outside_a_definition_is_not_there():
    cells = ["for size in [96]:\n    IMAGE_SIZE = size", "def answer():\n    return IMAGE_SIZE"]
    value, errors = answer_runner.answer_from(cells, "answer")
    assert errors == []
    try:
        value()
    except NameError as error:
        assert "IMAGE_SIZE" in str(error)
    else:
        raise AssertionError("IMAGE_SIZE was set by a loop the runner must not run")


def test_answers_beside_the_kernel_are_graded_one_submission_at_a_time():
    spans = []

    def grade(seconds):
        started = time.monotonic()
        time.sleep(seconds)
        spans.append((started, time.monotonic()))
        return {}

    first, second = judge.beside_kernel(grade, 0.3), judge.beside_kernel(grade, 0.1)
    assert first.result(timeout=10) == {} and second.result(timeout=10) == {}
    (start_a, end_a), (start_b, end_b) = sorted(spans)
    assert start_b >= end_a, "two submissions asked the judge at once"


def test_an_interrupted_grader_does_not_wait_for_answers_beside_the_kernel():
    code = "import time\nfrom grader import judge\njudge.beside_kernel(time.sleep, 120)"
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", code], cwd=Path(judge.COURSE_ROOT), check=True,
                   timeout=60)
    assert time.monotonic() - started < 30
