"""Lecture 07 exercise checkers: the projection discriminator's score."""

from __future__ import annotations

import torch

from gancourse.checks._core import checker, fail, assert_close, passed, _run


_PROJECTION_HINT = ("D(x, y) = psi(phi(x)) + <embed(y), phi(x)>, one score per sample, shape (B,): psi's output has "
                    "a trailing axis to drop, and the inner product runs over the features, not over the batch. "
                    "More: hint('projection').")


@checker
def check_projection_score(fn) -> None:
    r"""Check ``fn(features, y, psi, embed) -> (B,)`` against :func:`gancourse.conditional.projection_score`.

    :math:`D(x, y) = \psi(\phi(x)) + \langle e(y), \phi(x) \rangle`, one score per sample. Runs
    batches of size different from and equal to the feature size (so that a sum over the batch
    keeps the right shape), and isolates each term by zeroing the other. Lecture 07 exercise.
    """
    from gancourse.conditional import projection_score

    name = "check_projection_score"
    g = torch.Generator().manual_seed(7)
    for B, F_, K in ((5, 8, 3), (6, 6, 4), (1, 7, 2)):  # B = 1: a squeeze() without its axis drops the batch
        with torch.random.fork_rng(devices=[]):  # the learner's random stream does not move
            torch.manual_seed(B)
            psi, embed = torch.nn.Linear(F_, 1), torch.nn.Embedding(K, F_)
        features = torch.randn(B, F_, generator=g).requires_grad_(True)
        y = torch.randint(K, (B,), generator=g)
        got = _run(name, fn, features, y, psi, embed, hint=_PROJECTION_HINT)
        expected = projection_score(features, y, psi, embed)
        if not isinstance(got, torch.Tensor):
            fail(name, f"return a tensor of shape ({B},), got {type(got).__name__}.")
        if got.shape != (B,):
            fail(name, f"for {B} samples with {F_} features got shape {tuple(got.shape)}, expected ({B},). "
                       + _PROJECTION_HINT)
        with torch.no_grad():
            inner = (embed(y) * features).sum(dim=1)
            psi_term = psi(features).squeeze(1)
            batch_sum = psi_term + (embed(y) * features).sum(dim=0) if B == F_ else None  # (F,) = (B,) here
        if torch.allclose(got, inner, atol=1e-5):
            fail(name, "the psi(phi(x)) term is missing: without it D can only say how well x fits label y, not "
                       "whether x looks real at all. " + _PROJECTION_HINT)
        if torch.allclose(got, psi_term, atol=1e-5):
            fail(name, "the inner product <embed(y), phi(x)> is missing: the label never reaches D. " + _PROJECTION_HINT)
        if batch_sum is not None and torch.allclose(got, batch_sum, atol=1e-5):
            fail(name, "the inner product was summed over the batch (dim=0), mixing samples; sum over the "
                       "features (dim=1). " + _PROJECTION_HINT)
        assert_close(name, f"scores of {B} samples with {F_} features and {K} classes", got, expected,
                     atol=1e-5, rtol=1e-5, hint=_PROJECTION_HINT)
        if not got.requires_grad:
            fail(name, "the scores carry no gradient: compute them with torch operations from psi, embed and the "
                       "features (no .detach() or .item()).")
        r = torch.randn(B, generator=g)
        (g_got,) = torch.autograd.grad((got * r).sum(), features, allow_unused=True)
        (g_exp,) = torch.autograd.grad((expected * r).sum(), features)
        if g_got is None:
            fail(name, "no gradient reaches the features: both terms must be computed from them, undetached.")
        assert_close(name, f"gradient of the scores with respect to the features ({B} samples)", g_got, g_exp,
                     atol=1e-5, rtol=1e-4, hint="Both terms carry a gradient to the features (the discriminator's "
                                                "body learns through both); a .detach() in one of them cuts it.")
    passed(name, "psi(phi(x)) + <embed(y), phi(x)>, one score per sample.")


class _CondG(torch.nn.Module):
    """A tiny conditional generator: [z, embed(y)] -> 2D points; records the labels it was asked for."""

    def __init__(self, z_dim: int, n_classes: int):
        super().__init__()
        self.embed = torch.nn.Embedding(n_classes, 3)
        self.net = torch.nn.Sequential(torch.nn.Linear(z_dim + 3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        self.calls = []

    def forward(self, z, y):
        self.calls.append((z.detach().clone(), y.detach().clone()))
        return self.net(torch.cat([z, self.embed(y)], dim=1))  # (B, 2)


class _CondD(torch.nn.Module):
    """A tiny conditional discriminator: [x, embed(y)] -> one logit; records what it scored."""

    def __init__(self, n_classes: int):
        super().__init__()
        self.embed = torch.nn.Embedding(n_classes, 3)
        self.net = torch.nn.Sequential(torch.nn.Linear(2 + 3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        self.calls = []

    def forward(self, x, y):
        self.calls.append((x.detach().clone(), y.detach().clone()))
        return self.net(torch.cat([x, self.embed(y)], dim=1)).squeeze(1)  # (B,)


def _cond_players(seed: int, z_dim: int, n_classes: int):
    from gancourse.checks._core import _PlainSGD

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = _CondG(z_dim, n_classes), _CondD(n_classes)
    return G, D, _PlainSGD(G.parameters(), lr=0.05), _PlainSGD(D.parameters(), lr=0.2)


def _cond_reference(G, D, opt_g, opt_d, x_real, y_real, z, y_fake, *, zero_grad=True, swap=False):
    from gancourse.losses import d_loss, g_loss_nonsaturating

    first, second = (opt_g, opt_d) if swap else (opt_d, opt_g)
    loss_d = d_loss(D(x_real, y_real), D(G(z, y_fake).detach(), y_fake))
    if zero_grad:
        first.zero_grad()
    loss_d.backward()
    first.step()
    loss_g = g_loss_nonsaturating(D(G(z, y_fake), y_fake))
    if zero_grad:
        second.zero_grad()
    loss_g.backward()
    second.step()
    return loss_d.item(), loss_g.item()


@checker
def check_conditional_train_step(fn) -> None:
    """Check ``fn(G, D, opt_g, opt_d, x_real, y_real, z, y_fake) -> (loss_d, loss_g)``: one conditional step.

    D learns on real pairs (x_real, y_real) and on fakes G(z, y_fake), cut off from G and scored under
    the labels they were made for; then G learns through the updated D, again under y_fake. Three steps
    on tiny conditional players with different learning rates, compared weight by weight with the
    reference; the labels each network received are read back, so the message names the pair that
    was mixed up. Lecture 07 exercise.
    """
    name = "check_conditional_train_step"
    for z_dim, n_classes, batch in ((3, 4, 9), (2, 3, 16)):
        G, D, opt_g, opt_d = _cond_players(z_dim, z_dim, n_classes)
        variants = {k: _cond_players(z_dim, z_dim, n_classes) for k in ("ref", "no_zero_grad", "swap")}
        g = torch.Generator().manual_seed(70 + z_dim)
        for step in range(3):
            x_real = torch.randn(batch, 2, generator=g)
            y_real = torch.randint(n_classes, (batch,), generator=g)
            z = torch.randn(batch, z_dim, generator=g)
            y_fake = (y_real + 1 + torch.randint(n_classes - 1, (batch,), generator=g)) % n_classes  # never y_real
            hits = []
            hooks = [p.register_hook(lambda grad: hits.append(1)) for p in G.parameters()]
            G.calls.clear()
            D.calls.clear()
            try:
                out = _run(name, fn, G, D, opt_g, opt_d, x_real, y_real, z, y_fake)
            finally:
                for h in hooks:
                    h.remove()
            where = f"step {step + 1} (batch {batch}, {n_classes} classes)"
            if not G.calls:
                fail(name, f"{where}: G was never called; make the fakes with G(z, y_fake).")
            for zz, yy in G.calls:
                if torch.equal(yy, y_real):
                    fail(name, f"{where}: G was asked for the real batch's labels; generate the fakes for y_fake, the "
                               "labels they are meant to show.")
                if not torch.equal(yy, y_fake) or not torch.equal(zz, z):
                    fail(name, f"{where}: G should be called as G(z, y_fake), with the z and the y_fake given.")
            calls = []
            for xx, yy in D.calls:  # a joint batch (real and fake in one call) is read as its two halves
                if len(xx) == 2 * batch:
                    calls += [(xx[:batch], yy[:batch]), (xx[batch:], yy[batch:])]
                else:
                    calls.append((xx, yy))
            for xx, yy in calls:
                if torch.equal(xx, x_real) and not torch.equal(yy, y_real):
                    fail(name, f"{where}: D scored the real images under the wrong labels; real pairs are "
                               "(x_real, y_real).")
                if not torch.equal(xx, x_real) and not torch.equal(yy, y_fake):
                    fail(name, f"{where}: D scored the fakes under {'y_real' if torch.equal(yy, y_real) else 'other labels'}"
                               "; a fake is made for y_fake and must be judged as an image of y_fake.")
            if not any(torch.equal(xx, x_real) for xx, _ in calls):
                fail(name, f"{where}: D never scored the real batch.")
            if len(hits) > len(hooks):
                fail(name, f"{where}: G's weights received gradients from {len(hits) // len(hooks)} backward passes; "
                           "the D step must use fakes cut off from G (.detach()), so only the G step reaches G.")
            if not hits:
                fail(name, f"{where}: no gradient reached G; the G step scores G(z, y_fake), not detached, with D.")
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                fail(name, f"return the pair (loss_d, loss_g) as two floats; got {type(out).__name__}.")
            for what, v in zip(("loss_d", "loss_g"), out):
                if isinstance(v, torch.Tensor):
                    fail(name, f"{what} is a tensor; return floats (.item()), which keep no graph alive.")
                if not isinstance(v, float):
                    fail(name, f"{what} is a {type(v).__name__}; return floats (.item()).")
            expected = _cond_reference(*variants["ref"], x_real, y_real, z, y_fake)
            _cond_reference(*variants["no_zero_grad"], x_real, y_real, z, y_fake, zero_grad=False)
            _cond_reference(*variants["swap"], x_real, y_real, z, y_fake, swap=True)
            def same(player, other):
                return all(torch.allclose(p, q, atol=1e-5, rtol=1e-4) for p, q in zip(player.parameters(), other.parameters()))

            ref_G, ref_D = variants["ref"][0], variants["ref"][1]
            if not (same(G, ref_G) and same(D, ref_D)):
                if same(G, variants["no_zero_grad"][0]) and same(D, variants["no_zero_grad"][1]):
                    fail(name, f"{where}: the weights moved as if gradients piled up from step to step: call each "
                               "optimiser's zero_grad() before its backward().")
                if same(G, variants["swap"][0]) and same(D, variants["swap"][1]):
                    fail(name, f"{where}: the optimisers are swapped: opt_d steps after D's loss, opt_g after G's.")
                if not same(D, ref_D):
                    fail(name, f"{where}: D's weights differ from the reference after your step: D's loss is d_loss on "
                               "D(x_real, y_real) and D(fake, y_fake), then zero_grad, backward and step with opt_d.")
                fail(name, f"{where}: D's update is right, G's weights differ: G's loss is the non-saturating "
                           "g_loss_nonsaturating of D(G(z, y_fake), y_fake), computed after D's update, and only "
                           "opt_g steps.")
            for what, a, b in zip(("loss_d", "loss_g"), out, expected):
                if abs(a - b) > 1e-5 * max(1.0, abs(b)):
                    fail(name, f"{where}: {what} came out as {a:.5g}, expected {b:.5g}. Use d_loss on D's logits for "
                               "the real and the fake pairs, and g_loss_nonsaturating on D(G(z, y_fake), y_fake) "
                               "scored after D's update.")

            for a, b in ((G, variants["no_zero_grad"][0]), (D, variants["no_zero_grad"][1]),
                         (G, variants["swap"][0]), (D, variants["swap"][1])):
                with torch.no_grad():
                    for p, q in zip(b.parameters(), a.parameters()):
                        p.copy_(q)
    passed(name, "real pairs and fakes scored under their own labels, fakes detached for D, G through the updated D.")
