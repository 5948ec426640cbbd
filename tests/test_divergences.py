"""Divergences against SciPy, closed forms and hand-computed cases (lectures 01, 02, 05)."""

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.spatial.distance import jensenshannon

from gancourse import divergences as dv
from gancourse.data import BimodalGaussian1D


def _random_pair(rng, n=12):
    return rng.random(n) * 3, rng.random(n)


def test_jsd_matches_scipy_squared():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q = _random_pair(rng)
        assert dv.jsd(p, q) == pytest.approx(jensenshannon(p, q) ** 2, abs=1e-12)


def test_jsd_with_zeros_matches_scipy_and_stays_finite():
    p = np.array([0.5, 0.5, 0.0, 0.0])
    q = np.array([0.0, 0.25, 0.25, 0.5])
    value = dv.jsd(p, q)
    assert np.isfinite(value)
    assert value == pytest.approx(jensenshannon(p, q) ** 2, abs=1e-12)


def test_jsd_disjoint_supports_is_log_2():
    assert dv.jsd([1, 2, 0, 0], [0, 0, 3, 1]) == pytest.approx(math.log(2), abs=1e-15)


def test_jsd_zero_on_equal_and_symmetric():
    rng = np.random.default_rng(1)
    p, q = _random_pair(rng)
    assert dv.jsd(p, 7 * p) == pytest.approx(0.0, abs=1e-15)  # normalised inside
    assert dv.jsd(p, q) == pytest.approx(dv.jsd(q, p), abs=1e-15)


def test_kl_matches_scipy_entropy_and_hand_case():
    rng = np.random.default_rng(2)
    p, q = _random_pair(rng)
    assert dv.kl(p, q) == pytest.approx(stats.entropy(p, q), abs=1e-12)
    # by hand: KL([1/2, 1/2] || [1/4, 3/4]) = 1/2 log 2 + 1/2 log(2/3)
    assert dv.kl([1, 1], [1, 3]) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3), abs=1e-15)
    assert dv.kl([1, 0], [1, 1]) == pytest.approx(math.log(2), abs=1e-15)  # 0 log 0 = 0
    assert dv.kl([1, 1], [1, 0]) == math.inf


def test_jsd_is_the_mean_of_kls_to_the_midpoint():
    rng = np.random.default_rng(3)
    p, q = _random_pair(rng)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    assert dv.jsd(p, q) == pytest.approx(0.5 * dv.kl(p, m) + 0.5 * dv.kl(q, m), abs=1e-15)


def test_value_at_optimum_is_two_jsd_minus_log_4():
    rng = np.random.default_rng(4)
    for _ in range(20):
        p, q = _random_pair(rng)
        q[rng.integers(len(q))] = 0.0  # zeros must be handled too
        assert dv.value_at_optimum(p, q) == pytest.approx(2 * dv.jsd(p, q) - math.log(4), abs=1e-9)
    assert dv.value_at_optimum([1, 2, 3], [1, 2, 3]) == pytest.approx(-math.log(4), abs=1e-12)
    assert dv.value_at_optimum([1, 0], [0, 1]) == pytest.approx(0.0, abs=1e-12)  # 2 log 2 - log 4


def test_optimal_discriminator_on_a_mixture():
    data = BimodalGaussian1D()
    x = np.linspace(-4, 4, 81)
    p = data.pdf(x)
    q = np.exp(-x**2 / 2) / math.sqrt(2 * math.pi)  # p_G = N(0, 1), by hand
    d_star = dv.optimal_discriminator(p, q)
    np.testing.assert_allclose(d_star, p / (p + q), rtol=1e-12)
    assert d_star[40] < 0.01  # at x = 0 the mixture has almost no mass; N(0, 1) has its peak
    # at x = 2: p_data = 1/sqrt(2 pi) (half of N(2, 0.5^2)'s peak), p_G = e^-2/sqrt(2 pi): D* = sigmoid(2)
    assert d_star[60] == pytest.approx(1 / (1 + math.exp(-2)), abs=1e-12)
    np.testing.assert_array_equal(dv.optimal_discriminator(p, p), np.full_like(p, 0.5))
    np.testing.assert_array_equal(dv.optimal_discriminator([0.0, 1.0], [0.0, 0.0]), [0.5, 1.0])


def test_optimal_discriminator_beats_any_other_discriminator():
    """V(D, G) at D* is at least V at random discriminators (discrete case, by definition)."""
    rng = np.random.default_rng(5)
    p, q = _random_pair(rng)
    p, q = p / p.sum(), q / q.sum()
    best = dv.value_at_optimum(p, q)
    for _ in range(50):
        d = rng.uniform(0.01, 0.99, size=p.shape)
        assert np.sum(p * np.log(d) + q * np.log(1 - d)) <= best + 1e-12


def test_wasserstein1_matches_scipy():
    rng = np.random.default_rng(6)
    for n, m in [(50, 50), (37, 80), (1, 5)]:
        x, y = rng.normal(size=n), rng.normal(1.0, 2.0, size=m)
        assert dv.wasserstein1_1d(x, y) == pytest.approx(stats.wasserstein_distance(x, y), abs=1e-12)


def test_wasserstein1_of_shifted_points_is_the_shift():
    for theta in (0.0, 0.5, 3.0, -7.0):
        assert dv.wasserstein1_1d(np.zeros(4), np.full(3, theta)) == pytest.approx(abs(theta), abs=1e-15)


def test_kl_gaussians_against_numerical_integration():
    mu1, s1, mu2, s2 = 0.3, 0.7, -1.0, 1.6
    integrand = lambda x: stats.norm.pdf(x, mu1, s1) * (stats.norm.logpdf(x, mu1, s1) - stats.norm.logpdf(x, mu2, s2))  # noqa: E731
    numeric, _ = integrate.quad(integrand, -15, 15)
    assert dv.kl_gaussians(mu1, s1, mu2, s2) == pytest.approx(numeric, abs=1e-9)
    assert dv.kl_gaussians(1.0, 2.0, 1.0, 2.0) == 0.0


def test_w2_gaussians_against_quantile_integral():
    """In 1D, W2^2 = int_0^1 (F^-1(u) - G^-1(u))^2 du; for Gaussians the quantiles are affine."""
    mu1, s1, mu2, s2 = 0.5, 1.3, -0.2, 0.4
    integrand = lambda u: (stats.norm.ppf(u, mu1, s1) - stats.norm.ppf(u, mu2, s2)) ** 2  # noqa: E731
    numeric, _ = integrate.quad(integrand, 0, 1, limit=200)
    assert dv.w2_gaussians(mu1, s1, mu2, s2) == pytest.approx(math.sqrt(numeric), abs=1e-6)
    assert dv.w2_gaussians(0, 1, 3, 1) == pytest.approx(3.0)


def test_histogram_jsd_of_the_data_itself_is_near_zero_and_far_when_shifted():
    data = BimodalGaussian1D()
    x = data.sample(20000).numpy()
    own = dv.histogram_jsd(x, data.pdf)
    assert own < 1e-3  # the finite-sample bias is about (bins + 1) / (8 N) = 3e-4
    assert dv.histogram_jsd(x + 20.0, data.pdf) == pytest.approx(math.log(2), abs=1e-3)
    one_mode = x[x > 0]
    # all mass on one of two equal modes, by hand: m = (1/4, 3/4), so
    # JSD = 1/2 [1/2 log 2 + 1/2 log(2/3)] + 1/2 log(4/3) = 0.2158 nats
    by_hand = 0.25 * math.log(2) + 0.25 * math.log(2 / 3) + 0.5 * math.log(4 / 3)
    assert dv.histogram_jsd(one_mode, data.pdf) == pytest.approx(by_hand, abs=2e-3)


def test_errors_say_what_was_wrong():
    with pytest.raises(ValueError, match=r"same bins: got shapes \(3,\) and \(2,\)"):
        dv.jsd([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        dv.kl([1, -1], [1, 1])
    with pytest.raises(ValueError, match="sums to 0"):
        dv.jsd([0, 0], [1, 1])
    with pytest.raises(ValueError, match="same points"):
        dv.optimal_discriminator([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="must be positive"):
        dv.kl_gaussians(0, 0, 0, 1)
    with pytest.raises(ValueError, match="non-empty"):
        dv.wasserstein1_1d([], [1.0])
