"""The project's frame: one list of dependencies, the commands the README promises, CI's entry point."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_defers_to_pyproject():
    text = (ROOT / "environment.yml").read_text()
    lines = [line.split("#")[0].rstrip() for line in text.splitlines() if line.split("#")[0].strip()]
    assert "name: gancourse" in lines
    channels = lines[lines.index("channels:") + 1: lines.index("dependencies:")]
    assert [c.strip() for c in channels] == ["- conda-forge"]
    pip_section = lines[lines.index("  - pip:") + 1:]
    assert [p.strip() for p in pip_section] == ["- -e .[dev]"], "the pip section must be the single line -e .[dev]"


def test_pyproject_lists_the_course_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~ ;\[]", d)[0].lower() for d in project["dependencies"]}
    assert {"torch", "torchvision", "numpy", "scipy", "matplotlib", "ipywidgets", "tqdm", "scikit-learn"} <= names
    dev = {re.split(r"[<>=!~ ;\[]", d)[0].lower() for d in project["optional-dependencies"]["dev"]}
    assert {"pytest", "nbval", "jupyterlab", "ipykernel", "pytorch-fid", "torchmetrics"} <= dev
    assert project["requires-python"] == ">=3.10"


def test_ci_runs_the_readme_test_command_and_nothing_else():
    commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.startswith("#") and not line.startswith("set ") and not line.startswith("cd ")]
    assert commands[-1] == "make test"
    assert "make test" in (ROOT / "README.md").read_text()


def test_makefile_has_the_readme_targets():
    text = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "course", "exercises"):
        assert re.search(rf"^{target}:", text, re.M), f"Makefile has no `{target}` target"


def test_cli_lists_its_commands():
    out = subprocess.run([sys.executable, "-m", "gancourse", "--help"], capture_output=True, text=True, check=True)
    for command in ("course", "exercises", "execute", "train"):
        assert command in out.stdout
