"""Lecture 11 exercise checkers: spherical interpolation and one rule of the training doctor."""

from __future__ import annotations

import numpy as np
import torch

from gancourse.checks._core import checker, fail, assert_close, passed, _run, _diagnose, _tensor


@checker
def check_slerp(fn) -> None:
    """Check ``fn(a, b, t)``: spherical interpolation of rows a, b (B, Z) at fractions t (B,). Lecture 11."""
    from gancourse.latent import lerp, slerp

    name = "check_slerp"
    g = torch.Generator().manual_seed(11)
    a, b = torch.randn(6, 5, generator=g) * 3, torch.randn(6, 5, generator=g) * 0.5
    t = torch.tensor([0.0, 0.1, 0.3, 0.5, 0.8, 1.0])
    got = _tensor(name, _run(name, fn, a, b, t), (6, 5), "slerp of 6 pairs")
    expected = slerp(a, b, t)
    a_hat, b_hat = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega_raw = torch.acos((a * b).sum(1, keepdim=True).clamp(-1, 1))
    tt = t[:, None]
    mistakes = [
        (lerp(a, b, t), "this is linear interpolation; slerp weights a and b by sin((1 - t) W) / sin W and "
                        "sin(t W) / sin W, with W the angle between them."),
        ((torch.sin((1 - tt) * omega_raw) * a + torch.sin(tt * omega_raw) * b) / torch.sin(omega_raw),
         "the angle came from the raw vectors; cos W = a.b / (|a| |b|): normalise before taking acos."),
        (slerp(a_hat, b_hat, t), "this interpolates the normalised vectors; the weights multiply a and b "
                                 "themselves, so that the lengths are interpolated too."),
    ]
    _diagnose(name, got, "slerp of 6 pairs", mistakes)
    if not torch.isfinite(got).all():
        fail(name, "got non-finite values: take the angle from the normalised vectors, cos W = a.b / (|a| |b|), "
                   "clamped to [-1, 1] before acos.")
    assert_close(name, "slerp of 6 pairs", got, expected, atol=1e-5, rtol=1e-5)
    # nearly parallel: sin W is 0 (or almost): the limit is linear interpolation
    a2 = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    b2 = a2 * 2 + torch.tensor([[1e-7, 0.0, 0.0], [0.0, 0.0, 0.0]])
    t2 = torch.tensor([0.25, 0.5])
    got2 = _tensor(name, _run(name, fn, a2, b2, t2), (2, 3), "slerp of parallel pairs")
    if not torch.isfinite(got2).all():
        fail(name, "parallel vectors give nan: sin W = 0 there. When sin W is tiny (say < 1e-4), fall back to "
                   "linear interpolation, slerp's limit.")
    assert_close(name, "slerp of parallel pairs", got2, lerp(a2, b2, t2), atol=1e-4, rtol=1e-4)
    passed(name, "matches the reference on 6 random pairs, at t = 0 and 1, and on parallel pairs (no nan).")


def _too_strong_reference(loss_d, loss_g) -> bool:
    import math

    n = len(loss_d)
    w = max(1, round(0.3 * n))
    d_late = sum(loss_d[-w:]) / w
    g_early, g_late = sum(loss_g[:w]) / w, sum(loss_g[-w:]) / w
    return d_late < 0.15 * 2 * math.log(2) and g_late > g_early


@checker
def check_discriminator_too_strong(fn) -> None:
    """Check ``fn(loss_d, loss_g) -> bool``: the rule "discriminator too strong" of the training doctor. Lecture 11."""
    import math

    name = "check_discriminator_too_strong"
    n = 100
    eq = 2 * math.log(2)
    rise = [0.7 + 0.05 * i for i in range(n)]
    fall = [5.0 - 0.04 * i for i in range(n)]
    cases = [
        ("D wins, G's loss rises", [1.4 * (1 - i / n) ** 4 for i in range(n)], rise, True,
         "judge D's loss over the last 30% of the steps (where it is near 0), and compare G's mean there with its "
         "mean over the first 30%."),
        ("a healthy game at D = 1/2", [eq] * n, [0.69] * n, False, "a D loss at 2 log 2 is the equilibrium, not a win."),
        ("D's loss low but G's loss falling", [0.05] * n, fall, False,
         "G is catching up (its loss falls): the rule also asks that G's loss rises."),
        ("D's loss at 0.15, G's loss rising", [0.15] * n, rise, True,
         "the equilibrium of D's cross-entropy is 2 log 2 = 1.386, not log 2: 0.15 is below 0.15 x 1.386 = 0.208."),
        ("D won early, then the game recovered", [0.01] * 50 + [eq] * 50, rise, False,
         "judge D's loss over the last 30% of the steps, not over the whole run."),
        ("D wins late; G's loss rose then fell back a little", [eq] * 60 + [0.01] * 40, rise[:70] + rise[70:][::-1], True,
         "compare G's mean over the last 30% of steps with its mean over the first 30%."),
    ]
    for what, d, g_, expected, hint in cases:
        assert _too_strong_reference(d, g_) == expected, what  # the cases are consistent with the reference
        got = _run(name, fn, list(d), list(g_))
        if not isinstance(got, (bool, np.bool_)) and not (isinstance(got, torch.Tensor) and got.numel() == 1):
            fail(name, f"return True or False, got {type(got).__name__}.")
        if bool(got) != expected:
            fail(name, f"{what}: got {bool(got)}, expected {expected}. {hint}".strip())
    passed(name, "names a too-strong D on 3 runs and leaves 3 others (healthy, G catching up, recovered) alone.")
