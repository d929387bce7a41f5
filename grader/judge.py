"""Grades decided outside the learner's kernel: two preprocessors in ``nbgrader autograde``.

nbgrader runs the hidden tests in the learner's own kernel, after the learner's code, and
scores a test cell by whether it ended in an error. Whatever the submission patched there
(the checks, ``importlib.reload``, numpy, builtins, IPython's exception handler, an
``exercises`` package shipped beside the notebook) could decide that. Here the kernel only
*records*:

1. :class:`CollectEvidence` (before nbgrader's Execute) gives the kernel an empty folder,
   through ``$COURSE_EVIDENCE``, and the seed of this submission's fresh inputs, through
   ``$COURSE_EVIDENCE_SEED``. The seed is a keyed hash of the student, assignment and
   notebook under the course's secret (``.nbgrader/grading-secret``, made at the first
   autograde): the same on every regrade, unknown to anyone before grading.
2. During execution, a test cell's hidden part (``exercises.record(NAME, answer)``) runs the
   learner's answer on inputs the notebook never showed and records what it did
   (:mod:`grader.records`).
3. :class:`JudgeOutsideKernel` (after Execute, before SaveAutoGrades) asks a separate,
   isolated Python to judge every record with its own copy of the checks
   (:mod:`grader.verdicts`; one such process serves the whole autograde run, started at the
   first submission), and replaces each such test cell's outputs with that verdict:
   ``✓ ...`` for full points, or the check's expected / found / hint as an error, which
   nbgrader scores 0. A test cell whose record is missing (the cell stopped early, or the
   record was never written) scores 0 too, with the cell's own error when it has one.

Which judge applies comes from the test cell's source, which nbgrader has just restored from
the gradebook (OverwriteCells), never from anything the submission wrote.
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
import time
from pathlib import Path

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

from grader.records import RECORDS_ENV, SEED_ENV
from grader.sandbox import Sandbox
from grader.verdicts import VERDICTS_PREFIX

#: ``exercises.record("NAME", ...`` at the start of a line of a test cell: that cell is
#: judged by the exercise NAME.
JUDGED_CALL = re.compile(r"""^\s*exercises\.record\(\s*["'](\w+)["']""", re.MULTILINE)
COURSE_ROOT = Path(__file__).resolve().parent.parent
#: The judge's process: isolated mode, with the course's code first on its path.
BOOT = ("import sys; sys.path.insert(0, {root!r}); "
        "from grader.verdicts import main; main()")


def judged_cells(notebook: NotebookNode) -> dict[int, str]:
    """cell index -> judge name, for each autograded test cell with an ``evidence.`` call."""
    found = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            match = JUDGED_CALL.search(cell.source)
            if match:
                found[index] = match.group(1)
    return found


class CollectEvidence(NbGraderPreprocessor):
    """Before execution: an empty folder for the kernel's records, and the seed of the fresh
    inputs, named in its environment."""

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
        if judged_cells(nb):
            judge_process(Sandbox(parent=self).memory_mb)  # it starts while the kernel runs
        folder, seed = tempfile.mkdtemp(prefix="evidence-"), self.seed(resources)
        os.environ[RECORDS_ENV] = folder  # the kernel nbgrader starts next inherits them
        os.environ[SEED_ENV] = str(seed)
        resources["evidence"] = {"folder": folder, "seed": seed}
        return nb, resources


class JudgeOutsideKernel(NbGraderPreprocessor):
    """After execution: each judged test cell's outputs become the isolated judge's verdict."""

    timeout = Integer(300, help="Seconds the judge may take for one notebook.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        collected = resources.pop("evidence", None)
        os.environ.pop(RECORDS_ENV, None)
        os.environ.pop(SEED_ENV, None)
        if collected is None:
            raise RuntimeError("JudgeOutsideKernel needs CollectEvidence before Execute")
        folder = collected["folder"]
        try:
            cells = judged_cells(nb)
            if cells:
                verdicts = self.judge(Path(folder), sorted(set(cells.values())), collected["seed"])
                for index, name in cells.items():
                    nb.cells[index].outputs = self.outputs(nb.cells[index], verdicts[name])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return nb, resources

    def judge(self, folder: Path, names: list[str], seed: int) -> dict[str, dict]:
        """The verdicts of ``folder``'s records, from the judge process. When it fails on
        them (it stops, or runs past its time), each is judged alone by a fresh one, so a
        record that breaks it costs only its own exercise."""
        try:
            return self._ask(folder, names, seed)
        except JudgeFailed:
            pass
        verdicts = {}
        for name in names:
            try:
                verdicts.update(self._ask(folder, [name], seed))
            except JudgeFailed as failure:
                verdicts[name] = {"passed": False, "message": (
                    f"✗ the record of your answer could not be judged: the judge "
                    f"{failure.reason}\n  hint:     record what the exercise asks for, "
                    f"not more")}
        return verdicts

    def _ask(self, folder: Path, names: list[str], seed: int) -> dict[str, dict]:
        global _judge
        try:
            return judge_process(Sandbox(parent=self).memory_mb).ask(
                folder, names, seed, self.timeout)
        except JudgeFailed:
            if _judge is not None:
                _judge.close()
                _judge = None
            raise

    @staticmethod
    def outputs(cell: NotebookNode, verdict: dict) -> list[NotebookNode]:
        """The test cell's outputs that carry ``verdict``."""
        if verdict.get("missing"):
            errors = [output for output in cell.outputs if output.output_type == "error"]
            if errors:  # the cell stopped before the hidden test: its own error says why
                return errors[-1:]
            message = ("✗ your answer was not run on the grader's inputs: the test cell did "
                       "not reach its hidden part, or its record was not written\n"
                       "  hint:     run the notebook from the top; keep the names the "
                       "exercise defines.")
            verdict = {"passed": False, "message": message}
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
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith("PYTHON")
                       and key not in {RECORDS_ENV, SEED_ENV}}
        self.workdir = tempfile.TemporaryDirectory(prefix="judge-")
        self.errors = open(Path(self.workdir.name) / "stderr", "w+b")
        self.process = subprocess.Popen(  # at the kernels' memory cap: a record is data
            ["prlimit", f"--data={memory_mb * 2**20}", "--",
             sys.executable, "-I", "-c", BOOT.format(root=str(COURSE_ROOT))],
            cwd=self.workdir.name, env=environment, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.errors)

    def ask(self, folder: Path, names: list[str], seed: int, timeout: float
            ) -> dict[str, dict]:
        """Send one request; wait at most ``timeout`` seconds for its verdicts."""
        request = json.dumps({"folder": str(folder), "names": names, "seed": seed}) + "\n"
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


@atexit.register
def _close_judge() -> None:
    if _judge is not None:
        _judge.close()
