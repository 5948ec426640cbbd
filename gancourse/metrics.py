r"""Measuring generated samples: the Fréchet distance, FID, KID, precision and recall, mode coverage.

Every measure compares two samples, real and generated, through a fixed representation. For
features modelled as Gaussians :math:`\mathcal N(\mu_1, \Sigma_1)` and :math:`\mathcal N(\mu_2, \Sigma_2)`,
the Fréchet distance is

.. math:: d_F^2 = \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
          - 2 \operatorname{tr}\big(\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}\big)^{1/2}

(Dowson & Landau 1982, the 2-Wasserstein distance between Gaussians); FID is this distance between
Inception features (Heusel et al. 2017, arXiv:1706.08500), and the course's judge
(:mod:`gancourse.judge`) computes it on its classifier's features from lecture 03 on. Lecture 04
counts the modes of a toy mixture that samples cover (:func:`mode_coverage`). Lecture 09 adds FID of
a generator with either extractor, KID (Binkowski et al. 2018, arXiv:1801.01401), precision and
recall (Kynkaanniemi et al. 2019, arXiv:1904.06991) and density and coverage (Naeem et al. 2020,
arXiv:2002.09797). Every function on features takes arrays (N, F): the activations of a fixed network
(an "extractor") on N images, converted to float64.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gancourse.validate import check_finite, check_int, check_number

# --------------------------------------------------------------------------------------------
# Features as float64, checked
# --------------------------------------------------------------------------------------------


def _as_float64(x) -> np.ndarray:
    """A tensor or array-like as a float64 NumPy array (detached, on the CPU): the one conversion of this module."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


MAX_FEATURE = 1e30  # larger features overflow float64 in a covariance (squared) or KID's kernel (sixth power)


def _check_features(a, b, names=("feats_a", "feats_b"), min_samples: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Two feature sets as float64 tensors (N, F) and (M, F); a ValueError for anything else."""
    out = []
    for name, x in zip(names, (a, b)):
        x = torch.from_numpy(_as_float64(x))  # (N, F) float64
        if x.ndim != 2:
            raise ValueError(f"{name} must have shape (N, F), one row of features per image; got shape {tuple(x.shape)}.")
        if len(x) < min_samples:
            raise ValueError(f"{name} has {len(x)} sample(s); at least {min_samples} are needed "
                             f"(a covariance or a nearest neighbour needs more than one point).")
        if not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x)).any(dim=1).sum())
            raise ValueError(f"{name} holds non-finite values (NaN or inf) in {bad} of its {len(x)} rows; "
                             f"check the images (a diverged generator?) and the extractor.")
        if len(x) and float(x.abs().max()) > MAX_FEATURE:
            raise ValueError(f"{name} holds values as large as {float(x.abs().max()):.3g}: beyond {MAX_FEATURE:.0e}, "
                             f"covariances and cubic kernels overflow float64. Check the extractor (features are "
                             f"usually below 1e4), or rescale both sets by the same factor.")
        out.append(x)
    if out[0].shape[1] != out[1].shape[1]:
        raise ValueError(f"feature widths differ: {names[0]} has {out[0].shape[1]} features per sample and "
                         f"{names[1]} has {out[1].shape[1]}; both sets must come from the same extractor.")
    return out[0], out[1]


# --------------------------------------------------------------------------------------------
# The Fréchet distance between Gaussians (lectures 03 and 09)
# --------------------------------------------------------------------------------------------


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean (F,) and covariance (F, F) of features (N, F), in float64, the covariance divided by N - 1.

    .. math:: \mu = \tfrac1N \textstyle\sum_i f_i, \qquad
              \Sigma = \tfrac{1}{N-1} \textstyle\sum_i (f_i - \mu)(f_i - \mu)^\top

    (as ``numpy.cov`` and pytorch-fid compute it). Lecture 03.
    """
    f = _as_float64(features)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must have shape (N, F) with N >= 2, got {f.shape}.")
    mu = f.mean(axis=0)
    centred = f - mu  # (N, F)
    return mu, centred.T @ centred / (len(f) - 1)


PSD_TOLERANCE = 1e-5  # eigenvalues below -PSD_TOLERANCE * (largest |eigenvalue|) are not rounding


def _check_statistic(name: str, value: np.ndarray) -> None:
    """A mean or covariance for :func:`frechet_distance`: finite, and a covariance symmetric."""
    if not np.isfinite(value).all():
        raise ValueError(f"{name} holds {int((~np.isfinite(value)).sum())} non-finite value(s) (NaN or inf); "
                         f"compute it from finite features, e.g. with feature_statistics(features).")
    if value.ndim == 2:
        asymmetry = float(np.abs(value - value.T).max())
        if asymmetry > 1e-6 * max(float(np.abs(value).max()), 1e-300):
            raise ValueError(f"{name} is not symmetric (|{name} - {name}.T| reaches {asymmetry:.3g}), so it is not a "
                             f"covariance; pass np.cov(features, rowvar=False) or feature_statistics(features)[1].")


def _check_psd(name: str, eigenvalues: np.ndarray) -> None:
    """Eigenvalues (of a covariance, or of a matrix congruent to one) far below 0: not a covariance."""
    scale = max(float(np.abs(eigenvalues).max()), 1e-300)
    if float(eigenvalues.min()) < -PSD_TOLERANCE * scale:
        raise ValueError(f"{name} is not positive semi-definite: it has an eigenvalue of {float(eigenvalues.min()):.3g} "
                         f"(the largest in size is {scale:.3g}), and a covariance has none below 0. Pass "
                         f"np.cov(features, rowvar=False) or feature_statistics(features)[1].")


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    r"""The Fréchet distance between :math:`\mathcal N(\mu_1, \Sigma_1)` and :math:`\mathcal N(\mu_2, \Sigma_2)`.

    .. math:: d_F^2 = \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
              - 2 \sum_i \sqrt{\lambda_i\big(\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}\big)}

    Computed in float64 through eigenvalues only. With a Cholesky factor :math:`\Sigma_1 = LL^\top`,
    the symmetric matrix :math:`L^\top\Sigma_2 L` is similar to :math:`\Sigma_1\Sigma_2`, so its
    eigenvalues (from ``eigvalsh``) are those we need, and no square-root matrix is formed. When
    :math:`\Sigma_1` is singular (fewer samples than features) Cholesky fails and the code takes
    :math:`\Sigma_1^{1/2}` from ``eigh`` instead, then the eigenvalues of
    :math:`\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}`: the same spectrum. Tiny negative eigenvalues from
    rounding are set to 0. This replaces the ``scipy.linalg.sqrtm`` of the non-symmetric product used by
    pytorch-fid (same value, several times faster, no complex parts). Returns the squared distance
    :math:`d_F^2`, as FID does. Dowson & Landau 1982; Heusel et al. 2017 (arXiv:1706.08500), eq. 6.

    Args: ``mu1``, ``mu2`` (F,); ``sigma1``, ``sigma2`` (F, F) symmetric positive semi-definite.
    Returns: a float. Raises ``ValueError`` for non-finite values, a non-symmetric covariance or one
    with a clearly negative eigenvalue (Cholesky and ``eigvalsh`` read one triangle only, so such input
    would give a wrong number, not an error). Lecture 03.
    """
    mu1, mu2, sigma1, sigma2 = (_as_float64(v) for v in (mu1, mu2, sigma1, sigma2))
    f = mu1.shape[0] if mu1.ndim == 1 else -1
    for name, value, shape in (("mu1", mu1, (f,)), ("mu2", mu2, (f,)), ("sigma1", sigma1, (f, f)),
                               ("sigma2", sigma2, (f, f))):
        if f < 1 or value.shape != shape:
            raise ValueError(f"{name} has shape {value.shape}; expected {shape} (means (F,), covariances (F, F)).")
        _check_statistic(name, value)
    try:
        L = np.linalg.cholesky(sigma1)  # (F, F) lower triangular, sigma1 = L L^T
        sandwich = L.T @ sigma2 @ L  # congruent to sigma2: as many negative eigenvalues as it has
    except np.linalg.LinAlgError:  # singular sigma1: the PSD square root instead
        evals, evecs = np.linalg.eigh(sigma1)
        _check_psd("sigma1", evals)
        _check_psd("sigma2", np.linalg.eigvalsh(sigma2))  # the sandwich below cannot see all of sigma2
        root1 = (evecs * np.sqrt(np.clip(evals, 0, None))) @ evecs.T  # (F, F)
        sandwich = root1 @ sigma2 @ root1
    sandwich = (sandwich + sandwich.T) / 2  # symmetric up to rounding; make it exactly so
    lambdas = np.linalg.eigvalsh(sandwich)
    _check_psd("sigma2", lambdas)
    tr_covmean = np.sqrt(np.clip(lambdas, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def fid_from_features(feats_a, feats_b) -> float:
    r"""The Fréchet distance between two sets of features (N, F) and (M, F), each modelled as a Gaussian.

    .. math:: \mathrm{FID} = \lVert \mu_a - \mu_b \rVert^2 + \operatorname{tr}\big(\Sigma_a + \Sigma_b
              - 2 (\Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2})^{1/2}\big)

    with :math:`\mu, \Sigma` from :func:`feature_statistics` (float64, divided by N - 1) and the
    distance from :func:`frechet_distance`. Heusel et al. 2017 (arXiv:1706.08500), eq. 6.

    With no more samples than features (N <= F) the covariance has rank at most N - 1 < F: the
    estimate is then dominated by sampling noise, and a warning says so. Raises ``ValueError`` for
    mismatched widths, fewer than two samples, or non-finite features. Returns a float.
    Lectures 03 (through :func:`gancourse.judge.classifier_fd`) and 09.
    """
    a, b = _check_features(feats_a, feats_b)
    width = a.shape[1]
    n_min = min(len(a), len(b))
    if n_min <= width:
        warnings.warn(f"only {n_min} samples for {width} features: the covariance has rank at most {n_min - 1} "
                      f"< {width}, so it misses whole directions and FID is unreliable (biased upward and noisy). "
                      f"Use more samples than features (papers use 50,000), or an extractor with fewer features.",
                      stacklevel=2)
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))


# --------------------------------------------------------------------------------------------
# Mode coverage on a toy mixture (lecture 04)
# --------------------------------------------------------------------------------------------


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
    x, c = _as_float64(samples), _as_float64(centers)
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1] or len(x) == 0:
        raise ValueError(f"samples must be (N, d) and centers (M, d) with the same d and N >= 1; "
                         f"got samples {x.shape} and centers {c.shape}.")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}.")
    check_number(n_std, "n_std", low=0, low_open=True)
    check_number(min_fraction, "min_fraction", low=0, high=1)
    check_finite(x, "samples", hint="A diverged generator makes NaNs; its coverage is not a number to report.")
    dist = np.sqrt(((x[:, None, :] - c[None, :, :]) ** 2).sum(-1))  # (N, M)
    nearest = dist.argmin(axis=1)  # (N,)
    good = dist[np.arange(len(x)), nearest] <= n_std * std  # (N,)
    counts = np.bincount(nearest[good], minlength=len(c)).astype(np.int64)  # (M,)
    needed = max(1, math.ceil(min_fraction * len(x) - 1e-9))
    return Coverage(int((counts >= needed).sum()), float(good.mean()), counts)


# --------------------------------------------------------------------------------------------
# Lecture 09: FID, KID, precision and recall
# --------------------------------------------------------------------------------------------
#
# Heusel et al. 2017 (arXiv:1706.08500) FID; Binkowski et al. 2018 (arXiv:1801.01401) KID;
# Kynkaanniemi et al. 2019 (arXiv:1904.06991) precision and recall; Naeem et al. 2020
# (arXiv:2002.09797) density and coverage.


# ---- feature extractors: images (N, C, H, W) in [-1, 1] -> features (N, F)


INCEPTION_WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"  # pytorch-fid's port of the TF FID Inception
INCEPTION_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + INCEPTION_WEIGHTS
# The file's SHA-256 (95,628,359 bytes; its name carries the first 8 digits, torch hub's convention).
# Checked before anything unpickles the file: a .pth file from elsewhere could run code when loaded.
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"


class InceptionWeightsError(RuntimeError):
    """The FID Inception weights are missing, could not be downloaded, or are not the expected file. Lecture 09."""


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _how_to_place(path: Path) -> str:
    from gancourse.config import _short  # the path as a learner would write it (~/...)

    return (f"To place the file by hand: download {INCEPTION_URL} on a machine with network, check it with "
            f"`sha256sum {INCEPTION_WEIGHTS}` (or hashlib.sha256 in Python), which must print {INCEPTION_SHA256}, "
            f"and copy it to {_short(path)} (torch.hub.get_dir()/checkpoints, moved by TORCH_HOME). Or use the offline "
            f"extractor: extractor='classifier' (the course classifier).")


def _download_inception(path: Path) -> None:
    """Download the weights into a private temporary folder, check their hash, then move them to ``path``.

    Nothing is created under torch's home unless the file arrived whole and its hash matched.
    """
    import shutil
    import socket
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="gancourse-inception-"))
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)  # never hang on a dead route
    try:
        tmp = folder / INCEPTION_WEIGHTS
        torch.hub.download_url_to_file(INCEPTION_URL, str(tmp), progress=False)
        digest = _sha256(tmp)
        if digest != INCEPTION_SHA256:
            raise InceptionWeightsError(f"the file downloaded from {INCEPTION_URL} has SHA-256 {digest}, not "
                                        f"{INCEPTION_SHA256}; it was not loaded. " + _how_to_place(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        shutil.copyfile(tmp, partial)  # torch's home may be on another file system: copy, then rename
        os.replace(partial, path)
    finally:
        socket.setdefaulttimeout(old_timeout)
        shutil.rmtree(folder, ignore_errors=True)


def _inception_from_file(path: Path) -> nn.Module:
    """pytorch-fid's InceptionV3 with the weights at ``path``: hash checked, then ``torch.load(weights_only=True)``."""
    from pytorch_fid import inception as pytorch_fid_inception

    from gancourse.config import _short

    digest = _sha256(path)
    if digest != INCEPTION_SHA256:
        raise InceptionWeightsError(f"{_short(path)} is not pytorch-fid's FID Inception weights: its SHA-256 is {digest}, "
                                    f"expected {INCEPTION_SHA256}. It was not loaded (unpickling a file from "
                                    f"elsewhere can run code). Delete it. " + _how_to_place(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise InceptionWeightsError(f"cannot read {_short(path)} as a state dict ({type(err).__name__}). Delete it. "
                                    + _how_to_place(path)) from None
    # pytorch-fid builds its network and fetches the weights in one call: hand it the state dict read above
    # instead of letting it download and unpickle a file itself
    original = pytorch_fid_inception.load_state_dict_from_url
    pytorch_fid_inception.load_state_dict_from_url = lambda url, **kwargs: state
    try:
        return pytorch_fid_inception.InceptionV3([pytorch_fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]],
                                                 resize_input=False, normalize_input=True)
    finally:
        pytorch_fid_inception.load_state_dict_from_url = original


def inception_weights_path():
    """Where pytorch-fid's FID Inception weights live on disk: torch hub's checkpoints folder (``TORCH_HOME``). Lecture 09."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS


def inception_preprocess(images: torch.Tensor) -> torch.Tensor:
    r"""Images (N, C, H, W) in [-1, 1] -> what the FID Inception expects: (N, 3, 299, 299) in [0, 1].

    :math:`x \mapsto (x + 1)/2`; one channel (grayscale) is tiled to three; the side is resized to
    299 by bilinear interpolation with ``align_corners=False``, as pytorch-fid's ``InceptionV3``
    does with ``resize_input=True`` (it then maps [0, 1] to [-1, 1] itself). Lecture 09.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images (N, 1 or 3, H, W) in [-1, 1], got shape {tuple(images.shape)}.")
    x = ((images.float() + 1) / 2).clamp(0, 1)  # [-1, 1] -> [0, 1]
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)  # (N, 1, H, W) -> (N, 3, H, W): grayscale as RGB
    return F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)  # (N, 3, 299, 299)


class InceptionFeatures:
    """InceptionV3 with the FID weights (pool3, 2048 features) through pytorch-fid: FID as papers report it.

    The weights come from disk (:func:`inception_weights_path`) or, with ``download=True``, from
    pytorch-fid's release page; either way their SHA-256 is checked against :data:`INCEPTION_SHA256`
    before they are read, with ``torch.load(weights_only=True)``. With neither, an
    :class:`InceptionWeightsError` (a ``RuntimeError``) says so, how to place and check the file by hand, and names the offline
    alternative, :class:`gancourse.judge.ClassifierFeatures`. ``model`` replaces the network (any module mapping
    (N, 3, 299, 299) in [0, 1] to a list whose first entry is (N, F, 1, 1), as pytorch-fid's does).
    Images pass through :func:`inception_preprocess` in batches of ``batch_size``. Lecture 09.
    """

    def __init__(self, download: bool = True, model: nn.Module | None = None, batch_size: int = 50):
        self.batch_size = batch_size
        self.model = model if model is not None else self._load(download)
        self.model.eval()
        self.name = "InceptionV3 pool3 (FID weights, 2048 features)" if model is None else "InceptionV3 stand-in"

    @staticmethod
    def _load(download: bool) -> nn.Module:
        path = inception_weights_path()
        start = f"FID needs InceptionV3's FID weights (pytorch-fid's {INCEPTION_WEIGHTS}), downloaded once from GitHub. "
        if not path.exists():
            if not download:
                raise InceptionWeightsError(start + "They are not on disk and download=False. " + _how_to_place(path))
            try:
                _download_inception(path)
            except InceptionWeightsError:
                raise
            except Exception as err:  # no network, a proxy refusing, a dropped connection: all end the same way
                raise InceptionWeightsError(start + f"Downloading them failed ({type(err).__name__}: {err}). "
                                            + _how_to_place(path)) from None
        return _inception_from_file(path)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        dev = next(self.model.parameters()).device
        out = []
        starts = range(0, len(images), self.batch_size)
        if len(starts) > 1:  # Inception at 299x299 takes seconds a batch on a CPU; off under TQDM_DISABLE=1
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="Inception features", unit="batch", leave=False)
        for i in starts:
            x = inception_preprocess(images[i:i + self.batch_size]).to(dev)  # (B, 3, 299, 299) in [0, 1]
            f = self.model(x)[0]  # (B, 2048, 1, 1) after the global average pool
            out.append(f.reshape(len(x), -1).cpu())  # (B, 2048)
        return torch.cat(out)


def feature_extractor(extractor="classifier", dataset: str = "digits"):
    """An extractor by name: ``"classifier"`` (:class:`ClassifierFeatures`, offline) or ``"inception"``
    (:class:`InceptionFeatures`); an extractor object passes through. Lecture 09."""
    if extractor == "classifier":
        from gancourse.judge import ClassifierFeatures  # here, not at the top: the judge builds on this module

        return ClassifierFeatures(dataset)
    if extractor == "inception":
        return InceptionFeatures()
    if callable(extractor) and hasattr(extractor, "name"):
        return extractor
    raise ValueError(f"unknown extractor {extractor!r}; use 'classifier' (offline), 'inception' (needs its "
                     f"weights), or an object with a name that maps images to features.")


# ---- FID of a generator against a dataset


@torch.no_grad()
def generate(G, n: int, seed: int = 0, batch_size: int = 250) -> torch.Tensor:
    """``n`` images (n, C, H, W) on the CPU from a generator, with noise from a generator seeded by ``seed``.

    ``G`` is a module with a latent size ``z_dim`` (z of shape (B, z_dim)) and, when conditional,
    ``n_classes`` (labels cycle through the classes, so every class gets n / K samples); or any
    callable ``G(n) -> images``. A module runs in evaluation mode and is restored. Lecture 09.
    """
    if not isinstance(G, nn.Module):
        return G(n).float().cpu()
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=gen)  # (n, Z), drawn before any batching: the same for every batch size
    k = getattr(G, "n_classes", None)
    y = torch.arange(n) % k if k else None  # (n,) 0, 1, ..., K-1, 0, 1, ...
    dev = next(G.parameters()).device
    was_training = G.training
    G.eval()
    try:
        parts = [G(z[i:i + batch_size].to(dev), *([y[i:i + batch_size].to(dev)] if k else [])).float().cpu()
                 for i in range(0, n, batch_size)]
    finally:
        G.train(was_training)
    return torch.cat(parts)


@dataclass(frozen=True)
class FIDResult:
    """An FID value with what it was measured with: ``extractor`` (its name), ``n_real`` and ``n_fake``.

    ``str`` gives all three; ``float`` gives the value. Lecture 09.
    """

    value: float
    extractor: str
    n_real: int
    n_fake: int

    def __float__(self) -> float:
        return self.value

    def __str__(self) -> str:
        return f"FID {self.value:.2f} ({self.extractor}; {self.n_real} real, {self.n_fake} generated samples)"


def fid(generator, dataset, n: int, extractor="classifier", *, n_real: int | None = None, seed: int = 0) -> FIDResult:
    """FID between ``n`` samples of ``generator`` and ``n_real`` (default ``n``) images of ``dataset``.

    ``generator``: as in :func:`generate` (a module, or a callable ``n -> images``), or a tensor of
    images already generated. ``dataset``: an :class:`~gancourse.data.ImageDataset` or a tensor of
    real images (N, C, H, W) in [-1, 1]; ``n_real`` of them are drawn without replacement with a
    generator seeded by ``seed``. ``extractor``: see :func:`feature_extractor`. Returns a
    :class:`FIDResult` naming the extractor and both sample counts. Lecture 09.
    """
    hint = "FID needs at least 2 samples per set for a covariance (papers use 50,000)."
    n = check_int(n, "n", low=2, hint=hint)
    n_real = n if n_real is None else check_int(n_real, "n_real", low=2, hint=hint)
    ext = feature_extractor(extractor, getattr(dataset, "name", "digits"))
    real = dataset.images if hasattr(dataset, "images") else torch.as_tensor(dataset)
    if n_real > len(real):
        raise ValueError(f"n_real={n_real} real images asked for, but the dataset holds {len(real)}; "
                         f"pass a smaller n_real (FID values are only comparable at equal sample counts).")
    idx = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:n_real]
    fake = generator[:n] if isinstance(generator, torch.Tensor) else generate(generator, n, seed=seed)
    value = fid_from_features(ext(real[idx]), ext(fake))
    return FIDResult(value, ext.name, n_real, len(fake))


# ---- KID: an unbiased kernel distance


class KID(NamedTuple):
    """What :func:`kid` returns: the ``mean`` and the ``std`` of the MMD^2 estimates over subsets. Lecture 09."""

    mean: float
    std: float


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""The unbiased estimate of :math:`\mathrm{MMD}^2` between samples x (m, F) and y (m, F).

    .. math:: \widehat{\mathrm{MMD}}^2 = \frac{1}{m(m-1)}\sum_{i \ne j}\big[k(x_i, x_j) + k(y_i, y_j)\big]
              - \frac{2}{m^2}\sum_{i, j} k(x_i, y_j), \qquad k(a, b) = \big(\tfrac{a^\top b}{F} + 1\big)^3

    Gretton et al. 2012 (JMLR 13), eq. 3 with the cubic polynomial kernel of Binkowski et al. 2018
    (arXiv:1801.01401), section 4. Dropping the diagonal terms makes the expectation exactly
    :math:`\mathrm{MMD}^2` (so it can be negative). Returns a 0-d tensor. Lecture 09.
    """
    m, width = x.shape

    def k(a, b):
        return (a @ b.T / width + 1) ** 3  # (m, m)

    k_xx, k_yy, k_xy = k(x, x), k(y, y), k(x, y)
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return within - 2 * k_xy.mean()


def kid(feats_a, feats_b, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> KID:
    r"""Kernel Inception Distance: :func:`polynomial_mmd2` averaged over random subsets of both sets.

    .. math:: \mathrm{KID} = \frac1S \sum_{s=1}^S \widehat{\mathrm{MMD}}^2\big(a_{I_s}, b_{J_s}\big)

    with index sets :math:`I_s, J_s` of ``subset_size`` drawn without replacement. For each subset,
    a ``torch.randperm`` of the first set and then one of the second are drawn from a
    ``torch.Generator`` seeded with ``seed``: the order of torchmetrics'
    ``KernelInceptionDistance.compute``, so both see the same subsets when torch's global
    generator is seeded with the same number. Binkowski et al. 2018 (arXiv:1801.01401).

    Args: ``feats_a`` (N, F) real, ``feats_b`` (M, F) generated; ``subset_size`` at most min(N, M).
    Returns: :class:`KID` ``(mean, std)``, the std over subsets dividing by S (as torchmetrics).
    Lecture 09.
    """
    subset_size = check_int(subset_size, "subset_size", low=2, hint="It is the number of samples per subset.")
    subsets = check_int(subsets, "subsets", low=1, hint="It is the number of random subsets averaged.")
    a, b = _check_features(feats_a, feats_b)
    if not 2 <= subset_size <= min(len(a), len(b)):
        raise ValueError(f"subset_size={subset_size} must lie between 2 and the smaller set's size "
                         f"({len(a)} and {len(b)} samples); pass a smaller subset_size.")
    if subsets < 1:
        raise ValueError(f"subsets must be at least 1, got {subsets}.")
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        i = torch.randperm(len(a), generator=gen)[:subset_size]
        j = torch.randperm(len(b), generator=gen)[:subset_size]
        values.append(polynomial_mmd2(a[i], b[j]))
    values = torch.stack(values)  # (S,)
    return KID(float(values.mean()), float(values.std(unbiased=False)))


# ---- precision and recall (k-NN manifolds), density and coverage


def _pairwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (N, M) in float64, computed directly (no |a|^2 + |b|^2 - 2ab cancellation)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def knn_radii(feats, k: int = 3) -> torch.Tensor:
    r"""Each point's distance to its k-th nearest *other* point of the same set: (N,) float64.

    :math:`r_k(x_i) = \lVert x_i - \mathrm{NN}_k(x_i) \rVert` with :math:`x_i` itself excluded (a
    duplicate of it counts, at distance 0). Lecture 09.
    """
    x = torch.from_numpy(_as_float64(feats))
    k = check_int(k, "k", low=1, hint="It is the neighbour whose distance sets each point's radius (3 or 5 usually).")
    if not 1 <= k < len(x):
        raise ValueError(f"k={k} needs at least k + 1 = {k + 1} points in each set; got {len(x)}.")
    d = _pairwise(x, x)
    d.fill_diagonal_(float("inf"))  # exclude the point itself
    return d.kthvalue(k, dim=1).values  # (N,)


class PrecisionRecall(NamedTuple):
    """What :func:`precision_recall` returns: ``precision`` and ``recall``, both in [0, 1]. Lecture 09."""

    precision: float
    recall: float


def _inside(probes: torch.Tensor, points: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """(P,) bool: probe p lies within (<=) the k-NN ball of at least one point."""
    return (_pairwise(probes, points) <= radii[None, :]).any(dim=1)


def precision_recall(real_feats, fake_feats, k: int = 3) -> PrecisionRecall:
    r"""Improved precision and recall: the k-NN estimate of each set's manifold.

    .. math:: \text{precision} = \frac1M \sum_{j=1}^M \mathbb 1\big[\exists i:
              \lVert \phi^g_j - \phi^r_i \rVert \le r_k(\phi^r_i)\big], \qquad
              \text{recall} = \frac1N \sum_{i=1}^N \mathbb 1\big[\exists j:
              \lVert \phi^r_i - \phi^g_j \rVert \le r_k(\phi^g_j)\big]

    with :math:`r_k` from :func:`knn_radii` (within the point's own set). Precision: the share of
    generated samples that land on the real manifold (quality); recall: the share of real samples
    that land on the generated one (coverage). Kynkaanniemi et al. 2019 (arXiv:1904.06991), eq. 1-3.

    Args: ``real_feats`` (N, F), ``fake_feats`` (M, F), both with more than k points.
    Returns: :class:`PrecisionRecall`. Lecture 09.
    """
    r, g = _check_features(real_feats, fake_feats, ("real_feats", "fake_feats"))
    radii_r, radii_g = knn_radii(r, k), knn_radii(g, k)
    return PrecisionRecall(float(_inside(g, r, radii_r).double().mean()), float(_inside(r, g, radii_g).double().mean()))


class DensityCoverage(NamedTuple):
    """What :func:`density_coverage` returns: ``density`` (>= 0, about 1 for matching sets) and ``coverage`` in [0, 1]. Lecture 09."""

    density: float
    coverage: float


def density_coverage(real_feats, fake_feats, k: int = 5) -> DensityCoverage:
    r"""Density and coverage: precision and recall made robust to outliers by using real balls only.

    .. math:: \text{density} = \frac{1}{kM}\sum_{j=1}^M \sum_{i=1}^N \mathbb 1\big[\lVert\phi^g_j - \phi^r_i\rVert
              \le r_k(\phi^r_i)\big], \qquad
              \text{coverage} = \frac1N \sum_{i=1}^N \mathbb 1\big[\exists j: \lVert \phi^g_j - \phi^r_i \rVert
              \le r_k(\phi^r_i)\big]

    Naeem et al. 2020 (arXiv:2002.09797), eq. 3-4 (their default k = 5). Lecture 09.
    """
    r, g = _check_features(real_feats, fake_feats, ("real_feats", "fake_feats"))
    within = _pairwise(g, r) <= knn_radii(r, k)[None, :]  # (M, N): fake j inside the ball of real i
    return DensityCoverage(float(within.double().sum() / (k * len(g))), float(within.any(dim=0).double().mean()))


class Scores(NamedTuple):
    """One row of the scoreboard (:func:`score_features`). Lecture 09."""

    fid: float
    kid_mean: float
    kid_std: float
    precision: float
    recall: float
    n_real: int
    n_fake: int


def score_features(real_feats, fake_feats, *, k: int = 3, kid_subsets: int = 100,
                   kid_subset_size: int | None = None, seed: int = 0) -> Scores:
    """FID, KID (mean and std) and precision and recall of one feature set against the real one.

    ``kid_subset_size`` defaults to the smaller set's size, capped at 1,000. Lecture 09.
    """
    r, g = _check_features(real_feats, fake_feats, ("real_feats", "fake_feats"))
    size = kid_subset_size or min(len(r), len(g), 1000)
    fid_value = fid_from_features(r, g)
    kid_value = kid(r, g, subsets=kid_subsets, subset_size=size, seed=seed)
    pr = precision_recall(r, g, k)
    return Scores(fid_value, kid_value.mean, kid_value.std, pr.precision, pr.recall, len(r), len(g))


# ---- the sample-count bias, and the scoreboard's table


def sample_count_curve(feats_a, feats_b, ns, repeats: int = 3, seed: int = 0, kid_subsets: int = 10) -> dict:
    """FID and KID between ``n`` random rows of each set, for each ``n`` in ``ns``, ``repeats`` times.

    Row draws come from a ``torch.Generator`` seeded with ``seed``; KID uses subsets of size n.
    Returns ``{"n": (L,), "FID": (R, L), "KID": (R, L)}`` as numpy arrays. Lecture 09.
    """
    a, b = _check_features(feats_a, feats_b)
    gen = torch.Generator().manual_seed(seed)
    fids, kids = np.zeros((repeats, len(ns))), np.zeros((repeats, len(ns)))
    for r in range(repeats):
        for j, n in enumerate(ns):
            x = a[torch.randperm(len(a), generator=gen)[:n]]  # (n, F)
            y = b[torch.randperm(len(b), generator=gen)[:n]]  # (n, F)
            fids[r, j] = fid_from_features(x, y)
            kids[r, j] = kid(x, y, subsets=kid_subsets, subset_size=n, seed=seed + r).mean
    return {"n": np.asarray(ns), "FID": fids, "KID": kids}


def fid_infinity(ns, fids) -> float:
    r"""Extrapolate FID to infinitely many samples: the intercept of the least-squares line in 1/n.

    .. math:: \mathrm{FID}_n \approx \mathrm{FID}_\infty + \frac{b}{n}

    Chong & Forsyth 2020 (arXiv:1911.07023), section 3. ``ns`` (L,) sample counts; ``fids`` (L,)
    or (R, L) values (repeats are averaged). Returns :math:`\mathrm{FID}_\infty`. Lecture 09.
    """
    ns = np.asarray(ns, dtype=np.float64)
    fids = np.asarray(fids, dtype=np.float64)
    fids = fids.mean(axis=0) if fids.ndim == 2 else fids
    if len(ns) < 2 or fids.shape != ns.shape:
        raise ValueError(f"need FID values at two or more sample counts, one per n; got ns {ns.shape}, fids {fids.shape}.")
    design = np.stack([np.ones_like(ns), 1.0 / ns], axis=1)  # (L, 2): intercept and slope in 1/n
    (intercept, _), *_ = np.linalg.lstsq(design, fids, rcond=None)
    return float(intercept)


def format_scores(rows: dict, extractor: str) -> str:
    """A text table of :class:`Scores` rows (name -> Scores), headed by the extractor; each row gives its counts. Lecture 09."""
    lines = [f"features: {extractor}",
             f"{'model':<22}{'FID':>9}{'KID (mean ± std)':>22}{'precision':>11}{'recall':>8}{'n real':>8}{'n gen':>7}"]
    for name, s in rows.items():
        lines.append(f"{name:<22}{s.fid:>9.1f}{s.kid_mean:>13.1f} ± {s.kid_std:<6.1f}{s.precision:>11.3f}"
                     f"{s.recall:>8.3f}{s.n_real:>8}{s.n_fake:>7}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Lecture 12: CMMD, an unbiased MMD with a Gaussian kernel
# --------------------------------------------------------------------------------------------


def median_bandwidth(feats_a, feats_b) -> float:
    r"""The median heuristic for a Gaussian kernel's width: the median distance between two distinct points of both sets pooled.

    Gretton et al. 2012 (JMLR 13), section 8. Returns a float. Lecture 12.
    """
    a, b = _check_features(feats_a, feats_b)
    pooled = torch.cat([a, b])  # (N + M, F)
    dist = _pairwise(pooled, pooled)
    off = dist[~torch.eye(len(pooled), dtype=torch.bool)]  # the N+M choose 2 distances, each twice
    return float(off.median())


def rbf_mmd2(x, y, sigma: float) -> torch.Tensor:
    r"""The unbiased estimate of :math:`\mathrm{MMD}^2` with the Gaussian (RBF) kernel, x (m, F) and y (n, F).

    .. math:: \widehat{\mathrm{MMD}}^2 = \frac{1}{m(m-1)}\sum_{i \ne j} k(x_i, x_j) + \frac{1}{n(n-1)}\sum_{i \ne j} k(y_i, y_j)
              - \frac{2}{mn}\sum_{i, j} k(x_i, y_j), \qquad k(a, b) = \exp\Big(-\frac{\lVert a - b\rVert^2}{2\sigma^2}\Big)

    Gretton et al. 2012 (JMLR 13), eq. 3. The Gaussian kernel is *characteristic*: the population
    MMD is zero only when the two distributions are equal, whatever their shape, where FID compares
    two Gaussians fitted to them. Returns a 0-d float64 tensor (it can be slightly negative). Lecture 12.
    """
    x, y = _check_features(x, y, names=("x", "y"))
    if not sigma > 0:
        raise ValueError(f"the kernel width sigma must be positive, got {sigma}.")
    gamma = 1.0 / (2 * sigma**2)
    m, n = len(x), len(y)
    k_xx = torch.exp(-gamma * _pairwise(x, x) ** 2)  # (m, m), ones on the diagonal
    k_yy = torch.exp(-gamma * _pairwise(y, y) ** 2)  # (n, n)
    k_xy = torch.exp(-gamma * _pairwise(x, y) ** 2)  # (m, n)
    return ((k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
            + (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1)) - 2 * k_xy.mean())


def cmmd(real_feats, fake_feats, sigma: float | None = None, scale: float = 1000.0) -> float:
    r"""CMMD: :func:`rbf_mmd2` between real and generated features, times ``scale``.

    .. math:: \mathrm{CMMD} = 1000 \cdot \widehat{\mathrm{MMD}}^2_{k_\sigma}(\text{real}, \text{generated})

    Jayasumana et al. 2024 (arXiv:2401.09603), section 4: they embed images with CLIP (ViT-L/14),
    take :math:`\sigma = 10` and report the value times 1000; no Gaussian is fitted, and the estimate is
    unbiased at any sample count. Departure: the course computes it on its own features (the
    classifier's, offline), whose scale differs from CLIP's, so ``sigma=None`` chooses the width by
    :func:`median_bandwidth`; values are not comparable with the paper's. Returns a float. Lecture 12.
    """
    a, b = _check_features(real_feats, fake_feats, names=("real_feats", "fake_feats"))
    sigma = median_bandwidth(a, b) if sigma is None else sigma
    return float(scale * rbf_mmd2(a, b, sigma))
