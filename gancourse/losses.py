r"""Every adversarial loss of the course, as a pure function of discriminator scores.

A loss takes logits (or critic scores) and returns a scalar tensor: no backward pass, optimiser or
state. Probability forms are written beside the logit forms they equal; the code uses the logit
form because :math:`\log \sigma(s)` computed as ``logsigmoid(s)`` never overflows.

Notation: :math:`s_r = D(x)` on real data, :math:`s_f = D(G(z))` on generated data (logits for
the classic GAN, unbounded scores for a critic); :math:`\sigma` is the logistic sigmoid, so the
discriminator's probability is :math:`D = \sigma(s)`.

Papers: Goodfellow et al. 2014 (arXiv:1406.2661), Arjovsky et al. 2017 (arXiv:1701.07875),
Gulrajani et al. 2017 (arXiv:1704.00028), Lim & Ye 2017 (hinge, arXiv:1705.02894), Mao et al. 2017
(least squares, arXiv:1611.04076), Mescheder et al. 2018 (R1, arXiv:1801.04406), Salimans et al. 2016 (label smoothing,
arXiv:1606.03498), Jolicoeur-Martineau 2018 (relativistic, arXiv:1807.00734).
Lectures 01-07 and 11.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_pair(real: torch.Tensor, fake: torch.Tensor) -> None:
    for name, scores in (("real", real), ("fake", fake)):
        if not isinstance(scores, torch.Tensor) or not scores.is_floating_point():
            got = f"a {scores.dtype} tensor" if isinstance(scores, torch.Tensor) else type(scores).__name__
            raise TypeError(f"{name} scores must be a floating-point torch.Tensor (D's raw output), got {got}. "
                            "Pass D(x) itself, not a NumPy array, a list or predicted labels.")
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(
            f"real and fake scores differ in shape: got {tuple(real.shape)} and {tuple(fake.shape)}. "
            "Score both batches with the same D, or flatten each with .view(-1)."
        )


# --------------------------------------------------------------------------------------------
# The original GAN (lectures 01-02)
# --------------------------------------------------------------------------------------------


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The discriminator's binary cross-entropy, the negative of the value function :math:`V(D, G)`.

    .. math:: L_D = -\mathbb{E}[\log D(x)] - \mathbb{E}[\log(1 - D(G(z)))]
              = -\mathbb{E}[\log\sigma(s_r)] - \mathbb{E}[\log\sigma(-s_f)]

    using :math:`1 - \sigma(s) = \sigma(-s)`. Goodfellow et al. 2014, eq. 1. Lecture 01.

    Args: ``real_logits`` (B,) or (B, 1); ``fake_logits`` of the same trailing shape.
    Returns: a scalar tensor.
    """
    _check_pair(real_logits, fake_logits)
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()


def g_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The generator's loss as the minimax game writes it (the one that saturates).

    .. math:: L_G = \mathbb{E}[\log(1 - D(G(z)))] = \mathbb{E}[\log\sigma(-s_f)]

    Its gradient with respect to the logit is :math:`-\sigma(s_f) = -D(G(z))`: when D confidently
    rejects the fakes (D near 0) the generator learns almost nothing. Goodfellow et al. 2014,
    eq. 1. Lecture 02.
    """
    return F.logsigmoid(-fake_logits).mean()


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The generator's non-saturating loss, the one used in practice.

    .. math:: L_G = -\mathbb{E}[\log D(G(z))] = -\mathbb{E}[\log\sigma(s_f)]

    Its gradient with respect to the logit is :math:`-(1 - D(G(z)))`: largest exactly when D
    rejects the fakes. Goodfellow et al. 2014, section 3. Lectures 01-02.
    """
    return -F.logsigmoid(fake_logits).mean()


# --------------------------------------------------------------------------------------------
# Wasserstein GAN (lecture 05)
# --------------------------------------------------------------------------------------------


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    r"""The WGAN critic's loss: minus its estimate of :math:`W_1`.

    .. math:: L_C = \mathbb{E}[f(G(z))] - \mathbb{E}[f(x)]

    The critic :math:`f` must be (about) 1-Lipschitz: clip its weights or add
    :func:`gradient_penalty`. Arjovsky et al. 2017, eq. 3. Lecture 05.
    """
    _check_pair(real_scores, fake_scores)
    return fake_scores.mean() - real_scores.mean()


def generator_wasserstein_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    r"""The WGAN generator's loss, :math:`L_G = -\mathbb{E}[f(G(z))]`. Arjovsky et al. 2017. Lecture 05."""
    return -fake_scores.mean()


def interpolate(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Random points on the segments between paired real and fake samples.

    :math:`\hat x = \epsilon x + (1 - \epsilon)\tilde x`, with one :math:`\epsilon \sim U[0, 1]`
    per sample. Shapes: (B, ...) in, (B, ...) out. Lecture 05.
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake batches differ in shape: {tuple(real.shape)} vs {tuple(fake.shape)}; "
            "the penalty pairs them sample by sample, so draw as many fakes as reals."
        )
    eps = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), generator=generator,
                     device=real.device, dtype=real.dtype)  # (B, 1, ...) broadcast over features
    return eps * real + (1 - eps) * fake


def _input_gradient(critic, x: torch.Tensor, penalty: str) -> torch.Tensor:
    r""":math:`\nabla_x \sum_i f(x_i)` with a graph (``create_graph=True``), same shape as ``x``.

    A critic whose scores do not depend on ``x`` has no such gradient: that is the caller's network,
    so the error says so (torch's own message asks for an argument the caller never passes).
    """
    scores = critic(x)
    if not isinstance(scores, torch.Tensor) or scores.shape[:1] != x.shape[:1]:
        got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"{penalty} needs one score per sample: the critic returned {got} for a batch of "
                         f"{x.shape[0]}. It must map (B, ...) to (B,) or (B, 1).")
    grad = None
    if scores.requires_grad:
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True, allow_unused=True)
    if grad is None:
        raise ValueError(f"{penalty} needs the critic's gradient with respect to its input, but its scores do not "
                         f"depend on the input it was given. Check that D's forward uses its argument x (not a "
                         f"stored batch or a constant), and that it is not called under torch.no_grad().")
    return grad


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    r"""The WGAN-GP penalty at random interpolates (the caller multiplies it by :math:`\lambda`).

    .. math:: \mathrm{GP} = \mathbb{E}_{\hat x}\big[(\lVert \nabla_{\hat x} f(\hat x) \rVert_2 - 1)^2\big]

    The norm is over every feature of one sample (all dimensions but the batch). The gradient is
    taken with ``create_graph=True`` so that the penalty itself can be differentiated with respect
    to the critic's weights. Gulrajani et al. 2017, eq. 3 (they use :math:`\lambda = 10`). Lecture 05.

    Args: ``critic`` maps (B, ...) to (B,) or (B, 1) scores; ``real`` and ``fake`` (B, ...).
    Returns: a scalar tensor.
    """
    x_hat = interpolate(real.detach(), fake.detach(), generator).requires_grad_(True)
    grad = _input_gradient(critic, x_hat, "the gradient penalty")
    norms = grad.flatten(start_dim=1).norm(2, dim=1)  # (B,) one norm per sample
    return ((norms - 1) ** 2).mean()


def clip_weights_(module: torch.nn.Module, c: float = 0.01) -> None:
    r"""Clip every parameter of the critic into :math:`[-c, c]`, in place (the original WGAN). Lecture 05."""
    if not c > 0:
        raise ValueError(f"the clipping bound c must be positive, got {c}.")
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)


# --------------------------------------------------------------------------------------------
# Hinge and least squares (lectures 05-06)
# --------------------------------------------------------------------------------------------


def d_loss_hinge(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    r"""The hinge loss of SN-GAN and BigGAN's discriminator.

    .. math:: L_D = \mathbb{E}[\max(0, 1 - s_r)] + \mathbb{E}[\max(0, 1 + s_f)]

    Lim & Ye 2017; Miyato et al. 2018 (arXiv:1802.05957), eq. 17. Lecture 06.
    """
    _check_pair(real_scores, fake_scores)
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def g_loss_hinge(fake_scores: torch.Tensor) -> torch.Tensor:
    r"""The generator's side of the hinge game, :math:`L_G = -\mathbb{E}[s_f]`. Lecture 06."""
    return -fake_scores.mean()


def d_loss_least_squares(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    r"""LSGAN's discriminator loss with targets 1 (real) and 0 (fake).

    .. math:: L_D = \tfrac12\mathbb{E}[(s_r - 1)^2] + \tfrac12\mathbb{E}[s_f^2]

    Mao et al. 2017, eq. 9 with a = 0, b = c = 1. Lecture 05.
    """
    _check_pair(real_scores, fake_scores)
    return 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (fake_scores**2).mean()


def g_loss_least_squares(fake_scores: torch.Tensor) -> torch.Tensor:
    r"""LSGAN's generator loss, :math:`L_G = \tfrac12\mathbb{E}[(s_f - 1)^2]`. Mao et al. 2017, eq. 9. Lecture 05."""
    return 0.5 * ((fake_scores - 1) ** 2).mean()


# --------------------------------------------------------------------------------------------
# R1 (lecture 06)
# --------------------------------------------------------------------------------------------


def r1_penalty(discriminator, real: torch.Tensor) -> torch.Tensor:
    r"""The zero-centred gradient penalty on real data (the caller multiplies by :math:`\gamma / 2`).

    .. math:: R_1 = \mathbb{E}_{x \sim p_\text{data}}\big[\lVert \nabla_x D(x) \rVert_2^2\big]

    Mescheder et al. 2018, eq. 9. Lecture 06.
    """
    x = real.detach().requires_grad_(True)
    grad = _input_gradient(discriminator, x, "R1")
    return grad.flatten(start_dim=1).pow(2).sum(dim=1).mean()


# --------------------------------------------------------------------------------------------
# Three stabilising tricks (lecture 11): label smoothing, the relativistic average loss, instance noise
# --------------------------------------------------------------------------------------------


def d_loss_smoothed(real_logits: torch.Tensor, fake_logits: torch.Tensor, smooth: float = 0.1) -> torch.Tensor:
    r"""The discriminator's cross-entropy with *one-sided* label smoothing: real targets :math:`1 - \alpha`.

    .. math:: L_D = -\mathbb{E}\big[(1-\alpha)\log\sigma(s_r) + \alpha\log\sigma(-s_r)\big] - \mathbb{E}[\log\sigma(-s_f)]

    Only the real side is smoothed: smoothing the fakes' target too would reward D for keeping
    some belief in fakes where there is no data, so the optimum would no longer push G towards the
    data (Salimans et al. 2016, arXiv:1606.03498, section 3.4). ``smooth`` :math:`\alpha` in [0, 1);
    0 is :func:`d_loss`. Lecture 11.
    """
    if not 0 <= smooth < 1:
        raise ValueError(f"smooth must be in [0, 1), got {smooth}; 0.1 is the usual choice.")
    _check_pair(real_logits, fake_logits)
    real_term = (1 - smooth) * F.logsigmoid(real_logits) + smooth * F.logsigmoid(-real_logits)
    return -real_term.mean() - F.logsigmoid(-fake_logits).mean()


def d_loss_relativistic(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The relativistic average discriminator's loss: is a real sample *more* real than the average fake?

    .. math:: L_D = -\mathbb{E}_x[\log\sigma(s_r - \bar s_f)] - \mathbb{E}_z[\log\sigma(-(s_f - \bar s_r))]

    with :math:`\bar s_f, \bar s_r` the batch means. Jolicoeur-Martineau 2018 (arXiv:1807.00734),
    eq. 11 (RaSGAN). Lecture 11.
    """
    _check_pair(real_logits, fake_logits)
    return (-F.logsigmoid(real_logits - fake_logits.mean()).mean()
            - F.logsigmoid(-(fake_logits - real_logits.mean())).mean())


def g_loss_relativistic(fake_logits: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    r"""The relativistic average generator's loss: the discriminator's with the roles swapped.

    .. math:: L_G = -\mathbb{E}_z[\log\sigma(s_f - \bar s_r)] - \mathbb{E}_x[\log\sigma(-(s_r - \bar s_f))]

    Unlike every other generator loss of the course it needs D's scores on *real* data too: the
    training loops pass them (see :data:`NEEDS_REAL_SCORES`). Jolicoeur-Martineau 2018, eq. 12.
    Lecture 11.
    """
    _check_pair(real_logits, fake_logits)
    return (-F.logsigmoid(fake_logits - real_logits.mean()).mean()
            - F.logsigmoid(-(real_logits - fake_logits.mean())).mean())


class InstanceNoise(torch.nn.Module):
    r"""A discriminator that sees its inputs through Gaussian noise: :math:`D(x + \sigma\epsilon)`, :math:`\epsilon \sim \mathcal N(0, I)`.

    Real and generated samples are blurred alike, so the two distributions overlap even when their
    supports do not, and D's gradient stays informative (Sønderby et al. 2016, arXiv:1610.04490;
    Arjovsky & Bottou 2017, arXiv:1701.04862). Noise is added in training mode only; ``sigma`` is a
    plain attribute, so a loop may anneal it. Wraps any D: (B, ...) -> scores. Lecture 11.
    """

    def __init__(self, inner: torch.nn.Module, sigma: float = 0.1):
        super().__init__()
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}.")
        self.inner, self.sigma = inner, float(sigma)

    def forward(self, x: torch.Tensor, *args) -> torch.Tensor:
        if self.training and self.sigma > 0:
            x = x + self.sigma * torch.randn_like(x)
        return self.inner(x, *args)


# --------------------------------------------------------------------------------------------
# Loss pairs by name, for the training loop
# --------------------------------------------------------------------------------------------

LOSS_PAIRS = {
    "nonsaturating": (d_loss, g_loss_nonsaturating),
    "saturating": (d_loss, g_loss_saturating),
    "wasserstein": (critic_loss, generator_wasserstein_loss),
    "hinge": (d_loss_hinge, g_loss_hinge),
    "least-squares": (d_loss_least_squares, g_loss_least_squares),
    "smoothed": (d_loss_smoothed, g_loss_nonsaturating),
    "relativistic": (d_loss_relativistic, g_loss_relativistic),
}

# Losses whose generator loss is called as ``g_loss_fn(fake_scores, real_scores)``.
NEEDS_REAL_SCORES = ("relativistic",)


def loss_pair(name: str):
    """``(d_loss_fn, g_loss_fn)`` for a loss by name; see :data:`LOSS_PAIRS`. Lecture 03."""
    try:
        return LOSS_PAIRS[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(map(repr, LOSS_PAIRS))}.") from None


# --------------------------------------------------------------------------------------------
# R3GAN (lecture 12): relativistic pairing with R1 and R2
# --------------------------------------------------------------------------------------------


def d_loss_relativistic_pairing(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The relativistic *pairing* discriminator loss of RpGAN and R3GAN: each real beats its own fake.

    .. math:: L_D = \mathbb{E}_{x, z}\big[f(s_f - s_r)\big] = -\mathbb{E}_{i}[\log\sigma(s_{r,i} - s_{f,i})],
              \qquad f(t) = \operatorname{softplus}(t) = \log(1 + e^{t})

    Sample ``i`` of the real batch is paired with sample ``i`` of the fake batch. This differs from
    :func:`d_loss_relativistic` (the relativistic *average* loss, which compares each score with the
    other batch's mean): the pairing makes every real point a witness against one fake point, which
    Huang et al. 2024 (R3GAN, arXiv:2501.05441), eq. 2 and section 2.1, show removes the mode-dropping
    optima of the classic loss. Jolicoeur-Martineau 2018 (arXiv:1807.00734), eq. 9 (RpGAN). Lecture 12.

    Args: ``real_logits`` and ``fake_logits`` of one shape, (B,) or (B, 1). Returns a scalar tensor.
    """
    if real_logits.shape != fake_logits.shape:
        raise ValueError(
            f"the pairing loss pairs real and fake scores one to one, but they differ in shape: got "
            f"{tuple(real_logits.shape)} and {tuple(fake_logits.shape)}. Score as many fakes as reals."
        )
    return F.softplus(fake_logits - real_logits).mean()  # = -log sigma(s_r - s_f)


def g_loss_relativistic_pairing(fake_logits: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    r"""The relativistic pairing generator loss: the discriminator's with the roles swapped.

    .. math:: L_G = \mathbb{E}_{x, z}\big[f(s_r - s_f)\big] = -\mathbb{E}_{i}[\log\sigma(s_{f,i} - s_{r,i})]

    Like :func:`g_loss_relativistic` it needs D's scores on real data (the loops pass them, see
    :data:`NEEDS_REAL_SCORES`). Huang et al. 2024 (arXiv:2501.05441), eq. 2. Lecture 12.
    """
    return d_loss_relativistic_pairing(fake_logits, real_logits)


def r2_penalty(discriminator, fake: torch.Tensor) -> torch.Tensor:
    r"""The zero-centred gradient penalty on *generated* data (the caller multiplies by :math:`\gamma / 2`).

    .. math:: R_2 = \mathbb{E}_{x \sim p_G}\big[\lVert \nabla_x D(x) \rVert_2^2\big]

    :func:`r1_penalty` at the fakes, detached from G (the penalty trains D only). R3GAN adds both:
    :math:`L_D + \tfrac{\gamma}{2}(R_1 + R_2)`, and proves local convergence for the pair
    (Huang et al. 2024, arXiv:2501.05441, section 2.2; Mescheder et al. 2018, arXiv:1801.04406, eq. 10).
    Lecture 12.

    Args: ``discriminator`` maps (B, ...) to (B,) or (B, 1); ``fake`` (B, ...). Returns a scalar tensor.
    """
    return r1_penalty(discriminator, fake)


LOSS_PAIRS["relativistic-pairing"] = (d_loss_relativistic_pairing, g_loss_relativistic_pairing)
NEEDS_REAL_SCORES = NEEDS_REAL_SCORES + ("relativistic-pairing",)
