"""Grades decided apart from the learner's kernel: two preprocessors in ``nbgrader autograde``.

nbgrader runs the hidden tests in the learner's own kernel, after the learner's code, and
scores a test cell by whether it ended in an error. Whatever the submission patched there
(the checks, ``importlib.reload``, numpy, builtins, IPython's hooks, an ``exercises``
package shipped beside the notebook) could decide that, and any record the kernel made
could be forged. Here the kernel decides nothing:

1. :class:`CollectEvidence` (before nbgrader's Execute) starts the judge process
   (:mod:`grader.verdicts`, one per autograde run) and this submission's answer runner
   (:mod:`grader.answer_runner`, in a sandbox of its own). It draws the seed of the
   submission's fresh inputs: a keyed hash of the student, assignment and notebook under
   the course's secret (``.nbgrader/grading-secret``, made at the first autograde), the
   same on every regrade, unknown to anyone before grading; it never enters a sandbox.
   Then, in a thread, while the kernel runs (the grade needs nothing the kernel does,
   :func:`answers_verdicts`): the judge builds each exercise's fresh inputs from the seed;
   the answer runner gets them and the notebook's cells, runs only the answers'
   definitions, and records what each answer did; the judge decides every record with its
   own copy of the checks.
2. nbgrader's Execute (:class:`grader.execute.SandboxedExecute`) runs the notebook, for
   what it shows the student; all the kernel learns is that it is being graded
   (``$COURSE_GRADING``: its hidden parts then do nothing).
3. :class:`JudgeOutsideKernel` (after Execute, before SaveAutoGrades) takes those verdicts.
   Each test cell's outputs become its exercise's: ``✓ ...`` for full points, or the
   check's expected / found / hint as an error, which nbgrader scores 0.

Which exercise a test cell grades, and which name holds its answer, come from the test
cell's hidden line (``exercises.record("NAME", answer)``), which nbgrader has just restored
from the gradebook (OverwriteCells), never from anything the submission wrote.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import os
import re
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

from grader.execute import SandboxedExecute
from grader.records import stopped_message
from grader.sandbox import MEMORY_SLACK_MB, LimitWatch, Sandbox
from grader.verdicts import VERDICTS_PREFIX

#: ``exercises.record("NAME", answer)`` at the start of a line of a test cell: that cell is
#: judged by the exercise NAME, on the function the notebook names ``answer``.
JUDGED_CALL = re.compile(r"""^\s*exercises\.record\(\s*["'](\w+)["']\s*,\s*(\w+)\s*\)""",
                         re.MULTILINE)
COURSE_ROOT = Path(__file__).resolve().parent.parent
#: The judge's process and the answer runner: isolated mode, the course's code on the path.
BOOT = ("import sys; sys.path.insert(0, {root!r}); "
        "from grader.{module} import main; main()")
#: Seconds an answer runner waits for its request past the notebook's longest limit.
RUNNER_WAIT_SLACK = 120
#: Seconds an answer runner may take past its limit: what is left of its start (imports).
RUNNER_START_SLACK = 30


def judged_calls(notebook: NotebookNode) -> dict[int, tuple[str, str]]:
    """cell index -> (exercise name, answer's name), for each autograded test cell with an
    ``exercises.record`` line."""
    found = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            match = JUDGED_CALL.search(cell.source)
            if match:
                found[index] = (match.group(1), match.group(2))
    return found


def isolated_environment() -> dict[str, str]:
    """The grader's environment without ``PYTHON*`` variables."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}


class AnswerRunner:
    """One submission's :mod:`grader.answer_runner`, in a sandbox of its own beside the
    kernel's (as a user of its own when root grades), started before the kernel. It reads
    its fresh inputs from :attr:`inputs` (the grader's: it cannot write there) and writes
    records to :attr:`records`."""

    def __init__(self, sandbox: Sandbox, sandboxed: bool) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="answers-"))
        self.folder.chmod(0o755)
        self.inputs = self.folder / "inputs"
        runtime = self.folder / "runtime"
        self.records, workdir = runtime / "records", runtime / "work"
        for folder in [self.inputs, self.records, workdir]:
            folder.mkdir(parents=True)
        self.inputs.chmod(0o755)
        wait = max(sandbox.submission_timeout, *sandbox.assignment_timeouts.values(), 0)
        command = [sys.executable, "-I", "-c",
                   BOOT.format(root=str(COURSE_ROOT), module="answer_runner"),
                   str(wait + RUNNER_WAIT_SLACK)]
        environment = isolated_environment()
        if sandboxed:
            command = sandbox.command(command, workdir, [runtime], [self.inputs], answers=True)
            environment = sandbox.environment(environment)
            sandbox.hand_over([runtime], answers=True)
        self.errors = open(self.folder / "stderr", "w+b")  # a file the runner cannot see
        self.process = subprocess.Popen(command, cwd=workdir, env=environment,
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=self.errors)
        self.watch = (LimitWatch(self.process.pid, sandbox.memory_mb + MEMORY_SLACK_MB,
                                 [runtime], sandbox.disk_mb) if sandboxed else None)

    def run(self, request: dict, timeout: float) -> str | None:
        """Send ``request``; wait at most ``timeout`` seconds for the runner to finish. None
        if it did, else what stopped it."""
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.close()
            status = self.process.wait(timeout=timeout)
        except OSError:
            status = self.process.wait()
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return f"ran past its {timeout:g} s limit"
        if self.watch is not None and self.watch.exceeded:
            return {"memory": f"held more than {self.watch.memory_mb} MiB of memory",
                    "disk": f"wrote more than {self.watch.disk_mb} MiB"}[self.watch.exceeded]
        if status == 0:
            return None
        self.errors.seek(0, os.SEEK_END)
        self.errors.seek(max(0, self.errors.tell() - 400))
        last = self.errors.read().decode(errors="replace").strip().splitlines()[-1:]
        how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
        return f"stopped ({how}{': ' + last[0][:200] if last else ''})"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.watch is not None:
            self.watch.stop()
        self.errors.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_runner: AnswerRunner | None = None
#: Held while one submission's answers are graded, so that the judge process answers one
#: request at a time.
_one_submission = threading.Lock()


def beside_kernel(task: Callable[..., dict], *arguments) -> Future:
    """``task(*arguments)`` in a thread beside the kernel, one submission's at a time. The
    thread is a daemon: an interrupted ``nbgrader autograde`` exits without waiting for the
    answers of a notebook it no longer grades."""
    future: Future = Future()

    def work() -> None:
        with _one_submission:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(task(*arguments))
                except BaseException as error:  # handed to whoever waits for the verdicts
                    future.set_exception(error)

    threading.Thread(target=work, name="answers", daemon=True).start()
    return future


def start_runner(sandbox: Sandbox) -> AnswerRunner:
    """A fresh answer runner for the next submission (one left by a notebook that nbgrader
    gave up on is stopped first)."""
    global _runner
    if _runner is not None:
        _runner.close()
    _runner = AnswerRunner(sandbox, sandbox.check_available())
    return _runner


def answers_verdicts(runner: AnswerRunner, request: dict, seed: int, judge_timeout: float,
                     memory_mb: int) -> dict[str, dict]:
    """Each requested exercise's verdict: its fresh inputs built by the judge from
    ``seed``, the answer run on them by ``runner`` (``request["seconds"]``, and
    :data:`RUNNER_START_SLACK` more for what is left of its start), its record judged by the
    judge. Run beside the kernel: it needs nothing the kernel does."""
    names = sorted({str(item["name"]) for item in request["exercises"]})
    built = built_inputs(runner.inputs, names, seed, judge_timeout, memory_mb)
    request["exercises"] = [item for item in request["exercises"]
                            if built.get(item["name"]) == {}]
    stopped = runner.run(request, request["seconds"] + RUNNER_START_SLACK)
    verdicts = judged(runner.records, names, seed, judge_timeout, memory_mb)
    for name in names:
        error = built.get(name, {"error": "it built nothing"}).get("error")
        if error is not None:
            verdicts[name] = {"passed": False, "message": (
                f"✗ the grader could not build this exercise's inputs (a course error): "
                f"{error}")}
        elif verdicts[name].get("missing"):
            verdicts[name] = {"passed": False, "message": stopped_message(
                f"the process that runs the answers {stopped or 'wrote no record of it'}")}
    return verdicts


class CollectEvidence(NbGraderPreprocessor):
    """Before execution: the seed of the submission's fresh inputs drawn (kept by the
    grader, never in a sandbox), and its answers graded on them, beside the kernel."""

    secret_file = Unicode(os.path.join(".nbgrader", "grading-secret"),
                          help="The course's key for the seeds of fresh inputs.").tag(config=True)

    def seed(self, resources: dict) -> int:
        """The submission's seed: a keyed hash of who submitted what, under the secret."""
        secret = Path(self.secret_file)
        if not secret.is_file():
            secret.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32))
        about = resources.get("nbgrader", {})
        message = "/".join(str(about.get(key)) for key in ["assignment", "student", "notebook"])
        digest = hmac.new(secret.read_bytes().strip(), message.encode(), hashlib.sha256)
        return int(digest.hexdigest()[:8], 16)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        seed, runner, verdicts = self.seed(resources), None, None
        calls = judged_calls(nb)
        if calls:
            sandbox = Sandbox(parent=self)
            runner = start_runner(sandbox)
            limit, _ = SandboxedExecute(parent=self).notebook_limit_for(resources)
            cells = [cell.source if cell.cell_type == "code" else "" for cell in nb.cells]
            request = {"cells": cells, "inputs": str(runner.inputs),
                       "records": str(runner.records), "seconds": sandbox.answers_limit(limit),
                       "exercises": [{"name": name, "answer": answer, "before": index}
                                     for index, (name, answer) in sorted(calls.items())]}
            verdicts = beside_kernel(answers_verdicts, runner, request, seed,
                                     JudgeOutsideKernel(parent=self).timeout,
                                     sandbox.memory_mb)
        resources["evidence"] = {"runner": runner, "verdicts": verdicts}
        return nb, resources


class JudgeOutsideKernel(NbGraderPreprocessor):
    """After execution: each judged test cell's outputs become the isolated judge's verdict."""

    timeout = Integer(300, help="Seconds the judge may take for one notebook.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        collected = resources.pop("evidence", None)
        if collected is None:
            raise RuntimeError("JudgeOutsideKernel needs CollectEvidence before Execute")
        runner = collected["runner"]
        try:
            calls = judged_calls(nb)
            if calls and runner is not None:
                verdicts = collected["verdicts"].result()
                for index, (name, _) in calls.items():
                    nb.cells[index].outputs = self.outputs(verdicts[name])
        finally:
            if runner is not None:
                runner.close()
        return nb, resources

    @staticmethod
    def outputs(verdict: dict) -> list[NotebookNode]:
        """A test cell's outputs that carry ``verdict``."""
        if verdict["passed"]:
            return [new_output("stream", name="stdout", text=verdict["message"] + "\n")]
        return [new_output("error", ename="CheckFailed", evalue=verdict["message"],
                           traceback=[verdict["message"]])]


class JudgeFailed(RuntimeError):
    """The judge process stopped, or took too long, on a request."""

    def __init__(self, reason: str, errors: str) -> None:
        super().__init__(f"the judge {reason}:\n{errors}")
        self.reason = reason


class JudgeProcess:
    """:mod:`grader.verdicts` in a fresh isolated Python (``-I``: no current folder, no user
    site, no ``PYTHON*`` variables), run from an empty folder, answering one request a line."""

    def __init__(self, memory_mb: int) -> None:
        environment = isolated_environment()
        self.workdir = tempfile.TemporaryDirectory(prefix="judge-")
        self.errors = open(Path(self.workdir.name) / "stderr", "w+b")
        self.process = subprocess.Popen(  # at the kernels' memory cap: a record is data
            ["prlimit", f"--data={memory_mb * 2**20}", "--",
             sys.executable, "-I", "-c", BOOT.format(root=str(COURSE_ROOT), module="verdicts")],
            cwd=self.workdir.name, env=environment, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.errors)

    def ask(self, folder: Path, names: list[str], seed: int, timeout: float,
            task: str = "verdicts") -> dict[str, dict]:
        """Send one request; wait at most ``timeout`` seconds for its answer."""
        request = json.dumps({"task": task, "folder": str(folder), "names": names,
                              "seed": seed}) + "\n"
        try:
            self.process.stdin.write(request.encode())
            self.process.stdin.flush()
        except OSError as error:
            raise JudgeFailed(f"stopped ({error})", "") from error
        deadline, pending = time.monotonic() + timeout, b""
        stdout = self.process.stdout.fileno()
        while True:
            for line in pending.split(b"\n")[:-1]:
                if line.startswith(VERDICTS_PREFIX.encode()):
                    return json.loads(line[len(VERDICTS_PREFIX):])
            pending = pending.rsplit(b"\n", 1)[-1]
            left = deadline - time.monotonic()
            ready = select.select([stdout], [], [], max(left, 0))[0] if left > 0 else []
            chunk = os.read(stdout, 1 << 16) if ready else b""
            if not chunk:
                self.errors.seek(0)
                reason = f"took longer than {timeout:g} s" if not ready else "stopped"
                raise JudgeFailed(reason, self.errors.read().decode(errors="replace")[-3000:])
            pending += chunk

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.errors.close()
        self.workdir.cleanup()


_judge: JudgeProcess | None = None


def judge_process(memory_mb: int) -> JudgeProcess:
    """The running judge process, started (with a memory cap of ``memory_mb``) if there is
    none."""
    global _judge
    if _judge is None or _judge.process.poll() is not None:
        _judge = JudgeProcess(memory_mb)
    return _judge


def ask_judge(folder: Path, names: list[str], seed: int, timeout: float, memory_mb: int,
              task: str = "verdicts") -> dict[str, dict]:
    """The judge process's answer to one request (:func:`grader.verdicts.main`); a judge
    that fails on it is closed, so the next request gets a fresh one.

    Raises:
        JudgeFailed: it stopped, or took longer than ``timeout`` seconds.
    """
    global _judge
    try:
        return judge_process(memory_mb).ask(folder, names, seed, timeout, task)
    except JudgeFailed:
        if _judge is not None:
            _judge.close()
            _judge = None
        raise


def judged(folder: Path, names: list[str], seed: int, timeout: float,
           memory_mb: int) -> dict[str, dict]:
    """The verdicts of ``folder``'s records, from the judge process. When it fails on them
    (it stops, or runs past ``timeout``), each is judged alone by a fresh one, so a record
    that breaks it costs only its own exercise."""
    try:
        return ask_judge(folder, names, seed, timeout, memory_mb)
    except JudgeFailed:
        pass
    verdicts = {}
    for name in names:
        try:
            verdicts.update(ask_judge(folder, [name], seed, timeout, memory_mb))
        except JudgeFailed as failure:
            verdicts[name] = {"passed": False, "message": (
                f"✗ the record of your answer could not be judged: the judge "
                f"{failure.reason}\n  hint:     record what the exercise asks for, not more")}
    return verdicts


def built_inputs(folder: Path, names: list[str], seed: int, timeout: float,
                 memory_mb: int) -> dict[str, dict]:
    """Each exercise's fresh inputs for ``seed``, written into ``folder`` by the judge: per
    name ``{}``, or ``{"error": ...}`` where they could not be built."""
    try:
        return ask_judge(folder, names, seed, timeout, memory_mb, task="inputs")
    except JudgeFailed as failure:
        return {name: {"error": f"the judge {failure.reason}"} for name in names}


@atexit.register
def _close_judge() -> None:
    if _judge is not None:
        _judge.close()
