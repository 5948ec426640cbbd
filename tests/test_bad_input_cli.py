"""Bad input at the command line and in torchrun's variables; every command cleans up what it creates."""

import functools
import json
import tempfile

import pytest

from gancourse import cli, notebooks, parallel, recipes


@pytest.fixture
def no_training(monkeypatch):
    """Training would take minutes: any call to it fails the test."""
    def refuse(*args, **kwargs):
        pytest.fail("nothing should have been trained")

    monkeypatch.setattr(recipes, "load_or_train", refuse)


@pytest.fixture
def single_process(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)


def test_train_all_with_a_name(no_training, single_process, capsys):
    assert cli.main(["train", "--all", "nosuch"]) == 2
    assert "pass a model's name or --all, not both (got 'nosuch' and --all)" in capsys.readouterr().err


def test_train_unknown_name(no_training, single_process, capsys):
    assert cli.main(["train", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nosuch'" in err and "dcgan" in err


def test_train_without_a_name(no_training, single_process, capsys):
    assert cli.main(["train"]) == 2
    assert "name a model to train" in capsys.readouterr().err


@pytest.mark.parametrize("env, message", [
    ({"RANK": "1"}, r"RANK=1 is set but WORLD_SIZE is not; torchrun sets both"),
    ({"WORLD_SIZE": "2"}, r"WORLD_SIZE=2 is set but RANK is not"),
    ({"RANK": "one", "WORLD_SIZE": "2"}, r"RANK and WORLD_SIZE must be whole numbers, got RANK='one'"),
    ({"RANK": "2", "WORLD_SIZE": "2"}, r"RANK must lie in 0..WORLD_SIZE-1 .*got RANK=2 and WORLD_SIZE=2"),
    ({"RANK": "0", "WORLD_SIZE": "0"}, r"WORLD_SIZE >= 1, got RANK=0 and WORLD_SIZE=0"),
])
def test_torchrun_variables(monkeypatch, single_process, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=message):
        parallel.rank()
    with pytest.raises(ValueError, match=message):
        parallel.is_main()


def test_rank_without_world_size_stops_train_before_training(monkeypatch, single_process, no_training, capsys):
    monkeypatch.setenv("RANK", "1")
    assert cli.main(["train", "dcgan"]) == 1
    assert "python -m gancourse train: RANK=1 is set but WORLD_SIZE is not" in capsys.readouterr().err


def test_no_torchrun_variables_is_one_process(single_process):
    assert (parallel.rank(), parallel.world_size(), parallel.is_main(), parallel.is_distributed()) == (0, 1, True, False)


def test_exercises_outside_a_checkout_creates_nothing(tmp_path, monkeypatch, capsys):
    installed = tmp_path / "site-packages"  # an installed package: no solutions/ beside it
    installed.mkdir()
    with pytest.raises(FileNotFoundError, match=r"no solutions/ folder in .*site-packages: exercises are generated "
                                                r"from a checkout"):
        notebooks.generate_exercises(root=installed)
    monkeypatch.setattr(notebooks, "generate_exercises", functools.partial(notebooks.generate_exercises, root=installed))
    assert cli.main(["exercises"]) == 1
    assert "no solutions/ folder" in capsys.readouterr().err
    assert list(installed.iterdir()) == []


def _lectures(root, names):
    (root / "lectures").mkdir(parents=True)
    for name in names:
        (root / "lectures" / name).write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                          "nbformat_minor": 5}))


@pytest.mark.parametrize("fails", [False, True])
def test_course_removes_its_temporary_folder(tmp_path, monkeypatch, fails):
    _lectures(tmp_path / "course", ["00_a.ipynb", "01_b.ipynb"])
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    ran = []

    def fake_execute(path, cwd=None, **kwargs):  # a kernel per lecture would take seconds: the bookkeeping is tested
        ran.append(path)
        assert path.exists() and path.parent.parent == temp
        if fails:
            raise KeyboardInterrupt  # the learner stops the course half way
        return 0.1, None

    monkeypatch.setattr(notebooks, "execute", fake_execute)
    if fails:
        with pytest.raises(KeyboardInterrupt):
            notebooks.run_course(root=tmp_path / "course")
    else:
        assert notebooks.run_course(root=tmp_path / "course") == 0
    assert ran and list(temp.iterdir()) == []


def test_course_keeps_copies_it_was_asked_to_keep(tmp_path, monkeypatch):
    _lectures(tmp_path / "course", ["00_a.ipynb"])
    monkeypatch.setattr(notebooks, "execute", lambda path, cwd=None, **kw: (0.1, None))
    assert notebooks.run_course(root=tmp_path / "course", out_dir=tmp_path / "kept") == 0
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["00_a.ipynb"]


def test_course_with_no_matching_lecture(tmp_path, capsys):
    _lectures(tmp_path / "course", ["00_a.ipynb"])
    assert notebooks.run_course(root=tmp_path / "course", pattern="99_*.ipynb") == 1
    assert "no lecture matches '99_*.ipynb'" in capsys.readouterr().err
