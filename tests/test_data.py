"""data: the embedded digits, torchvision datasets offline, failed downloads, toy mixtures."""

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import integrate

from gancourse import data
from gancourse.data import BimodalGaussian1D, Grid2D, Ring2D, assert_shape, image_dataset


# ---- image datasets -------------------------------------------------------------------------

@pytest.mark.parametrize("size", [8, 28, 32, 64])
def test_digits_shapes_and_range(size):
    ds = image_dataset("digits", size=size)
    assert len(ds) == 1438 and ds.images.shape == (1438, 1, size, size)
    assert ds.images.dtype == torch.float32 and ds.labels.dtype == torch.int64
    assert ds.images.min() >= -1 and ds.images.max() <= 1
    assert ds.images.min() == -1  # the background is black, at -1
    image, label = ds[0]
    assert image.shape == (1, size, size) and 0 <= int(label) <= 9
    assert sorted(ds.labels.unique().tolist()) == list(range(10))


def test_digits_split_is_disjoint_and_complete():
    from sklearn.datasets import load_digits

    train, test = image_dataset("digits", size=8), image_dataset("digits", train=False, size=8)
    assert len(train) + len(test) == 1797
    raw = torch.as_tensor(load_digits().images, dtype=torch.float32) / 16 * 2 - 1
    # every held-out image is the 5th of a block of five, in order
    assert torch.allclose(test.images[:, 0], raw[4::5])
    assert torch.allclose(train.images[:4, 0], raw[:4])


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown dataset 'celeba'.*'digits', 'mnist', 'fashion-mnist', 'cifar10', 'svhn'"):
        image_dataset("celeba")


def test_bad_size():
    with pytest.raises(ValueError, match="size must be an int"):
        image_dataset("digits", size=2)


def _write_idx_mnist(raw, prefix, images, labels):
    raw.mkdir(parents=True, exist_ok=True)
    n = len(images)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())


def test_mnist_loads_from_a_folder_that_holds_the_files(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = np.arange(12, dtype=np.uint8) % 10
    for prefix in ("train", "t10k"):
        _write_idx_mnist(tmp_path / "MNIST" / "raw", prefix, images, labels)
    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path))
    ds = image_dataset("mnist", size=28)
    assert ds.images.shape == (12, 1, 28, 28)
    expected = torch.as_tensor(images, dtype=torch.float32) / 255 * 2 - 1
    assert torch.allclose(ds.images[:, 0], expected)
    assert ds.labels.tolist() == labels.tolist()
    assert image_dataset("mnist", train=False, size=32).images.shape == (12, 1, 32, 32)


def write_fake_svhn(root, split, images, labels):
    """SVHN's .mat layout: X (32, 32, 3, N) uint8 and y (N, 1) with 10 standing for the digit 0."""
    from scipy.io import savemat

    (root / "svhn").mkdir(parents=True, exist_ok=True)
    savemat(root / "svhn" / f"{split}_32x32.mat", {"X": images.transpose(1, 2, 3, 0), "y": labels[:, None]})


def test_svhn_loads_from_a_folder_that_holds_the_files(monkeypatch, tmp_path):
    import torchvision

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)  # (N, H, W, RGB)
    labels = np.array([10, 1, 2, 3, 9, 10], dtype=np.uint8)
    for split in ("train", "test"):
        write_fake_svhn(tmp_path, split, images, labels)
    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path))
    monkeypatch.setattr(torchvision.datasets.SVHN, "_check_integrity", lambda self: True)  # our files, not the real ones
    ds = image_dataset("svhn", size=32)
    assert ds.images.shape == (6, 3, 32, 32)
    expected = torch.as_tensor(images, dtype=torch.float32).permute(0, 3, 1, 2) / 255 * 2 - 1
    assert torch.allclose(ds.images, expected)
    assert ds.labels.tolist() == [0, 1, 2, 3, 9, 0] and ds.classes == [str(k) for k in range(10)]
    assert image_dataset("svhn", train=False, size=16).images.shape == (6, 3, 16, 16)


def test_failed_download_is_one_clear_error_and_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path))
    (tmp_path / "keep.txt").write_text("mine")  # what was there before must stay
    with pytest.raises(RuntimeError, match=r"Could not download 'fashion-mnist'.*GANCOURSE_DATA.*image_dataset\('digits'\)"):
        image_dataset("fashion-mnist")
    assert [p.name for p in tmp_path.rglob("*")] == ["keep.txt"]


def test_partial_download_is_removed(monkeypatch, tmp_path):
    import torchvision

    class Flaky:
        def __init__(self, root, train=True, download=False):
            if not download:
                raise RuntimeError("Dataset not found. You can use download=True to download it")
            part = Path(root) / "MNIST" / "raw"  # torchvision writes under the root it is given
            part.mkdir(parents=True)
            (part / "train-images-idx3-ubyte.gz").write_bytes(b"half a file")
            raise ConnectionResetError("connection reset by peer")

    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path))
    monkeypatch.setattr(torchvision.datasets, "MNIST", Flaky)
    with pytest.raises(RuntimeError, match="connection reset by peer"):
        image_dataset("mnist")
    assert list(tmp_path.rglob("*")) == []


# ---- toy mixtures ---------------------------------------------------------------------------

def test_bimodal_pdf_integrates_to_one_and_matches_scipy():
    from scipy.stats import norm

    p = BimodalGaussian1D()
    total, _ = integrate.quad(lambda x: p.pdf(np.array([x]))[0], -10, 10)
    assert abs(total - 1) < 1e-8
    x = np.linspace(-4, 4, 9)
    expected = 0.5 * norm.pdf(x, -2, 0.5) + 0.5 * norm.pdf(x, 2, 0.5)
    assert np.allclose(p.pdf(x), expected, rtol=1e-12)


def test_bimodal_samples_have_the_mixture_moments():
    x = BimodalGaussian1D().sample(200_000, generator=torch.Generator().manual_seed(0))
    assert x.shape == (200_000, 1)
    assert abs(x.mean().item()) < 0.02
    # variance of the mixture: std^2 + mean of the squared centres = 0.25 + 4
    assert abs(x.var().item() - 4.25) < 0.05


@pytest.mark.parametrize("mixture, n_modes", [(Ring2D(), 8), (Grid2D(), 25)])
def test_2d_mixtures(mixture, n_modes):
    assert mixture.centers.shape == (n_modes, 2)
    step = 0.02  # 0.4 std: the Riemann sum of a Gaussian is then exact to about 1e-50
    ticks = np.arange(-6, 6, step) + step / 2
    xx, yy = np.meshgrid(ticks, ticks)
    total = mixture.pdf(np.stack([xx.ravel(), yy.ravel()], axis=1)).sum() * step**2
    assert abs(total - 1) < 1e-6
    x = mixture.sample(5000, generator=torch.Generator().manual_seed(1)).numpy()
    nearest = np.linalg.norm(x[:, None] - mixture.centers[None], axis=-1).min(axis=1)
    assert np.mean(nearest < 3 * mixture.std) > 0.98


def test_ring_centres_lie_on_the_circle():
    assert np.allclose(np.linalg.norm(Ring2D(radius=2.0).centers, axis=1), 2.0)


def test_pdf_rejects_points_of_the_wrong_dimension():
    with pytest.raises(ValueError, match=r"expected points of shape \(M, 2\)"):
        Ring2D().pdf(np.zeros((3, 3)))


def test_assert_shape_reports_every_bad_dimension():
    assert_shape(torch.zeros(4, 100), (None, 100))
    with pytest.raises(ValueError, match=r"z has shape \(8, 3\); expected \(None, 100\): dim 1 is 3, expected 100"):
        assert_shape(torch.zeros(8, 3), (None, 100), "z")
    with pytest.raises(ValueError, match="3 dims"):
        assert_shape(torch.zeros(1, 2, 3), (None, 2), "x")
