"""Tests of gancourse.translation: data, U-Net, PatchGAN (size and receptive field), objectives, pool, loops."""

import math

import pytest
import torch
import torch.nn.functional as F

from gancourse.train import History
from gancourse.translation import (
    ImagePool, PatchGAN, UNet, build_cyclegan, colorisation_crops, cycle_consistency_loss,
    digit_twins, edge_map, edges_to_digits, identity_loss, invert, patch_output_size, pix2pix_d_loss,
    pix2pix_g_loss, receptive_field, receptive_field_brute_force, rgb_to_grey, thicken, train_cyclegan,
    train_pix2pix)


def test_edge_map_of_one_pixel_is_its_3x3_neighbourhood():
    x = -torch.ones(1, 1, 7, 7)
    x[0, 0, 3, 3] = 1.0
    e = edge_map(x)
    expected = -torch.ones(1, 1, 7, 7)
    expected[0, 0, 2:5, 2:5] = 1.0  # dilation is the 3x3 block, erosion is empty
    assert torch.equal(e, expected)
    assert torch.equal(edge_map(torch.full((1, 1, 5, 5), 0.3)), -torch.ones(1, 1, 5, 5))  # flat: no edge


def test_paired_and_unpaired_digits():
    pairs = edges_to_digits(16)
    assert pairs.source.shape == pairs.target.shape == (len(pairs), 1, 16, 16)
    assert torch.equal(pairs.source, edge_map(pairs.target))
    twins = digit_twins("invert", 16, seed=0)
    w = torch.linspace(1, 2, 16 * 16)  # a per-image fingerprint, to compare the two sets of images
    fingerprint = lambda imgs: (imgs.flatten(1) * w).sum(dim=1).sort().values  # noqa: E731
    assert torch.allclose(fingerprint(twins.b), fingerprint(invert(twins.a)))  # same set of images
    aligned = (twins.b == invert(twins.a)).flatten(1).all(dim=1).float().mean()
    assert aligned < 0.05  # the pairing is gone
    assert torch.equal(thicken(twins.a), F.max_pool2d(twins.a, 3, 1, 1))
    with pytest.raises(ValueError, match="kind must be"):
        digit_twins("rotate")


def test_colorisation_crops_are_grey_to_colour():
    data = colorisation_crops(6, size=16, seed=3)
    assert data.source.shape == (6, 1, 16, 16) and data.target.shape == (6, 3, 16, 16)
    r, g, b = data.target[:, 0], data.target[:, 1], data.target[:, 2]
    assert torch.allclose(data.source[:, 0], 0.299 * r + 0.587 * g + 0.114 * b, atol=1e-6)
    assert data.target.min() >= -1 and data.target.max() <= 1
    assert data.labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert torch.equal(colorisation_crops(6, 16, seed=3).target, data.target)  # seeded


@pytest.mark.parametrize("size", [16, 28])
def test_unet_shapes_and_the_skip_switch(size):
    G = UNet(1, 3, width=4, depth=2)
    assert G(torch.randn(2, 1, size, size)).shape == (2, 3, size, size)
    G_plain = UNet(1, 3, width=4, depth=2, skips=False)
    assert sum(p.numel() for p in G.parameters()) == sum(p.numel() for p in G_plain.parameters())
    G_plain.load_state_dict(G.state_dict())
    x = torch.randn(2, 1, size, size)
    assert not torch.allclose(G(x), G_plain(x))
    with pytest.raises(ValueError, match="divisible by 4"):
        G(torch.randn(1, 1, 18, 18))


def test_patch_sizes_by_hand():
    assert patch_output_size(16, [(4, 2, 1)]) == 8 and patch_output_size(7, [(4, 1, 1)]) == 6
    assert patch_output_size(28, [(3, 1, 0)]) == 26
    with pytest.raises(ValueError, match="the input is too small for these layers"):
        patch_output_size(4, [(4, 2, 1), (4, 2, 1), (4, 2, 1)])  # 4 -> 2 -> 1 -> nothing
    # pix2pix's 70x70 PatchGAN on 256x256 images: 128, 64, 32, 31, 30
    layers = [(4, 2, 1)] * 3 + [(4, 1, 1)] * 2
    assert patch_output_size(256, layers) == 30
    assert receptive_field(layers) == 70
    assert receptive_field([(3, 1, 1)] * 3) == 7


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_patchgan_size_and_receptive_field_against_brute_force(n_layers):
    torch.manual_seed(n_layers)
    D = PatchGAN(1, width=2, n_layers=n_layers)
    for size in (16, 28, 32):
        if size < 2**n_layers * 4:
            continue
        out = D.score_map(torch.randn(2, 1, size, size))
        assert out.shape == (2, 1, D.output_size(size), D.output_size(size))
        assert D(torch.randn(2, 1, size, size)).shape == (2 * D.output_size(size) ** 2,)
    rf = D.receptive_field
    assert receptive_field_brute_force(D, size=2 * rf) == (rf, rf)
    assert rf == {1: 16, 2: 34, 3: 70}[n_layers]


def test_conditional_patchgan_scores_the_pair():
    D = PatchGAN(3, width=4, n_layers=2, cond_channels=1)
    x, y = torch.randn(2, 1, 16, 16), torch.randn(2, 3, 16, 16)
    assert torch.equal(D(y, x), D(torch.cat([x, y], dim=1)))
    with pytest.raises(ValueError, match="source x"):
        D(torch.randn(2, 2, 16, 16))


def test_pix2pix_losses_against_their_formulas():
    torch.manual_seed(0)
    s_real, s_fake = torch.randn(50), torch.randn(50)
    fake, target = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    total, adv, rec = pix2pix_g_loss(s_fake, fake, target)
    assert math.isclose(float(adv), float(-torch.log(torch.sigmoid(s_fake)).mean()), rel_tol=1e-5)
    assert math.isclose(float(rec), float((fake - target).abs().mean()), rel_tol=1e-6)
    assert math.isclose(float(total), float(adv + 100 * rec), rel_tol=1e-6)
    expected_d = 0.5 * float(-torch.log(torch.sigmoid(s_real)).mean() - torch.log(1 - torch.sigmoid(s_fake)).mean())
    assert math.isclose(float(pix2pix_d_loss(s_real, s_fake)), expected_d, rel_tol=1e-5)


def test_cycle_and_identity_losses_by_hand():
    x, y = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    x_cyc = torch.tensor([[[[1.0, -1.0], [0.0, 2.0]]]])  # mean |.| = 1
    y_cyc = torch.full((1, 1, 2, 2), 0.5)  # mean |.| = 0.5
    assert float(cycle_consistency_loss(x, x_cyc, y, y_cyc)) == pytest.approx(1.5)
    assert float(identity_loss(x, x_cyc, y, y_cyc)) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="differ in shape"):
        cycle_consistency_loss(x, torch.zeros(1, 1, 3, 3), y, y_cyc)


def test_image_pool():
    pool = ImagePool(4, torch.Generator().manual_seed(0))
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as they come
    later = torch.arange(100.0, 300.0).view(200, 1, 1, 1)
    out = pool.query(later)
    swapped = (out != later).flatten().float().mean()
    assert 0.35 < swapped < 0.65  # about half come from the past
    seen = set(first.flatten().tolist()) | set(later.flatten().tolist())
    assert set(out.flatten().tolist()) <= seen
    assert torch.equal(ImagePool(0).query(first), first)


def test_loops_learn_a_little():
    torch.manual_seed(0)
    pairs = edges_to_digits(16)
    G, D = UNet(1, 1, 4, 2), PatchGAN(1, 4, 2, cond_channels=1)
    h = train_pix2pix(G, D, pairs, steps=12, batch_size=8, lr=3e-3)
    assert h.steps == 12 and len(h.parts["l1"]) == 12
    assert sum(h.parts["l1"][-3:]) < sum(h.parts["l1"][:3])
    model = build_cyclegan(width=4, d_width=4)
    hc = train_cyclegan(model, digit_twins("invert", 16), steps=8, batch_size=4, lr=3e-3, eval_every=4, eval_n=16)
    assert hc.parts["eval_step"] == [0, 4, 8]
    assert hc.parts["cycle_eval"][-1] < hc.parts["cycle_eval"][0]
    assert all(v == 0 for v in hc.parts["identity"])
    assert isinstance(hc, History) and hc.steps == 8 and len(hc.loss_d) == 8  # the course's one History


def test_rgb_to_grey_rejects_grey():
    with pytest.raises(ValueError):
        rgb_to_grey(torch.zeros(1, 1, 4, 4))


def test_mnist_svhn_pairs_nothing_and_shares_the_layout(monkeypatch, tmp_path):
    import numpy as np
    import torchvision

    from test_data import _write_idx_mnist, write_fake_svhn

    from gancourse.translation import mnist_svhn

    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8)
    for prefix in ("train", "t10k"):  # torchvision wants both splits on disk
        _write_idx_mnist(tmp_path / "MNIST" / "raw", prefix, digits, np.arange(10, dtype=np.uint8))
    houses = rng.integers(0, 256, size=(7, 32, 32, 3), dtype=np.uint8)
    write_fake_svhn(tmp_path, "train", houses, np.array([10, 1, 2, 3, 4, 5, 6], dtype=np.uint8))
    monkeypatch.setenv("GANCOURSE_DATA", str(tmp_path))
    monkeypatch.setattr(torchvision.datasets.SVHN, "_check_integrity", lambda self: True)
    data = mnist_svhn(size=32, seed=0)
    assert data.a.shape == (7, 3, 32, 32) and data.b.shape == (7, 3, 32, 32)  # as many as the smaller set
    assert torch.equal(data.a[:, 0], data.a[:, 1]) and torch.equal(data.a[:, 1], data.a[:, 2])  # grey in 3 channels
    assert set(data.labels_b.tolist()) <= set(range(10)) and sorted(data.labels_b.tolist()) == [0, 1, 2, 3, 4, 5, 6]
    assert len(mnist_svhn(size=32, n=3).a) == 3
    with pytest.raises(ValueError, match="n must be between 1 and 7"):
        mnist_svhn(size=32, n=8)
