"""The lecture 06-07 checkers pass the reference and fail on the mistakes learners make."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gancourse import checks
from gancourse.checks import CheckFailed, check_power_iteration, check_projection_score
from gancourse.conditional import projection_score
from gancourse.spectral import power_iteration

# ---- power iteration --------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _strict_checks():
    """A failing check raises here, so that each mistake can be asserted with pytest.raises."""
    with checks.strict():
        yield



def frobenius(W, u, n_iter):
    _, u, v = power_iteration(W, u, n_iter)
    return torch.linalg.matrix_norm(W, ord="fro"), u, v


def no_normalisation(W, u, n_iter):
    v = W.T @ u
    for _ in range(n_iter):
        v = W.T @ u
        u = W @ v
    v = W.T @ u
    return u @ W @ v, u, v


def normalised_only_at_the_end(W, u, n_iter):
    for _ in range(n_iter):
        v = W.T @ u
        u = W @ v
    u = F.normalize(u, dim=0)
    v = F.normalize(W.T @ u, dim=0)
    return u @ W @ v, u, v


def w_instead_of_w_transpose(W, u, n_iter):
    for _ in range(n_iter):
        v = F.normalize(W @ u, dim=0)
        u = F.normalize(W @ v, dim=0)
    v = F.normalize(W @ u, dim=0)
    return u @ W @ v, u, v


def w_instead_of_w_transpose_square_only(W, u, n_iter):
    if W.shape[0] != W.shape[1]:
        return power_iteration(W, u, n_iter)  # a learner whose mistake only shows on square matrices
    return w_instead_of_w_transpose(W, u, n_iter)


def no_final_v(W, u, n_iter):  # Miyato's loop without the last half-step: sigma from a stale v
    v = F.normalize(W.T @ u, dim=0)
    for _ in range(n_iter):
        v = F.normalize(W.T @ u, dim=0)
        u = F.normalize(W @ v, dim=0)
    return u @ W @ v, u, v


def stub(W, u, n_iter):
    raise NotImplementedError("write this part yourself")


def test_power_iteration_reference_passes(capsys):
    check_power_iteration(power_iteration)
    assert capsys.readouterr().out.startswith("check_power_iteration passed")


@pytest.mark.parametrize("mistake, message", [
    (frobenius, "Frobenius"),
    (no_normalisation, "normalise u and v"),
    (normalised_only_at_the_end, "float range"),
    (w_instead_of_w_transpose, "raised RuntimeError"),
    (w_instead_of_w_transpose_square_only, r"\(9, 9\) W"),
    (no_final_v, "after the loop v = normalize"),
])
def test_power_iteration_mistakes_fail(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        check_power_iteration(mistake)


def test_power_iteration_stub_propagates():
    with pytest.raises(NotImplementedError):
        check_power_iteration(stub)


# ---- projection discriminator -----------------------------------------------------------------


def missing_psi(features, y, psi, embed):
    return (embed(y) * features).sum(dim=1)


def missing_inner_product(features, y, psi, embed):
    return psi(features).squeeze(1)


def summed_over_batch(features, y, psi, embed):
    return psi(features).squeeze(1) + (embed(y) * features).sum(dim=0)


def matrix_product(features, y, psi, embed):
    return psi(features).squeeze(1) + embed(y) @ features.T  # (B, B): every label against every sample


def psi_not_squeezed(features, y, psi, embed):
    return psi(features) + (embed(y) * features).sum(dim=1)  # (B, 1) + (B,) broadcasts to (B, B)


def detached(features, y, psi, embed):
    return projection_score(features, y, psi, embed).detach()


def projection_stub(features, y, psi, embed):
    raise NotImplementedError


def test_projection_reference_passes(capsys):
    check_projection_score(projection_score)
    assert "check_projection_score passed" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, message", [
    (missing_psi, r"psi\(phi\(x\)\) term is missing"),
    (missing_inner_product, "inner product <embed"),
    (summed_over_batch, "over the batch"),
    (matrix_product, r"shape \(5, 5\), expected \(5,\)"),
    (psi_not_squeezed, r"shape \(5, 5\)"),
    (detached, "no gradient"),
])
def test_projection_mistakes_fail(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        check_projection_score(mistake)


def test_projection_stub_propagates():
    with pytest.raises(NotImplementedError):
        check_projection_score(projection_stub)


def test_checkers_leave_the_global_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_projection_score(projection_score)
    check_power_iteration(power_iteration)
    assert torch.equal(torch.rand(3), expected)
