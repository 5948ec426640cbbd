"""Notebooks as files a learner's checkout keeps clean: the normal form JupyterLab saves, nbval's markers
as cell tags, the learner's working copy, widget stand-ins, the site's titles and notes, the course table.

The browser half (JupyterLab opening and saving every lecture) is in tests/browser/test_lab.py.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gancourse import notebooks as nbs

ROOT = Path(__file__).resolve().parent.parent
LECTURES = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))


def _nb(cells, metadata=None) -> dict:
    return {"cells": cells, "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": 5}


def _code(text, outputs=(), tags=None, count=1) -> dict:
    meta = {"tags": list(tags)} if tags else {}
    return {"cell_type": "code", "execution_count": count, "id": f"c{abs(hash(text)) % 10**8}", "metadata": meta,
            "outputs": list(outputs), "source": text}


# ---- normal form --------------------------------------------------------------------------------


def test_normal_form_writes_numbers_as_javascript_does_and_the_kernels_language_info():
    nb = _nb([_code("x = 1\nx")], {"widgets": {"state": {"a": {"max": 2.0, "min": -2.5, "step": 0.05, "n": 3,
                                                                "big": 1e21, "flag": True, "tiny": 1e-7}}}})
    out = nbs.normalise(nb)
    state = out["metadata"]["widgets"]["state"]["a"]
    assert state == {"max": 2, "min": -2.5, "step": 0.05, "n": 3, "big": 1e21, "flag": True, "tiny": 1e-7}
    assert type(state["max"]) is int and state["flag"] is True
    lang = out["metadata"]["language_info"]
    assert lang["name"] == "python" and lang["mimetype"] == "text/x-python" and lang["version"].count(".") == 2
    assert out["metadata"]["kernelspec"]["name"] == "python3"
    assert out["cells"][0]["source"] == ["x = 1\n", "x"]


def test_normal_form_is_a_fixed_point_on_the_committed_lectures(tmp_path):
    copies = []
    for path in LECTURES:
        copies.append(tmp_path / path.name)
        copies[-1].write_bytes(path.read_bytes())
    nbs.normalise_files(copies)
    assert nbs.normalise_files(copies) == []  # a second pass changes nothing
    for path, copy in zip(LECTURES, copies):  # only the form changed: the same cells and outputs
        a, b = json.loads(path.read_text(encoding="utf-8")), json.loads(copy.read_text(encoding="utf-8"))
        assert [nbs.source(c) for c in a["cells"]] == [nbs.source(c) for c in b["cells"]]
        assert [len(c.get("outputs", [])) for c in a["cells"]] == [len(c.get("outputs", [])) for c in b["cells"]]


def test_clean_replaces_a_widgets_text_stand_in():
    view = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    out = {"output_type": "display_data", "metadata": {},
           "data": {"text/plain": "VBox(children=(HBox(children=(FloatSlider(value=1.0",
                    nbs.WIDGET_VIEW: view}}
    nb = nbs.clean(_nb([_code("w", [out])]))
    data = nb["cells"][0]["outputs"][0]["data"]
    assert data["text/plain"] == [nbs.WIDGET_TEXT] and "VBox" not in json.dumps(nb)
    assert data[nbs.WIDGET_VIEW] == view
    bar = {"output_type": "display_data", "metadata": {},
           "data": {"text/plain": "HBox(children=(HTML(value='ring runs'), FloatProgress(value=0.0, max=3.0)))",
                    nbs.WIDGET_VIEW: view}}
    assert nbs.clean(_nb([_code("w", [bar])]))["cells"][0]["outputs"][0]["data"]["text/plain"] == [nbs.PROGRESS_TEXT]


# ---- nbval markers as tags ----------------------------------------------------------------------


def test_markers_become_tags_on_a_copy_of_every_lecture(tmp_path):
    for path in LECTURES:
        nb = nbs.read(path)
        before = [nbs.nbval_marks(c) for c in nb["cells"]]
        n_marked = sum(1 for m in before if m)
        assert nbs.markers_to_tags(nb) == sum(1 for c in nbs.read(path)["cells"]
                                             if c["cell_type"] == "code" and "# NBVAL_" in nbs.source(c))
        assert [nbs.nbval_marks(c) for c in nb["cells"]] == before, path.name  # the same cells, marked the same
        assert sum(1 for c in nb["cells"] if nbs.nbval_marks(c)) == n_marked
        assert not any("NBVAL_" in nbs.source(c) for c in nb["cells"]), path.name
        assert nbs.markers_to_tags(nb) == 0  # nothing left to move


def test_marker_conversion_keeps_the_code_and_existing_tags():
    cell = _code("# NBVAL_CHECK_OUTPUT\nprint(claims)\n  # NBVAL_IGNORE_OUTPUT  \nx = 1", tags=["solution-only"])
    nb = _nb([cell])
    assert nbs.markers_to_tags(nb) == 1
    assert nbs.source(cell) == "print(claims)\nx = 1"
    assert cell["metadata"]["tags"] == ["solution-only", "nbval-check-output", "nbval-ignore-output"]


def test_the_tags_command_rewrites_copies_only(tmp_path):
    copy = tmp_path / "01.ipynb"
    copy.write_text(nbs.dumps(_nb([_code("# NBVAL_CHECK_OUTPUT\nprint(1)")])), encoding="utf-8")
    from gancourse import cli

    assert cli.main(["tags", str(copy)]) == 0
    cell = nbs.read(copy)["cells"][0]
    assert cell["metadata"]["tags"] == ["nbval-check-output"] and nbs.source(cell) == "print(1)"


@pytest.mark.slow
def test_nbval_honours_the_tags(tmp_path):
    """A tagged cell whose stored output is wrong fails under --nbval-lax; untagged, or tagged to ignore, it passes."""
    stale = [{"output_type": "stream", "name": "stdout", "text": "1\n"}]
    cases = {"checked": (["nbval-check-output"], 1), "ignored": (["nbval-ignore-output"], 0), "plain": (None, 0)}
    for name, (tags, _) in cases.items():
        (tmp_path / f"{name}.ipynb").write_text(nbs.dumps(_nb([_code("print(2)", stale, tags)],
                                                              {"kernelspec": dict(nbs.KERNELSPEC)})))
    (tmp_path / "conftest.py").write_text("")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
                           "-q", "-rf", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    failed = {line.split("::")[0].split()[-1].rsplit("/", 1)[-1] for line in proc.stdout.splitlines() if line.startswith("FAILED")}
    assert failed == {"checked.ipynb"}, proc.stdout[-2000:]


# ---- the learner's working copy -----------------------------------------------------------------


def _course(root: Path) -> None:
    for folder in ("lectures", "exercises"):
        (root / folder).mkdir(parents=True)
        (root / folder / "01_a.ipynb").write_text(nbs.dumps(_nb([_code(f"print('{folder}')")])))


def test_working_copy_is_made_once_and_never_overwritten(tmp_path, capsys):
    _course(tmp_path)
    work = nbs.working_copy(tmp_path)
    first = capsys.readouterr().out
    assert work == tmp_path / nbs.WORK and first.count("\n") == 1 and "created" in first
    assert (work / "lectures" / "01_a.ipynb").read_bytes() == (tmp_path / "lectures" / "01_a.ipynb").read_bytes()
    assert (work / "exercises" / "01_a.ipynb").is_file()
    (work / "lectures" / "01_a.ipynb").write_text("the learner's run")
    (tmp_path / "lectures" / "02_b.ipynb").write_text("a lecture added upstream")
    nbs.working_copy(tmp_path)
    second = capsys.readouterr().out
    assert second.count("\n") == 1 and "created" not in second and nbs.WORK in second
    assert (work / "lectures" / "01_a.ipynb").read_text() == "the learner's run"
    assert not (work / "lectures" / "02_b.ipynb").exists()


def test_the_working_copy_is_ignored_by_git():
    proc = subprocess.run(["git", "check-ignore", "-q", f"{nbs.WORK}/lectures/01_x.ipynb"], cwd=ROOT)
    assert proc.returncode == 0, f"{nbs.WORK}/ is not in .gitignore"


def test_make_lab_serves_the_working_copy():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    lab = text.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "gancourse workcopy" in lab and f"{nbs.WORK}/lectures/00_setup.ipynb" in text


# ---- make course: what each lecture trained ------------------------------------------------------


def test_course_table_counts_what_each_lecture_trained(tmp_path, monkeypatch, capsys):
    (tmp_path / "lectures").mkdir()
    for name in ("00_a.ipynb", "01_b.ipynb"):
        (tmp_path / "lectures" / name).write_text(nbs.dumps(_nb([])))
    cache = tmp_path / "cache"
    monkeypatch.setenv("GANCOURSE_CACHE", str(cache))

    def fake_execute(path, cwd=None, **kwargs):
        if path.name.startswith("01") and not (cache / "model.pt").exists():  # load_or_train: trains once
            (cache / "model.pt").write_bytes(b"trained")
        return 0.1, None

    monkeypatch.setattr(nbs, "execute", fake_execute)
    assert nbs.run_course(root=tmp_path) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith(("00_a", "01_b", "total"))}
    assert rows["00_a.ipynb"][2] == "0" and rows["01_b.ipynb"][2] == "1" and rows["total"][2] == "1"
    assert nbs.run_course(root=tmp_path) == 0  # the second run finds everything cached
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("01_b")]
    assert rows[-1][2] == "0"


# ---- the command line ----------------------------------------------------------------------------


def test_train_help_lists_each_model_on_one_line(capsys):
    from gancourse import cli, recipes

    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "--help"])
    assert stop.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for name in recipes.names():
        rows = [line for line in lines if line.strip().startswith(name + " ")]
        assert len(rows) == 1 and len(rows[0].split(None, 1)[1]) > 10, name


@pytest.mark.parametrize("argv", [["train", "foo"], ["eval", "foo"], ["train"]])
def test_a_wrong_model_name_is_one_line_and_a_failure(argv, capsys):
    from gancourse import cli

    assert cli.main(argv) == 2  # returned, not raised: no traceback
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "dcgan" in err, err


# ---- the site's copies ---------------------------------------------------------------------------


def _site_build():
    spec = importlib.util.spec_from_file_location("gancourse_site_build_form", ROOT / "site" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("folder, title, expected", [
    ("lectures", "# Lecture 03 — DCGAN from the cookbook", "# Lecture 03: DCGAN from the cookbook"),
    ("lectures", "# Lecture 01: the minimax game", "# Lecture 01: the minimax game"),
    ("exercises", "# Exercise 05: the Wasserstein losses", "# Exercise 05: the Wasserstein losses"),
    ("solutions", "# Exercise 05: the Wasserstein losses", "# Solution 05: the Wasserstein losses"),
    ("solutions", "# Exercise 03 — DCGAN", "# Solution 03: DCGAN"),
])
def test_site_titles(folder, title, expected):
    nb = _nb([{"cell_type": "markdown", "metadata": {}, "source": title + "\n\nText: one"}])
    staged = json.loads(_site_build().for_the_site(json.dumps(nb).encode(), folder))
    assert staged["cells"][0]["source"] == expected + "\n\nText: one"


def test_site_notes_every_widget_that_needs_a_kernel():
    build = _site_build()
    widget = {"output_type": "display_data", "metadata": {},
              "data": {"text/plain": "VBox(children=(FloatSlider(value=1.0)))", build.WIDGET_VIEW: {"model_id": "m", "version_major": 2, "version_minor": 0}}}
    plain = {"output_type": "stream", "name": "stdout", "text": "1\n"}
    bar = {"output_type": "display_data", "metadata": {},
           "data": {"text/plain": "A progress bar", build.WIDGET_VIEW: {"model_id": "p"}}}
    nb = _nb([_code("w", [widget]), _code("p", [plain]), _code("b", [bar])])
    staged = json.loads(build.for_the_site(json.dumps(nb).encode(), "lectures"))
    first, second, third = (c["outputs"] for c in staged["cells"])
    assert len(first) == 2 and "Needs a running kernel" in first[1]["data"]["text/html"]
    assert second == [plain] and third == [bar]


def test_warm_trains_every_recipe_and_classifier_then_runs_every_lecture(monkeypatch, capsys):
    """The bookkeeping of `python -m gancourse warm` (the training itself is tested elsewhere)."""
    from types import SimpleNamespace

    from gancourse import cli, judge, recipes

    trained, judged, courses = [], [], []
    monkeypatch.setattr(recipes, "load_or_train", lambda name, **kw: trained.append(name) or SimpleNamespace(
        history=SimpleNamespace(steps=1)))
    monkeypatch.setattr(judge, "classifier", lambda dataset="digits", **kw: judged.append(dataset))
    monkeypatch.setattr(nbs, "run_course", lambda pattern="*", **kw: courses.append(pattern) or 0)
    assert cli.main(["warm", "--pattern", "0[12]_*"]) == 0
    assert trained == recipes.names() and "digits" in judged and courses == ["0[12]_*"]
    assert all(line.startswith("warm: ") for line in capsys.readouterr().out.splitlines())
