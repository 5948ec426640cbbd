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


# --------------------------------------------------------------------------------------------
# CycleGAN's generator step (exercise 10, section 3)
# --------------------------------------------------------------------------------------------

from gancourse import checks as _checks  # noqa: E402
from gancourse.losses import g_loss_least_squares  # noqa: E402


def _gstep(*, lam=True, zero_grad=True, swap_d=False, wrong_cycle=False, detach_fakes=False, target=1.0,
           no_cycle=False, swap_out=False, keep_graph=False, as_tensor=False, cyc=cycle_consistency_loss):
    def step(G, F, D_A, D_B, opt_g, a, b, lam_cycle):
        fake_b, fake_a = G(a), F(b)
        fb, fa = (fake_b.detach(), fake_a.detach()) if detach_fakes else (fake_b, fake_a)
        d_b, d_a = (D_A, D_B) if swap_d else (D_B, D_A)
        adv = 0.5 * ((d_b(fb) - target) ** 2).mean() + 0.5 * ((d_a(fa) - target) ** 2).mean()
        c = cyc(a, G(fake_b), b, F(fake_a)) if wrong_cycle else cyc(a, F(fake_b), b, G(fake_a))
        loss = adv + (0 if no_cycle else (lam_cycle if lam else 1.0) * c)
        if zero_grad:
            opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        fa_out, fb_out = (fake_a, fake_b) if keep_graph else (fake_a.detach(), fake_b.detach())
        out_loss = loss.detach() if as_tensor else loss.item()
        return (out_loss, fb_out, fa_out) if swap_out else (out_loss, fa_out, fb_out)

    return step


def _gstep_rewrite(G, F, D_A, D_B, opt_g, a, b, lam_cycle):
    """A correct rewrite: the package's LSGAN loss, each cycle's L1 by hand, set_to_none."""
    fake_b, fake_a = G(a), F(b)
    loss = g_loss_least_squares(D_B(fake_b)) + g_loss_least_squares(D_A(fake_a))
    loss = loss + lam_cycle * (torch.mean(torch.abs(F(fake_b) - a)) + torch.mean(torch.abs(G(fake_a) - b)))
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    return float(loss), fake_a.detach(), fake_b.detach()


def _gstep_rewrite_2(G, F, D_A, D_B, opt_g, a, b, lam_cycle):
    """A correct rewrite: F.l1_loss, mse against ones, fakes returned as clones made under no_grad."""
    import torch.nn.functional as nnf

    fake_b = G(a)
    fake_a = F(b)
    s_b, s_a = D_B(fake_b), D_A(fake_a)
    adv = 0.5 * nnf.mse_loss(s_b, torch.ones_like(s_b)) + 0.5 * nnf.mse_loss(s_a, torch.ones_like(s_a))
    cycle = nnf.l1_loss(F(fake_b), a) + nnf.l1_loss(G(fake_a), b)
    opt_g.zero_grad()
    (adv + lam_cycle * cycle).backward()
    opt_g.step()
    with torch.no_grad():
        return (adv + lam_cycle * cycle).item(), fake_a.clone(), fake_b.clone()


@pytest.mark.parametrize("seed", range(5))
def test_cyclegan_step_passes_the_solution_and_rewrites_over_seeds(seed, monkeypatch, capsys):
    from gancourse.checks import _core
    from gancourse.config import seed_everything

    monkeypatch.setattr(_core, "BASE_SEED", seed)
    seed_everything(seed)
    for fn in (_gstep(), _gstep_rewrite, _gstep_rewrite_2):
        _checks.check_cyclegan_generator_step(fn)
    assert capsys.readouterr().out.count("check_cyclegan_generator_step passed") == 3


@pytest.mark.parametrize("mistake, message", [
    (_gstep(lam=False), "not weighted"),
    (_gstep(no_cycle=True), "cycle-consistency term is missing"),
    (_gstep(wrong_cycle=True), "wrong way"),
    (_gstep(swap_d=True), "critics are swapped"),
    (_gstep(detach_fakes=True), "no adversarial gradient"),
    (_gstep(target=0.0), "target is 0"),
    (_gstep(zero_grad=False), "zero_grad"),
    (_gstep(swap_out=True), "swapped"),
    (_gstep(keep_graph=True), "still carries the graph"),
    (_gstep(as_tensor=True), "as a float"),
    (_gstep(cyc=lambda x, xc, y, yc: ((xc - x) ** 2).mean() + ((yc - y) ** 2).mean()), "differs"),
])
def test_cyclegan_step_catches(mistake, message):
    with pytest.raises(AssertionError, match=message):
        _checks.check_cyclegan_generator_step(mistake)


# --------------------------------------------------------------------------------------------
# The capstone's one change (exercise 11, section 3)
# --------------------------------------------------------------------------------------------


def _remedy_solution(failure, settings):
    new = dict(settings)
    if failure == "discriminator_too_strong":
        new["lr_d"] = settings["lr_g"]
    elif failure == "saturation":
        new["loss"] = "nonsaturating"
    elif failure == "instability":
        new["lr_g"], new["lr_d"] = settings["lr_g"] / 10, settings["lr_d"] / 10
    elif failure == "collapse":
        new["lr_g"] = settings["lr_d"]
    return new


def _remedy_rewrite(failure, settings):
    """A correct rewrite: a table of updates, G sped up for a strong D, rates set to 1e-4 per step."""
    import copy

    table = {
        "discriminator_too_strong": lambda s: {"lr_g": s["lr_d"] / 2},
        "saturation": lambda s: {"loss": "nonsaturating"},
        "instability": lambda s: {"lr_g": min(1e-4, s["lr_g"] / 10), "lr_d": min(1e-4, s["lr_d"] / 10)},
        "collapse": lambda s: {"lr_g": s["lr_d"] / 4},
    }
    new = copy.deepcopy(settings)
    new.update(table.get(failure, lambda s: {})(settings))
    return new


def _remedy_rewrite_2(failure, settings):
    """A correct rewrite: a dict comprehension per case."""
    if failure == "discriminator_too_strong":
        return {k: (v / 30 if k == "lr_d" else v) for k, v in settings.items()}
    if failure == "saturation":
        return {**settings, "loss": "nonsaturating"}
    if failure == "instability":
        return {k: (v * 0.05 if k.startswith("lr_") else v) for k, v in settings.items()}
    if failure == "collapse":
        return {**settings, "lr_g": settings["lr_d"]}
    return settings.copy()


def _remedy_mutating(failure, settings):
    settings.update(_remedy_solution(failure, settings))
    return settings


def _remedy_with(**overrides):
    def fn(failure, settings):
        if failure in overrides:
            return overrides[failure](dict(settings))
        return _remedy_solution(failure, settings)

    return fn


@pytest.mark.parametrize("seed", range(5))
def test_remedy_passes_the_solution_and_rewrites_over_seeds(seed, monkeypatch, capsys):
    from gancourse.checks import _core

    monkeypatch.setattr(_core, "BASE_SEED", seed)
    for fn in (_remedy_solution, _remedy_rewrite, _remedy_rewrite_2):
        _checks.check_remedy(fn)
    assert capsys.readouterr().out.count("check_remedy passed") == 3


@pytest.mark.parametrize("mistake, message", [
    (_remedy_mutating, "changed the settings it was given"),
    (_remedy_with(discriminator_too_strong=lambda s: {**s, "lr_d": s["lr_d"] / 2}), "still"),
    (_remedy_with(discriminator_too_strong=lambda s: {**s, "n_critic": 1}), "change one setting, a learning rate"),
    (_remedy_with(discriminator_too_strong=lambda s: {**s, "lr_d": s["lr_g"], "n_critic": 1}), "change one setting"),
    (_remedy_with(discriminator_too_strong=lambda s: {**s, "lr_d": 0}), "became a int"),
    (_remedy_with(saturation=lambda s: {**s, "loss": "non-saturating"}), "spelled"),
    (_remedy_with(saturation=lambda s: {**s, "loss": "nonsaturating", "lr_d": s["lr_g"]}), "you changed"),
    (_remedy_with(instability=lambda s: {**s, "lr_g": s["lr_g"] / 10}), "both players"),
    (_remedy_with(instability=lambda s: {**s, "lr_g": s["lr_g"] / 2, "lr_d": s["lr_d"] / 2}), "at most a tenth"),
    (_remedy_with(instability=lambda s: {**s, "lr_g": 0.0, "lr_d": 0.0}), "above zero"),
    (_remedy_with(collapse=lambda s: {**s, "lr_d": s["lr_g"]}), "lower lr_g"),
    (_remedy_with(healthy=lambda s: None), "returned None"),
    (_remedy_with(healthy=lambda s: {**s, "lr_g": s["lr_g"] / 2}), "needs no change"),
    (lambda f, s: s, "new dict"),
])
def test_remedy_catches(mistake, message):
    with pytest.raises(AssertionError, match=message):
        _checks.check_remedy(mistake)


# --------------------------------------------------------------------------------------------
# More plausible mistakes for the earlier functions of exercises 10 and 11 (each run as its check cell runs it)
# --------------------------------------------------------------------------------------------


def _size_ceil(n, layers):
    for k, s, p in layers:
        n = math.ceil((n + 2 * p - k) / s) + 1
    return n


def _size_float(n, layers):
    for k, s, p in layers:
        n = (n + 2 * p - k) / s + 1
    return n


def _size_first_layer_only(n, layers):
    k, s, p = layers[0]
    return (n + 2 * p - k) // s + 1


def _size_off_by_one(n, layers):
    for k, s, p in layers:
        n = (n + 2 * p - k) // s
    return n


@pytest.mark.parametrize("mistake", [_size_ceil, _size_float, _size_first_layer_only, _size_off_by_one],
                         ids=["ceil", "float", "first layer only", "no +1"])
def test_patch_size_more_mistakes(mistake):
    with pytest.raises(CheckFailed):
        check_patch_output_size(mistake)


@pytest.mark.parametrize("mistake", [
    lambda x, xc, y, yc: (xc.detach() - x).abs().mean() + (yc - y).abs().mean(),  # one cycle detached
    lambda x, xc, y, yc: (xc - x).abs().mean() + (yc.detach() - y).abs().mean(),  # the other
    lambda x, xc, y, yc: ((xc - x).abs().mean() + (yc - y).abs().mean()) * 10,  # lambda folded in
    lambda x, xc, y, yc: (xc - x).mean().abs() + (yc - y).mean().abs(),  # abs after the mean
], ids=["x detached", "y detached", "times lambda", "abs of the mean"])
def test_cycle_loss_more_mistakes(mistake):
    with pytest.raises(CheckFailed):
        check_cycle_loss(mistake)


def _slerp_no_clamp(a, b, t):
    t = t[:, None]
    cos = (a * b).sum(1, keepdim=True) / (a.norm(dim=1, keepdim=True) * b.norm(dim=1, keepdim=True))
    omega = torch.acos(cos)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def _slerp_swapped_t(a, b, t):
    return slerp(a, b, 1 - t)


def _slerp_t_unsqueezed_wrong(a, b, t):
    return slerp(a, b, t.mean().expand_as(t))


@pytest.mark.parametrize("mistake", [_slerp_no_clamp, _slerp_swapped_t, _slerp_t_unsqueezed_wrong],
                         ids=["no clamp", "t reversed", "one t for the batch"])
def test_slerp_more_mistakes(mistake):
    with pytest.raises(CheckFailed):
        check_slerp(mistake)


def _rule(*, frac=0.3, d_frac=0.15, use_int=False, strict_g=False):
    def rule(loss_d, loss_g):
        w = max(1, int(frac * len(loss_d)) if use_int else round(frac * len(loss_d)))
        d_late = sum(loss_d[-w:]) / w
        g_early, g_late = sum(loss_g[:w]) / w, sum(loss_g[-w:]) / w
        return d_late < d_frac * 2 * math.log(2) and (g_late >= g_early if strict_g else g_late > g_early)

    return rule


@pytest.mark.parametrize("mistake", [_rule(frac=0.25), _rule(d_frac=0.3), _rule(use_int=True)],
                         ids=["25% windows", "0.3 threshold", "int() for round()"])
def test_diagnose_rule_more_mistakes(mistake):
    with pytest.raises(CheckFailed):
        check_discriminator_too_strong(mistake)
