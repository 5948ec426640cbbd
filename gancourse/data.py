r"""Data for the course: toy distributions with known densities, and image datasets.

The toy samplers (a 1D bimodal mixture, the 8-Gaussian ring, the 5x5 grid) have closed-form
densities, so a lecture can compare p_G with p_data exactly. The image datasets come through
torchvision (MNIST, Fashion-MNIST, CIFAR-10) or, offline and in FAST mode, from scikit-learn's
bundled handwritten digits (1,797 real 8x8 scans, 10 classes), resized to the course resolution.

Shapes are written with these letters throughout the package:

    B batch    C channels    H x W image height and width    Z latent size    K classes

Used by every lecture; the image datasets first appear in lecture 00.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from gancourse.config import data_dir
from gancourse.validate import assert_shape, check_bool, check_int, check_tensor  # noqa: F401  (assert_shape: re-exported)


# --------------------------------------------------------------------------------------------
# Toy distributions (lectures 01, 02, 04, 05)
# --------------------------------------------------------------------------------------------


def _as_points(x, dim: int) -> np.ndarray:
    """Array-like of shape (M,) (when dim is 1) or (M, dim) -> float64 array (M, dim)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if dim == 1 and x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected points of shape (M, {dim}), got {x.shape}.")
    return x


class GaussianMixture:
    """An equal-weight mixture of isotropic Gaussians with one shared ``std``.

    ``centers`` has shape (M, d). ``sample(n)`` returns a float32 tensor (n, d); ``pdf(x)`` takes
    points (n, d) (or (n,) in 1D) and returns a float64 array (n,).
    """

    def __init__(self, centers, std: float):
        centers = np.asarray(centers, dtype=np.float64)
        if centers.ndim != 2:
            raise ValueError(f"centers must have shape (M, d), got {centers.shape}.")
        if not std > 0:
            raise ValueError(f"std must be positive, got {std}.")
        self.centers = centers
        self.std = float(std)

    @property
    def dim(self) -> int:
        return self.centers.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` points, shape (n, d), float32. Pass a ``torch.Generator`` for a fixed stream."""
        n = check_int(n, "n", low=0, hint="It is the number of points to draw.")
        centers = torch.as_tensor(self.centers, dtype=torch.float32)
        k = torch.randint(len(centers), (n,), generator=generator)  # (n,) mixture component
        noise = torch.randn(n, self.dim, generator=generator)  # (n, d)
        return centers[k] + self.std * noise

    def pdf(self, x) -> np.ndarray:
        """Density at ``x``: points (n, d), or (n,) in 1D. Returns float64 (n,)."""
        x = _as_points(x, self.dim)
        d2 = ((x[:, None, :] - self.centers[None, :, :]) ** 2).sum(-1)  # (n, M)
        norm = (2 * math.pi * self.std**2) ** (self.dim / 2)
        return np.exp(-d2 / (2 * self.std**2)).mean(axis=1) / norm


class BimodalGaussian1D(GaussianMixture):
    """Two equal Gaussians on the line, at -2 and +2 with std 0.5 by default. Lecture 01."""

    def __init__(self, means=(-2.0, 2.0), std: float = 0.5):
        super().__init__(np.asarray(means, dtype=np.float64)[:, None], std)


class Ring2D(GaussianMixture):
    """``n_modes`` Gaussians evenly spaced on a circle of ``radius`` (the unrolled-GAN ring). Lecture 04."""

    def __init__(self, n_modes: int = 8, radius: float = 2.0, std: float = 0.05):
        angles = 2 * np.pi * np.arange(n_modes) / n_modes
        super().__init__(radius * np.stack([np.cos(angles), np.sin(angles)], axis=1), std)


class Grid2D(GaussianMixture):
    """A ``side`` x ``side`` grid of Gaussians ``spacing`` apart, centred on the origin. Lecture 04."""

    def __init__(self, side: int = 5, spacing: float = 2.0, std: float = 0.05):
        ticks = (np.arange(side) - (side - 1) / 2) * spacing
        xx, yy = np.meshgrid(ticks, ticks, indexing="ij")
        super().__init__(np.stack([xx.ravel(), yy.ravel()], axis=1), std)


# --------------------------------------------------------------------------------------------
# Image datasets (lecture 00 on)
# --------------------------------------------------------------------------------------------

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "svhn")
DOWNLOAD_TIMEOUT_S = 30


class ImageDataset(Dataset):
    """Images held in memory as one tensor, yielding ``(image, label)``.

    ``images`` is float32 (N, C, H, W) in [-1, 1]; ``labels`` is int64 (N,). Holding the whole
    set as a tensor lets the training loop draw batches by indexing, with no loader in between.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, name: str, classes: list[str]):
        check_tensor(images, "images", floating=True, hint="Scale pixels to [-1, 1] floats (uint8: x / 127.5 - 1).")
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}.")
        check_tensor(labels, "labels", ndim=1)
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise TypeError(f"labels must be integers (class indices), got dtype {labels.dtype}; convert with .long().")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels.")
        if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < len(classes):
            raise ValueError(f"labels must index the {len(classes)} classes (0 to {len(classes) - 1}), got labels from "
                             f"{int(labels.min())} to {int(labels.max())}.")
        self.images = images
        self.labels = labels
        self.name = name
        self.classes = classes

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])

    def __repr__(self) -> str:
        c, h, w = self.shape
        return f"ImageDataset({self.name!r}, {len(self)} images of {c}x{h}x{w}, {len(self.classes)} classes)"


def _to_unit_range(images: torch.Tensor, max_value: float) -> torch.Tensor:
    """[0, max_value] -> [-1, 1], float32."""
    return images.float() / max_value * 2.0 - 1.0


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size), bilinear (antialiased when shrinking), clamped to [-1, 1]."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    shrinking = size < images.shape[-1]
    out = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrinking)
    return out.clamp_(-1.0, 1.0)


def _digits(train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled digits: (N, 1, 8, 8) in [-1, 1] and labels. Every 5th scan is held out."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32)[:, None]  # (1797, 1, 8, 8), 0..16
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    held_out = torch.arange(len(labels)) % 5 == 4
    keep = ~held_out if train else held_out
    return _to_unit_range(images[keep], 16.0), labels[keep]


class DatasetFileError(ValueError):
    """A dataset file on disk that cannot be what its name says (truncated, corrupt or foreign). Lecture 00."""


# torchvision's folder for each MNIST-format dataset, and the magic numbers of its raw (IDX) files:
# 0x00000803 (2051) for unsigned-byte images of 3 dims, 0x00000801 (2049) for labels of 1 dim.
IDX_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
IDX_MAGIC = {"images": 2051, "labels": 2049}


def _remedy(path: Path) -> str:
    return (f"Delete {path} and load the dataset again to download a fresh copy, or replace the file with the "
            f"original from the dataset's site.")


def _check_idx_file(path: Path, kind: str, num_classes: int = 10) -> int:
    """Check one raw MNIST-format file (``kind`` is ``"images"`` or ``"labels"``); return how many items it holds."""
    header = 16 if kind == "images" else 8  # magic number, then one 4-byte size per dimension
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(header)
    if len(head) < header:
        raise DatasetFileError(f"{path} is truncated: {size} bytes, fewer than the {header}-byte header of an "
                               f"MNIST {kind} file. " + _remedy(path))
    magic = int.from_bytes(head[:4], "big")
    if magic != IDX_MAGIC[kind]:
        raise DatasetFileError(f"{path} is not an MNIST {kind} file: it starts with the magic number {magic}, "
                               f"expected {IDX_MAGIC[kind]}. " + _remedy(path))
    dims = [int.from_bytes(head[4 * i:4 * i + 4], "big") for i in range(1, header // 4)]  # (N,) or (N, H, W)
    expected = header + math.prod(dims)
    if size != expected:
        state = "truncated" if size < expected else "longer than its header says"
        raise DatasetFileError(f"{path} is {state}: {size} bytes, but its header announces "
                               f"{' x '.join(map(str, dims))} {kind}, {expected} bytes. " + _remedy(path))
    if kind == "labels":
        labels = np.frombuffer(path.read_bytes(), dtype=np.uint8, offset=header)
        bad = np.flatnonzero(labels >= num_classes)
        if len(bad):
            raise DatasetFileError(f"{path} holds {len(bad)} label(s) outside 0-{num_classes - 1} (the first, "
                                   f"{int(labels[bad[0]])}, at position {int(bad[0])}). " + _remedy(path))
    return dims[0]


def _check_idx_files(root: Path, name: str, train: bool) -> None:
    """Check the raw files of an MNIST-format dataset that are on disk (missing ones are downloaded later)."""
    raw = root / IDX_FOLDERS[name] / "raw"
    prefix = "train" if train else "t10k"
    paths = {kind: raw / f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte" for kind in IDX_MAGIC}
    counts = {kind: _check_idx_file(path, kind) for kind, path in paths.items() if path.is_file()}
    if len(counts) == 2 and counts["images"] != counts["labels"]:
        raise DatasetFileError(f"{paths['images']} holds {counts['images']} images but {paths['labels']} holds "
                               f"{counts['labels']} labels: the two files come from different sets. "
                               + _remedy(paths["images"].parent))


def _torchvision(name: str, train: bool) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    import torchvision

    cls = {"mnist": torchvision.datasets.MNIST,
           "fashion-mnist": torchvision.datasets.FashionMNIST,
           "cifar10": torchvision.datasets.CIFAR10,
           "svhn": torchvision.datasets.SVHN}[name]
    # SVHN names its splits; the others take train=True/False
    split = {"split": "train" if train else "test"} if name == "svhn" else {"train": train}
    root = data_dir() / "svhn" if name == "svhn" else data_dir()  # SVHN keeps its files at its root
    if name in IDX_FOLDERS:
        _check_idx_files(root, name, train)
    try:  # already on disk: no network at all
        ds = cls(str(root), **split, download=False)
    except RuntimeError as err:
        on_disk = {"svhn": root / f"{split.get('split')}_32x32.mat", "cifar10": root / "cifar-10-batches-py"}.get(name)
        if on_disk is not None and on_disk.exists():  # there, but its checksum differs: do not download over it
            raise DatasetFileError(f"{on_disk} is on disk but fails torchvision's checksum ({err}): it is truncated "
                                   f"or corrupt. " + _remedy(on_disk)) from None
        ds = _download(cls, name, root, split)
    except Exception as err:  # torchvision's readers fail on broken files with bare assertions
        raise DatasetFileError(f"cannot read the {name!r} files under {root} ({type(err).__name__}: {err}). "
                               + _remedy(root / IDX_FOLDERS.get(name, ""))) from None
    data = torch.as_tensor(np.asarray(ds.data))
    if data.ndim == 3:  # (N, H, W) grey
        data = data[:, None]
    elif name != "svhn":  # (N, H, W, 3) colour; SVHN's is (N, 3, H, W) already
        data = data.permute(0, 3, 1, 2)  # (N, 3, H, W)
    targets = ds.labels if name == "svhn" else ds.targets  # SVHN's digit 0 is label 0 (torchvision maps its 10)
    labels = torch.as_tensor(np.asarray(targets), dtype=torch.int64)
    classes = list(getattr(ds, "classes", None) or [str(k) for k in range(10)])
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DatasetFileError(f"the {name!r} files under {root} hold labels from {int(labels.min())} to "
                               f"{int(labels.max())}, outside 0-{len(classes) - 1}. " + _remedy(root))
    return _to_unit_range(data, 255.0), labels, classes


DOWNLOAD_PREFIX = ".download-"  # private folders of downloads in progress: .download-<pid>-<random>


def _remove_abandoned_downloads(root: Path) -> None:
    """Private download folders of processes that no longer exist (killed mid-download)."""
    for folder in root.glob(DOWNLOAD_PREFIX + "*"):
        try:
            pid = int(folder.name[len(DOWNLOAD_PREFIX):].split("-")[0])
            os.kill(pid, 0)  # raises when no such process exists
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue  # not one of ours, or a live process of another user


def _move_into_place(src: Path, dst: Path) -> None:
    """Move what ``src`` holds into ``dst``: a folder ``dst`` lacks moves whole (one rename); a file or folder
    already there (another process finished first) is kept as it is."""
    for entry in src.iterdir():
        target = dst / entry.name
        if not target.exists():
            os.replace(entry, target)
        elif entry.is_dir() and target.is_dir():
            _move_into_place(entry, target)


def _download(cls, name: str, root: Path, split: dict):
    """Download through torchvision into a private folder inside ``root``, then move the files into place.

    Whatever happens, only that private folder is removed: files other processes write into the data
    folder meanwhile are never touched.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_downloads(root)
        tmp = Path(tempfile.mkdtemp(prefix=f"{DOWNLOAD_PREFIX}{os.getpid()}-", dir=root))
    except OSError as err:
        raise PermissionError(f"cannot download {name!r}: the data folder {root} is not writable ({err.strerror}). "
                              f"Point GANCOURSE_DATA at a folder you can write, or use the embedded dataset: "
                              f"image_dataset('digits').") from None
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # never hang on a dead route
    try:
        try:
            cls(str(tmp), **split, download=True)
        except Exception as err:  # network errors come in many types; all end the same way
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(":")
            raise RuntimeError(
                f"Could not download {name!r} into {root} ({reason}). Either put the "
                f"dataset's files in a folder and point GANCOURSE_DATA at it, or use the embedded "
                f"dataset: image_dataset('digits'), which needs no network."
            ) from None
        _move_into_place(tmp, root)
    finally:
        socket.setdefaulttimeout(old_timeout)
        shutil.rmtree(tmp, ignore_errors=True)
    return cls(str(root), **split, download=False)


def image_dataset(name: str = "digits", train: bool = True, size: int = 28) -> ImageDataset:
    """An image dataset by name, as float32 images (N, C, size, size) in [-1, 1] with int64 labels.

    ``"digits"`` is scikit-learn's bundled handwritten digits (1,797 real 8x8 scans; every 5th is
    the held-out split), upscaled to ``size``: the embedded default, used offline and in FAST mode.
    ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"`` and ``"svhn"`` (house numbers in colour, for
    lecture 10's MNIST <-> SVHN) come through torchvision, downloaded into
    :func:`gancourse.config.data_dir` the first time. Lecture 00.
    """
    if not isinstance(name, str):
        raise TypeError(f"the dataset's name must be a str, one of {', '.join(map(repr, DATASETS))}; "
                        f"got {type(name).__name__} {name!r}.")
    if name.lower() not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; the course knows {', '.join(map(repr, DATASETS))}.")
    train = check_bool(train, "train", hint="Pass train=True for the training split or train=False for the test split.")
    size = check_int(size, "size", low=4, high=1024, hint="It is the side of the square images, in pixels (e.g. 28).")
    name = name.lower()
    if name == "digits":
        images, labels = _digits(train)
        classes = [str(k) for k in range(10)]
    else:
        images, labels, classes = _torchvision(name, train)
    return ImageDataset(_resize(images, size), labels, name, classes)
