"""metrics.mode_coverage: the unrolled-GAN protocol for counting covered modes (lecture 04)."""

import numpy as np
import pytest
import torch

from gancourse.data import Grid2D, Ring2D
from gancourse.metrics import mode_coverage


def _around(center, n, spread, rng):
    return np.asarray(center) + spread * rng.standard_normal((n, 2))


def test_samples_from_one_mode_cover_one():
    ring = Ring2D(std=0.05)
    rng = np.random.default_rng(0)
    x = _around(ring.centers[3], 1000, 0.05, rng)
    cov = mode_coverage(x, ring.centers, ring.std)
    assert cov.modes == 1
    # within 3 std in 2D: P(chi2_2 <= 9) = 1 - exp(-4.5) = 0.9889
    assert cov.high_quality == pytest.approx(1 - np.exp(-4.5), abs=0.01)
    assert cov.counts.argmax() == 3 and cov.counts.sum() == int(round(cov.high_quality * 1000))


def test_the_data_itself_covers_every_mode():
    for data in (Ring2D(std=0.02), Grid2D(std=0.05)):
        x = data.sample(5000, generator=torch.Generator().manual_seed(1))
        cov = mode_coverage(x, data.centers, data.std)
        assert cov.modes == len(data.centers)
        assert cov.high_quality > 0.97
        assert cov.counts.shape == (len(data.centers),) and cov.counts.dtype == np.int64


def test_no_mode_when_samples_miss_every_centre():
    ring = Ring2D()
    rng = np.random.default_rng(0)
    x = _around([0.0, 0.0], 500, 0.3, rng)  # the hole of the ring, 2 away from every centre
    cov = mode_coverage(x, ring.centers, ring.std)
    assert cov.modes == 0 and cov.high_quality == 0.0 and cov.counts.sum() == 0


def test_hand_counted_case_and_the_threshold_is_a_share_of_all_samples():
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    # 50 samples: 30 on centre 0, 2 on centre 1 (within 3 std), 1 just outside 3 std of centre 2,
    # 17 far from everything
    x = np.concatenate([np.zeros((30, 2)), [[10.2, 0.0], [10.0, -0.29]], [[0.0, 10.31]], np.full((17, 2), 5.0)])
    cov = mode_coverage(x, centers, std=0.1, min_fraction=0.04)  # needs ceil(0.04 * 50) = 2 samples
    assert cov.counts.tolist() == [30, 2, 0]
    assert cov.modes == 2
    assert cov.high_quality == pytest.approx(32 / 50)
    assert mode_coverage(x, centers, std=0.1, min_fraction=0.05).modes == 1  # now 3 are needed
    assert mode_coverage(x, centers, std=0.1, n_std=4.0, min_fraction=0.02).modes == 3


def test_one_stray_sample_does_not_cover_a_mode():
    ring = Ring2D(std=0.05)
    x = np.concatenate([np.tile(ring.centers[0], (999, 1)), ring.centers[5:6]])
    assert mode_coverage(x, ring.centers, ring.std).modes == 1  # 1 of 1,000 < 1 %
    assert mode_coverage(x, ring.centers, ring.std, min_fraction=0.0).modes == 2


def test_accepts_tensors_and_says_what_is_wrong():
    ring = Ring2D()
    cov = mode_coverage(torch.as_tensor(ring.centers, dtype=torch.float32), ring.centers, ring.std)
    assert cov.modes == 8 and cov.high_quality == 1.0  # one sample on each centre; at least 1 is needed
    modes, high_quality, counts = cov  # a plain tuple too
    assert counts.tolist() == [1] * 8
    with pytest.raises(ValueError, match=r"got samples \(5, 3\) and centers \(8, 2\)"):
        mode_coverage(np.zeros((5, 3)), ring.centers, 0.05)
    with pytest.raises(ValueError, match="std must be positive, got 0"):
        mode_coverage(np.zeros((5, 2)), ring.centers, 0)
