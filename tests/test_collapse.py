"""The fixes against mode collapse and the cached ring experiment (lecture 04)."""

import copy

import numpy as np
import pytest
import torch

from gancourse import collapse, losses
from gancourse.collapse import (MinibatchStdDev, MinibatchStdDiscriminator, PackedDiscriminator, RingSetting,
                                UnrolledGeneratorLoss, minibatch_std, pack, unpack, unroll_discriminator)
from gancourse.data import Ring2D
from gancourse.toy import Discriminator, Generator, train_toy


# --------------------------------------------------------------------------------------------
# Minibatch standard deviation
# --------------------------------------------------------------------------------------------


def test_minibatch_std_matches_numpy():
    h = torch.randn(12, 5, dtype=torch.float64)
    expected = np.sqrt(h.numpy().var(axis=0) + 1e-8).mean()  # biased variance, as the layer
    np.testing.assert_allclose(minibatch_std(h).numpy(), np.full(12, expected), rtol=1e-12)
    # groups of 3: sample i belongs to group i % 4
    got = minibatch_std(h, group_size=3).numpy()
    for g in range(4):
        members = h.numpy()[g::4]  # (3, 5)
        np.testing.assert_allclose(got[g::4], np.sqrt(members.var(axis=0) + 1e-8).mean(), rtol=1e-12)


def test_minibatch_std_of_a_collapsed_batch_is_near_zero_and_images_get_a_channel():
    same = torch.ones(8, 3).repeat(1, 1) * torch.tensor([0.5, -1.0, 2.0])
    assert torch.allclose(minibatch_std(same), torch.full((8,), 1e-4), atol=1e-9)  # sqrt(eps)
    x = torch.randn(4, 2, 3, 3)
    out = MinibatchStdDev()(x)
    assert out.shape == (4, 3, 3, 3)
    assert torch.equal(out[:, :2], x)
    expected = x.reshape(4, -1).var(dim=0, unbiased=False).add(1e-8).sqrt().mean()
    assert torch.allclose(out[:, 2], expected.expand(4, 3, 3))
    assert MinibatchStdDev()(torch.randn(6, 4)).shape == (6, 5)
    with pytest.raises(ValueError, match="does not split into groups of 4"):
        minibatch_std(torch.randn(6, 2), group_size=4)


def test_minibatch_std_discriminator_sees_the_rest_of_the_batch():
    D = MinibatchStdDiscriminator(2, hidden=(8, 8))
    x = torch.randn(6, 2)
    y = x.clone()
    y[1:] = x[0]  # same first sample, collapsed rest
    assert D(x).shape == (6,)
    assert not torch.allclose(D(x)[0], D(y)[0])  # a plain MLP would give the same score
    plain = Discriminator(2, hidden=(8, 8))
    assert torch.allclose(plain(x)[0], plain(y)[0])


# --------------------------------------------------------------------------------------------
# PacGAN
# --------------------------------------------------------------------------------------------


def test_pack_concatenates_consecutive_samples():
    x = torch.arange(12.0).view(6, 2)
    packed = pack(x, 2)
    assert packed.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert torch.equal(unpack(packed, 2), x)
    imgs = torch.randn(6, 1, 4, 4)
    p3 = pack(imgs, 3)
    assert p3.shape == (2, 3, 4, 4)
    assert torch.equal(p3[1, 2], imgs[5, 0]) and torch.equal(p3[0, 1], imgs[1, 0])
    assert torch.equal(unpack(p3, 3), imgs)
    with pytest.raises(ValueError, match="a batch of 5 samples does not split into packs of 2"):
        pack(torch.zeros(5, 2), 2)


def test_packed_discriminator_scores_one_pack():
    inner = Discriminator(4, hidden=(8,))
    D = PackedDiscriminator(inner, m=2)
    x = torch.randn(6, 2)
    assert D(x).shape == (3,)
    assert torch.allclose(D(x)[1], inner(torch.cat([x[2], x[3]])[None])[0])


# --------------------------------------------------------------------------------------------
# Unrolled GAN
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_unrolled_steps_are_torch_optimizer_steps(optimizer):
    """k unrolled plain steps are k torch.optim.SGD steps; Adam from zero moments takes torch.optim.Adam's."""
    torch.manual_seed(0)
    D = Discriminator(2, hidden=(8,))
    x_real, x_fake = torch.randn(16, 2), torch.randn(16, 2)
    if optimizer == "sgd":
        params = unroll_discriminator(D, x_real, x_fake, k=3, lr=0.1)
        make = lambda ps: torch.optim.SGD(ps, lr=0.1)
    else:
        params = unroll_discriminator(D, x_real, x_fake, k=3, lr=0.01, optimizer="adam", betas=(0.5, 0.999))
        make = lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.5, 0.999), eps=1e-8)
    ref = copy.deepcopy(D)
    opt = make(ref.parameters())
    for _ in range(3):
        opt.zero_grad()
        losses.d_loss(ref(x_real), ref(x_fake)).backward()
        opt.step()
    for (name, p), q in zip(params.items(), ref.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name
    assert all(p.grad is None for p in D.parameters())  # D itself was not touched


def test_adam_unrolling_moves_each_weight_by_lr_at_first():
    torch.manual_seed(0)
    D = Discriminator(2, hidden=(8,))
    x_real, x_fake = torch.randn(16, 2), torch.randn(16, 2)
    # Adam's first step moves every weight with a nonzero gradient by lr, plain steps far less
    sgd = unroll_discriminator(D, x_real, x_fake, k=1, lr=0.01)
    adam = unroll_discriminator(D, x_real, x_fake, k=1, lr=0.01, optimizer="adam")
    w = dict(D.named_parameters())["net.0.weight"]
    assert torch.allclose((adam["net.0.weight"] - w).abs(), torch.full_like(w, 0.01), rtol=1e-4)
    assert (sgd["net.0.weight"] - w).abs().max() < 0.01 * 0.5


def test_unrolled_adam_carries_its_moments_from_call_to_call():
    """With a state, the unrolling starts from the moments of the calls before, as D's own Adam does:
    two calls with k = 1 on two batches take the two steps torch.optim.Adam takes on them."""
    torch.manual_seed(1)
    D = Discriminator(2, hidden=(8,))
    batches = [(torch.randn(16, 2), torch.randn(16, 2)) for _ in range(2)]
    state: dict = {}
    unroll_discriminator(D, *batches[0], k=1, lr=0.01, optimizer="adam", state=state)
    assert state["t"] == 1
    second = unroll_discriminator(D, *batches[1], k=1, lr=0.01, optimizer="adam", state=state)
    assert state["t"] == 2
    ref = copy.deepcopy(D)
    opt = torch.optim.Adam(ref.parameters(), lr=0.01, betas=(0.5, 0.999))
    for x_real, x_fake in batches:  # torch's Adam, each step taken from D's weights (D itself never moves)
        with torch.no_grad():
            for q, p in zip(ref.parameters(), D.parameters()):
                q.copy_(p)
        opt.zero_grad()
        losses.d_loss(ref(x_real), ref(x_fake)).backward()
        opt.step()
    for (name, p), q in zip(second.items(), ref.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name


def test_unrolled_adam_gradient_goes_through_the_unrolling():
    """The unrolled-Adam objective's gradient with respect to G's weights, against finite differences."""
    torch.manual_seed(0)
    G = Generator(2, 2, hidden=(4,)).double()
    D = Discriminator(2, hidden=(4,)).double()
    z, x_real = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)

    def objective():  # a fresh state each time: every evaluation starts from zero moments
        return UnrolledGeneratorLoss(k=3, lr=0.05, optimizer="adam")(G, D, z, x_real)

    w = G.net[0].weight
    (grad,) = torch.autograd.grad(objective(), w)
    h = 1e-6
    values = []
    for shift in (h, -2 * h, h):
        with torch.no_grad():
            w[0, 0] += shift
        values.append(objective().item())
    assert grad[0, 0].item() == pytest.approx((values[0] - values[1]) / (2 * h), rel=1e-4, abs=1e-8)


def test_unrolling_names_a_wrong_optimizer():
    D = Discriminator(2, hidden=(4,))
    with pytest.raises(ValueError, match="unknown unrolling optimizer 'rmsprop'"):
        unroll_discriminator(D, torch.randn(4, 2), torch.randn(4, 2), optimizer="rmsprop")


def test_unrolled_loss_with_k_zero_is_the_plain_generator_loss():
    G, D = Generator(3, 2, hidden=(8,)), Discriminator(2, hidden=(8,))
    z, x_real = torch.randn(16, 3), torch.randn(16, 2)
    got = UnrolledGeneratorLoss(k=0)(G, D, z, x_real)
    assert torch.allclose(got, losses.g_loss_nonsaturating(D(G(z))))


def test_unrolled_gradient_goes_through_the_unrolling():
    """The gradient of the unrolled objective with respect to G's weights, against finite differences."""
    torch.manual_seed(0)
    G = Generator(2, 2, hidden=(4,)).double()
    D = Discriminator(2, hidden=(4,)).double()
    z, x_real = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    objective = UnrolledGeneratorLoss(k=3, lr=0.5)
    w = G.net[0].weight
    (grad,) = torch.autograd.grad(objective(G, D, z, x_real), w)
    h = 1e-6
    values = []
    for shift in (h, -2 * h, h):  # up, down, back to where it was
        with torch.no_grad():
            w[0, 0] += shift
        values.append(objective(G, D, z, x_real).item())
    up, down = values[0], values[1]
    assert grad[0, 0].item() == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)
    # and it differs from the gradient that treats the unrolled D as a constant
    params = {n: p.detach() for n, p in unroll_discriminator(D, x_real, G(z).detach(), k=3, lr=0.5).items()}
    from torch.func import functional_call

    (first_order,) = torch.autograd.grad(losses.g_loss_nonsaturating(functional_call(D, params, (G(z),))), w)
    assert not torch.allclose(grad, first_order, atol=1e-6)


def test_train_toy_takes_the_unrolled_objective():
    ring = Ring2D()
    runs = []
    for objective in (None, UnrolledGeneratorLoss(k=0, lr=1e-3)):
        torch.manual_seed(0)
        G, D = Generator(4, 2, hidden=(8,)), Discriminator(2, hidden=(8,))
        runs.append(train_toy(G, D, ring, steps=4, batch_size=16, g_objective=objective, seed=2))
    assert runs[0].loss_g == pytest.approx(runs[1].loss_g, abs=1e-6)
    torch.manual_seed(0)
    G, D = Generator(4, 2, hidden=(8,)), Discriminator(2, hidden=(8,))
    h = train_toy(G, D, ring, steps=4, batch_size=16, g_objective=UnrolledGeneratorLoss(k=2, lr=0.1), seed=2)
    assert h.steps == 4 and h.loss_g != runs[0].loss_g


# --------------------------------------------------------------------------------------------
# The ring experiment
# --------------------------------------------------------------------------------------------

TINY = dict(steps=6, z_dim=4, g_hidden=(8,), d_hidden=(8,), batch_size=16, n_samples=200, snapshot_steps=(3,))


@pytest.mark.parametrize("method", collapse.METHODS)
def test_every_method_trains_and_is_cached(method, tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path))
    setting = RingSetting(method, n_critic=2, unroll_k=2, **TINY)
    run = collapse.ring_run(setting, seed=1)
    assert [p.name for p in tmp_path.iterdir()] == [setting.key(1)]  # one file, no temporary left
    assert run.history.snapshot_steps == [3, 6] and len(run.modes) == 2
    assert 0 <= run.final_modes <= 8 and 0.0 <= run.final_high_quality <= 1.0
    again = collapse.ring_run(setting, seed=1)
    assert again.history.loss_g == run.history.loss_g and again.modes == run.modes


def test_ring_table_and_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path))
    settings = [RingSetting("vanilla", **TINY), RingSetting("pacgan", **TINY)]
    runs = collapse.ring_table(settings, seeds=[0, 1])
    assert [(r.setting.method, r.seed) for r in runs] == [("vanilla", 0), ("vanilla", 1), ("pacgan", 0), ("pacgan", 1)]
    table = collapse.summarize(runs)
    assert table["pacgan"]["seeds"] == [0, 1] and len(table["vanilla"]["modes"]) == 2
    assert settings[0].key(0) != settings[0].key(1) != RingSetting("vanilla", **{**TINY, "steps": 7}).key(1)
    with pytest.raises(ValueError, match="unknown method 'minibatch'"):
        collapse.ring_players(RingSetting("minibatch"))


def test_the_unroll_optimizer_enters_the_cache_name_only_when_it_is_adam():
    """Runs cached before the field existed keep their names; an Adam-unrolled run gets a name of its own."""
    import dataclasses

    plain = RingSetting("unrolled", **TINY)
    names = "|".join(f"{f.name}={getattr(plain, f.name)}" for f in dataclasses.fields(plain) if f.name != "unroll_optimizer")
    from gancourse import checkpoints

    assert plain.key(0) == checkpoints.keyed_name("ring", "unrolled", 0, names)
    assert RingSetting("unrolled", unroll_optimizer="adam", **TINY).key(0) != plain.key(0)


def test_the_costliest_ring_runs_go_first():
    cost = collapse._relative_cost
    assert cost(RingSetting("unrolled", unroll_k=5)) > cost(RingSetting("mbd")) > cost(RingSetting("vanilla"))
    assert cost(RingSetting("vanilla", steps=600)) == 2 * cost(RingSetting("vanilla", steps=300))


def test_mean_pairwise_distance_matches_scipy():
    from scipy.spatial.distance import pdist

    from gancourse.collapse import mean_pairwise_distance

    x = torch.randn(7, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    assert mean_pairwise_distance(x) == pytest.approx(pdist(x.flatten(1).numpy().astype(np.float64)).mean(), rel=1e-6)
    assert mean_pairwise_distance(x[:1].repeat(5, 1, 1, 1)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="at least 2 images"):
        mean_pairwise_distance(x[:1])

