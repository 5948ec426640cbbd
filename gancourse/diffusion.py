r"""A small diffusion model for 2D points, and a one-step generator distilled from it with a GAN loss.

A diffusion model learns to undo a fixed noising process. The forward process adds Gaussian noise
in T small steps, :math:`q(x_t \mid x_{t-1}) = \mathcal N(\sqrt{\alpha_t}\,x_{t-1}, \beta_t I)` with
:math:`\alpha_t = 1 - \beta_t`, and has the closed form

.. math:: q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\,x_0,\ (1 - \bar\alpha_t) I\big), \qquad
          \bar\alpha_t = \prod_{s \le t} \alpha_s,

so :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\epsilon`. A network
:math:`\epsilon_\theta(x_t, t)` learns to predict the noise (Ho et al. 2020, DDPM, arXiv:2006.11239,
eq. 14), and sampling runs the reverse chain from :math:`x_T \sim \mathcal N(0, I)`: T network
evaluations per sample (ancestral sampling), or fewer with DDIM's deterministic steps (Song et al.
2021, arXiv:2010.02502).

GANs sample in *one* evaluation. Adversarial distillation trains a one-step generator from a
many-step teacher with a GAN loss plus a distillation term: ADD (Sauer et al. 2023,
arXiv:2311.17042) and DMD / DMD2 (Yin et al. 2023, arXiv:2311.18828; Yin et al. 2024,
arXiv:2405.14867). Here the distillation term is DMD's regression loss onto the teacher's
deterministic outputs from the same noise, and the adversarial term the non-saturating GAN loss
against real data, as DMD2 adds it.

Time steps are 0-based in the code: index ``t`` in ``0..T-1`` is step :math:`t + 1` of the papers.
Shapes: B batch, d data dimension (2 here). Lecture 12.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gancourse import losses

# --------------------------------------------------------------------------------------------
# The forward process
# --------------------------------------------------------------------------------------------


@dataclass
class NoiseSchedule:
    r"""The variances :math:`\beta_1, \dots, \beta_T` of the forward process and what follows from them.

    ``betas``, ``alphas`` :math:`= 1 - \beta`, ``alpha_bar`` :math:`= \prod_{s \le t}\alpha_s`, all
    (T,) float64, index ``t`` = step t + 1. Build one with :meth:`linear` (DDPM) or :meth:`cosine`.
    Lecture 12.
    """

    betas: torch.Tensor

    def __post_init__(self):
        self.betas = torch.as_tensor(self.betas, dtype=torch.float64)
        if self.betas.ndim != 1 or not ((self.betas > 0) & (self.betas < 1)).all():
            raise ValueError("betas must be a 1-D tensor with every value in (0, 1).")
        self.alphas = 1 - self.betas
        self.alpha_bar = torch.cumprod(self.alphas, 0)

    @property
    def T(self) -> int:  # noqa: N802  (the paper's letter)
        return len(self.betas)

    @classmethod
    def linear(cls, T: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02) -> "NoiseSchedule":  # noqa: N803
        """DDPM's schedule, :math:`\\beta_t` linear from ``beta_1`` to ``beta_T`` (Ho et al. 2020, section 4)."""
        return cls(torch.linspace(beta_1, beta_T, T, dtype=torch.float64))

    @classmethod
    def cosine(cls, T: int = 100, s: float = 0.008) -> "NoiseSchedule":  # noqa: N803
        r""":math:`\bar\alpha_t = \cos^2\big(\frac{t/T + s}{1 + s}\frac{\pi}{2}\big) / \cos^2\big(\frac{s}{1+s}\frac{\pi}{2}\big)`,
        betas clipped to 0.999 (Nichol & Dhariwal 2021, arXiv:2102.09672, eq. 17): fewer steps wasted at high noise."""
        steps = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        alpha_bar = f / f[0]
        return cls((1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999))


def _at(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values[t]`` as (B, 1, ...) in ``like``'s dtype and device, to broadcast over a batch like ``like``."""
    return values.to(like.device)[t].to(like.dtype).view(-1, *([1] * (like.ndim - 1)))


def q_sample(schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    r"""A draw of :math:`x_t \sim q(x_t \mid x_0)`: :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\epsilon`.

    Ho et al. 2020 (arXiv:2006.11239), eq. 4. Args: ``x0`` (B, d), ``t`` (B,) int64 in 0..T-1,
    ``eps`` (B, d) standard normal. Returns (B, d). Lecture 12.
    """
    ab = _at(schedule.alpha_bar, t, x0)  # (B, 1)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def predict_x0(schedule: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, eps_hat: torch.Tensor) -> torch.Tensor:
    r"""The clean point implied by a noise prediction: :math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\epsilon)/\sqrt{\bar\alpha_t}`. Lecture 12."""
    ab = _at(schedule.alpha_bar, t, x_t)
    return (x_t - (1 - ab).sqrt() * eps_hat) / ab.sqrt()


def mixture_eps(schedule: NoiseSchedule, centers, std: float):
    r"""The exact noise predictor of an equal-weight Gaussian mixture: a denoiser with no error.

    With data :math:`\frac1M\sum_k \mathcal N(c_k, s^2 I)`, the noised law is
    :math:`p_t = \frac1M\sum_k \mathcal N(\sqrt{\bar\alpha_t} c_k, v_t I)`, :math:`v_t = \bar\alpha_t s^2 + 1 - \bar\alpha_t`,
    and the best predictor in squared error is :math:`\epsilon^*(x_t, t) = -\sqrt{1 - \bar\alpha_t}\,\nabla \log p_t(x_t)
    = \sqrt{1 - \bar\alpha_t}\,\big(x_t - \sqrt{\bar\alpha_t}\sum_k r_k(x_t) c_k\big) / v_t`, with :math:`r_k` the
    posterior weights of the components. One centre gives a Gaussian. Returns a function
    ``(x_t (B, d), t (B,)) -> (B, d)``, used as a perfect teacher in tests. Lecture 12.
    """
    c = torch.as_tensor(centers, dtype=torch.float64)  # (M, d)

    def eps(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = x_t.double()
        ab = _at(schedule.alpha_bar, t, x)  # (B, 1)
        v = ab * std**2 + 1 - ab  # (B, 1)
        d2 = ((x[:, None, :] - ab.sqrt()[:, None] * c[None]) ** 2).sum(-1)  # (B, M)
        r = torch.softmax(-d2 / (2 * v), dim=1)  # (B, M) posterior weights of the components
        return ((1 - ab).sqrt() * (x - ab.sqrt() * (r @ c)) / v).to(x_t.dtype)

    return eps


# --------------------------------------------------------------------------------------------
# The denoiser and its loss
# --------------------------------------------------------------------------------------------


def time_embedding(t: torch.Tensor, dim: int, T: int) -> torch.Tensor:  # noqa: N803
    r"""Sinusoidal features of the step, :math:`[\sin(\tau \omega_j), \cos(\tau \omega_j)]_j` with :math:`\tau = 1000\,t/T`,
    :math:`\omega_j = 10^{-4 j / (\dim/2)}` (Vaswani et al. 2017, arXiv:1706.03762; DDPM's embedding). (B,) -> (B, dim). Lecture 12."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)  # (dim/2,)
    angles = (1000.0 * t.float() / T)[:, None] * freqs[None]  # (B, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)  # (B, dim)


class Denoiser(nn.Module):
    r"""The noise predictor :math:`\epsilon_\theta(x_t, t)` for points: an MLP on the point and a time embedding.

    ``[x_t, emb(t)] (B, d + E) -> hidden layers with SiLU -> (B, d)``. Departure from DDPM: an MLP
    in place of the U-Net, since the data are points. Lecture 12.
    """

    def __init__(self, T: int, data_dim: int = 2, hidden=(128, 128, 128), time_dim: int = 32):  # noqa: N803
        super().__init__()
        layers, width = [], data_dim + time_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.SiLU()]
            width = h
        layers.append(nn.Linear(width, data_dim))
        self.net = nn.Sequential(*layers)
        self.T, self.data_dim, self.time_dim = T, data_dim, time_dim

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x_t, time_embedding(t, self.time_dim, self.T)], dim=1))  # (B, d)


def diffusion_loss(eps_model, schedule: NoiseSchedule, x0: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""DDPM's simple loss: the squared error of the noise prediction at a uniformly drawn step.

    .. math:: L = \mathbb{E}_{x_0, t, \epsilon}\Big[\tfrac1d\big\lVert \epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\epsilon,\ t)\big\rVert^2\Big],
              \quad t \sim U\{1..T\}

    Ho et al. 2020 (arXiv:2006.11239), eq. 14 (averaged over the d coordinates). Its minimiser is the
    posterior mean of the noise, :math:`\mathbb{E}[\epsilon \mid x_t]`, so even a perfect denoiser keeps a
    positive loss (see :func:`mixture_eps`). Args: ``x0`` (B, d). Returns a scalar tensor. Lecture 12.
    """
    t = torch.randint(schedule.T, (len(x0),), generator=generator).to(x0.device)  # (B,)
    eps = torch.randn(x0.shape, generator=generator).to(x0.device)  # (B, d)
    return F.mse_loss(eps_model(q_sample(schedule, x0, t, eps), t), eps)


def train_denoiser(model: Denoiser, schedule: NoiseSchedule, sampler, *, steps: int, batch_size: int = 256,
                   lr: float = 1e-3, seed: int = 0) -> list[float]:
    """Fit ``model`` with Adam on :func:`diffusion_loss`, batches drawn from ``sampler.sample(n, generator=)``.

    The learning rate decays linearly to 0. Returns the loss per step. Lecture 12.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 - k / max(steps, 1))
    history = []
    for _ in range(steps):
        loss = diffusion_loss(model, schedule, sampler.sample(batch_size, generator=gen), gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        history.append(loss.item())
    return history


# --------------------------------------------------------------------------------------------
# Sampling: ancestral (T evaluations) and DDIM (any number)
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def ddpm_sample(eps_model, schedule: NoiseSchedule, n: int, data_dim: int = 2,
                generator: torch.Generator | None = None, clip: float | None = None) -> torch.Tensor:
    r"""Ancestral sampling: T steps of the learned reverse chain from :math:`x_T \sim \mathcal N(0, I)`.

    .. math:: x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\epsilon_\theta(x_t, t)\Big) + \sigma_t z,
              \qquad \sigma_t^2 = \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t

    and no noise at the last step. Ho et al. 2020 (arXiv:2006.11239), algorithm 2 (with the posterior
    variance, the second choice of section 3.2). The mean is computed in its equal form
    :math:`\frac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1-\bar\alpha_t}\hat x_0 + \frac{\sqrt{\alpha_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}x_t`
    (eq. 7) so that ``clip`` can clamp :math:`\hat x_0` (:func:`predict_x0`) to :math:`[-c, c]`, as DDPM's
    code does for images: near :math:`\bar\alpha_T \approx 0` a small error in :math:`\epsilon_\theta` is a large
    one in :math:`\hat x_0`. Costs T network evaluations per sample. Returns (n, data_dim). Lecture 12.
    """
    x = torch.randn(n, data_dim, generator=generator)
    for i in reversed(range(schedule.T)):
        t = torch.full((n,), i, dtype=torch.long)
        a, ab, b = (float(v[i]) for v in (schedule.alphas, schedule.alpha_bar, schedule.betas))
        ab_prev = float(schedule.alpha_bar[i - 1]) if i > 0 else 1.0
        x0 = predict_x0(schedule, x, t, eps_model(x, t))
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
        x = math.sqrt(ab_prev) * b / (1 - ab) * x0 + math.sqrt(a) * (1 - ab_prev) / (1 - ab) * x
        if i > 0:
            x = x + math.sqrt((1 - ab_prev) / (1 - ab) * b) * torch.randn(x.shape, generator=generator)
    return x


def ddim_timesteps(T: int, steps: int) -> list[int]:  # noqa: N803
    """``steps`` step indices from T-1 down to 0, evenly spaced (DDIM's sub-sequence). Lecture 12."""
    if not 1 <= steps <= T:
        raise ValueError(f"steps must lie between 1 and T = {T}, got {steps}.")
    return sorted({round(v) for v in torch.linspace(0, T - 1, steps).tolist()}, reverse=True)


def ddim_sample(eps_model, schedule: NoiseSchedule, steps: int, z: torch.Tensor, clip: float | None = None) -> torch.Tensor:
    r"""DDIM's deterministic sampler (:math:`\eta = 0`) from the noise ``z``: a fixed map noise -> point.

    .. math:: x_{s} = \sqrt{\bar\alpha_{s}}\,\hat x_0 + \sqrt{1-\bar\alpha_{s}}\,\epsilon_\theta(x_t, t), \qquad
              \hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\epsilon_\theta(x_t, t)}{\sqrt{\bar\alpha_t}}

    from each step t of :func:`ddim_timesteps` to the next one s (the last returns :math:`\hat x_0`).
    Song et al. 2021 (arXiv:2010.02502), eq. 12 with :math:`\sigma_t = 0`. Costs ``steps`` evaluations.
    ``clip`` clamps :math:`\hat x_0` to :math:`[-c, c]` and recomputes :math:`\epsilon` from it (as in
    :func:`ddpm_sample`). Not wrapped in ``no_grad``: call it under ``torch.no_grad()`` to sample. Args: ``z`` (B, d).
    Returns (B, d). Lecture 12.
    """
    x = z
    ts = ddim_timesteps(schedule.T, steps)
    for k, i in enumerate(ts):
        t = torch.full((len(x),), i, dtype=torch.long)
        eps = eps_model(x, t)
        x0 = predict_x0(schedule, x, t, eps)
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
            ab = _at(schedule.alpha_bar, t, x)
            eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
        if k + 1 == len(ts):
            return x0
        ab_next = float(schedule.alpha_bar[ts[k + 1]])
        x = math.sqrt(ab_next) * x0 + math.sqrt(1 - ab_next) * eps
    return x


# --------------------------------------------------------------------------------------------
# A likelihood bound
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def diffusion_elbo(eps_model, schedule: NoiseSchedule, x0: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""A one-sample Monte Carlo estimate of the evidence lower bound :math:`\log p_\theta(x_0) \ge -L` for each point.

    .. math:: L = \underbrace{D_\text{KL}(q(x_T|x_0)\,\|\,\mathcal N(0, I))}_{L_T}
              + \sum_{t=2}^T \underbrace{\frac{\beta_t^2}{2\sigma_t^2\alpha_t(1-\bar\alpha_t)}\lVert\epsilon - \epsilon_\theta(x_t, t)\rVert^2}_{L_{t-1}}
              \underbrace{- \log \mathcal N(x_0;\ \mu_\theta(x_1, 1), \sigma_1^2 I)}_{L_0}

    with the sampler's variances :math:`\sigma_t^2 = \tilde\beta_t` (so each :math:`L_{t-1}` is only its
    mean term) and :math:`\sigma_1^2 = \beta_1`, each :math:`x_t` drawn from :math:`q(x_t|x_0)`. Ho et
    al. 2020 (arXiv:2006.11239), eqs. 5 and 12; Sohl-Dickstein et al. 2015 (arXiv:1503.03585).
    A bound on the density of *continuous* points, in nats. Args: ``x0`` (B, d). Returns (B,). Lecture 12.
    """
    b, d = x0.shape
    x0 = x0.double()
    ab_T = float(schedule.alpha_bar[-1])
    # KL(N(sqrt(ab) x0, (1-ab) I) || N(0, I)) per point
    loss = 0.5 * (d * (1 - ab_T) + ab_T * (x0**2).sum(1) - d - d * math.log(1 - ab_T))
    for i in range(1, schedule.T):  # papers' t = 2..T
        t = torch.full((b,), i, dtype=torch.long)
        eps = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
        err = ((eps - eps_model(q_sample(schedule, x0, t, eps).float(), t).double()) ** 2).sum(1)
        beta, alpha, ab = (float(v[i]) for v in (schedule.betas, schedule.alphas, schedule.alpha_bar))
        sigma2 = (1 - float(schedule.alpha_bar[i - 1])) / (1 - ab) * beta
        loss = loss + beta**2 / (2 * sigma2 * alpha * (1 - ab)) * err
    t = torch.zeros(b, dtype=torch.long)
    eps = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    x1 = q_sample(schedule, x0, t, eps)
    beta1 = float(schedule.betas[0])
    mu = (x1 - beta1 / math.sqrt(1 - float(schedule.alpha_bar[0])) * eps_model(x1.float(), t).double()) / math.sqrt(1 - beta1)
    loss = loss + 0.5 * (((x0 - mu) ** 2).sum(1) / beta1 + d * math.log(2 * math.pi * beta1))
    return -loss


# --------------------------------------------------------------------------------------------
# Adversarial distillation: one step, from many
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def teacher_pairs(eps_model, schedule: NoiseSchedule, n: int, steps: int, data_dim: int = 2,
                  generator: torch.Generator | None = None, clip: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` pairs ``(z, x)`` of noise and the teacher's deterministic DDIM sample from it (DMD's regression set). Lecture 12."""
    z = torch.randn(n, data_dim, generator=generator)
    return z, ddim_sample(eps_model, schedule, steps, z, clip)


def distillation_loss(G: nn.Module, z: torch.Tensor, x_teacher: torch.Tensor) -> torch.Tensor:
    r"""DMD's regression loss: the one-step student reproduces the teacher's sample from the same noise.

    .. math:: L_\text{reg} = \mathbb{E}_{(z, y)}\big[\lVert G(z) - y \rVert_2^2\big], \qquad y = \mathrm{DDIM}_\text{teacher}(z)

    Yin et al. 2023 (DMD, arXiv:2311.18828), eq. 9, with the squared error in place of LPIPS (points,
    not images). ADD (Sauer et al. 2023, arXiv:2311.17042) uses a related term, the distance to the
    teacher's denoising of the noised student sample. Args: ``z``, ``x_teacher`` (B, d). Lecture 12.
    """
    return ((G(z) - x_teacher) ** 2).sum(1).mean()


def distill(G: nn.Module, D: nn.Module, pairs: tuple[torch.Tensor, torch.Tensor], sampler, *, steps: int,
            batch_size: int = 256, reg_weight: float = 1.0, adv_weight: float = 1.0, r1_gamma: float = 0.1,
            lr: float = 1e-3, seed: int = 0) -> list[dict]:
    r"""Train the one-step student G with the adversarial loss plus the distillation term.

    .. math:: L_G = \lambda_\text{adv}\,\big(-\mathbb{E}_z \log\sigma(D(G(z)))\big) + \lambda_\text{reg}\,L_\text{reg}, \qquad
              L_D = -\mathbb{E}_x\log\sigma(D(x)) - \mathbb{E}_z\log\sigma(-D(G(z))) + \tfrac{\gamma}{2} R_1

    D sees real data (as in DMD2, Yin et al. 2024, arXiv:2405.14867, section 4.3), so the GAN term can
    correct the teacher's own errors; the regression term anchors G to the teacher's map and keeps every
    mode. ``G`` maps (B, d) noise to (B, d) points (its noise is the teacher's :math:`x_T`); ``pairs`` from
    :func:`teacher_pairs`. ``adv_weight=0`` is pure regression. Returns one record per step. Lecture 12.
    """
    gen = torch.Generator().manual_seed(seed)
    z_pairs, x_pairs = pairs
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    records = []
    for _ in range(steps):
        x_real = sampler.sample(batch_size, generator=gen)
        z = torch.randn(batch_size, x_real.shape[1], generator=gen)
        loss_d = torch.zeros(())
        if adv_weight > 0:
            loss_d = losses.d_loss(D(x_real), D(G(z).detach()))
            opt_d.zero_grad(set_to_none=True)
            (loss_d + r1_gamma / 2 * losses.r1_penalty(D, x_real)).backward()
            opt_d.step()
        idx = torch.randint(len(z_pairs), (batch_size,), generator=gen)
        reg = distillation_loss(G, z_pairs[idx], x_pairs[idx])
        adv = losses.g_loss_nonsaturating(D(G(z))) if adv_weight > 0 else torch.zeros(())
        opt_g.zero_grad(set_to_none=True)
        (adv_weight * adv + reg_weight * reg).backward()
        opt_g.step()  # D's weights got gradients too; its optimiser clears them before its next step
        records.append({"d_loss": loss_d.item(), "g_adv": adv.item(), "reg": reg.item()})
    return records
