"""Tests of gancourse.latent: interpolation against closed forms, SeFa against an SVD, GANSpace against
scikit-learn's PCA, projection on an untrained StyleGenerator."""

import math

import numpy as np
import pytest
import torch

from gancourse.latent import (attribute_vector, direction_effects, edit, ganspace, interpolation_path, lerp, project, sefa,
                             slerp, style_weight, walks_in_w)
from gancourse.stylegan import StyleGenerator


def test_slerp_on_the_unit_circle_by_hand():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    for t in (0.0, 0.25, 0.5, 1.0):
        angle = t * math.pi / 2
        assert torch.allclose(slerp(a, b, t), torch.tensor([math.cos(angle), math.sin(angle)]), atol=1e-6)
    path = interpolation_path(a, b, 5, "slerp")
    assert torch.allclose(path.norm(dim=1), torch.ones(5), atol=1e-6)  # stays on the sphere
    assert torch.allclose(interpolation_path(a, b, 5, "lerp")[2], torch.tensor([0.5, 0.5]))


def test_slerp_handles_parallel_vectors_and_scales():
    a = torch.tensor([[1.0, 2.0, 3.0]])
    out = slerp(a, 2 * a, torch.tensor([0.5]))
    assert torch.isfinite(out).all() and torch.allclose(out, lerp(a, 2 * a, torch.tensor([0.5])))
    # the angle does not depend on the lengths: slerp(2a, 3b) at t=1/2 points along slerp(a, b)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    u = slerp(a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True), torch.full((4,), 0.3))
    assert torch.allclose(u.norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.allclose(slerp(a, b, torch.zeros(4)), a, atol=1e-6)
    assert torch.allclose(slerp(a, b, torch.ones(4)), b, atol=1e-5)


def test_vector_arithmetic():
    w_with, w_without = torch.ones(5, 3), torch.zeros(7, 3)
    d = attribute_vector(w_with, w_without)
    assert torch.equal(d, torch.ones(3))
    assert torch.equal(edit(torch.zeros(3), d, [0.0, 2.0]), torch.tensor([[0.0] * 3, [2.0] * 3]))


def test_sefa_matches_the_svd():
    g = torch.Generator().manual_seed(1)
    A = torch.randn(20, 6, generator=g, dtype=torch.float64)
    dirs, evals = sefa(A, k=3)
    _, s, vt = np.linalg.svd(A.numpy())
    assert np.allclose(evals.numpy(), s[:3] ** 2)
    assert np.allclose(np.abs((dirs.numpy() * vt[:3]).sum(axis=1)), 1.0)  # same lines, sign free
    # the first direction moves A n the most among random unit vectors
    n = torch.randn(500, 6, generator=g, dtype=torch.float64)
    n = n / n.norm(dim=1, keepdim=True)
    assert (A @ n.T).norm(dim=0).max() <= (A @ dirs[0]).norm() + 1e-9


def test_style_weight_and_ganspace():
    from sklearn.decomposition import PCA

    torch.manual_seed(0)
    G = StyleGenerator(z_dim=8, w_dim=8, img_size=8, width=4, max_width=8, mapping_layers=2).eval()
    W = style_weight(G)
    assert W.shape[1] == 8 and W.shape[0] == 2 * sum(2 * c for c in G.widths)
    w = G.w_from_z(torch.randn(300, 8))
    dirs, var = ganspace(w.detach(), k=3)
    pca = PCA(3).fit(w.detach().numpy())
    assert np.allclose(var.numpy(), pca.explained_variance_, rtol=1e-4)
    assert np.allclose(np.abs((dirs.numpy() * pca.components_).sum(axis=1)), 1.0, atol=1e-4)


def test_projection_finds_a_generated_image():
    torch.manual_seed(0)
    G = StyleGenerator(z_dim=8, w_dim=8, img_size=8, width=4, max_width=8, mapping_layers=2, mixing_prob=0).eval()
    G.w_avg.copy_(G.estimate_w_avg(500))
    with torch.no_grad():
        target = G.synthesize(G.broadcast(G.w_from_z(torch.randn(2, 8))), noise_mode="const")
    w, losses = project(G, target, steps=40, lr=0.08)
    assert w.shape == (2, 8)
    assert losses[-1] < 0.2 * losses[0]
    with pytest.raises(ValueError, match="mode"):
        interpolation_path(torch.zeros(2), torch.ones(2), 3, "cubic")


def test_walks_in_w_start_and_end_at_the_generators_images():
    torch.manual_seed(0)
    G = StyleGenerator(z_dim=8, w_dim=8, width=4, max_width=8, mapping_layers=2, max_resolution=14).eval()
    walks = walks_in_w(G, n=3, steps=5, seed=7)
    assert walks.shape == (3, 5, 1, 28, 28)
    g = torch.Generator().manual_seed(7)
    z0, z1 = torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g)
    with torch.no_grad():
        assert torch.allclose(walks[:, 0], G(z0, noise_mode="const"), atol=1e-5)
        assert torch.allclose(walks[:, -1], G(z1, noise_mode="const"), atol=1e-5)
        w_mid = lerp(G.w_from_z(z0), G.w_from_z(z1), 0.5)
        assert torch.allclose(walks[:, 2], G.synthesize(G.broadcast(w_mid), noise_mode="const"), atol=1e-5)


def test_direction_effects_by_hand():
    torch.manual_seed(0)
    G = StyleGenerator(z_dim=8, w_dim=8, width=4, max_width=8, mapping_layers=2, max_resolution=14).eval()
    with torch.no_grad():
        w = G.w_from_z(torch.randn(16, 8))
    directions = torch.eye(8)[:2] * 3.0  # not unit length: the function normalises them
    by_sum = lambda x: (x.flatten(1).sum(dim=1) * 100).floor().long() % 10  # noqa: E731
    still = direction_effects(G, directions, w, 0.0, by_sum)
    assert still == {"class_change": [0.0, 0.0], "brightness": [0.0, 0.0], "pixel_change": [0.0, 0.0]}
    moved = direction_effects(G, directions, w, 2.0, by_sum)
    assert all(0 < c <= 1 for c in moved["class_change"]) and all(p > 0 for p in moved["pixel_change"])
    assert all(0 <= b <= 1 for b in moved["brightness"])
    # by hand, direction 0, sign +: the share of the 16 images whose class changed
    with torch.no_grad():
        x0 = G.synthesize(G.broadcast(w), noise_mode="const")
        up = G.synthesize(G.broadcast(w + 2.0 * torch.eye(8)[0]), noise_mode="const")
        down = G.synthesize(G.broadcast(w - 2.0 * torch.eye(8)[0]), noise_mode="const")
    expected = ((by_sum(up) != by_sum(x0)).double().mean() + (by_sum(down) != by_sum(x0)).double().mean()) / 2
    assert moved["class_change"][0] == pytest.approx(float(expected))
