"""Bad input at the data boundary: image_dataset's arguments, broken MNIST files, and downloads that fail or race."""

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torchvision

from gancourse import data
from gancourse.data import DatasetFileError, image_dataset


# ---- image_dataset's arguments

@pytest.mark.parametrize("kwargs, error, message", [
    ({"train": "no"}, TypeError, r"train must be True or False, got str 'no'. Pass train=True .* or train=False"),
    ({"train": 0}, TypeError, r"train must be True or False, got int 0"),
    ({"train": None}, TypeError, r"train must be True or False, got NoneType None"),
    ({"size": 28.0}, TypeError, r"size must be an int, got float 28.0.*side of the square images"),
    ({"size": True}, TypeError, r"size must be an int, got bool True"),
    ({"size": 3}, ValueError, r"size must be an int in \[4, 1024\], got 3"),
    ({"size": 100_000}, ValueError, r"size must be an int in \[4, 1024\], got 100000"),
])
def test_image_dataset_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        image_dataset("digits", **kwargs)


def test_dataset_name_of_the_wrong_type():
    with pytest.raises(TypeError, match=r"the dataset's name must be a str, one of 'digits', .*got int 10"):
        image_dataset(10)


def test_dataset_name_with_a_stray_space():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist '"):
        image_dataset("mnist ")


def test_numpy_bool_is_a_bool():
    assert len(image_dataset("digits", train=np.bool_(False), size=8)) == 359


# ---- broken MNIST raw files: each names the file and the remedy, none says "download"

def _idx(kind, items):
    items = np.asarray(items, dtype=np.uint8)
    if kind == "images":
        return struct.pack(">IIII", 2051, *items.shape) + items.tobytes()
    return struct.pack(">II", 2049, len(items)) + items.tobytes()


@pytest.fixture
def mnist_raw(tmp_path, monkeypatch):
    """A folder with valid 12-image MNIST raw files for both splits; tests break one of them."""
    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path))
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.random.default_rng(0).integers(0, 256, (12, 28, 28))
    for prefix in ("train", "t10k"):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(_idx("images", images))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx("labels", np.arange(12) % 10))
    return raw


def test_valid_files_load(mnist_raw):
    assert len(image_dataset("mnist")) == 12


def test_label_out_of_range(mnist_raw):
    labels = np.arange(12) % 10
    labels[5] = 200
    (mnist_raw / "train-labels-idx1-ubyte").write_bytes(_idx("labels", labels))
    with pytest.raises(DatasetFileError, match=r"train-labels-idx1-ubyte holds 1 label\(s\) outside 0-9 \(the first, 200, "
                                               r"at position 5\). Delete .* to download a fresh copy"):
        image_dataset("mnist")


def test_truncated_images_file(mnist_raw):
    path = mnist_raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DatasetFileError, match=r"train-images-idx3-ubyte is truncated: 5000 bytes, but its header announces "
                                               r"12 x 28 x 28 images, 9424 bytes"):
        image_dataset("mnist")


def test_zero_byte_labels_file(mnist_raw):
    (mnist_raw / "t10k-labels-idx1-ubyte").write_bytes(b"")
    with pytest.raises(DatasetFileError, match=r"t10k-labels-idx1-ubyte is truncated: 0 bytes, fewer than the 8-byte header"):
        image_dataset("mnist", train=False)


def test_images_where_labels_belong(mnist_raw):
    (mnist_raw / "train-labels-idx1-ubyte").write_bytes((mnist_raw / "train-images-idx3-ubyte").read_bytes())
    with pytest.raises(DatasetFileError, match=r"train-labels-idx1-ubyte is not an MNIST labels file: it starts with the "
                                               r"magic number 2051, expected 2049"):
        image_dataset("mnist")


def test_foreign_file(mnist_raw):
    (mnist_raw / "train-images-idx3-ubyte").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(DatasetFileError, match=r"train-images-idx3-ubyte is not an MNIST images file: .*magic number"):
        image_dataset("mnist")


def test_longer_than_its_header(mnist_raw):
    path = mnist_raw / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00" * 3)
    with pytest.raises(DatasetFileError, match=r"longer than its header says: 23 bytes"):
        image_dataset("mnist")


def test_images_and_labels_from_different_sets(mnist_raw):
    (mnist_raw / "train-labels-idx1-ubyte").write_bytes(_idx("labels", np.arange(10) % 10))
    with pytest.raises(DatasetFileError, match=r"holds 12 images but .*train-labels-idx1-ubyte holds 10 labels"):
        image_dataset("mnist")


def test_broken_files_never_trigger_a_download(mnist_raw, monkeypatch):
    (mnist_raw / "train-images-idx3-ubyte").write_bytes(b"junk")
    monkeypatch.setattr(data, "_download", lambda *a: pytest.fail("a broken file must not start a download"))
    with pytest.raises(DatasetFileError):
        image_dataset("mnist")


def test_svhn_file_failing_its_checksum_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path))
    (tmp_path / "svhn").mkdir()
    (tmp_path / "svhn" / "train_32x32.mat").write_bytes(b"half a file")
    monkeypatch.setattr(data, "_download", lambda *a: pytest.fail("a corrupt file must not be downloaded over"))
    with pytest.raises(DatasetFileError, match=r"train_32x32.mat is on disk but fails torchvision's checksum.*Delete"):
        image_dataset("svhn")


_REAL_MNIST = torchvision.datasets.MNIST


# ---- downloads: a private folder, moved into place whole; a failure touches nothing else

class _FakeTorchvision:
    """Stands in for a torchvision dataset class: ``download=True`` writes MNIST raw files under the root it
    is given (then calls ``during``, e.g. to fail or to let "another process" write), ``download=False`` reads them."""

    def __init__(self, during=None):
        self.during = during
        self.roots = []

    def __call__(self, root, train=True, download=False):
        raw = Path(root) / "MNIST" / "raw"
        if download:
            self.roots.append(Path(root))
            raw.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng(1)
            for prefix in ("train", "t10k"):
                (raw / f"{prefix}-images-idx3-ubyte").write_bytes(_idx("images", rng.integers(0, 256, (6, 28, 28))))
                (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx("labels", np.arange(6)))
            if self.during:
                self.during()
        if not (raw / "train-images-idx3-ubyte").exists():
            raise RuntimeError("Dataset not found. You can use download=True to download it")
        return _REAL_MNIST(root, train=train, download=False)


def test_failed_download_keeps_files_other_processes_wrote_meanwhile(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path))
    theirs = tmp_path / "cifar-10-batches-py" / "data_batch_1"

    def another_process_then_a_reset():
        theirs.parent.mkdir()
        theirs.write_bytes(b"another dataset's batch")
        raise ConnectionResetError("connection reset by peer")

    fake = _FakeTorchvision(during=another_process_then_a_reset)
    monkeypatch.setattr(torchvision.datasets, "MNIST", fake)
    with pytest.raises(RuntimeError, match=r"Could not download 'mnist' .*connection reset by peer"):
        image_dataset("mnist")
    assert theirs.read_bytes() == b"another dataset's batch"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-batches-py"]  # no half download, no private folder
    assert fake.roots[0].parent == tmp_path and fake.roots[0].name.startswith(".download-")


def test_download_is_moved_into_place_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path))
    (tmp_path / "mine.txt").write_text("kept")
    monkeypatch.setattr(torchvision.datasets, "MNIST", _FakeTorchvision())
    ds = image_dataset("mnist")
    assert len(ds) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MNIST", "mine.txt"]
    assert len(list((tmp_path / "MNIST" / "raw").iterdir())) == 4


def test_download_keeps_a_copy_another_process_finished_first(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path))
    first = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"

    def the_other_process_wins():
        first.parent.mkdir(parents=True)
        first.write_bytes(_idx("labels", np.arange(6)))

    monkeypatch.setattr(torchvision.datasets, "MNIST", _FakeTorchvision(during=the_other_process_wins))
    before = first
    assert len(image_dataset("mnist")) == 6
    assert before.stat().st_size == 14 and len(list(first.parent.iterdir())) == 4
    assert not list(tmp_path.glob(".download-*"))


def test_abandoned_private_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path))
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f".download-{done.stdout.strip()}-abcd"
    (dead / "MNIST").mkdir(parents=True)
    alive = tmp_path / f".download-{os.getppid()}-efgh"  # a live process's download in progress
    alive.mkdir()
    not_ours = tmp_path / ".download-notes"
    not_ours.mkdir()
    monkeypatch.setattr(torchvision.datasets, "MNIST", _FakeTorchvision())
    image_dataset("mnist")
    assert not dead.exists() and alive.exists() and not_ours.exists()


# ---- building datasets and drawing toy samples by hand

@pytest.mark.parametrize("images, labels, error, message", [
    (np.zeros((4, 1, 8, 8)), None, TypeError, r"images must be a torch.Tensor, got an array of shape \(4, 1, 8, 8\)"),
    ("uint8", None, TypeError, r"images must hold floating-point values, got a tensor .*\(uint8\). Scale pixels"),
    (None, "float", TypeError, r"labels must be integers \(class indices\), got dtype torch.float32"),
    (None, "2d", ValueError, r"labels must have 1 dimensions, got a tensor of shape \(4, 1\)"),
    (None, "range", ValueError, r"labels must index the 3 classes \(0 to 2\), got labels from 0 to 7"),
])
def test_image_dataset_by_hand(images, labels, error, message):
    import torch

    good_images, good_labels = torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    images = {None: good_images, "uint8": good_images.to(torch.uint8)}.get(images, images) if not isinstance(images, np.ndarray) else images
    labels = {None: good_labels, "float": good_labels.float(), "2d": good_labels[:, None],
              "range": torch.tensor([0, 1, 7, 0])}[labels]
    with pytest.raises(error, match=message):
        data.ImageDataset(images, labels, "mine", ["a", "b", "c"])


@pytest.mark.parametrize("n, error, message", [
    (2.5, TypeError, r"n must be an int, got float 2.5"),
    (-1, ValueError, r"n must be an int >= 0, got -1"),
])
def test_toy_sample_count(n, error, message):
    with pytest.raises(error, match=message):
        data.Ring2D().sample(n)
