"""Lecture 12 exercise checkers: the zero-centred penalties (R1, R2), the relativistic pairing losses, one R3GAN step."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from gancourse.checks._core import _grads, _run, _scalar, assert_close, checker, fail, passed

_PENALTY_HINT = ("The penalty is the batch mean of each sample's squared gradient norm, E ||grad_x D(x)||^2: "
                 "differentiate D(x).sum() with respect to x with create_graph=True, square every entry of the "
                 "gradient, sum over all features of one sample, then average over the batch.")


class _LinearCritic(torch.nn.Module):
    """D(x) = <a, x> + b over every feature of x: gradient a everywhere, so the penalty is |a|^2 exactly."""

    def __init__(self, shape: tuple, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.a = torch.nn.Parameter(torch.randn(*shape, generator=g, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.tensor(0.3, dtype=torch.float64))

    def forward(self, x):
        return (x * self.a).flatten(1).sum(1) + self.b  # (B,)


class _QuadraticCritic(torch.nn.Module):
    """D(x) = c |x|^2 / 2: gradient c x, so the penalty is c^2 E|x|^2 and differs from sample to sample."""

    def __init__(self, c: float):
        super().__init__()
        self.c = torch.nn.Parameter(torch.tensor(c, dtype=torch.float64))

    def forward(self, x):
        return 0.5 * self.c * (x**2).flatten(1).sum(1)  # (B,)


@checker
def check_zero_centred_penalty(fn) -> None:
    r"""Check ``fn(D, x)``, the zero-centred penalty :math:`\mathbb{E}_x\lVert\nabla_x D(x)\rVert_2^2` (R1 at real x, R2 at fakes).

    Uses critics whose answer is known: linear (gradient :math:`a` everywhere, penalty :math:`|a|^2`, on points and
    on images) and quadratic :math:`D(x) = c|x|^2/2` (penalty :math:`c^2\,\mathbb{E}|x|^2`, which differs per sample,
    and whose derivative in :math:`c` is :math:`2c\,\mathbb{E}|x|^2`). Catches: no ``create_graph`` (no gradient to
    D's weights), the norm not squared, WGAN-GP's :math:`(\lVert g\rVert - 1)^2`, the gradient of ``D(x).mean()``,
    a sum over the batch, the norm over the last axis only or over the whole batch, and a penalty that keeps a graph
    to the input batch. Lecture 12 exercise.
    """
    name = "check_zero_centred_penalty"
    g = torch.Generator().manual_seed(12)
    for shape in ((2,), (1, 4, 4), (3, 2, 2)):
        critic = _LinearCritic(shape, seed=len(shape) * 7 + shape[0])
        x = torch.randn(16, *shape, generator=g, dtype=torch.float64)
        expected = (critic.a.detach() ** 2).sum()
        what = f"a linear critic D(x) = <a, x> + b on a batch of shape (16, {', '.join(map(str, shape))})"
        got = _scalar(name, _run(name, fn, critic, x.clone(), hint=_PENALTY_HINT), "the penalty")
        if abs(got.item() - expected.sqrt().item()) < 1e-8:
            fail(name, f"{what}: got |a| = {got.item():.6g}, the gradient's norm; the penalty is its *square*, |a|^2.")
        if abs(got.item() - (expected.sqrt().item() - 1) ** 2) < 1e-8:
            fail(name, f"{what}: got (|a| - 1)^2, WGAN-GP's penalty; R1 and R2 pull the gradient towards 0, not "
                       "towards norm 1: E ||grad||^2.")
        if abs(got.item() - expected.item() / 16**2) < 1e-8:
            fail(name, f"{what}: got |a|^2 / B^2: the gradient was taken of D(x).mean(), which divides every "
                       "sample's gradient by the batch size B. Differentiate D(x).sum().")
        if abs(got.item() - 16 * expected.item()) < 1e-6:
            fail(name, f"{what}: got B |a|^2, the sum over the batch; average over the batch instead (.mean()).")
        if len(shape) == 3 and abs(got.item() - expected.item()) > 1e-8:
            fail(name, f"{what}: got {got.item():.6g}, expected |a|^2 = {expected.item():.6g}. For images, sum the "
                       "squares over every feature of one sample (channels and pixels: grad.flatten(1)), not over the "
                       "last axis only.")
        assert_close(name, what, got, expected, atol=1e-8, rtol=1e-8, hint=_PENALTY_HINT)
        if not got.requires_grad:
            fail(name, f"{what}: the penalty has no gradient with respect to D's weights, so adding it to D's loss "
                       "changes nothing. Take the input gradient with torch.autograd.grad(..., create_graph=True).")
        (grad_a,) = torch.autograd.grad(got, critic.a, retain_graph=True)
        assert_close(name, f"{what}: the penalty's gradient with respect to a", grad_a, 2 * critic.a.detach(), atol=1e-8)
    c = 1.7
    critic = _QuadraticCritic(c)
    x = torch.randn(32, 3, generator=g, dtype=torch.float64) * torch.linspace(0.2, 3, 32, dtype=torch.float64)[:, None]
    leaf = x.clone().requires_grad_(True)
    got = _scalar(name, _run(name, fn, critic, leaf, hint=_PENALTY_HINT), "the penalty")
    per_sample = c**2 * (x**2).sum(1)  # (B,)
    if abs(got.item() - c**2 * (x**2).sum(1).sqrt().mean().item() ** 2) < 1e-8:
        fail(name, "with D(x) = c |x|^2 / 2 (gradient c x, different for every sample), got the square of the mean "
                   "norm; square each sample's norm first, then average: E ||grad||^2.")
    if abs(got.item() - c**2 * (x**2).sum().item()) < 1e-6:
        fail(name, "with D(x) = c |x|^2 / 2, got the squared norm of the whole batch's gradient (a sum over the "
                   "batch); take one squared norm per sample, then the mean over the batch.")
    assert_close(name, "with D(x) = c |x|^2 / 2 (gradient c x), E ||grad||^2", got, per_sample.mean(), atol=1e-8, rtol=1e-8,
                 hint=_PENALTY_HINT)
    if got.requires_grad:
        grads = torch.autograd.grad(got, [critic.c, leaf], allow_unused=True)
        assert_close(name, "with D(x) = c |x|^2 / 2, the penalty's derivative in c", grads[0], 2 * c * (x**2).sum(1).mean(),
                     atol=1e-8, rtol=1e-8, hint="Keep the input gradient in the graph: create_graph=True.")
        if grads[1] is not None and bool(torch.any(grads[1] != 0)):
            fail(name, "the penalty sends a gradient back into the batch x itself: for R2 that batch is G's output, "
                       "and the penalty must train D only. Differentiate at a detached copy: x = x.detach().requires_grad_(True).")
    passed(name, "E ||grad_x D(x)||^2, per-sample squared norms over all features, differentiable in D's weights only.")


def _pair_scores(seed: int, n: int = 64):
    g = torch.Generator().manual_seed(seed)
    s_real = (torch.randn(n, generator=g, dtype=torch.float64) * 2 + 1).requires_grad_(True)
    s_fake = (torch.randn(n, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    return s_real, s_fake


@checker
def check_pairing_losses(d_fn, g_fn) -> None:
    r"""Check ``d_fn(s_real, s_fake)`` and ``g_fn(s_fake, s_real)``, the relativistic pairing losses.

    :math:`L_D = \operatorname{mean}_i \operatorname{softplus}(s_{f,i} - s_{r,i})`,
    :math:`L_G = \operatorname{mean}_i \operatorname{softplus}(s_{r,i} - s_{f,i})` (Huang et al. 2024, eq. 2).
    Compared at random and hand-picked scores, with their gradients. Catches: the relativistic *average* loss
    (batch means in place of pairs), the sign of the difference swapped, :math:`\log\sigma` without the minus,
    a sum over the batch, G's loss equal to D's, the classic non-saturating loss on separate scores, and pairs
    matched in the wrong order. Lecture 12 exercise.
    """
    name = "check_pairing_losses"
    for seed in (0, 1, 2):
        s_real, s_fake = _pair_scores(40 + seed)
        for who, fn, args, ref in (("D", d_fn, (s_real, s_fake), F.softplus(s_fake - s_real).mean()),
                                   ("G", g_fn, (s_fake, s_real), F.softplus(s_real - s_fake).mean())):
            got = _scalar(name, _run(name, fn, *args), f"{who}'s loss")
            r, f = s_real.detach(), s_fake.detach()
            avg = (F.softplus(-(r - f.mean())).mean() + F.softplus(f - r.mean()).mean()) if who == "D" else \
                (F.softplus(-(f - r.mean())).mean() + F.softplus(r - f.mean()).mean())
            diff = (f - r) if who == "D" else (r - f)
            mistakes = [
                (avg, "this is the relativistic *average* loss of lecture 11 (each score against the other batch's mean); "
                      "the pairing loss compares sample i of the real batch with sample i of the fake batch."),
                (F.softplus(-diff).mean(), "the sign of the difference is swapped: this loss rewards the wrong side. "
                                           f"{who} wants its own side to win the pair."),
                (F.logsigmoid(-diff).mean(), "log sigma(.) without the minus: the loss is -log sigma(win margin), "
                                             "i.e. softplus(-margin), a positive number."),
                (F.softplus(diff).sum(), "a sum over the batch; average over the pairs instead (.mean())."),
                (F.softplus((f.flip(0) - r) if who == "D" else (r.flip(0) - f)).mean(),
                 "the pairs are matched in the wrong order: pair real sample i with fake sample i, element by element."),
            ]
            if who == "G":
                mistakes.insert(0, (F.softplus(f - r).mean(), "G's loss equals D's: swap the roles, G wants its fakes to "
                                                              "outscore the reals they are paired with."))
                mistakes.append((F.softplus(-f).mean(), "this is the classic non-saturating loss on the fake scores alone; "
                                                        "the relativistic loss scores the *difference* s_fake - s_real."))
            else:
                mistakes.append(((F.softplus(-r) + F.softplus(f)).mean(), "this is the classic GAN loss on each score "
                                 "alone; the relativistic loss scores the *difference* s_real - s_fake of each pair."))
            for candidate, hint in mistakes:
                if abs(got.item() - candidate.item()) < 1e-8 and abs(candidate.item() - ref.item()) > 1e-6:
                    fail(name, f"{who}'s loss: {hint}")
            assert_close(name, f"{who}'s loss at random scores", got, ref, atol=1e-8, rtol=1e-8,
                         hint="L_D = mean softplus(s_fake - s_real), L_G = mean softplus(s_real - s_fake), pair by pair.")
            grads = _grads(name, got, {"real scores": s_real, "fake scores": s_fake})
            ref_grads = torch.autograd.grad(ref, [s_real, s_fake])
            assert_close(name, f"{who}'s loss: its gradient with respect to the real scores", grads["real scores"],
                         ref_grads[0], atol=1e-10)
    big = torch.tensor([60.0, -60.0])  # float32: exp(120) overflows
    got = _scalar(name, _run(name, d_fn, big, -big), "D's loss")
    assert_close(name, "D's loss at float32 scores +-60 (margins +-120): softplus never overflows, the naive "
                       "log(1 + exp(.)) does", got, torch.tensor(60.0), atol=1e-4,
                 hint="Use torch.nn.functional.softplus (or -logsigmoid of the margin).")
    passed(name, "mean softplus of each pair's margin, both players, gradients included, stable at large scores.")


class _SpySGD(torch.optim.SGD):
    """SGD that records the order of its calls, to say *which* update went wrong."""

    def __init__(self, params, lr, log, tag):
        super().__init__(params, lr=lr)
        self.log, self.tag = log, tag

    def zero_grad(self, set_to_none: bool = True):
        self.log.append(f"{self.tag}.zero_grad")
        super().zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        self.log.append(f"{self.tag}.step")
        return super().step(closure)


def _players(seed: int):
    from gancourse.toy import Discriminator, Generator

    torch.manual_seed(seed)
    return Generator(3, 2, (16,), "relu").double(), Discriminator(2, (16, 16), "relu").double()


@checker
def check_r3gan_step(fn) -> None:
    r"""Check ``fn(G, D, opt_g, opt_d, x_real, z, gamma)``, one whole R3GAN training step, against the reference.

    The reference (:func:`gancourse.r3gan.r3gan_step`) updates D on
    :math:`\operatorname{mean}\operatorname{softplus}(s_f - s_r) + \frac{\gamma}{2}(R_1 + R_2)` at the detached fakes
    :math:`G(z)`, then G on :math:`\operatorname{mean}\operatorname{softplus}(s_r - s_f)` scored by the *updated* D.
    Both players' weights after one step are compared with the reference's (plain SGD, small networks, several
    batches and gammas). Catches: a missing penalty (R1 or R2), :math:`\gamma` in place of :math:`\gamma/2`, G scored
    by the old D, a missing ``zero_grad``, D's optimiser never stepping, and the losses' roles swapped.
    Lecture 12 exercise.
    """
    from gancourse.r3gan import r3gan_step

    name = "check_r3gan_step"
    for seed, gamma in ((0, 1.0), (1, 0.5), (2, 2.0)):
        G, D = _players(seed)
        G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
        g = torch.Generator().manual_seed(100 + seed)
        x_real = torch.randn(32, 2, generator=g, dtype=torch.float64) * 0.5 + 1.0
        z = torch.randn(32, 3, generator=g, dtype=torch.float64)
        log: list = []
        opt_g, opt_d = _SpySGD(G.parameters(), 0.05, log, "opt_g"), _SpySGD(D.parameters(), 0.05, log, "opt_d")
        # a stale gradient left on both players, as after an earlier step: zero_grad must clear it
        for p in list(G.parameters()) + list(D.parameters()):
            p.grad = torch.full_like(p, 0.5)
        _run(name, fn, G, D, opt_g, opt_d, x_real.clone(), z.clone(), gamma)
        ref_g = torch.optim.SGD(G_ref.parameters(), lr=0.05)
        ref_d = torch.optim.SGD(D_ref.parameters(), lr=0.05)
        r3gan_step(G_ref, D_ref, ref_g, ref_d, x_real.clone(), z.clone(), gamma)
        where = f"(gamma = {gamma}, batch 32)"
        if "opt_d.step" not in log:
            fail(name, f"{where}: D's optimiser never stepped; call opt_d.step() after D's backward.")
        if "opt_g.step" not in log:
            fail(name, f"{where}: G's optimiser never stepped; call opt_g.step() after G's backward.")
        if log.index("opt_d.step") > log.index("opt_g.step"):
            fail(name, f"{where}: G stepped before D. R3GAN's step updates D first, then G against the updated D.")
        if not _same(D, D_ref):
            fail(name, f"{where}: D's weights after the step differ from the reference's. "
                       + _diagnose_d(D, _players(seed), x_real, z, gamma))
        if not _same(G, G_ref):
            fail(name, f"{where}: D's update is right but G's weights after the step differ from the reference's. "
                       + _diagnose_g(G, _players(seed), x_real, z, gamma))
    passed(name, "D on the pairing loss + gamma/2 (R1 + R2) at detached fakes, then G through the updated D; "
                 "both players equal the reference after one step.")


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(float((p - q).detach().abs().max()) < 1e-8 for p, q in zip(a.parameters(), b.parameters()))


def _sgd_update(module, loss, lr=0.05, stale: float = 0.0):
    """One plain SGD step on ``loss``; ``stale`` adds a leftover gradient of that value to every weight."""
    grads = torch.autograd.grad(loss, list(module.parameters()), allow_unused=True)
    with torch.no_grad():
        for p, gr in zip(module.parameters(), grads):
            p -= lr * ((gr if gr is not None else 0.0) + stale)


def _penalty(D, x):
    x = x.detach().requires_grad_(True)
    (gr,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return gr.pow(2).flatten(1).sum(1).mean()


def _d_objective(D, x_real, x_fake, gamma, variant: str = "right"):
    """D's R3GAN objective, or one of the known wrong variants of it."""
    if variant == "swapped":
        adv = F.softplus(D(x_real) - D(x_fake)).mean()
    else:
        adv = F.softplus(D(x_fake) - D(x_real)).mean()
    if variant == "none":
        return adv
    r1, r2 = _penalty(D, x_real), _penalty(D, x_fake)
    return adv + {"no-r2": gamma / 2 * r1, "no-r1": gamma / 2 * r2, "gamma": gamma * (r1 + r2)}.get(variant, gamma / 2 * (r1 + r2))


_D_HINTS = {
    "no-r2": "The penalty R2 at the fakes is missing: R3GAN adds (gamma / 2) (R1 + R2).",
    "no-r1": "The penalty R1 at the real batch is missing: R3GAN adds (gamma / 2) (R1 + R2).",
    "gamma": "The penalties are weighted by gamma; the objective weights them by gamma / 2.",
    "none": "No penalty at all: add (gamma / 2) (R1 + R2), the zero-centred gradient penalties at the real and the fake batch.",
    "swapped": "D's loss has the roles swapped: D minimises mean softplus(s_fake - s_real), so the reals win their pairs.",
}


def _diagnose_d(D_learner, fresh, x_real, z, gamma) -> str:
    """Which known variant of D's update the learner's D matches."""
    G0, D0 = fresh
    x_fake = G0(z).detach()
    for variant, hint in _D_HINTS.items():
        D_try = copy.deepcopy(D0)
        _sgd_update(D_try, _d_objective(D_try, x_real, x_fake, gamma, variant))
        if _same(D_try, D_learner):
            return hint
    D_try = copy.deepcopy(D0)
    _sgd_update(D_try, _d_objective(D_try, x_real, x_fake, gamma), stale=0.5)
    if _same(D_try, D_learner):
        return ("D's step added an old gradient: call opt_d.zero_grad() before D's backward (gradients accumulate "
                "across backward calls).")
    return ("Check D's part: opt_d.zero_grad(), then mean softplus(D(fake) - D(x_real)) + gamma / 2 (R1 + R2) at "
            "the detached fakes G(z).detach(), backward, opt_d.step().")


def _diagnose_g(G_learner, fresh, x_real, z, gamma) -> str:
    """Which known variant of G's update the learner's G matches (D's update being right)."""
    G0, D0 = fresh
    D_new = copy.deepcopy(D0)
    _sgd_update(D_new, _d_objective(D_new, x_real, G0(z).detach(), gamma))
    if _same(G0, G_learner):
        return ("G did not move: its loss reached G through no path (fakes detached in G's loss too?) or G's "
                "optimiser stepped before backward.")
    variants = {
        "G was scored by the *old* D: compute G's loss after opt_d.step(), with fresh scores D(G(z)) and D(x_real).":
            (D0, False, 0.0),
        "G's loss has the roles swapped: G minimises mean softplus(s_real - s_fake), so its fakes outscore their pairs.":
            (D_new, True, 0.0),
        "G's step added an old gradient: call opt_g.zero_grad() before G's backward.": (D_new, False, 0.5),
    }
    for hint, (D_used, swapped, stale) in variants.items():
        G_try = copy.deepcopy(G0)
        margin = D_used(G_try(z)) - D_used(x_real) if swapped else D_used(x_real) - D_used(G_try(z))
        _sgd_update(G_try, F.softplus(margin).mean(), stale=stale)
        if _same(G_try, G_learner):
            return hint
    return ("Check G's part: opt_g.zero_grad(), then mean softplus(D(x_real) - D(G(z))) through the updated D, "
            "backward, opt_g.step().")


def _register_hints() -> None:
    """Exercise 12's hints, in steps (see :func:`gancourse.checks.hints.hint`)."""
    from gancourse.checks.hints import HINTS

    HINTS["r3_penalty"] = [
        "The penalty is about the gradient of D's scores with respect to its *input*: make x a leaf that requires "
        "grad (x.detach().requires_grad_(True)), score it, and ask torch.autograd.grad for the input gradient.",
        "Differentiate D(x).sum(): each score depends on its own sample only, so the sum's gradient holds every "
        "sample's gradient. Pass create_graph=True, or the penalty cannot train D.",
        "grad.flatten(start_dim=1) is (B, F): square, sum over dim 1 (one squared norm per sample), then .mean().",
    ]
    HINTS["pairing"] = [
        "Pair sample i of the real scores with sample i of the fake scores: one margin per pair, no batch means.",
        "D wants s_real > s_fake in every pair, so its loss is large when s_fake - s_real is large: softplus of it.",
        "F.softplus(s_fake - s_real).mean() for D; for G swap the two scores.",
    ]
    HINTS["r3gan_step"] = [
        "Two updates in order: D's (on detached fakes, with both penalties), then G's (scored by the D that just "
        "stepped). Each starts with its optimiser's zero_grad() and ends with its step().",
        "D's loss: d_loss_pairing(D(x_real), D(x_fake.detach())) + gamma / 2 * (penalty at x_real + penalty at x_fake).",
        "G's loss after opt_d.step(): g_loss_pairing(D(x_fake), D(x_real)), with x_fake = G(z) kept in the graph.",
    ]


_register_hints()
