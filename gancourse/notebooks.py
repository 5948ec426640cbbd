"""The course's notebooks as files: executing them, generating exercises, timing the course.

``solutions/NN_*.ipynb`` are the source of the exercises: every block between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers) becomes a stub that raises
``NotWrittenYet`` (the course's ``NotImplementedError``, imported from ``gancourse.checks``, which a
notebook shows as its message alone) with a one-line hint, taken from a ``### HINT:`` line inside
the block when there is one; cells tagged ``solution-only`` are dropped; outputs are cleared.
Used by ``python -m gancourse exercises|execute|course`` and by the notebook tests.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HINT = "### HINT:"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
DEFAULT_HINT = "write this part yourself"


# --------------------------------------------------------------------------------------------
# Reading and writing notebooks as plain JSON, byte-stable
# --------------------------------------------------------------------------------------------


def read(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def dumps(nb: dict) -> str:
    """The notebook as JSON text, formatted the way Jupyter writes it (so diffs stay small)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write(nb: dict, path: Path) -> None:
    """Write atomically: a temporary file beside the target, then a rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps(nb), encoding="utf-8")
    os.replace(tmp, path)


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


# --------------------------------------------------------------------------------------------
# Exercises from solutions
# --------------------------------------------------------------------------------------------


def stub_source(text: str, where: str = "", blocks=None) -> str:
    """Replace each solution block in a cell's source with a stub; the stub keeps the block's indent.

    ``blocks``, when given, is the set of block numbers (0, 1, ... within this cell) to replace;
    the others keep their solution. The notebook tests use it to stub one block at a time.
    """
    lines = text.splitlines(keepends=True)
    out, i, block = [], 0, -1
    while i < len(lines):
        line = lines[i]
        if line.strip() != BEGIN:
            if line.strip() == END:
                raise ValueError(f"{where}: '{END}' without a '{BEGIN}' before it.")
            out.append(line)
            i += 1
            continue
        block += 1
        indent = line[: len(line) - len(line.lstrip())]
        hint = DEFAULT_HINT
        j = i + 1
        while j < len(lines) and lines[j].strip() != END:
            if lines[j].strip() == BEGIN:
                raise ValueError(f"{where}: nested '{BEGIN}' (close the first block with '{END}').")
            if lines[j].strip().startswith(HINT):
                hint = lines[j].strip()[len(HINT):].strip()
            j += 1
        if j == len(lines):
            raise ValueError(f"{where}: '{BEGIN}' is never closed by '{END}'.")
        if blocks is not None and block not in blocks:
            out.extend(lines[i: j + 1])
            i = j + 1
            continue
        message = hint.replace('"', "'")
        out.append(f"{indent}# YOUR CODE HERE\n")
        out.append(f'{indent}raise NotWrittenYet("{message}")\n')
        i = j + 1
    return "".join(out)


def make_exercise(solution: dict, name: str = "") -> dict:
    """The exercise twin of a solution notebook: stubs for solutions, no outputs, no solution-only cells."""
    nb = json.loads(json.dumps(solution))  # deep copy
    cells = []
    for k, cell in enumerate(nb["cells"]):
        if "solution-only" in cell.get("metadata", {}).get("tags", []):
            continue
        if cell["cell_type"] == "code":
            _set_source(cell, stub_source(source(cell), where=f"{name} cell {k}"))
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
        cells.append(cell)
    nb["cells"] = cells
    nb["metadata"].pop("widgets", None)
    return nb


def has_solution(nb: dict) -> bool:
    return any(BEGIN in source(c) for c in nb["cells"] if c["cell_type"] == "code")


def generate_exercises(root: Path = ROOT, out_dir: Path | None = None) -> list[Path]:
    """Write ``exercises/NN_*.ipynb`` from every ``solutions/NN_*.ipynb``; return the paths written."""
    out_dir = Path(out_dir) if out_dir else root / "exercises"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb")):
        nb = read(path)
        if not has_solution(nb):
            raise ValueError(f"{path.name} has no '{BEGIN}' block: an exercise needs something to write.")
        target = out_dir / path.name
        write(make_exercise(nb, path.name), target)
        written.append(target)
    return written


# --------------------------------------------------------------------------------------------
# Executing notebooks
# --------------------------------------------------------------------------------------------


def clean(nb: dict) -> dict:
    """Drop what varies for no reason (timings, kernel names, versions); keep outputs and counts."""
    nb["metadata"]["kernelspec"] = dict(KERNELSPEC)
    lang = nb["metadata"].get("language_info", {})
    nb["metadata"]["language_info"] = {"name": lang.get("name", "python")}
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("execution", None)
        cell.get("metadata", {}).pop("collapsed", None)
    return nb


def execute(path: Path, timeout: int = 1200, cwd: Path | None = None, save: bool = True):
    """Execute a notebook top to bottom in a fresh kernel; save it cleaned. Returns (seconds, error or None)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd or path.parent)}},
        store_widget_state=True,
    )
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1] if str(err).strip() else repr(err)
    seconds = time.perf_counter() - start
    if save:
        write(clean(json.loads(nbformat.writes(nb))), path)
    return seconds, error


def run_course(root: Path = ROOT, pattern: str = "[0-9][0-9]_*.ipynb", out_dir: Path | None = None) -> int:
    """Execute every lecture in order into ``out_dir`` (never over the committed ones); print a table."""
    import shutil
    import tempfile

    from gancourse.config import mode

    lectures = sorted((root / "lectures").glob(pattern))
    if not lectures:
        print(f"no lecture matches {pattern!r} in {root / 'lectures'}", file=sys.stderr)
        return 1
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="gancourse-course-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"Running {len(lectures)} lecture(s) in {mode()} mode; executed copies go to {out}")
    rows, failed = [], 0
    for path in lectures:
        copy = out / path.name
        shutil.copyfile(path, copy)
        seconds, error = execute(copy, cwd=path.parent)
        status = "ok" if error is None else f"FAILED: {error[:60]}"
        failed += error is not None
        rows.append((path.name, seconds, status))
        print(f"  {path.name:<40} {seconds:8.1f} s  {status}", flush=True)
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'notebook':<{width}}  {'seconds':>8}  status")
    print(f"{'-' * width}  {'-' * 8}  ------")
    for name, seconds, status in rows:
        print(f"{name:<{width}}  {seconds:8.1f}  {status}")
    print(f"{'total':<{width}}  {sum(r[1] for r in rows):8.1f}  {len(rows) - failed}/{len(rows)} ok")
    return 1 if failed else 0
