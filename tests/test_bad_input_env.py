"""Bad values of the environment variables the course reads (GANCOURSE_FAST, GANCOURSE_DATA, GANCOURSE_CACHE)."""

import os
from pathlib import Path

import pytest

from gancourse import config

READ_ONLY = Path("/sys")  # a folder no process can write into, root included (Linux)


def _read_only_folder():
    if not READ_ONLY.is_dir():
        pytest.skip("needs /sys (Linux) as a read-only folder")
    try:
        (READ_ONLY / ".gancourse-probe").touch()
    except OSError:
        return READ_ONLY
    os.unlink(READ_ONLY / ".gancourse-probe")
    pytest.skip("/sys is writable here")


@pytest.mark.parametrize("env, getter", [("GANCOURSE_DATA", config.data_dir), ("GANCOURSE_CACHE", config.cache_dir)])
def test_folder_variable_pointing_at_a_file(monkeypatch, tmp_path, env, getter):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    monkeypatch.setenv(env, str(a_file))
    with pytest.raises(ValueError, match=rf"{env} points at .*notes.txt, which is a file, not a folder. Point {env} at a folder"):
        getter()
    assert a_file.read_text() == "not a folder"


@pytest.mark.parametrize("env, getter", [("GANCOURSE_DATA", config.data_dir), ("GANCOURSE_CACHE", config.cache_dir)])
def test_folder_variable_below_a_file(monkeypatch, tmp_path, env, getter):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv(env, str(tmp_path / "file" / "sub"))
    with pytest.raises(PermissionError, match=rf"cannot create the .* folder .*file/sub named by {env} .*Point {env} at a folder you can write"):
        getter()


def test_cache_folder_that_cannot_be_created(monkeypatch):
    _read_only_folder()
    monkeypatch.setenv("GANCOURSE_CACHE", str(READ_ONLY / "gancourse-cache"))
    with pytest.raises(PermissionError, match=r"cannot create the cache folder /sys/gancourse-cache named by GANCOURSE_CACHE"):
        config.cache_dir()


def test_read_only_data_folder_fails_the_download_clearly(monkeypatch):
    from gancourse.data import image_dataset

    monkeypatch.setenv("GANCOURSE_DATA", str(_read_only_folder()))
    with pytest.raises(PermissionError, match=r"cannot download 'fashion-mnist': the data folder /sys is not writable.*"
                                              r"GANCOURSE_DATA.*image_dataset\('digits'\)"):
        image_dataset("fashion-mnist")


def test_read_only_cache_folder_can_still_be_read(monkeypatch):
    """A shared, read-only cache is legitimate for loading: only writing into it fails (see the checkpoint tests)."""
    monkeypatch.setenv("GANCOURSE_CACHE", str(_read_only_folder()))
    assert config.cache_dir() == READ_ONLY


@pytest.mark.parametrize("value", [" /tmp/x", "/tmp/x ", "\t/tmp/x"])
def test_folder_variable_with_stray_spaces(monkeypatch, value):
    monkeypatch.setenv("GANCOURSE_DATA", value)
    with pytest.raises(ValueError, match=r"GANCOURSE_DATA must be a folder's path, got .* with spaces around it"):
        config.data_dir()


def test_empty_folder_variable_means_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("GANCOURSE_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert config.cache_dir() == tmp_path / "gancourse" / "cache"


def test_relative_folder_variable_is_made_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GANCOURSE_DATA", "data-here")
    got = config.data_dir()
    assert got.is_absolute() and got == tmp_path / "data-here" and got.is_dir()


@pytest.mark.parametrize("value", ["on", "FAST", "1.0", "-1"])
def test_fast_variable_junk(monkeypatch, value):
    monkeypatch.setenv("GANCOURSE_FAST", value)
    with pytest.raises(ValueError, match=rf"GANCOURSE_FAST must be '1' .* or '0' .*got '{value}'"):
        config.budget(fast=1, full=2)


def test_seed_must_be_an_int():
    with pytest.raises(TypeError, match=r"seed must be an int, got str \('0'\)"):
        config.seed_everything("0")


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", str(2**31)])
def test_seed_offset_variable_junk(monkeypatch, value):
    monkeypatch.setenv("GANCOURSE_SEED", value)
    with pytest.raises(ValueError, match=rf"GANCOURSE_SEED must be a whole number from 0 to .*got '{value}'"):
        config.seed_everything(0)
