"""What lecture 05 needs of losses.py beyond tests/test_losses.py: the worked numbers of the gradient
penalty, the points it is taken at, and its gradient with respect to a critic module's weights."""

import numpy as np
import pytest
import torch

from gancourse import losses


@pytest.mark.parametrize("slope, expected", [(1.5, 0.25), (0.2, 0.64), (1.0, 0.0)])
@pytest.mark.parametrize("shape", [(32, 1), (8, 3, 4, 4)])
def test_penalty_of_a_linear_critic_is_slope_minus_one_squared(slope, expected, shape):
    """The lecture's worked numbers: a critic f(x) = a . x + b with |a| = slope has GP = (slope - 1)^2."""
    g = torch.Generator().manual_seed(1)
    features = int(np.prod(shape[1:]))
    a = torch.randn(features, generator=g, dtype=torch.float64)
    a = a / a.norm() * slope
    critic = torch.nn.Linear(features, 1).double()
    with torch.no_grad():
        critic.weight.copy_(a[None])
    f = lambda x: critic(x.flatten(start_dim=1)).squeeze(-1)  # noqa: E731  (B, ...) -> (B,)
    real = torch.randn(*shape, generator=g, dtype=torch.float64)
    fake = torch.randn(*shape, generator=g, dtype=torch.float64) + 3
    gp = losses.gradient_penalty(f, real, fake)
    assert gp.item() == pytest.approx(expected, abs=1e-12)
    # d/da (|a| - 1)^2 = 2 (|a| - 1) a / |a|, and the bias gets no gradient
    gp.backward()
    torch.testing.assert_close(critic.weight.grad[0], 2 * (slope - 1) * a / slope)
    assert critic.bias.grad is None or critic.bias.grad.abs().max() == 0


def test_penalty_is_taken_on_the_segments_between_real_and_fake():
    seen = []

    def critic(x):
        seen.append(x.detach().clone())
        return (x**2).sum(dim=1)

    real = torch.randn(200, 2, dtype=torch.float64)
    fake = torch.randn(200, 2, dtype=torch.float64) + torch.tensor([4.0, -1.0], dtype=torch.float64)
    losses.gradient_penalty(critic, real, fake)
    (x_hat,) = seen
    # x_hat = eps real + (1 - eps) fake: one eps per sample, the same for both coordinates, in [0, 1]
    eps = (x_hat - fake) / (real - fake)  # (B, 2)
    torch.testing.assert_close(eps[:, 0], eps[:, 1])
    assert eps.min() >= 0 and eps.max() <= 1
    assert eps[:, 0].std() > 0.2  # drawn per sample, not once for the batch (U[0, 1] has std 0.29)


def test_penalty_of_a_quadratic_critic_where_real_equals_fake():
    """f(x) = |x|^2 / 2 has gradient x; with real = fake every interpolate is that point."""
    x = torch.tensor([[3.0, 4.0], [0.6, 0.8], [0.0, 0.5]], dtype=torch.float64)
    gp = losses.gradient_penalty(lambda v: 0.5 * (v**2).sum(dim=1), x, x.clone())
    assert gp.item() == pytest.approx(((5 - 1) ** 2 + 0 + 0.5**2) / 3, abs=1e-12)


def test_penalty_flows_into_a_critic_module_trained_by_a_step():
    """One optimiser step on GP alone moves a too-steep linear critic's slope towards 1."""
    critic = torch.nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 0.0]]))
    opt = torch.optim.SGD(critic.parameters(), lr=0.05)
    x, y = torch.randn(16, 2), torch.randn(16, 2)
    before = critic.weight.norm().item()
    for _ in range(5):
        opt.zero_grad()
        losses.gradient_penalty(lambda v: critic(v).squeeze(-1), x, y).backward()
        opt.step()
    assert 1.0 < critic.weight.norm().item() < before  # |a| <- |a| - 0.1 (|a| - 1) each step
    assert critic.weight.norm().item() == pytest.approx(1 + 2 * 0.9**5, abs=1e-5)


def test_wasserstein_losses_on_known_scores_with_column_scores():
    real = torch.tensor([[1.0], [2.0], [3.0]])
    fake = torch.tensor([[-1.0], [0.0], [4.0]])
    assert losses.critic_loss(real, fake).item() == pytest.approx(1.0 - 2.0)
    assert losses.generator_wasserstein_loss(fake).item() == pytest.approx(-1.0)
    with pytest.raises(ValueError, match=r"got \(3, 1\) and \(3,\)"):
        losses.critic_loss(real, fake.view(-1))
