"""Every loss of losses.py against its textbook formula, at random and hand-picked scores."""

import math

import pytest
import torch

from gancourse import losses


def _logits(seed=0, n=64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g, dtype=torch.float64) * 3


# --------------------------------------------------------------------------------------------
# The original GAN: logit forms equal the probability forms
# --------------------------------------------------------------------------------------------


def test_d_loss_equals_binary_cross_entropy_log_form():
    s_r, s_f = _logits(0), _logits(1)
    d_r, d_f = torch.sigmoid(s_r), torch.sigmoid(s_f)
    textbook = -(torch.log(d_r).mean() + torch.log(1 - d_f).mean())
    assert losses.d_loss(s_r, s_f).item() == pytest.approx(textbook.item(), abs=1e-10)
    reference = torch.nn.functional.binary_cross_entropy(d_r, torch.ones_like(d_r)) + \
        torch.nn.functional.binary_cross_entropy(d_f, torch.zeros_like(d_f))
    assert losses.d_loss(s_r, s_f).item() == pytest.approx(reference.item(), abs=1e-10)


def test_generator_losses_equal_their_log_forms():
    s_f = _logits(2)
    d_f = torch.sigmoid(s_f)
    assert losses.g_loss_saturating(s_f).item() == pytest.approx(torch.log(1 - d_f).mean().item(), abs=1e-10)
    assert losses.g_loss_nonsaturating(s_f).item() == pytest.approx(-torch.log(d_f).mean().item(), abs=1e-10)


def test_d_loss_at_hand_picked_logits():
    # D = 1/2 everywhere (logit 0): L_D = 2 log 2 = log 4, the value of the game at equilibrium, negated
    zero = torch.zeros(4)
    assert losses.d_loss(zero, zero).item() == pytest.approx(math.log(4), abs=1e-6)
    # s_r = log 3 (D = 3/4) and s_f = -log 3 (D = 1/4): L_D = -2 log(3/4)
    s = torch.tensor([math.log(3)])
    assert losses.d_loss(s, -s).item() == pytest.approx(-2 * math.log(0.75), abs=1e-6)


def test_losses_stay_finite_at_large_logits():
    big = torch.tensor([100.0, -100.0])
    for value in (losses.d_loss(big, big), losses.g_loss_saturating(big), losses.g_loss_nonsaturating(big)):
        assert torch.isfinite(value)
    # -log sigmoid(-100) = 100 (to float precision), where log(sigmoid(-100)) in float32 is -inf
    assert losses.g_loss_nonsaturating(torch.tensor([-100.0])).item() == pytest.approx(100.0, rel=1e-6)


@pytest.mark.parametrize("fn, expected", [(losses.g_loss_saturating, 0.01), (losses.g_loss_nonsaturating, 0.99)])
def test_generator_gradient_at_confident_rejection(fn, expected):
    """At D(G(z)) = 0.01: d/ds log(1 - sigmoid(s)) = -0.01, d/ds [-log sigmoid(s)] = -0.99."""
    s = torch.tensor([math.log(0.01 / 0.99)], dtype=torch.float64, requires_grad=True)
    assert torch.sigmoid(s).item() == pytest.approx(0.01)
    fn(s).backward()
    assert abs(s.grad.item()) == pytest.approx(expected, abs=1e-12)
    assert s.grad.item() < 0  # both push the logit up, toward "real"


def test_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match=r"real and fake scores differ in shape: got \(4, 1\) and \(4,\)"):
        losses.d_loss(torch.zeros(4, 1), torch.zeros(4))


# --------------------------------------------------------------------------------------------
# Wasserstein, hinge, least squares at hand-picked scores
# --------------------------------------------------------------------------------------------


def test_critic_and_wasserstein_generator_losses():
    real = torch.tensor([1.0, 3.0])  # mean 2
    fake = torch.tensor([-1.0, 0.0])  # mean -0.5
    assert losses.critic_loss(real, fake).item() == pytest.approx(-2.5)
    assert losses.generator_wasserstein_loss(fake).item() == pytest.approx(0.5)


def test_hinge_losses():
    real = torch.tensor([2.0, 0.5])  # max(0, 1 - s): 0, 0.5 -> mean 0.25
    fake = torch.tensor([-3.0, 0.0])  # max(0, 1 + s): 0, 1 -> mean 0.5
    assert losses.d_loss_hinge(real, fake).item() == pytest.approx(0.75)
    assert losses.g_loss_hinge(fake).item() == pytest.approx(1.5)


def test_least_squares_losses():
    real = torch.tensor([1.0, 3.0])  # (s - 1)^2: 0, 4 -> mean 2, half 1
    fake = torch.tensor([0.0, 2.0])  # s^2: 0, 4 -> mean 2, half 1
    assert losses.d_loss_least_squares(real, fake).item() == pytest.approx(2.0)
    assert losses.g_loss_least_squares(fake).item() == pytest.approx(0.5 * (1 + 1) / 2)


def test_loss_pair_by_name():
    assert losses.loss_pair("nonsaturating") == (losses.d_loss, losses.g_loss_nonsaturating)
    with pytest.raises(ValueError, match="unknown loss 'vanilla'; choose one of"):
        losses.loss_pair("vanilla")


# --------------------------------------------------------------------------------------------
# Penalties of a linear critic f(x) = a.x + b: its gradient is a everywhere
# --------------------------------------------------------------------------------------------


def _linear_critic(a, b=0.3):
    a = torch.as_tensor(a, dtype=torch.float64)
    return lambda x: x.flatten(start_dim=1) @ a + b, a


@pytest.mark.parametrize("a", [[3.0, 4.0], [0.6, 0.8], [0.1, -0.2, 0.05, 0.0]])
def test_gradient_penalty_of_a_linear_critic(a):
    critic, a = _linear_critic(a)
    g = torch.Generator().manual_seed(0)
    real = torch.randn(16, a.numel(), generator=g, dtype=torch.float64)
    fake = torch.randn(16, a.numel(), generator=g, dtype=torch.float64)
    expected = (a.norm() - 1) ** 2
    assert losses.gradient_penalty(critic, real, fake, generator=g).item() == pytest.approx(expected.item(), abs=1e-12)


def test_gradient_penalty_flattens_image_shaped_points():
    a = torch.arange(12, dtype=torch.float64) / 10
    critic, _ = _linear_critic(a)
    real = torch.randn(5, 3, 2, 2, dtype=torch.float64)  # (B, C, H, W), 12 features
    assert losses.gradient_penalty(critic, real, real.clone()).item() == pytest.approx(((a.norm() - 1) ** 2).item(), abs=1e-12)


def test_gradient_penalty_can_be_differentiated_wrt_the_critic():
    a = torch.tensor([2.0, 0.0], dtype=torch.float64, requires_grad=True)
    critic = lambda x: x @ a  # noqa: E731
    x = torch.randn(8, 2, dtype=torch.float64)
    losses.gradient_penalty(critic, x, x + 1).backward()
    # d/da (|a| - 1)^2 = 2 (|a| - 1) a / |a| = (2, 0) at a = (2, 0)
    torch.testing.assert_close(a.grad, torch.tensor([2.0, 0.0], dtype=torch.float64))


@pytest.mark.parametrize("a", [[3.0, 4.0], [0.5, -0.5, 1.0]])
def test_r1_penalty_of_a_linear_critic(a):
    critic, a = _linear_critic(a)
    real = torch.randn(10, a.numel(), dtype=torch.float64)
    assert losses.r1_penalty(critic, real).item() == pytest.approx((a.norm() ** 2).item(), abs=1e-12)


def test_interpolate_errors_and_range():
    with pytest.raises(ValueError, match=r"real and fake batches differ in shape: \(4, 2\) vs \(3, 2\)"):
        losses.interpolate(torch.zeros(4, 2), torch.zeros(3, 2))
    x_hat = losses.interpolate(torch.zeros(100, 1), torch.ones(100, 1))
    assert torch.all((x_hat >= 0) & (x_hat <= 1))


def test_clip_weights_bounds_every_parameter():
    net = torch.nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.fill_(5.0)
    losses.clip_weights_(net, 0.05)
    assert all(p.abs().max().item() <= 0.05 * (1 + 1e-6) for p in net.parameters())  # float32 rounding
    with pytest.raises(ValueError, match="clipping bound c must be positive, got 0"):
        losses.clip_weights_(net, 0)
