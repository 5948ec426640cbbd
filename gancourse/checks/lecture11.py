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
    # irregular lengths, where the window's size decides: 45 steps give w = round(13.5) = 14 (int() would give
    # 13), 25 steps give w = 8; and a late D between 0.15 and 0.3 of the equilibrium
    m = 45
    d45 = [eq] * (m - 14) + [2.0] + [0.1] * 13  # the 14th step from the end lifts the late mean above 0.208
    cases += [
        ("45 steps, D's loss low only over its last 13", d45, [0.7 + 0.05 * i for i in range(m)], False,
         "w = max(1, round(0.3 * 45)) = 14 steps: round, not int() (which truncates to 13)."),
        ("25 steps, D wins over the last 8", [eq] * 17 + [0.05] * 8, [0.7 + 0.1 * i for i in range(25)], True,
         "the window is the last round(0.3 * 25) = 8 steps."),
        ("37 steps, D's loss low over the last 9 only", [eq] * 26 + [1.5, 1.5] + [0.01] * 9,
         [0.7 + 0.1 * i for i in range(37)], False, "the window is 30% of the run (11 of 37 steps), not 25%."),
        ("D's loss at 0.3, G's loss rising", [0.3] * n, rise, False,
         "0.3 is above 0.15 x 2 log 2 = 0.208: D is strong but not past the rule's threshold."),
    ]
    for what, d, g_, expected, hint in cases:
        assert _too_strong_reference(d, g_) == expected, what  # the cases are consistent with the reference
        got = _run(name, fn, list(d), list(g_))
        if not isinstance(got, (bool, np.bool_)) and not (isinstance(got, torch.Tensor) and got.numel() == 1):
            fail(name, f"return True or False, got {type(got).__name__}.")
        if bool(got) != expected:
            fail(name, f"{what}: got {bool(got)}, expected {expected}. {hint}".strip())
    passed(name, "names a too-strong D on 4 runs and leaves 6 others alone, on runs of 100, 45, 37 and 25 steps.")


_REMEDY_CASES = (
    ("discriminator_too_strong", dict(loss="nonsaturating", lr_g=1e-4, lr_d=3e-3, n_critic=2, steps=250)),
    ("discriminator_too_strong", dict(loss="nonsaturating", lr_g=3e-4, lr_d=5e-3, n_critic=1, steps=300)),
    ("saturation", dict(loss="saturating", lr_g=1e-4, lr_d=3e-3, n_critic=2, steps=250)),
    ("saturation", dict(loss="saturating", lr_g=2e-4, lr_d=2e-4, n_critic=1, steps=120)),
    ("instability", dict(loss="nonsaturating", lr_g=0.05, lr_d=0.05, n_critic=1, steps=300)),
    ("instability", dict(loss="nonsaturating", lr_g=0.02, lr_d=0.07, n_critic=1, steps=200)),
    ("collapse", dict(loss="nonsaturating", lr_g=2e-3, lr_d=2e-4, n_critic=1, steps=400)),
    ("healthy", dict(loss="nonsaturating", lr_g=1e-3, lr_d=1e-3, n_critic=1, steps=400)),
)


@checker
def check_remedy(fn) -> None:
    """Check ``fn(failure, settings) -> new settings``: the one change that treats each failure diagnose names.

    For ``discriminator_too_strong``: only D's or G's learning rate changes, so that lr_d is at most 3
    times lr_g; ``saturation``: only ``loss`` becomes ``"nonsaturating"``; ``instability``: only the
    two learning rates, each to at most a tenth (and above zero); ``collapse``: only lr_g, down to at
    most lr_d; ``healthy``: nothing. Always a new dict, the caller's left as it was, every value of the
    type it had. Tried on two settings per failure, irregular values included. Lecture 11 exercise.
    """
    import copy

    name = "check_remedy"
    for failure, settings in _REMEDY_CASES:
        given = copy.deepcopy(settings)
        new = _run(name, fn, failure, given)
        where = f"for {failure!r}"
        if given != settings:
            changed = sorted(k for k in settings if given.get(k) != settings[k])
            fail(name, f"{where}: your function changed the settings it was given ({', '.join(changed)}); copy them "
                       "first (new = dict(settings)) and change the copy, so the failing run's record stays true.")
        if new is None:
            fail(name, f"{where}: your function returned None; return the new settings (a dict), also when nothing "
                       "changes.")
        if not isinstance(new, dict):
            fail(name, f"{where}: return a dict of settings, got a {type(new).__name__}.")
        if new is given:
            fail(name, f"{where}: return a new dict (dict(settings)), not the one you were given.")
        if set(new) != set(settings):
            fail(name, f"{where}: the new settings have keys {sorted(new)}; keep exactly the keys you were given.")
        changed = sorted(k for k in settings if new[k] != settings[k])
        for k in settings:
            if type(new[k]) is not type(settings[k]):
                fail(name, f"{where}: {k} became a {type(new[k]).__name__} ({new[k]!r}); it was a "
                           f"{type(settings[k]).__name__}. Keep each setting's type (a rate stays a float: 1e-4, not 0).")
        lr_g, lr_d = new["lr_g"], new["lr_d"]
        if failure == "discriminator_too_strong":
            if len(changed) != 1 or changed[0] not in ("lr_d", "lr_g"):
                fail(name, f"{where}: you changed {changed or 'nothing'}; change one setting, a learning rate, so that D "
                           "no longer outpaces G (with lr_d 30 times lr_g, fewer D steps alone did not cure it).")
            if lr_d > 3 * lr_g:
                fail(name, f"{where}: lr_d is still {lr_d / lr_g:.3g} times lr_g; bring the ratio to 3 or below "
                           "(lower lr_d, or raise lr_g).")
            if changed == ["lr_d"] and lr_d >= settings["lr_d"] or changed == ["lr_g"] and lr_g <= settings["lr_g"]:
                fail(name, f"{where}: that moves the wrong way: slow D down or speed G up.")
        elif failure == "saturation":
            if changed != ["loss"] or new["loss"] != "nonsaturating":
                fail(name, f"{where}: you changed {changed or 'nothing'}"
                           + (f" (loss = {new['loss']!r})" if "loss" in changed else "")
                           + "; the cure is the one setting loss = 'nonsaturating' (spelled as the course spells it).")
        elif failure == "instability":
            if changed != ["lr_d", "lr_g"]:
                fail(name, f"{where}: you changed {changed or 'nothing'}; lower the learning rate of both players "
                           "(lr_g and lr_d) and nothing else.")
            for k in ("lr_g", "lr_d"):
                if not 0 < new[k] <= settings[k] / 10 * (1 + 1e-9):
                    fail(name, f"{where}: {k} went from {settings[k]:g} to {new[k]:g}; lower it to at most a tenth, "
                               "and above zero.")
        elif failure == "collapse":
            if changed != ["lr_g"] or not 0 < lr_g <= lr_d:
                fail(name, f"{where}: you changed {changed or 'nothing'}; here G learns 10 times faster than D and hops "
                           "from mode to mode: lower lr_g to at most lr_d, and change nothing else.")
        elif changed:
            fail(name, f"{where}: a healthy run needs no change, but you changed {changed}.")
    passed(name, "one change per failure, on a copy, every type kept: the rates rebalanced for a strong D, the "
                 "non-saturating loss for saturation, both rates down for instability, nothing for a healthy run.")
