r"""The course's judge: a small classifier that reads generated images offline.

A small convolutional classifier, trained by the package on each image dataset of the course and
cached like any checkpoint, judges samples with no download: its confidence says whether a sample
looks like *some* class, the histogram of its predictions says whether the generator covers the
classes (its entropy is at most :math:`\log K`), and its penultimate-layer features give a
Fréchet distance between real and generated images, the construction of FID (Heusel et al. 2017,
arXiv:1706.08500) with the course's classifier in place of Inception
(:func:`gancourse.metrics.fid_from_features`). Salimans et al. 2016 (arXiv:1606.03498) combine
confidence and class balance into the Inception score.

Lecture 03 introduces it and judges its DCGAN; lectures 04-08 judge their generators with it,
lecture 07 measures label fidelity, lecture 09 uses its features (:class:`ClassifierFeatures`) as
the offline FID extractor, lectures 10-11 read translations and latent walks with it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from gancourse.checkpoints import cache_path, load, save
from gancourse.config import budget, mode
from gancourse.data import image_dataset
from gancourse.metrics import fid_from_features

# --------------------------------------------------------------------------------------------
# The classifier and its training
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
        bar = tqdm(total=epochs * math.ceil(n / batch_size), desc=f"training the {dataset} classifier",
                   unit="batch", leave=False)  # off under TQDM_DISABLE=1
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            for i in range(0, n, batch_size):
                bar.update()
                idx = order[i:i + batch_size]
                x = _shift(train_set.images[idx], gen).to(dev)
                loss = F.cross_entropy(model(x), train_set.labels[idx].to(dev))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        bar.close()
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
    settings = classifier_settings(dataset)
    path = cache_path(f"classifier-{dataset}-{mode().lower()}.pt")
    if path.exists() and not retrain:
        ckpt = load(path, remedy=f"classifier({dataset!r}, retrain=True) trains it again")
        if ckpt.get("config") == settings:
            model = DigitClassifier(**ckpt["model"])
            model.load_state_dict(ckpt["state"])
            model.eval()
            model.heldout_accuracy = ckpt["accuracy"]
            return model
    model = train_classifier(**settings)
    save({"config": settings, "state": model.state_dict(), "accuracy": model.heldout_accuracy,
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
    return float(-(p * p.log()).sum()) + 0.0  # + 0.0 turns -0.0 (one class) into 0.0


def max_entropy(num_classes: int = 10) -> float:
    """:math:`\\log K`, the entropy of a uniform histogram over K classes. Lecture 03."""
    return math.log(num_classes)


def classifier_fd(model: DigitClassifier, real: torch.Tensor, fake: torch.Tensor) -> float:
    """The Fréchet distance between the classifier's features of real and of generated images (N, C, H, W).

    :func:`gancourse.metrics.fid_from_features` on the penultimate layer (:meth:`DigitClassifier.features`):
    FID with the course classifier in place of Inception. Lecture 03.
    """
    return fid_from_features(model.features(real), model.features(fake))


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


# --------------------------------------------------------------------------------------------
# Its features as an FID extractor (lecture 09)
# --------------------------------------------------------------------------------------------


class ClassifierFeatures:
    """The course classifier's penultimate layer (128 features) as an FID extractor: offline, for digits.

    ``dataset`` names the classifier (:func:`classifier`); ``model`` gives one directly. Calling the
    extractor on images (N, C, H, W) in [-1, 1] returns features (N, 128), float32 on the CPU.
    Lecture 09.
    """

    def __init__(self, dataset: str = "digits", model: DigitClassifier | None = None):
        self.model = model if model is not None else classifier(dataset)
        self.dataset = dataset
        self.name = f"course classifier ({dataset}, {self.model.head.in_features} features)"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.features(images)
