"""grader/assets.py: the weights and datasets graded kernels load, fetched by the grader on
the grading host (from the mirror, or downloaded) and bound read only into each sandbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import MIRROR, ROOT, SOLUTIONS, make_mirror, needs_mirror, zipped_dataset
from grader import assets as grading
from grader.sandbox import Sandbox, bubblewrap_problem
from helpers import assets, config, models
from nbgrader_course import copy_course, fill_answers, submit


def literal_names(call: str) -> set[str]:
    """Every string literal passed to ``call(...)`` in the instructor's notebooks."""
    return {name for path in SOLUTIONS.glob("*/*.ipynb")
            for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
            for name in re.findall(rf'{call}\(\s*"([\w-]+)"', cell.source)}


@pytest.mark.parametrize("profile", sorted(config.PROFILES))
def test_every_asset_a_notebook_names_is_fetched_in_every_profile(profile):
    bases, datasets = grading.loaded_assets(config.PROFILES[profile])
    assert literal_names("build_base") and literal_names("build_base") <= set(bases)
    assert literal_names("dataset_dir") and literal_names("dataset_dir") <= set(datasets)
    assert config.PROFILES[profile].base in bases and config.PROFILES[profile].dataset in datasets


def test_the_kernels_profile_is_course_profile_else_by_the_gpu_they_are_given(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert [grading.kernel_profile_name(False), grading.kernel_profile_name(True)] == [
        "quick", "full"]
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert grading.kernel_profile_name(True) == "smoke"


def test_without_a_mirror_the_grader_downloads_into_its_course_cache(internet, isolated_assets,
                                                                    monkeypatch):
    spec = models.BASES["mobilenet_v1_025"]
    weights = isolated_assets / "weights.h5"
    weights.write_bytes(b"weights")
    internet[spec.weights_url] = weights
    for name, url in assets.DATASET_URLS.items():
        internet[url] = zipped_dataset(isolated_assets, name)
    fetched = grading.fetch.__wrapped__("smoke")  # not the per-process cache
    cache = isolated_assets / "cache"
    assert fetched.binds == {
        cache / "keras" / "models" / spec.weights_file:
            f"/tmp/.keras/models/{spec.weights_file}",
        cache / "downloads" / "cats_and_dogs_filtered":
            "/tmp/course-cache/downloads/cats_and_dogs_filtered",
        cache / "downloads" / "flickr_logos_27_dataset":
            "/tmp/course-cache/downloads/flickr_logos_27_dataset"}
    assert len(internet.requested) == 3
    grading.fetch.__wrapped__("smoke")  # once per host: a second batch downloads nothing
    assert len(internet.requested) == 3


def test_a_missing_asset_names_the_file_and_the_place_looked(isolated_assets, monkeypatch):
    monkeypatch.setenv("COURSE_ASSETS", str(make_mirror(isolated_assets / "mirror")))
    with pytest.raises(assets.MissingAssetError) as caught:
        grading.fetch.__wrapped__("full")
    message = str(caught.value)
    assert "is not in the offline mirror" in message and "looked for:" in message
    assert "how to get it: download https://" in message


def test_the_kernel_sees_the_fetched_assets_and_no_mirror(monkeypatch):
    if not MIRROR:
        pytest.skip("needs the mirror (COURSE_ASSETS)")
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    sandbox = Sandbox()
    environment = sandbox.environment(dict(os.environ))
    assert "COURSE_ASSETS" not in environment
    assert environment["KERAS_HOME"] == "/tmp/.keras"
    command = sandbox.command(["true"], ROOT, [])
    binds = [command[i + 1:i + 3] for i, arg in enumerate(command) if arg == "--ro-bind"]
    mirror = Path(MIRROR).resolve()  # CI's ../shared may be a link
    assert [str(mirror), str(mirror)] not in binds  # the mirror itself is not in the sandbox
    assert [f"{mirror}/datasets/cats_and_dogs_filtered",
            "/tmp/course-cache/downloads/cats_and_dogs_filtered"] in [
        [str(Path(host).resolve()), inside] for host, inside in binds]


@needs_mirror
@pytest.mark.skipif(bubblewrap_problem() is not None, reason="the sandbox cannot start here")
def test_autograde_names_a_missing_asset_before_any_kernel_starts(released_course, tmp_path):
    course = copy_course(released_course, tmp_path)
    name = "05-feature-extraction"
    release = course / "notebooks" / name / f"{name}.ipynb"
    source = course / "solutions" / name / f"{name}.ipynb"
    submit(course, "ada", name, fill_answers(release, source))
    mirror = make_mirror(tmp_path / "mirror")  # weights_a.h5 only: no MobileNet
    result = subprocess.run([sys.executable, "-m", "grader.autograde", name], cwd=course,
                            capture_output=True, text=True,
                            env={**os.environ, "COURSE_PROFILE": "smoke",
                                 "COURSE_ASSETS": str(mirror),
                                 "COURSE_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the graded kernels' assets are not available" in result.stderr
    assert "mobilenet_2_5_224_tf_no_top.h5 is not in the offline mirror" in result.stderr
    assert f"looked for: {mirror / 'keras' / 'models'}" in result.stderr
    assert not (course / "autograded").exists()
