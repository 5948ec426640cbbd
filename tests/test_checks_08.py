"""The lecture 08 checkers pass the reference and catch the mistakes learners make with AdaIN and the mapping network."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gancourse import checks
from gancourse.checks import CheckFailed, check_adain, check_mapping_network, check_pixel_norm
from gancourse.stylegan import adain, pixel_norm

@pytest.fixture(autouse=True)
def _strict_checks():
    """A failing check raises here, so that each mistake can be asserted with pytest.raises."""
    with checks.strict():
        yield



def _adain(dims=(2, 3), unbiased=False, eps_mode="inside", swap=False):
    def fn(x, scale, bias, eps=1e-5):
        if swap:
            scale, bias = bias, scale
        mu = x.mean(dim=dims, keepdim=True)
        var = x.var(dim=dims, unbiased=unbiased, keepdim=True)
        if eps_mode == "inside":
            x_norm = (x - mu) / torch.sqrt(var + eps)
        elif eps_mode == "outside":
            x_norm = (x - mu) / (torch.sqrt(var) + eps)
        elif eps_mode == "fixed":
            x_norm = (x - mu) / torch.sqrt(var + 1e-5)
        else:  # forgotten
            x_norm = (x - mu) / torch.sqrt(var)
        return scale[:, :, None, None] * x_norm + bias[:, :, None, None]

    return fn


def test_check_adain_passes_the_reference(capsys):
    check_adain(adain)
    assert "check_adain passed" in capsys.readouterr().out


def test_check_adain_passes_an_independent_writing():
    def written_with_instance_norm(x, scale, bias, eps=1e-5):
        return scale[..., None, None] * F.instance_norm(x, eps=eps) + bias[..., None, None]

    check_adain(written_with_instance_norm)


@pytest.mark.parametrize("mistake, message", [
    (_adain(dims=(0, 2, 3)), "normalised over the batch"),
    (_adain(dims=(1,)), "normalised over the channels"),
    (_adain(dims=(1, 2, 3)), "channels and positions together"),
    (_adain(dims=(2,)), "over H only"),
    (_adain(eps_mode="forgotten"), "constant channel"),
    (_adain(eps_mode="outside"), "inside the square root"),
    (_adain(eps_mode="fixed"), "Use the eps argument"),
    (_adain(swap=True), "swapped"),
    (_adain(unbiased=True), "unbiased variance"),
    (lambda x, scale, bias, eps=1e-5: None, "return"),
    (lambda x, scale, bias, eps=1e-5: x, "output on random feature maps"),
])
def test_check_adain_catches(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        check_adain(mistake)


def test_check_adain_catches_eps_forgotten_even_without_a_constant_channel():
    def no_eps_but_clamped(x, scale, bias, eps=1e-5):  # survives the constant channel, still lacks eps
        var = x.var(dim=(2, 3), unbiased=False, keepdim=True).clamp_min(1e-12)
        return scale[..., None, None] * (x - x.mean(dim=(2, 3), keepdim=True)) / var.sqrt() + bias[..., None, None]

    with pytest.raises(CheckFailed, match="eps"):
        check_adain(no_eps_but_clamped)


def test_checkers_let_a_stub_through():
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise: write this part yourself")

    for check in (check_adain, check_pixel_norm, check_mapping_network):
        with pytest.raises(NotImplementedError):
            check(stub)


def test_check_pixel_norm(capsys):
    check_pixel_norm(pixel_norm)
    assert "check_pixel_norm passed" in capsys.readouterr().out
    mistakes = {
        "length 1": lambda z: z / z.norm(dim=1, keepdim=True).clamp_min(1e-8),
        "over the batch": lambda z: z * torch.rsqrt(z.pow(2).mean(dim=0, keepdim=True) + 1e-8),
        "add eps": lambda z: z / z.pow(2).mean(dim=1, keepdim=True).sqrt(),
    }
    for message, fn in mistakes.items():
        with pytest.raises(CheckFailed, match=message):
            check_pixel_norm(fn)


def _mapping(norm=True, norm_dim=1, act="lrelu", gain=True, last=True):
    def fn(z, layers):
        h = z * torch.rsqrt(z.pow(2).mean(dim=norm_dim, keepdim=True) + 1e-8) if norm else z
        for k, layer in enumerate(layers):
            h = layer(h)
            if last or k < len(layers) - 1:
                h = F.leaky_relu(h, 0.2) if act == "lrelu" else torch.relu(h)
                h = h * math.sqrt(2) if gain else h
        return h

    return fn


def test_check_mapping_network_passes_the_reference(capsys):
    check_mapping_network(_mapping())
    assert "check_mapping_network passed" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, message", [
    (_mapping(norm=False), "without pixel norm"),
    (_mapping(norm_dim=0), "averages over the batch"),
    (_mapping(act="relu"), "ReLU instead of leaky ReLU"),
    (_mapping(gain=False), "gain sqrt\\(2\\)"),
    (_mapping(last=False), "last layer has no activation"),
    (lambda z, layers: z[:, :6], "w on random latents"),
])
def test_check_mapping_network_catches(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        check_mapping_network(mistake)


def test_check_mapping_network_catches_a_norm_that_is_not_scale_invariant():
    def tanh_squash(z, layers):  # bounded like a norm on these inputs, but not the pixel norm
        return _mapping(norm=False)(torch.tanh(z), layers)

    with pytest.raises(CheckFailed):
        check_mapping_network(tanh_squash)


@pytest.mark.parametrize("mistake", [
    lambda z, eps=1e-8: z / torch.sqrt(z.pow(2).sum(dim=1, keepdim=True) + eps),  # sum, not mean
    lambda z, eps=1e-8: z / (z.abs().mean(dim=1, keepdim=True) + eps),  # mean of |z|
    lambda z, eps=1e-8: z / torch.sqrt(z.var(dim=1, keepdim=True) + eps),  # the variance (centred)
    lambda z, eps=1e-8: z * torch.sqrt(z.pow(2).mean(dim=1, keepdim=True) + eps),  # multiplied
], ids=["sum", "mean abs", "variance", "multiplied"])
def test_check_pixel_norm_more_mistakes(mistake):
    with pytest.raises(CheckFailed):
        check_pixel_norm(mistake)
