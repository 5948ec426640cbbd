"""Lecture 10 exercise checkers: PatchGAN's output size and the cycle-consistency loss."""

from __future__ import annotations

import numpy as np
import torch

from gancourse.checks._core import checker, _grads, fail, assert_close, passed, _run, _scalar, _diagnose


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
        if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_floating_point():
            got = int(got)
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            fail(name, f"for n = {n}: got {got!r}, a {type(got).__name__}; a side is a whole number of pixels, an int. "
                       "Use integer division (//), which also rounds down, not / (a float).")
        got = int(got)
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
    yc.requires_grad_(True)
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
    _grads(name, got, {"cycled images of A (x_cycled)": xc, "cycled images of B (y_cycled)": yc})
    zero = _run(name, fn, x, x.clone(), y, y.clone())
    assert_close(name, "the loss of perfect cycles", zero, torch.tensor(0.0), atol=1e-7)
    passed(name, "L1 in both directions, averaged over pixels, summed over the two cycles.")


class _Recorder(torch.nn.Module):
    """A tiny linear translator or critic on (B, 4) "images" that records its inputs."""

    def __init__(self, out_dim: int, seed: int):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.lin = torch.nn.Linear(4, out_dim)
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        y = self.lin(x)
        return y.squeeze(1) if y.shape[1] == 1 else y


def _cyclegan_loss(G, F_, D_A, D_B, a, b, lam_cycle, *, lam=True, adv=True, cyc=True, swap_d=False,
                   wrong_cycle=False, detach_fakes=False, target=1.0):
    from gancourse.translation import cycle_consistency_loss

    fake_b, fake_a = G(a), F_(b)
    fb, fa = (fake_b.detach(), fake_a.detach()) if detach_fakes else (fake_b, fake_a)
    d_b, d_a = (D_A, D_B) if swap_d else (D_B, D_A)
    adv_term = 0.5 * ((d_b(fb) - target) ** 2).mean() + 0.5 * ((d_a(fa) - target) ** 2).mean()
    if wrong_cycle:
        cyc_term = cycle_consistency_loss(a, G(fake_b), b, F_(fake_a))
    else:
        cyc_term = cycle_consistency_loss(a, F_(fake_b), b, G(fake_a))
    return (adv_term if adv else 0) + (lam_cycle if lam else 1.0) * (cyc_term if cyc else 0)


@checker
def check_cyclegan_generator_step(fn) -> None:
    r"""Check ``fn(G, F, D_A, D_B, opt_g, a, b, lam_cycle) -> (loss_g, fake_a, fake_b)``: CycleGAN's generator step.

    One update of both translators on
    :math:`L^{LS}_G(D_B(G(a))) + L^{LS}_G(D_A(F(b))) + \lambda\,\mathcal L_{cyc}` (Zhu et al. 2017, eq. 3,
    least-squares adversarial terms), with ``opt_g`` holding both translators' weights. Tiny linear
    translators and critics make the gradient exact, so the check reads the gradient the optimiser
    found and names the term that differs: the cycle's direction, the weight :math:`\lambda`, a
    critic judging the wrong domain, fakes detached before the critics, a missing ``zero_grad``.
    The fakes come back detached, for the discriminators' step. Lecture 10 exercise.
    """
    from gancourse.checks.lecture05 import _SpySGD

    name = "check_cyclegan_generator_step"
    for batch, lam_cycle, seed in ((6, 10.0, 1), (9, 3.5, 2)):
        where = f"batch {batch}, lam_cycle={lam_cycle}"
        G, F_, D_A, D_B = (_Recorder(4, seed), _Recorder(4, seed + 10), _Recorder(1, seed + 20), _Recorder(1, seed + 30))
        gen = torch.Generator().manual_seed(seed)
        a, b = torch.randn(batch, 4, generator=gen), torch.randn(batch, 4, generator=gen) + 1
        params = list(G.parameters()) + list(F_.parameters())
        stale = [torch.randn(p.shape, generator=gen) for p in params]
        for p, s in zip(params, stale):  # gradients left from an earlier step, which zero_grad must clear
            p.grad = s.clone()
        opt = _SpySGD(params, lr=0.01)
        before = [p.detach().clone() for p in params]
        d_before = [p.detach().clone() for p in list(D_A.parameters()) + list(D_B.parameters())]
        out = _run(name, fn, G, F_, D_A, D_B, opt, a, b, lam_cycle)
        steps = [entry for kind, entry in opt.log if kind == "step"]
        if len(steps) != 1:
            fail(name, f"{where}: opt_g stepped {len(steps)} times; the generator step is one update of both translators.")
        if any(not torch.equal(p, q) for p, q in zip(list(D_A.parameters()) + list(D_B.parameters()), d_before)):
            fail(name, f"{where}: the discriminators' weights changed; the generator step updates G and F only.")
        grads = steps[0][0]
        if any(g is None for g in grads):
            fail(name, f"{where}: some translator weights had no gradient when opt_g stepped: call backward() on the "
                       "total loss before opt_g.step(), and zero_grad() before backward().")

        def reference(**mistake):
            G2, F2 = _Recorder(4, seed), _Recorder(4, seed + 10)
            D_A2, D_B2 = _Recorder(1, seed + 20), _Recorder(1, seed + 30)
            with torch.no_grad():  # the same seeds give the same weights; G and F as before the step
                for p, q in zip(list(G2.parameters()) + list(F2.parameters()), before):
                    p.copy_(q)
            loss = _cyclegan_loss(G2, F2, D_A2, D_B2, a, b, lam_cycle, **mistake)
            ps = list(G2.parameters()) + list(F2.parameters())
            gs = torch.autograd.grad(loss, ps, allow_unused=True)
            return loss.item(), [torch.zeros_like(p) if g is None else g for p, g in zip(ps, gs)]

        def same(gs, ref):
            return all(torch.allclose(g, r, atol=1e-5, rtol=1e-4) for g, r in zip(gs, ref))

        value, expected = reference()
        if not same(grads, expected):
            if same(grads, [e + s for e, s in zip(expected, stale)]):
                fail(name, f"{where}: the gradient opt_g used still held an earlier step's gradient: call "
                           "opt_g.zero_grad() before loss.backward().")
            candidates = [
                (dict(lam=False), "the cycle term is not weighted: multiply the cycle loss by lam_cycle."),
                (dict(cyc=False), "the cycle-consistency term is missing from the loss."),
                (dict(adv=False), "no adversarial gradient reaches the translators: the LSGAN terms on D_B(G(a)) and "
                                  "D_A(F(b)) are missing, or the fakes were detached before the critics scored them "
                                  "(detach only what you return)."),
                (dict(wrong_cycle=True), "the cycles go the wrong way: a comes back as F(G(a)) and b as G(F(b)); "
                                         "G maps A to B and F maps B to A."),
                (dict(swap_d=True), "the critics are swapped: D_B judges G(a) (domain B), D_A judges F(b)."),
                (dict(target=0.0), "the adversarial target is 0, the critics' label for fakes; the translators want "
                                   "their fakes scored as real: (D(fake) - 1)^2."),
            ]
            for mistake, why in candidates:
                if same(grads, reference(**mistake)[1]):
                    fail(name, f"{where}: {why}")
            fail(name, f"{where}: the gradient opt_g found differs from that of the LSGAN terms on D_B(G(a)) and "
                       "D_A(F(b)) plus lam_cycle times your cycle_loss.")
        if out is None or not (isinstance(out, (tuple, list)) and len(out) == 3):
            fail(name, "return three things: (loss_g as a float, fake_a, fake_b).")
        loss_g, fake_a, fake_b = out
        if isinstance(loss_g, torch.Tensor) or not isinstance(loss_g, float):
            fail(name, f"loss_g is a {type(loss_g).__name__}; return it as a float (.item()).")
        if abs(loss_g - value) > 1e-4 * max(1.0, abs(value)):
            fail(name, f"{where}: loss_g came out as {loss_g:.5g}, expected {value:.5g} (before the step).")
        with torch.no_grad():
            G_a = torch.nn.functional.linear(a, before[0], before[1])
            F_b = torch.nn.functional.linear(b, before[2], before[3])
        for what, got, exp, other in (("fake_a", fake_a, F_b, G_a), ("fake_b", fake_b, G_a, F_b)):
            if not isinstance(got, torch.Tensor) or got.shape != exp.shape:
                fail(name, f"{what} should be a tensor of shape {tuple(exp.shape)}.")
            if got.requires_grad:
                fail(name, f"{what} still carries the graph; return it detached (.detach()), ready for the "
                           "discriminators' step.")
            if torch.allclose(got, other, atol=1e-5) and not torch.allclose(got, exp, atol=1e-5):
                fail(name, "fake_a and fake_b are swapped: fake_a = F(b) lives in domain A, fake_b = G(a) in domain B.")
            assert_close(name, f"{where}: {what} (made before the step)", got, exp, atol=1e-5, rtol=1e-4)
    passed(name, "LSGAN terms on D_B(G(a)) and D_A(F(b)) plus lam_cycle times both cycles; one step of opt_g "
                 "after zero_grad; fakes returned detached.")
