"""Exercise checkers: run a learner's function against the package's reference and say what differs.

Each ``check_*`` function takes the learner's function, calls it on fixed-seed random inputs and on
hand-picked edge cases, compares with the reference in the package, and either prints one line
saying what passed or raises ``AssertionError`` with what was given, what came back, and what was
expected. A stub that raises ``NotImplementedError`` is let through unchanged, so the learner sees
which function is still to write. Used by every exercise notebook.
"""

from __future__ import annotations

import numpy as np
import torch


class CheckFailed(AssertionError):
    """A learner's function disagreed with the reference."""


def _fmt(value) -> str:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.size > 6:
            return f"array of shape {value.shape}, first values {np.array2string(value.ravel()[:4], precision=4)}"
        return np.array2string(value, precision=6)
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def fail(check: str, message: str) -> None:
    """Raise :class:`CheckFailed` with the checker's name in front of the message."""
    raise CheckFailed(f"{check}: {message}")


def assert_close(check: str, what: str, got, expected, *, atol: float = 1e-6, rtol: float = 1e-6,
                 hint: str = "") -> None:
    """Fail unless ``got`` matches ``expected`` in shape and value (within atol + rtol * |expected|)."""
    if got is None:
        fail(check, f"{what}: your function returned None; did it forget a `return`?")
    g = got.detach().cpu().double().numpy() if isinstance(got, torch.Tensor) else np.asarray(got, dtype=np.float64)
    e = expected.detach().cpu().double().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected, dtype=np.float64)
    if g.shape != e.shape:
        fail(check, f"{what}: got shape {g.shape}, expected {e.shape}." + (f" {hint}" if hint else ""))
    if not np.all(np.isfinite(g)) and np.all(np.isfinite(e)):
        fail(check, f"{what}: got non-finite values ({_fmt(g)}); expected {_fmt(e)}." + (f" {hint}" if hint else ""))
    if not np.allclose(g, e, atol=atol, rtol=rtol):
        fail(check, f"{what}: got {_fmt(g)}, expected {_fmt(e)}." + (f" {hint}" if hint else ""))


def passed(check: str, detail: str) -> None:
    """Print the one line a learner sees when a check passes."""
    print(f"{check} passed: {detail}")


# --------------------------------------------------------------------------------------------
# Lecture 01: the losses of the original GAN and one training step
# --------------------------------------------------------------------------------------------


def _run(check: str, fn, *args, hint: str = ""):
    """Call the learner's function; a stub's NotImplementedError passes through, other errors are explained."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except Exception as err:  # the learner's code may fail in any way; say how, and what to try
        fail(check, f"your function raised {type(err).__name__}: {err}." + (f" {hint}" if hint else ""))


def _scalar(check: str, got, expected_fn_name: str) -> torch.Tensor:
    if got is None:
        fail(check, "your function returned None; did it forget a `return`?")
    if not isinstance(got, torch.Tensor):
        fail(check, f"return a torch scalar tensor (so that it can be backpropagated), got {type(got).__name__}.")
    if got.numel() != 1:
        fail(check, f"got a tensor of shape {tuple(got.shape)}; {expected_fn_name} is one number, the mean over "
                    "the batch (end with .mean()).")
    return got.reshape(())


_LOGIT_HINT = ("D returns logits s, not probabilities: log D = F.logsigmoid(s) and log(1 - D) = F.logsigmoid(-s), "
               "which stay finite at any logit.")


def _logit_batches(seed: int, n: int = 64):
    g = torch.Generator().manual_seed(seed)
    real = (torch.randn(n, generator=g) * 2 + 1).requires_grad_(True)
    fake = (torch.randn(n, generator=g) * 2 - 1).requires_grad_(True)
    return real, fake


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
        if not got.requires_grad:
            fail(name, "the loss carries no gradient: build it from the logits with torch operations "
                       "(no .item(), .detach() or NumPy), so that backward() reaches D.")
        g_got = torch.autograd.grad(got, (real, fake))
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
        if not got.requires_grad:
            fail(name, "the loss carries no gradient: build it from the logits with torch operations.")
        assert_close(name, "gradient with respect to the fake logits", torch.autograd.grad(got, fake)[0],
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
    opt_g = torch.optim.SGD(G.parameters(), lr=0.05)  # different rates, so that swapped optimisers show
    opt_d = torch.optim.SGD(D.parameters(), lr=0.2)
    return G, D, opt_g, opt_d


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


# --------------------------------------------------------------------------------------------
# Lecture 02: the optimal discriminator and the Jensen-Shannon divergence
# --------------------------------------------------------------------------------------------


def _number(check: str, got, what: str) -> float:
    if got is None:
        fail(check, f"{what}: your function returned None; did it forget a `return`?")
    try:
        return float(got)
    except (TypeError, ValueError):
        fail(check, f"{what}: return one number (a float); got {_fmt(got)}.")


def check_optimal_discriminator(fn) -> None:
    r"""Check ``fn(p_data, p_g)`` against :func:`gancourse.divergences.optimal_discriminator`.

    :math:`D^* = p_\text{data} / (p_\text{data} + p_G)` elementwise, 1/2 where both vanish. Lecture 02 exercise.
    """
    from gancourse.divergences import optimal_discriminator

    name = "check_optimal_discriminator"
    rng = np.random.default_rng(0)
    p, q = rng.random(20), rng.random(20)
    got = _run(name, fn, p, q)
    if got is not None and np.allclose(np.asarray(got, dtype=np.float64), q / (p + q)):
        fail(name, "got p_G / (p_data + p_G), the probability of *fake*; D* is the probability that x is real, "
                   "p_data / (p_data + p_G).")
    assert_close(name, "D* at 20 random density pairs", got, optimal_discriminator(p, q), atol=1e-12)
    x = np.linspace(-4, 4, 9)
    p = np.exp(-(x - 1) ** 2 / 2)
    assert_close(name, "D* where p_G = p_data", _run(name, fn, p, p.copy()), np.full(9, 0.5), atol=1e-12)
    p, q = np.array([0.0, 1.0, 2.0, 0.0]), np.array([0.0, 0.0, 2.0, 3.0])
    assert_close(name, "D* at p_data = [0, 1, 2, 0], p_G = [0, 0, 2, 3]", _run(name, fn, p, q),
                 np.array([0.5, 1.0, 0.5, 0.0]), atol=1e-12,
                 hint="Where both densities are 0, D* is undefined: return 1/2 there (np.divide with where=..., "
                      "or np.where), not nan.")
    passed(name, "D* = p_data / (p_data + p_G), 1 where only data lives, 0 where only fakes, 1/2 where neither.")


def check_jsd(fn) -> None:
    r"""Check ``fn(p, q)`` against :func:`gancourse.divergences.jsd` (nats, normalised inside, 0 log 0 = 0).

    Catches log base 2, unnormalised inputs, nan from 0 log 0, and a missing factor 1/2. Lecture 02 exercise.
    """
    from gancourse.divergences import LOG2, jsd

    name = "check_jsd"
    rng = np.random.default_rng(1)
    p, q = rng.random(12), rng.random(12)
    p, q = p / p.sum(), q / q.sum()
    got = _number(name, _run(name, fn, p, q), "JSD of two random distributions")
    expected = jsd(p, q)
    if np.isclose(got, expected / LOG2, rtol=1e-6):
        fail(name, "got the JSD in bits (log base 2); the course uses natural logs (np.log), so JSD <= log 2.")
    if np.isclose(got, 2 * expected, rtol=1e-6):
        fail(name, "got twice the JSD: it is the *mean* of the two KLs to the midpoint, 1/2 KL(p||m) + 1/2 KL(q||m).")
    assert_close(name, "JSD of two random normalised distributions", got, expected, atol=1e-10, rtol=1e-8)
    got = _number(name, _run(name, fn, 3 * p, 0.5 * q), "JSD of 3 p and q / 2")
    assert_close(name, "JSD of unnormalised weights 3 p and q / 2", got, expected, atol=1e-10, rtol=1e-8,
                 hint="Normalise inside: p = p / p.sum(), q = q / q.sum().")
    a, b = np.array([0.5, 0.5, 0.0, 0.0]), np.array([0.0, 0.2, 0.3, 0.5])
    got = _number(name, _run(name, fn, a, b), "JSD with zero weights")
    assert_close(name, "JSD of [0.5, 0.5, 0, 0] and [0, 0.2, 0.3, 0.5]", got, jsd(a, b), atol=1e-10,
                 hint="Terms with p_i = 0 contribute 0 (0 log 0 = 0): sum only where p_i > 0, e.g. with "
                      "np.where or scipy.special.xlogy.")
    got = _number(name, _run(name, fn, np.array([1.0, 0.0]), np.array([0.0, 1.0])), "JSD of disjoint supports")
    assert_close(name, "JSD of disjoint supports", got, LOG2, atol=1e-12)
    passed(name, f"JSD in nats, normalised inside, 0 log 0 = 0; disjoint supports give log 2 = {LOG2:.4f}.")
