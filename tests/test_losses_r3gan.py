"""R3GAN's relativistic pairing loss and the R2 penalty at hand-picked logits and a linear critic (lecture 12)."""

import math

import pytest
import torch

from gancourse import losses


def test_pairing_losses_at_hand_picked_logits():
    s_r = torch.tensor([2.0, 0.0, -1.0])
    s_f = torch.tensor([0.0, 0.0, 1.0])
    # -log sigma(s_r - s_f) per pair: differences 2, 0, -2
    d_ref = (math.log1p(math.exp(-2)) + math.log(2) + math.log1p(math.exp(2))) / 3
    assert losses.d_loss_relativistic_pairing(s_r, s_f).item() == pytest.approx(d_ref, rel=1e-6)
    assert losses.g_loss_relativistic_pairing(s_f, s_r).item() == pytest.approx(d_ref, rel=1e-6)  # symmetric here
    s_f2 = torch.tensor([1.0, 3.0, -1.0])  # differences 1, -3, 0
    g_ref = (math.log1p(math.exp(1)) + math.log1p(math.exp(-3)) + math.log(2)) / 3  # -log sigma(s_f - s_r)
    assert losses.g_loss_relativistic_pairing(s_f2, s_r).item() == pytest.approx(g_ref, rel=1e-6)


def test_pairing_differs_from_the_average_loss():
    s_r = torch.tensor([3.0, -3.0])
    s_f = torch.tensor([-3.0, 3.0])  # each real beats its own fake by 6 or loses by 6
    pair = losses.d_loss_relativistic_pairing(s_r, s_f).item()
    assert pair == pytest.approx((math.log1p(math.exp(-6)) + math.log1p(math.exp(6))) / 2, rel=1e-6)
    # the average loss compares with batch means (both 0): -log sigma(+-3) twice
    avg_ref = 2 * (math.log1p(math.exp(-3)) + math.log1p(math.exp(3))) / 2
    assert losses.d_loss_relativistic(s_r, s_f).item() == pytest.approx(avg_ref, rel=1e-6)
    assert abs(pair - losses.d_loss_relativistic(s_r, s_f).item()) > 0.05  # 3.002 vs 3.097


def test_pairing_loss_shifts_and_shapes():
    s_r, s_f = torch.randn(5), torch.randn(5)
    assert losses.d_loss_relativistic_pairing(s_r + 4, s_f + 4).item() == pytest.approx(
        losses.d_loss_relativistic_pairing(s_r, s_f).item(), rel=1e-5)
    with pytest.raises(ValueError, match="pairs real and fake scores one to one"):
        losses.d_loss_relativistic_pairing(torch.randn(4), torch.randn(3))
    assert losses.loss_pair("relativistic-pairing") == (losses.d_loss_relativistic_pairing,
                                                        losses.g_loss_relativistic_pairing)
    assert "relativistic-pairing" in losses.NEEDS_REAL_SCORES


def test_r2_of_a_linear_and_a_quadratic_critic():
    a = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    linear = lambda x: (x * a).sum(1)
    fake = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    assert losses.r2_penalty(linear, fake).item() == pytest.approx((a.norm() ** 2).item(), abs=1e-12)
    quad = lambda x: (x**2).sum(1)  # gradient 2x: penalty mean of 4|x|^2
    x = torch.randn(5, 3, dtype=torch.float64)
    assert losses.r2_penalty(quad, x).item() == pytest.approx(4 * (x**2).sum(1).mean().item(), rel=1e-12)
    # it trains D only: differentiable in D's weights, and no gradient reaches the fakes' graph
    w = torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    penalty = losses.r2_penalty(lambda x: (x * w).sum(1), fake * 3)
    (gw,) = torch.autograd.grad(penalty, w)
    torch.testing.assert_close(gw, 2 * w.detach())
    assert fake.grad is None
