"""DCGAN: shapes at every supported size, the size formulas against torch's layers, the cookbook's structure and init."""

import pytest
import torch
from torch import nn

from gancourse.dcgan import (SIZES, Discriminator, Generator, build_dcgan, conv_out, conv_transpose_out,
                             count_parameters, weights_init)


@pytest.mark.parametrize("img_size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_at_every_size(img_size, channels):
    G, D = build_dcgan(z_dim=10, width=4, channels=channels, img_size=img_size)
    z = torch.randn(5, 10)
    x = G(z)
    assert x.shape == (5, channels, img_size, img_size)
    assert torch.equal(G.eval()(z), G(z[:, :, None, None]))  # (B, Z) and (B, Z, 1, 1) agree
    assert x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (5,)


def test_wrong_shapes_are_explained():
    G = Generator(z_dim=10, ngf=4)
    with pytest.raises(ValueError, match=r"z has shape \(2, 7, 1, 1\).*dim 1 is 7, expected 10"):
        G(torch.randn(2, 7))
    D = Discriminator(ndf=4, img_size=32)
    with pytest.raises(ValueError, match="dim 2 is 28, expected 32"):
        D(torch.randn(2, 1, 28, 28))
    with pytest.raises(ValueError, match="img_size must be one of"):
        Generator(img_size=48)
    with pytest.raises(ValueError, match="norm must be"):
        Discriminator(norm="spectral")


@pytest.mark.parametrize("size,kernel,stride,padding,output_padding",
                         [(1, 4, 1, 0, 0), (4, 4, 2, 1, 0), (8, 4, 2, 1, 0), (16, 4, 2, 1, 0), (1, 3, 1, 0, 0),
                          (3, 3, 2, 0, 0), (7, 4, 2, 1, 0), (7, 3, 2, 1, 1), (5, 5, 3, 2, 2), (6, 2, 2, 0, 1)])
def test_conv_transpose_out_matches_the_layer(size, kernel, stride, padding, output_padding):
    layer = nn.ConvTranspose2d(1, 1, kernel, stride, padding, output_padding=output_padding)
    expected = layer(torch.zeros(1, 1, size, size)).shape[-1]
    assert conv_transpose_out(size, kernel, stride, padding, output_padding) == expected


def test_the_cookbook_chain_1_4_8_16_32():
    sides = [1]
    for k, s, p in [(4, 1, 0), (4, 2, 1), (4, 2, 1), (4, 2, 1)]:
        sides.append(conv_transpose_out(sides[-1], k, s, p))
    assert sides == [1, 4, 8, 16, 32]


@pytest.mark.parametrize("size,kernel,stride,padding", [(28, 4, 2, 1), (14, 4, 2, 1), (7, 3, 2, 0), (3, 3, 1, 0),
                                                        (32, 4, 2, 1), (4, 4, 1, 0), (9, 3, 2, 1), (10, 5, 3, 0)])
def test_conv_out_matches_the_layer(size, kernel, stride, padding):
    layer = nn.Conv2d(1, 1, kernel, stride, padding)
    assert conv_out(size, kernel, stride, padding) == layer(torch.zeros(1, 1, size, size)).shape[-1]


def test_size_formula_rejects_nonsense():
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose_out(4, 4, 2, 1, output_padding=2)
    with pytest.raises(ValueError, match="kernel must be a positive int"):
        conv_transpose_out(4, 0, 2, 1)
    with pytest.raises(ValueError, match="empty output"):
        conv_transpose_out(1, 2, 1, 3)


def _leaves(module):
    return [m for m in module.modules() if not list(m.children())]


@pytest.mark.parametrize("img_size", SIZES)
def test_the_five_guidelines(img_size):
    G, D = build_dcgan(width=8, img_size=img_size)
    g, d = _leaves(G), _leaves(D)
    # no pooling, no fully connected hidden layers
    assert not any(isinstance(m, (nn.Linear, nn.MaxPool2d, nn.AvgPool2d)) for m in g + d)
    # G: transposed convs, BN + ReLU between them, Tanh at the end with no BN before it
    assert isinstance(g[-1], nn.Tanh) and isinstance(g[-2], nn.ConvTranspose2d)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g) == sum(isinstance(m, nn.ConvTranspose2d) for m in g) - 1
    assert all(isinstance(m, (nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU, nn.Tanh)) for m in g)
    # D: the first conv goes straight into LeakyReLU(0.2); every other hidden conv has BN; ends on a conv
    assert isinstance(d[0], nn.Conv2d) and isinstance(d[1], nn.LeakyReLU) and d[1].negative_slope == 0.2
    assert isinstance(d[-1], nn.Conv2d)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d) == sum(isinstance(m, nn.Conv2d) for m in d) - 2
    # strides: every conv of D but the last halves the side
    strides = [m.stride[0] for m in d if isinstance(m, nn.Conv2d)]
    assert strides[:2] == [2, 2] and strides[-1] == 1


def test_parameter_count_by_hand():
    # 32x32, Z=100, width 64, one channel: convs (no bias before BN) + BN (gamma, beta) + output conv with bias
    by_hand = (100 * 256 * 16 + 2 * 256) + (256 * 128 * 16 + 2 * 128) + (128 * 64 * 16 + 2 * 64) + (64 * 1 * 16 + 1)
    assert count_parameters(Generator(z_dim=100, ngf=64, channels=1, img_size=32)) == by_hand == 1_066_881
    by_hand_d = (1 * 64 * 16 + 64) + (64 * 128 * 16 + 2 * 128) + (128 * 256 * 16 + 2 * 256) + (256 * 16 + 1)
    assert count_parameters(Discriminator(ndf=64, channels=1, img_size=32)) == by_hand_d


def test_norm_variants_of_the_discriminator():
    d_layer = Discriminator(ndf=4, norm="layer")
    assert any(isinstance(m, nn.GroupNorm) for m in d_layer.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d_layer.modules())
    x = torch.randn(6, 1, 28, 28)
    # per-sample normalisation: a sample's score does not depend on the rest of the batch (train mode)
    assert torch.allclose(d_layer(x)[:3], d_layer(x[:3]), atol=1e-6)
    d_none = Discriminator(ndf=4, norm="none")
    assert not any(isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)) for m in d_none.modules())


def test_init_statistics():
    torch.manual_seed(0)
    G = Generator(z_dim=100, ngf=64, img_size=64)
    G.apply(weights_init)
    convs = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    gammas = torch.cat([m.weight for m in G.modules() if isinstance(m, nn.BatchNorm2d)])
    betas = torch.cat([m.bias for m in G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert convs.numel() > 3_000_000
    assert abs(convs.mean().item()) < 1e-4 and abs(convs.std().item() - 0.02) < 1e-4
    assert abs(gammas.mean().item() - 1) < 0.003 and abs(gammas.std().item() - 0.02) < 0.003  # 960 values
    assert torch.all(betas == 0)
    out_bias = [m.bias for m in G.modules() if isinstance(m, nn.ConvTranspose2d) and m.bias is not None]
    assert len(out_bias) == 1 and torch.all(out_bias[0] == 0)
