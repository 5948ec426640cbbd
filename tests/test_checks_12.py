"""The lecture 12 checkers pass the solutions (over seeds) and fail, naming the mistake, on plausible wrong answers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gancourse import checks
from gancourse.checks import _core
from gancourse.checks.lecture12 import check_pairing_losses, check_r3gan_step, check_zero_centred_penalty


@pytest.fixture(autouse=True)
def _strict_checks():
    with checks.strict():
        yield


# ---- the zero-centred penalty ---------------------------------------------------------------------

def penalty(D, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return g.flatten(1).pow(2).sum(1).mean()


def penalty_rewrite(D, x):
    x = x.detach().clone()
    x.requires_grad = True
    grad = torch.autograd.grad(outputs=D(x), inputs=x, grad_outputs=torch.ones(len(x), dtype=x.dtype), create_graph=True)[0]
    return (grad.reshape(len(x), -1) ** 2).sum(dim=1).mean()


def no_create_graph(D, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x)
    return g.flatten(1).pow(2).sum(1).mean()


def norm_not_squared(D, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return g.flatten(1).norm(dim=1).mean()


def wgan_gp_form(D, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def grad_of_mean(D, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).mean(), x, create_graph=True)
    return g.flatten(1).pow(2).sum(1).mean()


def sum_over_batch(D, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return g.flatten(1).pow(2).sum()


def last_axis_only(D, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return g.pow(2).sum(-1).mean()


def square_of_mean_norm(D, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return g.flatten(1).norm(dim=1).mean() ** 2


def not_detached(D, x):
    if not x.requires_grad:
        x.requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return g.flatten(1).pow(2).sum(1).mean()


@pytest.mark.parametrize("seed", range(5))
def test_penalty_passes_the_solution_and_a_rewrite_over_seeds(seed, monkeypatch, capsys):
    monkeypatch.setattr(_core, "BASE_SEED", seed)
    check_zero_centred_penalty(penalty)
    check_zero_centred_penalty(penalty_rewrite)
    assert capsys.readouterr().out.count("check_zero_centred_penalty passed") == 2


@pytest.mark.parametrize("mistake, message", [
    (no_create_graph, "no gradient with respect to D's weights"),
    (norm_not_squared, "its \\*square\\*"),
    (wgan_gp_form, "WGAN-GP's penalty"),
    (grad_of_mean, "D\\(x\\).mean\\(\\)"),
    (sum_over_batch, "the sum over the batch"),
    (last_axis_only, "not over the last axis only"),
    (square_of_mean_norm, "square each sample's norm first"),
    (not_detached, "must train D only"),
])
def test_penalty_catches(mistake, message):
    with pytest.raises(checks.CheckFailed, match=message):
        check_zero_centred_penalty(mistake)


# ---- the pairing losses ----------------------------------------------------------------------------

def d_pair(s_real, s_fake):
    return F.softplus(s_fake - s_real).mean()


def g_pair(s_fake, s_real):
    return F.softplus(s_real - s_fake).mean()


def d_pair_rewrite(s_real, s_fake):
    return -F.logsigmoid(s_real - s_fake).mean()


def g_pair_rewrite(s_fake, s_real):
    return -F.logsigmoid(s_fake - s_real).mean()


def d_average(s_real, s_fake):
    return F.softplus(-(s_real - s_fake.mean())).mean() + F.softplus(s_fake - s_real.mean()).mean()


def d_swapped(s_real, s_fake):
    return F.softplus(s_real - s_fake).mean()


def d_no_minus(s_real, s_fake):
    return F.logsigmoid(s_real - s_fake).mean()


def d_sum(s_real, s_fake):
    return F.softplus(s_fake - s_real).sum()


def d_flipped_pairs(s_real, s_fake):
    return F.softplus(s_fake.flip(0) - s_real).mean()


def d_classic(s_real, s_fake):
    return (F.softplus(-s_real) + F.softplus(s_fake)).mean()


def d_naive(s_real, s_fake):
    return torch.log(1 + torch.exp(s_fake - s_real)).mean()


def g_same_as_d(s_fake, s_real):
    return F.softplus(s_fake - s_real).mean()


def g_classic(s_fake, s_real):
    return F.softplus(-s_fake).mean()


def g_detached_real(s_fake, s_real):
    return F.softplus(s_real.detach() - s_fake).mean()


@pytest.mark.parametrize("seed", range(5))
def test_pairing_passes_the_solution_and_a_rewrite_over_seeds(seed, monkeypatch, capsys):
    monkeypatch.setattr(_core, "BASE_SEED", seed)
    check_pairing_losses(d_pair, g_pair)
    check_pairing_losses(d_pair_rewrite, g_pair_rewrite)
    assert capsys.readouterr().out.count("check_pairing_losses passed") == 2


@pytest.mark.parametrize("d_fn, g_fn, message", [
    (d_average, g_pair, "relativistic \\*average\\* loss"),
    (d_swapped, g_pair, "sign of the difference is swapped"),
    (d_no_minus, g_pair, "without the minus"),
    (d_sum, g_pair, "a sum over the batch"),
    (d_flipped_pairs, g_pair, "matched in the wrong order"),
    (d_classic, g_pair, "classic GAN loss on each score"),
    (d_naive, g_pair, "softplus never overflows"),
    (d_pair, g_same_as_d, "G's loss equals D's"),
    (d_pair, g_classic, "classic non-saturating loss"),
    (d_pair, g_detached_real, "no gradient flows back to the real scores"),
])
def test_pairing_catches(d_fn, g_fn, message):
    with pytest.raises(checks.CheckFailed, match=message):
        check_pairing_losses(d_fn, g_fn)


# ---- one R3GAN step --------------------------------------------------------------------------------

def step(G, D, opt_g, opt_d, x_real, z, gamma, *, r1=True, r2=True, weight=0.5, zero_d=True, zero_g=True,
         old_d=False, swap_d=False, swap_g=False, g_first=False):
    x_fake = G(z)
    if old_d or g_first:
        loss_g_old = (F.softplus(D(G(z)) - D(x_real)) if swap_g else F.softplus(D(x_real) - D(G(z)))).mean()
    if g_first:
        opt_g.zero_grad()
        loss_g_old.backward()
        opt_g.step()
    s_r, s_f = D(x_real), D(x_fake.detach())
    loss_d = (F.softplus(s_r - s_f) if swap_d else F.softplus(s_f - s_r)).mean()
    if r1:
        loss_d = loss_d + weight * gamma * penalty(D, x_real)
    if r2:
        loss_d = loss_d + weight * gamma * penalty(D, x_fake)
    if zero_d:
        opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    if g_first:
        return
    if old_d:
        loss_g = loss_g_old
    else:
        loss_g = (F.softplus(D(x_fake) - D(x_real)) if swap_g else F.softplus(D(x_real) - D(x_fake))).mean()
    if zero_g:
        opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()


def variant(**kw):
    return lambda *args: step(*args, **kw)


@pytest.mark.parametrize("seed", range(5))
def test_step_passes_the_solution_over_seeds(seed, monkeypatch, capsys):
    monkeypatch.setattr(_core, "BASE_SEED", seed)
    check_r3gan_step(step)
    assert "check_r3gan_step passed" in capsys.readouterr().out


@pytest.mark.parametrize("kw, message", [
    (dict(r2=False), "R2 at the fakes is missing"),
    (dict(r1=False), "R1 at the real batch is missing"),
    (dict(weight=1.0), "weighted by gamma;"),
    (dict(r1=False, r2=False), "No penalty at all"),
    (dict(swap_d=True), "D's loss has the roles swapped"),
    (dict(zero_d=False), "call opt_d.zero_grad\\(\\)"),
    (dict(old_d=True), "then G.s loss through the updated D"),  # torch refuses the stale graph; the core names it
    (dict(swap_g=True), "G's loss has the roles swapped"),
    (dict(zero_g=False), "call opt_g.zero_grad\\(\\)"),
    (dict(g_first=True), "D's optimiser never stepped|G stepped before D"),
])
def test_step_catches(kw, message):
    with pytest.raises(checks.CheckFailed, match=message):
        check_r3gan_step(variant(**kw))


def test_stubs_are_reported_as_not_written(capsys):
    def stub(*args):
        raise NotImplementedError("write me")

    with pytest.raises(NotImplementedError):
        check_zero_centred_penalty(stub)
    with checks.strict(False):
        check_pairing_losses(stub, stub)
    assert "check_pairing_losses FAILED: not written yet" in capsys.readouterr().out
    assert checks.results()["check_pairing_losses"] is False
