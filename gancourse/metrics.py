r"""Measuring generated images: a classifier as the course's offline judge, and the Fréchet distance.

A small convolutional classifier, trained by the package on each image dataset of the course and
cached like any checkpoint, judges samples with no download: its confidence says whether a sample
looks like *some* class, the histogram of its predictions says whether the generator covers the
classes, and its penultimate-layer features give a Fréchet distance between real and generated
images, the same construction as FID (Heusel et al. 2017, arXiv:1706.08500) with the course's
classifier in place of Inception. For features modelled as Gaussians
:math:`\mathcal N(\mu_1, \Sigma_1)` and :math:`\mathcal N(\mu_2, \Sigma_2)`,

.. math:: d_F^2 = \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
          - 2 \operatorname{tr}\big(\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}\big)^{1/2}

(Dowson & Landau 1982, the 2-Wasserstein distance between Gaussians). Lecture 03 judges its DCGAN
with these; lecture 07 measures label fidelity with the classifier; lecture 09 extends this module
with FID, KID and precision/recall.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gancourse.config import budget, cache_dir, mode
from gancourse.data import image_dataset

# --------------------------------------------------------------------------------------------
# The Fréchet distance between Gaussians
# --------------------------------------------------------------------------------------------


def _as_float64(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean (F,) and covariance (F, F) of features (N, F), in float64, the covariance divided by N - 1.

    .. math:: \mu = \tfrac1N \textstyle\sum_i f_i, \qquad
              \Sigma = \tfrac{1}{N-1} \textstyle\sum_i (f_i - \mu)(f_i - \mu)^\top

    (as ``numpy.cov`` and pytorch-fid compute it). Lecture 03.
    """
    f = _as_float64(features, "features")
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must have shape (N, F) with N >= 2, got {f.shape}.")
    mu = f.mean(axis=0)
    centred = f - mu  # (N, F)
    return mu, centred.T @ centred / (len(f) - 1)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    r"""The Fréchet distance between :math:`\mathcal N(\mu_1, \Sigma_1)` and :math:`\mathcal N(\mu_2, \Sigma_2)`.

    .. math:: d_F^2 = \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
              - 2 \sum_i \sqrt{\lambda_i\big(\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}\big)}

    Computed in float64 through eigenvalues: :math:`\Sigma_1^{1/2}` from ``eigh``, then the
    eigenvalues of the symmetric product :math:`\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}`, which equal
    those of :math:`\Sigma_1\Sigma_2` (similar matrices); tiny negative eigenvalues from rounding
    are set to 0. This replaces the ``scipy.linalg.sqrtm`` of the non-symmetric product used by
    pytorch-fid (same value, several times faster, no complex parts). Returns the squared distance
    :math:`d_F^2`, as FID does. Dowson & Landau 1982; Heusel et al. 2017 (arXiv:1706.08500), eq. 6.

    Args: ``mu1``, ``mu2`` (F,); ``sigma1``, ``sigma2`` (F, F) symmetric positive semi-definite.
    Returns: a float. Lecture 03.
    """
    mu1, mu2 = _as_float64(mu1, "mu1"), _as_float64(mu2, "mu2")
    sigma1, sigma2 = _as_float64(sigma1, "sigma1"), _as_float64(sigma2, "sigma2")
    f = mu1.shape[0] if mu1.ndim == 1 else -1
    for name, value, shape in (("mu1", mu1, (f,)), ("mu2", mu2, (f,)), ("sigma1", sigma1, (f, f)),
                               ("sigma2", sigma2, (f, f))):
        if f < 1 or value.shape != shape:
            raise ValueError(f"{name} has shape {value.shape}; expected {shape} (means (F,), covariances (F, F)).")
    evals, evecs = np.linalg.eigh(sigma1)
    root1 = (evecs * np.sqrt(np.clip(evals, 0, None))) @ evecs.T  # (F, F) the PSD square root
    sandwich = root1 @ sigma2 @ root1
    sandwich = (sandwich + sandwich.T) / 2  # symmetric up to rounding; make it exactly so
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(sandwich), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


# --------------------------------------------------------------------------------------------
# The course's classifier
# --------------------------------------------------------------------------------------------


class DigitClassifier(nn.Module):
    r"""A small CNN for the course's image datasets: images (B, C, H, W) -> logits (B, K).

    Three 3x3 convolutions with ReLU (two followed by 2x2 max pooling), an adaptive average pool
    to 3x3, then a hidden layer of ``feature_dim`` units (ReLU) whose activations are
    :meth:`features`, and a linear layer to the K classes. No batch norm, so an image's output
    does not depend on the rest of its batch. Images of another size are resized to ``img_size``.
    Lecture 03.
    """

    def __init__(self, channels: int = 1, num_classes: int = 10, img_size: int = 28, width: int = 32,
                 feature_dim: int = 128):
        super().__init__()
        self.channels, self.num_classes, self.img_size, self.width = channels, num_classes, img_size, width
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, w, H/2, W/2)
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 2w, H/4, W/4)
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(3), nn.Flatten(),  # (B, 4w * 9)
            nn.Linear(4 * width * 9, feature_dim), nn.ReLU(),  # (B, feature_dim): the features
        )
        self.head = nn.Linear(feature_dim, num_classes)
        self.heldout_accuracy: float | None = None  # set by train_classifier / classifier()

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected images (B, {self.channels}, H, W) in [-1, 1], got shape {tuple(x.shape)}.")
        x = x.to(next(self.parameters()).device, torch.float32)
        if x.shape[-1] != self.img_size or x.shape[-2] != self.img_size:
            x = F.interpolate(x, size=(self.img_size, self.img_size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.img_size)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self._prepare(x)))  # (B, K)

    @torch.no_grad()
    def _batched(self, fn, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        was_training = self.training
        self.eval()
        try:
            return torch.cat([fn(self._prepare(x[i:i + batch_size])).cpu() for i in range(0, len(x), batch_size)])
        finally:
            self.train(was_training)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer's activations (B, feature_dim), on the CPU, without gradients. Lecture 03."""
        return self._batched(self.body, x)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, K), on the CPU. Lecture 03."""
        return self._batched(lambda v: self.head(self.body(v)).softmax(dim=1), x)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The most probable class of each image (B,), int64 on the CPU. Lecture 03."""
        return self.predict_proba(x).argmax(dim=1)


def _shift(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translations by up to ``max_shift`` pixels (pad with the background -1, then crop)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)  # (B, C, H + 2m, W + 2m)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, b), generator=generator).tolist()
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])


def accuracy(model: DigitClassifier, dataset) -> float:
    """The fraction of a labelled :class:`~gancourse.data.ImageDataset` that ``model`` classifies correctly. Lecture 03."""
    return float((model.predict(dataset.images) == dataset.labels).float().mean())


def train_classifier(dataset: str = "digits", *, data_size: int = 28, input_size: int = 28, width: int = 32,
                     epochs: int = 12, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
                     device=None) -> DigitClassifier:
    """Train a :class:`DigitClassifier` on a dataset's training split and measure its held-out accuracy.

    The images come at ``data_size`` (the course's resolution) and the network resizes them to
    ``input_size``. Adam with a one-cycle learning-rate schedule (Smith & Topin 2017,
    arXiv:1708.07120) peaking at ``lr``, cross-entropy, random shifts of up to 2 pixels. Runs inside
    ``torch.random.fork_rng``, so the caller's random stream does not move. The model comes back on
    the CPU in evaluation mode with ``heldout_accuracy`` set. Lecture 03.
    """
    train_set = image_dataset(dataset, train=True, size=data_size)
    test_set = image_dataset(dataset, train=False, size=data_size)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = DigitClassifier(channels=train_set.shape[0], num_classes=len(train_set.classes),
                                img_size=input_size, width=width).to(dev).train()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        n = len(train_set)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * math.ceil(n / batch_size))
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            for i in range(0, n, batch_size):
                idx = order[i:i + batch_size]
                x = _shift(train_set.images[idx], gen).to(dev)
                loss = F.cross_entropy(model(x), train_set.labels[idx].to(dev))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    model.cpu().eval()
    model.heldout_accuracy = accuracy(model, test_set)
    return model


def classifier_settings(dataset: str = "digits") -> dict:
    """The training settings of the course classifier for a dataset, in this mode.

    The embedded digits are 8x8 scans shown at 28 pixels, so their classifier looks at 14 pixels
    (four times cheaper, as accurate); MNIST-class data is judged at full resolution. Lecture 03.
    """
    data_size = 32 if dataset == "cifar10" else 28
    return {"dataset": dataset, "data_size": data_size, "input_size": 14 if dataset == "digits" else data_size,
            "width": 32, "epochs": 12 if dataset == "digits" else budget(fast=2, full=5), "batch_size": 64,
            "lr": 2e-3, "seed": 0}


def classifier(dataset: str = "digits", retrain: bool = False) -> DigitClassifier:
    """The course's trained classifier for ``dataset``: loaded from the cache folder, or trained and cached.

    The checkpoint is keyed by dataset and mode and holds the settings; one written with other
    settings is retrained. Returns the model on the CPU in evaluation mode, with
    ``heldout_accuracy`` (on the dataset's held-out split). Lecture 03.
    """
    from gancourse.train import load_checkpoint, save_checkpoint

    settings = classifier_settings(dataset)
    path = cache_dir() / f"classifier-{dataset}-{mode().lower()}.pt"
    if path.exists() and not retrain:
        ckpt = load_checkpoint(path)
        if ckpt.get("config") == settings:
            model = DigitClassifier(**ckpt["model"])
            model.load_state_dict(ckpt["state"])
            model.eval()
            model.heldout_accuracy = ckpt["accuracy"]
            return model
    model = train_classifier(**settings)
    save_checkpoint({"config": settings, "state": model.state_dict(), "accuracy": model.heldout_accuracy,
                     "model": {"channels": model.channels, "num_classes": model.num_classes,
                               "img_size": model.img_size, "width": model.width}}, path)
    return model


# --------------------------------------------------------------------------------------------
# Judging samples with the classifier
# --------------------------------------------------------------------------------------------


def class_histogram(predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The share of predictions in each class, (K,) summing to 1. Lecture 03."""
    counts = torch.bincount(predictions.reshape(-1), minlength=num_classes).double()
    return counts / counts.sum()


def entropy(p: torch.Tensor) -> float:
    r"""The entropy :math:`H(p) = -\sum_k p_k \log p_k` in nats (0 log 0 = 0); at most :math:`\log K`. Lecture 03."""
    p = p[p > 0].double()
    return float(-(p * p.log()).sum())


def classifier_fd(model: DigitClassifier, real: torch.Tensor, fake: torch.Tensor) -> float:
    """The Fréchet distance between the classifier's features of real and of generated images. Lecture 03."""
    return frechet_distance(*feature_statistics(model.features(real)), *feature_statistics(model.features(fake)))


def sample_quality(model: DigitClassifier, fake: torch.Tensor, real: torch.Tensor | None = None,
                   min_share: float = 0.01) -> dict:
    r"""How the classifier judges a batch of generated images (B, C, H, W) in [-1, 1].

    Returns a dict:

    - ``confidence``: the mean top-class probability :math:`\frac1B\sum_i \max_k p(k \mid x_i)`
      (about 1/K for noise, near 1 for clean digits);
    - ``class_entropy``: the entropy (nats) of the histogram of predicted classes, :math:`\log K`
      (2.303 for 10 classes) when every class is predicted equally often, 0 for one class;
    - ``classes``: how many classes receive at least ``min_share`` of the predictions;
    - ``fd`` (only with ``real``): :func:`classifier_fd` between ``real`` and ``fake``.

    Salimans et al. 2016 (arXiv:1606.03498) combine the first two into the Inception score.
    Lecture 03.
    """
    proba = model.predict_proba(fake)  # (B, K)
    hist = class_histogram(proba.argmax(dim=1), model.num_classes)
    out = {"confidence": float(proba.max(dim=1).values.mean()),
           "class_entropy": entropy(hist),
           "classes": int((hist >= min_share).sum())}
    if real is not None:
        out["fd"] = classifier_fd(model, real, fake)
    return out


def max_entropy(num_classes: int = 10) -> float:
    """:math:`\\log K`, the entropy of a uniform histogram over K classes. Lecture 03."""
    return math.log(num_classes)


# --------------------------------------------------------------------------------------------
# Mode coverage on a toy mixture (lecture 04)
# --------------------------------------------------------------------------------------------

from typing import NamedTuple  # noqa: E402  (used by this section only)


class Coverage(NamedTuple):
    """What :func:`mode_coverage` measures: ``modes`` covered (int), the ``high_quality`` fraction
    of the samples (float in [0, 1]), and the high-quality ``counts`` per mode (M,) int64. Lecture 04."""

    modes: int
    high_quality: float
    counts: np.ndarray


def mode_coverage(samples, centers, std: float, n_std: float = 3.0, min_fraction: float = 0.01) -> Coverage:
    r"""How many modes of a Gaussian mixture the samples cover, and how many samples are any good.

    The protocol of the unrolled-GAN paper (Metz et al. 2017, arXiv:1611.02163, section 3.1) and
    VEEGAN (Srivastava et al. 2017, arXiv:1705.07761): each sample goes to its nearest centre
    :math:`c_{k(i)}`; it is *high quality* when it lies within ``n_std`` standard deviations of it,

    .. math:: \lVert x_i - c_{k(i)} \rVert_2 \le n_\sigma\,\sigma,

    and mode :math:`k` is *covered* when it holds at least ``min_fraction`` of all N samples as
    high-quality samples, :math:`\#\{i: k(i) = k, \text{high quality}\} \ge \lceil f_{\min} N \rceil`.
    The threshold is a share of *all* samples, not of the high-quality ones, so that when almost no
    sample is good, a stray one cannot cover a mode by itself.

    Args: ``samples`` (N, d) tensor or array; ``centers`` (M, d); ``std`` :math:`\sigma` of each mode.
    Returns: a :class:`Coverage` ``(modes, high_quality, counts)``. Lecture 04.
    """
    x = _as_float64(samples, "samples")
    c = _as_float64(centers, "centers")
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1] or len(x) == 0:
        raise ValueError(f"samples must be (N, d) and centers (M, d) with the same d and N >= 1; "
                         f"got samples {x.shape} and centers {c.shape}.")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}.")
    dist = np.sqrt(((x[:, None, :] - c[None, :, :]) ** 2).sum(-1))  # (N, M)
    nearest = dist.argmin(axis=1)  # (N,)
    good = dist[np.arange(len(x)), nearest] <= n_std * std  # (N,)
    counts = np.bincount(nearest[good], minlength=len(c)).astype(np.int64)  # (M,)
    needed = max(1, math.ceil(min_fraction * len(x) - 1e-9))
    return Coverage(int((counts >= needed).sum()), float(good.mean()), counts)
