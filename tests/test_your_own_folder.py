"""Notebooks 07 and 08 on a learner's own folder of photos, nothing like the logos.

The one setting at the top of each (``IMAGE_FOLDER``) is pointed, as a learner would, at a
generated folder: 3 classes, phone-style ``IMG-...-WA....JPG`` names and screenshots saved
as PNG, split already into ``train/ val/ test/``. Both notebooks run end to end in the
``smoke`` profile; every cell must run, and nothing may assume 27 logos."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image

from conftest import SOLUTIONS, needs_mirror

NOTEBOOKS = ["07-fine-tuning-your-own-images", "08-fine-tuning-toolkit"]
SETTING = "IMAGE_FOLDER = None"
CLASSES = ("daisy", "rose", "tulip")
PICTURES = {"train": 9, "val": 3, "test": 3}


def phone_folder(root: Path) -> Path:
    """Photo-like pictures, each class tinted its own colour, as a phone saves them."""
    number = 0
    for split, count in PICTURES.items():
        for tint, label in enumerate(CLASSES):
            folder = root / split / label
            folder.mkdir(parents=True)
            for k in range(count):
                number += 1
                rng = np.random.default_rng(number)
                coarse = rng.integers(0, 160, (6, 8, 3))
                coarse[..., tint] += 90
                picture = Image.fromarray(coarse.astype(np.uint8)).resize(
                    (96, 72), Image.Resampling.BICUBIC)
                if k % 3 == 2:
                    picture.save(folder / f"Screenshot_20240105-1200{number:02d}.png")
                else:
                    picture.save(folder / f"IMG-20240105-WA{number:04d}.JPG", "JPEG", quality=90)
    return root


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict[str, nbformat.NotebookNode]:
    """Each notebook, executed on the phone folder in the smoke profile, in a cache of its own."""
    root = tmp_path_factory.mktemp("own-folder")
    photos = phone_folder(root / "photos")
    patch = pytest.MonkeyPatch()
    patch.setenv("COURSE_PROFILE", "smoke")
    patch.setenv("COURSE_CACHE", str(root / "cache"))
    executed = {}
    try:
        for name in NOTEBOOKS:
            path = SOLUTIONS / name / f"{name}.ipynb"
            notebook = nbformat.read(path, as_version=4)
            settings = [cell for cell in notebook.cells if cell.source.startswith(SETTING)]
            assert len(settings) == 1, f"{name} has one `{SETTING}` cell at the top"
            settings[0].source = settings[0].source.replace(SETTING, f"IMAGE_FOLDER = {str(photos)!r}")
            NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            executed[name] = notebook
    finally:
        patch.undo()
    return executed


def printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells
                   if cell.cell_type == "code" for output in cell.outputs)


@needs_mirror
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_cell_runs_on_your_own_folder(ran, name):
    notebook = ran[name]
    failed = {index: [f"{output.ename}: {output.evalue}"[:300] for output in cell.outputs
                      if output.output_type == "error"]
              for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
    assert not {index: errors for index, errors in failed.items() if errors}
    text = printed(notebook)
    assert "3 classes: daisy, rose, tulip" in text
    assert "train 27, validation 9, test 9 images" in text  # the given split, kept
    assert "top-5" not in text and "top5" not in text  # 3 classes: top-5 means nothing


@needs_mirror
def test_the_logo_only_parts_say_they_are_skipped(ran):
    text = printed(ran["07-fine-tuning-your-own-images"])
    assert "box crops" not in text and "whole photos:" not in text  # no layouts to compare
    assert "this folder has no photos without a logo" in text
    assert "IMG-20240105-WA" in text or "Screenshot_" in text  # a file classified by name
