"""``make autograde``: nbgrader's autograde, in parallel, on a Dask cluster.

nbgrader grades one submission after another, and two ``nbgrader autograde`` runs on one
gradebook lock it. Here:

1. The coordinator (this command, in the course folder) lists the submissions to grade and
   sends each to a Dask worker as bytes: its files, a snapshot of the gradebook, the
   released notebooks, the course's grading secret and the nbgrader configuration. No
   shared file system is needed, so the workers may be other machines.
2. A worker (:func:`grade_submission`) builds a private course from those bytes and runs
   nbgrader's own autograde on it, with the course's pipeline: the kernel in the sandbox
   (:mod:`grader.execute`), the verdicts from the judge (:mod:`grader.judge`). It sends
   back the autograded notebooks.
3. The coordinator alone writes the gradebook: for each result, as it arrives, nbgrader's
   autograde runs again on the real course with :class:`UseGradedNotebook` in place of the
   execution, so the grades, comments, late penalties and ``autograded/`` folder are
   exactly what nbgrader writes. A progress bar counts the graded submissions.

By default an embedded ``LocalCluster`` has as many workers as the cores and the memory
allow (``--workers N`` to change), and speaks only TLS with certificates made for the run;
``--scheduler tcp://host:8786`` grades on an existing cluster instead. Each task has a
deadline (:func:`task_deadline`); past it, its worker is restarted and the submission is
not graded, with the reason. Before a batch, the weights and datasets the kernels load are fetched on
this host (:mod:`grader.assets`). Like
``nbgrader autograde``, submissions already autograded are skipped unless ``--force`` or
unless a newer one was collected since (its ``timestamp.txt``); a regrade of the same
submission gives the same grades (the seeds of fresh inputs depend only on the course's secret
and the submission).
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: jsonschema, under nbformat, imports rfc3987_syntax, which compiles ~35 Earley parsers at
#: import: 2 s of CPU in the coordinator and in every worker (python-jsonschema#1428). It
#: only checks the "iri" formats, which no notebook schema uses; blocking it skips them.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
import psutil
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode
from traitlets.config import Config, KVArgParseConfigLoader, PyFileConfigLoader

from grader.backup import copy_database
from grader.sandbox import MEMORY_SLACK_MB, Sandbox, SandboxUnavailable, bubblewrap_problem
from helpers.assets import DownloadFailedError, MissingAssetError

#: The coordinator's pipeline: the worker's executed notebook instead of an execution.
RECORDING_PREPROCESSORS = [
    "grader.autograde.UseGradedNotebook",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]


@dataclass
class Job:
    """One submission to grade, with everything a worker needs, as bytes."""

    assignment: str
    student: str
    files: dict[str, bytes]          # the submission folder's files, by relative path
    released: dict[str, bytes]       # the released assignment's files
    gradebook: bytes
    secret: bytes
    config: dict
    deadline: float = 0.0            # seconds a worker may take, 0 for none (see task_deadline)


@dataclass
class Result:
    """What a worker sends back: the autograded notebooks, or why there are none."""

    assignment: str
    student: str
    notebooks: dict[str, str] = field(default_factory=dict)  # notebook name -> JSON
    error: str = ""
    seconds: float = 0.0


# -- worker side ------------------------------------------------------------------------------
def grade_submission(job: Job) -> Result:
    """Autograde one submission in a private copy of the course (runs on a Dask worker)."""
    from nbgrader.apps import NbGraderAPI

    started = time.monotonic()
    result = Result(job.assignment, job.student,
                    error=unreadable_notebook(job.files, job.released))
    if result.error:
        return result
    with tempfile.TemporaryDirectory(prefix="grading-") as scratch:
        root = Path(scratch) / "course"
        _write_tree(root / "submitted" / job.student / job.assignment, job.files)
        _write_tree(root / "release" / job.assignment, job.released)
        (root / ".nbgrader").mkdir(parents=True)
        (root / ".nbgrader" / "gradebook.db").write_bytes(job.gradebook)
        secret = root / ".nbgrader" / "grading-secret"
        secret.write_bytes(job.secret)
        secret.chmod(0o600)
        config = Config(job.config)
        config.merge(Config({
            "CourseDirectory": {"root": str(root), "release_directory": "release",
                                "source_directory": "source",
                                "db_url": f"sqlite:///{root / '.nbgrader' / 'gradebook.db'}"},
            "CollectEvidence": {"secret_file": str(secret)},
            "Exchange": {"root": str(root / ".nbgrader" / "exchange")},
        }))
        outcome = NbGraderAPI(config=config).autograde(job.assignment, job.student)
        graded = root / "autograded" / job.student / job.assignment
        result.notebooks = {  # the released notebooks only: a submission may ship any file
            Path(name).stem: (graded / name).read_text(errors="replace")
            for name in job.released
            if name.endswith(".ipynb") and "/" not in name and (graded / name).is_file()
            and not (graded / name).is_symlink()}
        if not outcome["success"] or not result.notebooks:
            result.error = (outcome.get("error") or outcome.get("log") or "no notebook")[-3000:]
    result.seconds = time.monotonic() - started
    return result


def unreadable_notebook(files: dict[str, bytes], released: dict[str, bytes]) -> str:
    """Why a notebook of the submission that the release has cannot be read (nbgrader
    grades those, skips any other, and of an unreadable one only says that it failed), or
    ``""``."""
    for name, content in sorted(files.items()):
        if name.endswith(".ipynb") and name in released:
            try:
                nbformat.reads(content.decode("utf-8"), as_version=4)
            except Exception as error:  # nbformat reports bad JSON, encoding and schema alike
                return f"{name} is not a readable notebook ({type(error).__name__}: {error})"
    return ""


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


# -- coordinator side -------------------------------------------------------------------------
class UseGradedNotebook(NbGraderPreprocessor):
    """The coordinator's stand-in for execution: the notebook a worker autograded.

    A notebook the worker could not grade gets an error in every code cell instead, so it
    scores 0 and its feedback says why."""

    staging = Unicode("", help="Folder of the workers' results: <student>/<notebook>.ipynb"
                      ).tag(config=True)
    failure = Unicode("").tag(config=True)

    def preprocess(self, nb, resources):
        about = resources["nbgrader"]
        graded = Path(self.staging) / about["student"] / f"{about['notebook']}.ipynb"
        if graded.is_file():
            return nbformat.read(graded, as_version=4), resources
        message = f"not graded: {self.failure or 'the grader returned no notebook'}"
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = [new_output("error", ename="NotGraded", evalue=message,
                                           traceback=[message])]
        return nb, resources


def course_config(root: Path, overrides: list[str]) -> Config:
    """The course's nbgrader configuration, with ``--Class.trait=value`` overrides."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.merge(KVArgParseConfigLoader(overrides).load_config())
    return config


def tree_files(root: Path) -> list[Path]:
    """The regular files under ``root``, sorted (symlinks are not followed)."""
    return [path for path in sorted(root.rglob("*")) if path.is_file() and not path.is_symlink()]


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, by relative path."""
    return {str(path.relative_to(root)): path.read_bytes() for path in tree_files(root)}


def tree_bytes(root: Path) -> int:
    """The size of the files under ``root`` (as :func:`read_tree` would read them)."""
    return sum(path.lstat().st_size for path in tree_files(root))


def gradebook_snapshot(database: Path) -> bytes:
    """A consistent copy of the SQLite gradebook, as bytes."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "gradebook.db"
        copy_database(database, copy)
        return copy.read_bytes()


def submissions(course, assignments: list[str], force: bool) -> list[tuple[str, str]]:
    """(assignment, student) pairs to grade: collected, and not yet autograded, or
    autograded from an older submission (nbgrader's rule), or all of them with ``force``."""
    found = []
    for assignment in assignments:
        submitted = Path(course.root, course.submitted_directory)
        for folder in sorted(submitted.glob(f"*/{assignment}")):
            student = folder.parent.name
            done = Path(course.format_path(course.autograded_directory, student, assignment))
            regrade = force or not done.exists() or resubmitted(course, folder, done)
            if folder.is_dir() and regrade:
                found.append((assignment, student))
    return found


def resubmitted(course, submitted: Path, graded: Path) -> bool:
    """Whether the collected submission's timestamp.txt is newer than the one it was graded
    from, as ``nbgrader autograde`` decides (BaseConverter.init_destination). A timestamp
    that cannot be read keeps the grade there is."""
    try:
        new = course.get_existing_timestamp(str(submitted))
        old = course.get_existing_timestamp(str(graded))
    except Exception:  # nbgrader fails on an invalid timestamp
        return False
    if new is not None and old is not None and new > old:
        print(f"autograde: {submitted.parent.name} {submitted.name}: a newer submission "
              f"({new:%Y-%m-%d %H:%M:%S} after {old:%Y-%m-%d %H:%M:%S}), graded again")
        return True
    return False


class Progress:
    """A one-line progress bar on a terminal, a line per submission elsewhere."""

    def __init__(self, total: int, stream=sys.stderr) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.live = stream.isatty()

    def update(self, label: str) -> None:
        self.done += 1
        filled = round(30 * self.done / max(self.total, 1))
        line = f"[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {label}"
        self.stream.write(f"\r\033[K{line}" if self.live else f"{line}\n")
        if self.live and self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


#: A log line that names an exception: ``[AutogradeApp | ERROR] ValueError: ...`` or
#: ``ValueError: ...``.
EXCEPTION_LINE = re.compile(r"^(?:\[[^]]*\]\s*)?((?:\w+\.)*\w*(?:Error|Exception|Exit|Timeout"
                            r"|Failed|Interrupt)\w*:\s*\S.*)$")


def failure_reason(log: str) -> str:
    """The line of a failed grading's log that says why: its last exception, else its last
    line that is not a pointer elsewhere ("Please see the above traceback"); ``""`` for no
    failure."""
    lines = [line.strip() for line in log.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        found = EXCEPTION_LINE.match(line)
        if found:
            return found.group(1)
    for line in reversed(lines):
        if not re.search(r"\bsee (the|above)\b|\btraceback\b", line, re.IGNORECASE):
            return re.sub(r"^\[[^]]*\]\s*", "", line)
    return "nbgrader failed without saying why" if lines else ""


class RecordingFailed(RuntimeError):
    """nbgrader could not write a result into the course: the grader's failure, not the
    submission's."""


def record(api, staging: Path, result: Result) -> str:
    """Write one worker's result into the course and its gradebook (the only writer);
    returns why the submission was not graded, or ``""``.

    Raises:
        RecordingFailed: nbgrader's autograde failed to record a submission the worker
            graded.
    """
    folder = staging / result.assignment
    shutil.rmtree(folder, ignore_errors=True)
    for name, text in result.notebooks.items():
        (folder / result.student).mkdir(parents=True, exist_ok=True)
        (folder / result.student / f"{name}.ipynb").write_text(text)
    api.config.UseGradedNotebook.staging = str(folder)
    api.config.UseGradedNotebook.failure = failure_reason(result.error)
    outcome = api.autograde(result.assignment, result.student, force=True, create=True)
    if not outcome["success"] and not result.error:  # nbgrader cannot read an unreadable one
        raise RecordingFailed((outcome.get("error") or outcome.get("log") or "")[-2000:])
    return result.error


def total_score(api, assignment: str, student: str) -> str:
    """``score/max`` of a submission, as the gradebook now has it."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(api.coursedir.db_url, course_id=api.coursedir.course_id) as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return "no grade"
        return f"{submission.score:g}/{submission.max_score:g}"


def local_workers(asked: int | None, memory_mb: int, cores: int | None = None,
                  available_mb: float | None = None) -> tuple[int, str]:
    """How many kernels to grade at once on this machine, and why: ``asked`` if given, else
    one per core, but no more than the memory available holds at the sandbox's limit
    (``memory_mb`` per kernel, plus the slack its processes may hold above it)."""
    cores = cores or os.cpu_count() or 1
    if available_mb is None:
        available_mb = psutil.virtual_memory().available / 2**20
    per_kernel = memory_mb + MEMORY_SLACK_MB
    fit = max(1, int(available_mb // per_kernel))
    memory = (f"{available_mb / 1024:.1f} GiB available holds {fit} kernels of "
              f"{per_kernel / 1024:.1f} GiB (Sandbox.memory_mb + {MEMORY_SLACK_MB} MiB)")
    if asked:
        return asked, f"as asked; {cores} cores, {memory}" + (
            ": kernels may run out of memory" if asked > fit else "")
    return min(cores, fit), f"{cores} cores, {memory}"


def arguments() -> argparse.ArgumentParser:
    """``python -m grader.autograde``'s options (``make autograde`` passes AUTOGRADE_ARGS)."""
    parser = argparse.ArgumentParser(prog="python -m grader.autograde", description=(
        "Autograde collected submissions in parallel on Dask; extra --Class.trait=value "
        "options override nbgrader_config.py (e.g. --Sandbox.memory_mb=2048)."))
    parser.add_argument("assignments", nargs="*", help="assignments to grade (default: all)")
    parser.add_argument("--workers", type=int, help=(
        "LocalCluster workers (default: as many as the cores and the memory allow, each "
        "kernel at Sandbox.memory_mb)"))
    parser.add_argument("--scheduler", help="address of a Dask scheduler to grade on instead")
    parser.add_argument("--student", action="append", default=[],
                        help="grade only this student (repeat for more)")
    parser.add_argument("--force", action="store_true", help="regrade graded submissions")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = arguments()
    options, overrides = parser.parse_known_args(argv)

    from nbgrader.apps import NbGraderAPI

    root = Path.cwd()
    config = course_config(root, overrides)
    try:
        if not Sandbox(config=config).check_available():
            print("autograde: grading WITHOUT a sandbox, as asked: every submission's code "
                  "runs as you, beside the gradebook", file=sys.stderr)
    except SandboxUnavailable as error:
        print(f"autograde: {error}", file=sys.stderr)
        return 2
    sandbox = Sandbox(config=config)
    if sandbox.enabled and not bubblewrap_problem(sandbox.program):
        try:  # before any kernel starts: a missing asset is named now, not in every notebook
            fetched = sandbox.kernel_assets()
        except (MissingAssetError, DownloadFailedError, ValueError) as error:
            print(f"autograde: the graded kernels' assets are not available:\n{error}",
                  file=sys.stderr)
            return 2
        print(f"autograde: the kernels run profile {fetched.profile!r}; its weights and "
              f"datasets ({len(fetched.binds)}) are ready for them, read only")
    recording = copy.deepcopy(config)  # the workers keep the course's own pipeline
    recording.merge(Config({"Autograde": {"autograde_preprocessors": RECORDING_PREPROCESSORS}}))
    api = NbGraderAPI(config=recording)
    course = api.coursedir
    assignments = options.assignments or sorted(a.name for a in api.gradebook.assignments)
    todo = [(assignment, student)
            for assignment, student in submissions(course, assignments, options.force)
            if not options.student or student in options.student]
    if not todo:
        print("autograde: nothing to grade (to grade unchanged submissions again: --force)")
        return 0
    if not options.scheduler:
        options.workers, options.workers_why = local_workers(
            options.workers, Sandbox(config=config).memory_mb)
    secret = Path(config.CollectEvidence.secret_file)
    if not secret.is_file():
        from grader.judge import CollectEvidence

        CollectEvidence(config=config).seed({})  # makes the course's secret
    snapshot = gradebook_snapshot(Path(course.db_url.removeprefix("sqlite:///")))
    released = {a: read_tree(Path(course.format_path(course.release_directory, ".", a)))
                for a in assignments}
    deadlines = {a: task_deadline(config, a, released[a]) for a in assignments}
    cap_mb = Sandbox(config=config).disk_mb
    jobs, refused = [], []
    for a, s in todo:
        folder = Path(course.format_path(course.submitted_directory, s, a))
        size_mb = tree_bytes(folder) / 2**20
        if size_mb > cap_mb:  # never read into memory, nor sent to a worker
            refused.append(Result(a, s, error=(
                f"its files hold {size_mb:.0f} MiB, more than the {cap_mb} MiB a submission "
                f"may hold (Sandbox.disk_mb)")))
        else:
            jobs.append(Job(a, s, read_tree(folder), released[a], snapshot,
                            secret.read_bytes(), dict(config), deadlines[a]))
    return run(api, jobs, refused, options)


#: Seconds a grading task may take beyond its notebooks' limits and the judge's: a kernel's
#: start, nbgrader's own steps.
TASK_MARGIN = 120
#: Seconds between two looks at which tasks run past their deadlines.
DEADLINE_POLL = 5.0


def task_deadline(config: Config, assignment: str, released: dict[str, bytes]) -> float:
    """Seconds grading one submission of ``assignment`` (released as ``released``) may take
    on a worker: its notebooks' limits, their answer runners' and the judge's, and
    :data:`TASK_MARGIN`."""
    from grader.execute import reference_seconds
    from grader.judge import RUNNER_START_SLACK, JudgeOutsideKernel

    sandbox, total = Sandbox(config=config), TASK_MARGIN
    for name, content in released.items():
        if name.endswith(".ipynb") and "/" not in name:
            try:
                reference = reference_seconds(nbformat.reads(content.decode(), as_version=4))
            except Exception:  # an unreadable release: nbgrader reports it
                reference = None
            limit = sandbox.notebook_limit(assignment, reference)[0]
            total += limit + sandbox.answers_limit(limit) + RUNNER_START_SLACK
            total += JudgeOutsideKernel(config=config).timeout
    return total


def results_by_deadline(client, futures: dict, poll: float = DEADLINE_POLL):
    """``(job, result)`` for each future of ``futures`` (future -> :class:`Job`), as each
    arrives. A job that runs longer than its ``deadline``, counted from when a worker took
    it, is given up: its future is cancelled and its worker restarted (whatever hangs there
    dies with it), and its result says so. No submission can hold the batch longer."""
    from distributed import wait

    pending, started = set(futures), {}
    while pending:
        try:
            done, pending = wait(list(pending), timeout=poll, return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = set()
        for future in done:
            job = futures[future]
            try:
                yield job, future.result()
            except Exception as error:  # the worker failed: no notebook to record
                yield job, Result(job.assignment, job.student, error=f"grading failed: {error}")
        now = time.monotonic()
        running = {key: worker for worker, keys in client.processing().items() for key in keys}
        for future in list(pending):
            job = futures[future]
            if future.key not in running or not job.deadline:
                continue
            if now - started.setdefault(future.key, now) > job.deadline:
                pending.discard(future)
                future.cancel()
                try:
                    client.restart_workers([running[future.key]])
                    what = "its worker was restarted"
                except Exception as error:  # a worker without a nanny cannot be restarted
                    what = f"its worker could not be restarted ({error})"
                yield job, Result(job.assignment, job.student, seconds=now - started[future.key],
                                  error=f"grading it ran past its {job.deadline:.0f} s deadline "
                                        f"(its notebooks' limits, the judge's and {TASK_MARGIN} "
                                        f"s); {what}")


def local_cluster(workers: int):
    """A LocalCluster of ``workers`` single-threaded processes that speaks only TLS, with a
    certificate made for this run and held in memory: a client must present it, so no other
    user of this host can connect and run code as the instructor."""
    import dask
    from distributed import LocalCluster
    from distributed.security import Security

    # one task a worker at a time: a task sent to a worker runs there (results_by_deadline
    # counts its time from then)
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            memory_limit=0, dashboard_address=None, silence_logs=logging.ERROR,
                            security=Security.temporary())


def run(api, jobs: list[Job], refused: list[Result], options) -> int:
    """Grade ``jobs`` on the cluster, recording each result as it arrives; record the
    ``refused`` submissions (not graded, with the reason) first."""
    from distributed import Client

    not_graded: list[str] = []
    broken: list[str] = []
    started = time.monotonic()
    progress = Progress(len(jobs) + len(refused))
    with tempfile.TemporaryDirectory(prefix="autograde-") as staging:
        def finish(result: Result) -> None:
            label = f"{result.student} {result.assignment}"
            try:
                problem = record(api, Path(staging), result)
            except RecordingFailed as error:
                broken.append(f"{label}: {error}")
                progress.update(f"{label}: NOT RECORDED (the grader failed, see the end)")
                return
            reason = failure_reason(problem)
            if reason:
                not_graded.append(f"{label}: {reason}")
            score = total_score(api, result.assignment, result.student)
            progress.update(f"{label}: {score} ({result.seconds:.1f} s)"
                            + (f" NOT GRADED: {reason}" if reason else ""))

        for result in refused:
            finish(result)
        if jobs:
            if options.scheduler:
                cluster, client = None, Client(options.scheduler)
            else:
                workers = max(1, min(options.workers, len(jobs)))
                print(f"autograde: {workers} workers for {len(jobs)} submissions "
                      f"({options.workers_why})", flush=True)
                cluster = local_cluster(workers)
                client = Client(cluster)
            with client:
                futures = {client.submit(grade_submission, job, pure=False,
                                         key=f"grade-{job.assignment}-{job.student}"): job
                           for job in jobs}
                for _, result in results_by_deadline(client, futures):
                    finish(result)
            if cluster is not None:
                cluster.close()
    total = len(jobs) + len(refused)
    print(f"autograde: {total} submissions in {time.monotonic() - started:.1f} s, "
          f"{total - len(not_graded) - len(broken)} graded")
    if not_graded:  # the submission's fault: it scores 0 with the reason, the batch goes on
        print(f"autograde: {len(not_graded)} not graded (each scores 0, for this reason):",
              *[f"  {line}" for line in not_graded], sep="\n")
    if broken:  # the grader's fault: the gradebook may lack these grades
        print(f"autograde: the grader failed to record {len(broken)}:",
              *[f"  {line}" for line in broken], sep="\n", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
