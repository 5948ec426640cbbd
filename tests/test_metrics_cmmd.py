"""CMMD: the unbiased Gaussian-kernel MMD against a brute-force double sum (lecture 12)."""

import math

import pytest
import torch

from gancourse.metrics import cmmd, median_bandwidth, rbf_mmd2


def _brute(x, y, sigma):
    k = lambda a, b: math.exp(-float(((a - b) ** 2).sum()) / (2 * sigma**2))
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_rbf_mmd2_against_a_double_sum():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(9, 4, generator=g, dtype=torch.float64), torch.randn(7, 4, generator=g, dtype=torch.float64) + 0.5
    for sigma in (0.5, 2.0):
        assert rbf_mmd2(x, y, sigma).item() == pytest.approx(_brute(x, y, sigma), rel=1e-10, abs=1e-14)
    assert cmmd(x, y, sigma=2.0) == pytest.approx(1000 * _brute(x, y, 2.0), rel=1e-10)


def test_unbiased_near_zero_for_one_law_and_positive_for_two():
    g = torch.Generator().manual_seed(1)
    same = [cmmd(torch.randn(200, 3, generator=g), torch.randn(200, 3, generator=g), sigma=1.0) for _ in range(20)]
    assert abs(sum(same) / 20) < 2.0 and min(same) < 0 < max(same)  # unbiased: it scatters around 0
    shifted = cmmd(torch.randn(200, 3, generator=g), torch.randn(200, 3, generator=g) + 1.0, sigma=1.0)
    assert shifted > 50


def test_median_bandwidth_and_errors():
    x = torch.tensor([[0.0], [1.0]])
    y = torch.tensor([[3.0], [4.0]])
    # distances among {0, 1, 3, 4}: 1, 3, 4, 2, 3, 1 -> median of the 12 ordered pairs is 2.5 (torch takes the lower: 2)
    assert median_bandwidth(x, y) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="sigma must be positive"):
        rbf_mmd2(x, y, 0.0)
    with pytest.raises(ValueError, match="feature widths differ"):
        cmmd(torch.randn(5, 2), torch.randn(5, 3))
