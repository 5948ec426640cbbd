r"""DCGAN: the convolutional generator and discriminator of the "cookbook" paper.

Radford, Metz & Chintala 2015, *Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks* (arXiv:1511.06434), section 3 gives five guidelines:

1. strided convolutions in D and fractionally strided (transposed) convolutions in G, no pooling;
2. batch normalisation in both networks, except at G's output and D's input;
3. no fully connected hidden layers;
4. ReLU in G, with Tanh at its output;
5. LeakyReLU (slope 0.2) in D.

The generator grows a latent vector :math:`z \in \mathbb{R}^Z`, seen as a 1x1 image with Z channels,
into an image by transposed convolutions, each of which maps a side of ``n`` pixels to

.. math:: n_\text{out} = (n - 1)\,s - 2p + k + p_\text{out}

(kernel k, stride s, padding p, output padding :math:`p_\text{out}`); with k=4, s=2, p=1 each layer
doubles the side: 1 -> 4 -> 8 -> 16 -> 32. The discriminator mirrors it with strided convolutions,
:math:`n_\text{out} = \lfloor (n + 2p - k)/s \rfloor + 1`, down to one logit per image.

Lecture 03 builds both, trains them with :func:`gancourse.train.train_gan`, and later lectures
reuse them (05 with a critic without batch norm, 09 for the scoreboard).
"""

from __future__ import annotations

import torch
from torch import nn

from gancourse.data import assert_shape

SIZES = (28, 32, 64)

# Each supported image side, as the generator's layers from a 1x1 input: (kernel, stride, padding)
# and the side after the layer. The discriminator runs the same table backwards.
# 28 is not a power of two, so its first two layers reach 7 instead of 8 (1 -> 3 -> 7 -> 14 -> 28).
_G_LAYERS = {
    28: [(3, 1, 0), (3, 2, 0), (4, 2, 1), (4, 2, 1)],  # 1 -> 3 -> 7 -> 14 -> 28
    32: [(4, 1, 0), (4, 2, 1), (4, 2, 1), (4, 2, 1)],  # 1 -> 4 -> 8 -> 16 -> 32
    64: [(4, 1, 0), (4, 2, 1), (4, 2, 1), (4, 2, 1), (4, 2, 1)],  # 1 -> 4 -> 8 -> 16 -> 32 -> 64
}


def conv_transpose_out(size: int, kernel: int, stride: int = 1, padding: int = 0,
                       output_padding: int = 0, dilation: int = 1) -> int:
    r"""The side of a transposed convolution's output.

    .. math:: n_\text{out} = (n - 1)\,s - 2p + d\,(k - 1) + p_\text{out} + 1

    (with dilation d = 1 this is :math:`(n - 1)s - 2p + k + p_\text{out}`), as in the PyTorch
    documentation of ``nn.ConvTranspose2d``; Dumoulin & Visin 2016 (arXiv:1603.07285), relationship 14.
    Example: ``conv_transpose_out(4, 4, 2, 1) == 8``. Lecture 03.
    """
    for name, value in (("size", size), ("kernel", kernel), ("stride", stride), ("dilation", dilation)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if padding < 0 or output_padding < 0:
        raise ValueError(f"padding and output_padding must be >= 0, got {padding} and {output_padding}.")
    if output_padding >= max(stride, dilation):
        raise ValueError(
            f"output_padding ({output_padding}) must be smaller than the stride ({stride}) or the "
            "dilation; it only picks one of the sizes a strided convolution could have come from."
        )
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"a {size}-pixel input gives an empty output ({out}); reduce the padding.")
    return out


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    r"""The side of a (strided) convolution's output.

    .. math:: n_\text{out} = \left\lfloor \frac{n + 2p - d\,(k - 1) - 1}{s} \right\rfloor + 1

    as in the PyTorch documentation of ``nn.Conv2d``; Dumoulin & Visin 2016, relationship 6.
    Example: ``conv_out(8, 4, 2, 1) == 4``. Lecture 03.
    """
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(f"a {size}-pixel input is smaller than the {kernel}-pixel kernel: empty output.")
    return out


def _check_size(img_size: int) -> list[tuple[int, int, int]]:
    if img_size not in _G_LAYERS:
        raise ValueError(f"img_size must be one of {SIZES}, got {img_size!r}; resize the data to one of them.")
    return _G_LAYERS[img_size]


class Generator(nn.Module):
    r"""The DCGAN generator: z (B, Z) or (B, Z, 1, 1) -> images (B, C, H, W) in [-1, 1].

    Transposed convolutions double the side each layer while halving the channels
    (``ngf * 2**k`` down to ``ngf``), each followed by batch norm and ReLU; the last one maps to
    ``channels`` and goes through Tanh, with no batch norm (guideline 2). Convolutions carry no
    bias where a batch norm follows (its shift would cancel it); the output layer has one.
    Radford et al. 2015, figure 1.

    Args: ``z_dim`` the latent size Z (100 in the paper); ``ngf`` the width (channels of the last
    hidden layer; 64 in the paper, 16 in FAST mode); ``channels`` C, 1 or 3; ``img_size`` 28, 32 or 64.
    Lecture 03.
    """

    def __init__(self, z_dim: int = 100, ngf: int = 64, channels: int = 1, img_size: int = 28):
        super().__init__()
        layers = _check_size(img_size)
        self.z_dim, self.ngf, self.channels, self.img_size = z_dim, ngf, channels, img_size
        n = len(layers)
        widths = [z_dim] + [ngf * 2 ** (n - 2 - i) for i in range(n - 1)] + [channels]  # e.g. Z, 4f, 2f, f, C
        blocks = []
        for i, (k, s, p) in enumerate(layers):
            last = i == n - 1
            blocks.append(nn.ConvTranspose2d(widths[i], widths[i + 1], k, s, p, bias=last))
            blocks += [nn.Tanh()] if last else [nn.BatchNorm2d(widths[i + 1]), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim == 2:
            z = z[:, :, None, None]  # (B, Z) -> (B, Z, 1, 1): a 1x1 image with Z channels
        assert_shape(z, (None, self.z_dim, 1, 1), "z")
        return self.net(z)  # (B, C, H, W)


class Discriminator(nn.Module):
    r"""The DCGAN discriminator: images (B, C, H, W) -> logits (B,).

    Strided convolutions halve the side each layer while doubling the channels (``ndf`` up to
    ``ndf * 2**k``), each followed by batch norm (except after the first, guideline 2) and
    LeakyReLU(0.2); the last convolution reduces the remaining map to one logit per image. There is
    no sigmoid: the losses of :mod:`gancourse.losses` take logits. Radford et al. 2015, section 3.

    ``norm`` chooses the normalisation of the hidden layers: ``"batch"`` (the cookbook),
    ``"layer"`` (one group norm over all channels: per-sample, what WGAN-GP's critic needs,
    Gulrajani et al. 2017, section 4) or ``"none"``.
    Lecture 03.
    """

    def __init__(self, ndf: int = 64, channels: int = 1, img_size: int = 28, norm: str = "batch"):
        super().__init__()
        layers = _check_size(img_size)[::-1]  # the generator's table, run backwards
        if norm not in ("batch", "layer", "none"):
            raise ValueError(f"norm must be 'batch', 'layer' or 'none', got {norm!r}.")
        self.ndf, self.channels, self.img_size, self.norm = ndf, channels, img_size, norm
        n = len(layers)
        widths = [channels] + [ndf * 2**i for i in range(n - 1)] + [1]  # e.g. C, f, 2f, 4f, 1
        blocks = []
        for i, (k, s, p) in enumerate(layers):
            first, last = i == 0, i == n - 1
            # The mirror of the generator's layer: the same (k, s, p) undo its change of side.
            # A bias only where no normalisation follows (a norm's shift would cancel it).
            normed = not first and not last and norm != "none"
            blocks.append(nn.Conv2d(widths[i], widths[i + 1], k, s, p, bias=not normed))
            if last:
                break
            if not first and norm == "batch":
                blocks.append(nn.BatchNorm2d(widths[i + 1]))
            elif not first and norm == "layer":
                blocks.append(nn.GroupNorm(1, widths[i + 1]))
            blocks.append(nn.LeakyReLU(0.2, inplace=True))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, (None, self.channels, self.img_size, self.img_size), "x")
        return self.net(x).view(-1)  # (B, 1, 1, 1) -> (B,)


def weights_init(module: nn.Module) -> None:
    r"""The cookbook's initialisation, for ``model.apply(weights_init)``.

    Convolution weights :math:`\sim \mathcal N(0, 0.02^2)` (biases 0); batch-norm scales
    :math:`\gamma \sim \mathcal N(1, 0.02^2)` and shifts :math:`\beta = 0`. Radford et al. 2015,
    section 4 ("all weights were initialized from a zero-centered Normal distribution with standard
    deviation 0.02"). Draws from torch's global generator: seed first. Lecture 03.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def count_parameters(module: nn.Module) -> int:
    """The number of trainable parameters (entries of every parameter tensor). Lecture 03."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def build_dcgan(z_dim: int = 100, width: int = 64, channels: int = 1, img_size: int = 28,
                d_norm: str = "batch") -> tuple[Generator, Discriminator]:
    """A generator and a discriminator of the same width, initialised with :func:`weights_init`. Lecture 03."""
    G = Generator(z_dim=z_dim, ngf=width, channels=channels, img_size=img_size)
    D = Discriminator(ndf=width, channels=channels, img_size=img_size, norm=d_norm)
    G.apply(weights_init)
    D.apply(weights_init)
    return G, D
