"""nbgrader's exchange, collecting only what a student can have written: regular files and
folders.

nbgrader's default collect copies each submission with ``shutil.copytree``, which follows
symbolic links, as the instructor. On a shared server a student can submit a link named like
the assignment's notebook that points at a file the instructor can read (the solutions
notebook, the grading secret): ``make collect`` would store a copy of that file as the
submission, and the instructor's solution would be graded as the student's answer. A link
to a FIFO would hang the collect. This collect refuses such a submission, names the student
and the file, and collects the rest of the class; an earlier submission of that student
already collected stays as it was. Set in nbgrader_config.py::

    c.ExchangeFactory.collect = "grader.exchange.ExchangeCollectRegularFiles"
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nbgrader.exchange.default.collect import ExchangeCollect


def entries(folder: Path):
    """``folder`` and everything under it, links not followed (nor a linked ``folder``)."""
    yield folder
    if folder.is_symlink():
        return
    for directory, folders, files in os.walk(folder, followlinks=False):
        yield from (Path(directory) / name for name in folders + files)


def irregular_entry(folder: Path) -> str:
    """The first entry of ``folder`` (itself included) that is not a regular file or folder,
    said in words, or ``""``."""
    for path in entries(folder):
        mode, name = os.lstat(path).st_mode, path.relative_to(folder.parent)
        if stat.S_ISLNK(mode):
            return f"{name} is a symbolic link to {os.readlink(path)}"
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return f"{name} is not a regular file or folder"
    return ""


class ExchangeCollectRegularFiles(ExchangeCollect):
    """nbgrader's collect, for submissions made of regular files and folders only."""

    def init_src(self) -> None:
        super().init_src()
        kept = []
        for record in self.src_records:
            problem = irregular_entry(Path(self.inbound_path) / record["filename"])
            if problem:
                self.log.error(
                    "not collected: %s's submission of %s: %s. Only regular files and folders "
                    "are collected; ask the student to submit again.", record["username"],
                    self.coursedir.assignment_id, problem)
            else:
                kept.append(record)
        self.src_records = kept
