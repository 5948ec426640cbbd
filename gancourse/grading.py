"""Grading a folder of submitted exercise notebooks, offline: one row per student, one column per check.

``python -m gancourse grade FOLDER [--timeout S] [--out grades.csv]`` finds every ``*.ipynb`` under
``FOLDER`` (``FOLDER/alice.ipynb`` or ``FOLDER/alice/05_wasserstein.ipynb``: the student is the file's
stem, or its first folder), runs each in a child process of its own, cell by cell in an IPython shell,
with the checks in their notebook mode (a failing check reports and the notebook runs on), and reads
back which checks passed. A notebook that runs past ``--timeout`` seconds is stopped and reported as
timed out; one whose cell raises is reported with the first error (its checks still count); one whose
process dies is reported as crashed. No network, no Jupyter server, no kernel. Used by instructors.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

CHECK_CALL = re.compile(r"^\s*(check_\w+)\s*\(", flags=re.M)


def checks_called(nb: dict) -> list[str]:
    """The checks a notebook's cells call, in order (found in the source, so known even if it never runs)."""
    from gancourse.notebooks import source

    names = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            names += [n for n in CHECK_CALL.findall(source(cell)) if n not in names]
    return names


def _run_one(path: str, out: str) -> None:
    """In the child: run the notebook's code cells in one IPython shell; write the results as JSON to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    from IPython.core.interactiveshell import InteractiveShell

    from gancourse import notebooks as nbs
    from gancourse.checks import _core

    _core._STRICT[0] = False
    nb = nbs.read(Path(path))
    shell = InteractiveShell.instance()
    first_error = None
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        result = shell.run_cell(nbs.source(cell), silent=True)
        err = result.error_before_exec or result.error_in_exec
        if err is not None and first_error is None:
            first_error = f"cell {i}: {_core._first_line(err)}"
        Path(out).write_text(json.dumps({"checks": _core.results(), "error": first_error}))


def grade_notebook(path: Path, timeout: float) -> dict:
    """Run one submitted notebook in a child process; return its status and ``{check: passed}``."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="gancourse-grade-") as tmp:
        out = Path(tmp) / "result.json"
        env = dict(os.environ, MPLBACKEND="Agg", TQDM_DISABLE="1", GANCOURSE_STRICT_CHECKS="0")
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
        proc = subprocess.Popen([sys.executable, "-m", "gancourse.grading", str(path.resolve()), str(out)],
                                cwd=path.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            found = json.loads(out.read_text()) if out.exists() else {"checks": {}}
            return {"status": f"timed out after {timeout:g} s", "checks": found["checks"]}
        if not out.exists():
            last = (stderr or b"").decode(errors="replace").strip().splitlines()
            return {"status": "crashed: " + (last[-1][:120] if last else f"exit code {proc.returncode}"), "checks": {}}
        found = json.loads(out.read_text())
        if proc.returncode != 0:
            return {"status": f"crashed (exit code {proc.returncode})", "checks": found["checks"]}
        return {"status": "ok" if found["error"] is None else f"error in {found['error'][:120]}",
                "checks": found["checks"]}


def student_of(path: Path, folder: Path) -> str:
    rel = Path(path).relative_to(folder)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def grade_folder(folder: Path, timeout: float = 120.0, out: Path | None = None, echo=print) -> list[dict]:
    """Grade every notebook under ``folder``; write the CSV to ``out`` (when given); return the rows.

    Each row: ``student``, ``status`` (``ok``, ``error in cell N: ...``, ``timed out after S s`` or
    ``crashed: ...``; several notebooks of one student joined by ``; ``), ``passed``, ``total`` and one
    column per check (1 passed, 0 failed or never reached).
    """
    from gancourse import notebooks as nbs

    folder = Path(folder)
    paths = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    rows, columns = {}, []
    for path in paths:
        expected = checks_called(nbs.read(path))
        columns += [c for c in expected if c not in columns]
        result = grade_notebook(path, timeout)
        columns += [c for c in result["checks"] if c not in columns]
        student = student_of(path, folder)
        row = rows.setdefault(student, {"student": student, "status": [], "checks": {}})
        row["status"].append(result["status"] if len(paths) == len(set(student_of(p, folder) for p in paths))
                             else f"{path.name}: {result['status']}")
        for name in expected:
            row["checks"].setdefault(name, 0)
        for name, ok in result["checks"].items():
            row["checks"][name] = int(bool(ok))
        echo(f"{student:<20} {path.name:<40} {sum(result['checks'].values())}/{len(expected)} checks  {result['status']}")
    table = []
    for row in rows.values():
        cells = {c: row["checks"].get(c, "") for c in columns}
        table.append({"student": row["student"], "status": "; ".join(row["status"]),
                      "passed": sum(v for v in row["checks"].values()), "total": len(row["checks"]), **cells})
    if out is not None:
        with open(out, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["student", "status", "passed", "total", *columns])
            writer.writeheader()
            writer.writerows(table)
    return table


if __name__ == "__main__":  # the child process of grade_notebook
    _run_one(sys.argv[1], sys.argv[2])
