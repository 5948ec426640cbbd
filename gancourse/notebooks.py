"""The course's notebooks as files: executing them, generating exercises, timing the course.

``solutions/NN_*.ipynb`` are the source of the exercises: every block between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers) becomes a stub that raises
``NotWrittenYet`` (the course's ``NotImplementedError``, imported from ``gancourse.checks``, which a
notebook shows as its message alone) with a one-line hint, taken from a ``### HINT:`` line inside
the block when there is one; cells tagged ``solution-only`` are dropped; outputs are cleared.
Used by ``python -m gancourse exercises|execute|course|normalise|tags|workcopy`` and by the notebook tests.

Normal form: a committed notebook is stored exactly as JupyterLab saves it after opening it with a
kernel, so that opening and saving a lecture leaves the file byte-identical. That means the
kernelspec and the whole ``language_info`` the kernel reports, and every number as it comes back from
the browser: JavaScript has one number type, so a float that holds a whole number (``2.0``, in saved
widget state) comes back as ``2``. :func:`normalise` applies both; :func:`execute` writes in it.
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


def _split(text) -> list[str]:
    return text.splitlines(keepends=True) if isinstance(text, str) else text


def _js_numbers(value):
    """``value`` with every whole-number float made an int, as a round trip through JavaScript does."""
    if isinstance(value, float):
        if value == value and abs(value) < 1e21 and value == int(value):  # NaN != NaN; 1e21 prints as 1e+21 in JS
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: _js_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_js_numbers(v) for v in value]
    return value


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_TEXT = ("Interactive figure: run this cell (and the ones above it) in JupyterLab to use its "
               "slider.\n")
PROGRESS_TEXT = "A progress bar: it moves while the cell runs.\n"


def _widget_text(text: str) -> str:
    """What a widget output's plain text should say instead of its repr (``VBox(children=(HBox(...``)."""
    if "Slider" in text or text == WIDGET_TEXT:
        return WIDGET_TEXT
    if "Progress" in text or text == PROGRESS_TEXT:
        return PROGRESS_TEXT
    return text


def language_info() -> dict:
    """What the course's kernel (ipykernel) reports about its language; JupyterLab saves it whole."""
    import platform

    return {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
            "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
            "pygments_lexer": "ipython3", "version": platform.python_version()}


def normalise(nb: dict) -> dict:
    """The notebook in the form JupyterLab saves it in (see the module's docstring); returns ``nb``.

    Kernelspec and ``language_info`` as the course's kernel writes them; numbers as JavaScript
    re-serialises them; sources and text outputs as lists of lines (as Jupyter's server writes them).
    A widget's plain-text stand-in (``VBox(children=(HBox(...``, what JupyterLab shows before the
    kernel has run the cell) becomes one sentence saying what the cell holds.
    """
    nb["metadata"]["kernelspec"] = dict(KERNELSPEC)
    nb["metadata"]["language_info"] = language_info()
    for cell in nb["cells"]:
        if "source" in cell:
            cell["source"] = _split(cell["source"])
        for out in cell.get("outputs", []):
            if WIDGET_VIEW in out.get("data", {}) and "text/plain" in out["data"]:
                out["data"]["text/plain"] = _widget_text("".join(out["data"]["text/plain"]))
            if "text" in out:
                out["text"] = _split(out["text"])
            for mime, data in out.get("data", {}).items():
                if isinstance(data, str) and not mime.endswith("json") and (mime.startswith("text/") or "svg" in mime
                                                                               or mime.endswith("javascript")):
                    out["data"][mime] = _split(data)
    converted = _js_numbers(nb)
    nb.clear()
    nb.update(converted)
    return nb


def normalise_files(paths) -> list[Path]:
    """Rewrite each notebook in normal form; return those whose bytes changed."""
    changed = []
    for path in map(Path, paths):
        before = path.read_text(encoding="utf-8")
        after = dumps(normalise(json.loads(before)))
        if after != before:
            write(json.loads(after), path)
            changed.append(path)
    return changed


# --------------------------------------------------------------------------------------------
# nbval markers: comment lines in a cell become the cell tags nbval also reads
# --------------------------------------------------------------------------------------------

MARKER_TAGS = {  # nbval's comment marker -> the cell tag nbval reads the same way
    "NBVAL_CHECK_OUTPUT": "nbval-check-output",
    "NBVAL_IGNORE_OUTPUT": "nbval-ignore-output",
    "NBVAL_SKIP": "nbval-skip",
    "NBVAL_RAISES_EXCEPTION": "raises-exception",
}
_MARKER_LINE = re.compile(r"^[ \t]*#[ \t]*(" + "|".join(MARKER_TAGS) + r")[ \t]*(\n|$)", re.M)


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def nbval_marks(cell: dict) -> set[str]:
    """The nbval tags a cell carries, as tags or as the older comment lines (e.g. ``{'nbval-check-output'}``)."""
    found = {t for t in tags(cell) if t in MARKER_TAGS.values()}
    if cell.get("cell_type") == "code":
        found |= {MARKER_TAGS[m.group(1)] for m in _MARKER_LINE.finditer(source(cell))}
    return found


def markers_to_tags(nb: dict) -> int:
    """Move every ``# NBVAL_...`` comment line of a code cell into the cell's tags; return the cells changed."""
    changed = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        text = source(cell)
        found = [MARKER_TAGS[m.group(1)] for m in _MARKER_LINE.finditer(text)]
        if not found:
            continue
        _set_source(cell, _MARKER_LINE.sub("", text))
        meta = cell.setdefault("metadata", {})
        meta["tags"] = [*meta.get("tags", []), *(t for t in dict.fromkeys(found) if t not in meta.get("tags", []))]
        changed += 1
    return changed


def markers_to_tags_files(paths) -> dict[Path, int]:
    """:func:`markers_to_tags` over notebook files (only those with a marker are rewritten)."""
    done = {}
    for path in map(Path, paths):
        nb = read(path)
        n = markers_to_tags(nb)
        if n:
            write(nb, path)
            done[path] = n
    return done


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
    return normalise(nb)


def has_solution(nb: dict) -> bool:
    return any(BEGIN in source(c) for c in nb["cells"] if c["cell_type"] == "code")


def generate_exercises(root: Path = ROOT, out_dir: Path | None = None) -> list[Path]:
    """Write ``exercises/NN_*.ipynb`` from every ``solutions/NN_*.ipynb``; return the paths written."""
    if not (Path(root) / "solutions").is_dir():  # an installed package has no solutions/ beside it
        raise FileNotFoundError(f"no solutions/ folder in {root}: exercises are generated from a checkout of the "
                                f"course (git clone, then pip install -e .); run the command there.")
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
    """Drop what varies for no reason (timings); keep outputs and counts; write the normal form.

    """
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("execution", None)
        cell.get("metadata", {}).pop("collapsed", None)
    return normalise(nb)


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


def _cache_files() -> dict[str, float]:
    """Every file of the cache folder (``GANCOURSE_CACHE``) with its modification time."""
    from gancourse.config import cache_dir

    folder = Path(cache_dir())
    return {str(p): p.stat().st_mtime for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else {}


def run_course(root: Path = ROOT, pattern: str = "[0-9][0-9]_*.ipynb", out_dir: Path | None = None) -> int:
    """Execute every lecture in order into ``out_dir`` (never over the committed ones); print a table.

    The table's ``trained`` column counts the files each lecture wrote into the cache folder (models
    it trained, runs it recorded): after ``python -m gancourse warm`` every lecture shows 0.
    Without ``out_dir`` the copies go to a temporary folder, removed at the end.
    """
    import shutil
    import tempfile

    from gancourse.config import mode

    lectures = sorted((Path(root) / "lectures").glob(pattern))
    if not lectures:
        print(f"no lecture matches {pattern!r} in {Path(root) / 'lectures'}", file=sys.stderr)
        return 1
    temporary = out_dir is None
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="gancourse-course-"))
    try:
        out.mkdir(parents=True, exist_ok=True)
        where = "a temporary folder" if temporary else str(out)
        print(f"Running {len(lectures)} lecture(s) in {mode()} mode; executed copies go to {where}")
        rows, failed = [], 0
        for path in lectures:
            copy = out / path.name
            shutil.copyfile(path, copy)
            before = _cache_files()
            seconds, error = execute(copy, cwd=path.parent)
            after = _cache_files()
            trained = sum(1 for f, t in after.items() if before.get(f) != t)
            status = "ok" if error is None else f"FAILED: {error[:60]}"
            failed += error is not None
            rows.append((path.name, seconds, trained, status))
            print(f"  {path.name:<40} {seconds:8.1f} s  trained {trained}  {status}", flush=True)
        width = max(len(r[0]) for r in rows)
        print()
        print(f"{'notebook':<{width}}  {'seconds':>8}  {'trained':>7}  status")
        print(f"{'-' * width}  {'-' * 8}  {'-' * 7}  ------")
        for name, seconds, trained, status in rows:
            print(f"{name:<{width}}  {seconds:8.1f}  {trained:7d}  {status}")
        print(f"{'total':<{width}}  {sum(r[1] for r in rows):8.1f}  {sum(r[2] for r in rows):7d}  "
              f"{len(rows) - failed}/{len(rows)} ok")
        print("trained: files each lecture wrote into the cache folder (0 everywhere once "
              "`python -m gancourse warm` has run)")
        return 1 if failed else 0
    finally:
        if temporary:
            shutil.rmtree(out, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The learner's working copy
# --------------------------------------------------------------------------------------------

WORK = "my-course"  # ignored by git: the learner's own copies, which `make lab` serves
WORK_FOLDERS = ("lectures", "exercises")


def working_copy(root: Path = ROOT, name: str = WORK) -> Path:
    """Copy lectures/ and exercises/ into ``root/name/`` once; never overwrite what is there.

    Prints one line saying which it did. The learner runs and edits these copies, so the committed
    notebooks stay the reference and ``git pull`` never meets a learner's change.
    """
    import shutil

    root = Path(root)
    work = root / name
    if work.is_dir():
        print(f"make lab: your working copy is {name}/ (yours to run and edit; lectures/ and exercises/ "
              f"stay as committed; delete {name}/ to start over)")
        return work
    tmp = root / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    for folder in WORK_FOLDERS:
        (tmp / folder).mkdir(parents=True)
        for path in sorted((root / folder).glob("[0-9][0-9]_*.ipynb")):
            shutil.copyfile(path, tmp / folder / path.name)
    os.replace(tmp, work)  # whole or not at all
    print(f"make lab: created your working copy {name}/ from lectures/ and exercises/ (ignored by git, never "
          f"overwritten; the committed notebooks stay the reference)")
    return work
