r"""StyleGAN from its parts: a mapping network, AdaIN, noise, style mixing and truncation.

A style-based generator does not feed the latent :math:`z` into its first layer. A *mapping network*
:math:`f` turns :math:`z \in \mathcal Z` into an intermediate latent :math:`w = f(z) \in \mathcal W`;
the image is grown by a *synthesis network* from a learned constant 4x4 input, and :math:`w` enters at
every layer through adaptive instance normalisation (AdaIN): a learned affine map :math:`A` turns
:math:`w` into a per-channel style :math:`(y_s, y_b)` that replaces the statistics of each feature map,

.. math:: \operatorname{AdaIN}(x_i, y) = y_{s,i}\,\frac{x_i - \mu(x_i)}{\sigma(x_i)} + y_{b,i},

with :math:`\mu, \sigma` taken over the spatial positions of channel :math:`i` of one sample.
Per-pixel Gaussian noise, scaled by a learned per-channel strength, adds stochastic detail.
Because each resolution reads its own copy of :math:`w`, two latents can be *mixed* (coarse
resolutions from one, fine from the other), and :math:`w` can be *truncated* towards the mean
:math:`\bar w` of the mapping network's outputs, :math:`w' = \bar w + \psi (w - \bar w)`, trading
diversity for fidelity.

Papers: Karras, Laine & Aila 2019, *A Style-Based Generator Architecture for GANs* (StyleGAN,
arXiv:1812.04948); Huang & Belongie 2017, AdaIN (arXiv:1703.06868); Karras et al. 2018, progressive
growing, equalised learning rate and pixel norm (arXiv:1710.10196); Karras et al. 2020, StyleGAN2's
modulated convolution (arXiv:1912.04958, the optional last section).

Names. The paper writes :math:`w` both for the intermediate latent and for convolution weights.
Here ``w`` (shape (B, W)) is always the latent and ``ws`` (B, L, W) one latent per synthesis block;
layer parameters are called ``weight`` and ``bias``; the style is ``scale`` (:math:`y_s`) and
``bias`` of :func:`adain` (:math:`y_b`). Shape letters as in :mod:`gancourse.data`, plus W (the size
of w) and L (the number of synthesis blocks).

Resolutions. A 28x28 generator runs 4 -> 7 -> 14 -> 28: each block resizes its input (bilinearly) to
the block's side, so the step 4 -> 7 is not an exact doubling; 32 runs 4 -> 8 -> 16 -> 32, and
any side is halved while it stays even and at least 8, with 4 in front. ``max_resolution`` stops the
blocks earlier and resizes the image at the end: the FAST model for the embedded digits (8x8 scans
shown at 28 pixels) synthesises 4 -> 7 -> 14 and is resized to 28, and its discriminator looks at 14.

Departures from the paper, for a CPU: fewer and narrower layers; one ``w`` per block rather than per
layer (style mixing crosses over between blocks); bilinear resizing instead of the blur filter; no
progressive growing; a small residual discriminator. Introduced in lecture 08; lectures 09 and 11
load the trained model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gancourse.collapse import MinibatchStdDev, mean_pairwise_distance
from gancourse.data import assert_shape
from gancourse.latent import slerp
from gancourse.metrics import precision_recall

NOISE_MODES = ("random", "const", "none")

# --------------------------------------------------------------------------------------------
# Layers with an equalised learning rate (Karras et al. 2018, section 4.1)
# --------------------------------------------------------------------------------------------


class EqualLinear(nn.Module):
    r"""A linear layer with an equalised learning rate: weights stored as :math:`\mathcal N(0, 1)`, scaled when used.

    .. math:: y = \big(c\,\texttt{weight}\big)\, x + \texttt{lr\_mul}\cdot\texttt{bias},
              \qquad c = \frac{\texttt{lr\_mul}}{\sqrt{\text{in\_features}}}

    Storing the weight at unit scale and multiplying by He's constant :math:`c` at run time makes
    Adam's steps equally large, relative to the weight, in every layer; ``lr_mul`` < 1 slows a
    layer down (the mapping network uses 0.01). Karras et al. 2018 (arXiv:1710.10196), section 4.1;
    Karras et al. 2019, appendix C. Shapes: (B, in) -> (B, out). Lecture 08.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul)) if bias else None
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.weight * self.weight_gain, bias)


class EqualConv2d(nn.Module):
    r"""A same-padded convolution with an equalised learning rate, :math:`c = 1/\sqrt{C_\text{in} k^2}`.

    ``weight`` (C_out, C_in, k, k) is stored as :math:`\mathcal N(0, 1)` and multiplied by :math:`c`
    when used (see :class:`EqualLinear`). Shapes: (B, C_in, H, W) -> (B, C_out, H, W). Lecture 08.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    r"""LeakyReLU with slope 0.2, times :math:`\sqrt 2` so that unit-variance inputs keep about unit variance.

    (StyleGAN's ``lrelu`` with gain :math:`\sqrt 2`, He et al. 2015, arXiv:1502.01852.) Lecture 08.
    """
    return F.leaky_relu(x, 0.2) * math.sqrt(2.0)


# --------------------------------------------------------------------------------------------
# From z to w: the mapping network
# --------------------------------------------------------------------------------------------


def pixel_norm(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    r"""Scale each latent vector to unit root-mean-square: :math:`z / \sqrt{\tfrac1Z \sum_j z_j^2 + \epsilon}`.

    Puts every :math:`z` on the sphere of radius :math:`\sqrt Z`, so only its direction reaches the
    mapping network. Karras et al. 2018 (arXiv:1710.10196), section 4.2, eq. 1. Shapes: (B, Z) -> (B, Z).
    Lecture 08.
    """
    if z.ndim != 2:
        raise ValueError(f"z must have shape (B, Z), got {tuple(z.shape)}; flatten it with z.view(len(z), -1).")
    return z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + eps)


class MappingNetwork(nn.Module):
    r"""The mapping network :math:`f: \mathcal Z \to \mathcal W`: pixel norm, then ``n_layers`` fully connected layers.

    .. math:: h_0 = \operatorname{pixelnorm}(z), \qquad h_{k+1} = \sqrt2\,\operatorname{lrelu}_{0.2}(A_k h_k + b_k),
              \qquad w = h_{n}

    with :class:`EqualLinear` layers at learning-rate multiplier ``lr_mul`` (0.01 in the paper).
    Karras et al. 2019 (arXiv:1812.04948), section 2 and figure 1b (8 layers of 512).

    Args: ``z_dim`` Z; ``w_dim`` W; ``n_layers`` (8 in the paper); ``hidden_dim`` (default W).
    Shapes: z (B, Z) -> w (B, W). Lecture 08.
    """

    def __init__(self, z_dim: int, w_dim: int, n_layers: int = 8, hidden_dim: int | None = None,
                 lr_mul: float = 0.01):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"the mapping network needs at least one layer, got n_layers={n_layers}.")
        hidden_dim = hidden_dim or w_dim
        dims = [z_dim] + [hidden_dim] * (n_layers - 1) + [w_dim]
        self.z_dim, self.w_dim = z_dim, w_dim
        self.layers = nn.ModuleList(EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul) for i in range(n_layers))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        assert_shape(z, (None, self.z_dim), "z")
        h = pixel_norm(z)
        for layer in self.layers:
            h = lrelu(layer(h))
        return h  # (B, W)


def truncate(w: torch.Tensor, w_avg: torch.Tensor, psi: float) -> torch.Tensor:
    r"""The truncation trick in :math:`\mathcal W`: :math:`w' = \bar w + \psi\,(w - \bar w)`.

    :math:`\psi = 1` leaves :math:`w` alone, :math:`\psi = 0` sends every latent to the mean
    :math:`\bar w`. Karras et al. 2019 (arXiv:1812.04948), section 3.1, eq. 2 (after Brock et al.
    2019's truncation in :math:`\mathcal Z`, arXiv:1809.11096). Shapes: w (B, ..., W), w_avg (W,).
    Lecture 08.
    """
    return w_avg + psi * (w - w_avg)


# --------------------------------------------------------------------------------------------
# Where w enters: AdaIN, and noise for stochastic detail
# --------------------------------------------------------------------------------------------


def adain(x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    r"""Adaptive instance normalisation: give each channel of each sample the mean ``bias`` and the std ``scale``.

    .. math:: \operatorname{AdaIN}(x_i, y) = y_{s,i}\,\frac{x_i - \mu(x_i)}{\sqrt{\sigma^2(x_i) + \epsilon}} + y_{b,i}

    where :math:`\mu(x_i)` and :math:`\sigma^2(x_i)` are the mean and the (biased) variance of channel
    :math:`i` of one sample over its H x W positions. The output's channel has mean :math:`y_{b,i}` and
    std :math:`|y_{s,i}|\,\sigma/\sqrt{\sigma^2 + \epsilon}` (:math:`\approx |y_{s,i}|` unless the channel
    is nearly constant). Huang & Belongie 2017 (arXiv:1703.06868), eq. 8; Karras et al. 2019, eq. 1.

    Args: ``x`` (B, C, H, W); ``scale`` :math:`y_s` and ``bias`` :math:`y_b`, each (B, C).
    Returns: (B, C, H, W). Lecture 08.
    """
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of feature maps (B, C, H, W), got shape {tuple(x.shape)}.")
    assert_shape(scale, (x.shape[0], x.shape[1]), "scale")
    assert_shape(bias, (x.shape[0], x.shape[1]), "bias")
    mu = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
    var = x.var(dim=(2, 3), unbiased=False, keepdim=True)  # (B, C, 1, 1)
    x_norm = (x - mu) * torch.rsqrt(var + eps)
    return scale[:, :, None, None] * x_norm + bias[:, :, None, None]  # (B, C) -> (B, C, 1, 1)


class AdaIN(nn.Module):
    r"""AdaIN with its learned affine map :math:`A`: :math:`(y_s, y_b) = A(w)`, then :func:`adain`.

    ``to_scale`` starts with bias 1 and ``to_bias`` with bias 0, so that an untrained style is close
    to the identity normalisation. Karras et al. 2019, figure 1b ("A"). Shapes: x (B, C, H, W),
    w (B, W) -> (B, C, H, W). Lecture 08.
    """

    def __init__(self, channels: int, w_dim: int):
        super().__init__()
        self.to_scale = EqualLinear(w_dim, channels, bias_init=1.0)
        self.to_bias = EqualLinear(w_dim, channels, bias_init=0.0)

    def style(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The style :math:`(y_s, y_b)` of ``w``, each (B, C)."""
        return self.to_scale(w), self.to_bias(w)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, bias = self.style(w)
        return adain(x, scale, bias)


class NoiseInjection(nn.Module):
    r"""Add per-pixel noise with a learned per-channel strength: :math:`x + \texttt{strength}_c \cdot n`.

    One noise image :math:`n \sim \mathcal N(0, 1)` (B, 1, H, W) is shared by all channels and scaled
    per channel (``strength``, (C,), zero at initialisation as in the paper). Karras et al. 2019,
    section 3.2 and figure 1b ("B"). Lecture 08.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        assert_shape(noise, (x.shape[0], 1, x.shape[2], x.shape[3]), "noise")
        return x + self.strength[None, :, None, None] * noise  # (C,) -> (1, C, 1, 1)


# --------------------------------------------------------------------------------------------
# The synthesis network
# --------------------------------------------------------------------------------------------


def resolutions(img_size: int) -> list[int]:
    """The side of each synthesis block, from 4 up to ``img_size``: 28 -> [4, 7, 14, 28], 32 -> [4, 8, 16, 32].

    The image side is halved while it stays even and at least 8; a 4 goes in front. Lecture 08.
    """
    if not isinstance(img_size, int) or img_size < 4:
        raise ValueError(f"img_size must be an int of at least 4 pixels, got {img_size!r}.")
    sides = [img_size]
    while sides[0] % 2 == 0 and sides[0] // 2 >= 4:
        sides.insert(0, sides[0] // 2)
    if sides[0] != 4:
        sides.insert(0, 4)
    return sides


def _max_resolution(img_size: int, max_resolution: int | None) -> int:
    if max_resolution is None:
        return img_size
    if not isinstance(max_resolution, int) or not 4 <= max_resolution <= img_size:
        raise ValueError(f"max_resolution must be an int between 4 and img_size ({img_size}), got {max_resolution!r}.")
    return max_resolution


class StyleLayer(nn.Module):
    r"""One styled layer: (convolution), noise, activation, AdaIN.

    .. math:: x \leftarrow \operatorname{AdaIN}\big(\sqrt2\,\operatorname{lrelu}(\operatorname{conv}(x) + \texttt{strength}\cdot n),\ A(w)\big)

    ``in_channels=None`` makes the layer without convolution that follows the learned constant.
    Karras et al. 2019, figure 1b. Lecture 08.
    """

    def __init__(self, in_channels: int | None, out_channels: int, w_dim: int):
        super().__init__()
        self.conv = EqualConv2d(in_channels, out_channels, 3) if in_channels is not None else None
        self.noise = NoiseInjection(out_channels)
        self.adain = AdaIN(out_channels, w_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x)
        return self.adain(lrelu(self.noise(x, noise)), w)


class SynthesisBlock(nn.Module):
    """One resolution: resize to ``size`` (or, in the first block, start from the learned 4x4 constant), two styled layers.

    Both layers read the same ``w``. Shapes: (B, C_in, h, h) -> (B, C_out, size, size). Lecture 08.
    """

    def __init__(self, in_channels: int | None, out_channels: int, w_dim: int, size: int):
        super().__init__()
        self.size, self.out_channels = size, out_channels
        if in_channels is None:  # the first block: a learned constant input
            self.const = nn.Parameter(torch.randn(1, out_channels, size, size))
            self.layers = nn.ModuleList([StyleLayer(None, out_channels, w_dim), StyleLayer(out_channels, out_channels, w_dim)])
        else:
            self.const = None
            self.layers = nn.ModuleList([StyleLayer(in_channels, out_channels, w_dim),
                                         StyleLayer(out_channels, out_channels, w_dim)])

    def forward(self, x: torch.Tensor | None, w: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        if self.const is not None:
            x = self.const.expand(len(w), -1, -1, -1)  # (1, C, 4, 4) -> (B, C, 4, 4)
        else:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)  # (B, C_in, size, size)
        for layer, n in zip(self.layers, noise):
            x = layer(x, w, n)
        return x


class StyleGenerator(nn.Module):
    r"""A small style-based generator: z (B, Z) -> images (B, C, H, W).

    .. math:: w = f(z), \quad w' = \bar w + \psi(w - \bar w), \quad x = g(\text{const};\ w'_1, \dots, w'_L;\ \text{noise})

    The mapping network :math:`f` (:class:`MappingNetwork`), then :math:`L` synthesis blocks at the
    sides of :func:`resolutions` (28: 4 -> 7 -> 14 -> 28), each reading its own copy
    :math:`w'_l` of the latent, and a 1x1 convolution to ``channels`` (no output nonlinearity, as in
    the paper). Channels: ``width`` at the last block, doubled per block towards 4x4 and capped at
    ``max_width`` (e.g. width 16: 64, 64, 32, 16 for 4, 7, 14, 28). With ``max_resolution`` below
    ``img_size`` the blocks stop at that side (14: 4 -> 7 -> 14) and the image is resized bilinearly
    to ``img_size`` at the end: for data with no detail finer than that, a much cheaper network.

    Training (``G.train()``): each call updates the tracked mean :math:`\bar w` (``w_avg``, an
    exponential moving average of the batch means of :math:`w` with decay ``w_avg_beta``) and, with
    probability ``mixing_prob`` per sample, mixes two latents at a random block (the paper's mixing
    regularisation, section 3.1). Evaluation (``G.eval()``) does neither.

    ``forward(z, truncation_psi=1.0, noise_mode="random", z2=None, crossover=None,
    truncation_cutoff=None, noise=None)``:

    - ``truncation_psi``: :math:`\psi` of :func:`truncate`, around the tracked ``w_avg``;
      ``truncation_cutoff`` truncates only blocks before it (the paper truncates the coarse ones);
    - ``z2`` and ``crossover``: style mixing: blocks ``0 .. crossover-1`` read :math:`w(z)`, blocks
      ``crossover ..`` read :math:`w(z_2)` (``crossover=0`` gives :math:`z_2`'s image,
      ``crossover=L`` gives :math:`z`'s); an int, or a (B,) tensor of ints;
    - ``noise_mode``: ``"random"`` (fresh noise on every call), ``"const"`` (the fixed noise images
      stored in the buffers ``noise_const_*``, the same on every call) or ``"none"``; ``noise``, a
      list of one (B, 1, H, W) tensor per layer, overrides it.

    Karras et al. 2019 (arXiv:1812.04948), figure 1b. Lecture 08.
    """

    def __init__(self, z_dim: int = 64, w_dim: int = 64, img_size: int = 28, channels: int = 1,
                 width: int = 16, max_width: int = 64, mapping_layers: int = 8, mapping_lr_mul: float = 0.01,
                 mixing_prob: float = 0.9, w_avg_beta: float = 0.995, noise_seed: int = 0,
                 max_resolution: int | None = None):
        super().__init__()
        self.config = {"z_dim": z_dim, "w_dim": w_dim, "img_size": img_size, "channels": channels, "width": width,
                       "max_width": max_width, "mapping_layers": mapping_layers, "mapping_lr_mul": mapping_lr_mul,
                       "mixing_prob": mixing_prob, "w_avg_beta": w_avg_beta, "noise_seed": noise_seed,
                       "max_resolution": max_resolution}  # the constructor's arguments, for untrained_like
        self.z_dim, self.w_dim, self.img_size, self.channels = z_dim, w_dim, img_size, channels
        self.mixing_prob, self.w_avg_beta = mixing_prob, w_avg_beta
        self.sides = resolutions(_max_resolution(img_size, max_resolution))
        n = len(self.sides)
        widths = [min(width * 2 ** (n - 1 - i), max_width) for i in range(n)]  # e.g. 64, 64, 32, 16
        self.widths = widths
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, lr_mul=mapping_lr_mul)
        self.blocks = nn.ModuleList(
            SynthesisBlock(None if i == 0 else widths[i - 1], widths[i], w_dim, side)
            for i, side in enumerate(self.sides))
        self.to_image = EqualConv2d(widths[-1], channels, 1)
        self.register_buffer("w_avg", torch.zeros(w_dim))
        gen = torch.Generator().manual_seed(noise_seed)  # the fixed noise does not move torch's stream
        for k, side in enumerate(s for s in self.sides for _ in range(2)):  # two layers per block
            self.register_buffer(f"noise_const_{k}", torch.randn(1, 1, side, side, generator=gen))

    @property
    def num_blocks(self) -> int:
        """L, the number of synthesis blocks (and of copies of w)."""
        return len(self.blocks)

    @property
    def num_layers(self) -> int:
        """The number of styled layers (two per block), each with its own noise input."""
        return 2 * len(self.blocks)

    # ---- z -> w -> ws
    def w_from_z(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        r"""The intermediate latent :math:`w = f(z)` (B, W), truncated towards ``w_avg`` when :math:`\psi \ne 1`.

        In training mode it also moves ``w_avg`` towards the batch mean of :math:`f(z)`.
        """
        w = self.mapping(z)  # (B, W)
        if self.training:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().mean(dim=0), 1.0 - self.w_avg_beta)
        if truncation_psi != 1.0:
            w = truncate(w, self.w_avg, truncation_psi)
        return w

    @torch.no_grad()
    def estimate_w_avg(self, n: int = 10_000, seed: int = 0) -> torch.Tensor:
        r"""A fresh estimate of :math:`\bar w = \mathbb E_z[f(z)]` from ``n`` latents (W,); ``w_avg`` is not changed."""
        z = torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed)).to(self.w_avg.device)
        return self.mapping(z).mean(dim=0)

    def broadcast(self, w: torch.Tensor, w2: torch.Tensor | None = None, crossover=None) -> torch.Tensor:
        """One copy of w per block (B, L, W); with ``w2``, blocks from ``crossover`` on read ``w2`` (style mixing)."""
        ws = w[:, None, :].expand(-1, self.num_blocks, -1)  # (B, W) -> (B, L, W)
        if w2 is None:
            return ws
        if crossover is None:
            raise ValueError("style mixing needs a crossover block: pass crossover=k with 0 <= k <= "
                             f"{self.num_blocks} (blocks before k read z, blocks from k on read z2).")
        cut = torch.as_tensor(crossover, device=w.device).reshape(-1, 1)  # (B or 1, 1)
        if ((cut < 0) | (cut > self.num_blocks)).any():
            raise ValueError(f"crossover must lie in 0..{self.num_blocks} (the number of blocks), got {crossover!r}.")
        block = torch.arange(self.num_blocks, device=w.device)[None, :]  # (1, L)
        use_w2 = (block >= cut)[:, :, None]  # (B or 1, L, 1)
        return torch.where(use_w2, w2[:, None, :], ws)  # (B, L, W)

    # ---- noise
    def make_noise(self, batch_size: int, mode: str = "random") -> list[torch.Tensor]:
        """One noise image (B, 1, side, side) per styled layer, for ``mode`` in ``"random"``, ``"const"``, ``"none"``."""
        if mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {mode!r}.")
        consts = [getattr(self, f"noise_const_{k}") for k in range(self.num_layers)]
        if mode == "const":
            return [c.expand(batch_size, -1, -1, -1) for c in consts]
        if mode == "none":
            return [torch.zeros_like(c).expand(batch_size, -1, -1, -1) for c in consts]
        return [torch.randn(batch_size, 1, c.shape[-2], c.shape[-1], device=c.device) for c in consts]

    # ---- ws -> image
    def synthesize(self, ws: torch.Tensor, noise_mode: str = "random", noise: list | None = None) -> torch.Tensor:
        """The synthesis network g: ws (B, L, W) -> images (B, C, H, W)."""
        assert_shape(ws, (None, self.num_blocks, self.w_dim), "ws")
        if noise is None:
            noise = self.make_noise(len(ws), noise_mode)
        if len(noise) != self.num_layers:
            raise ValueError(f"noise must hold one tensor per styled layer ({self.num_layers}), got {len(noise)}.")
        x = None
        for i, block in enumerate(self.blocks):
            x = block(x, ws[:, i], noise[2 * i: 2 * i + 2])  # (B, C_i, side_i, side_i)
        x = self.to_image(x)  # (B, C, side, side)
        if self.sides[-1] != self.img_size:
            x = F.interpolate(x, size=(self.img_size, self.img_size), mode="bilinear", align_corners=False)
        return x  # (B, C, H, W)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "random",
                z2: torch.Tensor | None = None, crossover=None, truncation_cutoff: int | None = None,
                noise: list | None = None) -> torch.Tensor:
        assert_shape(z, (None, self.z_dim), "z")
        w = self.w_from_z(z)
        if z2 is None and self.training and self.mixing_prob > 0:  # mixing regularisation
            z2 = torch.randn_like(z)
            mixed = torch.rand(len(z), device=z.device) < self.mixing_prob
            cut = torch.randint(1, self.num_blocks, (len(z),), device=z.device)
            crossover = torch.where(mixed, cut, torch.full_like(cut, self.num_blocks))  # L: no mixing
        w2 = self.w_from_z(z2) if z2 is not None else None
        ws = self.broadcast(w, w2, crossover)  # (B, L, W)
        if truncation_psi != 1.0:
            cutoff = self.num_blocks if truncation_cutoff is None else truncation_cutoff
            ws = torch.cat([truncate(ws[:, :cutoff], self.w_avg, truncation_psi), ws[:, cutoff:]], dim=1)
        return self.synthesize(ws, noise_mode, noise)

    def mix(self, z: torch.Tensor, z2: torch.Tensor, crossover, noise_mode: str = "const", **kwargs) -> torch.Tensor:
        """Style mixing: blocks before ``crossover`` from ``z``, the others from ``z2`` (fixed noise by default)."""
        return self.forward(z, z2=z2, crossover=crossover, noise_mode=noise_mode, **kwargs)


# --------------------------------------------------------------------------------------------
# A discriminator for it
# --------------------------------------------------------------------------------------------


class DiscriminatorBlock(nn.Module):
    r"""A residual block that shrinks the side: :math:`(\text{main}(x) + \text{skip}(x)) / \sqrt 2`.

    main: conv 3x3, lrelu, conv 3x3, lrelu, resize to ``size``; skip: resize, 1x1 conv (no bias).
    StyleGAN2's residual discriminator (Karras et al. 2020, arXiv:1912.04958, figure 7c). Lecture 08.
    """

    def __init__(self, in_channels: int, out_channels: int, size: int):
        super().__init__()
        self.size = size
        self.conv1 = EqualConv2d(in_channels, in_channels, 3)
        self.conv2 = EqualConv2d(in_channels, out_channels, 3)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False)

    def _down(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x, self.size)  # (B, C, h, h) -> (B, C, size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self._down(lrelu(self.conv2(lrelu(self.conv1(x)))))
        return (main + self.skip(self._down(x))) / math.sqrt(2.0)


class StyleDiscriminator(nn.Module):
    r"""A small residual discriminator for :class:`StyleGenerator`: images (B, C, H, W) -> logits (B,).

    A 1x1 convolution from the image, residual blocks down the generator's sides in reverse
    (28 -> 14 -> 7 -> 4), then at 4x4 the minibatch standard deviation (lecture 04's
    :class:`~gancourse.collapse.MinibatchStdDev`, groups of ``mbstd_group`` samples, which must divide
    the batch), a 3x3 convolution and two fully connected layers. No normalisation layers, so it
    pairs with the R1 penalty (the StyleGAN recipe: non-saturating loss, :math:`\gamma/2 \cdot R_1`).
    Karras et al. 2019, appendix C; Karras et al. 2020, figure 7c. With ``max_resolution`` below
    ``img_size`` the images are first resized (bilinearly, antialiased) to that side. Lecture 08.
    """

    def __init__(self, img_size: int = 28, channels: int = 1, width: int = 16, max_width: int = 64,
                 mbstd_group: int = 4, max_resolution: int | None = None):
        super().__init__()
        self.img_size, self.channels = img_size, channels
        sides = resolutions(_max_resolution(img_size, max_resolution))[::-1]  # e.g. 28, 14, 7, 4
        self.input_size = sides[0]
        widths = [min(width * 2**i, max_width) for i in range(len(sides))]  # e.g. 16, 32, 64, 64
        self.from_image = EqualConv2d(channels, widths[0], 1)
        self.blocks = nn.ModuleList(DiscriminatorBlock(widths[i], widths[i + 1], sides[i + 1])
                                    for i in range(len(sides) - 1))
        top = widths[-1]
        self.mbstd = MinibatchStdDev(mbstd_group)  # no parameters: the state dict's keys are the same without it
        self.conv = EqualConv2d(top + 1, top, 3)
        self.fc = EqualLinear(top * 16, top)
        self.out = EqualLinear(top, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, (None, self.channels, self.img_size, self.img_size), "x")
        if self.input_size != self.img_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False,
                              antialias=True)  # (B, C, side, side)
        h = lrelu(self.from_image(x))
        for block in self.blocks:
            h = block(h)  # down to (B, top, 4, 4)
        h = lrelu(self.conv(self.mbstd(h)))  # (B, top + 1, 4, 4) -> (B, top, 4, 4)
        h = lrelu(self.fc(h.flatten(start_dim=1)))  # (B, top * 16) -> (B, top)
        return self.out(h).view(-1)  # (B, 1) -> (B,)


def build_stylegan(z_dim: int = 64, w_dim: int = 64, img_size: int = 28, channels: int = 1, width: int = 16,
                   max_width: int = 64, mapping_layers: int = 8, d_width: int | None = None,
                   mixing_prob: float = 0.9, max_resolution: int | None = None) -> tuple[StyleGenerator, StyleDiscriminator]:
    """A :class:`StyleGenerator` and a :class:`StyleDiscriminator` of matching sizes and resolutions. Lecture 08."""
    G = StyleGenerator(z_dim=z_dim, w_dim=w_dim, img_size=img_size, channels=channels, width=width,
                       max_width=max_width, mapping_layers=mapping_layers, mixing_prob=mixing_prob,
                       max_resolution=max_resolution)
    D = StyleDiscriminator(img_size=img_size, channels=channels, width=d_width or width, max_width=max_width,
                           max_resolution=max_resolution)
    return G, D


# --------------------------------------------------------------------------------------------
# Measuring the latent spaces: a perceptual-path-length-like smoothness number
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def path_length(G: StyleGenerator, feature_fn, space: str = "w", n: int = 256, eps: float = 1e-2,
                seed: int = 0, trim: float = 0.01, batch_size: int = 128) -> float:
    r"""A perceptual-path-length-like number: how much the image's features move per small step of the latent.

    .. math:: \ell = \mathbb E\Big[\tfrac{1}{\epsilon^2}\,\big\lVert \phi(g(\operatorname{lerp}(w_1, w_2; t)))
              - \phi(g(\operatorname{lerp}(w_1, w_2; t + \epsilon)))\big\rVert^2\Big], \qquad t \sim U(0, 1)

    in :math:`\mathcal W` (``space="w"``, :math:`w_i = f(z_i)`, linear interpolation), or in
    :math:`\mathcal Z` (``space="z"``, :func:`gancourse.latent.slerp` between :math:`z_1, z_2` scaled to
    unit length, as the paper's code does: the generator pixel-normalises :math:`z`, so only its
    direction matters, and on the unit sphere slerp moves at the constant angular speed :math:`\Omega`;
    then :math:`f`).
    :math:`\phi` is ``feature_fn`` (images (B, C, H, W) -> features (B, F)); the paper uses the LPIPS
    distance of VGG features, the course uses its classifier's features. The noise is fixed
    (``noise_mode="const"``), so only the latent moves. As in the paper, the lowest and highest
    ``trim`` fraction of the :math:`n` samples are dropped before averaging. A smaller number means
    a smoother, less entangled path. Karras et al. 2019 (arXiv:1812.04948), section 4.1, eqs. 3-4.
    Lecture 08.
    """
    if space not in ("w", "z"):
        raise ValueError(f"space must be 'w' or 'z', got {space!r}.")
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(n, G.z_dim, generator=g), torch.randn(n, G.z_dim, generator=g)
    t = torch.rand(n, generator=g)
    device = G.w_avg.device
    was_training = G.training
    G.eval()  # no w_avg update, no mixing regularisation
    try:
        d = _path_distances(G, feature_fn, space, z1, z2, t, eps, device, batch_size)
    finally:
        G.train(was_training)
    lo, hi = torch.quantile(d, trim), torch.quantile(d, 1 - trim)
    kept = d[(d >= lo) & (d <= hi)]
    return float(kept.mean())


def _path_distances(G, feature_fn, space, z1, z2, t, eps, device, batch_size) -> torch.Tensor:
    """The per-pair squared feature distances divided by eps^2 (n,), float64."""
    n = len(z1)
    dists = []
    for i in range(0, n, batch_size):
        sl = slice(i, i + batch_size)
        a, b, ti = z1[sl].to(device), z2[sl].to(device), t[sl].to(device)
        if space == "z":
            a, b = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)  # (b, Z) on the unit sphere
            w_t = G.w_from_z(slerp(a, b, ti))
            w_te = G.w_from_z(slerp(a, b, ti + eps))
        else:
            wa, wb = G.w_from_z(a), G.w_from_z(b)
            w_t, w_te = torch.lerp(wa, wb, ti[:, None]), torch.lerp(wa, wb, ti[:, None] + eps)
        images = G.synthesize(G.broadcast(torch.cat([w_t, w_te])), noise_mode="const")  # (2b, C, H, W)
        f = torch.as_tensor(feature_fn(images)).float().cpu()
        f_t, f_te = f.chunk(2)  # (b, F) each
        dists.append((f_t - f_te).pow(2).sum(dim=1) / eps**2)
    return torch.cat(dists).double()


# --------------------------------------------------------------------------------------------
# Measuring the truncation trick: fidelity (precision) against diversity
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def truncation_tradeoff(G: StyleGenerator, feature_fn, real_features: torch.Tensor, psis, n: int = 256,
                        seed: int = 0, k: int = 3) -> dict:
    r"""Fidelity and diversity of ``n`` samples at each truncation :math:`\psi` in ``psis``, the same latents throughout.

    Fidelity: the k-NN precision of the samples' features against ``real_features``
    (:func:`gancourse.metrics.precision_recall`, Kynkäänniemi et al. 2019, arXiv:1904.06991: the share
    of samples inside the ball around some real feature that reaches its k-th nearest real neighbour);
    diversity: :func:`gancourse.collapse.mean_pairwise_distance` of their features. ``feature_fn`` maps images (B, C, H, W) to
    features (B, F) (the course classifier's ``features``). Fixed noise, evaluation mode.
    Returns ``{"psi": [...], "precision": [...], "diversity": [...]}``. Lecture 08.
    """
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(G.w_avg.device)
    out = {"psi": [], "precision": [], "diversity": []}
    was_training = G.training
    G.eval()
    try:
        for psi in psis:
            f = torch.as_tensor(feature_fn(G(z, truncation_psi=psi, noise_mode="const"))).cpu()  # (n, F)
            out["psi"].append(float(psi))
            out["precision"].append(precision_recall(real_features, f, k).precision)
            out["diversity"].append(mean_pairwise_distance(f))
    finally:
        G.train(was_training)
    return out


# --------------------------------------------------------------------------------------------
# Measuring a trained generator against an untrained one of the same shape
# --------------------------------------------------------------------------------------------


def untrained_like(G: StyleGenerator, seed: int = 0) -> StyleGenerator:
    r"""A freshly initialised :class:`StyleGenerator` with ``G``'s constructor settings: the baseline of a measurement.

    Built under ``torch.manual_seed(seed)`` without moving torch's global stream; its tracked mean
    :math:`\bar w` (zero at initialisation) is set to :meth:`StyleGenerator.estimate_w_avg`, so that
    truncation and projection start where they would on a trained model. Evaluation mode, gradients
    off. Lecture 08.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G0 = StyleGenerator(**G.config)
    G0.w_avg.copy_(G0.estimate_w_avg())
    return G0.to(G.w_avg.device).eval().requires_grad_(False)


@torch.no_grad()
def style_mixing_readings(G: StyleGenerator, classify, n: int = 500, crossover: int | None = None,
                          seed: int = 1) -> dict:
    r"""What a classifier reads in style-mixed images: does the digit come from the coarse or the fine source?

    ``n`` pairs :math:`(z_A, z_B)` from ``seed``; the mix takes blocks ``0 .. crossover-1`` from
    :math:`z_A` (coarse) and the rest from :math:`z_B` (fine), fixed noise (:meth:`StyleGenerator.mix`;
    default crossover: before the last block). ``classify`` maps images (B, C, H, W) to classes (B,).
    Over the pairs whose two sources are read as different classes:

    - ``coarse``: the share of mixes read as the coarse source's class; ``fine``: as the fine source's;
    - ``pairs``: how many such pairs there are.

    And over every pair, ``fine_change``: how far the fine styles move the image,
    :math:`\mathbb E|x_{mix} - x_A| / \mathbb E|x_B - x_A|` (0: the fine styles do nothing; 1: as far as
    another sample). ``classes``: how many classes the coarse sources span. Lecture 08.
    """
    crossover = G.num_blocks - 1 if crossover is None else crossover
    gen = torch.Generator().manual_seed(seed)
    z_a, z_b = torch.randn(n, G.z_dim, generator=gen), torch.randn(n, G.z_dim, generator=gen)
    was_training = G.training
    G.eval()
    try:
        device = G.w_avg.device
        z_a, z_b = z_a.to(device), z_b.to(device)
        x_a, x_b = G(z_a, noise_mode="const"), G(z_b, noise_mode="const")
        mixed = G.mix(z_a, z_b, crossover)
    finally:
        G.train(was_training)
    y_a, y_b, y_mix = (torch.as_tensor(classify(x)).cpu() for x in (x_a, x_b, mixed))
    differ = y_a != y_b
    share = lambda hit: float(hit[differ].double().mean()) if differ.any() else float("nan")  # noqa: E731
    return {"crossover": crossover, "coarse": share(y_mix == y_a), "fine": share(y_mix == y_b),
            "pairs": int(differ.sum()), "classes": int(y_a.unique().numel()),
            "fine_change": float((mixed - x_a).abs().mean() / (x_b - x_a).abs().mean())}


@torch.no_grad()
def noise_effect(G: StyleGenerator, n_latents: int = 16, n_draws: int = 32, seed: int = 0, classify=None) -> dict:
    r"""How much the per-pixel noise changes the image, against how much the latent does.

    ``n_latents`` latents from ``seed``, each drawn ``n_draws`` times with fresh noise (the noise
    from a generator seeded with ``seed + 1``, so torch's global stream does not move):

    - ``noise_std``: the per-pixel standard deviation over the noise draws of one latent, averaged
      over pixels and latents;
    - ``latent_std``: the per-pixel standard deviation over the latents, noise fixed (``"const"``);
    - ``ratio``: ``noise_std / latent_std``;
    - with ``classify`` (images -> classes), ``class_flips``: the share of noisy draws read as
      another class than the same latent under the fixed noise.

    Karras et al. 2019 (arXiv:1812.04948), section 3.2 and figure 4. Lecture 08.
    """
    z = torch.randn(n_latents, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(G.w_avg.device)
    noise_gen = torch.Generator().manual_seed(seed + 1)
    was_training = G.training
    G.eval()
    try:
        fixed = G(z, noise_mode="const")  # (N, C, H, W)
        ws = G.broadcast(G.w_from_z(z)).repeat_interleave(n_draws, dim=0)  # (N * D, L, W)
        noise = [torch.randn(len(ws), *c.shape[1:], generator=noise_gen).to(c.device)
                 for c in G.make_noise(1, "const")]
        noisy = G.synthesize(ws, noise=noise).view(n_latents, n_draws, *fixed.shape[1:])  # (N, D, C, H, W)
    finally:
        G.train(was_training)
    noise_std = float(noisy.std(dim=1).mean())
    latent_std = float(fixed.std(dim=0).mean())
    out = {"noise_std": noise_std, "latent_std": latent_std, "ratio": noise_std / latent_std}
    if classify is not None:
        y_fixed = torch.as_tensor(classify(fixed)).cpu()
        y_noisy = torch.as_tensor(classify(noisy.flatten(0, 1))).cpu().view(n_latents, n_draws)
        out["class_flips"] = float((y_noisy != y_fixed[:, None]).double().mean())
    return out


# --------------------------------------------------------------------------------------------
# Optional: StyleGAN2's modulated convolution with weight demodulation (Karras et al. 2020)
# --------------------------------------------------------------------------------------------


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     eps: float = 1e-8) -> torch.Tensor:
    r"""StyleGAN2's replacement for AdaIN: scale the convolution's weights by the style, then normalise them.

    .. math:: w'_{ijk} = s_i\, w_{ijk}, \qquad
              w''_{ijk} = \frac{w'_{ijk}}{\sqrt{\sum_{i,k} {w'_{ijk}}^2 + \epsilon}}

    (i input channel, j output channel, k kernel position; here the paper's :math:`w` is the
    convolution ``weight``, not the latent). Modulation equals scaling the input's channels by
    :math:`s_i`; demodulation divides output channel j by the std it *would* have for inputs of
    unit variance, so it normalises by expected statistics instead of the feature map's measured
    ones (AdaIN), which removes StyleGAN's droplet artefacts. Karras et al. 2020 (arXiv:1912.04958),
    section 2.2, eqs. 1-3. One grouped convolution serves the whole batch.

    Args: ``x`` (B, C_in, H, W); ``weight`` (C_out, C_in, k, k); ``styles`` :math:`s` (B, C_in).
    Returns: (B, C_out, H, W), same padding. Lecture 08 (optional section).
    """
    b, c_in, h, w_px = x.shape
    c_out, _, k, _ = weight.shape
    assert_shape(styles, (b, c_in), "styles")
    wt = weight[None] * styles[:, None, :, None, None]  # (B, C_out, C_in, k, k)
    if demodulate:
        wt = wt * torch.rsqrt(wt.pow(2).sum(dim=(2, 3, 4), keepdim=True) + eps)
    out = F.conv2d(x.reshape(1, b * c_in, h, w_px), wt.reshape(b * c_out, c_in, k, k), padding=k // 2,
                   groups=b)  # (1, B * C_out, H, W): sample i convolved with its own weights
    return out.reshape(b, c_out, h, w_px)


class ModulatedConv2d(nn.Module):
    r"""A StyleGAN2 styled convolution: styles :math:`s = A(w)` (bias 1 at start), :func:`modulated_conv2d`.

    ``weight`` (C_out, C_in, k, k) stored as :math:`\mathcal N(0, 1)` and scaled by
    :math:`1/\sqrt{C_\text{in} k^2}` (equalised learning rate). Shapes: x (B, C_in, H, W), w (B, W) ->
    (B, C_out, H, W). Karras et al. 2020, figure 2c. Lecture 08 (optional section).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 3, demodulate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.to_style = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return modulated_conv2d(x, self.weight * self.weight_gain, self.to_style(w), self.demodulate)
