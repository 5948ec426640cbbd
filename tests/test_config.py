"""config: the mode switch, budgets, folders and seeds."""

import random

import numpy as np
import pytest
import torch

from gancourse import config


@pytest.mark.parametrize("value, fast", [("1", True), ("0", False), (" 1 ", True)])
def test_is_fast_reads_the_environment(monkeypatch, value, fast):
    monkeypatch.setenv("GANCOURSE_FAST", value)
    assert config.is_fast() is fast
    assert config.budget(fast="small", full="large") == ("small" if fast else "large")
    assert config.mode() == ("FAST" if fast else "FULL")


@pytest.mark.parametrize("value", ["yes", "true", "2", "fast"])
def test_is_fast_rejects_other_values(monkeypatch, value):
    monkeypatch.setenv("GANCOURSE_FAST", value)
    with pytest.raises(ValueError, match=r"GANCOURSE_FAST must be '1'.*got '" + value):
        config.is_fast()


def test_unset_mode_follows_the_hardware(monkeypatch):
    monkeypatch.delenv("GANCOURSE_FAST", raising=False)
    assert config.is_fast() is (config.device().type == "cpu")


def test_device_is_a_torch_device():
    dev = config.device()
    assert isinstance(dev, torch.device)
    assert torch.zeros(1, device=dev).device.type == dev.type


def test_folders_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path / "c"))
    assert config.data_dir() == tmp_path / "d" and (tmp_path / "d").is_dir()
    assert config.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_folders_default_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("GANCOURSE_DATA", raising=False)
    monkeypatch.delenv("GANCOURSE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert config.data_dir() == tmp_path / "gancourse" / "data"
    assert config.cache_dir() == tmp_path / "gancourse" / "cache"


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3).tolist()

    config.seed_everything(123)
    first = draw()
    config.seed_everything(123)
    assert draw() == first
    config.seed_everything(124)
    assert draw() != first


def test_seed_must_be_an_int():
    with pytest.raises(TypeError, match="seed must be an int"):
        config.seed_everything(1.5)
