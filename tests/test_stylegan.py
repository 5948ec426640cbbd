"""StyleGAN's parts against closed forms, torch's reference layers and hand-computed cases (lecture 08)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gancourse.collapse import MinibatchStdDev, mean_pairwise_distance
from gancourse.metrics import precision_recall
from gancourse.stylegan import (
    AdaIN,
    EqualConv2d,
    EqualLinear,
    MappingNetwork,
    NoiseInjection,
    StyleDiscriminator,
    StyleGenerator,
    adain,
    build_stylegan,
    ModulatedConv2d,
    modulated_conv2d,
    noise_effect,
    path_length,
    pixel_norm,
    resolutions,
    style_mixing_readings,
    truncation_tradeoff,
    truncate,
    untrained_like,
)


def small_generator(**kwargs) -> StyleGenerator:
    settings = dict(z_dim=16, w_dim=16, img_size=28, width=4, max_width=8, mapping_layers=3)
    settings.update(kwargs)
    return StyleGenerator(**settings)


def with_noise_strength(G: StyleGenerator, value: float = 0.5) -> StyleGenerator:
    """The paper initialises every noise strength at 0; give them a value so that noise shows."""
    with torch.no_grad():
        for module in G.modules():
            if isinstance(module, NoiseInjection):
                module.strength.fill_(value)
    return G


# ---- AdaIN ------------------------------------------------------------------------------------


def test_adain_gives_each_channel_mean_bias_and_std_scale():
    x = 3.0 * torch.randn(4, 5, 9, 9, dtype=torch.float64) + 2.0
    scale = torch.rand(4, 5, dtype=torch.float64) * 2 + 0.5
    bias = torch.randn(4, 5, dtype=torch.float64)
    y = adain(x, scale, bias, eps=1e-5)
    mean = y.mean(dim=(2, 3))  # (B, C)
    std = y.std(dim=(2, 3), unbiased=False)
    torch.testing.assert_close(mean, bias, atol=1e-10, rtol=0)
    # std is scale * sigma / sqrt(sigma^2 + eps): within 1e-6 of scale for sigma ~ 3
    torch.testing.assert_close(std, scale, atol=1e-5, rtol=1e-6)
    sigma = x.std(dim=(2, 3), unbiased=False)
    torch.testing.assert_close(std, scale * sigma / torch.sqrt(sigma**2 + 1e-5), atol=1e-12, rtol=1e-10)


def test_adain_equals_torch_instance_norm_then_affine():
    x = torch.randn(3, 6, 7, 7)
    scale, bias = torch.randn(3, 6), torch.randn(3, 6)
    reference = scale[:, :, None, None] * F.instance_norm(x, eps=1e-5) + bias[:, :, None, None]
    torch.testing.assert_close(adain(x, scale, bias), reference, atol=1e-5, rtol=1e-5)


def test_adain_ignores_the_input_statistics():
    x = torch.randn(2, 3, 8, 8)
    scale, bias = torch.randn(2, 3), torch.randn(2, 3)
    torch.testing.assert_close(adain(5 * x - 7, scale, bias), adain(x, scale, bias), atol=1e-5, rtol=1e-5)


def test_adain_rejects_mismatched_style():
    with pytest.raises(ValueError, match=r"scale has shape \(2, 4\); expected \(2, 3\)"):
        adain(torch.randn(2, 3, 4, 4), torch.ones(2, 4), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"got shape \(2, 3\)"):
        adain(torch.randn(2, 3), torch.ones(2, 3), torch.zeros(2, 3))


def test_adain_module_starts_near_the_plain_normalisation():
    layer = AdaIN(channels=4, w_dim=8)
    scale, bias = layer.style(torch.zeros(2, 8))  # w = 0: only the biases speak
    torch.testing.assert_close(scale, torch.ones(2, 4))
    torch.testing.assert_close(bias, torch.zeros(2, 4))


# ---- the mapping network --------------------------------------------------------------------


def test_pixel_norm_gives_unit_rms_and_ignores_the_length_of_z():
    z = torch.randn(5, 12, dtype=torch.float64)
    out = pixel_norm(z, eps=0.0)
    torch.testing.assert_close(out.pow(2).mean(dim=1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(out, z / z.norm(dim=1, keepdim=True) * math.sqrt(12))
    torch.testing.assert_close(pixel_norm(3.5 * z, eps=0.0), out)


def test_mapping_network_shapes_and_scale_invariance():
    f = MappingNetwork(z_dim=10, w_dim=6, n_layers=4, hidden_dim=12)
    z = torch.randn(7, 10)
    w = f(z)
    assert w.shape == (7, 6)
    assert len(f.layers) == 4
    torch.testing.assert_close(f(4.0 * z), w, atol=1e-5, rtol=1e-5)  # pixel norm comes first
    with pytest.raises(ValueError, match=r"z has shape \(7, 9\)"):
        f(torch.randn(7, 9))


def test_mapping_network_by_hand():
    f = MappingNetwork(z_dim=3, w_dim=2, n_layers=2, lr_mul=0.5)
    z = torch.tensor([[1.0, -2.0, 2.0]])
    h = z / torch.sqrt((z**2).mean() + 1e-8)
    for layer in f.layers:
        weight = layer.weight * 0.5 / math.sqrt(layer.weight.shape[1])
        h = F.leaky_relu(h @ weight.T + layer.bias * 0.5, 0.2) * math.sqrt(2)
    torch.testing.assert_close(f(z), h)


def test_equalised_layers_keep_unit_variance_and_match_plain_layers():
    torch.manual_seed(0)
    lin = EqualLinear(256, 256)
    x = torch.randn(4000, 256)
    assert abs(float(lin(x).detach().var()) - 1.0) < 0.1  # He's constant keeps the variance
    torch.testing.assert_close(lin(x), F.linear(x, lin.weight / 16.0, lin.bias))
    conv = EqualConv2d(4, 5, 3)
    y = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(conv(y), F.conv2d(y, conv.weight / 6.0, conv.bias, padding=1))


# ---- truncation -----------------------------------------------------------------------------


def test_truncate_closed_form():
    w, w_avg = torch.tensor([[2.0, 4.0]]), torch.tensor([1.0, 1.0])
    torch.testing.assert_close(truncate(w, w_avg, 0.5), torch.tensor([[1.5, 2.5]]))
    torch.testing.assert_close(truncate(w, w_avg, 1.0), w)


def test_truncation_at_psi_zero_returns_the_tracked_mean_for_every_z():
    G = small_generator().train()
    for _ in range(3):
        G(torch.randn(8, 16))  # training calls move w_avg
    assert float(G.w_avg.abs().sum()) > 0
    G.eval()
    z = torch.randn(10, 16)
    w = G.w_from_z(z, truncation_psi=0.0)
    torch.testing.assert_close(w, G.w_avg.expand(10, -1))
    images = G(z, truncation_psi=0.0, noise_mode="const")
    torch.testing.assert_close(images, images[:1].expand_as(images), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(G(z, noise_mode="const")[0], G(z, noise_mode="const")[1])


def test_w_avg_is_an_exponential_moving_average_of_batch_means_in_training_only():
    G = small_generator(w_avg_beta=0.9).train()
    z1, z2 = torch.randn(6, 16), torch.randn(6, 16)
    G.w_from_z(z1)
    G.w_from_z(z2)
    with torch.no_grad():
        m1, m2 = G.mapping(z1).mean(0), G.mapping(z2).mean(0)
    expected = 0.9 * (0.1 * m1) + 0.1 * m2  # from w_avg = 0
    torch.testing.assert_close(G.w_avg, expected)
    G.eval()
    G.w_from_z(torch.randn(6, 16))
    torch.testing.assert_close(G.w_avg, expected)


def test_truncation_cutoff_leaves_the_fine_blocks_alone():
    G = small_generator().eval()
    G.w_avg.normal_()
    z = torch.randn(3, 16)
    full = G(z, truncation_psi=0.0, truncation_cutoff=G.num_blocks, noise_mode="const")
    none = G(z, truncation_psi=0.0, truncation_cutoff=0, noise_mode="const")
    torch.testing.assert_close(none, G(z, noise_mode="const"))
    assert not torch.allclose(full, none)


# ---- style mixing ---------------------------------------------------------------------------


def test_style_mixing_crossover_at_the_first_block_equals_the_second_image():
    G = small_generator().eval()
    z1, z2 = torch.randn(4, 16), torch.randn(4, 16)
    mixed = G.mix(z1, z2, crossover=0)
    torch.testing.assert_close(mixed, G(z2, noise_mode="const"))
    torch.testing.assert_close(G.mix(z1, z2, crossover=G.num_blocks), G(z1, noise_mode="const"))
    middle = G.mix(z1, z2, crossover=2)
    assert not torch.allclose(middle, G(z1, noise_mode="const"))
    assert not torch.allclose(middle, G(z2, noise_mode="const"))


def test_style_mixing_per_sample_crossover_and_the_block_latents():
    G = small_generator().eval()
    w1, w2 = torch.randn(3, 16), torch.randn(3, 16)
    ws = G.broadcast(w1, w2, crossover=torch.tensor([0, 1, 4]))  # (3, L, W)
    assert ws.shape == (3, G.num_blocks, 16)
    torch.testing.assert_close(ws[0], w2[0].expand(G.num_blocks, -1))
    torch.testing.assert_close(ws[1, 0], w1[1])
    torch.testing.assert_close(ws[1, 1:], w2[1].expand(G.num_blocks - 1, -1))
    torch.testing.assert_close(ws[2], w1[2].expand(G.num_blocks, -1))
    with pytest.raises(ValueError, match="crossover must lie in 0..4"):
        G.broadcast(w1, w2, crossover=5)
    with pytest.raises(ValueError, match="needs a crossover block"):
        G.broadcast(w1, w2)


def test_mixing_regularisation_only_in_training():
    G = small_generator(mixing_prob=1.0).train()
    z = torch.randn(4, 16)
    torch.manual_seed(1)
    a = G(z, noise_mode="const")
    G.eval()
    b = G(z, noise_mode="const")
    assert not torch.allclose(a, b)  # every sample mixed with a fresh z2 in training
    torch.testing.assert_close(G(z, noise_mode="const"), b)


# ---- noise ----------------------------------------------------------------------------------


def test_resampled_noise_changes_the_image_and_fixed_noise_reproduces_it():
    G = with_noise_strength(small_generator().eval()).requires_grad_(False)
    z = torch.randn(2, 16)
    a, b = G(z, noise_mode="random"), G(z, noise_mode="random")
    assert float((a - b).abs().max()) > 1e-3
    torch.testing.assert_close(G(z, noise_mode="const"), G(z, noise_mode="const"), atol=0, rtol=0)
    noise = G.make_noise(2, "random")
    torch.testing.assert_close(G(z, noise=noise), G(z, noise=noise), atol=0, rtol=0)
    # the same z and noise, a different strength: the picture moves only through the noise
    torch.testing.assert_close(G(z, noise_mode="none"), with_noise_strength(G, 0.0)(z, noise_mode="random"))


def test_noise_strength_starts_at_zero_as_in_the_paper():
    G = small_generator().eval()
    z = torch.randn(2, 16)
    torch.testing.assert_close(G(z, noise_mode="random"), G(z, noise_mode="none"))


def test_noise_injection_formula_and_shapes():
    layer = NoiseInjection(3)
    with torch.no_grad():
        layer.strength.copy_(torch.tensor([0.0, 1.0, -2.0]))
    x, n = torch.zeros(1, 3, 2, 2), torch.ones(1, 1, 2, 2)
    torch.testing.assert_close(layer(x, n)[0, :, 0, 0], torch.tensor([0.0, 1.0, -2.0]))
    with pytest.raises(ValueError, match="noise has shape"):
        layer(x, torch.ones(1, 3, 2, 2))
    with pytest.raises(ValueError, match="noise_mode must be one of"):
        small_generator().make_noise(1, "fresh")


# ---- shapes, the discriminator --------------------------------------------------------------


@pytest.mark.parametrize("size, sides", [(28, [4, 7, 14, 28]), (32, [4, 8, 16, 32]), (64, [4, 8, 16, 32, 64]),
                                         (16, [4, 8, 16]), (4, [4])])
def test_resolutions(size, sides):
    assert resolutions(size) == sides


def test_resolutions_rejects_tiny_images():
    with pytest.raises(ValueError, match="at least 4 pixels"):
        resolutions(3)


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3)])
def test_generator_and_discriminator_shapes(size, channels):
    G, D = build_stylegan(z_dim=8, w_dim=8, img_size=size, channels=channels, width=4, max_width=8, mapping_layers=2)
    x = G(torch.randn(8, 8))
    assert x.shape == (8, channels, size, size)
    assert D(x).shape == (8,)
    assert G.widths[-1] == 4 and max(G.widths) == 8
    assert G.z_dim == 8


def test_minibatch_stddev_by_hand():
    x = torch.randn(4, 3, 2, 2)
    out = MinibatchStdDev(group_size=2)(x)  # lecture 04's layer, the one the discriminator uses
    assert out.shape == (4, 4, 2, 2)
    torch.testing.assert_close(out[:, :3], x)
    # groups pair sample i with sample i + 2
    s0 = (x[[0, 2]].var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
    s1 = (x[[1, 3]].var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
    torch.testing.assert_close(out[:, 3, 0, 0], torch.stack([s0, s1, s0, s1]))
    with pytest.raises(ValueError, match="batch of 3 samples does not split into groups of 2"):
        MinibatchStdDev(group_size=2)(x[:3])


def test_discriminator_groups_must_divide_the_batch():
    D = StyleDiscriminator(img_size=28, width=4, max_width=8)  # groups of 4
    assert isinstance(D.mbstd, MinibatchStdDev) and not list(D.mbstd.parameters())
    assert D(torch.randn(8, 1, 28, 28)).shape == (8,) and D(torch.randn(3, 1, 28, 28)).shape == (3,)
    with pytest.raises(ValueError, match="batch of 6 samples does not split into groups of 4"):
        D(torch.randn(6, 1, 28, 28))


def test_discriminator_rejects_the_wrong_size():
    with pytest.raises(ValueError, match=r"x has shape \(2, 1, 32, 32\)"):
        StyleDiscriminator(img_size=28, width=4, max_width=8)(torch.randn(2, 1, 32, 32))


def test_a_few_training_steps_run_and_track_w_avg():
    from gancourse.train import train_gan

    G, D = build_stylegan(z_dim=8, w_dim=8, width=4, max_width=8, mapping_layers=2)
    images = torch.rand(32, 1, 28, 28) * 2 - 1  # (N, C, H, W) in [-1, 1]: any images will do
    history = train_gan(G, D, images, steps=3, batch_size=8, lr_g=2e-3, lr_d=2e-3,
                        betas=(0.0, 0.99), r1_gamma=1.0, progress=False, device="cpu", n_samples=4)
    assert history.steps == 3 and all(math.isfinite(v) for v in history.loss_d + history.penalty)
    assert history.penalty[-1] > 0
    assert float(G.w_avg.abs().sum()) > 0


# ---- interpolation and path length ----------------------------------------------------------


class _LinearG:
    """A stand-in generator with f = identity and a linear synthesis x = A w: path lengths in closed form."""

    def __init__(self, A: torch.Tensor):
        self.A, self.z_dim, self.training = A, A.shape[1], False
        self.w_avg = torch.zeros(A.shape[1])

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def w_from_z(self, z):
        return z

    def broadcast(self, w):
        return w[:, None, :]

    def synthesize(self, ws, noise_mode="random"):
        return (ws[:, 0] @ self.A.T)[:, None, None, :]  # (B, 1, 1, F)


def test_path_length_in_w_of_a_linear_generator_is_its_squared_jacobian_norm():
    A = torch.randn(3, 4)
    G = _LinearG(A)
    got = path_length(G, lambda x: x.flatten(1), space="w", n=200, seed=3, trim=0.0, batch_size=64)
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(200, 4, generator=g), torch.randn(200, 4, generator=g)
    expected = ((z2 - z1) @ A.T).pow(2).sum(1).mean()  # the step is eps * A (w2 - w1): the eps^2 cancels
    assert abs(got - float(expected)) < 1e-2 * float(expected)


def test_path_length_in_z_is_the_squared_angle_for_the_identity():
    G = _LinearG(torch.eye(4))
    got = path_length(G, lambda x: x.flatten(1), space="z", n=200, seed=3, trim=0.0, eps=1e-3)
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(200, 4, generator=g), torch.randn(200, 4, generator=g)
    cos = (z1 * z2).sum(1) / (z1.norm(dim=1) * z2.norm(dim=1))
    expected = torch.acos(cos).pow(2).mean()  # slerp moves at angular speed Omega on the unit sphere
    assert abs(got - float(expected)) < 2e-2 * float(expected)


def test_path_length_trims_and_leaves_w_avg_alone():
    G = small_generator().train()
    before = G.w_avg.clone()
    value = path_length(G, lambda x: x.flatten(1), n=20, seed=0)
    assert value > 0 and G.training
    torch.testing.assert_close(G.w_avg, before)
    with pytest.raises(ValueError, match="space must be 'w' or 'z'"):
        path_length(G, lambda x: x.flatten(1), space="x")


# ---- the truncation trade-off ---------------------------------------------------------------


def test_knn_precision_by_hand():  # the fidelity of the truncation trade-off
    real = torch.tensor([[0.0], [1.0], [3.0]])  # 1st-neighbour radii: 1, 1, 2
    fake = torch.tensor([[0.5], [4.5], [10.0], [-1.0]])  # inside, inside (3 + 2 > 4.5), outside, inside (|-1 - 0| <= 1)
    assert precision_recall(real, fake, k=1).precision == 0.75
    assert precision_recall(real, real, k=1).precision == 1.0
    with pytest.raises(ValueError, match="k=3 needs at least k \\+ 1 = 4 points"):
        precision_recall(real, fake, k=3)


def test_mean_pairwise_distance_by_hand():
    f = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert mean_pairwise_distance(f) == pytest.approx((5 + 5 + 0) * 2 / 6)
    assert mean_pairwise_distance(torch.ones(4, 3)) == 0.0


def test_truncation_tradeoff_has_no_diversity_at_psi_zero():
    G = small_generator().train()
    G(torch.randn(8, 16))  # move w_avg away from 0
    real = torch.randn(30, 784)
    out = truncation_tradeoff(G, lambda x: x.flatten(1), real, psis=(0.0, 1.0), n=12)
    assert out["psi"] == [0.0, 1.0]
    assert out["diversity"][0] == pytest.approx(0.0, abs=1e-4) and out["diversity"][1] > 0.01
    assert all(0.0 <= p <= 1.0 for p in out["precision"])
    assert G.training


# ---- optional: StyleGAN2's modulated convolution --------------------------------------------


def test_modulation_equals_scaling_the_input_channels():
    x, weight, s = torch.randn(3, 4, 6, 6), torch.randn(5, 4, 3, 3), torch.rand(3, 4) + 0.5
    got = modulated_conv2d(x, weight, s, demodulate=False)
    expected = torch.stack([F.conv2d((x[i] * s[i][:, None, None])[None], weight, padding=1)[0] for i in range(3)])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_demodulation_divides_each_output_channel_by_its_weight_norm():
    x, weight, s = torch.randn(2, 4, 5, 5), torch.randn(3, 4, 3, 3), torch.rand(2, 4) + 0.5
    got = modulated_conv2d(x, weight, s, demodulate=True, eps=0.0)
    for i in range(2):
        scaled = weight * s[i][None, :, None, None]  # (C_out, C_in, k, k)
        sigma = scaled.pow(2).sum(dim=(1, 2, 3)).sqrt()  # (C_out,)
        expected = F.conv2d(x[i: i + 1], scaled, padding=1)[0] / sigma[:, None, None]
        torch.testing.assert_close(got[i], expected, atol=1e-5, rtol=1e-5)


def test_demodulated_outputs_have_unit_std_for_unit_variance_inputs():
    torch.manual_seed(0)
    layer = ModulatedConv2d(16, 8, w_dim=4, kernel_size=1)  # 1x1: no border effects, exact expectation
    x, w = torch.randn(2, 16, 64, 64), 3 * torch.randn(2, 4)
    with torch.no_grad():
        std = layer(x, w).std(dim=(2, 3))  # (B, C_out)
        layer.demodulate = False
        raw = layer(x, w).std(dim=(2, 3))
    assert (std - 1).abs().max() < 0.05
    assert (raw - 1).abs().max() > 0.2  # without demodulation the style sets the scale


def test_max_resolution_synthesises_small_and_resizes():
    G, D = build_stylegan(z_dim=8, w_dim=8, img_size=28, width=4, max_width=8, mapping_layers=2, max_resolution=14)
    assert G.sides == [4, 7, 14] and G.num_layers == 6
    G.eval()
    z = torch.randn(3, 8)
    x = G(z, noise_mode="const")
    assert x.shape == (3, 1, 28, 28) and D(x).shape == (3,)
    ws = G.broadcast(G.w_from_z(z))
    small = G.to_image(_last_block_features(G, ws))  # (3, 1, 14, 14)
    torch.testing.assert_close(x, F.interpolate(small, size=(28, 28), mode="bilinear", align_corners=False))
    with pytest.raises(ValueError, match="max_resolution must be an int between 4 and img_size"):
        StyleGenerator(img_size=28, max_resolution=32)


def _last_block_features(G, ws):
    noise = G.make_noise(len(ws), "const")
    x = None
    for i, block in enumerate(G.blocks):
        x = block(x, ws[:, i], noise[2 * i: 2 * i + 2])
    return x


# ---- measuring a trained generator against an untrained one (lecture 08's reference cells) ----


def _brightness_class(x: torch.Tensor) -> torch.Tensor:
    """A stand-in classifier: ten classes by the image's summed intensity (B, C, H, W) -> (B,)."""
    return (x.flatten(1).sum(dim=1) * 100).floor().long() % 10


def test_untrained_like_has_the_same_shape_fresh_weights_and_an_estimated_mean():
    torch.manual_seed(5)
    G = small_generator(max_resolution=14)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)  # "trained": far from any initialisation
    state = torch.random.get_rng_state()
    G0 = untrained_like(G, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # torch's stream did not move
    assert G0.config == G.config and G0.sides == G.sides and not G0.training
    assert all(a.shape == b.shape for a, b in zip(G0.parameters(), G.parameters()))
    assert not torch.equal(next(G0.parameters()), next(G.parameters()))
    assert torch.allclose(G0.w_avg, G0.estimate_w_avg()) and G0.w_avg.abs().sum() > 0
    again = untrained_like(G, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(G0.state_dict().values(), again.state_dict().values()))


def test_style_mixing_readings_at_the_two_ends_of_the_crossover():
    torch.manual_seed(0)
    G = small_generator().eval()
    at_b = style_mixing_readings(G, _brightness_class, n=64, crossover=0)  # every block from z_B: B's image
    at_a = style_mixing_readings(G, _brightness_class, n=64, crossover=G.num_blocks)  # every block from z_A
    assert at_b["pairs"] == at_a["pairs"] > 10
    assert (at_b["coarse"], at_b["fine"]) == (0.0, 1.0) and at_b["fine_change"] == pytest.approx(1.0)
    assert (at_a["coarse"], at_a["fine"]) == (1.0, 0.0) and at_a["fine_change"] == 0.0
    middle = style_mixing_readings(G, _brightness_class, n=64)
    assert middle["crossover"] == G.num_blocks - 1 and 0 < middle["fine_change"] < 1


def test_noise_effect_is_zero_at_initialisation_and_grows_with_the_strength():
    torch.manual_seed(0)
    G = small_generator().eval()
    constant = lambda x: torch.zeros(len(x), dtype=torch.long)  # noqa: E731
    untrained = noise_effect(G, n_latents=4, n_draws=8, classify=constant)
    assert untrained["noise_std"] == 0.0 and untrained["class_flips"] == 0.0 and untrained["latent_std"] > 0
    weak = noise_effect(with_noise_strength(G, 0.05), n_latents=4, n_draws=8)
    strong = noise_effect(with_noise_strength(G, 0.5), n_latents=4, n_draws=8)
    assert 0 < weak["noise_std"] < strong["noise_std"]
    assert weak["ratio"] == pytest.approx(weak["noise_std"] / weak["latent_std"])
    assert noise_effect(G, n_latents=4, n_draws=8) == strong  # seeded: the same draws every call
