"""The ``full`` profile's notebooks, executed end to end offline: the GPU learner's path.

``full`` is what a learner with a GPU runs by default: Xception at 150x150 on TFDS
``cats_vs_dogs``. Without internet neither its ImageNet weights nor the dataset can be
downloaded, so this dry run executes each notebook of :data:`FULL_PROFILE_NOTEBOOKS` from its
instructor source with ``COURSE_PROFILE=full`` and one extra first cell, :data:`DRY_RUN_CELL`,
which only this test adds:

* ``tfds.testing.mock_data`` stands in for the download: TFDS's own random examples of
  ``cats_vs_dogs``'s features, :data:`EXAMPLES_PER_SPLIT` per split, loaded through the same
  ``tfds.load`` call and split names;
* ``helpers.models.build_base`` builds the same architecture with ``weights=None``;
* batches of :data:`BATCH_SIZE` instead of 64, so that each phase runs a few batches on a
  few images (the CPU time goes with the number of images, and the code path is the same);
* notebooks 07's and 08's VGG16 sees :data:`LOGO_IMAGES_PER_CLASS` logo crops per class and split, at
  :data:`LOGO_IMAGE_SIZE` pixels instead of 224, for one epoch a phase and a range test of
  5 batches: the same layers, blocks and cells, at a cost CI can pay on a CPU.

Everything else is the notebook as a learner runs it: the full profile's bases, image sizes,
epochs, and every check. The only failures allowed are a check's
:class:`~exercises.checks.AccuracyBelowTarget`, which untrained weights on random images
cannot avoid. Nothing in ``helpers`` knows about this dry run (no environment variable, no
flag), so it cannot turn on in a learner's run, and no check is weakened for it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import SOLUTIONS

#: Every notebook whose code depends on the profile (a test below finds them, so a new one
#: cannot be left out).
FULL_PROFILE_NOTEBOOKS = ["05-feature-extraction", "06-fine-tuning-cats-vs-dogs",
                          "07-fine-tuning-your-own-images", "08-fine-tuning-toolkit"]
EXAMPLES_PER_SPLIT = 32
BATCH_SIZE = 16
LOGO_IMAGES_PER_CLASS, LOGO_IMAGE_SIZE = 1, 64
DRY_RUN_CELL = f"""\
# Full-profile dry run (tests/test_full_profile.py): mock TFDS data, untrained bases.
import dataclasses
import tensorflow_datasets as tfds
from helpers import config, models

_tfds_mock = tfds.testing.mock_data(num_examples={EXAMPLES_PER_SPLIT})
_tfds_mock.__enter__()  # kept referenced: a collected context manager would undo the mock
_build_base = models.build_base
models.build_base = lambda name, weights="imagenet", image_size=None: _build_base(
    name, weights=None, image_size=image_size)
config.PROFILES["full"] = dataclasses.replace(
    config.PROFILES["full"], batch_size={BATCH_SIZE}, logos=dataclasses.replace(
        config.LOGOS["full"], image_size={LOGO_IMAGE_SIZE}, head_steps=1, fine_tune_epochs=1,
        range_test_batches=5, images_per_class={LOGO_IMAGES_PER_CLASS}))
print("DRY RUN: TFDS mock data, untrained weights, batches of {BATCH_SIZE}")
"""
ALLOWED_ERRORS = {"AccuracyBelowTarget"}


def solution(name: str) -> Path:
    return SOLUTIONS / name / f"{name}.ipynb"


def follows_the_profile(path: Path) -> bool:
    """Whether the notebook reads a profile setting besides its seed, its description and
    04's ``demo_images`` (the same in full and quick): notebooks 01-04 run the same code in
    every profile."""
    source = "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"])
    return bool(re.search(r"\bprofile\.(?!seed\b|describe\b|demo_images\b)\w+|\(profile\s*[,)]",
                          source))


def test_every_notebook_that_follows_the_profile_is_dry_run():
    followers = sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb")
                       if follows_the_profile(p))
    assert followers == FULL_PROFILE_NOTEBOOKS


def run_full_profile(name: str, monkeypatch) -> nbformat.NotebookNode:
    """Execute the instructor notebook in the full profile, the dry-run cell first."""
    monkeypatch.setenv("COURSE_PROFILE", "full")
    notebook = nbformat.read(solution(name), as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(DRY_RUN_CELL))
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(solution(name).parent)}}).execute()
    return notebook


def errors(cell) -> list[tuple[str, str]]:
    return [(out.ename, out.evalue) for out in cell.outputs if out.output_type == "error"]


@pytest.mark.parametrize("name", FULL_PROFILE_NOTEBOOKS)
def test_notebook_runs_end_to_end_in_the_full_profile(name, monkeypatch):
    notebook = run_full_profile(name, monkeypatch)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    printed = next(text for text in ("".join(out.get("text", "") for out in cell.outputs)
                                     for cell in code[1:]) if text)  # the first that prints
    on_logos = f"profile 'full': VGG16 at {LOGO_IMAGE_SIZE}x{LOGO_IMAGE_SIZE}"
    described = {"07-fine-tuning-your-own-images": on_logos,
                 "08-fine-tuning-toolkit": on_logos}.get(
        name, f"profile 'full': base xception, dataset tfds:cats_vs_dogs, 150x150, "
              f"batch {BATCH_SIZE}")
    assert described in printed, printed

    unrun = [k for k, cell in enumerate(code) if cell.execution_count is None]
    assert not unrun, f"cells never executed: {unrun}"
    failures = {k: errors(cell) for k, cell in enumerate(code) if errors(cell)}
    unexpected = {k: found for k, found in failures.items()
                  if any(ename not in ALLOWED_ERRORS for ename, _ in found)
                  or not code[k].metadata.get("nbgrader", {}).get("grade")}
    assert not unexpected, f"cells failed in the full profile: {unexpected}"

    checks = [cell for cell in code if cell.metadata.get("nbgrader", {}).get("grade")]
    assert checks, "the notebook has graded check cells"
    for cell in checks:
        printed = "".join(out.get("text", "") for out in cell.outputs)
        assert "✓" in printed or errors(cell), f"a check printed no verdict: {cell.source}"
