"""The toy players and the toy training loop (lectures 01, 02, 04, 05)."""

import numpy as np
import pytest
import torch

from gancourse import toy
from gancourse.data import BimodalGaussian1D, GaussianMixture
from gancourse.toy import Discriminator, Generator, MLP, train_toy
from gancourse.train import History


# --------------------------------------------------------------------------------------------
# Players
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data_dim", [1, 2])
def test_players_shapes(data_dim):
    G = Generator(z_dim=3, data_dim=data_dim, hidden=(16, 8))
    D = Discriminator(data_dim=data_dim, hidden=(8,))
    x = G.sample(5)
    assert x.shape == (5, data_dim)
    assert D(x).shape == (5,)
    assert G.noise(7).shape == (7, 3)


def test_mlp_layers_follow_hidden_sizes():
    net = MLP(2, 1, hidden=(5, 7), activation="tanh")
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2, 5), (5, 7), (7, 1)]
    assert sum(isinstance(m, torch.nn.Tanh) for m in net.modules()) == 2


def test_mlp_errors_say_what_was_wrong():
    with pytest.raises(ValueError, match=r"expects input of shape \(B, 1\), got \(4,\)"):
        Discriminator(1, hidden=(4,))(torch.zeros(4))
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        MLP(1, 1, activation="gelu")
    with pytest.raises(ValueError, match="hidden sizes must be positive ints"):
        MLP(1, 1, hidden=(4, 0))


def test_same_noise_generator_gives_same_samples():
    G = Generator(2, 1, hidden=(8,))
    a = G.sample(10, torch.Generator().manual_seed(3))
    b = G.sample(10, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def _tiny(data_dim=1):
    torch.manual_seed(0)
    return Generator(2, data_dim, hidden=(16,)), Discriminator(data_dim, hidden=(16,))


def test_history_records_every_step_and_the_snapshots():
    G, D = _tiny()
    grid = np.linspace(-3, 3, 11)
    h = train_toy(G, D, BimodalGaussian1D(), steps=12, batch_size=32, snapshot_steps=(0, 5),
                  grid=grid, n_snapshot_samples=50)
    for name in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "penalty"):
        assert len(getattr(h, name)) == 12, name
    assert h.snapshot_steps == [0, 5, 12]  # the end is always recorded
    snap = h.snapshot(5)
    assert snap.samples.shape == (50, 1)
    assert snap.d_grid.shape == (11,)
    assert h.grid.shape == (11, 1)
    assert h.probabilities
    assert all(0 < v < 1 for v in h.d_real + h.d_fake)
    assert np.all((snap.d_grid > 0) & (snap.d_grid < 1))
    assert all(v > 0 for v in h.grad_norm_g)
    assert h.penalty == [0.0] * 12


def test_snapshot_at_step_zero_is_the_untrained_generator():
    G, D = _tiny()
    z = G.noise(40, torch.Generator().manual_seed(1))  # train_toy's snapshot noise comes from seed + 1
    with torch.no_grad():
        before = G(z).numpy()
    h = train_toy(G, D, BimodalGaussian1D(), steps=3, batch_size=16, n_snapshot_samples=40, seed=0)
    np.testing.assert_array_equal(h.snapshot(0).samples, before)
    assert not np.array_equal(h.snapshot(3).samples, before)


def test_recorded_means_are_sigmoids_of_the_logits():
    """With lr 0 nothing moves, so the first record can be recomputed from the same batches."""
    G, D = _tiny()
    data = BimodalGaussian1D()
    h = train_toy(G, D, data, steps=1, batch_size=64, lr_d=0.0, lr_g=0.0, seed=7)
    gen = torch.Generator().manual_seed(7)
    x_real = data.sample(64, generator=gen)
    x_fake = G(G.noise(64, gen))
    with torch.no_grad():
        assert h.d_real[0] == pytest.approx(torch.sigmoid(D(x_real)).mean().item(), abs=1e-6)
        assert h.d_fake[0] == pytest.approx(torch.sigmoid(D(x_fake)).mean().item(), abs=1e-6)


def test_training_is_reproducible_from_the_seed():
    runs = []
    for _ in range(2):
        G, D = _tiny()
        runs.append(train_toy(G, D, BimodalGaussian1D(), steps=5, batch_size=16, seed=3))
    assert runs[0].loss_g == runs[1].loss_g
    np.testing.assert_array_equal(runs[0].snapshots[-1].samples, runs[1].snapshots[-1].samples)


def test_d_step_sends_no_gradient_into_g():
    """G's weights receive a gradient once per step (its own update), never from the D loss."""
    G, D = _tiny()
    calls = []
    first = next(G.parameters())
    first.register_hook(lambda grad: calls.append(1))
    train_toy(G, D, BimodalGaussian1D(), steps=4, n_critic=3, batch_size=16)
    assert len(calls) == 4


def test_n_critic_draws_one_real_batch_per_critic_step():
    G, D = _tiny()
    data = BimodalGaussian1D()
    calls = []

    def sampler(n, generator):
        calls.append(n)
        return data.sample(n, generator=generator)

    train_toy(G, D, sampler, steps=3, n_critic=5, batch_size=8, loss="wasserstein")
    assert calls == [8] * 15


def test_wasserstein_with_penalty_and_clipping():
    G, D = _tiny(data_dim=2)
    data = GaussianMixture([[0.0, 0.0], [1.0, 1.0]], std=0.1)
    grid = toy.grid_2d(2.0, 5)
    h = train_toy(G, D, data, steps=3, batch_size=16, loss="wasserstein", n_critic=2, gp_weight=10.0,
                  grid=grid)
    assert not h.probabilities
    assert all(p > 0 for p in h.penalty)
    assert h.snapshots[-1].d_grid.shape == (25,)
    G, D = _tiny(data_dim=2)
    train_toy(G, D, data, steps=2, batch_size=16, loss="wasserstein", clip_value=0.01)
    assert max(p.abs().max().item() for p in D.parameters()) <= 0.01 * (1 + 1e-6)  # float32 rounding


def test_grid_2d_layout_matches_meshgrid():
    pts = toy.grid_2d(1.0, 3)
    assert pts.shape == (9, 2)
    ticks = np.linspace(-1, 1, 3)
    i, j = 2, 0
    np.testing.assert_allclose(pts[i * 3 + j], [ticks[j], ticks[i]])
    assert toy.grid_1d(-1, 1, 5).shape == (5, 1)


def test_train_toy_errors():
    G, D = _tiny()
    with pytest.raises(ValueError, match=r"sample steps \[9\] fall outside 0..5"):
        train_toy(G, D, BimodalGaussian1D(), steps=5, snapshot_steps=(0, 9))
    with pytest.raises(ValueError, match="unknown loss 'minimax'"):
        train_toy(G, D, BimodalGaussian1D(), steps=1, loss="minimax")
    with pytest.raises(TypeError, match=r"a sampler with .sample\(n, generator=...\)"):
        train_toy(G, D, 3.0, steps=1)
    h = train_toy(G, D, BimodalGaussian1D(), steps=1, batch_size=4)
    with pytest.raises(ValueError, match=r"no snapshot at step 7; snapshots were taken at steps \[0, 1\]"):
        h.snapshot(7)


# --------------------------------------------------------------------------------------------
# Saving and loading
# --------------------------------------------------------------------------------------------


def test_history_round_trips_through_weights_only_load(tmp_path):
    G, D = _tiny()
    h = train_toy(G, D, BimodalGaussian1D(), steps=4, batch_size=8, grid=np.linspace(-1, 1, 3))
    torch.save(h.to_dict(), tmp_path / "h.pt")
    back = History.from_dict(torch.load(tmp_path / "h.pt", weights_only=True))
    assert back.loss_g == h.loss_g and back.d_real == h.d_real
    assert back.snapshot_steps == h.snapshot_steps
    np.testing.assert_array_equal(back.snapshots[-1].d_grid, h.snapshots[-1].d_grid)
    np.testing.assert_array_equal(back.grid, h.grid)


def test_load_or_train_bimodal_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path))
    recipe = toy.BimodalRecipe(z_dim=2, hidden=(8,), steps=6, snapshot_steps=(0, 3), grid=(-1.0, 1.0, 5))
    G1, D1, h1 = toy.load_or_train_bimodal(recipe, seed=1)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [recipe.key(1)]  # one checkpoint, no temporary file left behind
    G2, D2, h2 = toy.load_or_train_bimodal(recipe, seed=1)
    x = torch.linspace(-2, 2, 9)[:, None]
    assert torch.equal(D1(x), D2(x))
    assert h2.loss_g == h1.loss_g and h2.snapshot_steps == [0, 3, 6]
    assert recipe.key(1) != recipe.key(2)
    assert recipe.key(1) != toy.BimodalRecipe(z_dim=2, hidden=(8,), steps=7).key(1)


def test_a_cache_file_of_the_old_toy_format_is_trained_again(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path))
    recipe = toy.BimodalRecipe(z_dim=2, hidden=(8,), steps=3, snapshot_steps=(0,), grid=(-1.0, 1.0, 5))
    assert recipe.key(0).startswith("toy-bimodal-seed0-")  # the name the course has always used
    torch.save({"G": {}, "D": {}, "history": {"d_loss": torch.zeros(3)}, "config": {}}, tmp_path / recipe.key(0))
    _, _, h = toy.load_or_train_bimodal(recipe, seed=0)
    assert "older version of gancourse; computing it again" in capsys.readouterr().out
    assert h.steps == 3 and torch.load(tmp_path / recipe.key(0), weights_only=True)["format"] == 2


@pytest.mark.slow
def test_toy_gan_recovers_a_2d_gaussian():
    """The known answer: G learns the mean and covariance of one 2D Gaussian (d2l's opening example)."""
    torch.manual_seed(0)
    mean = torch.tensor([1.0, -0.5])
    A = torch.tensor([[0.6, 0.0], [0.3, 0.3]])  # covariance A A^T = [[0.36, 0.18], [0.18, 0.18]]

    def sampler(n, generator):
        return torch.randn(n, 2, generator=generator) @ A.T + mean

    G = Generator(2, 2, hidden=(16,))
    D = Discriminator(2, hidden=(32, 32))
    train_toy(G, D, sampler, steps=1000, batch_size=256, lr_g=1e-3, lr_d=1e-3, seed=0)
    with torch.no_grad():
        x = G.sample(20000, torch.Generator().manual_seed(0))
    cov = torch.cov(x.T)
    # measured (seed 0, 1,000 steps): mean off by <= 0.024, covariance by <= 0.033; seed 1: 0.023, 0.082
    assert torch.allclose(x.mean(0), mean, atol=0.12), x.mean(0)
    assert torch.allclose(cov, A @ A.T, atol=0.15), cov
