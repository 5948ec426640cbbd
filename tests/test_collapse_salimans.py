"""Minibatch discrimination and feature matching (Salimans et al. 2016) against brute force (lecture 04)."""

import math

import pytest
import torch

from gancourse.collapse import (METHODS, FeatureMatchingLoss, MinibatchDiscrimination, MinibatchDiscriminator,
                                RingSetting, discriminator_features, ring_players)
from gancourse.toy import Discriminator, Generator


def test_minibatch_discrimination_against_loops():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(5, kernels=3, kernel_dim=2)
    h = torch.randn(4, 5, dtype=torch.float64)
    layer.double()
    out = layer(h)
    assert out.shape == (4, 5 + 3)
    torch.testing.assert_close(out[:, :5], h)
    M = (h @ layer.T).view(4, 3, 2)
    for i in range(4):
        for b in range(3):
            o = sum(math.exp(-float((M[i, b] - M[j, b]).abs().sum().detach())) for j in range(4))
            assert out[i, 5 + b].item() == pytest.approx(o, rel=1e-10)


def test_minibatch_features_see_a_collapsed_batch():
    torch.manual_seed(1)
    layer = MinibatchDiscrimination(4, kernels=2, kernel_dim=3)
    same = layer(torch.ones(6, 4))[:, 4:]
    torch.testing.assert_close(same, torch.full((6, 2), 6.0))  # all alike: every sample is close to all 6
    spread = layer(torch.randn(6, 4) * 10)[:, 4:]
    assert (spread < 6).all() and (spread >= 1).all()  # itself counts once, the others less
    D = MinibatchDiscriminator(2, (16, 16), "relu", kernels=4)
    assert D(torch.randn(8, 2)).shape == (8,)


def test_feature_matching_against_a_hand_computation():
    torch.manual_seed(2)
    G, D = Generator(3, 2, (8,), "relu"), Discriminator(2, (6, 5), "relu")
    z, x_real = torch.randn(7, 3), torch.randn(9, 2)
    loss = FeatureMatchingLoss()(G, D, z, x_real)
    f = lambda x: D.net[3](D.net[2](D.net[1](D.net[0](x))))  # Linear, ReLU, Linear, ReLU: the last hidden layer
    expected = ((f(x_real).mean(0) - f(G(z)).mean(0)) ** 2).sum()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert discriminator_features(D, x_real).shape == (9, 5)
    loss.backward()
    assert all(p.grad is not None for p in G.parameters())


def test_ring_methods():
    assert {"mbd", "feature-matching"} <= set(METHODS)
    G, D = ring_players(RingSetting("mbd", z_dim=4, g_hidden=(8,), d_hidden=(8, 8)))
    assert isinstance(D, MinibatchDiscriminator)
