"""R3GAN's step (lecture 12): its objective at a linear critic, one step against a hand-written one, the cached ring run."""

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F

from gancourse.collapse import RingSetting
from gancourse.r3gan import r3gan_d_loss, r3gan_step, ring_run_r3gan
from gancourse.toy import Discriminator, Generator


def test_d_loss_of_a_linear_critic():
    a, b = torch.tensor([0.5, -1.5], dtype=torch.float64), 0.3
    D = lambda x: x @ a + b  # gradient a everywhere: R1 = R2 = |a|^2
    x_real, x_fake = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    loss, parts = r3gan_d_loss(D, x_real, x_fake, gamma=2.0)
    adv = F.softplus(D(x_fake) - D(x_real)).mean()
    assert loss.item() == pytest.approx(adv.item() + 2.0 / 2 * 2 * (a @ a).item(), rel=1e-12)
    assert parts["r1"] == pytest.approx((a @ a).item()) and parts["r2"] == pytest.approx((a @ a).item())
    loss0, parts0 = r3gan_d_loss(D, x_real, x_fake, gamma=0.0)
    assert loss0.item() == pytest.approx(adv.item()) and parts0["r1"] == parts0["r2"] == 0.0


def test_one_step_against_a_hand_written_step():
    torch.manual_seed(0)
    G, D = Generator(3, 2, (8,), "relu"), Discriminator(2, (8,), "relu")
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)
    x_real, z, gamma = torch.randn(5, 2), torch.randn(5, 3), 0.5
    rec = r3gan_step(G, D, opt_g, opt_d, x_real, z, gamma)
    # by hand: D first, at detached fakes, with both penalties
    x_fake = G2(z).detach()
    xr, xf = x_real.clone().requires_grad_(True), x_fake.clone().requires_grad_(True)
    (gr,) = torch.autograd.grad(D2(xr).sum(), xr, create_graph=True)
    (gf,) = torch.autograd.grad(D2(xf).sum(), xf, create_graph=True)
    loss_d = F.softplus(D2(x_fake) - D2(x_real)).mean() + gamma / 2 * (gr.pow(2).sum(1).mean() + gf.pow(2).sum(1).mean())
    grads = torch.autograd.grad(loss_d, list(D2.parameters()))
    with torch.no_grad():
        for p, g in zip(D2.parameters(), grads):
            p -= 0.1 * g
    # then G, scored by the updated D
    loss_g = F.softplus(D2(x_real) - D2(G2(z))).mean()
    grads = torch.autograd.grad(loss_g, list(G2.parameters()))
    with torch.no_grad():
        for p, g in zip(G2.parameters(), grads):
            p -= 0.1 * g
    for p, q in zip(list(G.parameters()) + list(D.parameters()), list(G2.parameters()) + list(D2.parameters())):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)
    assert rec["d_loss"] == pytest.approx(loss_d.item(), rel=1e-5) and rec["g_loss"] == pytest.approx(loss_g.item(), rel=1e-5)


def test_ring_run_is_cached_and_keyed(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path))
    setting = RingSetting(steps=4, z_dim=4, g_hidden=(16,), d_hidden=(16,), batch_size=32, n_samples=100, std=0.2)
    first = ring_run_r3gan(setting, seed=0, gamma=0.1)
    assert first.samples.shape == (100, 2) and 0 <= first.modes <= 8 and first.history.steps == 4
    assert first.history.d_output == "score" and all(v > 0 for v in first.history.penalty)
    files = sorted(p.name for p in tmp_path.iterdir())
    again = ring_run_r3gan(setting, seed=0, gamma=0.1)
    assert torch.equal(first.samples, again.samples) and sorted(p.name for p in tmp_path.iterdir()) == files
    ring_run_r3gan(setting, seed=0, gamma=1.0)
    ring_run_r3gan(dataclasses.replace(setting, method="mbstd"), seed=0, gamma=0.1)  # the method is ignored
    assert len(list(tmp_path.iterdir())) == len(files) + 1


def test_ring_run_is_the_course_loop_with_r1_and_r2(tmp_path, monkeypatch):
    """The cached ring run is ``train_gan(..., loss="relativistic-pairing", r1_gamma=g, r2_gamma=g)`` and nothing else."""
    from gancourse.config import seed_everything
    from gancourse.data import Ring2D
    from gancourse.train import train_gan

    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path))
    setting = RingSetting(steps=5, z_dim=4, g_hidden=(16,), d_hidden=(16,), batch_size=32, n_samples=50, std=0.2)
    run = ring_run_r3gan(setting, seed=1, gamma=0.5)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seed_everything(1)
        G, D = Generator(4, 2, (16,), "relu"), Discriminator(2, (16,), "relu")
        h = train_gan(G, D, Ring2D(std=0.2), steps=5, batch_size=32, loss="relativistic-pairing", r1_gamma=0.5,
                      r2_gamma=0.5, lr_g=setting.lr, lr_d=setting.lr, betas=(0.5, 0.999), sample_every=(), n_samples=50,
                      seed=1, device="cpu", progress=False)
    finally:
        torch.set_num_threads(threads)
    assert run.history.loss_d == h.loss_d and run.history.penalty == h.penalty
    assert torch.equal(run.samples, h.samples[-1])


def test_digit_runs_are_cached_train_gan_runs(tmp_path, monkeypatch):
    from gancourse.r3gan import DigitSetting, digit_run, digit_table

    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    setting = DigitSetting(width=4, z_dim=8, steps=3, batch_size=8, n_samples=6)
    G, h = digit_run(setting, "r3gan", seed=0)
    assert h.steps == 3 and h.samples[-1].shape == (6, 1, 28, 28) and all(v > 0 for v in h.penalty)
    files = sorted(p.name for p in tmp_path.iterdir())
    table = digit_table(setting, [0], workers=1)  # r3gan seed 0 read back, nonsaturating trained
    assert torch.equal(table["r3gan"][0][1].samples[-1], h.samples[-1])
    assert table["nonsaturating"][0][1].penalty == [0.0] * 3 and len(list(tmp_path.iterdir())) == len(files) + 1
    with pytest.raises(ValueError, match="method must be one of"):
        digit_run(setting, "wgan", seed=0)
