r"""Spectral normalization from scratch: power iteration, the normalised layer, Lipschitz estimates.

A layer :math:`h \mapsto W h + b` changes distances by at most the largest singular value of its
weight, the spectral norm :math:`\sigma(W) = \max_{\lVert h \rVert = 1} \lVert W h \rVert_2`; a
1-Lipschitz activation (ReLU, LeakyReLU, tanh) never stretches them; so a feed-forward network is
Lipschitz with constant at most the product of its layers' spectral norms,

.. math:: \lVert f \rVert_\text{Lip} \le \prod_l \sigma(W_l).

Spectral normalization (Miyato, Kataoka, Koyama & Yoshida 2018, arXiv:1802.05957) divides each
weight of the discriminator by an estimate of its spectral norm, :math:`\bar W = W / \sigma(W)`,
so every layer, and hence the whole discriminator, is (about) 1-Lipschitz. The estimate comes from
one step of power iteration per training step, from a vector :math:`u` kept between steps
(Miyato et al. 2018, algorithm 1):

.. math:: v \leftarrow \frac{W^\top u}{\lVert W^\top u \rVert_2}, \qquad
          u \leftarrow \frac{W v}{\lVert W v \rVert_2}, \qquad
          \hat\sigma(W) = u^\top W v .

This module builds, in the order lecture 06 does: the power iteration (:func:`power_iteration`,
:func:`spectral_norm_estimate`), the normalised layer (:class:`SpectralNorm`, :func:`spectral_norm`,
with the call shape of ``torch.nn.utils.parametrizations.spectral_norm``), a discriminator made of
such layers (:func:`apply_spectral_norm`, :func:`sn_discriminator`), and the Lipschitz bound with
the measured gradient norms it bounds (:func:`lipschitz_upper_bound`, :func:`gradient_norms`).
Lecture 06; lecture 07 uses the normalised layers in its discriminators.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

# --------------------------------------------------------------------------------------------
# Power iteration
# --------------------------------------------------------------------------------------------


def _check_matrix(W: torch.Tensor) -> None:
    if not isinstance(W, torch.Tensor):
        raise TypeError(f"W must be a torch.Tensor, got {type(W).__name__}.")
    if W.ndim != 2:
        raise ValueError(
            f"W must be a matrix (out, in), got shape {tuple(W.shape)}. Reshape a convolution's weight "
            "(out, in, k, k) with W.flatten(1) first."
        )


def power_iteration(W: torch.Tensor, u: torch.Tensor, n_iter: int = 1, eps: float = 1e-12):
    r"""Run ``n_iter`` steps of power iteration on :math:`W W^\top` from ``u``; return :math:`(\hat\sigma, u, v)`.

    Each step is

    .. math:: v \leftarrow \frac{W^\top u}{\lVert W^\top u \rVert_2}, \qquad
              u \leftarrow \frac{W v}{\lVert W v \rVert_2},

    (Miyato et al. 2018, arXiv:1802.05957, algorithm 1). Then :math:`v` is taken once more from
    the final :math:`u`, and :math:`\hat\sigma = u^\top W v = \lVert W^\top u \rVert_2`, the
    order PyTorch's own parametrization uses, so the two agree step for step. :math:`\hat\sigma`
    never exceeds :math:`\sigma(W)` (a unit vector's image is at most that long) and approaches it
    at the rate :math:`(\sigma_2/\sigma_1)^{2}` per step. Normalising at every step keeps the
    vectors from overflowing or vanishing; ``eps`` guards the division.

    Args: ``W`` (m, n); ``u`` (m,), any non-zero start; ``n_iter`` >= 0.
    Returns: ``sigma`` (0-dim), ``u`` (m,), ``v`` (n,), unit vectors. Gradients flow to ``W``
    through ``sigma`` only (the vectors are computed without gradients, as in the paper).
    Lecture 06.
    """
    _check_matrix(W)
    if u.shape != (W.shape[0],):
        raise ValueError(f"u must have shape ({W.shape[0]},) to multiply W^T (W is {tuple(W.shape)}), got {tuple(u.shape)}.")
    if not isinstance(n_iter, int) or n_iter < 0:
        raise ValueError(f"n_iter must be a non-negative int, got {n_iter!r}.")
    with torch.no_grad():
        for _ in range(n_iter):
            v = F.normalize(W.T @ u, dim=0, eps=eps)  # (n,) right singular vector estimate
            u = F.normalize(W @ v, dim=0, eps=eps)  # (m,) left singular vector estimate
        v = F.normalize(W.T @ u, dim=0, eps=eps)  # (n,)
    sigma = u @ (W @ v)  # u^T W v, differentiable in W: d sigma / dW = u v^T
    return sigma, u, v


def spectral_norm_estimate(W: torch.Tensor, n_iter: int = 20, u: torch.Tensor | None = None,
                           generator: torch.Generator | None = None):
    r"""The spectral norm :math:`\sigma(W)` by power iteration, with the singular vectors.

    .. math:: \sigma(W) = \max_{\lVert h \rVert_2 = 1} \lVert W h \rVert_2 \approx u^\top W v

    A start ``u`` of None is drawn from :math:`\mathcal N(0, I)` (with ``generator``) and
    normalised. Matrices of any shape are accepted after ``W.flatten(1)``; compare with
    ``torch.linalg.matrix_norm(W, ord=2)``, the exact value from an SVD.

    Args: ``W`` (m, n); ``n_iter`` steps of :func:`power_iteration`; ``u`` (m,) or None.
    Returns: ``sigma`` (0-dim), ``u`` (m,), ``v`` (n,). Lecture 06.
    """
    _check_matrix(W)
    if u is None:
        u = F.normalize(torch.randn(W.shape[0], generator=generator, dtype=W.dtype).to(W.device), dim=0)
    return power_iteration(W, u, n_iter)


# --------------------------------------------------------------------------------------------
# The spectrally normalised layer
# --------------------------------------------------------------------------------------------


def weight_as_matrix(weight: torch.Tensor, dim: int = 0) -> torch.Tensor:
    r"""A weight tensor as the matrix spectral normalization uses: dimension ``dim`` first, the rest flattened.

    A Linear weight (out, in) stays as it is; a convolution's (out, in, k, k) becomes
    (out, in k k), one row per output channel (``dim=0``); a transposed convolution's
    (in, out, k, k) is read with ``dim=1`` as (out, in k k). Miyato et al. 2018, section 3.1.
    Lecture 06.
    """
    if weight.ndim < 2:
        raise ValueError(f"a weight matrix needs at least 2 dimensions, got shape {tuple(weight.shape)}.")
    if dim != 0:
        weight = weight.movedim(dim, 0)  # (weight.shape[dim], ...)
    return weight.flatten(1)  # (rows, everything else)


class SpectralNorm(nn.Module):
    r"""A parametrization :math:`W \mapsto W / \hat\sigma(W)` with a persistent vector :math:`u`.

    In training mode every evaluation (once per forward of the layer) runs
    ``n_power_iterations`` steps of :func:`power_iteration` from the stored :math:`u` and stores
    the new one; in evaluation mode :math:`u` stays as it is. The buffer ``u`` is initialised from
    :math:`\mathcal N(0, I)` and warmed up with 15 steps at construction, as PyTorch does. A 1-D
    weight is divided by its Euclidean norm (its exact spectral norm). ``sigma`` holds the last
    :math:`\hat\sigma` used, for plotting. Miyato et al. 2018 (arXiv:1802.05957), algorithm 1.
    Lecture 06.
    """

    def __init__(self, weight: torch.Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12):
        super().__init__()
        if not isinstance(n_power_iterations, int) or n_power_iterations < 1:
            raise ValueError(f"n_power_iterations must be a positive int, got {n_power_iterations!r}.")
        if not -weight.ndim <= dim < weight.ndim:
            raise ValueError(f"dim {dim} is out of range for a weight of shape {tuple(weight.shape)}.")
        self.n_power_iterations, self.dim, self.eps = n_power_iterations, dim % weight.ndim, eps
        self.register_buffer("sigma", torch.ones((), dtype=weight.dtype, device=weight.device))
        if weight.ndim > 1:
            W = weight_as_matrix(weight.detach(), self.dim)  # (m, n)
            u = F.normalize(torch.randn(W.shape[0], dtype=W.dtype, device=W.device), dim=0, eps=eps)
            _, u, _ = power_iteration(W, u, 15, eps)  # warm-up, so the first forward is already close
            self.register_buffer("u", u)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        W = weight_as_matrix(weight, self.dim)  # (m, n)
        sigma, u, _ = power_iteration(W, self.u, self.n_power_iterations if self.training else 0, self.eps)
        if self.training:
            with torch.no_grad():
                self.u.copy_(u)  # in place: the buffer stays the same tensor
                self.sigma.copy_(sigma)
        return weight / sigma

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        return value  # assigning a weight stores it as the unnormalised original


def spectral_norm(module: nn.Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> nn.Module:
    r"""Spectrally normalise ``module.<name>``: every read of it returns :math:`W / \hat\sigma(W)`.

    The same call as ``torch.nn.utils.parametrizations.spectral_norm``: the unnormalised weight
    lives in ``module.parametrizations.<name>.original``, the vector :math:`u` in
    ``module.parametrizations.<name>[0].u``, and :math:`u` takes ``n_power_iterations`` steps at
    each forward in training mode. ``dim`` (default 0, and 1 for transposed convolutions, whose
    weight is (in, out, k, k)) is the output dimension of the weight matrix (see
    :func:`weight_as_matrix`). Miyato et al. 2018 (arXiv:1802.05957).

    Returns the module (changed in place). Lecture 06.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, torch.Tensor):
        raise ValueError(f"{type(module).__name__} has no tensor called {name!r} to normalise.")
    if dim is None:
        dim = 1 if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) else 0
    parametrize.register_parametrization(module, name, SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


NORMALISABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)


def apply_spectral_norm(model: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Apply :func:`spectral_norm` to the weight of every Linear, convolution and embedding of ``model``.

    Returns the model (changed in place). Miyato et al. 2018 normalise every layer of the
    discriminator, including the projection's embedding (Miyato & Koyama 2018, arXiv:1802.05637).
    Lecture 06.
    """
    for module in list(model.modules()):
        if isinstance(module, NORMALISABLE) and not parametrize.is_parametrized(module, "weight"):
            spectral_norm(module, n_power_iterations=n_power_iterations)
    return model


def sn_discriminator(ndf: int = 64, channels: int = 1, img_size: int = 28) -> nn.Module:
    """The SN-GAN discriminator: the DCGAN discriminator without batch norm, every convolution normalised.

    Miyato et al. 2018 (arXiv:1802.05957), section 4 and table 3 (their "standard CNN" also drops
    batch norm from D). Weights start from the DCGAN initialisation. Lecture 06.
    """
    from gancourse.dcgan import Discriminator, weights_init

    D = Discriminator(ndf=ndf, channels=channels, img_size=img_size, norm="none")
    D.apply(weights_init)
    return apply_spectral_norm(D)


# --------------------------------------------------------------------------------------------
# Lipschitz constants: the bound and the measurement
# --------------------------------------------------------------------------------------------

# Parameter-free modules whose Lipschitz constant is at most 1 (sigmoid's is 1/4).
ONE_LIPSCHITZ = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity, nn.Flatten, nn.Unflatten, nn.ELU)
_CONVS = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)


def conv_overlap(module: nn.Module) -> int:
    r"""The factor :math:`\prod_d \lceil k_d / s_d \rceil` by which a convolution can exceed its matrix's norm.

    A convolution applies the matrix :math:`W` (out, in k k) to every patch of its input, and an
    input pixel lies in at most :math:`\lceil k/s \rceil` patches along each axis. Summing over
    patches, :math:`\lVert \mathrm{conv}(x) \rVert^2 \le \sigma(W)^2 \sum_\text{patches} \lVert x_p \rVert^2
    \le \sigma(W)^2 \prod_d \lceil k_d/s_d \rceil \, \lVert x \rVert^2`, so
    :math:`\lVert \mathrm{conv} \rVert_\text{Lip} \le \sqrt{\prod_d \lceil k_d/s_d \rceil}\;\sigma(W)`
    (returned here is the product, not its root). Padding only removes terms. The same holds for a
    transposed convolution, the adjoint of a convolution. See Tsuzuku, Sato & Sugiyama 2018
    (arXiv:1802.04034), proposition 2. Linear layers: 1. Lecture 06.
    """
    if isinstance(module, nn.Linear):
        return 1
    if not isinstance(module, _CONVS):
        raise TypeError(f"expected a Linear or convolution layer, got {type(module).__name__}.")
    if module.groups != 1 or any(d != 1 for d in module.dilation):
        raise ValueError(f"{module}: the overlap bound here covers groups=1 and dilation 1 only.")
    return math.prod(math.ceil(k / s) for k, s in zip(module.kernel_size, module.stride))


def layer_spectral_norms(model: nn.Module) -> list[dict]:
    r"""Each Linear and convolution layer of ``model``, with the spectral norm of the weight it uses.

    For a spectrally normalised layer the weight used is :math:`W/\hat\sigma`; it is read in
    evaluation mode, so reading it moves no :math:`u`. ``sigma`` is exact (an SVD,
    ``torch.linalg.matrix_norm(ord=2)``) on ``weight.flatten(1)``; ``lipschitz``
    multiplies it by :math:`\sqrt{\texttt{conv\_overlap}}`.

    Returns a list of dicts (``name``, ``type``, ``shape``, ``sigma``, ``lipschitz``), in the
    order of ``model.named_modules()``. Lecture 06.
    """
    was_training = model.training
    model.eval()
    rows = []
    try:
        with torch.no_grad():
            for name, module in model.named_modules():
                if isinstance(module, (nn.Linear,) + _CONVS):
                    # A convolution applies weight.flatten(1) to each patch; a transposed one is the
                    # adjoint of the convolution with the same weight, so the same matrix bounds it.
                    W = weight_as_matrix(module.weight, 0).double()  # (weight.shape[0], the rest)
                    sigma = float(torch.linalg.matrix_norm(W, ord=2))
                    rows.append({"name": name, "type": type(module).__name__, "shape": tuple(module.weight.shape),
                                 "sigma": sigma, "lipschitz": sigma * math.sqrt(conv_overlap(module))})
    finally:
        model.train(was_training)
    return rows


def lipschitz_upper_bound(model: nn.Module) -> float:
    r"""An upper bound on the Lipschitz constant of a feed-forward network: :math:`\prod_l \mathrm{Lip}(\text{layer}_l)`.

    .. math:: \lVert f \rVert_\text{Lip} \le \prod_l \sqrt{c_l}\,\sigma(W_l)

    with :math:`c_l` the :func:`conv_overlap` of a convolution (1 for a Linear layer). Valid for a
    chain of layers (every leaf module applied once, in order, as in ``nn.Sequential``) whose
    other modules are 1-Lipschitz activations or reshapes; any other leaf with parameters, such as
    batch norm (whose scale in training depends on the batch), raises ``ValueError``. Miyato et al.
    2018 (arXiv:1802.05957), eq. 7. Lecture 06.
    """
    allowed = (nn.Linear,) + _CONVS + ONE_LIPSCHITZ
    for name, module in model.named_modules():
        is_leaf = not any(True for _ in module.children())
        if isinstance(module, parametrize.ParametrizationList) or isinstance(module, SpectralNorm):
            continue
        if is_leaf and not isinstance(module, allowed):
            raise ValueError(
                f"cannot bound the Lipschitz constant of {name or 'the model'} ({type(module).__name__}); "
                f"the bound covers Linear and convolution layers and the activations {', '.join(t.__name__ for t in ONE_LIPSCHITZ)}. "
                "Remove batch norm (SN-GAN's discriminator has none) or bound that layer yourself."
            )
        if isinstance(module, nn.LeakyReLU) and abs(module.negative_slope) > 1:
            raise ValueError(f"LeakyReLU with slope {module.negative_slope} is not 1-Lipschitz.")
        if isinstance(module, nn.ELU) and module.alpha > 1:
            raise ValueError(f"ELU with alpha {module.alpha} is not 1-Lipschitz (its slope reaches alpha).")
    return math.prod(row["lipschitz"] for row in layer_spectral_norms(model))


def gradient_norms(model, x: torch.Tensor) -> torch.Tensor:
    r"""The norm of the input gradient of a scalar-output network at each point: :math:`\lVert \nabla_x f(x_i) \rVert_2`.

    Every such norm is a lower bound on the Lipschitz constant of :math:`f` (for differentiable
    :math:`f`, the constant is the supremum of these norms over all inputs), so the largest one is
    an empirical estimate from below, to hold against :func:`lipschitz_upper_bound`. The model is
    evaluated in evaluation mode (no power-iteration step, batch-independent outputs) and restored.

    Args: ``model`` maps (B, ...) to (B,) or (B, 1); ``x`` (B, ...).
    Returns: (B,) norms, detached. Lecture 06.
    """
    was_training = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    try:
        x = x.detach().clone().requires_grad_(True)
        out = model(x)
        if out.shape not in ((x.shape[0],), (x.shape[0], 1)):
            raise ValueError(f"the model must give one score per input, shape ({x.shape[0]},); got {tuple(out.shape)}.")
        (grad,) = torch.autograd.grad(out.sum(), x)  # each score depends on its own input only
    finally:
        if isinstance(model, nn.Module):
            model.train(was_training)
    return grad.flatten(start_dim=1).norm(dim=1)  # (B,)
