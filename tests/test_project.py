"""The project's frame: one list of dependencies, the commands the README promises, CI's entry point, clean text."""

import json
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


# ---- no control characters in the package or the notebooks ----------------------------------
# A "\a" or "\b" in a docstring that is not a raw string becomes BEL or BS: \alpha and \bar then show
# as garbage on the course site. Allowed: \n, \t, and \r only before \n (a CRLF line end).

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")


def _control_characters(text: str) -> list[str]:
    """``line N: 'char'`` for every control character in ``text`` other than a newline, a tab or CRLF."""
    return [f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group()!r}" for m in _CONTROL.finditer(text)]


def _course_files() -> list[Path]:
    files = sorted((ROOT / "gancourse").rglob("*.py"))
    for folder in ("lectures", "solutions", "exercises"):
        files += sorted((ROOT / folder).glob("*.ipynb"))
    return files


def test_control_characters_are_found():
    assert _control_characters("ok\tok\r\nok\n") == []
    assert _control_characters('"""real targets 1 - \alpha"""\n\n\bar') == ["line 1: '\\x07'", "line 3: '\\x08'"]
    assert _control_characters("a\rb") == ["line 1: '\\r'"]


def test_no_control_characters_in_modules_and_notebooks():
    found = {}
    for path in _course_files():
        text = path.read_text(encoding="utf-8")
        bad = _control_characters(text)
        if path.suffix == ".ipynb":  # JSON escapes them: look inside the cells too
            cells = json.loads(text)["cells"]
            bad += [f"cell {i}: {b}" for i, cell in enumerate(cells) for b in _control_characters("".join(cell["source"]))]
        if bad:
            found[str(path.relative_to(ROOT))] = bad[:5]
    assert not found, ("control characters (write \\a, \\b inside a raw string, r\"\"\"...\"\"\"): "
                       + "; ".join(f"{k}: {', '.join(v)}" for k, v in found.items()))


def test_the_package_docstring_names_every_module():
    import gancourse

    modules = {p.stem for p in (ROOT / "gancourse").glob("*.py") if not p.stem.startswith("_")}
    modules |= {p.parent.name for p in (ROOT / "gancourse").glob("*/__init__.py")}
    missing = sorted(m for m in modules if f"``{m}``" not in gancourse.__doc__)
    assert not missing, f"add a row for {', '.join(missing)} to the module table in gancourse/__init__.py"
