"""Lecture 12's measurements of generated images: the fake detector and truncation."""

import pytest
import torch
from torch import nn

from gancourse.fakes import class_balance, detector_accuracy, truncated_samples


def test_detector_separates_shifted_features_and_not_identical_ones():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 16, generator=g)
    assert detector_accuracy(real, torch.randn(400, 16, generator=g) + 1.0) > 0.95
    same = [detector_accuracy(real, torch.randn(400, 16, generator=g), seed=s) for s in range(3)]
    assert all(0.35 < a < 0.65 for a in same)
    with pytest.raises(ValueError, match="at least 4 samples"):
        detector_accuracy(real[:2], real[:2])


class _Linear(nn.Module):
    """A 'generator' whose image is its first latent coordinate, and a classifier thresholding it."""

    z_dim = 4

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, z):
        return z[:, :1, None, None] + 0 * self.w  # (B, 1, 1, 1)


class _Threshold:
    num_classes = 2

    def predict(self, x):
        return (x.flatten(1)[:, 0].abs() > 0.6745).long()  # |z_1| > the median of |N(0,1)|: half and half


def test_truncation_scales_the_noise_and_unbalances_the_classes():
    G = _Linear()
    x1 = truncated_samples(G, 8, 1.0, torch.Generator().manual_seed(0))
    xh = truncated_samples(G, 8, 0.5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(xh, 0.5 * x1)
    assert truncated_samples(G, 5, 0.0).abs().max() == 0
    hist = class_balance(G, _Threshold(), [1.0, 0.5], n=4000)
    assert hist[1.0][1].item() == pytest.approx(0.5, abs=0.03)
    assert hist[0.5][1].item() == pytest.approx(0.178, abs=0.03)  # P(|z| > 1.349) for z ~ N(0, 1)
    with pytest.raises(ValueError, match=r"psi must lie in \[0, 1\]"):
        truncated_samples(G, 2, 1.5)
