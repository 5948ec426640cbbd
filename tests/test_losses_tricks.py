"""Lecture 11's stabilising tricks: one-sided label smoothing, the relativistic average loss, instance noise."""

import math

import pytest
import torch
import torch.nn.functional as F

from gancourse import losses
from gancourse.dcgan import build_dcgan
from gancourse.toy import Discriminator, Generator, train_toy
from gancourse.train import train_gan


def _logits(seed, n=64):
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3


def test_smoothed_loss_is_cross_entropy_with_real_targets_one_minus_alpha():
    s_r, s_f = _logits(0), _logits(1)
    for alpha in (0.0, 0.1, 0.3):
        reference = (F.binary_cross_entropy_with_logits(s_r, torch.full_like(s_r, 1 - alpha))
                     + F.binary_cross_entropy_with_logits(s_f, torch.zeros_like(s_f)))
        assert losses.d_loss_smoothed(s_r, s_f, alpha).item() == pytest.approx(reference.item(), abs=1e-10)
    assert losses.d_loss_smoothed(s_r, s_f, 0.0).item() == pytest.approx(losses.d_loss(s_r, s_f).item(), abs=1e-12)
    with pytest.raises(ValueError, match=r"smooth must be in \[0, 1\)"):
        losses.d_loss_smoothed(s_r, s_f, 1.0)


def test_smoothing_is_one_sided_the_optimal_real_logit_is_finite():
    # Over one real logit s, (1 - a) softplus(-s) + a softplus(s) is smallest where sigma(s) = 1 - a:
    # the gradient vanishes at s* = log((1 - a) / a); without smoothing it is still negative there.
    s = torch.tensor([math.log(0.9 / 0.1)], dtype=torch.float64, requires_grad=True)
    fake = torch.zeros(1, dtype=torch.float64)
    (smoothed,) = torch.autograd.grad(losses.d_loss_smoothed(s, fake, 0.1), s)
    (plain,) = torch.autograd.grad(losses.d_loss(s, fake), s)
    assert smoothed.item() == pytest.approx(0.0, abs=1e-12)
    assert plain.item() == pytest.approx(-0.1, abs=1e-12)  # -(1 - sigma(s*)): D would keep pushing


def test_relativistic_losses_against_their_formulas():
    s_r, s_f = _logits(2), _logits(3)
    d_ref = (F.binary_cross_entropy_with_logits(s_r - s_f.mean(), torch.ones_like(s_r))
             + F.binary_cross_entropy_with_logits(s_f - s_r.mean(), torch.zeros_like(s_f)))
    g_ref = (F.binary_cross_entropy_with_logits(s_f - s_r.mean(), torch.ones_like(s_f))
             + F.binary_cross_entropy_with_logits(s_r - s_f.mean(), torch.zeros_like(s_r)))
    assert losses.d_loss_relativistic(s_r, s_f).item() == pytest.approx(d_ref.item(), abs=1e-10)
    assert losses.g_loss_relativistic(s_f, s_r).item() == pytest.approx(g_ref.item(), abs=1e-10)
    # the generator's loss is the discriminator's with the roles of real and fake swapped
    assert losses.g_loss_relativistic(s_f, s_r).item() == pytest.approx(losses.d_loss_relativistic(s_f, s_r).item())
    # shifting every score by the same amount changes nothing: only differences count
    assert losses.d_loss_relativistic(s_r + 5, s_f + 5).item() == pytest.approx(losses.d_loss_relativistic(s_r, s_f).item())
    assert losses.loss_pair("relativistic") == (losses.d_loss_relativistic, losses.g_loss_relativistic)
    assert "relativistic" in losses.NEEDS_REAL_SCORES


def test_instance_noise_blurs_in_training_only():
    D = losses.InstanceNoise(torch.nn.Identity(), sigma=0.5)
    x = torch.zeros(20000, 2)
    torch.manual_seed(0)
    assert D(x).std().item() == pytest.approx(0.5, rel=0.02)
    D.eval()
    assert torch.equal(D(x), x)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        losses.InstanceNoise(torch.nn.Identity(), sigma=-1)


def test_the_loops_give_the_relativistic_generator_real_scores(monkeypatch):
    calls = []
    d_fn, g_fn = losses.LOSS_PAIRS["relativistic"]

    def spy(fake, real):
        calls.append((fake.shape, real.shape))
        return g_fn(fake, real)

    monkeypatch.setitem(losses.LOSS_PAIRS, "relativistic", (d_fn, spy))
    torch.manual_seed(0)
    G, D = Generator(4, 2, (8,)), Discriminator(2, (8,))
    h = train_toy(G, D, lambda n, generator: torch.randn(n, 2, generator=generator), steps=3, batch_size=16,
                  loss="relativistic", snapshot_steps=())
    assert len(calls) == 3 and calls[0] == (torch.Size([16]), torch.Size([16])) and len(h.loss_g) == 3
    calls.clear()
    G, D = build_dcgan(z_dim=8, width=4)
    train_gan(G, D, torch.rand(40, 1, 28, 28) * 2 - 1, steps=2, batch_size=8, loss="relativistic",
              progress=False, sample_every=10**9, device="cpu")
    assert len(calls) == 2 and calls[0] == (torch.Size([8]), torch.Size([8]))
