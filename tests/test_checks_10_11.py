"""The lecture 10-11 checkers pass the reference, let a stub's NotImplementedError through, and catch typical mistakes."""

import math

import pytest
import torch

from gancourse import checks
from gancourse.checks import (
    CheckFailed, check_cycle_loss, check_discriminator_too_strong, check_patch_output_size, check_slerp)
from gancourse.latent import slerp
from gancourse.translation import cycle_consistency_loss, patch_output_size

@pytest.fixture(autouse=True)
def _strict_checks():
    """A failing check raises here, so that each mistake can be asserted with pytest.raises."""
    with checks.strict():
        yield



def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check", [check_patch_output_size, check_cycle_loss, check_slerp, check_discriminator_too_strong])
def test_stub_propagates(check):
    with pytest.raises(NotImplementedError):
        check(stub)


# ---- PatchGAN size
def size_no_padding(n, layers):
    for k, s, p in layers:
        n = (n - k) // s + 1
    return n


def size_no_stride(n, layers):
    for k, s, p in layers:
        n = n + 2 * p - k + 1
    return n


def size_one_pad_side(n, layers):
    for k, s, p in layers:
        n = (n + p - k) // s + 1
    return n


def test_patch_size(capsys):
    check_patch_output_size(patch_output_size)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="pads p pixels"):
        check_patch_output_size(size_no_padding)
    with pytest.raises(CheckFailed, match="stride s divides"):
        check_patch_output_size(size_no_stride)
    with pytest.raises(CheckFailed, match="expected"):
        check_patch_output_size(size_one_pad_side)


# ---- cycle loss
def test_cycle_loss():
    check_cycle_loss(cycle_consistency_loss)
    mistakes = {
        "L2": lambda x, xc, y, yc: (xc - x).pow(2).mean() + (yc - y).pow(2).mean(),
        "only the cycle A": lambda x, xc, y, yc: (xc - x).abs().mean(),
        "only the cycle B": lambda x, xc, y, yc: (yc - y).abs().mean(),
        "sums over pixels": lambda x, xc, y, yc: (xc - x).abs().sum() + (yc - y).abs().sum(),
        "average of the two": lambda x, xc, y, yc: ((xc - x).abs().mean() + (yc - y).abs().mean()) / 2,
        "float": lambda x, xc, y, yc: float(((xc - x).abs().mean() + (yc - y).abs().mean()).detach()),
    }
    for hint, fn in mistakes.items():
        with pytest.raises(CheckFailed, match=hint if hint != "float" else "torch scalar"):
            check_cycle_loss(fn)


# ---- slerp
def slerp_lerp(a, b, t):
    return a + t[:, None] * (b - a)


def slerp_raw_angle(a, b, t):
    omega = torch.acos((a * b).sum(1, keepdim=True).clamp(-1, 1))
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def slerp_no_parallel_case(a, b, t):
    cos = (a * b).sum(1, keepdim=True) / (a.norm(dim=1, keepdim=True) * b.norm(dim=1, keepdim=True))
    omega = torch.acos(cos.clamp(-1, 1))
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def slerp_unit_only(a, b, t):
    return slerp(a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True), t)


def test_slerp():
    check_slerp(slerp)
    for fn, hint in [(slerp_lerp, "linear interpolation"), (slerp_raw_angle, "normalise"),
                     (slerp_no_parallel_case, "parallel vectors give nan"), (slerp_unit_only, "themselves")]:
        with pytest.raises(CheckFailed, match=hint):
            check_slerp(fn)


# ---- one rule of diagnose
def _window_means(loss_d, loss_g):
    w = max(1, round(0.3 * len(loss_d)))
    return sum(loss_d[-w:]) / w, sum(loss_g[:w]) / w, sum(loss_g[-w:]) / w


def rule_reference(loss_d, loss_g):
    d_late, g_early, g_late = _window_means(loss_d, loss_g)
    return d_late < 0.15 * 2 * math.log(2) and g_late > g_early


def rule_d_only(loss_d, loss_g):
    return _window_means(loss_d, loss_g)[0] < 0.15 * 2 * math.log(2)


def rule_log2(loss_d, loss_g):
    d_late, g_early, g_late = _window_means(loss_d, loss_g)
    return d_late < 0.15 * math.log(2) and g_late > g_early


def rule_whole_run(loss_d, loss_g):
    d = sum(loss_d) / len(loss_d)
    return d < 0.15 * 2 * math.log(2) and loss_g[-1] > loss_g[0]


def rule_last_vs_max(loss_d, loss_g):
    d_late, _, g_late = _window_means(loss_d, loss_g)
    return d_late < 0.15 * 2 * math.log(2) and loss_g[-1] >= max(loss_g)


def test_diagnose_rule():
    check_discriminator_too_strong(rule_reference)
    for fn, hint in [(rule_d_only, "G is catching up"), (rule_log2, "2 log 2"), (rule_whole_run, "last 30%"),
                     (rule_last_vs_max, "first 30%")]:
        with pytest.raises(CheckFailed, match=hint):
            check_discriminator_too_strong(fn)
