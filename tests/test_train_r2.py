"""The loop's R2 penalty (lecture 12): ``r2_gamma`` against an autograd computation written out here,
0 changing nothing, and R3GAN's digit run as one ``train_gan`` call."""

import math

import pytest
import torch
import torch.nn.functional as F

from gancourse import losses
from gancourse.data import ImageDataset, image_dataset
from gancourse.dcgan import build_dcgan
from gancourse.train import discriminator_step, penalty_term, train_gan


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TQDM_DISABLE", "1")


@pytest.fixture(scope="module")
def digits():
    ds = image_dataset("digits", train=True, size=28)
    return ImageDataset(ds.images[:128], ds.labels[:128], "digits", ds.classes)


def tiny(seed=0):
    torch.manual_seed(seed)
    return build_dcgan(z_dim=8, width=4, img_size=28)


def by_hand(D, x):
    """E ||grad_x D(x)||^2, each sample's gradient taken by its own autograd call (no batching trick)."""
    norms = []
    for xi in x:
        xi = xi[None].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(D(xi).sum(), xi)
        norms.append(g.pow(2).sum())
    return torch.stack(norms).mean()


def test_r2_term_against_autograd_by_hand(digits):
    _, D = tiny()
    D = D.double().eval()  # batch norm on running statistics: each sample's score is its own
    x_real = digits.images[:6].double()
    x_fake = torch.rand(6, 1, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    got = penalty_term(D, x_real, x_fake, r2_gamma=3.0)
    assert got.item() == pytest.approx(3.0 / 2 * by_hand(D, x_fake).item(), rel=1e-10)
    both = penalty_term(D, x_real, x_fake, r1_gamma=2.0, r2_gamma=3.0)
    want = 2.0 / 2 * by_hand(D, x_real) + 3.0 / 2 * by_hand(D, x_fake)
    assert both.item() == pytest.approx(want.item(), rel=1e-10)
    assert penalty_term(D, x_real, x_fake).item() == 0.0


def test_r2_of_a_linear_critic_is_its_weight_norm():
    a = torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64)
    assert penalty_term(lambda v: v @ a, x, x + 1, r2_gamma=1.0).item() == pytest.approx(0.5 * (a @ a).item(), rel=1e-12)


def test_r2_step_moves_d_by_the_penalty_gradient(digits):
    """One discriminator_step with SGD: D's update is -lr times the gradient of L_D + gamma/2 R2 at the detached fakes."""
    G, D = tiny()
    D_ref = build_dcgan(z_dim=8, width=4, img_size=28)[1]
    D_ref.load_state_dict(D.state_dict())
    x_real, z = digits.images[:8], torch.randn(8, 8, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.SGD(D.parameters(), lr=0.1)
    discriminator_step(G, D, opt, x_real, z, losses.d_loss_relativistic_pairing, r2_gamma=2.0)
    with torch.no_grad():
        x_fake = G(z)
    xf = x_fake.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(D_ref(xf).sum(), xf, create_graph=True)
    loss = F.softplus(D_ref(x_fake) - D_ref(x_real)).mean() + 2.0 / 2 * g.flatten(1).pow(2).sum(1).mean()
    grads = torch.autograd.grad(loss, list(D_ref.parameters()))
    for p, q, gr in zip(D.parameters(), D_ref.parameters(), grads):
        torch.testing.assert_close(p, q - 0.1 * gr, atol=1e-5, rtol=1e-5)  # float32


def test_r2_gamma_zero_changes_nothing(digits):
    kw = dict(steps=3, batch_size=16, device="cpu", sample_every=3, n_samples=4, loss="relativistic-pairing", r1_gamma=1.0)
    G1, D1 = tiny()
    h1 = train_gan(G1, D1, digits, **kw)
    G2, D2 = tiny()
    h2 = train_gan(G2, D2, digits, r2_gamma=0.0, **kw)
    assert h1.loss_d == h2.loss_d and h1.penalty == h2.penalty
    assert all(torch.equal(p, q) for p, q in zip(list(G1.parameters()) + list(D1.parameters()),
                                                 list(G2.parameters()) + list(D2.parameters())))


def test_r3gan_digit_run_is_one_train_gan_call(digits):
    G, D = tiny()
    h = train_gan(G, D, digits, steps=3, batch_size=16, device="cpu", sample_every=3, n_samples=4,
                  loss="relativistic-pairing", r1_gamma=0.5, r2_gamma=0.5)
    assert h.steps == 3 and h.d_output == "score" and all(math.isfinite(v) and v > 0 for v in h.penalty)
    G0, D0 = tiny()
    h0 = train_gan(G0, D0, digits, steps=3, batch_size=16, device="cpu", sample_every=3, n_samples=4,
                   loss="relativistic-pairing", r1_gamma=0.5)
    assert h.penalty[0] > h0.penalty[0]  # the same first D and batch: R2 adds to R1
    with pytest.raises(ValueError, match=r"r2_gamma must be >= 0, got -1"):
        train_gan(G, D, digits, steps=1, device="cpu", r2_gamma=-1.0)
