"""Lecture 06 exercise checkers: power iteration for the largest singular value."""

from __future__ import annotations

import torch

from gancourse.checks._core import checker, fail, assert_close, passed, _run


_POWER_HINT = ("Each step: v = normalize(W^T u), then u = normalize(W v); after the loop v = normalize(W^T u) "
               "once more, and sigma = u^T W v.")


def _triple(check: str, got, m: int, n: int):
    if got is None:
        fail(check, "your function returned None; return (sigma, u, v).")
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        fail(check, f"return three things, (sigma, u, v); got {type(got).__name__}"
                    + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "") + ".")
    sigma, u, v = (torch.as_tensor(t) for t in got)
    if sigma.numel() != 1:
        fail(check, f"sigma must be one number, got shape {tuple(sigma.shape)}.")
    for what, vec, size in (("u", u, m), ("v", v, n)):
        if vec.shape != (size,):
            fail(check, f"{what} has shape {tuple(vec.shape)}, expected ({size},) for W of shape ({m}, {n}). "
                        + _POWER_HINT)
    return sigma.reshape(()), u, v


@checker
def check_power_iteration(fn) -> None:
    r"""Check ``fn(W, u, n_iter) -> (sigma, u, v)`` against :func:`gancourse.spectral.power_iteration`.

    Compares step for step on random non-square and square matrices, checks the converged sigma
    against an SVD, and runs matrices scaled by :math:`10^{\pm 12}` in float32, where vectors that
    are not normalised at every step overflow or vanish. Catches the Frobenius norm, a missing
    normalisation, and :math:`W` in place of :math:`W^\top`. Lecture 06 exercise.
    """
    from gancourse.spectral import power_iteration

    name = "check_power_iteration"
    g = torch.Generator().manual_seed(6)
    for m, n in ((7, 12), (12, 7), (9, 9)):
        W = torch.randn(m, n, generator=g, dtype=torch.float64)
        u0 = torch.nn.functional.normalize(torch.randn(m, generator=g, dtype=torch.float64), dim=0)
        for n_iter in (1, 3):
            sigma, u, v = _triple(name, _run(name, fn, W.clone(), u0.clone(), n_iter, hint=_POWER_HINT), m, n)
            ref_sigma, ref_u, ref_v = power_iteration(W, u0, n_iter)
            if abs(float(sigma) - float(torch.linalg.matrix_norm(W, ord="fro"))) < 1e-6:
                fail(name, "sigma is the Frobenius norm sqrt(sum W_ij^2), the root of the sum of *all* squared "
                           "singular values; the spectral norm is the largest one alone. " + _POWER_HINT)
            for what, a, b in (("u", u, ref_u), ("v", v, ref_v)):
                if abs(float(a.norm()) - 1) > 1e-6:
                    fail(name, f"{what} has norm {float(a.norm()):.4g} after {n_iter} step(s) on a ({m}, {n}) W; "
                               "normalise u and v to unit length at every step. " + _POWER_HINT)
            where = f"({m}, {n}) W after {n_iter} step(s)"
            assert_close(name, f"u for a {where}", u, ref_u, atol=1e-8, rtol=1e-6, hint=_POWER_HINT)
            assert_close(name, f"v for a {where}", v, ref_v, atol=1e-8, rtol=1e-6, hint=_POWER_HINT)
            assert_close(name, f"sigma for a {where}", sigma, ref_sigma, atol=1e-8, rtol=1e-6, hint=_POWER_HINT)
        sigma, _, _ = _triple(name, _run(name, fn, W.clone(), u0.clone(), 300, hint=_POWER_HINT), m, n)
        if not torch.isfinite(sigma):
            fail(name, f"after 300 steps on a ({m}, {n}) W got sigma = {float(sigma)}: vectors that are not "
                       "normalised at every step grow (or shrink) by sigma^2 per step and leave float range.")
        assert_close(name, f"sigma after 300 steps on a ({m}, {n}) W, against the SVD", sigma,
                     torch.linalg.matrix_norm(W, ord=2), atol=1e-6, rtol=1e-6, hint=_POWER_HINT)
    for scale in (1e12, 1e-12):
        W = torch.randn(10, 6, generator=g) * scale  # float32
        u0 = torch.nn.functional.normalize(torch.randn(10, generator=g), dim=0)
        sigma, u, v = _triple(name, _run(name, fn, W.clone(), u0.clone(), 10, hint=_POWER_HINT), 10, 6)
        ref_sigma, _, _ = power_iteration(W, u0, 10)
        if not torch.isfinite(sigma) or not (torch.isfinite(u).all() and torch.isfinite(v).all()) or float(sigma) == 0:
            fail(name, f"on a float32 W with entries of size {scale:g}, got sigma = {float(sigma):.4g}: vectors that "
                       "are normalised only at the end grow (or shrink) by sigma^2 per step and leave float range. "
                       "Normalise u and v at every step.")
        assert_close(name, f"sigma on a float32 W with entries of size {scale:g}", sigma, ref_sigma,
                     atol=0.0, rtol=1e-4, hint=_POWER_HINT)
    passed(name, "step for step equal to the reference, and within 1e-6 of the SVD after 300 steps.")
