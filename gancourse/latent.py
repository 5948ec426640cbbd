r"""What the latent space holds: walking it (lerp, slerp), editing it (vector arithmetic, directions found
without labels), and finding a real image in it (projection into W).

Interpolation: linear in W, spherical in Z, where a Gaussian's mass sits near a sphere (White 2016,
arXiv:1609.04468):

.. math:: \operatorname{slerp}(a, b; t) = \frac{\sin((1-t)\Omega)}{\sin\Omega}\,a + \frac{\sin(t\Omega)}{\sin\Omega}\,b,
          \qquad \cos\Omega = \frac{a\cdot b}{\lVert a\rVert\,\lVert b\rVert}.

Directions: vector arithmetic (Radford et al. 2016, arXiv:1511.06434, section 6.3); SeFa, the closed
form :math:`n^* = \arg\max_{\lVert n\rVert = 1}\lVert A n\rVert^2`, i.e. the top eigenvectors of
:math:`A^\top A` for the first weight :math:`A` that reads the latent (Shen & Zhou 2021,
arXiv:2007.06600, eq. 5); GANSpace, the principal components of sampled :math:`w`
(Härkönen et al. 2020, arXiv:2004.02546). Projection: :math:`w^* = \arg\min_w \lVert g(w) - x\rVert^2`
by gradient descent from :math:`\bar w` (Karras et al. 2020, arXiv:1912.04958, section 5).
Lecture 11.
"""

from __future__ import annotations

import torch
from torch import nn


def lerp(a: torch.Tensor, b: torch.Tensor, t) -> torch.Tensor:
    r"""Linear interpolation :math:`a + t(b - a)`; ``a``, ``b`` (..., Z), ``t`` a number or (...,). Lecture 11."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    return a + t[..., None] * (b - a) if t.ndim else a + t * (b - a)


def slerp(a: torch.Tensor, b: torch.Tensor, t, eps: float = 1e-4) -> torch.Tensor:
    r"""Spherical interpolation (see the module docstring); ``a``, ``b`` (..., Z), ``t`` a number or (...,).

    The angle :math:`\Omega` comes from the *normalised* vectors, the weights multiply the vectors
    themselves (White 2016, arXiv:1609.04468, section 2.2), so unit vectors stay on the sphere.
    Nearly parallel (or antiparallel) pairs, :math:`\sin\Omega <` ``eps``, fall back to :func:`lerp`
    (the limit, and no division by zero). Lecture 11.
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    t = t[..., None] if t.ndim else t  # (...,) -> (..., 1)
    cos = (a * b).sum(-1, keepdim=True) / (a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True))
    omega = torch.acos(cos.clamp(-1.0, 1.0))  # (..., 1)
    sin = torch.sin(omega)
    near = sin < eps
    safe = torch.where(near, torch.ones_like(sin), sin)
    w_a = torch.where(near, 1 - t, torch.sin((1 - t) * omega) / safe)
    w_b = torch.where(near, t, torch.sin(t * omega) / safe)
    return w_a * a + w_b * b


def interpolation_path(a: torch.Tensor, b: torch.Tensor, steps: int = 9, mode: str = "lerp") -> torch.Tensor:
    """``steps`` points from ``a`` to ``b`` (Z,), evenly spaced in t: (steps, Z). ``mode`` "lerp" or "slerp". Lecture 11."""
    if mode not in ("lerp", "slerp"):
        raise ValueError(f"mode must be 'lerp' or 'slerp', got {mode!r}.")
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)  # (T,)
    fn = lerp if mode == "lerp" else slerp
    return fn(a.expand(steps, -1), b.expand(steps, -1), t)  # (T, Z)


def attribute_vector(w_with: torch.Tensor, w_without: torch.Tensor) -> torch.Tensor:
    r"""Vector arithmetic: :math:`\bar w_{with} - \bar w_{without}` (Z,) from two groups of latents (N, Z). Lecture 11."""
    return w_with.mean(dim=0) - w_without.mean(dim=0)


def edit(w: torch.Tensor, direction: torch.Tensor, alphas) -> torch.Tensor:
    r"""Walk along a direction: :math:`w + \alpha n` for each :math:`\alpha`; w (Z,), direction (Z,) -> (A, Z). Lecture 11."""
    alphas = torch.as_tensor(alphas, dtype=w.dtype, device=w.device)  # (A,)
    return w[None, :] + alphas[:, None] * direction[None, :]


def sefa(weight: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    r"""SeFa's closed form: the ``k`` unit directions :math:`n` that change :math:`A n` the most.

    .. math:: n_i = \text{the } i\text{-th eigenvector of } A^\top A \text{ (by decreasing eigenvalue)}

    ``weight`` :math:`A` (out, Z) is the first layer that reads the latent (several such layers are
    stacked row-wise). Shen & Zhou 2021 (arXiv:2007.06600), eq. 5. Returns (directions (k, Z),
    eigenvalues (k,)). Each direction's sign is arbitrary. Lecture 11.
    """
    if weight.ndim != 2:
        raise ValueError(f"weight must be a matrix (out, Z), got shape {tuple(weight.shape)}.")
    evals, evecs = torch.linalg.eigh(weight.double().T @ weight.double())  # ascending
    order = evals.argsort(descending=True)[:k]
    return evecs[:, order].T.to(weight.dtype), evals[order].to(weight.dtype)


def style_weight(G: nn.Module) -> torch.Tensor:
    """Every affine map of a :class:`gancourse.stylegan.StyleGenerator` that reads w, stacked (out, W), with each layer's run-time gain. Lecture 11."""
    from gancourse.stylegan import AdaIN

    rows = []
    for m in G.modules():
        if isinstance(m, AdaIN):
            for lin in (m.to_scale, m.to_bias):
                rows.append(lin.weight.detach() * lin.weight_gain)
    if not rows:
        raise ValueError(f"no AdaIN layer found in {type(G).__name__}; SeFa here reads a StyleGenerator's style maps.")
    return torch.cat(rows)  # (sum of 2 C_l, W)


@torch.no_grad()
def ganspace(w: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    r"""GANSpace: the top ``k`` principal directions of sampled latents ``w`` (N, W), and their variances.

    SVD of the centred samples, :math:`W - \bar w = U S V^\top`; directions are the rows of :math:`V^\top`,
    variances :math:`S^2 / (N - 1)`. Härkönen et al. 2020 (arXiv:2004.02546), section 2. Lecture 11.
    """
    centred = w - w.mean(dim=0)
    _, s, vt = torch.linalg.svd(centred, full_matrices=False)
    return vt[:k], (s[:k] ** 2) / (len(w) - 1)


def project(G: nn.Module, target: torch.Tensor, steps: int = 200, lr: float = 0.05, seed: int = 0,
            feature_fn=None) -> tuple[torch.Tensor, list]:
    r"""Project images into W: :math:`w^* = \arg\min_w \lVert g(w) - x\rVert^2` (+ a feature distance).

    Starts from ``G.w_avg`` (the mean latent), Adam on :math:`w` only, the noise fixed
    (``noise_mode="const"``). ``feature_fn`` (images -> features, differentiable) adds the squared
    feature distance, as the paper adds LPIPS. Karras et al. 2020 (arXiv:1912.04958), section 5
    (which also optimises the noise maps). target (B, C, H, W) -> (w (B, W), losses per step).
    Lecture 11.
    """
    was_training = G.training
    G.eval()
    w = G.w_avg.detach().clone()[None].repeat(len(target), 1).requires_grad_(True)  # (B, W)
    opt = torch.optim.Adam([w], lr=lr)
    losses = []
    try:
        for _ in range(steps):
            x = G.synthesize(G.broadcast(w), noise_mode="const")  # (B, C, H, W)
            loss = (x - target).pow(2).mean()
            if feature_fn is not None:
                loss = loss + (feature_fn(x) - feature_fn(target)).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    finally:
        G.train(was_training)
    return w.detach(), losses


@torch.no_grad()
def walks_in_w(G: nn.Module, n: int, steps: int = 9, seed: int = 0) -> torch.Tensor:
    r"""``n`` straight walks in W between random endpoints :math:`w_i = f(z_i)`, each ``steps`` images long.

    Walk :math:`k` is :math:`g(\operatorname{lerp}(f(z_{k,0}), f(z_{k,1}); t))` at ``steps`` evenly
    spaced :math:`t \in [0, 1]`, fixed noise; the latents come from ``seed``. ``G`` is a
    :class:`gancourse.stylegan.StyleGenerator`. Returns (n, steps, C, H, W). Lecture 11.
    """
    gen = torch.Generator().manual_seed(seed)
    z0, z1 = torch.randn(n, G.z_dim, generator=gen), torch.randn(n, G.z_dim, generator=gen)
    t = torch.linspace(0, 1, steps)  # (T,)
    was_training = G.training
    G.eval()
    try:
        device = G.w_avg.device
        w0, w1 = G.w_from_z(z0.to(device)), G.w_from_z(z1.to(device))  # (n, W) each
        w = lerp(w0[:, None, :], w1[:, None, :], t.to(device)[None, :].expand(n, -1))  # (n, T, W)
        images = G.synthesize(G.broadcast(w.flatten(0, 1)), noise_mode="const")  # (n T, C, H, W)
    finally:
        G.train(was_training)
    return images.view(n, steps, *images.shape[1:])


@torch.no_grad()
def direction_effects(G: nn.Module, directions: torch.Tensor, w: torch.Tensor, step: float, classify) -> dict:
    r"""What moving along each direction does to the images of ``w`` (N, W), judged by a classifier.

    Each unit direction :math:`n` (rows of ``directions``, (K, W)) is applied both ways,
    :math:`w \pm \text{step}\cdot n` (a direction's sign is arbitrary), fixed noise. Per direction,
    averaged over both signs and the N latents:

    - ``class_change``: the share of edited images that ``classify`` (images -> classes) reads as
      another class than the unedited image: the direction changes the digit's identity;
    - ``brightness``: :math:`|\overline{\Delta x}| / \overline{|\Delta x|}`, the image-mean change over
      the mean absolute change (1: every pixel moved the same way, a pure change of brightness or
      thickness; near 0: ink moved elsewhere);
    - ``pixel_change``: :math:`\overline{|\Delta x|}`.

    Returns lists of K floats. Lecture 11.
    """
    was_training = G.training
    G.eval()
    try:
        draw = lambda v: G.synthesize(G.broadcast(v), noise_mode="const")  # noqa: E731
        x0 = draw(w)  # (N, C, H, W)
        y0 = torch.as_tensor(classify(x0)).cpu()
        out = {"class_change": [], "brightness": [], "pixel_change": []}
        for n in directions / directions.norm(dim=1, keepdim=True):
            change, bright, size = 0.0, 0.0, 0.0
            for sign in (1.0, -1.0):
                x = draw(w + sign * step * n[None, :])
                dx = (x - x0).flatten(1)  # (N, C H W)
                change += float((torch.as_tensor(classify(x)).cpu() != y0).double().mean()) / 2
                bright += float((dx.mean(dim=1).abs() / dx.abs().mean(dim=1).clamp_min(1e-12)).mean()) / 2
                size += float(dx.abs().mean()) / 2
            out["class_change"].append(change)
            out["brightness"].append(bright)
            out["pixel_change"].append(size)
    finally:
        G.train(was_training)
    return out
