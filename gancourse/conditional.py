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


def feature_body(channels: int, img_size: int, ndf: int, feature_dim: int | None = None,
                 norm: str = "none") -> tuple[nn.Sequential, int]:
    r"""The DCGAN discriminator's convolutions ending in F features instead of one logit: :math:`\phi`, (B, C, H, W) -> (B, F).

    The last convolution gives ``feature_dim`` F channels (default the last hidden width, 4 ``ndf``),
    followed by LeakyReLU(0.2) and a flatten. Returns ``(phi, F)``. Both discriminators of lecture 07
    can use it, so that they differ only in where the label enters. Lecture 07.
    """
    body = Discriminator(ndf=ndf, channels=channels, img_size=img_size, norm=norm).net
    last = body[-1]  # the convolution to one logit; replaced by one to F features
    if not isinstance(last, nn.Conv2d):
        raise TypeError(f"expected the DCGAN discriminator to end with a Conv2d, found {type(last).__name__}.")
    feature_dim = feature_dim or last.in_channels
    body[-1] = nn.Conv2d(last.in_channels, feature_dim, last.kernel_size, last.stride, last.padding)
    return nn.Sequential(*body, nn.LeakyReLU(0.2), nn.Flatten()), feature_dim  # (B, F, 1, 1) -> (B, F)


class ConcatDiscriminator(nn.Module):
    r"""A discriminator that reads the label as K one-hot maps stacked on the image: (B, C, H, W), (B,) -> (B,).

    .. math:: D(x, y) = f\big([x;\, \mathbb{1}_{y}]\big), \qquad [x; \mathbb{1}_y] \in \mathbb{R}^{(C+K) \times H \times W}

    with :math:`f` the DCGAN discriminator on C + K channels (Mirza & Osindero 2014, section 4.1,
    joined at the input of a convolutional D, as in Reed et al. 2016, arXiv:1605.05396, who join
    at a later layer). With ``feature_dim`` F, :math:`f = \psi \circ \phi` is the projection
    discriminator's body and unconditional head (:func:`feature_body` on C + K channels, then a
    linear :math:`\psi: \mathbb{R}^F \to \mathbb{R}`): the two discriminators then differ only in
    where the label enters, and have nearly the same number of parameters. ``spectral`` normalises
    every layer (then ``norm`` should be ``"none"``, as in SN-GAN). Lecture 07.
    """

    def __init__(self, n_classes: int = 10, channels: int = 1, img_size: int = 28, ndf: int = 64,
                 norm: str = "none", spectral: bool = True, feature_dim: int | None = None):
        super().__init__()
        self.n_classes, self.channels, self.img_size = n_classes, channels, img_size
        if feature_dim is None:  # the DCGAN discriminator, one logit
            self.net = Discriminator(ndf=ndf, channels=channels + n_classes, img_size=img_size, norm=norm)
        else:  # phi on [x; maps], then psi
            phi, feature_dim = feature_body(channels + n_classes, img_size, ndf, feature_dim, norm)
            self.net = nn.Sequential(phi, nn.Linear(feature_dim, 1), nn.Flatten(start_dim=0))  # (B, F) -> (B,)
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
        self.phi, feature_dim = feature_body(channels, img_size, ndf, feature_dim, norm)  # (B, C, H, W) -> (B, F)
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


# --------------------------------------------------------------------------------------------
# Projection against concatenation: matched discriminators, over seeds
# --------------------------------------------------------------------------------------------


def fidelity_over_training(history, classifier) -> dict:
    r"""Label fidelity of the samples a conditional run recorded while it trained: ``{step: fidelity}``.

    :func:`gancourse.train.train_gan` draws ``history.samples[k]`` from its fixed noise with the labels
    ``history.fixed_y`` (the classes in turn) after ``history.sample_steps[k]`` generator steps; the
    classifier reads each sample and we count the requested class, as :func:`label_fidelity` does.
    Lecture 07.
    """
    y = history.fixed_y
    if y is None:
        raise ValueError("this History holds no labels: it was not recorded by a conditional run (conditional=True).")
    return {step: float((classifier.predict(x) == y).double().mean())
            for step, x in zip(history.sample_steps, history.samples)}


def comparison_players(settings: dict, discriminator: str) -> tuple[nn.Module, nn.Module]:
    """The recipe's generator and one of two discriminators of matched size, from a ``conditional`` recipe's settings.

    ``discriminator`` is ``"concatenation"`` (label maps at the input, then the projection's body and
    a linear head) or ``"projection"``; both have the same body :func:`feature_body`, with F = 4
    ``width`` features, so they differ only in where the label enters. Draws from torch's global
    generator: seed first. Lecture 07.
    """
    model, size = settings["model"], settings["img_size"]
    channels = 3 if settings["dataset"] == "cifar10" else 1
    G = ConditionalGenerator(z_dim=model["z_dim"], n_classes=model["n_classes"], channels=channels, img_size=size,
                             ngf=model["width"])
    kinds = {"concatenation": ConcatDiscriminator, "projection": ProjectionDiscriminator}
    if discriminator not in kinds:
        raise ValueError(f"discriminator must be 'concatenation' or 'projection', got {discriminator!r}.")
    F_ = 4 * model["width"]
    D = kinds[discriminator](n_classes=model["n_classes"], channels=channels, img_size=size, ndf=model["width"],
                             feature_dim=F_, spectral=True)
    return G, D


def _comparison_name(settings: dict, discriminator: str, seed: int) -> str:
    from gancourse import checkpoints

    parts = "|".join(f"{k}={settings[k]}" for k in sorted(settings))
    return checkpoints.keyed_name("conditional-compare", discriminator, seed, parts)


def comparison_run(settings: dict, discriminator: str, seed: int, progress: bool = False):
    """Train (or load from the cache) one run of the comparison: ``(G, History)``, G in evaluation mode.

    Networks initialised from ``course_seed(seed)``, batches and noise from ``seed`` (both shifted by
    ``$GANCOURSE_SEED``), the recipe's training settings otherwise; the finished run is a checkpoint in
    the cache folder, keyed by every setting and the seed. Lecture 07.
    """
    from gancourse.config import course_seed
    from gancourse.data import image_dataset
    from gancourse.train import train_gan

    with torch.random.fork_rng():
        torch.manual_seed(course_seed(seed))
        G, D = comparison_players(settings, discriminator)
        data = image_dataset(settings["dataset"], size=settings["img_size"])
        history = train_gan(G, D, data, **{**settings["train"], "seed": seed, "checkpoint_every": None},
                            checkpoint=_comparison_name(settings, discriminator, seed), progress=progress)
    return G.eval(), history


def _comparison_worker(*args):
    *run, threads = args
    torch.set_num_threads(threads)  # the caller's count, so that a run's result does not depend on the workers
    comparison_run(*run)


def compare_discriminators(settings: dict, seeds=(0, 1, 2), discriminators=("concatenation", "projection"),
                           workers: int = 1) -> dict:
    """:func:`comparison_run` for every discriminator and seed: ``{(discriminator, seed): (G, History)}``.

    Runs missing from the cache train first in ``workers`` processes side by side (each with the
    caller's number of torch threads: the same results as one after the other), then every run is
    loaded. Lecture 07.
    """
    from gancourse import checkpoints

    jobs = [(settings, d, s, torch.get_num_threads()) for d in discriminators for s in seeds]
    checkpoints.side_by_side(_comparison_worker, jobs,
                             lambda *j: checkpoints.cache_path(_comparison_name(*j[:3])).exists(), workers)
    return {(d, s): comparison_run(settings, d, s) for _, d, s, _ in jobs}
