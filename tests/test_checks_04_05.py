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



def _coverage(samples, centers, std, n_std=3.0, min_fraction=0.01, *, radius=None, every=False,
              relative_to_good=False, strict=False, fixed_fraction=None, as_float=False, float_counts=False):
    x, c = torch.as_tensor(samples).double(), torch.as_tensor(centers).double()
    d = torch.cdist(x, c)  # (N, M)
    nearest, dist = d.argmin(1), d.min(1).values
    good = torch.ones_like(dist, dtype=torch.bool) if every else dist <= (radius or n_std) * std
    counts = np.bincount(nearest[good].numpy(), minlength=len(c))
    base = int(good.sum()) if relative_to_good else len(x)
    needed = max(1, math.ceil((fixed_fraction or min_fraction) * base - 1e-9))
    covered = (counts > needed) if strict else (counts >= needed)
    modes = float(covered.sum()) if as_float else int(covered.sum())
    return modes, float(good.double().mean()), counts.astype(float) if float_counts else counts


def test_check_mode_coverage_passes_the_reference_and_a_rewrite(capsys):
    checks.check_mode_coverage(mode_coverage)
    checks.check_mode_coverage(_coverage)
    assert capsys.readouterr().out.startswith("check_mode_coverage passed")


@pytest.mark.parametrize("mistake, message", [
    (dict(every=True), "count only the high-quality"),
    (dict(radius=1.0), "within 3 std"),
    (dict(relative_to_good=True), "not only the high-quality ones"),
    (dict(strict=True), ">=, not >"),
    (dict(radius=3.0), "not a fixed 3"),
    (dict(fixed_fraction=0.01), "min_fraction \\(the one you were given\\)"),
    (dict(as_float=True), "return an int"),
    (dict(float_counts=True), "dtype float64"),
])
def test_check_mode_coverage_catches(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_mode_coverage(lambda x, c, s, *args: _coverage(x, c, s, *args, **mistake))


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


def _gp(critic, real, fake, *, create_graph=True, at="interpolates", norm="all", square=True, one_eps=False,
        per_feature=False, half=False, normal=False):
    b = real.shape[0]
    eps_shape = (1,) * real.ndim if one_eps else real.shape if per_feature else (b,) + (1,) * (real.ndim - 1)
    eps = (torch.randn if normal else torch.rand)(eps_shape, dtype=real.dtype)
    if half:
        eps = torch.full(eps_shape, 0.5, dtype=real.dtype)
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
    (dict(one_eps=True), "one eps ~ U\\[0, 1\\]|not one for the whole batch"),
    (dict(per_feature=True), "not one per feature"),
    (dict(half=True), "not a fixed 1/2"),
    (dict(normal=True), "not from a normal distribution"),
])
def test_check_gradient_penalty_catches(mistake, message):
    torch.manual_seed(0)
    from gancourse.checks import _core

    for seed in range(5):  # every seed: a variant that passes now and then is not caught
        _core.BASE_SEED = seed
        try:
            with pytest.raises(CheckFailed, match=message):
                checks.check_gradient_penalty(lambda c, r, f: _gp(c, r, f, **mistake))
        finally:
            _core.BASE_SEED = 0
    with pytest.raises(CheckFailed, match=message):
        checks.check_gradient_penalty(lambda c, r, f: _gp(c, r, f, **mistake))


def test_check_gradient_penalty_stub_and_none():
    with pytest.raises(NotImplementedError):
        checks.check_gradient_penalty(lambda c, r, f: (_ for _ in ()).throw(NotImplementedError()))
    with pytest.raises(CheckFailed, match="returned None"):
        checks.check_gradient_penalty(lambda c, r, f: None)


# --------------------------------------------------------------------------------------------
# The WGAN-GP critic's inner loop (exercise 05, section 3)
# --------------------------------------------------------------------------------------------


def _update(*, n=lambda k: range(k), detach=True, zero_grad="before", gp="interpolates", weight=True, sign=1,
            fresh_real=True, fresh_fake=True, returns="list", z_shape=None):
    def critic_update(critic, G, opt_c, sample_real, batch_size, z_dim, n_critic, gp_weight):
        out = []
        x0 = sample_real(batch_size) if not fresh_real else None
        z0 = torch.randn(batch_size, z_dim) if not fresh_fake else None
        for _ in n(n_critic):
            x_real = x0 if x0 is not None else sample_real(batch_size)
            z = z0 if z0 is not None else torch.randn(*(z_shape(batch_size, z_dim) if z_shape else (batch_size, z_dim)))
            x_fake = G(z).detach() if detach else G(z)
            where = {"interpolates": (x_real, x_fake), "real": (x_real, x_real), "fake": (x_fake, x_fake)}.get(gp)
            penalty = losses.gradient_penalty(critic, *where) if gp else 0
            loss = sign * losses.critic_loss(critic(x_real), critic(x_fake)) + (gp_weight if weight else 1) * penalty
            if zero_grad == "before":
                opt_c.zero_grad()
            loss.backward()
            if zero_grad == "after_backward":
                opt_c.zero_grad()
            opt_c.step()
            out.append(loss.item() if returns != "tensors" else loss.detach())
        return out[-1] if returns == "last" else out

    return critic_update


def _update_no_grad_rewrite(critic, G, opt_c, sample_real, batch_size, z_dim, n_critic, gp_weight):
    """A correct rewrite: fakes under no_grad, noise from G's own device, the penalty added after."""
    history = []
    for step in range(1, n_critic + 1):
        with torch.no_grad():
            fake = G(torch.normal(0.0, 1.0, size=(batch_size, z_dim)))
        real = sample_real(batch_size)
        scores_real, scores_fake = critic(real), critic(fake)
        loss = losses.critic_loss(scores_real, scores_fake)
        loss = loss + gp_weight * losses.gradient_penalty(critic, real, fake)
        opt_c.zero_grad(set_to_none=True)
        loss.backward()
        opt_c.step()
        history.append(float(loss))
    return history


def _update_my_penalty(critic, G, opt_c, sample_real, batch_size, z_dim, n_critic, gp_weight):
    """A correct rewrite: its own penalty (eps drawn as (B, 1), interpolates from the fake side)."""
    out = []
    for _ in range(n_critic):
        real, fake = sample_real(batch_size), G(torch.randn(batch_size, z_dim)).detach()
        eps = torch.rand(batch_size, 1)
        x_hat = (fake + eps * (real - fake)).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        loss = critic(fake).mean() - critic(real).mean() + gp_weight * ((g.norm(dim=1) - 1) ** 2).mean()
        opt_c.zero_grad()
        loss.backward()
        opt_c.step()
        out.append(loss.item())
    return out


@pytest.mark.parametrize("seed", range(5))
def test_critic_update_passes_the_solution_and_rewrites_over_seeds(seed, monkeypatch, capsys):
    from gancourse.checks import _core
    from gancourse.config import seed_everything

    monkeypatch.setattr(_core, "BASE_SEED", seed)
    seed_everything(seed)
    for fn in (_update(), _update_no_grad_rewrite, _update_my_penalty):
        checks.check_critic_update(fn)
    assert capsys.readouterr().out.count("check_critic_update passed") == 3


@pytest.mark.parametrize("mistake, message", [
    (_update(n=lambda k: range(k - 1)), "off-by-one"),
    (_update(n=lambda k: range(k + 1)), "off-by-one"),
    (_update(detach=False), "detach"),
    (_update(zero_grad=None), "zero_grad\\(\\) before each backward"),
    (_update(zero_grad="after_backward"), "wipes the gradient"),
    (_update(gp=None), "penalty is missing"),
    (_update(weight=False), "not weighted"),
    (_update(sign=-1), "critic's term has the wrong sign"),
    (_update(gp="real"), "never scored interpolates"),
    (_update(fresh_real=False), "fresh real batch"),
    (_update(fresh_fake=False), "same noise"),
    (_update(returns="last"), "return a list"),
    (_update(returns="tensors"), "holds tensors"),
    (_update(z_shape=lambda b, z: (b, z + 1)), "raised"),
])
def test_critic_update_catches(mistake, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_critic_update(mistake)


# --------------------------------------------------------------------------------------------
# More plausible mistakes for the Wasserstein losses (each run as its check cell runs it)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mistake, message", [
    (lambda r, f: f.detach().mean() - r.mean(), "no gradient flows back to the fake"),
    (lambda r, f: f.mean() - r.detach().mean(), "no gradient flows back to the real"),
    (lambda r, f: (f - r).abs().mean(), "got"),
    (lambda r, f: torch.log(torch.sigmoid(f)).mean() - torch.log(torch.sigmoid(r)).mean(), "got"),
])
def test_critic_loss_more_mistakes(mistake, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_critic_loss(mistake)


@pytest.mark.parametrize("mistake, message", [
    (lambda f: -f.sum(), "sum over the batch"),
    (lambda f: -f.abs().mean(), "no abs"),
    (lambda f: -torch.sigmoid(f).mean(), "got"),
    (lambda f: torch.tensor(-f.mean().item()), "no gradient"),
    (lambda f: -f.mean().item(), "torch scalar"),
    (lambda f: (1 - f).mean(), "wrong sign|got"),
])
def test_generator_wasserstein_loss_more_mistakes(mistake, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_generator_wasserstein_loss(mistake)
