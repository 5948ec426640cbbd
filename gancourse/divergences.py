r"""How far apart two distributions are: KL, Jensen-Shannon, Wasserstein, and the optimal discriminator.

The theory of lectures 01, 02 and 05 in numbers. For a fixed generator the best discriminator is
:math:`D^*(x) = p_\text{data}(x) / (p_\text{data}(x) + p_G(x))`, and the value of the game at it is

.. math:: C(G) = \max_D V(D, G) = 2\,\mathrm{JSD}(p_\text{data} \,\|\, p_G) - \log 4

(Goodfellow et al. 2014, arXiv:1406.2661, Proposition 1 and Theorem 1), so training G against an
optimal D minimises the Jensen-Shannon divergence, which is stuck at :math:`\log 2` whenever the two
supports are disjoint. The Wasserstein-1 distance keeps measuring the gap there (Arjovsky et al.
2017, arXiv:1701.07875, Example 1).

Conventions: NumPy in, Python floats out, natural logarithms (nats). Discrete distributions are
arrays of non-negative weights over the same bins; they are normalised inside, and
:math:`0 \log 0 = 0`. Lectures 01, 02, 05.
"""

from __future__ import annotations

import math

import numpy as np

LOG2 = math.log(2.0)
LOG4 = math.log(4.0)


def _distribution(p, name: str) -> np.ndarray:
    """Non-negative weights (any shape) -> float64 probabilities summing to 1."""
    p = np.asarray(p, dtype=np.float64)
    if p.size == 0:
        raise ValueError(f"{name} is empty; give the weights of at least one bin.")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must hold finite, non-negative weights; got min {np.nanmin(p):.4g} "
                         f"and {int(np.sum(~np.isfinite(p)))} non-finite entries.")
    total = p.sum()
    if total <= 0:
        raise ValueError(f"{name} sums to {total}; a distribution needs positive total mass.")
    return p / total


def _pair(p, q) -> tuple[np.ndarray, np.ndarray]:
    p, q = _distribution(p, "p"), _distribution(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p and q must weigh the same bins: got shapes {p.shape} and {q.shape}.")
    return p, q


def _xlogy_ratio(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Elementwise :math:`p \\log(p / q)` with :math:`0 \\log(0 / q) = 0` (and +inf where q = 0 < p)."""
    out = np.zeros_like(p)
    pos = p > 0
    with np.errstate(divide="ignore"):
        out[pos] = p[pos] * (np.log(p[pos]) - np.log(q[pos]))
    return out


def kl(p, q) -> float:
    r"""Kullback-Leibler divergence of discrete distributions, in nats.

    .. math:: \mathrm{KL}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i}

    with :math:`0 \log(0/q) = 0`; it is :math:`+\infty` when some :math:`q_i = 0 < p_i`.
    ``p`` and ``q``: non-negative weights of the same shape, normalised inside. Lecture 02.
    """
    p, q = _pair(p, q)
    return float(_xlogy_ratio(p, q).sum())


def jsd(p, q) -> float:
    r"""Jensen-Shannon divergence of discrete distributions, in nats (between 0 and :math:`\log 2`).

    .. math:: \mathrm{JSD}(p \,\|\, q) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12 \mathrm{KL}(q \,\|\, m),
              \qquad m = \tfrac12 (p + q)

    Lin 1991; Goodfellow et al. 2014, eq. 6. Equals ``scipy.spatial.distance.jensenshannon(p, q)**2``.
    ``p`` and ``q``: non-negative weights of the same shape, normalised inside; :math:`0 \log 0 = 0`,
    so disjoint supports give exactly :math:`\log 2`. Lecture 02.
    """
    p, q = _pair(p, q)
    m = 0.5 * (p + q)
    value = 0.5 * _xlogy_ratio(p, m).sum() + 0.5 * _xlogy_ratio(q, m).sum()
    return float(min(max(value, 0.0), LOG2))  # clip rounding just outside [0, log 2]


def optimal_discriminator(p_data, p_g) -> np.ndarray:
    r"""The best discriminator against a fixed generator, elementwise.

    .. math:: D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_G(x)}

    Goodfellow et al. 2014, Proposition 1. ``p_data`` and ``p_g``: densities (or bin weights) at the
    same points, same shape; returns an array of that shape. Where both densities vanish, D* is
    undefined: it is returned as 1/2 (the value where neither player has a say). Lecture 02.
    """
    p_data = np.asarray(p_data, dtype=np.float64)
    p_g = np.asarray(p_g, dtype=np.float64)
    if p_data.shape != p_g.shape:
        raise ValueError(f"p_data and p_g must be given at the same points: got shapes {p_data.shape} and {p_g.shape}.")
    if np.any(p_data < 0) or np.any(p_g < 0):
        raise ValueError("densities must be non-negative; got a negative value in p_data or p_g.")
    total = p_data + p_g
    out = np.full_like(total, 0.5)
    np.divide(p_data, total, out=out, where=total > 0)
    return out


def value_at_optimum(p_data, p_g) -> float:
    r"""The value :math:`C(G) = V(D^*, G)` of the game when D is optimal, for discrete distributions.

    .. math:: C(G) = \sum_i p_{\text{data},i} \log D^*_i + \sum_i p_{G,i} \log(1 - D^*_i)
              = 2\,\mathrm{JSD}(p_\text{data} \,\|\, p_G) - \log 4

    Computed from the left-hand side (the definition), so that the identity can be checked against
    :func:`jsd`. Goodfellow et al. 2014, Theorem 1. Minimum :math:`-\log 4` exactly when
    :math:`p_G = p_\text{data}`. Lecture 02.
    """
    p, q = _pair(p_data, p_g)
    d_star = optimal_discriminator(p, q)
    with np.errstate(divide="ignore"):
        real = np.where(p > 0, p * np.log(np.where(p > 0, d_star, 1.0)), 0.0)
        fake = np.where(q > 0, q * np.log(np.where(q > 0, 1.0 - d_star, 1.0)), 0.0)
    return float(real.sum() + fake.sum())


def wasserstein1_1d(x_samples, y_samples) -> float:
    r"""The Wasserstein-1 (earth mover's) distance between two empirical distributions on the line.

    .. math:: W_1(\mu, \nu) = \int_{-\infty}^{\infty} |F_\mu(t) - F_\nu(t)|\, dt

    (in 1D the optimal plan matches quantiles; Villani 2009, Remark 2.19). Equals
    ``scipy.stats.wasserstein_distance(x, y)``. ``x_samples`` (N,) and ``y_samples`` (M,): 1D samples,
    equally weighted, N and M may differ. Lecture 02 (disjoint supports), lecture 05.
    """
    x = np.sort(np.asarray(x_samples, dtype=np.float64).ravel())
    y = np.sort(np.asarray(y_samples, dtype=np.float64).ravel())
    if x.size == 0 or y.size == 0:
        raise ValueError(f"both sample sets must be non-empty; got {x.size} and {y.size} samples.")
    t = np.sort(np.concatenate([x, y]))  # (N + M,) every jump of either CDF
    f_x = np.searchsorted(x, t[:-1], side="right") / x.size  # F_x just right of each breakpoint
    f_y = np.searchsorted(y, t[:-1], side="right") / y.size
    return float(np.sum(np.abs(f_x - f_y) * np.diff(t)))


# --------------------------------------------------------------------------------------------
# Gaussian closed forms (lectures 02, 05)
# --------------------------------------------------------------------------------------------


def kl_gaussians(mu1: float, sigma1: float, mu2: float, sigma2: float) -> float:
    r"""KL between two 1D Gaussians, in nats.

    .. math:: \mathrm{KL}(\mathcal N(\mu_1, \sigma_1^2) \,\|\, \mathcal N(\mu_2, \sigma_2^2))
              = \log\frac{\sigma_2}{\sigma_1} + \frac{\sigma_1^2 + (\mu_1 - \mu_2)^2}{2\sigma_2^2} - \frac12

    Lecture 02.
    """
    if not (sigma1 > 0 and sigma2 > 0):
        raise ValueError(f"standard deviations must be positive, got sigma1={sigma1}, sigma2={sigma2}.")
    return float(math.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2) - 0.5)


def w2_gaussians(mu1: float, sigma1: float, mu2: float, sigma2: float) -> float:
    r"""The Wasserstein-2 distance between two 1D Gaussians.

    .. math:: W_2(\mathcal N(\mu_1, \sigma_1^2), \mathcal N(\mu_2, \sigma_2^2))
              = \sqrt{(\mu_1 - \mu_2)^2 + (\sigma_1 - \sigma_2)^2}

    (the 1D case of the Fréchet distance of Dowson & Landau 1982, the square root of FID's
    formula). Lecture 05.
    """
    if not (sigma1 >= 0 and sigma2 >= 0):
        raise ValueError(f"standard deviations must be non-negative, got sigma1={sigma1}, sigma2={sigma2}.")
    return float(math.hypot(mu1 - mu2, sigma1 - sigma2))


# --------------------------------------------------------------------------------------------
# Comparing samples with a known density (lectures 01, 02)
# --------------------------------------------------------------------------------------------


def _simpson(f, a: float, b: float, n: int = 8) -> float:
    """Simpson's rule for the integral of ``f`` over ``[a, b]`` with ``n`` (even) sub-intervals."""
    x = np.linspace(a, b, n + 1)
    y = np.asarray(f(x), dtype=np.float64).ravel()
    return float((b - a) / (3 * n) * (y[0] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum() + y[-1]))


def histogram_jsd(samples, pdf, lo: float = -5.0, hi: float = 5.0, bins: int = 50) -> float:
    r"""JSD between generated samples and a known 1D density, through a histogram.

    Bins ``[lo, hi]`` into ``bins`` equal cells and adds two overflow cells (below ``lo``, above
    ``hi``). The samples give the empirical weights :math:`q_i`; the density gives
    :math:`p_i = \int_{\text{cell } i} p`, integrated with Simpson's rule (the overflow cells over
    four widths of ``[lo, hi]`` beyond each end). Returns :func:`jsd` (p, q). With N samples the estimate is biased upwards by about
    (bins + 1) / (8 N) nats (for N = 20,000 and 50 bins, about 3e-4). Lectures 01-02.

    Args: ``samples`` (N,) or (N, 1); ``pdf`` a function from points (M,) to densities (M,).
    """
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("samples is empty; draw some points from the generator first.")
    if not hi > lo or bins < 1:
        raise ValueError(f"need lo < hi and bins >= 1, got lo={lo}, hi={hi}, bins={bins}.")
    edges = np.linspace(lo, hi, bins + 1)
    counts, _ = np.histogram(x, bins=edges)
    q = np.concatenate([[np.sum(x < lo)], counts, [np.sum(x > hi)]]).astype(np.float64)
    inside = np.array([_simpson(pdf, a, b) for a, b in zip(edges[:-1], edges[1:])])  # (bins,)
    width = hi - lo
    below = _simpson(pdf, lo - 4 * width, lo, 64)  # the tails, far enough for the toy densities
    above = _simpson(pdf, hi, hi + 4 * width, 64)
    p = np.concatenate([[below], inside, [above]])
    return jsd(p, q)
