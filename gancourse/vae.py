r"""A variational autoencoder for 2D points and for digits: the likelihood-based neighbour of the GAN.

A VAE (Kingma & Welling 2014, arXiv:1312.6114; Rezende et al. 2014, arXiv:1401.4082) is a latent
variable model :math:`p_\theta(x) = \int p_\theta(x \mid z)\,p(z)\,dz` with :math:`p(z) = \mathcal N(0, I)`,
trained with an encoder :math:`q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))`
by maximising the evidence lower bound

.. math:: \log p_\theta(x) \ge \mathrm{ELBO}(x) = \mathbb{E}_{q_\phi(z|x)}[\log p_\theta(x \mid z)]
          - D_\text{KL}\big(q_\phi(z \mid x)\,\|\,p(z)\big).

Unlike a GAN it has a likelihood, which :func:`log_likelihood_is` estimates by importance sampling
(Burda et al. 2016, arXiv:1509.00519, eq. 8); unlike a GAN its samples are blurred by the decoder's
Gaussian noise. Here the decoder is Gaussian, :math:`p_\theta(x|z) = \mathcal N(f_\theta(z), \operatorname{diag} s^2)`
with a learned per-coordinate :math:`s`, so the likelihood is a density of continuous values (nats).
Shapes: B batch, d data dimension (2 for points, C*H*W for images, flattened), Z latent size. Lecture 12.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gancourse.toy import MLP

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""The KL divergence of a diagonal Gaussian from the standard normal, in closed form.

    .. math:: D_\text{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2)\,\|\,\mathcal N(0, I)\big)
              = \tfrac12 \sum_{j=1}^Z \big(\sigma_j^2 + \mu_j^2 - 1 - \log\sigma_j^2\big)

    Kingma & Welling 2014 (arXiv:1312.6114), appendix B. Args: ``mu``, ``logvar`` (B, Z).
    Returns (B,). Lecture 12.
    """
    return 0.5 * (logvar.exp() + mu**2 - 1 - logvar).sum(dim=1)


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    r""":math:`\log \mathcal N(x; m, \operatorname{diag} s^2) = -\sum_j \big[\frac{(x_j - m_j)^2}{2 s_j^2} + \log s_j + \frac12\log 2\pi\big]`.
    (B, d) inputs (``log_std`` broadcasts); returns (B,). Lecture 12."""
    return -(0.5 * ((x - mean) * torch.exp(-log_std)) ** 2 + log_std + 0.5 * LOG_2PI).sum(dim=1)


class VAE(nn.Module):
    r"""A VAE with MLP encoder and decoder and a Gaussian decoder of learned per-coordinate width.

    Encoder: ``x (B, d) -> MLP -> (B, 2Z)``, split into :math:`\mu` and :math:`\log\sigma^2`. Decoder:
    ``z (B, Z) -> MLP -> (B, d)``, the mean :math:`f_\theta(z)`; ``log_std`` (d,) is :math:`\log s`.
    Images (B, C, H, W) are flattened on the way in and reshaped on the way out (``data_shape``).
    ``hidden=()`` makes both maps linear (probabilistic PCA, the case with a closed-form likelihood,
    Tipping & Bishop 1999). Lecture 12.
    """

    def __init__(self, data_shape=(2,), z_dim: int = 2, hidden=(128, 128), activation: str = "relu",
                 init_log_std: float = 0.0):
        super().__init__()
        self.data_shape = tuple(data_shape)
        d = math.prod(self.data_shape)
        self.encoder = MLP(d, 2 * z_dim, hidden, activation)
        self.decoder = MLP(z_dim, d, tuple(reversed(tuple(hidden))), activation)
        self.log_std = nn.Parameter(torch.full((d,), float(init_log_std)))
        self.z_dim, self.data_dim = z_dim, d

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"this VAE models data of shape (B, {', '.join(map(str, self.data_shape))}), "
                             f"got {tuple(x.shape)}.")
        return x.flatten(1)  # (B, d)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:math:`q(z|x)`: ``(mu, logvar)``, each (B, Z)."""
        mu, logvar = self.encoder(self._flat(x)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean :math:`f_\\theta(z)`, (B, Z) -> (B, d) flat."""
        return self.decoder(z)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """:math:`\\log p_\\theta(x \\mid z)` for x (B, ...) and z (B, Z): (B,)."""
        return gaussian_log_density(self._flat(x), self.decode(z), self.log_std)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, noise: bool = True) -> torch.Tensor:
        r"""``n`` draws :math:`x = f_\theta(z) + s \odot \epsilon` (or the means alone, ``noise=False``): (n, *data_shape)."""
        dev = self.log_std.device
        z = torch.randn(n, self.z_dim, generator=generator).to(dev)
        x = self.decode(z)
        if noise:
            x = x + self.log_std.exp() * torch.randn(x.shape, generator=generator).to(dev)
        return x.view(n, *self.data_shape)


def elbo(model: VAE, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""The evidence lower bound of each point, with one reparameterised sample and the analytic KL.

    .. math:: \mathrm{ELBO}(x) \approx \log p_\theta(x \mid \mu + \sigma \odot \epsilon) - D_\text{KL}(q(z|x)\,\|\,p(z)),
              \quad \epsilon \sim \mathcal N(0, I)

    Kingma & Welling 2014 (arXiv:1312.6114), eq. 10 (the SGVB estimator B). Differentiable in both
    networks. Args: ``x`` (B, ...). Returns (B,). Lecture 12.
    """
    mu, logvar = model.encode(x)
    eps = torch.randn(mu.shape, generator=generator).to(mu.device)
    z = mu + (0.5 * logvar).exp() * eps  # (B, Z), the reparameterisation trick
    return model.log_px_given_z(x, z) - gaussian_kl(mu, logvar)


@torch.no_grad()
def log_likelihood_is(model: VAE, x: torch.Tensor, k: int = 100,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    r"""An importance-sampled estimate of :math:`\log p_\theta(x)` with the encoder as proposal.

    .. math:: \log p_\theta(x) \approx \log \frac1K \sum_{k=1}^K \frac{p_\theta(x \mid z_k)\,p(z_k)}{q_\phi(z_k \mid x)},
              \quad z_k \sim q_\phi(z \mid x)

    Burda et al. 2016 (arXiv:1509.00519), eq. 8: its expectation rises with K towards
    :math:`\log p_\theta(x)` and is never below the ELBO's. Computed with ``logsumexp``.
    Args: ``x`` (B, ...). Returns (B,). Lecture 12.
    """
    mu, logvar = model.encode(x)  # (B, Z)
    std = (0.5 * logvar).exp()
    b = len(mu)
    z = mu[None] + std[None] * torch.randn((k, *mu.shape), generator=generator).to(mu.device)  # (K, B, Z)
    zero = torch.zeros((), device=mu.device)
    log_q = gaussian_log_density(z.view(k * b, -1), mu.repeat(k, 1), (0.5 * logvar).repeat(k, 1)).view(k, b)
    log_prior = gaussian_log_density(z.view(k * b, -1), zero, zero).view(k, b)
    x_rep = x.repeat(k, *([1] * (x.ndim - 1)))  # (K B, ...), sample k of point i at k * B + i
    log_lik = model.log_px_given_z(x_rep, z.view(k * b, -1)).view(k, b)
    return torch.logsumexp(log_lik + log_prior - log_q, dim=0) - math.log(k)


def train_vae(model: VAE, data, *, steps: int, batch_size: int = 256, lr: float = 1e-3, seed: int = 0) -> list[float]:
    """Maximise the mean ELBO with Adam. ``data``: a sampler with ``.sample(n, generator=)`` or a tensor (N, ...)
    drawn from with replacement. Returns the negative ELBO per step. Lecture 12."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        if hasattr(data, "sample"):
            x = data.sample(batch_size, generator=gen)
        else:
            x = data[torch.randint(len(data), (batch_size,), generator=gen)]
        loss = -elbo(model, x, gen).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(loss.item())
    return history
