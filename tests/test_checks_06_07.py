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
    (no_final_v, "after the loop v once more"),
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


# --------------------------------------------------------------------------------------------
# The spectrally normalised layer that keeps its state (exercise 06, section 2)
# --------------------------------------------------------------------------------------------


def _sn_class(*, steps=1, update=True, in_place=True, eval_steps=False, detach_sigma=False, grad_vectors=False,
              bias_too=False, frobenius=False, buffer=True, fresh_u=False):
    class SNLinear(torch.nn.Module):
        def __init__(self, in_features, out_features):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.randn(out_features, in_features) / in_features ** 0.5)
            self.bias = torch.nn.Parameter(torch.zeros(out_features))
            u = F.normalize(torch.randn(out_features), dim=0)
            if buffer:
                self.register_buffer("u", u)
            else:
                self.u = u

        def forward(self, x):
            W = self.weight
            n = steps if (self.training or eval_steps) else 0
            u = F.normalize(torch.randn_like(self.u), dim=0) if fresh_u else self.u
            if grad_vectors:
                sigma, u, v = power_iteration(W, u, 0)
                for _ in range(n):
                    v = F.normalize(W.T @ u, dim=0)
                    u = F.normalize(W @ v, dim=0)
                v = F.normalize(W.T @ u, dim=0)
                sigma = u @ W @ v
            else:
                sigma, u, _ = power_iteration(W, u, n)
            if frobenius:
                sigma = W.norm()
            if detach_sigma:
                sigma = sigma.detach()
            if update and (self.training or eval_steps):
                if in_place:
                    with torch.no_grad():
                        self.u.copy_(u)
                else:
                    self.u = u.detach().clone()
            return F.linear(x, W / sigma, self.bias / sigma if bias_too else self.bias)

    return SNLinear


class _SNRewrite(torch.nn.Module):
    """A correct rewrite: the vectors by hand, sigma as the norm of W v (equal to u^T W v at the new u)."""

    def __init__(self, fan_in, fan_out):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(fan_out, fan_in))
        torch.nn.init.kaiming_uniform_(self.weight)
        self.bias = torch.nn.Parameter(torch.zeros(fan_out))
        self.register_buffer("u", F.normalize(torch.randn(fan_out), dim=0))

    def forward(self, x):
        with torch.no_grad():
            u = self.u
            if self.training:
                v = F.normalize(torch.mv(self.weight.t(), u), dim=0)
                u = F.normalize(torch.mv(self.weight, v), dim=0)
                self.u[:] = u
            v = F.normalize(torch.mv(self.weight.t(), u), dim=0)
        sigma = torch.dot(u, torch.mv(self.weight, v))
        return x @ (self.weight / sigma).t() + self.bias


class _SNPackage(torch.nn.Module):
    """A correct rewrite on the package's parametrization (spectral.SpectralNorm's one step per forward)."""

    def __init__(self, fan_in, fan_out):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(fan_out, fan_in))
        self.bias = torch.nn.Parameter(torch.zeros(fan_out))
        self.register_buffer("u", F.normalize(torch.randn(fan_out), dim=0))

    def forward(self, x):
        sigma, u, _ = power_iteration(self.weight, self.u, 1 if self.training else 0)
        if self.training:
            with torch.no_grad():
                self.u.copy_(u)
        return F.linear(x, self.weight / sigma, self.bias)


@pytest.mark.parametrize("seed", range(5))
def test_sn_linear_passes_the_solution_and_rewrites_over_seeds(seed, monkeypatch, capsys):
    from gancourse.checks import _core
    from gancourse.config import seed_everything

    monkeypatch.setattr(_core, "BASE_SEED", seed)
    seed_everything(seed)
    for cls in (_sn_class(), _SNRewrite, _SNPackage):
        checks.check_sn_linear(cls)
    assert capsys.readouterr().out.count("check_sn_linear passed") == 3


@pytest.mark.parametrize("mistake, message", [
    (_sn_class(update=False), "u did not change"),
    (_sn_class(steps=2), "two power steps"),
    (_sn_class(in_place=False), "in place"),
    (_sn_class(eval_steps=True), "evaluation mode"),
    (_sn_class(detach_sigma=True), "detached"),
    (_sn_class(grad_vectors=True), "constants for the gradient"),
    (_sn_class(bias_too=True), "bias was divided"),
    (_sn_class(frobenius=True), "Frobenius"),
    (_sn_class(buffer=False), "must be a buffer"),
    (_sn_class(fresh_u=True), "stored u"),
])
def test_sn_linear_catches(mistake, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_sn_linear(mistake)


# --------------------------------------------------------------------------------------------
# The conditional training step (exercise 07, section 2)
# --------------------------------------------------------------------------------------------

from gancourse.checks import check_conditional_train_step  # noqa: E402
from gancourse.losses import d_loss, g_loss_nonsaturating, g_loss_saturating  # noqa: E402


def _cstep(*, g_label="fake", d_fake_label="fake", d_real_label="real", detach=True, zero_grad=True, swap=False,
           g_loss=g_loss_nonsaturating, reuse_fake=False, as_tensor=False, d_first=True):
    def step(G, D, opt_g, opt_d, x_real, y_real, z, y_fake):
        lab = {"fake": y_fake, "real": y_real}
        first, second = (opt_g, opt_d) if swap else (opt_d, opt_g)
        x_fake = G(z, lab[g_label])
        early_g = None if d_first else g_loss(D(G(z, lab[g_label]), lab[d_fake_label]))  # scored by the old D
        loss_d = d_loss(D(x_real, lab[d_real_label]), D(x_fake.detach() if detach else x_fake, lab[d_fake_label]))
        if zero_grad:
            first.zero_grad()
        loss_d.backward()
        first.step()
        loss_g = g_loss(D(x_fake if reuse_fake else G(z, lab[g_label]), lab[d_fake_label])) if d_first else early_g
        if zero_grad:
            second.zero_grad()
        loss_g.backward()
        second.step()
        return (loss_d.detach(), loss_g.detach()) if as_tensor else (loss_d.item(), loss_g.item())

    return step


def _cstep_rewrite(G, D, opt_g, opt_d, x_real, y_real, z, y_fake):
    """A correct rewrite: BCE with logits, fakes under no_grad for D, set_to_none zero_grad."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    with torch.no_grad():
        fake = G(z, y_fake)
    real_logits, fake_logits = D(x_real, y_real), D(fake, y_fake)
    loss_d = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    logits = D(G(z, y_fake), y_fake)
    loss_g = bce(logits, torch.ones_like(logits))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return float(loss_d), float(loss_g)


def _cstep_rewrite_2(G, D, opt_g, opt_d, x_real, y_real, z, y_fake):
    """A correct rewrite: one joint batch through D for the D step (concatenated real and fake)."""
    x_fake = G(z, y_fake)
    logits = D(torch.cat([x_real, x_fake.detach()]), torch.cat([y_real, y_fake]))
    n = len(x_real)
    loss_d = -F.logsigmoid(logits[:n]).mean() - F.logsigmoid(-logits[n:]).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = -F.logsigmoid(D(G(z, y_fake), y_fake)).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


@pytest.mark.parametrize("seed", range(5))
def test_conditional_step_passes_the_solution_and_rewrites_over_seeds(seed, monkeypatch, capsys):
    from gancourse.checks import _core
    from gancourse.config import seed_everything

    monkeypatch.setattr(_core, "BASE_SEED", seed)
    seed_everything(seed)
    for fn in (_cstep(), _cstep(reuse_fake=True), _cstep_rewrite, _cstep_rewrite_2):
        check_conditional_train_step(fn)
    assert capsys.readouterr().out.count("check_conditional_train_step passed") == 4


@pytest.mark.parametrize("mistake, message", [
    (_cstep(g_label="real"), "real batch's labels"),
    (_cstep(d_fake_label="real"), "scored the fakes under y_real"),
    (_cstep(d_real_label="fake"), "real images under the wrong labels"),
    (_cstep(detach=False), "detach"),
    (_cstep(zero_grad=False), "zero_grad"),
    (_cstep(swap=True), "swapped"),
    (_cstep(g_loss=g_loss_saturating), "G's weights differ"),
    (_cstep(g_loss=lambda s: -g_loss_nonsaturating(s)), "G's weights differ"),
    (_cstep(d_first=False), "D's whole update first"),
    (_cstep(as_tensor=True), "is a tensor"),
])
def test_conditional_step_catches(mistake, message):
    with pytest.raises(AssertionError, match=message):
        check_conditional_train_step(mistake)


def test_projection_detached_features_in_one_term_fail():
    from gancourse import checks

    with checks.strict(), pytest.raises(CheckFailed, match="gradient of the scores with respect to the features"):
        check_projection_score(lambda f, y, psi, e: psi(f).squeeze(1) + (e(y) * f.detach()).sum(1))
    with checks.strict(), pytest.raises(CheckFailed, match="gradient of the scores with respect to the features"):
        check_projection_score(lambda f, y, psi, e: psi(f.detach()).squeeze(1) + (e(y) * f).sum(1))
