"""nbgrader's Execute, made safe for submissions nobody can trust.

:class:`SandboxedExecute` replaces ``nbgrader.preprocessors.Execute`` in ``nbgrader
autograde``. It runs the submission's kernel in the sandbox of :mod:`grader.sandbox`, and
executes the notebook cell by cell under the limits of :class:`grader.sandbox.Sandbox`:

* each cell has its own time limit: long for cells the released notebook tags ``slow``
  (they train, or load or run a model over a dataset: an answer or test cell by its grade
  id, any other cell only if the submission left its source as released), short for every
  other cell; and the whole notebook has one, a few times what its reference solution took
  (:meth:`grader.sandbox.Sandbox.notebook_limit`), so a hostile notebook costs a batch at
  most that;
* a cell past its limit is interrupted; if it stops within ``interrupt_grace`` seconds,
  grading goes on with the next cell, else the kernel is stopped;
* the kernel works in a copy of the submission's regular files, so nothing it leaves
  there is ever followed by nbgrader, which writes the graded notebook after it;
* stored output is capped (``output_limit_kb``), all of it counted (data of any type,
  metadata, tracebacks); the rest is dropped, with a note, errors kept but shortened;
* when the kernel dies (``os._exit``, a signal, the memory cap) or is stopped, every cell
  not run gets an error output saying why ("cell 7 ran past its 60 s limit", "the kernel
  used more than 4096 MiB"), so its test cells score 0, and the cells already run keep
  their results: nbgrader's own Execute would lose the whole submission.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from traitlets import Any, Instance, Unicode

from grader.records import GRADING_ENV
from grader.sandbox import MEMORY_SLACK_MB, REFERENCE_PROFILE, LimitWatch, Sandbox

#: Characters of an error's message kept once the notebook's output is past its cap.
ERROR_KEPT = 2000
#: Cells the released notebook tags with this get ``Sandbox.slow_cell_timeout``.
SLOW_TAG = "slow"


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts its kernel through the sandbox's command."""

    sandbox = Instance(Sandbox, allow_none=True)
    workdir = Unicode("")
    writable = Any(default_value=())
    watch = Any(default_value=None)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        writable = [Path(path) for path in self.writable]
        kw["env"] = {**(kw.get("env") or os.environ), GRADING_ENV: "1"}  # all it learns
        if self.sandbox is not None:
            kernel_cmd = self.sandbox.command(kernel_cmd, Path(self.workdir), writable)
            kw["env"] = self.sandbox.environment(kw["env"])
            self.sandbox.hand_over(writable)  # with the connection file, written by now
        await super()._async_launch_kernel(kernel_cmd, **kw)
        pid = self.provisioner.process.pid if self.provisioner is not None else None
        if self.sandbox is not None and pid is not None:
            self.watch = LimitWatch(pid, self.sandbox.memory_mb + MEMORY_SLACK_MB,
                                    writable, self.sandbox.disk_mb)

    def exit_status(self) -> int | None:
        """The kernel process's exit status once it is gone, else None."""
        process = getattr(self.provisioner, "process", None)
        return None if process is None else process.poll()


def copy_regular_files(source: Path, destination: Path) -> Path:
    """A copy of the regular files under ``source`` (links and special files left out):
    where a sandboxed kernel works, so that nothing it leaves behind (a link, a named pipe)
    is ever in the folder nbgrader writes the graded notebook to."""
    for directory, _, names in os.walk(source):  # links to folders are not followed
        for name in names:
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                target = destination / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target, follow_symlinks=False)
    destination.mkdir(parents=True, exist_ok=True)
    return destination


def reference_seconds(released: NotebookNode) -> float | None:
    """The seconds the reference solution took, as ``make bench`` stored them in the
    notebook's metadata (``course.reference_run``), or None."""
    run = released.metadata.get("course", {}).get("reference_run", {})
    seconds = run.get("seconds") if run.get("profile") == REFERENCE_PROFILE else None
    return float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else None


def not_run_error(message: str) -> NotebookNode:
    """An error output that scores a test cell 0, and says why."""
    return new_output("error", ename="NotGraded", evalue=message,
                      traceback=[f"NotGraded: {message}"])


class SandboxedExecute(Execute):
    """Execute a submission in the sandbox, under limits; a crash costs only what it cut off."""

    released_dir = Unicode("", help=(
        "Folder of the released notebooks (``<assignment>/<notebook>.ipynb``), read for the "
        "cells tagged `slow`; by default the course's release directory.")).tag(config=True)

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)
        self.interrupt_on_timeout = False  # this class interrupts, and decides what follows
        self.shutdown_kernel = "immediate"  # nothing to save: a graceful exit costs ~1 s

    # -- the plan: which cell may run how long ----------------------------------------------
    def released_notebook(self, resources: dict) -> NotebookNode | None:
        """The released notebook this submission answers, or None if there is none."""
        info = resources.get("nbgrader", {})
        if self.released_dir:
            root = Path(self.released_dir) / info.get("assignment", "")
        else:
            course = CourseDirectory(config=self.config)
            root = Path(course.format_path(course.release_directory, ".",
                                           info.get("assignment", "")))
        released = root / f"{info.get('notebook', '')}.ipynb"
        return nbformat.read(released, as_version=4) if released.is_file() else None

    @staticmethod
    def slow_cells(released: NotebookNode | None) -> tuple[set[str], set[str]]:
        """Grade ids and sources of the released notebook's cells tagged ``slow``."""
        ids, sources = set(), set()
        for cell in released.cells if released is not None else []:
            if SLOW_TAG in cell.metadata.get("tags", []):
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                (ids.add(grade_id) if grade_id else sources.add(cell.source))
        return ids, sources

    def notebook_limit_for(self, resources: dict, released: NotebookNode | None = None
                           ) -> tuple[int, str]:
        """Seconds this submission's whole notebook may run, and why
        (:meth:`grader.sandbox.Sandbox.notebook_limit`, from the reference solution's time in
        the ``released`` notebook, read if not given)."""
        if released is None:
            released = self.released_notebook(resources)
        return Sandbox(parent=self).notebook_limit(
            resources.get("nbgrader", {}).get("assignment", ""),
            reference_seconds(released) if released is not None else None)

    def cell_limit(self, cell: NotebookNode, slow: tuple[set[str], set[str]]) -> int:
        """Seconds ``cell`` may run: long only for a cell the release tags slow."""
        ids, sources = slow
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        long = grade_id in ids if grade_id else cell.source in sources
        return self.sandbox.slow_cell_timeout if long else self.sandbox.cell_timeout

    # -- execution --------------------------------------------------------------------------
    def preprocess(self, nb: NotebookNode, resources: dict, km=None):
        self.sandbox = Sandbox(parent=self)
        sandboxed = self.sandbox.check_available()
        released = self.released_notebook(resources)
        slow = self.slow_cells(released)
        self.notebook_limit, self.notebook_limit_why = self.notebook_limit_for(
            resources, released)
        workdir = Path(resources.get("metadata", {}).get("path") or ".").resolve()
        runtime = Path(tempfile.mkdtemp(prefix="kernel-"))
        try:
            self._prepare(nb, resources, km, workdir, runtime if sandboxed else None)
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                self._execute_all(slow)
        finally:
            watch = getattr(self.km, "watch", None)
            if watch is not None:
                watch.stop()
            shutil.rmtree(runtime, ignore_errors=True)
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _prepare(self, nb, resources, km, workdir: Path, runtime: Path | None) -> None:
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.km = self.create_kernel_manager()
        if runtime is not None:
            self.km.sandbox = self.sandbox
            self.km.workdir = str(copy_regular_files(workdir, runtime / "work"))
            self.km.writable = [str(runtime)]
            self.km.transport = "ipc"
            self.km.ip = str(runtime / "kernel")
            self.km.connection_file = str(runtime / "kernel.json")
        # An interrupt reaches the sandboxed kernel as a message: it cannot see our signals.
        self.km.kernel_spec.interrupt_mode = "message"
        self._output_budget = self.sandbox.output_limit_kb * 1024

    def _execute_all(self, slow: tuple[set[str], set[str]]) -> None:
        deadline = time.monotonic() + self.notebook_limit
        stopped: str | None = None
        for index, cell in enumerate(self.nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            if stopped is not None:
                cell.outputs = [not_run_error(f"not run: {stopped}")]
                continue
            left = deadline - time.monotonic()
            limit = self.cell_limit(cell, slow)
            whole = left < limit
            self.timeout = max(1, math.ceil(min(limit, left)))
            self._cut = False
            number = index + 1  # as a reader counts the notebook's cells, markdown included
            try:
                self.execute_cell(cell, index, store_history=True)
            except CellTimeoutError:
                what = (f"the notebook ran past its {self.notebook_limit} s limit, in cell "
                        f"{number} (the limit: {self.notebook_limit_why})" if whole
                        else f"cell {number} ran past its {limit} s limit")
                if whole or not self._interrupted():
                    stopped = f"{what}; its kernel was stopped"
                    self._kill()
                cell.outputs.append(not_run_error(stopped or what))
            except DeadKernelError:
                stopped = self._death(number)
                cell.outputs.append(not_run_error(stopped))
            if self.km.sandbox is not None and any(
                    output.get("ename") == "MemoryError" for output in cell.outputs):
                cell.outputs.append(new_output("stream", name="stdout", text=(
                    f"\n[the kernel reached its memory cap: {self.sandbox.memory_mb} MiB]\n")))
            if self._cut:
                cell.outputs.append(new_output("stream", name="stdout", text=(
                    f"\n[output cut: the notebook's output passed its "
                    f"{self.sandbox.output_limit_kb} KiB limit]\n")))

    def _interrupted(self) -> bool:
        """Interrupt the kernel; True if it answers again within the grace period."""
        run_sync(self.km.interrupt_kernel)()
        return run_sync(self._async_answers)(self.sandbox.interrupt_grace)

    async def _async_answers(self, seconds: float) -> bool:
        """True if the kernel answers a kernel_info request within ``seconds``: it is idle."""
        request = self.kc.kernel_info()
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = await ensure_async(self.kc.shell_channel.get_msg(timeout=left))
            except Empty:
                return False
            if reply["parent_header"].get("msg_id") == request:
                return True
        return False

    def _kill(self) -> None:
        run_sync(self.km.shutdown_kernel)(now=True)

    def _death(self, number: int) -> str:
        """What stopped the kernel while it ran cell ``number`` (counted from 1)."""
        watch = getattr(self.km, "watch", None)
        if watch is not None and watch.exceeded == "memory":
            return (f"the kernel's processes held more than {watch.memory_mb} MiB of memory "
                    f"in cell {number}, and were stopped")
        if watch is not None and watch.exceeded == "disk":
            return (f"the kernel wrote more than {watch.disk_mb} MiB to disk in cell {number}, "
                    f"and was stopped")
        status = self.km.exit_status()
        how = (f"killed by signal {-status}" if status is not None and status < 0
               else f"exit status {status}" if status is not None else "no exit status")
        return f"the kernel died in cell {number} ({how})"

    def output(self, outs, msg, display_id, cell_index):
        """Keep outputs while the notebook's budget lasts, counting all that is stored (text,
        data of any type, metadata, tracebacks); past it, errors are kept, shortened, so a
        test cell that failed still fails."""
        size = len(json.dumps(msg.get("content", {}), default=str))
        self._output_budget -= size
        if self._output_budget < 0:
            self._cut = True
            if msg["msg_type"] != "error":
                return None
            msg = {**msg, "content": shortened_error(msg["content"])}
        return super().output(outs, msg, display_id, cell_index)


def shortened_error(content: dict) -> dict:
    """An error's content cut to :data:`ERROR_KEPT` characters of its message and of its
    traceback's last line."""
    def cut(text) -> str:
        text = str(text)
        return text if len(text) <= ERROR_KEPT else text[:ERROR_KEPT] + " [cut]"
    return {"ename": cut(content.get("ename", "")), "evalue": cut(content.get("evalue", "")),
            "traceback": [cut(line) for line in list(content.get("traceback", []))[-1:]]}
