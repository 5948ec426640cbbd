"""Lecture 05 exercise checkers: the Wasserstein critic and generator losses, the gradient penalty."""

from __future__ import annotations

import numpy as np
import torch

from gancourse.checks._core import checker, fail, assert_close, passed, _run, _scalar, _logit_batches


@checker
def check_critic_loss(fn) -> None:
    r"""Check ``fn(real_scores, fake_scores)`` against :func:`gancourse.losses.critic_loss`,
    :math:`L_C = \mathbb{E}[f(\tilde x)] - \mathbb{E}[f(x)]` (raw scores, no sigmoid, no log). Lecture 05 exercise."""
    from gancourse.losses import critic_loss

    name = "check_critic_loss"
    for seed in (5, 6):
        real, fake = _logit_batches(seed, n=64 if seed == 5 else 7)
        got = _scalar(name, _run(name, fn, real, fake), "the critic's loss")
        expected = critic_loss(real, fake)
        if torch.allclose(got, -expected, atol=1e-5):
            fail(name, "wrong sign: the critic maximises E[f(x)] - E[f(G(z))], its estimate of W1, so the loss "
                       "it minimises is E[f(G(z))] - E[f(x)].")
        if torch.allclose(got, expected * real.shape[0], atol=1e-4):
            fail(name, "got the sum over the batch; take the means (.mean()).")
        assert_close(name, f"loss on {real.shape[0]} random scores (seed {seed})", got, expected, atol=1e-5, rtol=1e-5,
                     hint="A critic's scores are raw: no sigmoid, no log; the loss is a difference of means.")
        if not got.requires_grad:
            fail(name, "the loss carries no gradient: build it from the scores with torch operations.")
    passed(name, "E[f(G(z))] - E[f(x)], the negative of the critic's W1 estimate.")


@checker
def check_generator_wasserstein_loss(fn) -> None:
    r"""Check ``fn(fake_scores)`` against :func:`gancourse.losses.generator_wasserstein_loss`,
    :math:`L_G = -\mathbb{E}[f(G(z))]`. Lecture 05 exercise."""
    from gancourse.losses import generator_wasserstein_loss

    name = "check_generator_wasserstein_loss"
    for seed in (7, 8):
        _, fake = _logit_batches(seed, n=64 if seed == 7 else 5)
        got = _scalar(name, _run(name, fn, fake), "the generator's loss")
        expected = generator_wasserstein_loss(fake)
        if torch.allclose(got, -expected, atol=1e-5):
            fail(name, "wrong sign: the generator wants the critic to score its samples *high*, so it minimises "
                       "-E[f(G(z))].")
        assert_close(name, f"loss on {fake.shape[0]} random scores (seed {seed})", got, expected, atol=1e-5, rtol=1e-5)
    passed(name, "-E[f(G(z))].")


class _LinearCritic(torch.nn.Module):
    """f(x) = a . flatten(x) + b in float64, with |a| = slope: its gradient is a everywhere."""

    def __init__(self, shape, slope: float, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        a = torch.randn(int(np.prod(shape)), generator=g, dtype=torch.float64)
        self.a = torch.nn.Parameter(a / a.norm() * slope)
        self.b = torch.nn.Parameter(torch.tensor(0.3, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(start_dim=1) @ self.a + self.b  # (B,)


@checker
def check_gradient_penalty(fn) -> None:
    r"""Check ``fn(critic, real, fake)``, the WGAN-GP penalty :math:`\mathbb{E}[(\lVert\nabla f(\hat x)\rVert_2 - 1)^2]`.

    The learner draws the interpolates, so the check uses critics whose answer does not depend on
    the draw, or only on average: linear critics (gradient :math:`a` everywhere, penalty
    :math:`(|a| - 1)^2` exactly, on 1D points and on images) and the quadratic critic
    :math:`f(x) = |x|^2/2` between :math:`x = 3u` and :math:`\tilde x = -3u` (penalty 4 at the
    real or the fake points, :math:`E[(3|2\epsilon - 1| - 1)^2] = 1` at the interpolates).
    Catches: no ``create_graph=True`` (no gradient reaches the critic), the penalty at real or fake
    points, the norm over the wrong axis, :math:`(\lVert g\rVert - 1)` not squared, and one
    :math:`\epsilon` for the whole batch. Lecture 05 exercise.
    """
    name = "check_gradient_penalty"
    g = torch.Generator().manual_seed(9)
    for shape, slope in (((1,), 1.5), ((1,), 0.2), ((2,), 3.0), ((1, 4, 4), 1.5), ((3, 4, 4), 0.5)):
        critic = _LinearCritic(shape, slope, seed=len(shape) + int(10 * slope))
        real = torch.randn(32, *shape, generator=g, dtype=torch.float64)
        fake = torch.randn(32, *shape, generator=g, dtype=torch.float64) + 2
        what = f"a linear critic of slope {slope} on points of shape (32, {', '.join(map(str, shape))})"
        got = _scalar(name, _run(name, fn, critic, real, fake), "the penalty")
        expected = (slope - 1) ** 2
        if abs(got.item() - abs(slope - 1)) < 1e-6 and abs(expected - abs(slope - 1)) > 1e-6:
            fail(name, f"{what}: got |slope - 1| = {abs(slope - 1):.4g}: square (norm - 1) before averaging.")
        if len(shape) == 3 and abs(got.item() - expected) > 1e-6:
            fail(name, f"{what}: got {got.item():.6g}, expected (slope - 1)^2 = {expected:.6g}. For images the norm "
                       "is over every feature of one sample (channels and pixels): grad.flatten(start_dim=1).norm(2, dim=1), "
                       "not over the last dimension only, nor over the batch.")
        assert_close(name, what, got, torch.tensor(expected, dtype=torch.float64), atol=1e-8,
                     hint="The penalty is the mean over the batch of (||grad f(x_hat)||_2 - 1)^2, one norm per sample "
                          "(over all features), not over the batch.")
        if not got.requires_grad:
            fail(name, f"{what}: the penalty has no gradient with respect to the critic's weights, so adding it to "
                       "the loss changes nothing. Take the gradient with torch.autograd.grad(..., create_graph=True).")
        (grad_a,) = torch.autograd.grad(got, critic.a)
        assert_close(name, f"{what}: gradient of the penalty with respect to the critic's weights", grad_a,
                     2 * (slope - 1) * critic.a.detach() / slope, atol=1e-8)
    # the quadratic critic: where the penalty is taken
    u = torch.randn(2048, 2, generator=g, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    real, fake = 3 * u, -3 * u
    for _ in range(3):
        got = _scalar(name, _run(name, fn, lambda x: 0.5 * (x**2).sum(dim=1), real, fake), "the penalty").item()
        if abs(got - 4.0) < 1e-6:
            fail(name, "with f(x) = |x|^2 / 2 between x = 3u and x~ = -3u, the penalty came out as 4, its value at the "
                       "real (or the fake) points. Take it at interpolates eps * real + (1 - eps) * fake, one eps ~ U[0, 1] "
                       "per sample.")
        if abs(got - 1.0) > 0.15:
            fail(name, f"with f(x) = |x|^2 / 2 between x = 3u and x~ = -3u, the penalty should average to 1 over "
                       f"interpolates with eps ~ U[0, 1], one per sample; got {got:.4g}. Draw eps of shape (B, 1, ...) "
                       "with torch.rand, not one number for the whole batch, and not from a normal distribution.")
    passed(name, "(||grad f(x_hat)||_2 - 1)^2 at per-sample interpolates, norm over all features, differentiable "
                 "with respect to the critic.")
