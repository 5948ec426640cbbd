"""The diffusion model of lecture 12 against closed forms: the forward process, the loss of a perfect
denoiser, the samplers and the likelihood bound on a Gaussian whose score is known."""

import math

import pytest
import torch

from gancourse.data import Ring2D
from gancourse.diffusion import (Denoiser, NoiseSchedule, ddim_sample, ddim_timesteps, ddpm_sample, diffusion_elbo,
                                 diffusion_loss, distill, distillation_loss, mixture_eps, q_sample, teacher_pairs,
                                 train_denoiser)
from gancourse.toy import Discriminator, Generator

M, S = torch.tensor([1.0, -0.5]), 0.3  # data N(M, S^2 I)


def _gaussian_chain(schedule):
    """Mean and variance of x_0 under the ancestral sampler with the exact Gaussian predictor, by recursion:
    each reverse step is linear, x_{t-1} = a_t x_t + b_t + sigma_t z."""
    mean, var = torch.zeros(2, dtype=torch.float64), 1.0
    for i in reversed(range(schedule.T)):
        a, ab, b = (float(v[i]) for v in (schedule.alphas, schedule.alpha_bar, schedule.betas))
        c = math.sqrt(1 - ab) / (ab * S**2 + 1 - ab)  # eps*(x) = c (x - sqrt(ab) M)
        gain = (1 - b / math.sqrt(1 - ab) * c) / math.sqrt(a)
        mean = gain * mean + b * c * math.sqrt(ab) / (math.sqrt(1 - ab) * math.sqrt(a)) * M.double()
        var = gain**2 * var + ((1 - float(schedule.alpha_bar[i - 1])) / (1 - ab) * b if i > 0 else 0.0)
    return mean, var


def test_schedules():
    lin = NoiseSchedule.linear(1000)
    assert lin.T == 1000 and lin.betas[0].item() == pytest.approx(1e-4) and lin.betas[-1].item() == pytest.approx(0.02)
    assert lin.alpha_bar[-1].item() == pytest.approx(math.prod(1 - b for b in lin.betas.tolist()), rel=1e-10)
    cos = NoiseSchedule.cosine(100)
    ts = torch.arange(1, 101, dtype=torch.float64) / 100
    closed = torch.cos((ts + 0.008) / 1.008 * math.pi / 2) ** 2 / math.cos(0.008 / 1.008 * math.pi / 2) ** 2
    torch.testing.assert_close(cos.alpha_bar[:-1], closed[:-1], rtol=1e-10, atol=0)  # the last beta is clipped
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        NoiseSchedule(torch.tensor([0.1, 1.0]))


def test_forward_closed_form_matches_the_chain_of_small_steps():
    """q(x_t | x_0) in one jump against t steps of q(x_s | x_{s-1}), in distribution."""
    sch = NoiseSchedule.cosine(50)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((40000, 2), 1.5, dtype=torch.float64)
    for t in (0, 10, 49):
        x = x0.clone()
        for s in range(t + 1):
            x = math.sqrt(float(sch.alphas[s])) * x + math.sqrt(float(sch.betas[s])) * torch.randn(x.shape, generator=g, dtype=torch.float64)
        jump = q_sample(sch, x0, torch.full((40000,), t), torch.randn(x0.shape, generator=g, dtype=torch.float64))
        ab = float(sch.alpha_bar[t])
        for sample in (x, jump):
            assert sample.mean().item() == pytest.approx(math.sqrt(ab) * 1.5, abs=0.015)
            assert sample.var().item() == pytest.approx(1 - ab, abs=0.015)


def test_loss_at_the_perfect_denoiser_is_the_closed_form():
    """For N(M, S^2 I) the best predictor leaves a per-coordinate error ab S^2 / (ab S^2 + 1 - ab), averaged over t."""
    sch = NoiseSchedule.cosine(100)
    eps = mixture_eps(sch, M[None].numpy(), S)
    g = torch.Generator().manual_seed(1)
    x0 = M + S * torch.randn(20000, 2, generator=g)
    loss = torch.stack([diffusion_loss(eps, sch, x0, g) for _ in range(10)]).mean().item()
    ab = sch.alpha_bar
    assert loss == pytest.approx((ab * S**2 / (ab * S**2 + 1 - ab)).mean().item(), abs=0.004)
    # a worse predictor (zero) has loss 1 exactly in expectation
    assert diffusion_loss(lambda x, t: torch.zeros_like(x), sch, x0, g).item() == pytest.approx(1.0, abs=0.02)


def test_mixture_eps_is_minus_the_scaled_score():
    sch = NoiseSchedule.cosine(20)
    ring = Ring2D(std=0.2)
    eps = mixture_eps(sch, ring.centers, ring.std)
    x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    t = torch.full((5,), 7)
    ab = float(sch.alpha_bar[7])
    v = ab * 0.2**2 + 1 - ab
    c = torch.as_tensor(ring.centers)
    logp = torch.logsumexp(-((x[:, None] - math.sqrt(ab) * c[None]) ** 2).sum(-1) / (2 * v), dim=1).sum()
    (score,) = torch.autograd.grad(logp, x)
    torch.testing.assert_close(eps(x.detach(), t), -math.sqrt(1 - ab) * score, rtol=1e-10, atol=1e-12)


def test_ancestral_sampler_on_a_gaussian():
    sch = NoiseSchedule.linear(1000)
    eps = mixture_eps(sch, M[None].numpy(), S)
    x = ddpm_sample(eps, sch, 20000, generator=torch.Generator().manual_seed(2))
    mean, var = _gaussian_chain(sch)
    assert math.sqrt(var) == pytest.approx(S, rel=0.02)  # the chain itself is nearly exact at T = 1000
    torch.testing.assert_close(x.mean(0).double(), mean, atol=0.01, rtol=0)
    torch.testing.assert_close(x.std(0).double(), torch.full((2,), math.sqrt(var), dtype=torch.float64), atol=0.006, rtol=0)


def test_ddim_converges_on_a_gaussian():
    sch = NoiseSchedule.cosine(100)
    eps = mixture_eps(sch, M[None].numpy(), S)
    z = torch.randn(20000, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        stds = [ddim_sample(eps, sch, k, z).std(0).mean().item() for k in (5, 20, 100)]
        x = ddim_sample(eps, sch, 100, z)
    assert stds[0] < stds[1] < stds[2] and stds[2] == pytest.approx(S, rel=0.04)
    torch.testing.assert_close(x.mean(0), M, atol=0.01, rtol=0)
    assert ddim_timesteps(100, 4) == [99, 66, 33, 0]
    with pytest.raises(ValueError, match="between 1 and T"):
        ddim_timesteps(10, 11)


def test_elbo_bounds_the_models_exact_likelihood():
    """With the exact Gaussian predictor the model is a linear-Gaussian chain with a Gaussian marginal
    (from the recursion): the bound sits below its log-density, and not far below."""
    sch = NoiseSchedule.linear(1000)
    eps = mixture_eps(sch, M[None].numpy(), S)
    mean, var = _gaussian_chain(sch)
    g = torch.Generator().manual_seed(4)
    x0 = (M + S * torch.randn(2000, 2, generator=g)).double()
    exact = (-((x0 - mean) ** 2).sum(1) / (2 * var) - math.log(2 * math.pi * var)).mean().item()
    elbo = diffusion_elbo(eps, sch, x0, g).mean().item()
    assert exact - 1.0 < elbo < exact + 0.05


def test_denoiser_learns_and_the_student_distils():
    torch.manual_seed(0)
    sch = NoiseSchedule.cosine(50)
    ring = Ring2D(std=0.15)
    model = Denoiser(sch.T, hidden=(64, 64))
    hist = train_denoiser(model, sch, ring, steps=300, batch_size=128, seed=0)
    assert sum(hist[-50:]) / 50 < 0.7 * sum(hist[:20]) / 20
    pairs = teacher_pairs(model, sch, 512, 10, generator=torch.Generator().manual_seed(0), clip=3.0)
    assert pairs[0].shape == pairs[1].shape == (512, 2)
    G, D = Generator(2, 2, (64, 64), "relu"), Discriminator(2, (64, 64), "relu")
    before = distillation_loss(G, *pairs).item()
    records = distill(G, D, pairs, ring, steps=100, batch_size=128, seed=0)
    assert len(records) == 100 and set(records[0]) == {"d_loss", "g_adv", "reg"}
    assert distillation_loss(G, *pairs).item() < 0.5 * before
