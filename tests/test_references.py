"""The shipped reference models: they load offline and match their sha256, their judge numbers
reproduce the manifest's, a missing or corrupt file says how to rebuild it, sampling keeps its
promises, and the rebuild path runs end to end on a tiny MNIST written here."""

import json
import math
import shutil

import numpy as np
import pytest
import torch

from gancourse import references as R

SHIPPED = R.manifest()["references"]
GENERATORS = [n for n in R.names() if n != "judge" and n in SHIPPED]


def test_every_reference_is_shipped_and_small():
    assert set(SHIPPED) == set(R.names()), f"missing from the manifest: {set(R.names()) - set(SHIPPED)}"
    total = sum(p.stat().st_size for p in R.FOLDER.iterdir())
    assert total <= 30 * 2**20, f"the reference files take {total / 2**20:.1f} MB, more than 30 MB"


@pytest.mark.parametrize("name", [n for n in R.names() if n in SHIPPED])
def test_loads_offline_with_matching_sha256(name):
    entry = SHIPPED[name]
    for file, digest in entry["sha256"].items():
        assert R.sha256(R.FOLDER / file) == digest
    net = R.load(name)
    assert not net.training
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in net.parameters())


@pytest.mark.parametrize("name", [n for n in R.names() if n in SHIPPED])
def test_the_manifest_records_the_settings_that_rebuild_it(name):
    """Provenance: what the manifest says a reference was trained with is what `references NAME` would run."""
    spec = json.loads(json.dumps(R.REFERENCES[name]))  # tuples as lists, as the manifest stores them
    entry = SHIPPED[name]
    assert entry["train"] == spec["train"], f"{name}: the manifest's training settings differ from REFERENCES"
    shipped = spec.get("ship") or spec["networks"]
    assert entry["networks"] == {k: spec["networks"][k] for k in shipped}, f"{name}: networks differ"
    assert entry["summary"] == spec["summary"] and entry["rebuild"] == R.REBUILD.format(name=name)
    data = entry["data"]
    assert data["images"] == sum(data["per_class"]) and len(data["per_class"]) == 10
    if name != "judge":
        assert entry["steps_done"] == spec["train"]["steps"]


def _close(got, want, key):
    if isinstance(want, dict):
        for k in want:
            _close(got[k], want[k], f"{key}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), key
        for i, (g, w) in enumerate(zip(got, want)):
            _close(g, w, f"{key}[{i}]")
    elif isinstance(want, float):
        # within 2% (shares near zero: within 0.005 absolute)
        assert math.isclose(got, want, rel_tol=0.02, abs_tol=0.005), f"{key}: got {got}, the manifest has {want}"
    else:
        assert got == want, f"{key}: got {got}, the manifest has {want}"


@pytest.mark.parametrize("name", GENERATORS)
def test_judge_numbers_reproduce_the_manifest(name):
    want = dict(SHIPPED[name]["judge"])
    n = want.pop("n")
    _close(R.evaluate(name, n=n, seed=0), want, name)


def test_judge_accuracy_and_statistics():
    stats = R.mnist_stats()
    assert stats["mu"].shape == (128,) and stats["sigma"].shape == (128, 128)
    assert torch.allclose(stats["sigma"], stats["sigma"].T)
    images, labels = R.test_digits()
    assert images.shape[1:] == (1, 28, 28) and -1 <= images.min() and images.max() <= 1
    acc = float((R.judge().predict(images) == labels).double().mean())
    assert acc == pytest.approx(SHIPPED["judge"]["test_accuracy"], abs=1e-6)
    assert acc > 0.95


def _copy(tmp_path, name):
    """A private copy of one reference (and the judge), so the shipped files are never touched."""
    out = tmp_path / "refs"
    out.mkdir()
    keep = {"judge": SHIPPED["judge"], name: SHIPPED[name]}
    for entry in keep.values():
        for file in entry["sha256"]:
            shutil.copyfile(R.FOLDER / file, out / file)
    (out / R.MANIFEST).write_text(json.dumps({"format": 1, "references": keep}))
    return out


def test_missing_file_names_the_rebuild_command(tmp_path):
    out = _copy(tmp_path, "dcgan")
    R.load("dcgan", root=out)  # the copy loads
    (out / "dcgan.pt").unlink()
    with pytest.raises(R.ReferenceFileError, match=r"missing.*python -m gancourse references dcgan"):
        R.load("dcgan", root=out)


def test_corrupt_file_names_the_rebuild_command(tmp_path):
    out = _copy(tmp_path, "dcgan")
    data = bytearray((out / "dcgan.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (out / "dcgan.pt").write_bytes(bytes(data))
    with pytest.raises(R.ReferenceFileError, match=r"corrupt.*python -m gancourse references dcgan"):
        R.load("dcgan", root=out)


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown reference 'vae'"):
        R.sample("vae", 4)


@pytest.mark.parametrize("name", GENERATORS)
def test_sample_shape_range_and_seed(name):
    x = R.sample(name, 6, seed=3)
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32
    assert -1 <= float(x.min()) and float(x.max()) <= 1
    assert torch.equal(x, R.sample(name, 6, seed=3))
    assert not torch.equal(x, R.sample(name, 6, seed=4))


@pytest.mark.skipif("conditional" not in SHIPPED, reason="conditional not built yet")
def test_conditional_sample_draws_the_requested_digits():
    labels = torch.tensor([7] * 10 + [2] * 10)
    pred = R.judge().predict(R.sample("conditional", 20, labels=labels))
    assert float((pred == labels).double().mean()) >= 0.9
    with pytest.raises(ValueError, match=r"labels must have shape \(20,\)"):
        R.sample("conditional", 20, labels=torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="unconditional"):
        R.sample("dcgan", 3, labels=torch.zeros(3, dtype=torch.int64))


def _write_idx(path, array: np.ndarray, magic: int) -> None:
    header = np.array([magic, *array.shape], dtype=">i4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _tiny_mnist(root, n_train=64, n_test=32):
    """Blobs of ten shapes in torchvision's raw MNIST layout (no network, no shared data)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = np.zeros((n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 4 + k:10 + k, 6:22] = 255  # a bar whose height encodes the class
        images = np.clip(images + rng.integers(0, 30, images.shape), 0, 255)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images, 2051)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, 2049)


def test_rebuild_a_few_steps_on_a_tiny_dataset(tmp_path, monkeypatch):
    _tiny_mnist(tmp_path / "data")
    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path / "cache"))
    shipped = {f: R.sha256(R.FOLDER / f) for f in SHIPPED["dcgan"]["sha256"]}
    out = tmp_path / "out"
    entry = R.rebuild("dcgan", out=out, steps=3, n_eval=200, progress=False)
    assert entry["steps_done"] == 3 and entry["train"]["steps"] == 3
    assert entry["data"]["images"] == 64 and entry["data"]["per_class"] == [7, 7, 7, 7, 6, 6, 6, 6, 6, 6]
    assert entry["sha256"]["dcgan.pt"] == R.sha256(out / "dcgan.pt")
    assert R.manifest(out)["references"]["dcgan"]["judge"]["n"] == 200
    assert R.sample("dcgan", 4, root=out).shape == (4, 1, 28, 28)
    # a rerun resumes from the finished checkpoint: nothing to train, the same weights
    again = R.rebuild("dcgan", out=out, steps=3, n_eval=200, progress=False)
    assert again["sha256"] == entry["sha256"]
    assert {f: R.sha256(R.FOLDER / f) for f in shipped} == shipped  # the shipped files are untouched
