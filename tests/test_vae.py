"""The VAE of lecture 12 against closed forms: the analytic KL, and the likelihood of a linear-Gaussian VAE
(probabilistic PCA), whose marginal is N(b, W W^T + diag s^2)."""

import math

import pytest
import torch

from gancourse.data import Ring2D
from gancourse.vae import VAE, elbo, gaussian_kl, log_likelihood_is, train_vae


def test_gaussian_kl_against_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p).sum(1))
    assert gaussian_kl(torch.zeros(1, 4), torch.zeros(1, 4)).item() == 0.0
    # 1-D closed form by hand: mu = 1, sigma^2 = e -> (e + 1 - 1 - 1) / 2
    assert gaussian_kl(torch.tensor([[1.0]]), torch.tensor([[1.0]])).item() == pytest.approx((math.e - 1) / 2)


def _linear_vae(exact_posterior: bool):
    """Decoder x = W z + b + s eps with orthogonal columns of W, so the exact posterior is diagonal."""
    torch.manual_seed(0)
    model = VAE((3,), z_dim=2, hidden=()).double()
    W = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([0.5, -1.0, 0.2], dtype=torch.float64)
    s = torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64)
    post_var = torch.linalg.inv(torch.eye(2, dtype=torch.float64) + W.T @ W / 0.25)  # diagonal
    with torch.no_grad():
        model.decoder.net[0].weight.copy_(W)
        model.decoder.net[0].bias.copy_(b)
        model.log_std.copy_(s.log())
        enc = model.encoder.net[0]
        enc.weight.zero_()
        enc.bias.zero_()
        if exact_posterior:
            A = post_var @ W.T / 0.25  # posterior mean = A (x - b)
            enc.weight[:2] = A
            enc.bias[:2] = -A @ b
            enc.bias[2:] = post_var.diagonal().log()
    cov = W @ W.T + torch.diag(s**2)
    marginal = torch.distributions.MultivariateNormal(b, cov)
    return model, marginal


def test_importance_sampling_is_exact_with_the_exact_posterior():
    model, marginal = _linear_vae(exact_posterior=True)
    x = marginal.sample((50,))
    g = torch.Generator().manual_seed(1)
    torch.testing.assert_close(log_likelihood_is(model, x, k=3, generator=g), marginal.log_prob(x), rtol=0, atol=1e-10)
    # the ELBO's gap is KL(q || posterior) = 0: its one-sample estimate averages to log p(x)
    assert elbo(model, x.repeat(400, 1), g).mean().item() == pytest.approx(marginal.log_prob(x).mean().item(), abs=0.05)


def test_importance_sampling_with_a_poor_proposal_closes_the_gap():
    model, marginal = _linear_vae(exact_posterior=False)  # q(z|x) = N(0, I), the prior
    x = marginal.sample((200,))
    g = torch.Generator().manual_seed(2)
    exact = marginal.log_prob(x).mean().item()
    bound = elbo(model, x.repeat(50, 1), g).mean().item()
    is1 = log_likelihood_is(model, x.repeat(50, 1), k=1, generator=g).mean().item()
    is_big = log_likelihood_is(model, x, k=5000, generator=g).mean().item()
    assert bound < exact - 1.0  # a loose bound
    assert bound < is_big and abs(is1 - bound) < 0.3  # K = 1 is an ELBO estimate (same expectation)
    assert is_big == pytest.approx(exact, abs=0.05)


def test_vae_trains_on_the_ring_and_checks_shapes():
    torch.manual_seed(0)
    ring = Ring2D(std=0.15)
    model = VAE((2,), z_dim=2, hidden=(64, 64))
    hist = train_vae(model, ring, steps=300, batch_size=128, lr=2e-3, seed=0)
    assert sum(hist[-50:]) / 50 < sum(hist[:10]) / 10 - 0.2  # measured: 3.88 -> 3.49 nats
    assert model.sample(7).shape == (7, 2)
    images = VAE((1, 4, 4), z_dim=3, hidden=(16,))
    assert images.sample(5, noise=False).shape == (5, 1, 4, 4)
    x = torch.randn(4, 1, 4, 4)
    assert elbo(images, x).shape == (4,) and log_likelihood_is(images, x, k=7).shape == (4,)
    with pytest.raises(ValueError, match=r"data of shape \(B, 1, 4, 4\)"):
        images.encode(torch.randn(4, 16))
