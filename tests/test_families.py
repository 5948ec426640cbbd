"""The side-by-side harness of lecture 12: cache keys, the shared protocol, the data's own likelihood."""

import dataclasses
import math

import pytest
import torch

from gancourse import families
from gancourse.data import Ring2D


def test_keys_change_with_settings_family_and_seed(monkeypatch):
    s = families.FamilySetting(std=0.15)
    keys = {s.key("vae", 0), s.key("vae", 1), s.key("diffusion", 0), dataclasses.replace(s, vae_steps=1).key("vae", 0)}
    assert len(keys) == 4
    monkeypatch.setenv("GANCOURSE_SEED", "3")
    assert "-seed3-" in s.key("vae", 0)  # the seed offset moves every run


def test_score_and_data_likelihood_on_the_data_itself():
    s = families.FamilySetting(std=0.15, n_test=4000)
    modes, quality = families.score(s, Ring2D(std=0.15).sample(4000, generator=torch.Generator().manual_seed(0)))
    assert modes == 8 and quality == pytest.approx(1 - math.exp(-4.5), abs=0.01)  # P(r <= 3 std) for a 2D Gaussian
    # 8 equal, well separated Gaussians: entropy log(2 pi e s^2) + log 8, so E[log p] is minus that
    assert families.data_loglik(s, 0) == pytest.approx(-(math.log(2 * math.pi * math.e * 0.15**2) + math.log(8)), abs=0.05)
