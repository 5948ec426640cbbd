"""The training loop: its two steps, History, checkpoints, exact resume, seeds, losses, the non-finite stop, speed switches."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gancourse import checkpoints, losses
from gancourse.data import ImageDataset, image_dataset
from gancourse.dcgan import build_dcgan
from gancourse.speed import InMemoryBatches, Speed
from gancourse.train import History, LOG_KEYS, clone, discriminator_step, generator_step, penalty_term, train_gan


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TQDM_DISABLE", "1")


@pytest.fixture(scope="module")
def digits():
    ds = image_dataset("digits", train=True, size=28)
    return ImageDataset(ds.images[:256], ds.labels[:256], "digits", ds.classes)


def tiny(seed=0):
    torch.manual_seed(seed)
    return build_dcgan(z_dim=8, width=4, img_size=28)


def run(ds, steps, **kw):
    G, D = tiny(kw.pop("init_seed", 0))
    kw.setdefault("batch_size", 16)
    kw.setdefault("device", "cpu")
    kw.setdefault("sample_every", 2)
    kw.setdefault("n_samples", 4)
    switches = {k: kw.pop(k) for k in ("channels_last", "precision", "compile", "log_every") if k in kw}
    if switches:
        kw["speed"] = Speed(**switches)
    h = train_gan(G, D, ds, steps=steps, **kw)
    return G, D, h


def test_history_records_every_step(digits):
    G, D, h = run(digits, 5, log_every=2)
    assert h.steps == 5
    for k in LOG_KEYS:
        assert len(getattr(h, k)) == 5 and all(math.isfinite(v) for v in getattr(h, k))
    assert all(0 < v < 1 for v in h.d_real + h.d_fake) and h.d_output == "probability"
    assert all(v > 0 for v in h.grad_norm_d + h.grad_norm_g)
    assert h.penalty == [0.0] * 5
    assert h.sample_steps == [0, 2, 4, 5]
    assert [tuple(s.shape) for s in h.samples] == [(4, 1, 28, 28)] * 4
    assert h.fixed_z.shape == (4, 8)
    assert not torch.equal(h.samples[0], h.samples[-1])  # G moved
    # the first D loss is about 2 log 2 (D knows nothing yet: sigma(s) near 1/2 on both batches)
    assert abs(h.loss_d[0] - 2 * math.log(2)) < 0.2
    assert "5 steps" in repr(h)


def test_same_seed_same_run_other_seed_other_run(digits):
    _, _, h1 = run(digits, 4, seed=3)
    _, _, h2 = run(digits, 4, seed=3)
    _, _, h3 = run(digits, 4, seed=4)
    assert h1.loss_d == h2.loss_d and h1.loss_g == h2.loss_g
    assert h1.loss_d != h3.loss_d


def test_history_survives_weights_only_load(digits, tmp_path):
    _, _, h = run(digits, 3)
    torch.save(h.to_dict(), tmp_path / "h.pt")
    back = History.from_dict(torch.load(tmp_path / "h.pt", weights_only=True))
    assert back.loss_g == h.loss_g and back.sample_steps == h.sample_steps
    assert torch.equal(back.samples[-1], h.samples[-1]) and torch.equal(back.fixed_z, h.fixed_z)
    with pytest.raises(ValueError, match="unexpected keys"):
        History.from_dict({"loss_d": [], "weights": 1})


def test_checkpoint_round_trip(digits):
    G, D, h = run(digits, 4, checkpoint="rt")
    path = checkpoints.cache_path("rt")
    assert path.name == "rt.pt" and path.exists()
    ckpt = torch.load(path, weights_only=True)  # loadable without pickle
    assert ckpt["step"] == 4 and ckpt["config"]["steps"] == 4
    assert set(ckpt) >= {"G", "D", "opt_g", "opt_d", "rng", "history", "config"}
    for k, v in G.state_dict().items():
        assert torch.equal(ckpt["G"][k], v)
    assert ckpt["history"]["loss_d"] == h.loss_d
    assert [p.name for p in path.parent.iterdir()] == ["rt.pt"]  # no temporary file left behind


def test_resume_is_exact(digits):
    G1, D1, full = run(digits, 6, checkpoint="a", checkpoint_every=3, log_every=2)
    _, _, first = run(digits, 3, checkpoint="b", checkpoint_every=3, log_every=2)
    assert first.loss_d == full.loss_d[:3]
    G2, D2, resumed = run(digits, 6, checkpoint="b", checkpoint_every=3, log_every=2, init_seed=99)
    assert resumed.loss_d == full.loss_d  # bit for bit
    assert resumed.loss_g == full.loss_g
    assert resumed.grad_norm_g == full.grad_norm_g
    # the interrupted run also kept its last images (step 3); every grid of the full run is there, equal
    assert resumed.sample_steps == [0, 2, 3, 4, 6]
    for step, images in zip(full.sample_steps, full.samples):
        assert torch.equal(resumed.samples[resumed.sample_steps.index(step)], images)
    for a, b in zip(G1.state_dict().values(), G2.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(D1.state_dict().values(), D2.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_refuses_other_settings_and_finished_runs_return_at_once(digits):
    run(digits, 2, checkpoint="c")
    with pytest.raises(ValueError, match=r"other settings \(lr_d: checkpoint 0.0002, now 0.001\)"):
        run(digits, 4, checkpoint="c", lr_d=1e-3)
    G, _, h = run(digits, 2, checkpoint="c", init_seed=5)  # finished: loads, trains nothing
    assert h.steps == 2
    _, _, fresh = run(digits, 2, checkpoint="c", resume=False, seed=1)
    assert fresh.loss_d != h.loss_d


def _nan_at(step):
    calls = {"n": 0}

    def d_loss(real, fake):
        calls["n"] += 1
        value = losses.d_loss(real, fake)
        return value * float("nan") if calls["n"] == step else value

    return d_loss, losses.g_loss_nonsaturating


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(digits):
    with pytest.raises(FloatingPointError, match=r"non-finite loss_d at step 5 .*last good checkpoint"):
        run(digits, 8, loss=_nan_at(5), checkpoint="nan", checkpoint_every=2, log_every=25)
    ckpt = checkpoints.load("nan")
    assert ckpt["step"] == 4
    assert all(math.isfinite(v) for v in ckpt["history"]["loss_d"]) and len(ckpt["history"]["loss_d"]) == 4
    assert all(torch.isfinite(v).all() for v in ckpt["G"].values())


@pytest.mark.parametrize("loss,kw", [("wasserstein", {"gp_weight": 10.0, "n_critic": 2}),
                                     ("hinge", {"lr_g": 1e-4, "lr_d": 4e-4}),
                                     ("nonsaturating", {"r1_gamma": 1.0}),
                                     ("wasserstein", {"clip_value": 0.01, "optimizer": "rmsprop"}),
                                     ("least-squares", {})])
def test_every_loss_and_option_runs(digits, loss, kw):
    G, D, h = run(digits, 3, loss=loss, **kw)
    assert h.steps == 3 and all(math.isfinite(v) for v in h.loss_d + h.loss_g)
    assert h.d_output == ("probability" if loss == "nonsaturating" else "score")
    if kw.get("gp_weight") or kw.get("r1_gamma"):
        assert all(v > 0 for v in h.penalty)
    if "clip_value" in kw:
        assert max(p.abs().max().item() for p in D.parameters()) <= 0.01 + 1e-7


def test_n_critic_draws_more_batches(digits):
    calls = {"n": 0}

    def counting(real, fake):
        calls["n"] += 1
        return losses.d_loss(real, fake)

    run(digits, 3, loss=(counting, losses.g_loss_nonsaturating), n_critic=4)
    assert calls["n"] == 12


class _CondG(nn.Module):
    z_dim = 4

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.net = nn.Linear(8, 28 * 28)
        self.seen = []

    def forward(self, z, y):
        self.seen.append(y)
        return torch.tanh(self.net(torch.cat([z, self.embed(y)], 1))).view(-1, 1, 28, 28)


class _CondD(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 28 * 28)
        self.net = nn.Linear(28 * 28, 1)

    def forward(self, x, y):
        return self.net(x.flatten(1) + self.embed(y)).view(-1)


def test_conditional_models_get_labels_from_the_data(digits):
    G, D = _CondG(), _CondD()
    h = train_gan(G, D, digits, steps=2, batch_size=8, n_samples=10, device="cpu", gp_weight=1.0,
                  loss="wasserstein", conditional=True)
    assert h.fixed_y.tolist() == list(range(10))
    train_labels = [y for y in G.seen if len(y) == 8]
    assert len(train_labels) == 4 and all(set(y.tolist()) <= set(range(10)) for y in train_labels)


def test_ema_generator_averages(digits):
    G, D = tiny()
    G_ema = clone(G)
    start = [p.clone() for p in G_ema.parameters()]
    train_gan(G, D, digits, steps=3, batch_size=8, device="cpu", ema=G_ema, ema_decay=0.5, n_samples=2)
    moved = [not torch.equal(a, b) for a, b in zip(start, G_ema.parameters())]
    assert any(moved)
    assert any(not torch.equal(a, b) for a, b in zip(G.parameters(), G_ema.parameters()))


def test_bad_arguments_are_explained(digits):
    G, D = tiny()
    with pytest.raises(TypeError, match="ImageDataset"):
        train_gan(G, D, [1, 2, 3], steps=1, device="cpu")
    with pytest.raises(ValueError, match="unknown loss 'vanilla'"):
        train_gan(G, D, digits, steps=1, loss="vanilla", device="cpu")
    with pytest.raises(ValueError, match="batch_size must be between 1 and"):
        train_gan(G, D, digits, steps=1, batch_size=10_000, device="cpu")
    with pytest.raises(ValueError, match="optimizer must be"):
        train_gan(G, D, digits, steps=1, optimizer="sgd", device="cpu")


def test_batches_repeat_from_their_generator_state(digits):
    b = InMemoryBatches(digits, 5, torch.device("cpu"), seed=7)
    state = b.generator.get_state()
    x1, y1 = b.next()
    b.generator.set_state(state)
    x2, y2 = b.next()
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and x1.shape == (5, 1, 28, 28)


def test_channels_last_changes_the_layout_not_the_run(digits):
    G1, D1, h1 = run(digits, 4, channels_last=True)
    G2, D2, h2 = run(digits, 4, channels_last=False)
    # a convolution with several input channels (with one, both layouts are the same strides)
    conv1, conv2 = (next(m for m in D.modules() if isinstance(m, nn.Conv2d) and m.in_channels > 1) for D in (D1, D2))
    assert conv1.weight.is_contiguous(memory_format=torch.channels_last) and not conv1.weight.is_contiguous()
    assert conv2.weight.is_contiguous() and not conv2.weight.is_contiguous(memory_format=torch.channels_last)
    # the same arithmetic in another order: equal to rounding, over a few steps
    for k in ("loss_d", "loss_g", "grad_norm_g"):
        assert getattr(h1, k) == pytest.approx(getattr(h2, k), rel=1e-4, abs=1e-6), k
    for (name, p1), p2 in zip(G1.state_dict().items(), G2.state_dict().values()):
        assert torch.allclose(p1, p2, rtol=1e-4, atol=1e-5), name


def test_generator_step_leaves_d_trainable_and_ungraded(digits):
    G, D, h = run(digits, 2)
    assert all(p.requires_grad for p in D.parameters())
    # D's gradients are those of its own last step, untouched by G's step: recompute that step's norm
    assert h.grad_norm_d[-1] == pytest.approx(float(torch.nn.utils.get_total_norm(
        [p.grad for p in D.parameters() if p.grad is not None])), rel=1e-6)


def test_bf16_autocast_trains_in_float32_weights(digits):
    _, _, h32 = run(digits, 3)
    G, D, h16 = run(digits, 3, precision="bf16")
    assert all(p.dtype == torch.float32 for p in list(G.parameters()) + list(D.parameters()))
    assert all(math.isfinite(v) for v in h16.loss_d + h16.loss_g)
    assert h16.loss_d[0] == pytest.approx(h32.loss_d[0], abs=0.05)  # bfloat16 keeps about 3 digits
    assert h16.loss_d != h32.loss_d  # and it does change the arithmetic
    with pytest.raises(ValueError, match="precision must be 'fp32' or 'bf16'"):
        run(digits, 1, precision="fp16")


def test_compiled_forward_passes_give_the_same_run(digits):
    _, _, plain = run(digits, 2, loss="wasserstein", n_critic=2, gp_weight=10.0)
    G, D, compiled = run(digits, 2, loss="wasserstein", n_critic=2, gp_weight=10.0, compile="eager")
    assert compiled.loss_d == pytest.approx(plain.loss_d, rel=1e-6)
    assert compiled.loss_g == pytest.approx(plain.loss_g, rel=1e-6)
    assert not any(k.startswith("_orig_mod") for k in G.state_dict())  # checkpoints keep plain names


def test_the_two_steps_run_alone_as_a_lecture_shows_them(digits):
    G, D = tiny()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x_real = digits.images[:8]
    g_before = [p.clone() for p in G.parameters()]
    d = discriminator_step(G, D, opt_d, x_real, torch.randn(8, 8), losses.d_loss)
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters()))  # the fakes were detached: G stays
    assert set(d) == {"loss_d", "penalty", "grad_norm_d", "s_real", "s_fake"} and d["s_real"].shape == (8,)
    d_before = [p.clone() for p in D.parameters()]
    g = generator_step(G, D, opt_g, torch.randn(8, 8), losses.g_loss_nonsaturating)
    assert all(torch.equal(a, b) for a, b in zip(d_before, D.parameters()))  # D was frozen: it stays
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters())) and g["grad_norm_g"] > 0


def test_sample_steps_can_be_listed(digits):
    _, _, h = run(digits, 5, sample_every=(1, 3))
    assert h.sample_steps == [1, 3, 5]  # the listed steps and the end; no step 0 unless listed
    with pytest.raises(ValueError, match=r"sample steps \[9\] fall outside 0..5"):
        run(digits, 5, sample_every=(0, 9))


def test_penalty_is_stored_weighted(digits):
    _, _, h1 = run(digits, 1, loss="wasserstein", gp_weight=1.0, seed=2)
    _, _, h10 = run(digits, 1, loss="wasserstein", gp_weight=10.0, seed=2)
    assert h10.penalty[0] == pytest.approx(10 * h1.penalty[0], rel=1e-5)  # the first step: same D, same batch


# --------------------------------------------------------------------------------------------
# R2 (lecture 12): against an autograd computation written out here, 0 changing nothing, and R3GAN's
# digit run as one train_gan call
# --------------------------------------------------------------------------------------------


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
