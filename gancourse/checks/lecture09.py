"""Lecture 09 exercise checkers: feature statistics and the Fréchet distance."""

from __future__ import annotations

import numpy as np
import torch

from gancourse.checks._core import checker, _fmt, fail, assert_close, passed, _run, _number


def _spd(rng, n: int) -> np.ndarray:
    """A random symmetric positive-definite (n, n) matrix, well away from singular."""
    a = rng.standard_normal((n, n + 4))
    return a @ a.T / n + 0.1 * np.eye(n)


def _fd_variants(mu1, s1, mu2, s2) -> dict:
    """What the usual mistakes in a Fréchet distance return on one case, keyed by the hint for each."""
    import scipy.linalg

    mean_term = float((mu1 - mu2) @ (mu1 - mu2))
    traces = float(np.trace(s1) + np.trace(s2))
    tr_root = float(np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum())  # the right tr sqrt(S1 S2)
    with np.errstate(invalid="ignore"):
        eigvalsh_product = float(np.sqrt(np.clip(np.linalg.eigvalsh(s1 @ s2), 0, None)).sum())
        elementwise = float(np.nansum(np.sqrt(np.diag(s1 @ s2))))
    return {
        "the trace term uses eigvalsh of the product Sigma1 @ Sigma2, which is not symmetric: eigvalsh reads only "
        "its lower triangle and returns wrong eigenvalues. Use np.linalg.eigvals of the product (real parts), or "
        "the symmetric sandwich sqrt(Sigma1) @ Sigma2 @ sqrt(Sigma1) with eigvalsh.":
            mean_term + traces - 2 * eigvalsh_product,
        "the factor 2 on the trace term is missing: FID = |mu1 - mu2|^2 + tr(Sigma1) + tr(Sigma2) "
        "- 2 tr((Sigma1 Sigma2)^(1/2)).": mean_term + traces - tr_root,
        "the mean term |mu1 - mu2|^2 is missing: two Gaussians with equal covariances and different means "
        "must be at a positive distance.": traces - 2 * tr_root,
        "you took the square root of the trace, sqrt(tr(Sigma1 Sigma2)); the formula needs the trace of the "
        "matrix square root, tr((Sigma1 Sigma2)^(1/2)) = sum of the square roots of its eigenvalues.":
            mean_term + traces - 2 * float(np.sqrt(np.trace(s1 @ s2))),
        "you took elementwise square roots (np.sqrt of a matrix) and traced them; the formula needs the matrix "
        "square root, whose trace is the sum of the square roots of the eigenvalues of Sigma1 Sigma2.":
            mean_term + traces - 2 * elementwise,
        "you returned the distance itself, the square root of FID; FID is the *squared* Fréchet distance "
        "d^2 (no final square root).": float(np.sqrt(max(mean_term + traces - 2 * tr_root, 0.0))),
        "you subtracted the trace of Sigma1 Sigma2 itself; take its matrix square root first.":
            mean_term + traces - 2 * float(np.trace(s1 @ s2)),
        "you multiplied the square roots of Sigma1 and Sigma2, tr(Sigma1^(1/2) Sigma2^(1/2)); that equals "
        "tr((Sigma1 Sigma2)^(1/2)) only when the two covariances commute. Take the root of the product.":
            mean_term + traces - 2 * float(np.trace(scipy.linalg.sqrtm(s1) @ scipy.linalg.sqrtm(s2)).real),
    }


@checker
def check_frechet_distance(fn) -> None:
    r"""Check ``fn(mu1, sigma1, mu2, sigma2)`` against :func:`gancourse.metrics.frechet_distance`.

    .. math:: d^2 = \lVert\mu_1 - \mu_2\rVert^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
              - 2\operatorname{tr}(\Sigma_1\Sigma_2)^{1/2}

    Closed forms first (identical Gaussians give 0; N(0, I) against N(mu, I) gives |mu|^2; diagonal
    covariances give the sum of (sqrt(a_i) - sqrt(b_i))^2 plus the mean term), then random
    non-commuting covariances in 3, 10 and 40 dimensions, relative error below 1e-6. Names the usual
    mistakes: ``eigvalsh`` of the non-symmetric product, a missing factor 2, a dropped mean term,
    the square root of the trace instead of the trace of the square root, elementwise square roots,
    returning d instead of d^2. Lecture 09 exercise.
    """
    from gancourse.metrics import frechet_distance

    name = "check_frechet_distance"
    rng = np.random.default_rng(9)

    def compare(what, mu1, s1, mu2, s2, expected, atol=1e-8):
        got = _number(name, _run(name, fn, mu1, s1, mu2, s2), what)
        if np.isclose(got, expected, rtol=1e-6, atol=atol):
            return
        if np.isnan(got):  # a square root of a number that rounding left slightly below 0
            fail(name, f"{what}: got nan, expected {expected:.6g}: a square root of a slightly negative number. "
                       "If you returned the distance itself, drop the final square root: FID is the *squared* "
                       "Fréchet distance d^2. Clip eigenvalues at 0 before taking their square roots.")
        for hint, value in _fd_variants(mu1, s1, mu2, s2).items():
            if np.isfinite(value) and abs(value - expected) > 1e-6 * max(1.0, abs(expected)) and \
                    np.isclose(got, value, rtol=1e-6, atol=1e-8):
                fail(name, f"{what}: got {got:.6g}, expected {expected:.6g}: {hint}")
        hint = ""
        if np.isclose(got, expected, rtol=1e-3):
            hint = " Close but not equal: compute in float64 (float32 statistics lose digits and can give NaN)."
        fail(name, f"{what}: got {got:.6g}, expected {expected:.6g}.{hint}")

    s = _spd(rng, 5)
    mu = rng.standard_normal(5)
    compare("identical Gaussians N(mu, Sigma) in 5-d (expected 0)", mu, s, mu.copy(), s.copy(), 0.0, atol=1e-6)
    shift = np.array([1.0, -2.0, 0.5])
    compare("N(0, I) against N(mu, I), mu = [1, -2, 0.5] (expected |mu|^2 = 5.25)", np.zeros(3), np.eye(3),
            shift, np.eye(3), 5.25)
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    compare("diagonal covariances diag(1, 4, 9) and diag(4, 1, 0.25), equal means", np.zeros(3), np.diag(a),
            np.zeros(3), np.diag(b), float(((np.sqrt(a) - np.sqrt(b)) ** 2).sum()))
    for dim in (3, 10, 40):
        mu1, mu2 = rng.standard_normal(dim), rng.standard_normal(dim)
        s1, s2 = _spd(rng, dim), _spd(rng, dim)
        compare(f"random Gaussians in {dim}-d (covariances that do not commute)", mu1, s1, mu2, s2,
                frechet_distance(mu1, s1, mu2, s2))
    passed(name, "closed forms (0, |mu|^2, diagonal covariances) and random non-commuting covariances in 3, 10 "
                 "and 40 dimensions match the reference.")


@checker
def check_feature_statistics(fn) -> None:
    r"""Check ``fn(features)`` (N, F) -> ``(mu, sigma)`` against :func:`gancourse.metrics.feature_statistics`.

    :math:`\mu` (F,) the mean over samples, :math:`\Sigma` (F, F) divided by N - 1. Names: the
    biased covariance (divided by N), np.cov over the wrong axis (an (N, N) matrix), the mean over
    features instead of samples. Lecture 09 exercise.
    """
    from gancourse.metrics import feature_statistics

    name = "check_feature_statistics"
    rng = np.random.default_rng(90)
    for n, width in ((50, 4), (7, 3)):
        f = rng.standard_normal((n, width)) * np.arange(1, width + 1) + np.arange(width)
        out = _run(name, fn, f)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            fail(name, f"return the pair (mu, sigma); got {_fmt(out)}.")
        mu, sigma = (np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64) for v in out)
        ref_mu, ref_sigma = feature_statistics(f)
        if mu.shape == (n,):
            fail(name, f"mu has shape {mu.shape}: you averaged over the features of each sample; average over "
                       f"the samples (axis 0), giving ({width},).")
        if sigma.shape == (n, n):
            fail(name, f"sigma has shape {sigma.shape}: np.cov treats each row as a variable by default; "
                       f"pass rowvar=False (or use f.T), giving ({width}, {width}).")
        assert_close(name, f"mu of {n} samples of {width} features", mu, ref_mu, atol=1e-10)
        if sigma.shape == ref_sigma.shape and np.allclose(sigma, ref_sigma * (n - 1) / n, atol=1e-10):
            fail(name, f"sigma of {n} samples is the biased covariance (divided by N = {n}); FID's reference "
                       f"divides by N - 1 = {n - 1} (np.cov's default, ddof=1).")
        assert_close(name, f"sigma of {n} samples of {width} features", sigma, ref_sigma, atol=1e-10)
    passed(name, "means over samples and covariances divided by N - 1 match the reference.")
