r"""Conditional GANs: a generator and discriminators that are told the class label.

Both players see the label :math:`y` (Mirza & Osindero 2014, arXiv:1411.1784), and the game
becomes

.. math:: \min_G \max_D \; \mathbb{E}_{(x, y) \sim p_\text{data}}\big[\log D(x, y)\big]
          + \mathbb{E}_{z \sim p_z,\, y \sim p(y)}\big[\log\big(1 - D(G(z, y), y)\big)\big],

so that at the optimum :math:`G(\cdot, y)` matches each class-conditional :math:`p_\text{data}(x \mid y)`.
This module gives the three pieces of lecture 07, all called as ``G(z, y)`` and ``D(x, y)`` and
trained by :func:`gancourse.train.train_gan` with ``conditional=True``:

- :class:`ConditionalGenerator`: a learned label embedding joined to :math:`z`, then the DCGAN
  generator;
- :class:`ConcatDiscriminator`: the label as K one-hot maps joined to the image's channels;
- :class:`ProjectionDiscriminator`: Miyato & Koyama 2018 (arXiv:1802.05637), eq. 3,
  :math:`D(x, y) = \psi(\phi(x)) + \langle e(y), \phi(x) \rangle`, the form that follows from
  modelling :math:`\log p(y \mid x)` as a softmax over the features :math:`\phi(x)`.

:func:`label_fidelity` measures how often a classifier recognises the requested class in the samples.
Lecture 07.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gancourse.dcgan import Discriminator, Generator, weights_init
from gancourse.spectral import apply_spectral_norm


def check_labels(y, batch_size: int, n_classes: int, name: str = "y") -> None:
    """Raise unless ``y`` is an integer tensor of shape (B,) with values in [0, K). Lecture 07."""
    if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        got = f"a tensor of dtype {y.dtype}" if isinstance(y, torch.Tensor) else type(y).__name__
        raise TypeError(f"{name} must be an integer tensor of class indices, got {got}; build it with torch.tensor([...]) or .long().")
    if y.shape != (batch_size,):
        raise ValueError(f"{name} must have shape ({batch_size},), one label per sample, got {tuple(y.shape)}.")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got values from {int(y.min())} to {int(y.max())}.")


# --------------------------------------------------------------------------------------------
# The generator: embedding joined to z
# --------------------------------------------------------------------------------------------


class ConditionalGenerator(nn.Module):
    r"""The DCGAN generator fed :math:`[z; e(y)]`: noise (B, Z) and labels (B,) -> images (B, C, H, W).

    A learned embedding :math:`e(y) \in \mathbb{R}^E` of the label (``embed_dim`` E, default K) is
    concatenated to :math:`z`, and the DCGAN :class:`~gancourse.dcgan.Generator` with input size
    Z + E grows the image. The cGAN of Mirza & Osindero 2014 (arXiv:1411.1784), section 4.1, with a
    learned embedding in place of the one-hot vector (the one-hot vector is the special case of an
    embedding table fixed to the identity). Weights: the DCGAN initialisation; the embedding
    :math:`\mathcal N(0, 1)`, the scale of :math:`z`.

    ``z_dim`` is Z, read by the training loop. Lecture 07.
    """

    def __init__(self, z_dim: int = 100, n_classes: int = 10, channels: int = 1, img_size: int = 28,
                 ngf: int = 64, embed_dim: int | None = None):
        super().__init__()
        self.z_dim, self.n_classes = z_dim, n_classes
        embed_dim = embed_dim or n_classes
        self.embed = nn.Embedding(n_classes, embed_dim)
        self.net = Generator(z_dim=z_dim + embed_dim, ngf=ngf, channels=channels, img_size=img_size)
        self.net.apply(weights_init)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = z.flatten(start_dim=1)  # (B, Z, 1, 1) or (B, Z) -> (B, Z)
        if z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}.")
        check_labels(y, z.shape[0], self.n_classes)
        h = torch.cat([z, self.embed(y)], dim=1)  # (B, Z + E)
        return self.net(h)  # (B, C, H, W)


# --------------------------------------------------------------------------------------------
# Discriminator 1: the label as extra input channels
# --------------------------------------------------------------------------------------------


def label_maps(y: torch.Tensor, n_classes: int, height: int, width: int) -> torch.Tensor:
    """One-hot labels (B,) as K constant maps (B, K, H, W): map k is 1 where y = k, else 0. Lecture 07."""
    one_hot = F.one_hot(y.long(), n_classes).float()  # (B, K)
    return one_hot[:, :, None, None].expand(-1, -1, height, width)  # (B, K, H, W)


class ConcatDiscriminator(nn.Module):
    r"""A discriminator that reads the label as K one-hot maps stacked on the image: (B, C, H, W), (B,) -> (B,).

    .. math:: D(x, y) = f\big([x;\, \mathbb{1}_{y}]\big), \qquad [x; \mathbb{1}_y] \in \mathbb{R}^{(C+K) \times H \times W}

    with :math:`f` the DCGAN discriminator on C + K channels (Mirza & Osindero 2014, section 4.1,
    joined at the input of a convolutional D, as in Reed et al. 2016, arXiv:1605.05396, who join
    at a later layer). ``spectral`` normalises every layer (then ``norm`` should be ``"none"``,
    as in SN-GAN). Lecture 07.
    """

    def __init__(self, n_classes: int = 10, channels: int = 1, img_size: int = 28, ndf: int = 64,
                 norm: str = "none", spectral: bool = True):
        super().__init__()
        self.n_classes, self.channels, self.img_size = n_classes, channels, img_size
        self.net = Discriminator(ndf=ndf, channels=channels + n_classes, img_size=img_size, norm=norm)
        self.net.apply(weights_init)
        if spectral:
            apply_spectral_norm(self.net)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.img_size, self.img_size):
            raise ValueError(f"x must have shape (B, {self.channels}, {self.img_size}, {self.img_size}), got {tuple(x.shape)}.")
        check_labels(y, x.shape[0], self.n_classes)
        h = torch.cat([x, label_maps(y, self.n_classes, self.img_size, self.img_size)], dim=1)  # (B, C + K, H, W)
        return self.net(h)  # (B,)


# --------------------------------------------------------------------------------------------
# Discriminator 2: the projection
# --------------------------------------------------------------------------------------------


def projection_score(features: torch.Tensor, y: torch.Tensor, psi: nn.Module, embed: nn.Module) -> torch.Tensor:
    r"""The projection discriminator's output from the features :math:`\phi(x)`.

    .. math:: D(x, y) = \psi(\phi(x)) + \langle e(y), \phi(x) \rangle
              = \psi(\phi(x)) + \sum_{j=1}^{F} e(y)_j \, \phi(x)_j

    one score per sample: the inner product runs over the F features, never over the batch.
    Miyato & Koyama 2018 (arXiv:1802.05637), eq. 3 (their :math:`V` is the embedding :math:`e`).

    Args: ``features`` (B, F); ``y`` (B,) labels; ``psi`` maps (B, F) to (B, 1); ``embed`` maps
    (B,) labels to (B, F). Returns: (B,). Lecture 07.
    """
    unconditional = psi(features).squeeze(1)  # (B, 1) -> (B,)
    inner = (embed(y) * features).sum(dim=1)  # (B, F) * (B, F) -> (B,): one inner product per sample
    return unconditional + inner


class ProjectionDiscriminator(nn.Module):
    r"""The projection discriminator: (B, C, H, W), (B,) -> (B,).

    .. math:: D(x, y) = \psi(\phi(x)) + \langle e(y), \phi(x) \rangle

    :math:`\phi` is the DCGAN discriminator's convolution stack whose last layer gives F features
    instead of one logit (followed by LeakyReLU); :math:`\psi` is a linear map :math:`\mathbb{R}^F
    \to \mathbb{R}`; :math:`e` embeds each of the K labels in :math:`\mathbb{R}^F`. The label
    enters only at the end, as an inner product with the features (see :func:`projection_score`).
    Miyato & Koyama 2018 (arXiv:1802.05637), figure 1 and eq. 3; with ``spectral`` every layer,
    the embedding included, is spectrally normalised, as in their experiments.

    ``feature_dim`` F defaults to the last hidden width, 4 ``ndf``. Lecture 07.
    """

    def __init__(self, n_classes: int = 10, channels: int = 1, img_size: int = 28, ndf: int = 64,
                 feature_dim: int | None = None, norm: str = "none", spectral: bool = True):
        super().__init__()
        self.n_classes, self.channels, self.img_size = n_classes, channels, img_size
        body = Discriminator(ndf=ndf, channels=channels, img_size=img_size, norm=norm).net
        last = body[-1]  # the convolution to one logit; replaced by one to F features
        if not isinstance(last, nn.Conv2d):
            raise TypeError(f"expected the DCGAN discriminator to end with a Conv2d, found {type(last).__name__}.")
        feature_dim = feature_dim or last.in_channels
        body[-1] = nn.Conv2d(last.in_channels, feature_dim, last.kernel_size, last.stride, last.padding)
        self.phi = nn.Sequential(*body, nn.LeakyReLU(0.2), nn.Flatten())  # (B, F, 1, 1) -> (B, F)
        self.psi = nn.Linear(feature_dim, 1)
        self.embed = nn.Embedding(n_classes, feature_dim)
        self.apply(weights_init)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)
        if spectral:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.img_size, self.img_size):
            raise ValueError(f"x must have shape (B, {self.channels}, {self.img_size}, {self.img_size}), got {tuple(x.shape)}.")
        check_labels(y, x.shape[0], self.n_classes)
        return projection_score(self.phi(x), y, self.psi, self.embed)  # (B,)


# --------------------------------------------------------------------------------------------
# Sampling by class, and label fidelity
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def samples_by_class(G: nn.Module, n_per_class: int, n_classes: int | None = None, seed: int = 0):
    """``n_per_class`` samples of every class, class by class: images (K n, C, H, W) on the CPU and labels (K n,).

    The noise comes from a ``torch.Generator`` seeded with ``seed`` (the global stream does not
    move); sample i of every class uses the same z, so a row of the grid differs only in its label.
    G runs in evaluation mode and is restored. Lecture 07.
    """
    n_classes = n_classes or G.n_classes
    dev = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n_per_class, G.z_dim, generator=gen).repeat(n_classes, 1)  # (K n, Z): same z in every class
    y = torch.arange(n_classes).repeat_interleave(n_per_class)  # (K n,) 0,0,..,1,1,..
    was_training = G.training
    G.eval()
    try:
        x = G(z.to(dev), y.to(dev)).float().cpu()
    finally:
        G.train(was_training)
    return x, y


def label_fidelity(G: nn.Module, classifier, n_per_class: int = 100, n_classes: int | None = None,
                   seed: int = 0) -> dict:
    r"""How often a classifier recognises the requested class in a conditional generator's samples.

    .. math:: \text{fidelity} = \frac{1}{KN}\sum_{k=1}^{K}\sum_{i=1}^{N} \mathbb{1}\big[\hat y\big(G(z_i, k)\big) = k\big]

    with :math:`\hat y` the classifier's prediction (chance level 1/K). Returns a dict with
    ``accuracy`` (float), ``per_class`` (K,) and ``confusion`` (K, K) counts, rows the requested
    class and columns the predicted one. Odena et al. 2017 (AC-GAN, arXiv:1610.09585), section 4.2,
    measure their samples the same way. Lecture 07.
    """
    x, y = samples_by_class(G, n_per_class, n_classes, seed)
    pred = classifier.predict(x)  # (K n,)
    k = n_classes or G.n_classes
    confusion = torch.bincount(y * k + pred, minlength=k * k).reshape(k, k)  # (K, K) requested x predicted
    per_class = confusion.diag().double() / confusion.sum(dim=1).double()  # (K,)
    return {"accuracy": float((pred == y).double().mean()), "per_class": per_class, "confusion": confusion}
