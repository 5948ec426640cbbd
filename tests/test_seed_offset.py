"""GANCOURSE_SEED: one offset that moves every seed of the course (issue 19's robustness runs)."""

import pytest
import torch

from gancourse import config


def test_the_offset_is_zero_unless_set(monkeypatch):
    monkeypatch.delenv("GANCOURSE_SEED", raising=False)
    assert config.seed_offset() == 0 and config.course_seed(7) == 7
    monkeypatch.setenv("GANCOURSE_SEED", "")
    assert config.seed_offset() == 0


def test_the_offset_shifts_every_seed(monkeypatch):
    monkeypatch.setenv("GANCOURSE_SEED", " 2 ")
    assert config.seed_offset() == 2
    assert config.course_seed(0) == 2 and config.course_seed(5) == 7


def test_seed_everything_applies_the_offset_once(monkeypatch):
    monkeypatch.setenv("GANCOURSE_SEED", "3")
    config.seed_everything(0)
    shifted = torch.rand(3)
    monkeypatch.delenv("GANCOURSE_SEED")
    config.seed_everything(3)
    assert torch.equal(shifted, torch.rand(3))
    config.seed_everything(0)
    assert not torch.equal(shifted, torch.rand(3))


@pytest.mark.parametrize("value", ["abc", "1.5", "-1", "2147483648", "0x10"])
def test_a_bad_offset_says_what_to_set(monkeypatch, value):
    monkeypatch.setenv("GANCOURSE_SEED", value)
    with pytest.raises(ValueError, match=r"GANCOURSE_SEED must be a whole number from 0 to 2147483647.*Unset it"):
        config.seed_offset()
    with pytest.raises(ValueError, match="GANCOURSE_SEED"):
        config.seed_everything(0)


@pytest.mark.parametrize("seed", [1.5, "0", True, None])
def test_a_seed_must_be_an_int(seed):
    with pytest.raises(TypeError, match="seed must be an int"):
        config.course_seed(seed)
