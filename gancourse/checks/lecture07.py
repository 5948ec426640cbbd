"""Lecture 07 exercise checkers: the projection discriminator's score."""

from __future__ import annotations

import torch

from gancourse.checks._core import checker, fail, assert_close, passed, _run


_PROJECTION_HINT = ("D(x, y) = psi(phi(x)) + <embed(y), phi(x)>: psi(features) has shape (B, 1), squeeze it to (B,); "
                    "the inner product is (embed(y) * features).sum(dim=1), one number per sample (a sum over dim=0 "
                    "would run over the batch).")


@checker
def check_projection_score(fn) -> None:
    r"""Check ``fn(features, y, psi, embed) -> (B,)`` against :func:`gancourse.conditional.projection_score`.

    :math:`D(x, y) = \psi(\phi(x)) + \langle e(y), \phi(x) \rangle`, one score per sample. Runs
    batches of size different from and equal to the feature size (so that a sum over the batch
    keeps the right shape), and isolates each term by zeroing the other. Lecture 07 exercise.
    """
    from gancourse.conditional import projection_score

    name = "check_projection_score"
    g = torch.Generator().manual_seed(7)
    for B, F_, K in ((5, 8, 3), (6, 6, 4)):
        with torch.random.fork_rng(devices=[]):  # the learner's random stream does not move
            torch.manual_seed(B)
            psi, embed = torch.nn.Linear(F_, 1), torch.nn.Embedding(K, F_)
        features = torch.randn(B, F_, generator=g)
        y = torch.randint(K, (B,), generator=g)
        got = _run(name, fn, features, y, psi, embed, hint=_PROJECTION_HINT)
        expected = projection_score(features, y, psi, embed)
        if not isinstance(got, torch.Tensor):
            fail(name, f"return a tensor of shape ({B},), got {type(got).__name__}.")
        if got.shape != (B,):
            fail(name, f"for {B} samples with {F_} features got shape {tuple(got.shape)}, expected ({B},). "
                       + _PROJECTION_HINT)
        with torch.no_grad():
            inner = (embed(y) * features).sum(dim=1)
            psi_term = psi(features).squeeze(1)
            batch_sum = psi_term + (embed(y) * features).sum(dim=0) if B == F_ else None  # (F,) = (B,) here
        if torch.allclose(got, inner, atol=1e-5):
            fail(name, "the psi(phi(x)) term is missing: without it D can only say how well x fits label y, not "
                       "whether x looks real at all. " + _PROJECTION_HINT)
        if torch.allclose(got, psi_term, atol=1e-5):
            fail(name, "the inner product <embed(y), phi(x)> is missing: the label never reaches D. " + _PROJECTION_HINT)
        if batch_sum is not None and torch.allclose(got, batch_sum, atol=1e-5):
            fail(name, "the inner product was summed over the batch (dim=0), mixing samples; sum over the "
                       "features (dim=1). " + _PROJECTION_HINT)
        assert_close(name, f"scores of {B} samples with {F_} features and {K} classes", got, expected,
                     atol=1e-5, rtol=1e-5, hint=_PROJECTION_HINT)
        if not got.requires_grad:
            fail(name, "the scores carry no gradient: compute them with torch operations from psi, embed and the "
                       "features (no .detach() or .item()).")
    passed(name, "psi(phi(x)) + <embed(y), phi(x)>, one score per sample.")
