r"""Image-to-image translation: a generator conditioned on a whole image, paired (pix2pix) and unpaired (CycleGAN).

A translation GAN maps an image :math:`x` of domain A to an image :math:`y` of domain B. With pairs
:math:`(x, y)` (pix2pix, Isola et al. 2017, arXiv:1611.07004) a U-Net generator :math:`G` and a
conditional patch discriminator :math:`D(x, \cdot)` play

.. math:: G^* = \arg\min_G \max_D\ \mathcal L_{cGAN}(G, D) + \lambda\,\mathbb E\,\lVert y - G(x)\rVert_1,
          \qquad \lambda = 100 \quad\text{(eq. 4)}.

Without pairs (CycleGAN, Zhu et al. 2017, arXiv:1703.10593) two generators :math:`G: A \to B`,
:math:`F: B \to A` and two discriminators are tied by cycle consistency,

.. math:: \mathcal L_{cyc} = \mathbb E_x\lVert F(G(x)) - x\rVert_1 + \mathbb E_y\lVert G(F(y)) - y\rVert_1
          \quad\text{(eq. 2)}, \qquad \lambda_{cyc} = 10,

with least-squares adversarial losses (Mao et al. 2017, arXiv:1611.04076) and a pool of past fakes
for the discriminators (Shrivastava et al. 2017, arXiv:1612.07828).

The module builds, in lecture order: the offline data (edges -> digit pairs, grey -> colour crops of
scikit-learn's two sample photographs, unpaired digit twins), the U-Net with a switch that drops its
skips, PatchGAN with its output size and receptive field (by formula and by brute force), the two
objectives, the image pool, and two compact training loops. The loops are separate from
:func:`gancourse.train.train_gan` because the lecture is clearer for it: that loop draws ``G(z)`` from
noise and alternates one D with one G, while here every generator reads an image, pix2pix scores
(source, target) pairs and adds an L1 term, and CycleGAN updates two generators together and then two
discriminators against pools of past fakes; each loop fits on one screen with its objective beside it.
Both record into the course's one :class:`gancourse.train.History` (``loss_d``, ``loss_g``, and the
terms of each objective in ``parts``). Lecture 10.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from gancourse.checkpoints import one_thread
from gancourse.config import course_seed
from gancourse.data import assert_shape, image_dataset
from gancourse.dcgan import conv_out
from gancourse.losses import d_loss, d_loss_least_squares, g_loss_least_squares, g_loss_nonsaturating
from gancourse.train import History

# --------------------------------------------------------------------------------------------
# Offline data
# --------------------------------------------------------------------------------------------


def _to01(x: torch.Tensor) -> torch.Tensor:
    return (x + 1) / 2


def dilate(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Grey-level dilation: the maximum over each ``k`` x ``k`` neighbourhood, same size (B, C, H, W). Lecture 10."""
    return F.max_pool2d(x, k, stride=1, padding=k // 2)


def erode(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Grey-level erosion, the minimum over each ``k`` x ``k`` neighbourhood (B, C, H, W). Lecture 10."""
    return -F.max_pool2d(-x, k, stride=1, padding=k // 2)


def edge_map(x: torch.Tensor) -> torch.Tensor:
    r"""The morphological gradient of images in [-1, 1], back in [-1, 1]: :math:`2(\mathrm{dil}(u) - \mathrm{ero}(u)) - 1`, :math:`u = (x+1)/2`.

    Bright where the stroke has an edge, so the pair (edge map, digit) is exact and computed from
    each digit itself (the lecture's stand-in for pix2pix's edges -> photo). (B, C, H, W) -> same.
    Lecture 10.
    """
    u = _to01(x)
    return 2 * (dilate(u) - erode(u)) - 1


def thicken(x: torch.Tensor) -> torch.Tensor:
    """The stroke-thickened twin of digits in [-1, 1] (white on black): a 3x3 dilation. Lecture 10."""
    return dilate(x)


def invert(x: torch.Tensor) -> torch.Tensor:
    """The inverted twin of images in [-1, 1]: :math:`-x` (black digits on white). Lecture 10."""
    return -x


@dataclass
class PairedData:
    """Aligned pairs: ``source[i]`` (N, C_A, H, W) translates to ``target[i]`` (N, C_B, H, W); ``labels`` (N,) or None. Lecture 10."""

    source: torch.Tensor
    target: torch.Tensor
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.source)


def edges_to_digits(size: int = 16, train: bool = True) -> PairedData:
    """The paired task of lecture 10: each embedded digit's edge map -> the digit, with the digit's label."""
    ds = image_dataset("digits", train=train, size=size)
    return PairedData(edge_map(ds.images), ds.images, ds.labels)


def rgb_to_grey(x: torch.Tensor) -> torch.Tensor:
    """Luma (ITU-R BT.601 weights 0.299, 0.587, 0.114) of RGB images (B, 3, H, W) -> (B, 1, H, W). Lecture 10."""
    assert_shape(x, (None, 3, None, None), "RGB images")
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
    return (x * weights[None, :, None, None]).sum(dim=1, keepdim=True)


def colorisation_crops(n: int = 512, size: int = 16, photo: str | None = None, seed: int = 0,
                       scale: int = 4) -> PairedData:
    """Random ``size`` x ``size`` crops of scikit-learn's two bundled photographs, grey (source) -> colour (target).

    The photographs (``china.jpg`` and ``flower.jpg``, 427 x 640) are first shrunk ``scale`` times by
    averaging (so a crop holds a recognisable patch, not a few flat pixels), then cropped at random
    positions drawn from ``seed``; ``photo`` picks one ("china" or "flower"), None alternates. Colours
    in [-1, 1]; ``labels`` says which photograph (0 china, 1 flower). Lecture 10.
    """
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    names = ["china", "flower"]
    if photo is not None and photo not in names:
        raise ValueError(f"photo must be 'china', 'flower' or None (both), got {photo!r}.")
    pictures = []
    for img in bunch.images:
        t = torch.tensor(img, dtype=torch.float32).permute(2, 0, 1)[None] / 127.5 - 1  # (1, 3, 427, 640)
        pictures.append(F.avg_pool2d(t, scale))  # (1, 3, 427 // scale, 640 // scale)
    gen = torch.Generator().manual_seed(seed)
    crops, which = [], []
    for i in range(n):
        k = names.index(photo) if photo is not None else i % 2
        pic = pictures[k]
        h, w = pic.shape[-2:]
        top = int(torch.randint(0, h - size + 1, (1,), generator=gen))
        left = int(torch.randint(0, w - size + 1, (1,), generator=gen))
        crops.append(pic[0, :, top:top + size, left:left + size])
        which.append(k)
    colour = torch.stack(crops)  # (n, 3, size, size)
    return PairedData(rgb_to_grey(colour), colour, torch.tensor(which))


@dataclass
class UnpairedData:
    """Two domains with the pairing shuffled away: ``a`` (N, C, H, W) and ``b`` (N, C, H, W).

    ``labels_a`` and ``labels_b`` (N,) are kept only to *measure* translations (the classifier's
    reading), never to train. Lecture 10.
    """

    a: torch.Tensor
    b: torch.Tensor
    labels_a: torch.Tensor
    labels_b: torch.Tensor


TWINS = {"invert": invert, "thicken": thicken}


def digit_twins(kind: str = "invert", size: int = 16, train: bool = True, seed: int = 0) -> UnpairedData:
    """Unpaired digits (A) and their ``kind`` twins (B, ``"invert"`` or ``"thicken"``), B in a shuffled order.

    The shuffle is a random permutation from ``seed``, so ``b[i]`` is in general not ``a[i]``'s twin:
    the two domains share their distribution's structure but no pairs. Lecture 10.
    """
    if kind not in TWINS:
        raise ValueError(f"kind must be one of {sorted(TWINS)}, got {kind!r}.")
    ds = image_dataset("digits", train=train, size=size)
    perm = torch.randperm(len(ds.images), generator=torch.Generator().manual_seed(seed))  # (N,)
    return UnpairedData(ds.images, TWINS[kind](ds.images)[perm], ds.labels, ds.labels[perm])


def mnist_svhn(size: int = 32, train: bool = True, seed: int = 0, n: int | None = None) -> UnpairedData:
    """The classic unpaired digit task: MNIST (A) and SVHN house numbers (B), for FULL mode of lecture 10.

    Both through torchvision (:func:`gancourse.data.image_dataset`, downloaded on first use), at
    ``size`` pixels with 3 channels (MNIST's grey repeated), each in its own random order from
    ``seed``; ``n`` images of each (default: as many as the smaller set holds). Labels are kept
    for measuring, never for training. Lecture 10.
    """
    mnist, svhn = image_dataset("mnist", train=train, size=size), image_dataset("svhn", train=train, size=size)
    k = min(len(mnist), len(svhn)) if n is None else n
    if not 0 < k <= min(len(mnist), len(svhn)):
        raise ValueError(f"n must be between 1 and {min(len(mnist), len(svhn))}, got {n}.")
    gen = torch.Generator().manual_seed(seed)
    ia = torch.randperm(len(mnist), generator=gen)[:k]  # (k,)
    ib = torch.randperm(len(svhn), generator=gen)[:k]  # (k,)
    return UnpairedData(mnist.images[ia].repeat(1, 3, 1, 1), svhn.images[ib], mnist.labels[ia], svhn.labels[ib])


# --------------------------------------------------------------------------------------------
# The U-Net generator
# --------------------------------------------------------------------------------------------


class UNet(nn.Module):
    r"""A small U-Net: an encoder that halves the side ``depth`` times, a decoder that doubles it back,
    and skip connections that concatenate each encoder map to the decoder map of the same size.

    .. math:: d_i = \mathrm{up}\big([\,d_{i+1},\ e_{i+1}\,]\big), \qquad y = \tanh(\mathrm{conv}([\,d_0,\ e_0\,]))

    Widths: ``width`` at full resolution, doubled per level. With ``skips=False`` the encoder maps
    are replaced by zeros of the same shape (same layers, same parameter count), so everything must
    pass through the bottleneck: the lecture's ablation. Departures from pix2pix (Isola et al. 2017,
    arXiv:1611.07004, appendix 6.1.1): much narrower and shallower, 3x3 convolutions beside the 4x4
    strided ones, no batch norm and no dropout (the paper notes the generator learns to ignore its
    dropout noise). Shapes: (B, C_in, H, W) -> (B, C_out, H, W), H and W divisible by 2**depth.
    Lecture 10.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 8, depth: int = 2,
                 skips: bool = True):
        super().__init__()
        self.in_channels, self.out_channels, self.depth, self.skips = in_channels, out_channels, depth, skips
        widths = [width * 2**i for i in range(depth + 1)]  # e.g. 8, 16, 32
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1), nn.LeakyReLU(0.2))
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1), nn.LeakyReLU(0.2))
            for i in range(depth))  # side / 2 each
        self.up = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(widths[i + 1] * (1 if i == depth - 1 else 2), widths[i], 4, stride=2,
                                             padding=1), nn.ReLU())
            for i in range(depth))  # side * 2 each; the input concatenates a skip except at the bottom
        self.out = nn.Conv2d(2 * widths[0], out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[-1] % 2**self.depth or x.shape[-2] % 2**self.depth:
            raise ValueError(f"UNet expects images (B, {self.in_channels}, H, W) with H and W divisible by "
                             f"{2**self.depth}, got {tuple(x.shape)}. Resize, or build it with a smaller depth.")
        skip = (lambda e: e) if self.skips else torch.zeros_like
        encoded = [self.stem(x)]  # (B, w, H, W)
        for layer in self.down:
            encoded.append(layer(encoded[-1]))  # (B, 2^i w, H / 2^i, W / 2^i)
        h = encoded[-1]  # the bottleneck
        for i in reversed(range(self.depth)):
            h = self.up[i](h)  # (B, 2^i w, H / 2^i, W / 2^i)
            h = torch.cat([h, skip(encoded[i])], dim=1)  # (B, 2^(i+1) w, ...)
        return torch.tanh(self.out(h))  # (B, C_out, H, W)


# --------------------------------------------------------------------------------------------
# PatchGAN: a discriminator that scores patches
# --------------------------------------------------------------------------------------------


def patch_output_size(n: int, layers) -> int:
    """The side of a PatchGAN's score map for an ``n`` x ``n`` input, through ``layers`` of (kernel, stride, padding).

    Each layer applies lecture 03's formula, :func:`gancourse.dcgan.conv_out`. Lecture 10.
    """
    for kernel, stride, padding in layers:
        if n + 2 * padding < kernel:
            raise ValueError(f"the input is too small for these layers: a layer {(kernel, stride, padding)} "
                             "has no output left. Use a larger image or fewer layers.")
        n = conv_out(n, kernel, stride, padding)
    return n


def receptive_field(layers) -> int:
    r"""The side of the input patch one output unit sees, from the last layer back: :math:`r \leftarrow (r - 1)s + k`, :math:`r_0 = 1`.

    ``layers`` is a list of (kernel, stride, padding); padding does not change it. The 70x70 PatchGAN
    of pix2pix (Isola et al. 2017, appendix 6.1.2) gives 70. Lecture 10.
    """
    r = 1
    for kernel, stride, _ in reversed(list(layers)):
        r = (r - 1) * stride + kernel
    return r


def receptive_field_brute_force(D: nn.Module, size: int, channels: int | None = None) -> tuple[int, int]:
    """The receptive field measured: the height and width of the box of input pixels whose gradient is non-zero for the central output unit.

    Runs ``D`` in float64 on one random ``size`` x ``size`` input. Choose ``size`` large enough that
    the central unit's field stays inside the image (otherwise the box is clipped). Lecture 10.
    """
    channels = channels or D.in_channels
    D = _double_copy(D)
    x = torch.randn(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    out = D.score_map(x)  # (1, 1, h, w)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    hit = (x.grad.abs().sum(dim=(0, 1)) > 0).nonzero()  # (M, 2) rows and columns
    return int(hit[:, 0].max() - hit[:, 0].min() + 1), int(hit[:, 1].max() - hit[:, 1].min() + 1)


def _double_copy(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module).double()


class PatchGAN(nn.Module):
    r"""A PatchGAN discriminator: a fully convolutional net whose output is a map of logits, one per patch.

    ``n_layers`` 4x4 convolutions of stride 2 (widths ``width``, 2 ``width``, ...), then one 4x4 of
    stride 1 and the 4x4 stride-1 output layer, all with padding 1 and LeakyReLU(0.2). With
    ``n_layers=3`` and width 64 this is pix2pix's 70x70 PatchGAN (Isola et al. 2017, arXiv:1611.07004,
    appendix 6.1.2), minus its batch norm. ``conditional=True``: :math:`D(x, y)` scores the target
    :math:`y` (C_B channels) concatenated to its source :math:`x` (C_A channels); otherwise
    :math:`D(y)` (CycleGAN). ``forward`` returns the (B, 1, h, w) map flattened to (B * h * w,), one
    logit per patch, so every loss of :mod:`gancourse.losses` averages over patches and batch.
    Lecture 10.
    """

    def __init__(self, in_channels: int = 1, width: int = 8, n_layers: int = 2, cond_channels: int = 0):
        super().__init__()
        self.in_channels = in_channels + cond_channels
        self.cond_channels = cond_channels
        specs, chans = [], [self.in_channels]
        for i in range(n_layers):
            specs.append((4, 2, 1))
            chans.append(width * 2**i)
        specs.append((4, 1, 1))
        chans.append(width * 2**n_layers)
        specs.append((4, 1, 1))
        chans.append(1)
        self.layers_spec = specs  # (kernel, stride, padding) per layer
        mods = []
        for i, (k, s, p) in enumerate(specs):
            mods.append(nn.Conv2d(chans[i], chans[i + 1], k, stride=s, padding=p))
            if i < len(specs) - 1:
                mods.append(nn.LeakyReLU(0.2))
        self.net = nn.Sequential(*mods)

    @property
    def receptive_field(self) -> int:
        """The side of the input patch each score sees (:func:`receptive_field` of the layers)."""
        return receptive_field(self.layers_spec)

    def output_size(self, n: int) -> int:
        """The side of the score map for an n x n input (:func:`patch_output_size`)."""
        return patch_output_size(n, self.layers_spec)

    def score_map(self, y: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """The map of patch logits (B, 1, h, w) of ``y``, conditioned on ``x`` when the model is conditional."""
        if self.cond_channels:
            if x is None:
                if y.shape[1] != self.in_channels:
                    raise ValueError(f"a conditional PatchGAN scores D(x, y): pass the source x ({self.cond_channels} "
                                     f"channels) beside the target y.")
            else:
                y = torch.cat([x, y], dim=1)  # (B, C_A + C_B, H, W)
        if y.ndim != 4 or y.shape[1] != self.in_channels:
            raise ValueError(f"PatchGAN expects (B, {self.in_channels}, H, W) images, got {tuple(y.shape)}.")
        return self.net(y)

    def forward(self, y: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        return self.score_map(y, x).flatten()  # (B, 1, h, w) -> (B * h * w,)


# --------------------------------------------------------------------------------------------
# The objectives
# --------------------------------------------------------------------------------------------


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""The mean absolute difference :math:`\mathbb E\,\lvert a - b\rvert` over every pixel. Lecture 10."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: got {tuple(a.shape)} and {tuple(b.shape)}.")
    return (a - b).abs().mean()


def pix2pix_g_loss(fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor,
                   lam: float = 100.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""pix2pix's generator objective: non-saturating adversarial term plus :math:`\lambda` times L1.

    .. math:: L_G = -\mathbb E\log\sigma(D(x, G(x))) + \lambda\,\mathbb E\,\lvert y - G(x)\rvert

    Isola et al. 2017, eq. 4 with :math:`\lambda = 100`. Returns (total, adversarial, l1), 0-dim each.
    Lecture 10.
    """
    adv = g_loss_nonsaturating(fake_logits)
    rec = l1(fake, target)
    return adv + lam * rec, adv, rec


def pix2pix_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    r"""pix2pix's discriminator loss, halved as in the paper ("we divide the objective by 2 while optimizing D").

    .. math:: L_D = \tfrac12\big(-\mathbb E\log\sigma(D(x, y)) - \mathbb E\log(1 - \sigma(D(x, G(x))))\big)

    Isola et al. 2017, section 3.3. Lecture 10.
    """
    return 0.5 * d_loss(real_logits, fake_logits)


def cycle_consistency_loss(x: torch.Tensor, x_cycled: torch.Tensor, y: torch.Tensor,
                           y_cycled: torch.Tensor) -> torch.Tensor:
    r"""CycleGAN's cycle term, both directions, L1:

    .. math:: \mathcal L_{cyc} = \mathbb E\,\lvert F(G(x)) - x\rvert + \mathbb E\,\lvert G(F(y)) - y\rvert

    with ``x_cycled`` :math:`= F(G(x))` and ``y_cycled`` :math:`= G(F(y))`. Zhu et al. 2017, eq. 2
    (the caller weights it by :math:`\lambda = 10`). Lecture 10.
    """
    return l1(x_cycled, x) + l1(y_cycled, y)


def identity_loss(x: torch.Tensor, F_x: torch.Tensor, y: torch.Tensor, G_y: torch.Tensor) -> torch.Tensor:
    r"""CycleGAN's optional identity term, :math:`\mathbb E\lvert G(y) - y\rvert + \mathbb E\lvert F(x) - x\rvert`.

    Zhu et al. 2017, section 5.2 (weighted by :math:`0.5\lambda` in the paper). Lecture 10.
    """
    return l1(G_y, y) + l1(F_x, x)


class ImagePool:
    """A buffer of up to ``size`` past fakes: the discriminator sees a mix of old and new fakes.

    For each image of a batch: while the pool is not full, store it and return it; once full, with
    probability 1/2 return a stored image chosen at random and put the new one in its place,
    otherwise return the new image. Shrivastava et al. 2017 (arXiv:1612.07828), used by Zhu et al.
    2017, section 4 with ``size=50``. ``size=0`` turns it off. Randomness from ``generator``.
    Lecture 10.
    """

    def __init__(self, size: int = 50, generator: torch.Generator | None = None):
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}.")
        self.size, self.images = size, []
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        """The batch (B, C, H, W) to show D: each fake kept, or swapped for a past one. Detached."""
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        out = []
        for img in fakes:
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif float(torch.rand((), generator=self.generator)) < 0.5:
                k = int(torch.randint(len(self.images), (), generator=self.generator))
                out.append(self.images[k])
                self.images[k] = img.clone()
            else:
                out.append(img)
        return torch.stack(out)


# --------------------------------------------------------------------------------------------
# Two compact training loops
# --------------------------------------------------------------------------------------------


def _batch(n: int, batch_size: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(n, (batch_size,), generator=gen)


# Both loops run on one CPU thread: these nets are so small that a second thread only waits (on a
# loaded 2-core machine two threads ran many times slower than one), and results do not depend on
# the thread count.


@one_thread()
def train_pix2pix(G: nn.Module, D: PatchGAN, data: PairedData, *, steps: int, batch_size: int = 32,
                  lam: float = 100.0, lr: float = 2e-4, betas=(0.5, 0.999), seed: int = 0) -> History:
    r"""Train pix2pix: per step one D update on (source, target) against (source, G(source)), then one G update.

    D minimises :func:`pix2pix_d_loss`; G minimises :func:`pix2pix_g_loss` (``lam`` :math:`= \lambda`;
    ``lam=0`` is the plain conditional GAN, and a G trained with ``D=None`` sees only the L1 term).
    Adam at 2e-4, betas (0.5, 0.999), as in the paper. Returns the :class:`~gancourse.train.History`:
    ``loss_d``, ``loss_g`` per step, and ``parts`` ``adv`` and ``l1``.
    Lecture 10.
    """
    gen = torch.Generator().manual_seed(course_seed(seed))  # shifted by $GANCOURSE_SEED, as train_gan's stream
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas) if D is not None else None
    history = History()
    G.train()
    for _ in range(steps):
        idx = _batch(len(data), batch_size, gen)
        x, y = data.source[idx], data.target[idx]  # (B, C_A, H, W), (B, C_B, H, W)
        fake = G(x)
        loss_d = torch.zeros(())
        if D is not None:
            loss_d = pix2pix_d_loss(D(y, x), D(fake.detach(), x))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g, adv, rec = pix2pix_g_loss(D(fake, x), fake, y, lam)
        else:
            rec = l1(fake, y)
            adv, loss_g = torch.zeros(()), rec
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        history.record(loss_d=loss_d, loss_g=loss_g, adv=adv, l1=rec)
    G.eval()
    return history


@dataclass
class CycleGAN:
    """The four networks of CycleGAN: ``G`` (A -> B), ``G_BA`` (B -> A), ``D_A`` (judges A), ``D_B`` (judges B).

    ``G_BA`` is the paper's :math:`F` (Zhu et al. 2017), named so that it does not shadow
    ``torch.nn.functional as F``. Lecture 10.
    """

    G: nn.Module
    G_BA: nn.Module
    D_A: nn.Module
    D_B: nn.Module

    def to(self, device) -> "CycleGAN":
        """Move the four networks to ``device``; returns ``self``."""
        for m in (self.G, self.G_BA, self.D_A, self.D_B):
            m.to(device)
        return self


def build_cyclegan(channels: int = 1, width: int = 8, depth: int = 2, d_width: int = 8, d_layers: int = 2) -> CycleGAN:
    """Two :class:`UNet` generators and two unconditional :class:`PatchGAN` discriminators. Lecture 10."""
    return CycleGAN(UNet(channels, channels, width, depth), UNet(channels, channels, width, depth),
                    PatchGAN(channels, d_width, d_layers), PatchGAN(channels, d_width, d_layers))


@torch.no_grad()
def cycle_error(model: CycleGAN, a: torch.Tensor, b: torch.Tensor) -> float:
    r"""The reconstruction error of both cycles, :func:`cycle_consistency_loss` of held images (a float),
    computed where the model's weights are. Lecture 10."""
    device = next(model.G.parameters()).device
    a, b = a.to(device), b.to(device)
    with torch.no_grad():
        return float(cycle_consistency_loss(a, model.G_BA(model.G(a)), b, model.G(model.G_BA(b))))


@one_thread()
def train_cyclegan(model: CycleGAN, data: UnpairedData, *, steps: int, batch_size: int = 16,
                   lam_cycle: float = 10.0, lam_identity: float = 0.0, pool_size: int = 50, lr: float = 2e-4,
                   betas=(0.5, 0.999), seed: int = 0, eval_every: int = 0, eval_n: int = 128) -> History:
    r"""Train CycleGAN: per step one update of both generators, then one of both discriminators.

    .. math:: L_{G,F} = L^{LS}_G(D_B(G(a))) + L^{LS}_G(D_A(F(b))) + \lambda_{cyc}\mathcal L_{cyc}
              + \lambda_{id}\,\mathcal L_{id}

    Each discriminator minimises :func:`gancourse.losses.d_loss_least_squares` on real images against
    fakes drawn through its :class:`ImagePool`, halved as in the paper. Zhu et al. 2017
    (arXiv:1703.10593), section 4 (Adam 2e-4, :math:`\lambda_{cyc} = 10`, pool of 50). ``parts`` hold
    ``adv``, ``cycle`` (unweighted), ``identity`` and, every ``eval_every`` steps, ``cycle_eval``: the
    cycle error on the first ``eval_n`` images of each domain (with ``eval_step``). Trains where the
    networks' weights are (move them with :meth:`CycleGAN.to`); the data may stay on the CPU, only
    each batch moves. Lecture 10.
    """
    seed = course_seed(seed)  # shifted by $GANCOURSE_SEED, as train_gan's stream
    gen = torch.Generator().manual_seed(seed)
    pool_a = ImagePool(pool_size, torch.Generator().manual_seed(seed + 1))
    pool_b = ImagePool(pool_size, torch.Generator().manual_seed(seed + 2))
    G, G_BA, D_A, D_B = model.G, model.G_BA, model.D_A, model.D_B
    device = next(G.parameters()).device
    opt_g = torch.optim.Adam(list(G.parameters()) + list(G_BA.parameters()), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=lr, betas=betas)
    history = History()
    held_a, held_b = data.a[:eval_n], data.b[:eval_n]
    for step in range(steps + 1):
        if eval_every and step % eval_every == 0:
            history.record(cycle_eval=cycle_error(model, held_a, held_b), eval_step=step)
        if step == steps:
            break
        a = data.a[_batch(len(data.a), batch_size, gen)].to(device)  # (B, C, H, W)
        b = data.b[_batch(len(data.b), batch_size, gen)].to(device)
        # ---- the generators: fool both discriminators, and come back around both cycles
        fake_b, fake_a = G(a), G_BA(b)
        adv = g_loss_least_squares(D_B(fake_b)) + g_loss_least_squares(D_A(fake_a))
        cyc = cycle_consistency_loss(a, G_BA(fake_b), b, G(fake_a))
        ident = identity_loss(a, G_BA(a), b, G(b)) if lam_identity else torch.zeros((), device=device)
        loss_g = adv + lam_cycle * cyc + lam_identity * ident
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        # ---- the discriminators: real against (pooled) fakes
        loss_d = 0.5 * (d_loss_least_squares(D_A(a), D_A(pool_a.query(fake_a)))
                        + d_loss_least_squares(D_B(b), D_B(pool_b.query(fake_b))))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        history.record(loss_d=loss_d, loss_g=loss_g, adv=adv, cycle=cyc, identity=ident)
    for m in (G, G_BA, D_A, D_B):
        m.eval()
    return history
