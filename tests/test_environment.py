"""The locked environment: requirements.txt, pyproject.toml, environment.yml and the venv agree.

pyproject.toml holds the ranges (for installing the course as a package); requirements.txt
is the lock resolved from them, exact and hash-checked, that ``make lab`` and ``make test``
install; environment.yml installs the same lock for conda users.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT, SOLUTIONS
from lockfile import PROJECT, read_lock

LOCK = ROOT / "requirements.txt"
#: Installed by ``python -m venv`` itself, before the lock; never imported by the course.
VENV_BOOTSTRAP = {"pip"}


def declared_requirements() -> list[Requirement]:
    """pyproject.toml's dependencies and every optional group (the lock resolves them all)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = project.get("optional-dependencies", {}).values()
    return [Requirement(r) for r in project["dependencies"] + [r for g in groups for r in g]]


def test_every_pin_is_exact_and_hash_checked():
    pins = read_lock(LOCK)
    assert len(pins) > 50, "requirements.txt should lock the whole environment"
    unhashed = [pin.name for pin in pins if not pin.hashes]
    assert not unhashed, f"pins without --hash (pip --require-hashes refuses them): {unhashed}"
    assert "make lock" in LOCK.read_text().splitlines()[1], "the lock's header names its command"


def test_lock_resolves_exactly_pyprojects_requirements():
    """Each declared range holds its locked version, and the lock's roots are those ranges."""
    locked = {pin.name: pin for pin in read_lock(LOCK)}
    declared = {canonicalize_name(r.name): r for r in declared_requirements()}
    outside = {name: (str(req.specifier), locked[name].version)
               for name, req in declared.items()
               if name in locked and not req.specifier.contains(locked[name].version,
                                                                prereleases=True)}
    missing = sorted(set(declared) - set(locked))
    roots = {pin.name for pin in read_lock(LOCK) if PROJECT in pin.required_by}
    assert not missing, f"declared in pyproject.toml but not locked (run make lock): {missing}"
    assert not outside, f"locked versions outside pyproject.toml's ranges (run make lock): {outside}"
    assert roots == set(declared), (
        f"the lock was resolved from other requirements than pyproject.toml's (run make lock): "
        f"only in the lock {sorted(roots - set(declared))}, "
        f"only in pyproject.toml {sorted(set(declared) - roots)}")


def test_environment_yml_installs_the_lock():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip_lists = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict)]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = next(d for d in conda if d.startswith("python"))
    assert sorted(conda) == sorted([python, "pip"]), \
        "conda installs Python and pip only; every other package comes from the lock"
    assert project["requires-python"] == ">=" + python.split("=")[-1]
    assert pip_lists == [["-r requirements.txt"]], "environment.yml's pip list is the lock alone"


def test_the_venv_holds_the_locked_set_and_nothing_else():
    """``pip freeze`` of the running environment equals the lock's pins for this platform."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
        capture_output=True, text=True, check=True).stdout
    installed = {canonicalize_name(name): version for name, version in
                 (line.split("==") for line in frozen.splitlines() if "==" in line)}
    locked = {pin.name: pin.version for pin in read_lock(LOCK) if pin.applies_here()}
    extra = sorted(set(installed) - set(locked) - VENV_BOOTSTRAP)
    missing = sorted(set(locked) - set(installed))
    moved = {name: (locked[name], installed[name]) for name in set(locked) & set(installed)
             if locked[name] != installed[name]}
    assert not (extra or missing or moved), (
        f"the environment is not the lock (make install re-creates .venv from it): "
        f"not locked {extra}, not installed {missing}, locked vs installed {moved}")


@pytest.mark.parametrize("notebook", sorted(SOLUTIONS.glob("*/*.ipynb")), ids=lambda p: p.stem)
def test_stored_outputs_come_from_the_locked_keras(notebook):
    """nbval ignores the printed Keras version, so this test keeps the outputs and lock together."""
    keras = next(pin.version for pin in read_lock(LOCK) if pin.name == "keras")
    cells = json.loads(notebook.read_text())["cells"]
    printed = {version for cell in cells for output in cell.get("outputs", [])
               for version in re.findall(r"Keras (\d+\.\d+\.\d+)", "".join(output.get("text", "")))}
    assert printed, f"{notebook.name} should print the Keras version its outputs come from"
    assert printed == {keras}, (
        f"{notebook.name}'s stored outputs come from Keras {sorted(printed)}, the lock has "
        f"{keras}: run make outputs (make upgrade does) and commit the lock and outputs together")
