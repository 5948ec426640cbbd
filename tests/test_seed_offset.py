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


def test_the_offset_names_cached_runs_apart(monkeypatch):
    from gancourse import checkpoints, recipes

    monkeypatch.delenv("GANCOURSE_SEED", raising=False)
    assert checkpoints.keyed_name("ring", "vanilla", 1, "steps=3").startswith("ring-vanilla-seed1-")
    assert recipes.recipe_checkpoint("dcgan").name == "dcgan-fast.pt"
    monkeypatch.setenv("GANCOURSE_SEED", "2")
    assert checkpoints.keyed_name("ring", "vanilla", 1, "steps=3").startswith("ring-vanilla-seed3-")
    assert recipes.recipe_checkpoint("dcgan").name == "dcgan-fast-seed2.pt"


def test_the_offset_moves_the_training_stream(monkeypatch):
    """train_gan from seed 0 under GANCOURSE_SEED=1 is train_gan from seed 1: same batches, noise, fixed z."""
    import copy

    from gancourse.data import BimodalGaussian1D
    from gancourse.toy import Discriminator, Generator
    from gancourse.train import train_gan

    torch.manual_seed(0)
    G0, D0 = Generator(2, 1, hidden=(8,)), Discriminator(1, hidden=(8,))

    def run(seed):
        G, D = copy.deepcopy(G0), copy.deepcopy(D0)
        return train_gan(G, D, BimodalGaussian1D(), steps=3, batch_size=16, seed=seed, progress=False).loss_g

    monkeypatch.delenv("GANCOURSE_SEED", raising=False)
    plain_0, plain_1 = run(0), run(1)
    monkeypatch.setenv("GANCOURSE_SEED", "1")
    assert run(0) == plain_1 and plain_0 != plain_1
