"""The lecture 09 checkers pass the reference and independent writings, and catch the usual mistakes in FID."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from gancourse import checks
from gancourse.checks import CheckFailed, check_feature_statistics, check_frechet_distance
from gancourse.metrics import feature_statistics, frechet_distance

@pytest.fixture(autouse=True)
def _strict_checks():
    """A failing check raises here, so that each mistake can be asserted with pytest.raises."""
    with checks.strict():
        yield



def _fd(trace_root, mean=True, factor=2.0, root=False):
    """A Fréchet distance assembled from a (possibly wrong) trace-of-root routine."""
    def fn(mu1, sigma1, mu2, sigma2):
        diff = mu1 - mu2
        value = (diff @ diff if mean else 0.0) + np.trace(sigma1) + np.trace(sigma2) - factor * trace_root(sigma1, sigma2)
        return float(np.sqrt(value)) if root else float(value)
    return fn


def _right(s1, s2):
    return np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()


def test_check_frechet_distance_passes_the_reference(capsys):
    check_frechet_distance(frechet_distance)
    assert "check_frechet_distance passed" in capsys.readouterr().out


def test_check_frechet_distance_passes_independent_writings():
    check_frechet_distance(_fd(_right))
    check_frechet_distance(_fd(lambda s1, s2: np.trace(scipy.linalg.sqrtm(s1 @ s2)).real))  # pytorch-fid's route


@pytest.mark.parametrize("mistake, message", [
    (_fd(lambda s1, s2: np.sqrt(np.clip(np.linalg.eigvalsh(s1 @ s2), 0, None)).sum()), "eigvalsh of the product"),
    (_fd(_right, factor=1.0), "factor 2 on the trace term is missing"),
    (_fd(_right, mean=False), "mean term"),
    (_fd(lambda s1, s2: np.sqrt(np.trace(s1 @ s2))), "square root of the trace"),
    (_fd(lambda s1, s2: np.nansum(np.sqrt(np.diag(s1 @ s2)))), "elementwise square roots"),
    (_fd(_right, root=True), "returned the distance itself"),
    (_fd(lambda s1, s2: np.trace(s1 @ s2)), "matrix square root first"),
    (_fd(lambda s1, s2: np.trace(scipy.linalg.sqrtm(s1) @ scipy.linalg.sqrtm(s2)).real), "only when the two covariances commute"),
    (lambda mu1, s1, mu2, s2: None, "return"),
    (lambda mu1, s1, mu2, s2: np.zeros(3), "return one number"),
    (lambda mu1, s1, mu2, s2: 1.0, "identical Gaussians"),
])
def test_check_frechet_distance_catches(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        check_frechet_distance(mistake)


def test_check_frechet_distance_hints_float32():
    def in_float32(mu1, s1, mu2, s2):
        f = np.float32
        return float(frechet_distance(mu1.astype(f), s1.astype(f), mu2.astype(f), (s2 + 1e-4 * np.eye(len(s2))).astype(f)))

    with pytest.raises(CheckFailed, match="float64"):
        check_frechet_distance(in_float32)


def test_check_frechet_distance_lets_the_stub_through():
    def stub(mu1, sigma1, mu2, sigma2):
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        check_frechet_distance(stub)


def test_check_feature_statistics_passes_reference_and_numpy(capsys):
    check_feature_statistics(feature_statistics)
    check_feature_statistics(lambda f: (f.mean(axis=0), np.cov(f, rowvar=False)))
    assert capsys.readouterr().out.count("check_feature_statistics passed") == 2


@pytest.mark.parametrize("mistake, message", [
    (lambda f: (f.mean(axis=0), np.cov(f, rowvar=False, bias=True)), "biased covariance .* N - 1"),
    (lambda f: (f.mean(axis=0), np.cov(f)), "rowvar=False"),
    (lambda f: (f.mean(axis=1), np.cov(f, rowvar=False)), "averaged over the features"),
    (lambda f: f.mean(axis=0), "return the pair"),
    (lambda f: (f.mean(axis=0), (f - f.mean(0)).T @ (f - f.mean(0))), "sigma of 50 samples"),
])
def test_check_feature_statistics_catches(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        check_feature_statistics(mistake)


@pytest.mark.parametrize("mistake", [
    lambda f: (np.asarray(f).mean(axis=1), np.cov(np.asarray(f), rowvar=False)),  # mean over features
    lambda f: (np.asarray(f).mean(axis=0), np.cov(np.asarray(f), rowvar=False, bias=True)),  # divides by N
    lambda f: (np.asarray(f).mean(axis=0), np.asarray(f).T @ np.asarray(f) / (len(f) - 1)),  # not centred
    lambda f: (np.asarray(f).mean(axis=0), np.cov(np.asarray(f))),  # rows as variables
], ids=["mean over features", "biased covariance", "not centred", "rowvar"])
def test_check_feature_statistics_more_mistakes(mistake):
    with pytest.raises(CheckFailed):
        check_feature_statistics(mistake)
