"""Spectral normalization against an SVD and against PyTorch's own parametrization; the Lipschitz
bound against measured gradient norms; R1 against the closed form of a linear discriminator."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from gancourse.losses import r1_penalty
from gancourse.spectral import (
    apply_spectral_norm,
    conv_overlap,
    gradient_norms,
    layer_spectral_norms,
    lipschitz_upper_bound,
    power_iteration,
    sn_discriminator,
    spectral_norm,
    spectral_norm_estimate,
    weight_as_matrix,
)

torch_spectral_norm = torch.nn.utils.parametrizations.spectral_norm


def exact_sigma(W: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(W.detach().double(), ord=2))


# ---- power iteration ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 5), (16, 40), (40, 16), (64, 3 * 4 * 4), (1, 7)])
def test_power_iteration_matches_svd(shape):
    gen = torch.Generator().manual_seed(sum(shape))
    for _ in range(5):
        W = torch.randn(*shape, generator=gen, dtype=torch.float64)
        sigma, u, v = spectral_norm_estimate(W, n_iter=300, generator=gen)
        exact = exact_sigma(W)
        assert abs(float(sigma) - exact) <= 1e-3 * exact
        assert float(sigma) <= exact * (1 + 1e-12)  # u^T W v of unit vectors never exceeds sigma
        assert torch.allclose(u.norm(), torch.tensor(1.0, dtype=torch.float64))
        assert torch.allclose(v.norm(), torch.tensor(1.0, dtype=torch.float64))
        assert torch.allclose(W @ v, sigma * u, atol=1e-3 * exact)  # the singular pair: W v = sigma u


def test_power_iteration_converges_at_the_rate_of_the_gap():
    # W = diag(3, 1): from u = (1, 1)/sqrt 2 one step gives u proportional to (9, 1), so
    # sigma_hat = |W^T u| = sqrt(81 * 9 + 1) / sqrt(81 + 1), computed by hand.
    W = torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64))
    u = torch.tensor([1.0, 1.0], dtype=torch.float64) / 2**0.5
    sigma, _, _ = power_iteration(W, u, n_iter=1)
    assert float(sigma) == pytest.approx((81 * 9 + 1) ** 0.5 / 82**0.5, rel=1e-12)
    sigma0, _, _ = power_iteration(W, u, n_iter=0)
    assert float(sigma0) == pytest.approx((9 / 2 + 1 / 2) ** 0.5, rel=1e-12)


def test_power_iteration_rejects_mismatched_u():
    with pytest.raises(ValueError, match=r"u must have shape \(3,\)"):
        power_iteration(torch.randn(3, 4), torch.randn(4))
    with pytest.raises(ValueError, match="Reshape a convolution"):
        spectral_norm_estimate(torch.randn(2, 3, 4, 4))


def test_weight_as_matrix_shapes():
    assert weight_as_matrix(torch.zeros(8, 3, 4, 4)).shape == (8, 48)
    assert weight_as_matrix(torch.zeros(8, 3, 4, 4), dim=1).shape == (3, 128)
    assert weight_as_matrix(torch.zeros(5, 7)).shape == (5, 7)


# ---- the normalised layer, against torch's own ---------------------------------------------------


def _twins(module: nn.Module):
    """Our parametrization and torch's on copies of the same layer, with the same vector u."""
    ours = spectral_norm(copy.deepcopy(module))
    ref = torch_spectral_norm(copy.deepcopy(module))
    with torch.no_grad():
        ours.parametrizations.weight[0].u.copy_(ref.parametrizations.weight[0]._u)
    return ours, ref


LAYERS = [lambda: nn.Linear(20, 30), lambda: nn.Conv2d(3, 8, 4, 2, 1), lambda: nn.ConvTranspose2d(8, 3, 4, 2, 1)]


@pytest.mark.parametrize("make", LAYERS, ids=["Linear", "Conv2d", "ConvTranspose2d"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_matches_torch_parametrization(make, training):
    ours, ref = _twins(make())
    ours.train(training)
    ref.train(training)
    for _ in range(4):  # every read is one forward of the parametrization
        w_ours, w_ref = ours.weight, ref.weight
        assert torch.allclose(w_ours, w_ref, atol=1e-6, rtol=1e-5)
    pr = ref.parametrizations.weight[0]
    W = pr._reshape_weight_to_matrix(ref.parametrizations.weight.original.detach())
    sigma_ref = torch.vdot(pr._u, torch.mv(W, pr._v))
    sigma_ours = ours.parametrizations.weight.original.detach().flatten() / w_ours.detach().flatten()
    assert torch.allclose(sigma_ours, sigma_ref.expand_as(sigma_ours), rtol=1e-5)
    if training:
        assert torch.allclose(ours.parametrizations.weight[0].sigma, sigma_ref, rtol=1e-5)


def test_gradients_match_torch():
    ours, ref = _twins(nn.Conv2d(2, 6, 3, 1, 1))
    x = torch.randn(4, 2, 8, 8)
    for layer in (ours, ref):
        (layer(x) ** 2).sum().backward()
    g_ours = ours.parametrizations.weight.original.grad
    g_ref = ref.parametrizations.weight.original.grad
    assert torch.allclose(g_ours, g_ref, atol=1e-5, rtol=1e-4)


def test_eval_mode_does_not_move_u():
    layer = spectral_norm(nn.Linear(6, 4)).eval()
    u = layer.parametrizations.weight[0].u.clone()
    layer(torch.randn(3, 6))
    assert torch.equal(layer.parametrizations.weight[0].u, u)
    layer.train()(torch.randn(3, 6))
    assert not torch.equal(layer.parametrizations.weight[0].u, u)


@pytest.mark.parametrize("make", LAYERS[:2], ids=["Linear", "Conv2d"])
def test_normalised_layer_reaches_sigma_one(make):
    layer = spectral_norm(make()).train()
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(7.0)  # far from 1 before normalising
    for _ in range(30):
        layer.weight  # one power-iteration step per read in training mode
    assert exact_sigma(weight_as_matrix(layer.parametrizations.weight.original)) > 5
    assert exact_sigma(weight_as_matrix(layer.eval().weight)) == pytest.approx(1.0, abs=1e-3)


def test_one_dimensional_weight_is_divided_by_its_norm():
    layer = spectral_norm(nn.Linear(5, 3), name="bias")
    assert float(layer.bias.detach().norm()) == pytest.approx(1.0, abs=1e-6)


def test_apply_spectral_norm_and_sn_discriminator():
    D = sn_discriminator(ndf=8, channels=1, img_size=28)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(hasattr(m, "parametrizations") for m in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert D(torch.randn(5, 1, 28, 28)).shape == (5,)
    with torch.no_grad():
        for _ in range(10):
            D(torch.randn(1, 1, 28, 28))
    for row in layer_spectral_norms(D):
        assert row["sigma"] == pytest.approx(1.0, abs=0.02), row
    apply_spectral_norm(D)  # a second call leaves normalised layers alone
    assert all(len(m.parametrizations.weight) == 1 for m in convs)


# ---- Lipschitz: the bound and the measurement -----------------------------------------------------


def _random_mlp(gen_seed: int) -> nn.Module:
    torch.manual_seed(gen_seed)
    acts = [nn.ReLU, nn.LeakyReLU, nn.Tanh]
    widths = [10, 32, 16, 8, 1]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(acts[(gen_seed + i) % 3]())
    return nn.Sequential(*layers)


def _random_convnet(gen_seed: int) -> nn.Module:
    torch.manual_seed(gen_seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, 1, 1), nn.LeakyReLU(0.2),  # 12 -> 12
        nn.Conv2d(4, 8, 4, 2, 1), nn.ReLU(),  # 12 -> 6
        nn.ConvTranspose2d(8, 4, 4, 2, 1), nn.Tanh(),  # 6 -> 12
        nn.Conv2d(4, 4, 4, 2, 1), nn.LeakyReLU(0.2),  # 12 -> 6
        nn.Flatten(), nn.Linear(4 * 6 * 6, 1),
    )


@pytest.mark.parametrize("seed", range(6))
def test_bound_is_never_below_measured_gradient_norms(seed):
    for model, shape in ((_random_mlp(seed), (256, 10)), (_random_convnet(seed), (64, 1, 12, 12))):
        bound = lipschitz_upper_bound(model)
        x = torch.randn(*shape) * 3
        measured = gradient_norms(model, x)
        assert measured.shape == (shape[0],)
        assert float(measured.max()) > 0
        assert float(measured.max()) <= bound


def test_bound_is_tight_for_one_linear_layer():
    # f(x) = w.x + b has gradient w everywhere: Lipschitz constant |w| exactly.
    layer = nn.Linear(6, 1)
    bound = lipschitz_upper_bound(layer)
    assert bound == pytest.approx(float(layer.weight.detach().norm()), rel=1e-6)
    assert float(gradient_norms(layer, torch.randn(3, 6)).max()) == pytest.approx(bound, rel=1e-5)


def test_matrix_norm_alone_does_not_bound_a_convolution():
    # An all-ones 3x3 kernel: its matrix (1, 9) has norm 3, but on a smooth image the convolution
    # multiplies by 9 (the kernel's sum); conv_overlap's factor sqrt(9) = 3 restores the bound.
    n = 32
    conv = nn.Conv2d(1, 1, 3, 1, 1, bias=False)
    head = nn.Linear(n * n, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        head.weight.fill_(1.0 / n)  # a unit vector
    model = nn.Sequential(conv, nn.Flatten(), head)
    assert conv_overlap(conv) == 9
    assert exact_sigma(weight_as_matrix(conv.weight)) == pytest.approx(3.0)
    measured = float(gradient_norms(model, torch.zeros(1, 1, n, n)).max())
    assert measured > 8.0  # far above sigma(W) = 3 ...
    assert measured <= lipschitz_upper_bound(model) == pytest.approx(9.0)  # ... and below the bound


def test_bound_rejects_batch_norm():
    with pytest.raises(ValueError, match="BatchNorm2d"):
        lipschitz_upper_bound(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))


def test_bound_of_sn_discriminator_is_the_product_of_overlaps():
    D = sn_discriminator(ndf=8, img_size=28)
    with torch.no_grad():
        for _ in range(10):
            D(torch.randn(1, 1, 28, 28))
    overlaps = [conv_overlap(m) for m in D.modules() if isinstance(m, nn.Conv2d)]
    expected = 1.0
    for c in overlaps:
        expected *= c**0.5
    assert lipschitz_upper_bound(D) == pytest.approx(expected, rel=0.05)


# ---- R1 -------------------------------------------------------------------------------------------


def test_r1_of_a_linear_discriminator_is_the_squared_weight_norm():
    D = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 1))
    x = torch.randn(7, 2, 3, 3)
    r1 = r1_penalty(D, x)
    assert float(r1.detach()) == pytest.approx(float(D[1].weight.detach().pow(2).sum()), rel=1e-6)
    r1.backward()  # differentiable in D's weights: d|w|^2/dw = 2w
    assert torch.allclose(D[1].weight.grad, 2 * D[1].weight, atol=1e-6)
