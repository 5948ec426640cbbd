"""The lecture 04-05 checkers pass the references, fail each typical mistake, and let stubs through."""

import math

import numpy as np
import pytest
import torch

from gancourse import checks, losses
from gancourse.checks import CheckFailed
from gancourse.metrics import mode_coverage

# --------------------------------------------------------------------------------------------
# mode_coverage and its mistakes
# --------------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _strict_checks():
    """A failing check raises here, so that each mistake can be asserted with pytest.raises."""
    with checks.strict():
        yield



def _coverage(samples, centers, std, *, radius=3.0, every=False, relative_to_good=False, strict=False):
    x, c = torch.as_tensor(samples).double(), torch.as_tensor(centers).double()
    d = torch.cdist(x, c)  # (N, M)
    nearest, dist = d.argmin(1), d.min(1).values
    good = torch.ones_like(dist, dtype=torch.bool) if every else dist <= radius * std
    counts = np.bincount(nearest[good].numpy(), minlength=len(c))
    base = int(good.sum()) if relative_to_good else len(x)
    needed = max(1, math.ceil(0.01 * base - 1e-9))
    covered = (counts > needed) if strict else (counts >= needed)
    return int(covered.sum()), float(good.double().mean()), counts


def test_check_mode_coverage_passes_the_reference_and_a_rewrite(capsys):
    checks.check_mode_coverage(mode_coverage)
    checks.check_mode_coverage(_coverage)
    assert capsys.readouterr().out.startswith("check_mode_coverage passed")


@pytest.mark.parametrize("mistake, message", [
    (dict(every=True), "count only the high-quality"),
    (dict(radius=1.0), "within 3 std"),
    (dict(relative_to_good=True), "not only the high-quality ones"),
    (dict(strict=True), ">=, not >"),
])
def test_check_mode_coverage_catches(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_mode_coverage(lambda x, c, s: _coverage(x, c, s, **mistake))


def test_check_mode_coverage_other_failures():
    with pytest.raises(CheckFailed, match="returned None"):
        checks.check_mode_coverage(lambda x, c, s: None)
    with pytest.raises(CheckFailed, match="return three things"):
        checks.check_mode_coverage(lambda x, c, s: 3)
    with pytest.raises(NotImplementedError):
        checks.check_mode_coverage(lambda x, c, s: (_ for _ in ()).throw(NotImplementedError("stub")))


# --------------------------------------------------------------------------------------------
# The Wasserstein losses
# --------------------------------------------------------------------------------------------


def test_check_wasserstein_losses(capsys):
    checks.check_critic_loss(losses.critic_loss)
    checks.check_generator_wasserstein_loss(losses.generator_wasserstein_loss)
    out = capsys.readouterr().out
    assert "check_critic_loss passed" in out and "check_generator_wasserstein_loss passed" in out
    with pytest.raises(CheckFailed, match="wrong sign"):
        checks.check_critic_loss(lambda r, f: r.mean() - f.mean())
    with pytest.raises(CheckFailed, match="sum over the batch"):
        checks.check_critic_loss(lambda r, f: f.sum() - r.sum())
    with pytest.raises(CheckFailed, match="no sigmoid"):
        checks.check_critic_loss(lambda r, f: torch.sigmoid(f).mean() - torch.sigmoid(r).mean())
    with pytest.raises(CheckFailed, match="no gradient"):
        checks.check_critic_loss(lambda r, f: torch.tensor((f.mean() - r.mean()).item()))
    with pytest.raises(CheckFailed, match="wrong sign"):
        checks.check_generator_wasserstein_loss(lambda f: f.mean())
    with pytest.raises(NotImplementedError):
        checks.check_critic_loss(lambda r, f: (_ for _ in ()).throw(NotImplementedError()))


# --------------------------------------------------------------------------------------------
# The gradient penalty and its mistakes
# --------------------------------------------------------------------------------------------


def _gp(critic, real, fake, *, create_graph=True, at="interpolates", norm="all", square=True, one_eps=False):
    b = real.shape[0]
    eps_shape = (1,) * real.ndim if one_eps else (b,) + (1,) * (real.ndim - 1)
    eps = torch.rand(eps_shape, dtype=real.dtype)
    x = {"interpolates": eps * real + (1 - eps) * fake, "real": real, "fake": fake}[at]
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=create_graph)
    if norm == "all":
        n = grad.flatten(start_dim=1).norm(2, dim=1)
    elif norm == "last":
        n = grad.norm(2, dim=-1)
    else:  # over the batch
        n = grad.norm(2, dim=0)
    return ((n - 1) ** 2).mean() if square else (n - 1).abs().mean()


def test_check_gradient_penalty_passes_the_reference_and_a_rewrite(capsys):
    checks.check_gradient_penalty(losses.gradient_penalty)
    checks.check_gradient_penalty(_gp)
    assert capsys.readouterr().out.count("check_gradient_penalty passed") == 2


@pytest.mark.parametrize("mistake, message", [
    (dict(create_graph=False), "create_graph=True"),
    (dict(at="real"), "at the\\s+real"),
    (dict(at="fake"), "at the\\s+real \\(or the fake\\)"),
    (dict(norm="last"), "not over the last dimension only"),
    (dict(norm="batch"), "one norm per sample|not over the last dimension only"),
    (dict(square=False), "square \\(norm - 1\\)"),
    (dict(one_eps=True), "one eps ~ U\\[0, 1\\]|not one number for the whole batch"),
])
def test_check_gradient_penalty_catches(mistake, message):
    torch.manual_seed(0)
    with pytest.raises(CheckFailed, match=message):
        checks.check_gradient_penalty(lambda c, r, f: _gp(c, r, f, **mistake))


def test_check_gradient_penalty_stub_and_none():
    with pytest.raises(NotImplementedError):
        checks.check_gradient_penalty(lambda c, r, f: (_ for _ in ()).throw(NotImplementedError()))
    with pytest.raises(CheckFailed, match="returned None"):
        checks.check_gradient_penalty(lambda c, r, f: None)
