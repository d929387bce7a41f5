"""Records: what a learner's answer did on the grader's fresh inputs, and how the judge reads
it back.

While grading, the answers run apart from the notebook: :mod:`grader.answer_runner`, a
sandboxed process that runs only the answers' definitions, calls each answer on fresh inputs
the grader built from the submission's seed (the seed itself never enters it), and writes a
:class:`Record` (:func:`write`) per exercise to a folder the grader made empty for it. The
notebook's kernel only learns that it is being graded (:data:`GRADING_ENV`). Outside grading
(the instructor running the solutions) a test cell's hidden part records to a temporary
folder that is thrown away, on the inputs of seed 0.

The judge reads records back with :func:`load` as data only: JSON, ``.npz`` arrays loaded
without pickle, and ``.keras`` models loaded in Keras's safe mode, each a regular file of at
most :data:`MAX_RECORD_BYTES`, never a link, nor a zip or array that unpacks to more.

Nothing here imports TensorFlow: the grader's own processes use it too.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Set in a kernel's environment while nbgrader grades it: its visible checks then print
#: instead of raising, and its hidden parts record nothing (the answers run apart).
GRADING_ENV = "COURSE_GRADING"
#: The largest record file read, in bytes: the fresh models are small, and a record is data.
MAX_RECORD_BYTES = 64 * 2**20
#: The most of a "could not be run" message written or read.
NOT_RUN_CHARS = 2000


@dataclass
class Record:
    """What the kernel recorded for one hidden test.

    Attributes:
        cases: one JSON-able entry per fresh input (returned values, flags, errors).
        arrays: named arrays (weights after training, features), saved as ``.npz``.
        models: named Keras models the answer built, saved as ``.keras`` files; after
            :func:`load`, the names of the files found, read with :meth:`model`.
        folder: where the record was read from (set by :func:`load`).
    """

    cases: list[dict]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None

    def weights(self, case: int) -> list[np.ndarray]:
        """The weights recorded for case ``case`` (see :func:`weight_arrays`)."""
        prefix = f"case{case}_weight"
        count = sum(key.startswith(prefix) for key in self.arrays)
        return [self.arrays[f"{prefix}{position}"] for position in range(count)]

    def model(self, key: str):
        """The model recorded as ``key``, loaded in Keras's safe mode (no code runs)."""
        import keras

        if self.folder is None or key not in self.models:
            raise KeyError(f"no model {key!r} was recorded")
        return keras.saving.load_model(self.folder / self.models[key], safe_mode=True)


def weight_arrays(case: int, model) -> dict[str, np.ndarray]:
    """``model``'s weights, named as case ``case``'s arrays in a record."""
    return {f"case{case}_weight{position}": weight
            for position, weight in enumerate(model.get_weights())}


_OUTSIDE_GRADING: tempfile.TemporaryDirectory | None = None


def kernel_folder() -> Path:
    """Where a kernel's records go outside grading: one temporary folder for this process
    (removed when it exits)."""
    global _OUTSIDE_GRADING
    if _OUTSIDE_GRADING is None:
        _OUTSIDE_GRADING = tempfile.TemporaryDirectory(prefix="records-")
    return Path(_OUTSIDE_GRADING.name)


def grading() -> bool:
    """Whether this kernel is being graded (:data:`GRADING_ENV` set)."""
    return bool(os.environ.get(GRADING_ENV))


def _files(folder: Path, name: str, models: list[str]) -> dict[str, Path]:
    files = {"cases": folder / f"{name}.json", "arrays": folder / f"{name}.npz"}
    files.update({key: folder / f"{name}.{key}.keras" for key in models})
    return files


def write(folder: Path, name: str, record: Record) -> None:
    """Write ``record`` as ``name``'s: ``name.json``, ``name.npz``, ``name.<model>.keras``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = _files(folder, name, list(record.models))
    for key, model in record.models.items():
        model.save(files[key])
    if record.arrays:
        np.savez(files["arrays"], **record.arrays)
    # the cases file last: a record without it does not exist
    files["cases"].write_text(json.dumps({"cases": record.cases, "models": list(record.models)}))


def written(folder: Path, name: str) -> bool:
    """Whether ``folder`` holds anything for ``name``: a record, or why it could not run."""
    return any(os.path.lexists(folder / f"{name}.{kind}") for kind in ["json", "not-run.txt"])


def write_not_run(folder: Path, name: str, message: str) -> None:
    """Write why ``name``'s answer could not be run, its first :data:`NOT_RUN_CHARS`
    characters (no record is made then)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.not-run.txt").write_text(message[:NOT_RUN_CHARS])


def stopped_message(why: str) -> str:
    """The verdict of an answer that was not run to the end: ``why`` (what stopped it)."""
    return (f"✗ your answer was not run to the end on the grader's inputs: {why}\n"
            "  hint:     keep the name the exercise gives; an answer that loops, or holds "
            "more memory than the notebook may, is stopped.")


def not_run(folder: Path, name: str) -> str | None:
    """Why ``name``'s answer could not be run, as :func:`write_not_run` wrote it, or None."""
    path = folder / f"{name}.not-run.txt"
    if not _readable(path):
        return None
    with open(path, "rb") as file:
        return file.read(NOT_RUN_CHARS).decode(errors="replace")


def _readable(path: Path) -> bool:
    """Whether ``path`` is a record file the judge may read; raises if it is a trap."""
    try:
        status = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(status.st_mode):
        raise ValueError(f"{path.name} is a link, not a record")
    if not stat.S_ISREG(status.st_mode):
        raise ValueError(f"{path.name} is not a regular file")
    if status.st_size > MAX_RECORD_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_RECORD_BYTES} bytes")
    return True


def _check_unpacked(path: Path) -> None:
    """Refuse a zip (``.npz``, ``.keras``) whose members would unpack to more than
    :data:`MAX_RECORD_BYTES`, or an array whose header declares more: a bomb, not a record."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path.name} is not a zip archive ({error})") from None
    with archive:
        unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > MAX_RECORD_BYTES:
            raise ValueError(f"{path.name} unpacks to {unpacked} bytes, more than "
                             f"{MAX_RECORD_BYTES}")
        if path.suffix != ".npz":
            return
        for member in archive.infolist():
            with archive.open(member) as array:
                if np.lib.format.read_magic(array) == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(array)
                else:  # 2.0; np.load refuses any other version
                    shape, _, dtype = np.lib.format.read_array_header_2_0(array)
            declared = math.prod(shape) * dtype.itemsize
            if declared > MAX_RECORD_BYTES:
                raise ValueError(f"{path.name}: {member.filename} declares {declared} bytes, "
                                 f"more than {MAX_RECORD_BYTES}")


def load(folder: Path, name: str) -> Record | None:
    """``name``'s record in ``folder``, or None when the kernel never wrote one.

    Raises:
        ValueError: a record file is a link, not a regular file, too large, or unpacks to
            too much.
        KeyError, TypeError, RecursionError, json.JSONDecodeError: the record is not of the
            form written.
    """
    cases_file = folder / f"{name}.json"
    if not _readable(cases_file):
        return None
    stored = json.loads(cases_file.read_text(errors="replace"))
    cases, models = list(stored["cases"]), [str(key) for key in stored.get("models", [])]
    files = _files(folder, name, [key for key in models if key.isidentifier()])
    present = {key: path for key, path in files.items() if _readable(path)}
    for key, path in present.items():
        if key != "cases":
            _check_unpacked(path)
    arrays = {}
    if "arrays" in present:
        with np.load(present["arrays"], allow_pickle=False) as saved:
            arrays = {key: saved[key] for key in saved.files}
    found = {key: path.name for key, path in present.items() if key not in {"cases", "arrays"}}
    return Record(cases, arrays, found, folder)
