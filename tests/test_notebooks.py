"""The committed notebooks: executed in order, exercises generated from solutions, checks that can fail.

nbval (run by `make test` over lectures/ and solutions/) re-executes every cell and compares the
cells marked NBVAL_CHECK_OUTPUT; these tests check what nbval cannot see: that what is committed
was executed top to bottom, that the exercises are exactly what the generator makes of the
solutions, and that every check cell fails on the stub and passes on the solution.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import matplotlib
import pytest

from gancourse import checks
from gancourse import notebooks as nbs
from gancourse.checks import NotWrittenYet

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parent.parent
LECTURES = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))


def _code(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _ids(paths):
    return [p.name for p in paths]


def test_lecture_00_exists():
    assert (ROOT / "lectures" / "00_setup.ipynb").exists()


@pytest.mark.parametrize("path", LECTURES + SOLUTIONS, ids=_ids(LECTURES + SOLUTIONS))
def test_committed_executed_in_order_without_errors(path):
    cells = _code(nbs.read(path))
    assert cells, f"{path.name} has no code cells"
    counts = [c["execution_count"] for c in cells if nbs.source(c).strip()]
    assert all(isinstance(n, int) for n in counts), f"{path.name} has unexecuted cells: commit it executed"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name} was not executed top to bottom: {counts}"
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name} carries an error output: {errors[0].get('ename')}"
    assert nbs.read(path)["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", LECTURES + SOLUTIONS, ids=_ids(LECTURES + SOLUTIONS))
def test_no_machine_paths_in_outputs(path):
    text = nbs.dumps(nbs.read(path))
    for needle in ("/work/", "/tmp/", "/root/", "/home/"):
        assert needle not in text, f"{path.name} names a path of the machine it ran on ({needle})"


def test_no_exercise_without_its_solution():
    assert {p.name for p in EXERCISES} == {p.name for p in SOLUTIONS}


@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_exercises_carry_no_outputs(path):
    for cell in _code(nbs.read(path)):
        assert cell["outputs"] == [] and cell["execution_count"] is None


def test_committed_exercises_equal_a_fresh_generation(tmp_path):
    written = nbs.generate_exercises(ROOT, out_dir=tmp_path)
    assert {p.name for p in written} == {p.name for p in EXERCISES}
    for fresh in written:
        committed = (ROOT / "exercises" / fresh.name).read_text(encoding="utf-8")
        assert fresh.read_text(encoding="utf-8") == committed, (
            f"exercises/{fresh.name} differs from what solutions/{fresh.name} generates: run `make exercises`"
        )


# ---- the generator itself ---------------------------------------------------------------------

SOLVED = '''def f(x):
    """Double x."""
    ### BEGIN SOLUTION
    ### HINT: multiply by two
    return 2 * x
    ### END SOLUTION
'''


def test_stub_replaces_the_block_and_keeps_the_hint():
    out = nbs.stub_source(SOLVED)
    assert "return 2 * x" not in out and "BEGIN SOLUTION" not in out
    assert '    raise NotWrittenYet("multiply by two")' in out
    assert out.startswith('def f(x):\n    """Double x."""\n')
    namespace = {"NotWrittenYet": NotWrittenYet}
    exec(out, namespace)
    with pytest.raises(NotImplementedError, match="multiply by two"):
        namespace["f"](1)


def test_stub_of_selected_blocks_only():
    two = SOLVED + "\n" + SOLVED.replace("def f", "def g")
    out = nbs.stub_source(two, blocks={1})
    namespace = {"NotWrittenYet": NotWrittenYet}
    exec(out, namespace)
    assert namespace["f"](3) == 6
    with pytest.raises(NotImplementedError):
        namespace["g"](3)


@pytest.mark.parametrize("text, message", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without a"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "nested"),
])
def test_malformed_blocks_are_reported(text, message):
    with pytest.raises(ValueError, match=message):
        nbs.stub_source(text, where="demo.ipynb cell 3")


def test_solution_only_cells_and_outputs_are_dropped():
    nb = {"metadata": {"widgets": {}}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "code", "metadata": {}, "source": SOLVED, "outputs": [{"output_type": "stream"}],
         "execution_count": 3},
        {"cell_type": "code", "metadata": {"tags": ["solution-only"]}, "source": "print(1)", "outputs": [],
         "execution_count": 4},
    ]}
    ex = nbs.make_exercise(nb)
    assert len(ex["cells"]) == 1 and ex["cells"][0]["outputs"] == [] and ex["cells"][0]["execution_count"] is None
    assert "widgets" not in ex["metadata"]
    assert nb["cells"][0]["outputs"], "the solution itself must not be modified"


# ---- every check cell fails on the stub and passes on the solution ---------------------------

def _blocks(nb):
    """[(cell index, block number within the cell)] for every solution block, in order."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            n = sum(1 for line in nbs.source(cell).splitlines() if line.strip() == nbs.BEGIN)
            found += [(i, b) for b in range(n)]
    return found


def _is_check_cell(text: str) -> bool:
    return any(re.match(r"\s*check_\w+\(", line) for line in text.splitlines())


def _run_cells(nb, stub=None, cwd=None, strict=True, outputs=None, demos=True):
    """Execute the code cells in one namespace. ``stub``: (cell, block) to replace, or "all".

    ``strict``: a failing check raises (as in the tests of the checkers), so that the cell where a
    stub first surfaces can be found; otherwise checks report and the notebook runs on, as a
    learner's Run All does. ``outputs``, a dict, receives each cell's printed text by index.
    ``demos=False`` leaves out the cells that run the learner's functions on a task (``skip_if_stub``).
    Returns (index of the cell that raised, the exception), or (None, None) when all ran.
    """
    import matplotlib.pyplot as plt

    namespace = {"__name__": "__main__"}
    old = os.getcwd()
    os.chdir(cwd or ROOT / "solutions")
    from gancourse.checks import _core

    _core.RESULTS.clear()
    mode = checks.strict(strict)
    mode.__enter__()
    try:
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code" or "solution-only" in cell.get("metadata", {}).get("tags", []):
                continue
            text = nbs.source(cell)
            if not demos and "with skip_if_stub():" in text:  # a learner's run of their functions: nbval runs it
                continue
            if stub == "all":
                text = nbs.stub_source(text)
            elif stub is not None and stub[0] == i:
                text = nbs.stub_source(text, blocks={stub[1]})
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
                    exec(compile(text, f"cell {i}", "exec"), namespace)
            except BaseException as err:  # noqa: BLE001 - we report whatever a cell raised
                return i, err
            finally:
                plt.close("all")
                if outputs is not None:
                    outputs[i] = printed.getvalue()
        return None, None
    finally:
        mode.__exit__(None, None, None)
        os.chdir(old)


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_each_check_cell_fails_on_its_stub(path):
    nb = nbs.read(path)
    blocks = _blocks(nb)
    assert blocks, f"{path.name} has no solution block"
    check_cells = {i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and _is_check_cell(nbs.source(c))}
    assert check_cells, f"{path.name} has no check cell (a cell calling a check_* function)"

    failed_at = {}
    for block in blocks:
        cell, err = _run_cells(nb, stub=block)
        assert isinstance(err, NotImplementedError), (
            f"{path.name}: with solution block {block} stubbed, expected NotImplementedError, got {err!r}"
        )
        assert cell in check_cells or cell == block[0], (
            f"{path.name}: the stub of block {block} first failed in cell {cell}, which is not a check cell"
        )
        failed_at.setdefault(cell, []).append(block)
    silent = check_cells - set(failed_at)
    assert not silent, f"{path.name}: check cell(s) {sorted(silent)} never fail when a stub is left in"


@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_exercise_runs_up_to_its_first_stub(path):
    nb = nbs.read(path)
    cell, err = _run_cells(nb, cwd=ROOT / "exercises")
    assert isinstance(err, NotWrittenYet), f"{path.name}: expected NotWrittenYet, got {err!r}"
    first_stub = min(i for i, c in enumerate(nb["cells"]) if "NotWrittenYet(" in nbs.source(c))
    assert cell >= first_stub


@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_exercise_with_every_stub_runs_to_its_last_cell(path):
    """As a learner's Run All: no cell raises, each check cell says FAILED in at most 6 lines, the last
    cell summarises."""
    from gancourse.checks import _core

    nb = nbs.read(path)
    outputs = {}
    cell, err = _run_cells(nb, cwd=ROOT / "exercises", strict=False, outputs=outputs)
    assert err is None, f"{path.name}: cell {cell} raised {err!r} with every stub in place"
    assert _core.RESULTS and not any(_core.RESULTS.values()), f"{path.name}: {_core.RESULTS}"
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] == "code" and _is_check_cell(nbs.source(c)):
            lines = outputs[i].strip().splitlines()
            assert 1 <= len(lines) <= 6 and all("FAILED" in x for x in lines[:1]), (path.name, i, lines)
    last = [c for c in nb["cells"] if c["cell_type"] == "code"][-1]
    assert "summary()" in nbs.source(last), f"{path.name}: the last code cell should call summary()"
    assert outputs[max(outputs)].startswith("Checks passed: 0 of ")


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_solution_passes_every_check(path):
    from gancourse.checks import _core

    outputs = {}
    cell, err = _run_cells(nbs.read(path), strict=False, outputs=outputs, demos=False)
    assert err is None, f"{path.name}: cell {cell} raised {err!r}"
    assert _core.RESULTS and all(_core.RESULTS.values()), f"{path.name}: {_core.RESULTS}"
