"""Lecture 01 exercise checkers: the losses of the original GAN and one alternating training step."""

from __future__ import annotations

import numpy as np
import torch

from gancourse.checks._core import checker, _PlainSGD, _float_list, _fmt, _grads, _same_type, fail, assert_close, passed, _run, _scalar, _logit_batches


_LOGIT_HINT = ("D returns logits s, not probabilities: log D = F.logsigmoid(s) and log(1 - D) = F.logsigmoid(-s), "
               "which stay finite at any logit.")


@checker
def check_discriminator_loss(fn) -> None:
    r"""Check ``fn(real_logits, fake_logits)`` against :func:`gancourse.losses.d_loss`.

    :math:`L_D = -\mathbb{E}[\log\sigma(s_r)] - \mathbb{E}[\log\sigma(-s_f)]`, from logits, the mean over
    the batch, finite at logits of :math:`\pm 200`, with the right gradient. Lecture 01 exercise.
    """
    from gancourse.losses import d_loss

    name = "check_discriminator_loss"
    for seed in (0, 1):
        real, fake = _logit_batches(seed, n=64 if seed == 0 else 10)
        got = _scalar(name, _run(name, fn, real, fake, hint=_LOGIT_HINT), "the loss")
        expected = d_loss(real, fake)
        if not torch.isfinite(got):
            fail(name, f"got {got.item()} on ordinary logits. {_LOGIT_HINT}")
        if torch.allclose(got, -expected, atol=1e-5):
            fail(name, "got the value of the game V(D, G), not the loss: the discriminator maximises V, so its "
                       "loss to minimise is -V (a binary cross-entropy, positive).")
        if torch.allclose(got, expected * real.shape[0], atol=1e-4):
            fail(name, "got the sum over the batch; take the mean (.mean()), so the step size does not depend "
                       "on the batch size.")
        assert_close(name, f"loss on {real.shape[0]} random real and fake logits (seed {seed})", got, expected,
                     atol=1e-5, rtol=1e-5, hint=_LOGIT_HINT)
        per_input = _grads(name, got, {"real logits": real, "fake logits": fake})
        g_got = (per_input["real logits"], per_input["fake logits"])
        g_exp = torch.autograd.grad(expected, (real, fake))
        for what, a, b in zip(("real", "fake"), g_got, g_exp):
            assert_close(name, f"gradient with respect to the {what} logits", a, b, atol=1e-6, rtol=1e-5)
    real = torch.tensor([-200.0, 3.0, 0.0])
    fake = torch.tensor([200.0, -3.0, 0.0])
    got = _scalar(name, _run(name, fn, real, fake, hint=_LOGIT_HINT), "the loss")
    assert_close(name, "loss at logits of +-200 (a very confident, very wrong D)", got, d_loss(real, fake),
                 atol=1e-3, rtol=1e-5, hint="log(sigmoid(s)) overflows to -inf (or is clamped) at large |s|. "
                 + _LOGIT_HINT)
    passed(name, "binary cross-entropy from logits, mean over the batch, finite at logits of +-200.")


@checker
def check_generator_loss(fn) -> None:
    r"""Check ``fn(fake_logits)`` against the non-saturating :func:`gancourse.losses.g_loss_nonsaturating`.

    :math:`L_G = -\mathbb{E}[\log\sigma(s_f)]`; catches the saturating form, the wrong sign,
    probabilities in place of logits and an unstable log. Lecture 01 exercise.
    """
    from gancourse.losses import g_loss_nonsaturating, g_loss_saturating

    name = "check_generator_loss"
    for seed in (2, 3):
        _, fake = _logit_batches(seed, n=64 if seed == 2 else 10)
        got = _scalar(name, _run(name, fn, fake, hint=_LOGIT_HINT), "the loss")
        expected = g_loss_nonsaturating(fake)
        if not torch.isfinite(got):
            fail(name, f"got {got.item()} on ordinary logits. {_LOGIT_HINT}")
        if torch.allclose(got, g_loss_saturating(fake), atol=1e-5):
            fail(name, "this is the saturating loss E[log(1 - D(G(z)))], whose gradient vanishes when D rejects "
                       "the fakes; write the non-saturating -E[log D(G(z))] = -F.logsigmoid(s).mean().")
        if torch.allclose(got, -expected, atol=1e-5):
            fail(name, "wrong sign: the generator minimises -E[log D(G(z))] (it wants D to call its samples real).")
        if torch.allclose(got, -g_loss_saturating(fake), atol=1e-5):
            fail(name, "got -E[log(1 - D(G(z)))]: minimising it pushes D(G(z)) towards 0, the discriminator's "
                       "goal. The generator minimises -E[log D(G(z))].")
        if torch.allclose(got, expected * fake.shape[0], atol=1e-4):
            fail(name, "got the sum over the batch; take the mean (.mean()).")
        assert_close(name, f"loss on {fake.shape[0]} random fake logits (seed {seed})", got, expected,
                     atol=1e-5, rtol=1e-5, hint=_LOGIT_HINT)
        assert_close(name, "gradient with respect to the fake logits", _grads(name, got, {"fake logits": fake})["fake logits"],
                     torch.autograd.grad(expected, fake)[0], atol=1e-6, rtol=1e-5)
    fake = torch.tensor([-200.0, 200.0, 0.0])
    got = _scalar(name, _run(name, fn, fake, hint=_LOGIT_HINT), "the loss")
    assert_close(name, "loss at logits of +-200", got, g_loss_nonsaturating(fake), atol=1e-3, rtol=1e-5,
                 hint="log(sigmoid(s)) is -inf (or clamped) at s = -200. " + _LOGIT_HINT)
    s = torch.tensor([np.log(0.01 / 0.99)], requires_grad=True)  # D(G(z)) = 0.01
    grad = torch.autograd.grad(_run(name, fn, s).reshape(()), s)[0].item()
    passed(name, f"non-saturating -E[log D(G(z))]; its gradient at D(G(z)) = 0.01 is {grad:.2f} per logit.")


def _reference_train_step(G, D, opt_g, opt_d, x_real, z):
    """One alternating step (the lecture 01 loop): D on real and detached fakes, then G through D."""
    from gancourse.losses import d_loss, g_loss_nonsaturating

    x_fake = G(z).detach()
    loss_d = d_loss(D(x_real), D(x_fake))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = g_loss_nonsaturating(D(G(z)))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def _toy_game(seed: int):
    from gancourse.toy import Discriminator, Generator

    torch.manual_seed(seed)
    G = Generator(z_dim=2, data_dim=1, hidden=(8,))
    D = Discriminator(data_dim=1, hidden=(8,))
    opt_g = _PlainSGD(G.parameters(), lr=0.05)  # different rates, so that swapped optimisers show
    opt_d = _PlainSGD(D.parameters(), lr=0.2)
    return G, D, opt_g, opt_d


@checker
def check_train_step(fn) -> None:
    """Check ``fn(G, D, opt_g, opt_d, x_real, z) -> (loss_d, loss_g)``, one alternating step, against the reference.

    Runs three steps on a small game and compares both players' weights after each; catches a D
    step that sends gradient into G (a missing ``.detach()``), swapped optimisers, a missing
    ``zero_grad`` and the wrong losses. Lecture 01 exercise.
    """
    from gancourse.data import BimodalGaussian1D

    name = "check_train_step"
    data = BimodalGaussian1D()
    G, D, opt_g, opt_d = _toy_game(0)
    G_ref, D_ref, opt_g_ref, opt_d_ref = _toy_game(0)
    g = torch.Generator().manual_seed(0)
    for step in range(3):
        x_real = data.sample(32, generator=g)  # (32, 1)
        z = torch.randn(32, 2, generator=g)  # (32, 2)
        hits = []
        hooks = [p.register_hook(lambda grad: hits.append(1)) for p in G.parameters()]
        try:
            out = _run(name, fn, G, D, opt_g, opt_d, x_real, z)
        finally:
            for h in hooks:
                h.remove()
        expected = _reference_train_step(G_ref, D_ref, opt_g_ref, opt_d_ref, x_real, z)
        if len(hits) > len(hooks):
            fail(name, f"step {step}: G's weights received gradients from {len(hits) // len(hooks)} backward "
                       "passes; they should receive one (from the G loss). The D step must use fakes cut off "
                       "from G: x_fake = G(z).detach().")
        if len(hits) == 0:
            fail(name, f"step {step}: no gradient reached G; the G step must score G(z) (not detached) with D.")
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            fail(name, f"return the pair (loss_d, loss_g); got {_fmt(out)}.")
        for who, mine, ref in (("D", D, D_ref), ("G", G, G_ref)):
            if who == "G":  # D's weights agree: now the losses, then G's weights
                for what, a, b in zip(("D loss", "G loss"), out, expected):
                    a = a.item() if isinstance(a, torch.Tensor) else a
                    assert_close(name, f"step {step}: returned {what}", a, b, atol=1e-5, rtol=1e-5,
                                 hint="Use losses.d_loss on D(x_real), D(x_fake) and losses.g_loss_nonsaturating on "
                                      "D(G(z)), with the z you were given.")
            for (pname, p), p_ref in zip(mine.named_parameters(), ref.parameters()):
                assert_close(name, f"step {step}: {who}'s weight {pname} after your step", p, p_ref, atol=1e-5,
                             rtol=1e-4, hint=f"Update D with opt_d right after the D loss and G with opt_g after "
                                             f"the G loss (not the other way round), each after its own "
                                             f"zero_grad(); D steps first, then G is scored by the updated D.")
    passed(name, "three alternating steps match the reference: D on detached fakes, then G through D.")


class _SpyStep:
    """Stands in for the learner's ``train_step``: records every call and returns known, distinct losses."""

    def __init__(self):
        self.calls = []

    def __call__(self, *args):
        self.calls.append(args)
        k = len(self.calls)
        return 0.5 + 0.01 * k, 2.0 + 0.1 * k  # (loss_d, loss_g), different at every step and between the two


class _SpySampler:
    """Stands in for the data's ``sample``: records the batch sizes asked for and the batches returned."""

    def __init__(self, seed: int):
        self.sizes, self.batches = [], []
        self.g = torch.Generator().manual_seed(seed)

    def __call__(self, n, *args, **kwargs):
        self.sizes.append(n)
        x = torch.randn(int(n), 1, generator=self.g) + 2.0  # (n, 1)
        self.batches.append(x)
        return x


@checker
def check_train_loop(fn) -> None:
    """Check ``fn(step, G, D, opt_g, opt_d, sample_real, num_steps, batch_size, z_dim) -> (losses_d, losses_g)``.

    Runs the loop with a recording ``step`` and a recording sampler, for several ``num_steps``
    (including 1 and an odd number) and irregular batch and noise sizes, and checks piece by piece:
    ``step`` called once per training step with the players and optimisers in their places, a fresh
    real batch of ``batch_size`` and fresh standard normal noise of shape (batch_size, z_dim) at every
    step, and the two lists of floats returned in order. Lecture 01 exercise.
    """
    from gancourse.toy import Discriminator, Generator

    name = "check_train_loop"
    G, D = Generator(z_dim=3, data_dim=1, hidden=(4,)), Discriminator(data_dim=1, hidden=(4,))
    opt_g, opt_d = _PlainSGD(G.parameters(), lr=0.1), _PlainSGD(D.parameters(), lr=0.1)
    all_z = []
    for num_steps, batch_size, z_dim in ((7, 37, 3), (1, 8, 5), (12, 50, 2)):
        step, sampler = _SpyStep(), _SpySampler(num_steps)
        where = f"with num_steps={num_steps}, batch_size={batch_size}, z_dim={z_dim}"
        out = _run(name, fn, step, G, D, opt_g, opt_d, sampler, num_steps, batch_size, z_dim)
        if not step.calls:
            fail(name, f"{where}: the step you were given (the argument `step`) was never called. Call step(...) "
                       "inside the loop, not train_step by its name, so the loop works with any step function.")
        if len(step.calls) != num_steps:
            fail(name, f"{where}: the step ran {len(step.calls)} times, expected {num_steps}: one step per pass, "
                       "num_steps passes (an off-by-one in the range?).")
        for k, args in enumerate(step.calls):
            if len(args) != 6:
                fail(name, f"{where}: step was called with {len(args)} arguments; it takes six: "
                           "(G, D, opt_g, opt_d, x_real, z).")
            for i, (obj, what) in enumerate(((G, "G"), (D, "D"), (opt_g, "opt_g"), (opt_d, "opt_d"))):
                if args[i] is not obj:
                    fail(name, f"{where}: argument {i + 1} of step should be {what}; check the order "
                               "step(G, D, opt_g, opt_d, x_real, z).")
        if len(sampler.sizes) != num_steps:
            fail(name, f"{where}: the real data were sampled {len(sampler.sizes)} times; draw a fresh real batch "
                       "at every step (inside the loop), not once for the whole run.")
        if any(int(n) != batch_size for n in sampler.sizes):
            fail(name, f"{where}: real batches of sizes {sorted(set(int(n) for n in sampler.sizes))}; ask "
                       "sample_real for batch_size points.")
        for k, args in enumerate(step.calls):
            x_real, z = args[4], args[5]
            if x_real is not sampler.batches[k]:
                fail(name, f"{where}: step {k} was not given the real batch drawn for it; pass the batch that "
                           "sample_real(batch_size) returned at this step.")
            if not isinstance(z, torch.Tensor) or tuple(z.shape) != (batch_size, z_dim):
                got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
                fail(name, f"{where}: the noise z has shape {got}, expected (batch_size, z_dim) = "
                           f"({batch_size}, {z_dim}): one row of z_dim numbers per sample.")
            if not z.is_floating_point():
                fail(name, f"{where}: z has dtype {z.dtype}; draw it as floats from a standard normal.")
            if k > 0 and torch.equal(z, step.calls[k - 1][5]):
                fail(name, f"{where}: steps {k - 1} and {k} got the same z; draw fresh noise at every step.")
            all_z.append(z.detach().reshape(-1))
        if out is None:
            fail(name, "your loop returned None; return the two lists (losses_d, losses_g).")
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            fail(name, f"return two lists, (losses_d, losses_g); got {_fmt(out)}.")
        losses_d, losses_g = out
        expected_d = [0.5 + 0.01 * (k + 1) for k in range(num_steps)]
        expected_g = [2.0 + 0.1 * (k + 1) for k in range(num_steps)]
        for what, got, exp in (("losses_d", losses_d, expected_d), ("losses_g", losses_g, expected_g)):
            _float_list(name, what, got, num_steps, where)
        if [round(v, 9) for v in losses_d] == [round(v, 9) for v in expected_g]:
            fail(name, "losses_d and losses_g are swapped: step returns (loss_d, loss_g), in that order.")
        for what, got, exp in (("losses_d", losses_d, expected_d), ("losses_g", losses_g, expected_g)):
            if any(abs(a - b) > 1e-9 for a, b in zip(got, exp)):
                fail(name, f"{where}: {what} does not hold the losses step returned, in order, one per step.")
    z = torch.cat(all_z)
    if abs(float(z.mean())) > 0.2 or abs(float(z.std()) - 1) > 0.2:
        fail(name, f"the noise has mean {float(z.mean()):.2f} and std {float(z.std()):.2f}; draw z from a standard "
                   "normal (torch.randn), mean 0 and std 1, as the generator was built for.")
    passed(name, "one step per pass with fresh real data and fresh N(0, I) noise, losses returned in order.")
