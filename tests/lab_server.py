"""A JupyterLab server for the tests, started as the Makefile starts it, and stopped after."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT

TOKEN = "course-test-token"
# What `make lab` adds: the learner's configuration, without nbgrader's instructor tools.
LEARNER_CONFIG = {"JUPYTER_CONFIG_PATH": str(ROOT / "jupyter" / "learner")}


@dataclass
class Lab:
    """A running lab: its address, and the folder it serves."""

    url: str
    root: Path

    def request(self, path: str, form: dict | None = None, timeout: float = 300
                ) -> tuple[int, str]:
        """GET ``path``, or POST ``form`` to it; returns (HTTP status, body)."""
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"token {TOKEN}"},
            data=urllib.parse.urlencode(form).encode() if form else None)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    def page(self, path: str) -> str:
        """The address a browser opens for ``path``, logged in with the token."""
        return f"{self.url}{path}{'&' if '?' in path else '?'}token={TOKEN}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_lab(root: Path, env: dict[str, str] | None = None, cwd: Path = ROOT
                ) -> Iterator[Lab]:
    """``jupyter lab`` serving ``root``, started in ``cwd`` (where nbgrader reads its
    configuration), with ``env`` added to its environment and its kernels'."""
    port = free_port()
    log = open(root.parent / "jupyter-server.log", "w")  # for a failed test's reader
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
         f"--port={port}", f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}"],
        cwd=cwd, env={**os.environ, **(env or {})}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=log)
    lab = Lab(f"http://127.0.0.1:{port}", root)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                lab.request("/api/status", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, f"jupyter lab exited with {server.returncode}"
                assert time.monotonic() < deadline, "the lab did not start within 60 s"
                time.sleep(0.5)
        yield lab
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a server stuck in shutdown, and its kernels
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@contextlib.contextmanager
def learner_lab(workspace: Path) -> Iterator[Lab]:
    """The learner's lab as `make lab` starts it, on a fresh workspace made by `make workspace`."""
    made = subprocess.run(["make", "-s", "workspace", f"WORKSPACE={workspace}"], cwd=ROOT,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    with running_lab(workspace, LEARNER_CONFIG) as lab:
        yield lab
