"""Lecture 08 exercise checkers: AdaIN, pixel norm and the mapping network of StyleGAN."""

from __future__ import annotations

import torch

from gancourse.checks._core import checker, fail, assert_close, passed, _run, _diagnose, _tensor


def _adain_variant(x, scale, bias, eps, dims=(2, 3), unbiased=False, eps_inside=True):
    mu = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=unbiased, keepdim=True)
    x_norm = (x - mu) / (torch.sqrt(var + eps) if eps_inside else torch.sqrt(var) + eps)
    return scale[:, :, None, None] * x_norm + bias[:, :, None, None]


@checker
def check_adain(fn) -> None:
    r"""Check ``fn(x, scale, bias, eps=1e-5)`` against :func:`gancourse.stylegan.adain`.

    .. math:: \operatorname{AdaIN}(x_i, y) = y_{s,i}\,(x_i - \mu(x_i)) / \sqrt{\sigma^2(x_i) + \epsilon} + y_{b,i}

    with :math:`\mu, \sigma^2` per sample and channel over H x W (the biased variance). Catches
    statistics over the batch, over the channels or over one spatial axis only, the unbiased
    variance, a missing or misplaced :math:`\epsilon`, an ignored ``eps`` argument, and scale and
    bias swapped. Lecture 08 exercise.
    """
    from gancourse.stylegan import adain as reference

    name = "check_adain"
    g = torch.Generator().manual_seed(8)
    b, c, h, w = 3, 4, 5, 6  # H != W, so that one spatial axis alone is caught
    x = torch.randn(b, c, h, w, generator=g) * (1 + torch.rand(b, c, 1, 1, generator=g) * 2) \
        + torch.randn(b, c, 1, 1, generator=g)  # (B, C, H, W), each channel its own mean and std
    scale = torch.rand(b, c, generator=g) + 0.5
    bias = torch.randn(b, c, generator=g)
    got = _tensor(name, _run(name, fn, x.clone(), scale, bias), (b, c, h, w), "output for x of shape (3, 4, 5, 6)")
    expected = reference(x, scale, bias)
    _diagnose(name, got, "on random feature maps", [
        (_adain_variant(x, bias, scale, 1e-5),
         "scale and bias are swapped: the style's scale y_s multiplies the normalised map, its bias y_b is added."),
        (_adain_variant(x, scale, bias, 1e-5, dims=(0, 2, 3)),
         "you normalised over the batch (dims 0, 2, 3, like batch norm). AdaIN is an instance norm: the mean "
         "and std of each sample's own channel, over its H x W positions (dims 2, 3, keepdim=True)."),
        (_adain_variant(x, scale, bias, 1e-5, dims=(1,)),
         "you normalised over the channels (dim 1). AdaIN takes the statistics of each channel over its spatial "
         "positions (dims 2, 3), then gives that channel the style's mean and std."),
        (_adain_variant(x, scale, bias, 1e-5, dims=(1, 2, 3)),
         "you normalised over channels and positions together (a layer norm). AdaIN needs one mean and one std "
         "per channel: reduce over dims (2, 3) only."),
        (_adain_variant(x, scale, bias, 1e-5, dims=(2,)),
         "you reduced over H only; the statistics are over all H x W positions: dims (2, 3)."),
        (_adain_variant(x, scale, bias, 1e-5, dims=(3,)),
         "you reduced over W only; the statistics are over all H x W positions: dims (2, 3)."),
        (_adain_variant(x, scale, bias, 1e-5, unbiased=True),
         "you used the unbiased variance (divided by HW - 1); instance norm uses the biased one: "
         "x.var(dim=(2, 3), unbiased=False, keepdim=True)."),
    ])
    assert_close(name, "output on random feature maps", got, expected, atol=1e-5, rtol=1e-4,
                 hint="The output's channel i should have mean bias[:, i] and std scale[:, i].")

    # A nearly constant channel and an exactly constant one: here eps decides the answer.
    x2 = x.clone()
    x2[:, 0] = 1e-3 * torch.randn(b, h, w, generator=g) + 2.0  # variance about 1e-6, well below eps
    x2[:, 1] = 3.0  # variance 0
    got = _tensor(name, _run(name, fn, x2.clone(), scale, bias), (b, c, h, w), "output")
    expected = reference(x2, scale, bias)
    if not torch.isfinite(got).all():
        fail(name, "a constant channel (variance 0) gave inf or nan: add eps to the variance before the square "
                   "root, (x - mu) / sqrt(var + eps).")
    _diagnose(name, got, "on a channel whose variance (1e-6) is below eps", [
        (_adain_variant(x2, scale, bias, 1e-5, eps_inside=False),
         "eps is added to the std; it belongs inside the square root: (x - mu) / sqrt(var + eps)."),
        (_adain_variant(x2, scale, bias, 0.0),
         "eps seems to be missing: with a variance of 1e-6, sqrt(var + eps) is about three times sqrt(var)."),
    ])
    assert_close(name, "output where one channel is nearly constant and one exactly constant", got, expected,
                 atol=1e-4, rtol=1e-4, hint="Compute (x - mu) / sqrt(var + eps) with the biased variance.")

    got = _tensor(name, _run(name, fn, x.clone(), scale, bias, 0.5), (b, c, h, w), "output with eps=0.5")
    assert_close(name, "output with eps=0.5", got, reference(x, scale, bias, eps=0.5), atol=1e-5, rtol=1e-4,
                 hint="Use the eps argument, not a number written into the function.")
    passed(name, "each sample's channels get mean y_b and std y_s, statistics over H x W, eps inside the root.")


@checker
def check_pixel_norm(fn) -> None:
    r"""Check ``fn(z)`` against :func:`gancourse.stylegan.pixel_norm`: :math:`z / \sqrt{\frac1Z\sum_j z_j^2 + \epsilon}`.

    Catches a norm over the batch, a unit length instead of a unit root-mean-square, and a missing
    :math:`\epsilon` (a zero vector must stay finite). Lecture 08 exercise.
    """
    from gancourse.stylegan import pixel_norm as reference

    name = "check_pixel_norm"
    g = torch.Generator().manual_seed(8)
    z = torch.randn(6, 10, generator=g) * torch.tensor([0.1, 1, 2, 5, 1, 3])[:, None]  # (B, Z), various lengths
    got = _tensor(name, _run(name, fn, z.clone()), (6, 10), "output for z of shape (6, 10)")
    _diagnose(name, got, "on random latents", [
        (z / z.norm(dim=1, keepdim=True),
         "each row has length 1; pixel norm gives unit root-mean-square (length sqrt(Z)): divide by "
         "sqrt(mean of squares), z.pow(2).mean(dim=1, keepdim=True), not by the norm."),
        (z * torch.rsqrt(z.pow(2).mean(dim=0, keepdim=True) + 1e-8),
         "you averaged over the batch (dim 0); pixel norm scales each latent vector by its own size: dim=1."),
        (z, "the output equals the input: divide each z by sqrt(mean(z**2) + eps)."),
    ])
    assert_close(name, "output on random latents", got, reference(z), atol=1e-5, rtol=1e-5,
                 hint="z / sqrt(mean over dim 1 of z**2, keepdim=True, + eps).")
    zero = torch.zeros(2, 10)
    got = _tensor(name, _run(name, fn, zero), (2, 10), "output for z = 0")
    if not torch.isfinite(got).all():
        fail(name, "a zero latent gave nan: add eps (1e-8) under the square root.")
    assert_close(name, "output for z = 0", got, zero)
    passed(name, "every latent scaled to unit root-mean-square, per sample, finite at z = 0.")


@checker
def check_mapping_network(fn) -> None:
    r"""Check ``fn(z, layers)`` against :class:`gancourse.stylegan.MappingNetwork`.

    .. math:: h_0 = \operatorname{pixelnorm}(z), \quad h_{k+1} = \sqrt 2\,\operatorname{lrelu}_{0.2}(\text{layers}[k](h_k)),
              \quad w = h_n

    ``layers`` is the reference's ``nn.ModuleList`` of linear layers. Catches a missing pixel norm
    of z (w must not change when z is scaled), a pixel norm over the batch, ReLU instead of leaky
    ReLU, a missing gain :math:`\sqrt 2`, and no activation after the last layer. Lecture 08 exercise.
    """
    from gancourse.stylegan import MappingNetwork, lrelu, pixel_norm

    name = "check_mapping_network"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(8)
        f = MappingNetwork(z_dim=8, w_dim=6, n_layers=4, hidden_dim=10, lr_mul=1.0)
        with torch.no_grad():
            for layer in f.layers:
                layer.bias.normal_(0, 0.5)  # non-zero biases, so that every step shows
    g = torch.Generator().manual_seed(80)
    z = torch.randn(5, 8, generator=g) * torch.tensor([0.2, 1, 3, 1, 2])[:, None]  # (B, Z), various lengths
    with torch.no_grad():
        expected = f(z)
        got = _tensor(name, _run(name, fn, z.clone(), f.layers), (5, 6), "w for z of shape (5, 8)")

        def variant(norm=pixel_norm, act=lrelu, last=True):
            h = norm(z)
            for k, layer in enumerate(f.layers):
                h = layer(h)
                if last or k < len(f.layers) - 1:
                    h = act(h)
            return h

        _diagnose(name, got, "w on random latents", [
            (variant(norm=lambda v: v),
             "z goes into the first layer without pixel norm: normalise it first, z / sqrt(mean(z**2, dim=1) + eps), "
             "so that only its direction matters."),
            (variant(norm=lambda v: v * torch.rsqrt(v.pow(2).mean(dim=0, keepdim=True) + 1e-8)),
             "the pixel norm averages over the batch; it normalises each latent by itself (dim=1)."),
            (variant(norm=lambda v: v / v.norm(dim=1, keepdim=True)),
             "z is scaled to length 1; pixel norm gives unit root-mean-square (length sqrt(Z))."),
            (variant(act=lambda v: torch.relu(v) * 2**0.5),
             "ReLU instead of leaky ReLU: use F.leaky_relu(h, 0.2) * sqrt(2)."),
            (variant(act=lambda v: torch.nn.functional.leaky_relu(v, 0.2)),
             "the gain sqrt(2) after each leaky ReLU is missing (it keeps the activations' variance near 1)."),
            (variant(last=False),
             "the last layer has no activation; in StyleGAN every layer of the mapping network, the last one too, "
             "is followed by sqrt(2) * leaky ReLU."),
        ])
        assert_close(name, "w on random latents", got, expected, atol=1e-5, rtol=1e-4,
                     hint="pixel norm, then for each layer: h = sqrt(2) * leaky_relu(layer(h), 0.2).")
        scaled = _tensor(name, _run(name, fn, 7.0 * z, f.layers), (5, 6), "w for 7 z")
        assert_close(name, "w for 7 z (pixel norm makes the length of z irrelevant)", scaled, expected,
                     atol=1e-5, rtol=1e-4)
    passed(name, "pixel norm of z, then sqrt(2) * leaky ReLU(0.2) after each of the 4 layers; w ignores |z|.")
