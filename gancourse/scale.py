r"""GANs at scale, in small working parts: ProGAN's fade-in, SAGAN's self-attention, BigGAN's tricks.

Three ideas took GANs from 64x64 faces to ImageNet at 512x512, and each is a few lines:

- **progressive growing** (Karras et al. 2018, arXiv:1710.10196, section 2): train at 4x4, then add
  a block for twice the resolution and *fade it in*, blending the upsampled old output with the new
  block's output, :math:`y = (1 - \alpha)\,\mathrm{up}(\mathrm{rgb}_\text{old}(h)) + \alpha\,\mathrm{rgb}_\text{new}(\mathrm{block}(\mathrm{up}(h)))`,
  with :math:`\alpha` rising from 0 to 1;
- **self-attention** (Zhang et al. 2019, SAGAN, arXiv:1805.08318, section 3): every position of a
  feature map looks at every other one, :math:`\beta_{j,i} = \operatorname{softmax}_i(f(h_i)^\top g(h_j))`,
  :math:`o_j = v\big(\sum_i \beta_{j,i}\, h'(h_i)\big)`, :math:`y = \gamma\,o + h` with :math:`\gamma` starting at 0;
- **BigGAN's tricks** (Brock et al. 2019, arXiv:1809.11096): class-conditional batch norm (one
  gain and bias per class), orthogonal regularisation :math:`\beta\lVert W^\top W \odot (\mathbf 1 - I)\rVert_F^2`
  (section 3.1), and the truncation trick, noise drawn from a truncated normal.

Shapes: B batch, C channels, H x W a feature map, K classes, Z latent size. Lecture 12.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------------------------
# Progressive growing: the fade-in block
# --------------------------------------------------------------------------------------------


class FadeInBlock(nn.Module):
    r"""A ProGAN generator stage that doubles the resolution, faded in with ``alpha``.

    .. math:: y = (1 - \alpha)\,\mathrm{up}\big(\mathrm{rgb}_\text{old}(h)\big) + \alpha\,\mathrm{rgb}_\text{new}\big(\mathrm{block}(\mathrm{up}(h))\big)

    ``up`` is nearest-neighbour upsampling by 2; ``block`` two 3x3 convolutions with leaky ReLU; the
    ``rgb`` layers are 1x1 convolutions to image channels. At :math:`\alpha = 0` the output is the old
    stage's image, upsampled; at :math:`\alpha = 1` only the new block speaks. Karras et al. 2018
    (arXiv:1710.10196), section 2 and figure 2. Departure: no equalised learning rate or pixel norm.

    Args: ``h`` (B, C_in, H, W). Returns: (B, image_channels, 2H, 2W). Lecture 12.
    """

    def __init__(self, in_channels: int, out_channels: int, image_channels: int = 1, alpha: float = 0.0):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.LeakyReLU(0.2),   # (B, C_out, 2H, 2W)
            nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.LeakyReLU(0.2),  # (B, C_out, 2H, 2W)
        )
        self.rgb_old = nn.Conv2d(in_channels, image_channels, 1)   # the previous stage's output layer
        self.rgb_new = nn.Conv2d(out_channels, image_channels, 1)
        self.alpha = float(alpha)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1] (0: the old stage only, 1: the new block only), got {self.alpha}.")
        up = F.interpolate(h, scale_factor=2, mode="nearest")  # (B, C_in, 2H, 2W)
        old = self.rgb_old(up)  # = up(rgb_old(h)): a 1x1 convolution commutes with nearest upsampling
        new = self.rgb_new(self.block(up))  # (B, image_channels, 2H, 2W)
        return (1 - self.alpha) * old + self.alpha * new


# --------------------------------------------------------------------------------------------
# Self-attention
# --------------------------------------------------------------------------------------------


class SelfAttention(nn.Module):
    r"""SAGAN's self-attention layer over the H x W positions of a feature map.

    .. math:: \beta_{j,i} = \frac{\exp(f(h_i)^\top g(h_j))}{\sum_{i'} \exp(f(h_{i'})^\top g(h_j))}, \qquad
              y_j = \gamma\, v\Big(\sum_i \beta_{j,i}\, h'(h_i)\Big) + h_j

    with 1x1 convolutions :math:`f, g` (C -> C/8, keys and queries), :math:`h'` (C -> C/2, values) and
    :math:`v` (C/2 -> C), and a learned scalar :math:`\gamma` initialised at 0, so the layer starts as
    the identity. Zhang et al. 2019 (arXiv:1805.08318), eqs. 1-3 (the C/2 values follow BigGAN's code).
    Row :math:`j` of the attention map is where position :math:`j` looks; it sums to 1.

    Args: ``h`` (B, C, H, W) with C >= 8. Returns: ``(y, attention)``, y (B, C, H, W) and the map
    (B, HW, HW), row j the weights of position j over positions i (row-major, i = row * W + col).
    Lecture 12.
    """

    def __init__(self, channels: int):
        super().__init__()
        if channels < 8:
            raise ValueError(f"self-attention projects to channels // 8 keys; got {channels} channels, need >= 8.")
        self.f = nn.Conv2d(channels, channels // 8, 1, bias=False)  # keys
        self.g = nn.Conv2d(channels, channels // 8, 1, bias=False)  # queries
        self.h = nn.Conv2d(channels, channels // 2, 1, bias=False)  # values
        self.v = nn.Conv2d(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, height, width = h.shape
        keys = self.f(h).flatten(2)      # (B, C/8, HW)
        queries = self.g(h).flatten(2)   # (B, C/8, HW)
        values = self.h(h).flatten(2)    # (B, C/2, HW)
        attention = torch.softmax(queries.transpose(1, 2) @ keys, dim=-1)  # (B, HW_j, HW_i), rows sum to 1
        o = (values @ attention.transpose(1, 2)).view(b, c // 2, height, width)  # o_j = sum_i beta_ji h'_i
        return self.gamma * self.v(o) + h, attention


# --------------------------------------------------------------------------------------------
# BigGAN: class-conditional batch norm, orthogonal regularisation, truncated noise
# --------------------------------------------------------------------------------------------


class ConditionalBatchNorm2d(nn.Module):
    r"""Batch norm whose gain and bias are looked up by class: :math:`y = \gamma_y\,\hat h + \beta_y`.

    .. math:: \hat h = \frac{h - \mu_\text{batch}}{\sqrt{\sigma^2_\text{batch} + \epsilon}}, \qquad
              \mathrm{CBN}(h, y) = \gamma_{y} \odot \hat h + \beta_{y}

    One :math:`(\gamma_k, \beta_k) \in \mathbb{R}^C \times \mathbb{R}^C` per class, initialised at (1, 0)
    so the layer starts as plain batch norm. De Vries et al. 2017 (arXiv:1707.00683); BigGAN (Brock et
    al. 2019, arXiv:1809.11096, section 3) computes the gains from a shared embedding and the noise;
    here they are a plain table.

    Args: ``h`` (B, C, H, W); ``y`` (B,) int64 class labels in [0, K). Returns (B, C, H, W). Lecture 12.
    """

    def __init__(self, num_features: int, num_classes: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)
        self.num_classes = num_classes

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if y.shape != (h.shape[0],) or y.dtype != torch.long:
            raise ValueError(f"labels must be int64 of shape ({h.shape[0]},), one per sample; got {y.dtype} "
                             f"of shape {tuple(y.shape)}.")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ValueError(f"labels must lie in [0, {self.num_classes}), got values from {int(y.min())} to {int(y.max())}.")
        gamma = self.gain(y)[:, :, None, None]  # (B, C, 1, 1)
        beta = self.bias(y)[:, :, None, None]   # (B, C, 1, 1)
        return gamma * self.bn(h) + beta


def orthogonal_penalty(weight: torch.Tensor, off_diagonal_only: bool = True) -> torch.Tensor:
    r"""BigGAN's orthogonal regularisation of one weight (the caller multiplies by :math:`\beta`, 1e-4 in the paper).

    .. math:: R_\beta(W) = \big\lVert W^\top W \odot (\mathbf{1} - I) \big\rVert_F^2
              \quad\text{(BigGAN)}, \qquad \big\lVert W^\top W - I \big\rVert_F^2 \quad\text{(``off_diagonal_only=False``, Brock et al. 2017)}

    The weight is flattened to (out, in * kh * kw) and its *rows* (one filter each) play the columns of
    :math:`W` in the formula, so :math:`W^\top W` becomes the (out, out) Gram matrix of the filters. The
    BigGAN form asks only that filters be mutually orthogonal, leaving their norms free.
    Brock et al. 2019 (arXiv:1809.11096), eq. 3. Returns a scalar tensor. Lecture 12.
    """
    w = weight.flatten(1)  # (out, fan_in)
    gram = w @ w.T  # (out, out)
    eye = torch.eye(len(gram), dtype=gram.dtype, device=gram.device)
    return ((gram * (1 - eye)) ** 2).sum() if off_diagonal_only else ((gram - eye) ** 2).sum()


def truncated_noise(n: int, z_dim: int, threshold: float, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""BigGAN's truncation trick: :math:`z \sim \mathcal N(0, I)` with every entry beyond ``threshold`` redrawn.

    Each coordinate follows the normal law truncated to :math:`[-\tau, \tau]`: smaller :math:`\tau`,
    samples nearer the mode of the latent, higher fidelity and less variety. Brock et al. 2019
    (arXiv:1809.11096), section 3.1. Returns (n, z_dim). Lecture 12.
    """
    if not threshold > 0:
        raise ValueError(f"the truncation threshold must be positive, got {threshold}; 2.0 is mild, 0.5 strong.")
    z = torch.randn(n, z_dim, generator=generator)
    bad = z.abs() > threshold
    while bad.any():  # redraw only the entries outside; each round keeps P(|z| <= tau) of them
        z[bad] = torch.randn(int(bad.sum()), generator=generator)
        bad = z.abs() > threshold
    return z
