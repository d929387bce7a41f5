"""grader/autograde.py's decisions that need no grading: how many workers, which
submissions are graded again, why one was not graded, and who may use the grading cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from nbgrader.coursedir import CourseDirectory

from grader.autograde import (Job, failure_reason, local_cluster, local_workers,
                              results_by_deadline, resubmitted, submissions, task_deadline)


@pytest.mark.parametrize("asked, cores, available_gib, expected", [
    (None, 2, 22.0, 2),    # this machine: 2 cores, memory for 4 kernels of 5 GiB
    (None, 16, 22.0, 4),   # many cores, the memory decides
    (None, 8, 3.0, 1),     # less than one kernel's worth: still one
    (6, 2, 22.0, 6),       # asked for: as asked, with a warning past the memory
])
def test_workers_fit_the_cores_and_the_memory(asked, cores, available_gib, expected):
    workers, why = local_workers(asked, 4096, cores=cores, available_mb=available_gib * 1024)
    assert workers == expected
    assert f"{cores} cores" in why and "5.0 GiB (Sandbox.memory_mb + 1024 MiB)" in why
    assert ("may run out of memory" in why) == (asked is not None and asked > 4)


def course_with(tmp_path: Path, submitted: str | None, graded: str | None) -> CourseDirectory:
    """A course where ada's 01 was collected at ``submitted`` and graded from ``graded``
    (timestamp.txt contents; None: no such folder)."""
    for folder, stamp in [("submitted", submitted), ("autograded", graded)]:
        if stamp is not None:
            path = tmp_path / folder / "ada" / "01"
            path.mkdir(parents=True)
            (path / "timestamp.txt").write_text(stamp)
    return CourseDirectory(root=str(tmp_path))


@pytest.mark.parametrize("submitted, graded, force, graded_again", [
    ("2026-12-07 10:00:00.000000 UTC", None, False, True),       # never graded
    ("2026-12-07 10:00:00.000000 UTC", "2026-12-07 10:00:00.000000 UTC", False, False),
    ("2026-12-07 10:05:00.000000 UTC", "2026-12-07 10:00:00.000000 UTC", False, True),
    ("2026-12-07 09:00:00.000000 UTC", "2026-12-07 10:00:00.000000 UTC", False, False),
    ("not a time", "2026-12-07 10:00:00.000000 UTC", False, False),  # kept, no crash
    ("2026-12-07 10:00:00.000000 UTC", "2026-12-07 10:00:00.000000 UTC", True, True),
])
def test_a_newer_submission_is_graded_again_as_nbgrader_decides(tmp_path, capsys, submitted,
                                                                graded, force, graded_again):
    course = course_with(tmp_path, submitted, graded)
    assert submissions(course, ["01"], force) == ([("01", "ada")] if graded_again else [])
    said = capsys.readouterr().out
    assert ("a newer submission" in said) == (graded_again and graded is not None and not force)


def test_resubmitted_needs_both_timestamps(tmp_path):
    course = course_with(tmp_path, "2026-12-07 10:00:00.000000 UTC", None)
    assert not resubmitted(course, tmp_path / "submitted" / "ada" / "01",
                           tmp_path / "autograded" / "ada" / "01")


@pytest.mark.parametrize("log, reason", [
    ("[AutogradeApp | ERROR] There was an error processing assignment\nTraceback (most recent "
     "call last):\n  File x\nRecursionError: maximum recursion depth exceeded\n"
     "[AutogradeApp | ERROR] Please see the above traceback for details",
     "RecursionError: maximum recursion depth exceeded"),
    ("[AutogradeApp | ERROR] Please see the error above\n[AutogradeApp | ERROR] no notebook "
     "of the release was found\n", "no notebook of the release was found"),
    ("Please see the above traceback", "nbgrader failed without saying why"),
    ("", ""),
])
def test_not_graded_names_the_reason(log, reason):
    assert failure_reason(log) == reason


def test_the_grading_cluster_refuses_a_client_without_its_certificate():
    """A student with a shell on the hub connects to 127.0.0.1 like the instructor: without
    the run's certificate, the scheduler must not let them in (nor a plain TCP client)."""
    import socket
    import ssl

    from distributed import Client
    from distributed.security import Security

    with local_cluster(1) as cluster, Client(cluster) as instructor:
        assert instructor.submit(sum, [1, 2]).result(timeout=60) == 3
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        with pytest.raises(Exception, match="certificate"):
            Client(address, security=Security.temporary(), timeout=10)
        host, port = address.removeprefix("tls://").rsplit(":", 1)
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with pytest.raises((ssl.SSLError, ConnectionError)):  # the alert, or a closed stream
            with socket.create_connection((host, int(port)), timeout=10) as raw:
                with context.wrap_socket(raw) as stream:
                    stream.sendall(b"{}")
                    stream.recv(16)


def test_a_task_past_its_deadline_is_given_up_and_its_worker_replaced():
    """Whatever hangs a worker outside the kernel's limits (a named pipe nbgrader reads, say)
    costs the batch only its task's deadline; the other tasks and the workers go on."""
    import time

    from distributed import Client

    def job(student: str, deadline: float) -> Job:
        return Job("01", student, {}, {}, b"", b"", {}, deadline)

    with local_cluster(2) as cluster, Client(cluster) as client:
        futures = {client.submit(time.sleep, 600, key="grade-01-hangs"): job("hangs", 5.0),
                   client.submit(sum, [1, 2], key="grade-01-fine"): job("fine", 60.0)}
        start = time.monotonic()
        results = {job.student: result for job, result in results_by_deadline(
            client, futures, poll=0.5)}
        assert time.monotonic() - start < 45
        assert results["fine"] == 3
        assert "ran past its 5 s deadline" in results["hangs"].error
        assert "its worker was restarted" in results["hangs"].error
        assert client.submit(sum, [2, 2], pure=False).result(timeout=60) == 4


def test_a_tasks_deadline_adds_its_notebooks_limits_and_the_judges():
    from traitlets.config import Config

    root = Path(__file__).resolve().parents[1]
    name = "01-trainable-weights"
    released = {f"{name}.ipynb": (root / "notebooks" / name / f"{name}.ipynb").read_bytes(),
                "data.csv": b"x"}
    # 01's notebook: 60 s (5 x its 7 s, at the floor), its answer runner's 30 s (half, at the
    # floor) and 30 s to start, the judge's 300 s, a margin of 120 s
    assert task_deadline(Config(), name, released) == 60 + (30 + 30) + 300 + 120
