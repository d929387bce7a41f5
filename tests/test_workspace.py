"""The learner's workspace and lab: copies made once and never overwritten, a reset that
keeps the old answers, and a JupyterLab without nbgrader's instructor tools."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ASSIGNMENTS, NOTEBOOKS, ROOT, SOLUTIONS
from lab_server import learner_lab as running_learner_lab


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args], cwd=ROOT, capture_output=True, text=True)


def student(name: str) -> Path:
    return NOTEBOOKS / name / f"{name}.ipynb"


def test_workspace_copies_every_student_notebook_once(tmp_path):
    workspace = tmp_path / "workspace"
    assert make("workspace", f"WORKSPACE={workspace}").returncode == 0
    for name in ASSIGNMENTS:
        assert (workspace / name / f"{name}.ipynb").read_bytes() == student(name).read_bytes()

    answered = workspace / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb"
    answered.write_text(answered.read_text().replace("# YOUR CODE HERE", "n_weights = 8", 1))
    (workspace / ASSIGNMENTS[-1] / f"{ASSIGNMENTS[-1]}.ipynb").unlink()
    again = make("workspace", f"WORKSPACE={workspace}")
    assert "n_weights = 8" in answered.read_text(), "the learner's answers were overwritten"
    assert again.stdout.split() == ["new:", str(workspace / ASSIGNMENTS[-1] /
                                               f"{ASSIGNMENTS[-1]}.ipynb")]


def test_reset_starts_one_notebook_afresh_and_keeps_the_answers(tmp_path):
    workspace, name = tmp_path / "workspace", ASSIGNMENTS[0]
    make("workspace", f"WORKSPACE={workspace}")
    copy = workspace / name / f"{name}.ipynb"
    copy.write_text(copy.read_text().replace("# YOUR CODE HERE", "n_weights = 8", 1))
    result = make("reset", f"NOTEBOOK={name}", f"WORKSPACE={workspace}")
    assert result.returncode == 0, result.stderr
    assert copy.read_bytes() == student(name).read_bytes()
    (kept,) = (workspace / name).glob(f"{name}-before-reset-*.ipynb")
    assert "n_weights = 8" in kept.read_text() and str(kept) in result.stdout


def test_reset_of_an_unknown_notebook_lists_the_names(tmp_path):
    result = make("reset", "NOTEBOOK=01-trainable", f"WORKSPACE={tmp_path}")
    assert result.returncode != 0 and ASSIGNMENTS[0] in result.stdout
    assert not any(tmp_path.iterdir())


@pytest.fixture
def learner_lab(tmp_path):
    """The learner's JupyterLab as `make lab` starts it, on a fresh workspace."""
    with running_learner_lab(tmp_path / "workspace") as lab:
        yield lab


def test_learner_lab_serves_the_workspace_without_instructor_tools(learner_lab):
    status, listing = learner_lab.request("/api/contents")
    assert status == 200
    assert {item["name"] for item in json.loads(listing)["content"]} == set(ASSIGNMENTS)
    status, page = learner_lab.request("/lab")
    config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page,
                                  re.S).group(1))
    disabled = set(config["disabledExtensions"])
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
            "@jupyterlab/apputils-extension:announcements"} <= disabled
    assert "@jupyter/nbgrader:validate-assignment" not in disabled
    assert learner_lab.request("/formgrader")[0] == 404
    assert learner_lab.request("/nbgrader_version?version=0")[0] != 404  # Validate's server side


def test_validate_button_runs_the_checks_on_the_learners_copy(learner_lab):
    """What JupyterLab's Validate button posts, on a blank copy and on an answered one."""
    name = ASSIGNMENTS[0]
    path = f"{name}/{name}.ipynb"
    status, blank = learner_lab.request("/assignments/validate", {"path": path})
    assert status == 200 and json.loads(blank)["success"]
    assert json.loads(blank)["value"].get("failed"), "a blank notebook must fail validation"
    shutil.copy(SOLUTIONS / name / f"{name}.ipynb", learner_lab.root / path)
    status, answered = learner_lab.request("/assignments/validate", {"path": path})
    assert status == 200 and json.loads(answered) == {"success": True, "value": {}}
