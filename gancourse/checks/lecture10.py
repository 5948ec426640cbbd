"""Lecture 10 exercise checkers: PatchGAN's output size and the cycle-consistency loss."""

from __future__ import annotations

import torch

from gancourse.checks._core import checker, fail, assert_close, passed, _run, _scalar, _diagnose


def _size_variant(n: int, layers, padding: bool = True, stride: bool = True, ceil: bool = False) -> int:
    import math

    for k, s, p in layers:
        s_used = s if stride else 1
        num = n + (2 * p if padding else 0) - k
        n = (math.ceil(num / s_used) if ceil else num // s_used) + 1
    return n


@checker
def check_patch_output_size(fn) -> None:
    """Check ``fn(n, layers) -> int``: the side of a PatchGAN's score map for an n x n input. Lecture 10."""
    from gancourse.translation import patch_output_size

    name = "check_patch_output_size"
    pix2pix = [(4, 2, 1)] * 3 + [(4, 1, 1)] * 2
    small = [(4, 2, 1)] * 2 + [(4, 1, 1)] * 2
    cases = [(256, pix2pix), (16, small), (28, small), (32, [(4, 2, 1)] + [(4, 1, 1)] * 2),
             (29, [(3, 2, 0), (5, 2, 2), (4, 1, 1)]), (15, [(3, 1, 0)] * 3)]
    for n, layers in cases:
        got = _run(name, fn, n, list(layers))
        expected = patch_output_size(n, layers)
        if got is None:
            fail(name, "your function returned None; did it forget a `return`?")
        try:
            got = int(got)
        except (TypeError, ValueError):
            fail(name, f"return the side as an int, got {type(got).__name__}.")
        if got == expected:
            continue
        where = f"for n = {n} and layers (kernel, stride, padding) = {layers}"
        if got == _size_variant(n, layers, padding=False):
            fail(name, f"{where}: got {got}, expected {expected}. Each layer pads p pixels on both sides: "
                       "n + 2p - k, not n - k.")
        if got == _size_variant(n, layers, stride=False):
            fail(name, f"{where}: got {got}, expected {expected}. A stride s divides the span: (n + 2p - k) // s + 1.")
        if got == _size_variant(n, layers, ceil=True):
            fail(name, f"{where}: got {got}, expected {expected}. Round down (//): a window that does not fit "
                       "whole is not computed.")
        fail(name, f"{where}: got {got}, expected {expected}. Apply floor((n + 2p - k) / s) + 1 layer after layer.")
    passed(name, "the score map's side matches the reference for pix2pix's 70x70 PatchGAN (256 -> 30) and 5 other stacks.")


@checker
def check_cycle_loss(fn) -> None:
    """Check ``fn(x, x_cycled, y, y_cycled) -> scalar``: CycleGAN's cycle-consistency term. Lecture 10."""
    from gancourse.translation import cycle_consistency_loss

    name = "check_cycle_loss"
    g = torch.Generator().manual_seed(10)
    x, xc = torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g)
    y, yc = torch.randn(4, 1, 8, 8, generator=g) * 0.5, torch.randn(4, 1, 8, 8, generator=g) * 2
    xc.requires_grad_(True)
    got = _scalar(name, _run(name, fn, x, xc, y, yc), "the cycle loss")
    expected = cycle_consistency_loss(x, xc, y, yc)
    mistakes = [
        ((xc - x).pow(2).mean() + (yc - y).pow(2).mean(), "this is the squared (L2) error; CycleGAN uses the L1 "
                                                           "norm, mean |F(G(x)) - x|, which blurs less."),
        ((xc - x).abs().mean(), "only the cycle A -> B -> A is there; add the cycle B -> A -> B, mean |G(F(y)) - y|."),
        ((yc - y).abs().mean(), "only the cycle B -> A -> B is there; add the cycle A -> B -> A, mean |F(G(x)) - x|."),
        ((xc - x).abs().sum() + (yc - y).abs().sum(), "this sums over pixels; take the mean over batch and pixels."),
        (0.5 * ((xc - x).abs().mean() + (yc - y).abs().mean()), "this is the average of the two cycles; the paper "
                                                                "adds them."),
    ]
    _diagnose(name, got, "the cycle loss", mistakes)
    assert_close(name, "the cycle loss", got, expected, atol=1e-5, rtol=1e-5)
    if not got.requires_grad:
        fail(name, "the loss does not carry a gradient to the cycled images; compute it with torch operations.")
    zero = _run(name, fn, x, x.clone(), y, y.clone())
    assert_close(name, "the loss of perfect cycles", zero, torch.tensor(0.0), atol=1e-7)
    passed(name, "L1 in both directions, averaged over pixels, summed over the two cycles.")
