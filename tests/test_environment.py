"""pyproject.toml is the single list of dependencies; environment.yml must repeat it."""

import tomllib

import yaml

from conftest import ROOT


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict)]
    assert len(pip_lists) == 1, "environment.yml needs exactly one `pip:` list"
    conda_pip = [req for req in pip_lists[0] if req != "-e ."]
    assert sorted(conda_pip) == sorted(pyproject)
    assert "-e ." in pip_lists[0], "environment.yml must install the course package itself"
