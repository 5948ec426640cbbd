"""`python -m gancourse grade`: planted submissions give the expected table; a crash and a hang are reported."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from gancourse import notebooks as nbs
from gancourse.grading import checks_called, grade_folder

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "02_optimal_discriminator_jsd.ipynb"


def _submission(replace: dict | None = None, first_cell_extra: str = "", first_cell_prefix: str = "") -> dict:
    """Exercise 02 as a student would hand it in: the solution's code, some functions swapped for wrong ones."""
    nb = nbs.read(SOLUTION)
    for cell in nb["cells"]:
        cell.pop("outputs", None) if cell["cell_type"] != "code" else cell.update(outputs=[], execution_count=None)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code[0]["source"] = first_cell_prefix + nbs.source(code[0]) + first_cell_extra
    for name, body in (replace or {}).items():
        cell = next(c for c in code if nbs.source(c).startswith(f"def {name}("))
        cell["source"] = body
    return nb


WRONG = {
    "optimal_discriminator": "def optimal_discriminator(p_data, p_g):\n    return p_g / (p_data + p_g)\n",
    "jsd": "def jsd(p, q):\n    return float(abs(p - q).sum())\n",
}


def test_grade_three_planted_submissions(tmp_path):
    folder = tmp_path / "submissions"
    (folder / "carol").mkdir(parents=True)
    nbs.write(_submission(), folder / "alice.ipynb")
    nbs.write(_submission(WRONG), folder / "bob.ipynb")
    nbs.write(_submission(first_cell_prefix="import gancourse.no_such_module\n"), folder / "carol" / "02_optimal_discriminator_jsd.ipynb")
    out = tmp_path / "grades.csv"
    result = subprocess.run([sys.executable, "-m", "gancourse", "grade", str(folder), "--timeout", "120", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = {r["student"]: r for r in csv.DictReader(out.open())}
    assert list(csv.reader(out.open()))[0] == ["student", "status", "passed", "total", "check_optimal_discriminator",
                                              "check_jsd"]
    assert set(rows) == {"alice", "bob", "carol"}
    alice, bob, carol = rows["alice"], rows["bob"], rows["carol"]
    assert alice["status"] == "ok" and (alice["passed"], alice["total"]) == ("2", "2")
    assert (alice["check_optimal_discriminator"], alice["check_jsd"]) == ("1", "1")
    assert bob["status"] == "ok" and (bob["passed"], bob["total"]) == ("0", "2")
    assert (bob["check_optimal_discriminator"], bob["check_jsd"]) == ("0", "0")
    assert carol["status"].startswith("error in cell 1: ModuleNotFoundError"), carol["status"]
    assert (carol["passed"], carol["check_optimal_discriminator"], carol["check_jsd"]) == ("0", "0", "0")
    assert "3 student(s) graded" in result.stdout


def test_a_hanging_notebook_is_stopped_and_reported(tmp_path):
    nb = _submission(first_cell_extra="\nwhile True:\n    pass\n")
    nbs.write(nb, tmp_path / "dave.ipynb")
    rows = grade_folder(tmp_path, timeout=8, echo=lambda *a: None)
    assert rows[0]["student"] == "dave" and rows[0]["status"] == "timed out after 8 s"
    assert rows[0]["passed"] == 0 and rows[0]["check_jsd"] == 0


def test_checks_called_reads_the_check_cells():
    assert checks_called(nbs.read(SOLUTION)) == ["check_optimal_discriminator", "check_jsd"]
    assert json.dumps(checks_called({"cells": []})) == "[]"
