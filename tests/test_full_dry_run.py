"""FULL mode, run for a handful of steps on the CPU, so that FULL-only breakage fails CI.

``make test`` runs in FAST mode, so nothing else ever runs a recipe's FULL settings (MNIST, the
cookbook widths, R1, larger batches) or a notebook cell that only works in FULL mode. Here every
recipe's FULL settings train for two generator steps, at their FULL widths and batch sizes, on a
small MNIST-format dataset that the test writes itself in torchvision's raw layout (the embedded
digits, resized to 28x28, as IDX files under ``MNIST/raw``), with ``GANCOURSE_DATA`` pointed there
and no network. The FULL ring settings of lectures 04, 05 and 11, lecture 12's families, the MNIST
classifier and lecture 10's FULL-only MNIST <-> SVHN cell (on a small SVHN file written the same way)
run too.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
STEPS = 2
N_TRAIN, N_TEST = 256, 64  # images per split: at least one batch of every FULL recipe (128 at most)

# Every lecture cell that does work only in FULL mode, as (notebook, a line of the cell): the test
# below runs each, and fails when a lecture gains one this file does not know.
FULL_ONLY_CELLS = {("10_image_translation", "houses = mnist_svhn(size=32, seed=0)")}
FULL_BRANCH = re.compile(r"""mode\(\)\s*==\s*["']FULL["']|not\s+is_fast\(\)|is_fast\(\)\s*(?:==|is)\s*False""")


def _digits28(n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` of scikit-learn's 8x8 digits (bundled, no network), resized to 28x28 uint8 like MNIST."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    idx = (np.arange(n) + offset) % len(digits.images)
    small = torch.as_tensor(digits.images[idx], dtype=torch.float32)[:, None] / 16.0  # (n, 1, 8, 8) in [0, 1]
    big = torch.nn.functional.interpolate(small, size=28, mode="bilinear", align_corners=False)  # (n, 1, 28, 28)
    return (big[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy(), digits.target[idx].astype(np.uint8)


def _write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    """One raw IDX file: a big-endian magic number, one size per dimension, then the bytes."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.tobytes())


def write_mnist(root: Path) -> None:
    """torchvision's raw MNIST layout under ``root/MNIST/raw``: the four IDX files, uncompressed."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n, offset in (("train", N_TRAIN, 0), ("t10k", N_TEST, N_TRAIN)):
        images, labels = _digits28(n, offset)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images, 2051)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, 2049)


def write_svhn(root: Path) -> None:
    """torchvision's SVHN files (``train_32x32.mat``, ``test_32x32.mat``: X (32, 32, 3, N), y (N, 1) in 1..10)."""
    from scipy.io import savemat

    (root / "svhn").mkdir(parents=True)
    for split, n, offset in (("train", N_TRAIN, 7), ("test", N_TEST, 300)):
        images, labels = _digits28(n, offset)
        grey = torch.nn.functional.interpolate(torch.as_tensor(images)[:, None].float(), size=32)  # (n, 1, 32, 32)
        rgb = grey.repeat(1, 3, 1, 1).permute(2, 3, 1, 0).to(torch.uint8).numpy()  # (32, 32, 3, n)
        savemat(root / "svhn" / f"{split}_32x32.mat", {"X": rgb, "y": np.where(labels == 0, 10, labels)[:, None]})


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_mnist(root)
    write_svhn(root)
    return root


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def full_mode(data_root, cache_root, monkeypatch):
    """FULL mode on the CPU, the written datasets, a cache of this file's own; SVHN's checksum accepts the small file."""
    import torchvision

    monkeypatch.setenv("GANCOURSE_FAST", "0")
    monkeypatch.setenv("GANCOURSE_DATA", str(data_root))
    monkeypatch.setenv("GANCOURSE_CACHE", str(cache_root))
    monkeypatch.setattr(torchvision.datasets.SVHN, "_check_integrity", lambda self: True)
    from gancourse.config import mode

    assert mode() == "FULL"
    return data_root


def _short(settings: dict) -> dict:
    """A recipe's settings with the training cut to a few steps; widths, batch sizes and the rest unchanged."""
    train = dict(settings["train"], steps=STEPS, sample_every=STEPS, checkpoint_every=STEPS)
    return dict(settings, train=train)


def test_the_written_mnist_reads_like_mnist(full_mode):
    from gancourse.data import image_dataset

    train, test = image_dataset("mnist", train=True), image_dataset("mnist", train=False)
    assert tuple(train.images.shape) == (N_TRAIN, 1, 28, 28) and len(test) == N_TEST
    assert -1.0 <= float(train.images.min()) < -0.9 and 0.9 < float(train.images.max()) <= 1.0
    assert sorted(set(train.labels.tolist())) == list(range(10))


def _recipe_names():
    from gancourse.recipes import names

    return names()


@pytest.mark.parametrize("name", _recipe_names())
def test_every_recipe_trains_and_reloads_at_its_full_settings(full_mode, name, monkeypatch):
    from gancourse import recipes

    recipe = recipes.get(name)
    assert recipe.full["dataset"] != "digits", "a FULL recipe trains on MNIST-class data"
    short = dataclasses.replace(recipe, full=_short(recipe.full))
    monkeypatch.setitem(recipes.RECIPES, name, short)
    trained = recipes.load_or_train(name, progress=False)
    assert trained.history.steps == STEPS
    assert trained.path.name.endswith("-full.pt") and trained.path.exists()
    losses = np.asarray(trained.history.loss_d + trained.history.loss_g, dtype=float)
    assert np.isfinite(losses).all()
    G = trained.G_ema if trained.G_ema is not None else trained.G
    z_dim = getattr(G, "z_dim", None) or short.full["model"].get("z_dim") or short.full["model"].get("nz")
    with torch.no_grad():
        z = torch.randn(4, z_dim)
        x = G(z, torch.arange(4)) if short.full["train"].get("conditional") else G(z)
    assert tuple(x.shape) == (4, 1, 28, 28) and torch.isfinite(x).all()
    again = recipes.load_or_train(name, progress=False)  # from the checkpoint, without training
    assert again.history.steps == STEPS
    for p, q in zip(trained.G.state_dict().values(), again.G.state_dict().values()):
        assert torch.equal(p.cpu(), q.cpu())


def test_the_full_ring_settings_run(full_mode):
    """Lectures 04, 05 and 11's FULL ring settings (std 0.05, the paper's batch): every method, two steps."""
    from gancourse.collapse import lecture_settings, ring_run

    settings = lecture_settings()
    assert settings["vanilla"].std == pytest.approx(0.05)
    for method, setting in settings.items():
        short = dataclasses.replace(setting, steps=STEPS, snapshot_steps=(1,), n_samples=256)
        run = ring_run(short, seed=0)
        assert len(run.modes) == len(run.history.snapshot_steps) >= 1, method
        assert np.isfinite(np.asarray(run.history.loss_g, dtype=float)).all(), method


def test_the_full_family_settings_run(full_mode, monkeypatch):
    """Lecture 12's GAN, VAE, diffusion teacher and distilled student at the FULL settings (std 0.05), two steps each."""
    from gancourse import collapse, families

    setting = families.lecture_setting()
    assert setting.std == pytest.approx(0.05)
    short = dataclasses.replace(setting, diffusion_steps=STEPS, vae_steps=STEPS, student_steps=STEPS, student_pairs=64,
                                n_samples=256, n_test=32, vae_is_k=4)
    rings = collapse.lecture_settings  # the GAN takes its steps from lecture 04's ring settings
    monkeypatch.setattr(collapse, "lecture_settings",
                        lambda: {k: dataclasses.replace(v, steps=STEPS, snapshot_steps=()) for k, v in rings().items()})
    for run in (families.diffusion_run(short), families.vae_run(short), families.student_run(short),
                families.gan_run(short)):
        assert tuple(run["samples"].shape) == (256, 2) and torch.isfinite(run["samples"]).all()
        modes, high_quality = families.score(short, run["samples"])
        assert 0 <= modes <= 8 and 0.0 <= high_quality <= 1.0


def test_the_mnist_classifier_trains_at_its_full_settings(full_mode):
    from gancourse.judge import classifier, classifier_settings

    settings = classifier_settings("mnist")
    assert settings["input_size"] == 28
    clf = classifier("mnist")
    assert 0.0 <= clf.heldout_accuracy <= 1.0
    assert clf.predict(torch.zeros(3, 1, 28, 28)).shape == (3,)


def _full_only_cells():
    found = set()
    for nb in sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell.get("source", ""))
            if cell.get("cell_type") == "code" and FULL_BRANCH.search(source):
                found.add((nb.stem, source))
    return found


def test_every_full_only_cell_is_known():
    cells = _full_only_cells()
    known = {(nb, src) for nb, src in cells for name, line in FULL_ONLY_CELLS if nb == name and line in src}
    assert cells == known, ("a lecture cell works only in FULL mode and this file does not run it: "
                            f"{sorted(nb for nb, _ in cells - known)}; add it to FULL_ONLY_CELLS and run it below")


def _shrunk(source: str) -> str:
    """A FULL-only cell with its sizes cut: ``steps=`` to 2, ``eval_every=`` to 1, any other integer
    literal of 100 or more to 16 (widths and channel counts, below 100, stay)."""
    source = re.sub(r"\bsteps=[\d_]+", f"steps={STEPS}", source)
    source = re.sub(r"\beval_every=[\d_]+", "eval_every=1", source)
    return re.sub(r"(?<![\w.])\d[\d_]{2,}(?![\w.])", lambda m: "16" if int(m.group().replace("_", "")) >= 100
                  else m.group(), source)


def test_lecture_10_full_cell_runs(full_mode, capsys):
    """Lecture 10's MNIST <-> SVHN cell, as committed but with tiny sizes, after the lecture's imports."""
    nb = json.loads((ROOT / "lectures" / "10_image_translation.ipynb").read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    (cell,) = [s for s in sources if "houses = mnist_svhn(size=32, seed=0)" in s]
    tree = ast.parse(sources[0])
    imports = ast.unparse(ast.Module([n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], []))
    namespace: dict = {}
    exec(compile(imports, "lecture 10, imports", "exec"), namespace)
    exec(compile(_shrunk(cell), "lecture 10, FULL cell", "exec"), namespace)
    out = capsys.readouterr().out
    assert "SVHN -> MNIST translations read as the house number's digit" in out, out
    assert "FAST mode" not in out
