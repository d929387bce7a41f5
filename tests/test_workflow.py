"""The GitHub Actions workflow for forks: valid, and doing what the README says it does.

It cannot run here (no GitHub, no internet), so it is checked two ways: against the GitHub
workflow schema that check-jsonschema ships (offline), and on what it runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "test.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def schema_errors(path: Path) -> str:
    """check-jsonschema's report on ``path`` against its vendored GitHub workflow schema."""
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True, text=True)
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_workflow_matches_githubs_schema():
    assert schema_errors(WORKFLOW) == ""


@pytest.mark.parametrize("breakage", [("    steps:", "    step:"),
                                      ("  pull_request:", "  pull-request:"),
                                      ("    runs-on: ubuntu-24.04\n", "")])
def test_the_schema_check_rejects_a_broken_workflow(tmp_path, breakage):
    broken = tmp_path / "test.yml"
    text = WORKFLOW.read_text()
    assert breakage[0] in text
    broken.write_text(text.replace(breakage[0], breakage[1], 1))
    assert schema_errors(broken) != ""


def test_workflow_tests_pushes_and_pull_requests_and_upgrades_weekly():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert {"push", "pull_request", "schedule", "workflow_dispatch"} <= set(triggers)
    job = workflow["jobs"]["test"]
    target = job["env"]["TARGET"]
    assert "schedule' && 'upgrade'" in target and target.endswith("|| 'test' }}")
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert 'make "$TARGET"' in runs


def test_workflow_caches_pip_and_the_official_downloads_on_the_locked_python():
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["test"]
    uses = {step["uses"].split("@")[0]: step.get("with", {}) for step in job["steps"]
            if "uses" in step}
    python = uses["actions/setup-python"]
    assert python["cache"] == "pip" and python["cache-dependency-path"] == "requirements.txt"
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert f"python={python['python-version']}" in environment["dependencies"]
    cached = uses["actions/cache"]["path"].split()
    assert {"~/.keras", "~/tensorflow_datasets"} <= set(cached)


def test_site_job_builds_on_every_change_and_publishes_the_default_branch_with_pages_actions():
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    site, deploy = jobs["site"], jobs["deploy"]
    assert "make site" in [step.get("run") for step in site["steps"]]
    uses = {step["uses"].split("@")[0]: step for step in site["steps"] if "uses" in step}
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "book/_build/html"
    publish = "github.event_name == 'push' && github.ref_name == " \
              "github.event.repository.default_branch"
    assert publish in site["env"]["PUBLISH"] and deploy["if"] == publish
    assert all(uses[action]["if"] == "env.PUBLISH == 'true'"
               for action in ["actions/configure-pages", "actions/upload-pages-artifact"])
    assert deploy["needs"] == "site" and deploy["environment"]["name"] == "github-pages"
    assert [step["uses"].split("@")[0] for step in deploy["steps"]] == ["actions/deploy-pages"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
