"""``make backup`` and ``make restore``: the class's gradebook and grading secret, kept safe.

The gradebook (every grade, comment and submission record) and the grading secret (the seed
of every fresh input, so that a regrade gives the same grades) are what nothing can rebuild.
A backup copies both into ``backups/<date-time>/``: the gradebook through SQLite's backup
API, so the copy is consistent even while ``make autograde`` writes it::

    python -m grader.backup                      # make backup
    python -m grader.backup --restore backups/20261207-101500   # make restore BACKUP=...

A restore puts them back. Where the course already has a gradebook or secret, it is itself
backed up first, so a restore never loses anything.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import time
from pathlib import Path

from traitlets.config import PyFileConfigLoader

GRADEBOOK, SECRET = "gradebook.db", "grading-secret"


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of the SQLite database ``source`` at ``target`` (SQLite's backup
    API: pages written meanwhile by another connection are copied again)."""
    reader, writer = sqlite3.connect(f"file:{source}?mode=ro", uri=True), sqlite3.connect(target)
    try:
        with writer:
            reader.backup(writer)
    finally:
        reader.close()
        writer.close()


def class_files(root: Path) -> tuple[Path, Path]:
    """The gradebook and the grading secret of the course at ``root``, as its
    nbgrader_config.py places them."""
    config = PyFileConfigLoader("nbgrader_config.py", str(root)).load_config()
    return (Path(config.CourseDirectory.db_url.removeprefix("sqlite:///")),
            Path(config.CollectEvidence.secret_file))


def size(count: int) -> str:
    return f"{count} bytes" if count < 1024 else f"{count / 1024:.0f} KiB"


def summary(gradebook: Path) -> str:
    """What a gradebook holds, in a few numbers."""
    with sqlite3.connect(f"file:{gradebook}?mode=ro", uri=True) as database:
        counts = [database.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                  for table in ("assignment", "student", "submitted_assignment", "grade")]
    return "{} assignments, {} students, {} submissions, {} grades".format(*counts)


def backup(root: Path, into: Path) -> Path:
    """Copy the course's gradebook and secret into a new folder of ``into``; returns it."""
    gradebook, secret = class_files(root)
    if not gradebook.is_file():
        raise FileNotFoundError(f"no gradebook at {gradebook}: nothing to back up")
    folder = into / time.strftime("%Y%m%d-%H%M%S")
    while folder.exists():  # two backups within a second
        folder = folder.with_name(folder.name + "+")
    folder.mkdir(parents=True)
    folder.chmod(0o700)  # the secret decides every fresh input: as private as the course's
    copy_database(gradebook, folder / GRADEBOOK)
    if secret.is_file():
        shutil.copy2(secret, folder / SECRET)
        (folder / SECRET).chmod(0o600)
    return folder


def restore(folder: Path, root: Path, into: Path) -> Path | None:
    """Put the backup in ``folder`` back into the course; returns the backup made first of
    what the course had, or None when it had nothing."""
    if not (folder / GRADEBOOK).is_file():
        raise FileNotFoundError(f"{folder} holds no {GRADEBOOK}: not a backup of make backup")
    gradebook, secret = class_files(root)
    kept = backup(root, into) if gradebook.is_file() else None
    gradebook.parent.mkdir(parents=True, exist_ok=True)
    copy_database(folder / GRADEBOOK, gradebook)
    if (folder / SECRET).is_file():
        secret.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / SECRET, secret)
        secret.chmod(0o600)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.backup", description=(
        "Back up the class's gradebook and grading secret, or restore a backup."))
    parser.add_argument("--into", type=Path, default=Path("backups"),
                        help="folder of the backups (default: backups/)")
    parser.add_argument("--restore", type=Path, metavar="BACKUP",
                        help="a folder made by make backup, to put back")
    options = parser.parse_args(argv)
    root = Path.cwd()
    try:
        if options.restore:
            kept = restore(options.restore, root, options.into)
            gradebook, _ = class_files(root)
            print(f"restored {options.restore}: {summary(gradebook)}"
                  + (f"; what the course had is in {kept}" if kept else ""))
        else:
            folder = backup(root, options.into)
            files = ", ".join(f"{path.name} ({size(path.stat().st_size)})"
                              for path in sorted(folder.iterdir()))
            print(f"backed up into {folder}: {files}; {summary(folder / GRADEBOOK)}")
    except (FileNotFoundError, sqlite3.Error) as error:
        print(f"{'restore' if options.restore else 'backup'}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
