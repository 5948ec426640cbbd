"""Bad input at the training loop's boundary, and runs that diverge: stopped with the step and the quantity."""

import pytest
import torch
from torch import nn

from gancourse import checkpoints
from gancourse.speed import DivergenceError, Speed
from gancourse.train import discriminator_step, train_gan

Z = 8


class _G(nn.Module):
    """z (B, Z) -> images (B, 1, side, side) in [-1, 1]; ``dead=True`` multiplies the output by 0 (no gradient)."""

    def __init__(self, side=8, dead=False):
        super().__init__()
        self.side, self.dead, self.z_dim = side, dead, Z
        self.net = nn.Linear(Z, side * side)

    def forward(self, z):
        x = torch.tanh(self.net(z)).view(-1, 1, self.side, self.side)
        return 0 * x if self.dead else x


class _D(nn.Module):
    """Images of any size -> (B,) scores: it pools first, so a G of the wrong size would pass unnoticed."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.net = nn.Linear(16, 1)

    def forward(self, x):
        return self.net(self.pool(x).flatten(1)).view(-1)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TQDM_DISABLE", "1")


@pytest.fixture
def images():
    return torch.rand(64, 1, 8, 8) * 2 - 1


def _train(data, G=None, D=None, **kw):
    kw = {"steps": 2, "batch_size": 8, "device": "cpu", "n_samples": 4, "sample_every": 100, "progress": False, **kw}
    return train_gan(G if G is not None else _G(), D if D is not None else _D(), data, **kw)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"batch_size": 2.5}, TypeError, r"batch_size must be an int, got float 2.5"),
    ({"batch_size": 0}, ValueError, r"batch_size must be an int >= 1, got 0"),
    ({"steps": -1}, ValueError, r"steps must be an int >= 0, got -1"),
    ({"steps": 10.0}, TypeError, r"steps must be an int, got float 10.0"),
    ({"n_critic": 0}, ValueError, r"n_critic must be an int >= 1, got 0.*discriminator steps per generator step"),
    ({"betas": (0.5,)}, ValueError, r"betas must hold 2 numbers, got 1: \(0.5,\).*betas=\(0.5, 0.999\)"),
    ({"betas": (0.5, 1.0)}, ValueError, r"betas\[1\] must be in \[0, 1\), got 1"),
    ({"lr_g": -2e-4}, ValueError, r"lr_g must be >= 0, got -0.0002"),
    ({"lr_d": "2e-4"}, TypeError, r"lr_d must be a number, got str '2e-4'"),
    ({"lr_g": float("nan")}, ValueError, r"lr_g must be a finite number, got nan"),
    ({"gp_weight": -10}, ValueError, r"gp_weight must be >= 0, got -10.*lambda"),
    ({"r1_gamma": -1.0}, ValueError, r"r1_gamma must be >= 0, got -1"),
    ({"clip_value": 0.0}, ValueError, r"clip_value must be > 0, got 0.*None turns clipping off"),
    ({"ema": _G(), "ema_decay": 2.0}, ValueError, r"ema_decay must be in \[0, 1\), got 2"),
    ({"ema": _G(), "ema_decay": 1.0}, ValueError, r"ema_decay must be in \[0, 1\), got 1"),
    ({"ema": "G"}, TypeError, r"ema must be a Module, got str 'G'.*clone\(G\)"),
    ({"checkpoint_every": 0}, ValueError, r"checkpoint_every must be an int >= 1, got 0"),
    ({"n_samples": 0}, ValueError, r"n_samples must be an int >= 1, got 0"),
    ({"conditional": "yes"}, TypeError, r"conditional must be True or False, got str 'yes'"),
    ({"seed": 1.5}, TypeError, r"seed must be an int, got float 1.5"),
    ({"speed": Speed(log_every=0)}, ValueError, r"speed.log_every must be an int >= 1, got 0"),
    ({"loss": ("hinge",)}, TypeError, r"loss must be a name .* or a pair of functions \(d_loss_fn, g_loss_fn\), got tuple"),
    ({"sample_every": 2.5}, TypeError, r"sample_every must be an int .* or a list of steps, got float 2.5"),
    ({"sample_every": 0}, ValueError, r"sample_every must be an int >= 1, got 0"),
])
def test_train_gan_arguments(images, kwargs, error, message):
    with pytest.raises(error, match=message):
        _train(images, **kwargs)


def test_networks_passed_as_classes(images):
    with pytest.raises(TypeError, match=r"G must be a Module, got type .*Pass the network itself"):
        train_gan(_G, _D(), images, steps=1)


def test_images_in_0_255(images):
    pixels = ((images + 1) * 127.5).round()  # what a dataset read straight from PNG files holds
    with pytest.raises(ValueError, match=r"the training images must lie in \[-1, 1\], got values from 0 to 255. "
                                         r"Scale them to \[-1, 1\] \(uint8 pixels: x / 127.5 - 1\)"):
        _train(pixels)


def test_images_in_0_1_are_a_valid_subset(images):
    assert _train((images + 1) / 2).steps == 2  # in [-1, 1], if not centred: allowed


def test_uint8_images(images):
    with pytest.raises(TypeError, match=r"the training images must hold floating-point values, got a tensor of shape "
                                        r"\(64, 1, 8, 8\) \(uint8\)"):
        _train(((images + 1) * 127.5).to(torch.uint8))


def test_generator_of_another_size_than_the_data(images):
    with pytest.raises(ValueError, match=r"G makes samples of shape \(1, 16, 16\) but the data's are \(1, 8, 8\)"):
        _train(images, G=_G(side=16))


def test_discriminator_step_checks_shapes_itself(images):
    G, D = _G(side=4), _D()
    opt = torch.optim.Adam(D.parameters())
    with pytest.raises(ValueError, match=r"G makes samples of shape \(1, 4, 4\)"):
        discriminator_step(G, D, opt, images[:8], torch.randn(8, Z), lambda r, f: (f - r).mean())


# ---- runs that diverge

def test_exploding_loss_stops_with_the_step_and_writes_no_checkpoint(images):
    def d_loss(s_real, s_fake):
        return (s_fake - s_real).mean() + 5e8  # a loss already far beyond any sane value

    with pytest.raises(DivergenceError, match=r"loss_d reached 5e\+08 at step 1, beyond 1e\+08: the run diverged. "
                                              r"Training stopped before writing a checkpoint"):
        _train(images, loss=(d_loss, lambda s_fake: -s_fake.mean()), checkpoint="exploded")
    assert not checkpoints.cache_path("exploded").exists()


def test_unbounded_critic_at_a_huge_learning_rate_is_stopped(images):
    """WGAN's critic with no penalty or clipping at lr 500: its weights run away (1.2e5-fold in 200 steps)."""
    with pytest.raises(DivergenceError, match=r"D's weight norm grew .*-fold \(.* -> .*\) by step \d+, beyond "
                                              r"1e\+04-fold: the run diverged"):
        _train(images, steps=200, loss="wasserstein", lr_d=500.0, lr_g=500.0, betas=(0.0, 0.9))


def test_dead_generator_is_stopped_after_100_steps(images):
    with pytest.raises(DivergenceError, match=r"grad_norm_g has been exactly 0 for 100 steps \(steps 1 to 100\): "
                                              r"the generator no longer learns"):
        _train(images, G=_G(dead=True), steps=150)


def test_a_healthy_run_past_the_dead_gradient_window_is_not_stopped(images):
    h = _train(images, steps=120)
    assert h.steps == 120 and min(h.grad_norm_g) > 0 and max(map(abs, h.loss_d + h.loss_g)) < 10


def test_the_last_good_checkpoint_survives_a_later_divergence(images):
    calls = {"n": 0}

    def d_loss(s_real, s_fake):
        calls["n"] += 1
        return (s_fake - s_real).mean() + (5e8 if calls["n"] > 30 else 0.0)  # sane for 30 steps, then not

    with pytest.raises(DivergenceError, match="loss_d reached 5e\\+08 at step 31"):
        _train(images, steps=60, checkpoint="ckpt", checkpoint_every=25, loss=(d_loss, lambda s: -s.mean()))
    assert checkpoints.load("ckpt")["step"] == 25


# ---- resuming from checkpoints that do not fit

def test_resume_with_a_d_that_does_not_fit_leaves_g_untouched(images):
    _train(images, checkpoint="fit")
    G = _G()
    before = [p.detach().clone() for p in G.parameters()]

    class OtherD(_D):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(16, 2)

    with pytest.raises(checkpoints.CheckpointError, match=r"fit.pt's D does not fit this D \(net.weight: checkpoint "
                                                           r"\(1, 16\), now \(2, 16\)"):
        _train(images, G=G, D=OtherD(), steps=3, checkpoint="fit")
    assert all(torch.equal(a, b) for a, b in zip(before, G.parameters()))


def test_resume_from_a_foreign_checkpoint(images):
    checkpoints.save({"weights": torch.zeros(3)}, "foreign")
    with pytest.raises(checkpoints.CheckpointError, match=r"foreign.pt lacks step, config, history, rng: it is not a "
                                                           r"train_gan checkpoint. Pass resume=False"):
        _train(images, checkpoint="foreign")
