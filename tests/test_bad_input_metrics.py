"""Bad input at the metrics' public functions, and the third-party Inception weights that must never run code."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import linalg

from gancourse import metrics
from gancourse.metrics import InceptionFeatures, InceptionWeightsError, fid, fid_from_features, frechet_distance, kid


def _spd(dim, seed=0):
    a = np.random.default_rng(seed).standard_normal((dim, dim))
    return a @ a.T + 0.1 * np.eye(dim)


def _scipy_fd(mu1, s1, mu2, s2):
    covmean = linalg.sqrtm(s1 @ s2).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1 + s2 - 2 * covmean))


# ---- frechet_distance: what is not a covariance, or not finite

def test_non_symmetric_covariance_is_refused():
    s = _spd(4)
    s[0, 3] += 5.0  # only the upper triangle: Cholesky would never see it
    with pytest.raises(ValueError, match=r"sigma1 is not symmetric .*reaches 5.*np.cov"):
        frechet_distance(np.zeros(4), s, np.zeros(4), _spd(4, 1))


def test_indefinite_second_covariance_is_refused():
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
    with pytest.raises(ValueError, match=r"sigma2 is not positive semi-definite: .*eigenvalue of -"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), indefinite)


def test_indefinite_first_covariance_is_refused():
    indefinite = np.diag([1.0, -4.0, 2.0])
    with pytest.raises(ValueError, match=r"sigma1 is not positive semi-definite: it has an eigenvalue of -4"):
        frechet_distance(np.zeros(3), indefinite, np.zeros(3), np.eye(3))


def test_indefinite_covariance_outside_a_singular_ones_range_is_refused():
    singular = np.diag([1.0, 0.0])  # the sandwich with its root never sees sigma2's second direction
    with pytest.raises(ValueError, match="sigma2 is not positive semi-definite"):
        frechet_distance(np.zeros(2), singular, np.zeros(2), np.diag([1.0, -3.0]))


def test_nan_mean_is_refused_not_returned():
    mu = np.zeros(3)
    mu[1] = np.nan
    with pytest.raises(ValueError, match=r"mu2 holds 1 non-finite value"):
        frechet_distance(np.zeros(3), np.eye(3), mu, np.eye(3))


def test_infinite_covariance_is_refused():
    s = np.eye(3)
    s[2, 2] = np.inf
    with pytest.raises(ValueError, match="sigma1 holds 1 non-finite"):
        frechet_distance(np.zeros(3), s, np.zeros(3), np.eye(3))


def test_singular_covariances_still_give_the_right_value():
    """Rank-deficient covariances (fewer samples than features) are legitimate: same value as scipy's route."""
    feats = np.random.default_rng(3).standard_normal((5, 8))
    s1 = np.cov(feats, rowvar=False)  # rank 4 of 8
    mu1, mu2, s2 = feats.mean(0), np.ones(8), _spd(8, 2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_scipy_fd(mu1, s1, mu2, s2), rel=1e-6)


def test_float32_rounded_covariances_are_still_accepted():
    s1, s2 = _spd(6, 4), _spd(6, 5)
    got = frechet_distance(np.zeros(6, np.float32), s1.astype(np.float32), np.ones(6, np.float32), s2.astype(np.float32))
    assert got == pytest.approx(_scipy_fd(np.zeros(6), s1, np.ones(6), s2), rel=1e-5)


# ---- features, fid and kid

def test_huge_features_are_named_not_sent_to_lapack():
    a = torch.randn(30, 4, dtype=torch.float64)
    b = a.clone()
    b[0, 0] = 2e200  # finite, but its square is not
    with pytest.raises(ValueError, match=r"feats_b holds values as large as 2e\+200: beyond 1e\+30.*rescale"):
        fid_from_features(a, b)


def test_nan_features_in_kid():
    a = torch.randn(30, 4)
    b = a.clone()
    b[0, 0] = float("nan")
    with pytest.raises(ValueError, match="feats_a holds non-finite values .* 1 of its 30 rows"):
        kid(b, a, subset_size=10)


@pytest.mark.parametrize("n, error, message", [
    (0, ValueError, r"n must be an int >= 2, got 0. FID needs at least 2 samples"),
    (1, ValueError, r"n must be an int >= 2, got 1"),
    (2.5, TypeError, r"n must be an int, got float 2.5"),
    ("100", TypeError, r"n must be an int, got str '100'"),
])
def test_fid_sample_count(n, error, message):
    images = torch.zeros(10, 1, 8, 8)
    with pytest.raises(error, match=message):
        fid(images, images, n, extractor=_MeanFeatures())


def test_fid_n_real_below_two():
    images = torch.rand(10, 1, 8, 8)
    with pytest.raises(ValueError, match="n_real must be an int >= 2, got 1"):
        fid(images, images, 5, extractor=_MeanFeatures(), n_real=1)


def test_fid_with_valid_counts_works():
    images = torch.rand(10, 1, 8, 8) * 2 - 1
    result = fid(images, images, 10, extractor=_MeanFeatures())
    assert abs(result.value) < 1e-9 and result.n_real == result.n_fake == 10


@pytest.mark.parametrize("kwargs, error, message", [
    ({"subset_size": 2.5}, TypeError, r"subset_size must be an int, got float 2.5"),
    ({"subset_size": 31}, ValueError, r"subset_size=31 must lie between 2 and the smaller set's size \(30 and 40"),
    ({"subset_size": 1}, ValueError, r"subset_size must be an int >= 2, got 1"),
    ({"subset_size": 10, "subsets": 0}, ValueError, r"subsets must be an int >= 1, got 0"),
    ({"subset_size": 10, "subsets": 3.0}, TypeError, r"subsets must be an int, got float 3.0"),
])
def test_kid_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        kid(torch.randn(30, 4), torch.randn(40, 4), **kwargs)


class _MeanFeatures:
    """A tiny extractor: per-image channel means and standard deviations, (N, 2)."""

    name = "mean and std"

    def __call__(self, images):
        flat = images.flatten(1)
        return torch.stack([flat.mean(1), flat.std(1)], dim=1)


# ---- the Inception weights: hash first, weights_only always, nothing left behind on failure

class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.fixture
def torch_home(monkeypatch, tmp_path):
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    return home


def test_hand_placed_weights_with_another_hash_are_never_unpickled(torch_home, tmp_path):
    marker = tmp_path / "code-ran"
    path = metrics.inception_weights_path()
    path.parent.mkdir(parents=True)
    torch.save({"fc.weight": torch.zeros(1), "payload": _RunsCode(marker)}, path)
    with pytest.raises(InceptionWeightsError, match=rf"not pytorch-fid's FID Inception weights: its SHA-256 is "
                                                    rf"[0-9a-f]{{64}}, expected {metrics.INCEPTION_SHA256}.*not loaded"):
        InceptionFeatures(download=False)
    assert not marker.exists()


def test_even_a_file_with_the_right_hash_is_read_with_weights_only(torch_home, tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    path = metrics.inception_weights_path()
    path.parent.mkdir(parents=True)
    torch.save({"payload": _RunsCode(marker)}, path)
    monkeypatch.setattr(metrics, "INCEPTION_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(InceptionWeightsError, match="cannot read .* as a state dict"):
        InceptionFeatures(download=False)
    assert not marker.exists()


def test_missing_weights_say_how_to_check_the_file_by_hand(torch_home):
    with pytest.raises(InceptionWeightsError, match=rf"download=False.*sha256sum {metrics.INCEPTION_WEIGHTS}.*must print "
                                                    rf"{metrics.INCEPTION_SHA256}.*extractor='classifier'"):
        InceptionFeatures(download=False)
    assert not torch_home.exists()


def test_failed_download_creates_nothing_under_torch_home(torch_home, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    with pytest.raises(InceptionWeightsError, match="Downloading them failed .*connection refused.*sha256sum"):
        InceptionFeatures(download=True)
    assert not torch_home.exists()


def test_downloaded_file_with_a_wrong_hash_is_not_kept(torch_home, monkeypatch, tmp_path):
    marker = tmp_path / "code-ran"

    def tampered(url, dst, **kwargs):  # a proxy or mirror serving something else
        torch.save({"payload": _RunsCode(marker)}, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", tampered)
    with pytest.raises(InceptionWeightsError, match=rf"downloaded from .* has SHA-256 [0-9a-f]{{64}}, not {metrics.INCEPTION_SHA256}"):
        InceptionFeatures(download=True)
    assert not torch_home.exists() and not marker.exists()


# ---- mode coverage and nearest-neighbour radii

def test_mode_coverage_of_nan_samples_is_refused_not_zero():
    samples = torch.zeros(10, 2)
    samples[3] = float("nan")
    with pytest.raises(ValueError, match=r"samples holds 2 NaN .* among 20.*diverged generator"):
        metrics.mode_coverage(samples, np.zeros((8, 2)), std=0.05)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_std": 0}, r"n_std must be > 0, got 0"),
    ({"min_fraction": 1.5}, r"min_fraction must be in \[0, 1\], got 1.5"),
])
def test_mode_coverage_thresholds(kwargs, message):
    with pytest.raises(ValueError, match=message):
        metrics.mode_coverage(torch.zeros(10, 2), np.zeros((8, 2)), std=0.05, **kwargs)


def test_knn_radius_with_a_fractional_k():
    with pytest.raises(TypeError, match=r"k must be an int, got float 2.5"):
        metrics.precision_recall(torch.randn(20, 3), torch.randn(20, 3), k=2.5)
