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


class _PlainSGD:
    """Plain gradient descent with the two methods a training step calls (``zero_grad``, ``step``).

    Behaves as ``torch.optim.SGD`` without momentum; used by the checkers so that a solution notebook
    does not pay for importing torch.optim's compiler machinery on a slow machine.
    """

    def __init__(self, params, lr: float):
        self.params, self.lr = list(params), lr

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        for p in self.params:
            if p.grad is not None:
                p.add_(p.grad, alpha=-self.lr)


def _toy_game(seed: int):
    from gancourse.toy import Discriminator, Generator

    torch.manual_seed(seed)
    G = Generator(z_dim=2, data_dim=1, hidden=(8,))
    D = Discriminator(data_dim=1, hidden=(8,))
    opt_g = _PlainSGD(G.parameters(), lr=0.05)  # different rates, so that swapped optimisers show
    opt_d = _PlainSGD(D.parameters(), lr=0.2)
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


# --------------------------------------------------------------------------------------------
# Lecture 08: AdaIN, pixel norm and the mapping network
# --------------------------------------------------------------------------------------------


def _matches(got, candidate, atol: float = 1e-4) -> bool:
    """Whether the learner's output equals a known mistake's output (same shape, close values)."""
    if not isinstance(got, torch.Tensor) or got.shape != candidate.shape:
        return False
    got, candidate = got.detach().double(), candidate.detach().double()
    return bool(torch.isfinite(got).all()) and torch.allclose(got, candidate, atol=atol, rtol=1e-4)


def _diagnose(check: str, got, what: str, mistakes: list) -> None:
    """Fail with the hint of the first ``(output, hint)`` in ``mistakes`` that the learner's output matches."""
    for candidate, hint in mistakes:
        if _matches(got, candidate):
            fail(check, f"{what}: {hint}")


def _tensor(check: str, got, shape: tuple, what: str) -> torch.Tensor:
    if got is None:
        fail(check, "your function returned None; did it forget a `return`?")
    if not isinstance(got, torch.Tensor):
        fail(check, f"return a torch tensor, got {type(got).__name__}.")
    if tuple(got.shape) != tuple(shape):
        fail(check, f"{what}: got shape {tuple(got.shape)}, expected {tuple(shape)}.")
    return got


def _adain_variant(x, scale, bias, eps, dims=(2, 3), unbiased=False, eps_inside=True):
    mu = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=unbiased, keepdim=True)
    x_norm = (x - mu) / (torch.sqrt(var + eps) if eps_inside else torch.sqrt(var) + eps)
    return scale[:, :, None, None] * x_norm + bias[:, :, None, None]


def check_adain(fn) -> None:
    r"""Check ``fn(x, scale, bias, eps=1e-5)`` against :func:`gancourse.stylegan.adain`.

    .. math:: \operatorname{AdaIN}(x_i, y) = y_{s,i}\,(x_i - \mu(x_i)) / \sqrt{\sigma^2(x_i) + \epsilon} + y_{b,i}

    with :math:`\mu, \sigma^2` per sample and channel over H x W (the biased variance). Catches
    statistics over the batch, over the channels or over one spatial axis only, the unbiased
    variance, a missing or misplaced :math:`\epsilon`, an ignored ``eps`` argument, and scale and
    bias swapped. Lecture 08 exercise.
    """
    from gancourse.stylegan import adain as reference

    name = "check_adain"
    g = torch.Generator().manual_seed(8)
    b, c, h, w = 3, 4, 5, 6  # H != W, so that one spatial axis alone is caught
    x = torch.randn(b, c, h, w, generator=g) * (1 + torch.rand(b, c, 1, 1, generator=g) * 2) \
        + torch.randn(b, c, 1, 1, generator=g)  # (B, C, H, W), each channel its own mean and std
    scale = torch.rand(b, c, generator=g) + 0.5
    bias = torch.randn(b, c, generator=g)
    got = _tensor(name, _run(name, fn, x.clone(), scale, bias), (b, c, h, w), "output for x of shape (3, 4, 5, 6)")
    expected = reference(x, scale, bias)
    _diagnose(name, got, "on random feature maps", [
        (_adain_variant(x, bias, scale, 1e-5),
         "scale and bias are swapped: the style's scale y_s multiplies the normalised map, its bias y_b is added."),
        (_adain_variant(x, scale, bias, 1e-5, dims=(0, 2, 3)),
         "you normalised over the batch (dims 0, 2, 3, like batch norm). AdaIN is an instance norm: the mean "
         "and std of each sample's own channel, over its H x W positions (dims 2, 3, keepdim=True)."),
        (_adain_variant(x, scale, bias, 1e-5, dims=(1,)),
         "you normalised over the channels (dim 1). AdaIN takes the statistics of each channel over its spatial "
         "positions (dims 2, 3), then gives that channel the style's mean and std."),
        (_adain_variant(x, scale, bias, 1e-5, dims=(1, 2, 3)),
         "you normalised over channels and positions together (a layer norm). AdaIN needs one mean and one std "
         "per channel: reduce over dims (2, 3) only."),
        (_adain_variant(x, scale, bias, 1e-5, dims=(2,)),
         "you reduced over H only; the statistics are over all H x W positions: dims (2, 3)."),
        (_adain_variant(x, scale, bias, 1e-5, dims=(3,)),
         "you reduced over W only; the statistics are over all H x W positions: dims (2, 3)."),
        (_adain_variant(x, scale, bias, 1e-5, unbiased=True),
         "you used the unbiased variance (divided by HW - 1); instance norm uses the biased one: "
         "x.var(dim=(2, 3), unbiased=False, keepdim=True)."),
    ])
    assert_close(name, "output on random feature maps", got, expected, atol=1e-5, rtol=1e-4,
                 hint="The output's channel i should have mean bias[:, i] and std scale[:, i].")

    # A nearly constant channel and an exactly constant one: here eps decides the answer.
    x2 = x.clone()
    x2[:, 0] = 1e-3 * torch.randn(b, h, w, generator=g) + 2.0  # variance about 1e-6, well below eps
    x2[:, 1] = 3.0  # variance 0
    got = _tensor(name, _run(name, fn, x2.clone(), scale, bias), (b, c, h, w), "output")
    expected = reference(x2, scale, bias)
    if not torch.isfinite(got).all():
        fail(name, "a constant channel (variance 0) gave inf or nan: add eps to the variance before the square "
                   "root, (x - mu) / sqrt(var + eps).")
    _diagnose(name, got, "on a channel whose variance (1e-6) is below eps", [
        (_adain_variant(x2, scale, bias, 1e-5, eps_inside=False),
         "eps is added to the std; it belongs inside the square root: (x - mu) / sqrt(var + eps)."),
        (_adain_variant(x2, scale, bias, 0.0),
         "eps seems to be missing: with a variance of 1e-6, sqrt(var + eps) is about three times sqrt(var)."),
    ])
    assert_close(name, "output where one channel is nearly constant and one exactly constant", got, expected,
                 atol=1e-4, rtol=1e-4, hint="Compute (x - mu) / sqrt(var + eps) with the biased variance.")

    got = _tensor(name, _run(name, fn, x.clone(), scale, bias, 0.5), (b, c, h, w), "output with eps=0.5")
    assert_close(name, "output with eps=0.5", got, reference(x, scale, bias, eps=0.5), atol=1e-5, rtol=1e-4,
                 hint="Use the eps argument, not a number written into the function.")
    passed(name, "each sample's channels get mean y_b and std y_s, statistics over H x W, eps inside the root.")


def check_pixel_norm(fn) -> None:
    r"""Check ``fn(z)`` against :func:`gancourse.stylegan.pixel_norm`: :math:`z / \sqrt{\frac1Z\sum_j z_j^2 + \epsilon}`.

    Catches a norm over the batch, a unit length instead of a unit root-mean-square, and a missing
    :math:`\epsilon` (a zero vector must stay finite). Lecture 08 exercise.
    """
    from gancourse.stylegan import pixel_norm as reference

    name = "check_pixel_norm"
    g = torch.Generator().manual_seed(8)
    z = torch.randn(6, 10, generator=g) * torch.tensor([0.1, 1, 2, 5, 1, 3])[:, None]  # (B, Z), various lengths
    got = _tensor(name, _run(name, fn, z.clone()), (6, 10), "output for z of shape (6, 10)")
    _diagnose(name, got, "on random latents", [
        (z / z.norm(dim=1, keepdim=True),
         "each row has length 1; pixel norm gives unit root-mean-square (length sqrt(Z)): divide by "
         "sqrt(mean of squares), z.pow(2).mean(dim=1, keepdim=True), not by the norm."),
        (z * torch.rsqrt(z.pow(2).mean(dim=0, keepdim=True) + 1e-8),
         "you averaged over the batch (dim 0); pixel norm scales each latent vector by its own size: dim=1."),
        (z, "the output equals the input: divide each z by sqrt(mean(z**2) + eps)."),
    ])
    assert_close(name, "output on random latents", got, reference(z), atol=1e-5, rtol=1e-5,
                 hint="z / sqrt(mean over dim 1 of z**2, keepdim=True, + eps).")
    zero = torch.zeros(2, 10)
    got = _tensor(name, _run(name, fn, zero), (2, 10), "output for z = 0")
    if not torch.isfinite(got).all():
        fail(name, "a zero latent gave nan: add eps (1e-8) under the square root.")
    assert_close(name, "output for z = 0", got, zero)
    passed(name, "every latent scaled to unit root-mean-square, per sample, finite at z = 0.")


def check_mapping_network(fn) -> None:
    r"""Check ``fn(z, layers)`` against :class:`gancourse.stylegan.MappingNetwork`.

    .. math:: h_0 = \operatorname{pixelnorm}(z), \quad h_{k+1} = \sqrt 2\,\operatorname{lrelu}_{0.2}(\text{layers}[k](h_k)),
              \quad w = h_n

    ``layers`` is the reference's ``nn.ModuleList`` of linear layers. Catches a missing pixel norm
    of z (w must not change when z is scaled), a pixel norm over the batch, ReLU instead of leaky
    ReLU, a missing gain :math:`\sqrt 2`, and no activation after the last layer. Lecture 08 exercise.
    """
    from gancourse.stylegan import MappingNetwork, lrelu, pixel_norm

    name = "check_mapping_network"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(8)
        f = MappingNetwork(z_dim=8, w_dim=6, n_layers=4, hidden_dim=10, lr_mul=1.0)
        with torch.no_grad():
            for layer in f.layers:
                layer.bias.normal_(0, 0.5)  # non-zero biases, so that every step shows
    g = torch.Generator().manual_seed(80)
    z = torch.randn(5, 8, generator=g) * torch.tensor([0.2, 1, 3, 1, 2])[:, None]  # (B, Z), various lengths
    with torch.no_grad():
        expected = f(z)
        got = _tensor(name, _run(name, fn, z.clone(), f.layers), (5, 6), "w for z of shape (5, 8)")

        def variant(norm=pixel_norm, act=lrelu, last=True):
            h = norm(z)
            for k, layer in enumerate(f.layers):
                h = layer(h)
                if last or k < len(f.layers) - 1:
                    h = act(h)
            return h

        _diagnose(name, got, "w on random latents", [
            (variant(norm=lambda v: v),
             "z goes into the first layer without pixel norm: normalise it first, z / sqrt(mean(z**2, dim=1) + eps), "
             "so that only its direction matters."),
            (variant(norm=lambda v: v * torch.rsqrt(v.pow(2).mean(dim=0, keepdim=True) + 1e-8)),
             "the pixel norm averages over the batch; it normalises each latent by itself (dim=1)."),
            (variant(norm=lambda v: v / v.norm(dim=1, keepdim=True)),
             "z is scaled to length 1; pixel norm gives unit root-mean-square (length sqrt(Z))."),
            (variant(act=lambda v: torch.relu(v) * 2**0.5),
             "ReLU instead of leaky ReLU: use F.leaky_relu(h, 0.2) * sqrt(2)."),
            (variant(act=lambda v: torch.nn.functional.leaky_relu(v, 0.2)),
             "the gain sqrt(2) after each leaky ReLU is missing (it keeps the activations' variance near 1)."),
            (variant(last=False),
             "the last layer has no activation; in StyleGAN every layer of the mapping network, the last one too, "
             "is followed by sqrt(2) * leaky ReLU."),
        ])
        assert_close(name, "w on random latents", got, expected, atol=1e-5, rtol=1e-4,
                     hint="pixel norm, then for each layer: h = sqrt(2) * leaky_relu(layer(h), 0.2).")
        scaled = _tensor(name, _run(name, fn, 7.0 * z, f.layers), (5, 6), "w for 7 z")
        assert_close(name, "w for 7 z (pixel norm makes the length of z irrelevant)", scaled, expected,
                     atol=1e-5, rtol=1e-4)
    passed(name, "pixel norm of z, then sqrt(2) * leaky ReLU(0.2) after each of the 4 layers; w ignores |z|.")


# --------------------------------------------------------------------------------------------
# Lectures 06-07: power iteration, the projection discriminator
# --------------------------------------------------------------------------------------------

_POWER_HINT = ("Each step: v = normalize(W^T u), then u = normalize(W v); after the loop v = normalize(W^T u) "
               "once more, and sigma = u^T W v.")


def _triple(check: str, got, m: int, n: int):
    if got is None:
        fail(check, "your function returned None; return (sigma, u, v).")
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        fail(check, f"return three things, (sigma, u, v); got {type(got).__name__}"
                    + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "") + ".")
    sigma, u, v = (torch.as_tensor(t) for t in got)
    if sigma.numel() != 1:
        fail(check, f"sigma must be one number, got shape {tuple(sigma.shape)}.")
    for what, vec, size in (("u", u, m), ("v", v, n)):
        if vec.shape != (size,):
            fail(check, f"{what} has shape {tuple(vec.shape)}, expected ({size},) for W of shape ({m}, {n}). "
                        + _POWER_HINT)
    return sigma.reshape(()), u, v


def check_power_iteration(fn) -> None:
    r"""Check ``fn(W, u, n_iter) -> (sigma, u, v)`` against :func:`gancourse.spectral.power_iteration`.

    Compares step for step on random non-square and square matrices, checks the converged sigma
    against an SVD, and runs matrices scaled by :math:`10^{\pm 12}` in float32, where vectors that
    are not normalised at every step overflow or vanish. Catches the Frobenius norm, a missing
    normalisation, and :math:`W` in place of :math:`W^\top`. Lecture 06 exercise.
    """
    from gancourse.spectral import power_iteration

    name = "check_power_iteration"
    g = torch.Generator().manual_seed(6)
    for m, n in ((7, 12), (12, 7), (9, 9)):
        W = torch.randn(m, n, generator=g, dtype=torch.float64)
        u0 = torch.nn.functional.normalize(torch.randn(m, generator=g, dtype=torch.float64), dim=0)
        for n_iter in (1, 3):
            sigma, u, v = _triple(name, _run(name, fn, W.clone(), u0.clone(), n_iter, hint=_POWER_HINT), m, n)
            ref_sigma, ref_u, ref_v = power_iteration(W, u0, n_iter)
            if abs(float(sigma) - float(torch.linalg.matrix_norm(W, ord="fro"))) < 1e-6:
                fail(name, "sigma is the Frobenius norm sqrt(sum W_ij^2), the root of the sum of *all* squared "
                           "singular values; the spectral norm is the largest one alone. " + _POWER_HINT)
            for what, a, b in (("u", u, ref_u), ("v", v, ref_v)):
                if abs(float(a.norm()) - 1) > 1e-6:
                    fail(name, f"{what} has norm {float(a.norm()):.4g} after {n_iter} step(s) on a ({m}, {n}) W; "
                               "normalise u and v to unit length at every step. " + _POWER_HINT)
            where = f"({m}, {n}) W after {n_iter} step(s)"
            assert_close(name, f"u for a {where}", u, ref_u, atol=1e-8, rtol=1e-6, hint=_POWER_HINT)
            assert_close(name, f"v for a {where}", v, ref_v, atol=1e-8, rtol=1e-6, hint=_POWER_HINT)
            assert_close(name, f"sigma for a {where}", sigma, ref_sigma, atol=1e-8, rtol=1e-6, hint=_POWER_HINT)
        sigma, _, _ = _triple(name, _run(name, fn, W.clone(), u0.clone(), 300, hint=_POWER_HINT), m, n)
        if not torch.isfinite(sigma):
            fail(name, f"after 300 steps on a ({m}, {n}) W got sigma = {float(sigma)}: vectors that are not "
                       "normalised at every step grow (or shrink) by sigma^2 per step and leave float range.")
        assert_close(name, f"sigma after 300 steps on a ({m}, {n}) W, against the SVD", sigma,
                     torch.linalg.matrix_norm(W, ord=2), atol=1e-6, rtol=1e-6, hint=_POWER_HINT)
    for scale in (1e12, 1e-12):
        W = torch.randn(10, 6, generator=g) * scale  # float32
        u0 = torch.nn.functional.normalize(torch.randn(10, generator=g), dim=0)
        sigma, u, v = _triple(name, _run(name, fn, W.clone(), u0.clone(), 10, hint=_POWER_HINT), 10, 6)
        ref_sigma, _, _ = power_iteration(W, u0, 10)
        if not torch.isfinite(sigma) or not (torch.isfinite(u).all() and torch.isfinite(v).all()) or float(sigma) == 0:
            fail(name, f"on a float32 W with entries of size {scale:g}, got sigma = {float(sigma):.4g}: vectors that "
                       "are normalised only at the end grow (or shrink) by sigma^2 per step and leave float range. "
                       "Normalise u and v at every step.")
        assert_close(name, f"sigma on a float32 W with entries of size {scale:g}", sigma, ref_sigma,
                     atol=0.0, rtol=1e-4, hint=_POWER_HINT)
    passed(name, "step for step equal to the reference, and within 1e-6 of the SVD after 300 steps.")


_PROJECTION_HINT = ("D(x, y) = psi(phi(x)) + <embed(y), phi(x)>: psi(features) has shape (B, 1), squeeze it to (B,); "
                    "the inner product is (embed(y) * features).sum(dim=1), one number per sample (a sum over dim=0 "
                    "would run over the batch).")


def check_projection_score(fn) -> None:
    r"""Check ``fn(features, y, psi, embed) -> (B,)`` against :func:`gancourse.conditional.projection_score`.

    :math:`D(x, y) = \psi(\phi(x)) + \langle e(y), \phi(x) \rangle`, one score per sample. Runs
    batches of size different from and equal to the feature size (so that a sum over the batch
    keeps the right shape), and isolates each term by zeroing the other. Lecture 07 exercise.
    """
    from gancourse.conditional import projection_score

    name = "check_projection_score"
    g = torch.Generator().manual_seed(7)
    for B, F_, K in ((5, 8, 3), (6, 6, 4)):
        with torch.random.fork_rng(devices=[]):  # the learner's random stream does not move
            torch.manual_seed(B)
            psi, embed = torch.nn.Linear(F_, 1), torch.nn.Embedding(K, F_)
        features = torch.randn(B, F_, generator=g)
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
    passed(name, "psi(phi(x)) + <embed(y), phi(x)>, one score per sample.")


# --------------------------------------------------------------------------------------------
# Lecture 04: mode coverage
# --------------------------------------------------------------------------------------------


def _coverage_triple(check: str, got, what: str):
    if got is None:
        fail(check, f"{what}: your function returned None; did it forget a `return`?")
    try:
        modes, high_quality, counts = got
    except (TypeError, ValueError):
        fail(check, f"{what}: return three things, (modes, high_quality, counts); got {_fmt(got)}.")
    return modes, high_quality, np.asarray(counts)


def check_mode_coverage(fn) -> None:
    r"""Check ``fn(samples, centers, std)`` against :func:`gancourse.metrics.mode_coverage`.

    The learner returns ``(modes, high_quality, counts)``. Catches counting every sample instead of
    the high-quality ones, a radius of one std instead of three, a threshold relative to the
    high-quality samples instead of all samples, and ``>`` in place of ``>=``. Lecture 04 exercise.
    """
    from gancourse.data import Ring2D
    from gancourse.metrics import mode_coverage

    name = "check_mode_coverage"
    ring = Ring2D(std=0.05)
    g = torch.Generator().manual_seed(4)
    cases = {
        "2,000 samples of the ring itself": ring.sample(2000, generator=g),
        "1,000 samples of one mode": torch.as_tensor(ring.centers[2], dtype=torch.float32) + 0.05 * torch.randn(1000, 2, generator=g),
        "500 samples in the ring's hole": 0.3 * torch.randn(500, 2, generator=g),
        # 1,000 samples: modes 0, 1 and 3 hit by 93 each, mode 6 by exactly 10 (1 %), mode 4 by 5 samples at
        # 2 std (covered only if the threshold were 1 % of the high-quality samples), 706 between the modes
        "a hand-made case": torch.cat([
            torch.as_tensor(ring.centers[[0, 1, 3]], dtype=torch.float32).repeat_interleave(93, 0),
            torch.as_tensor(ring.centers[6], dtype=torch.float32).expand(10, 2),
            torch.as_tensor(ring.centers[4] + [0.0, 0.1], dtype=torch.float32).expand(5, 2),
            torch.rand(706, 1, generator=g) * torch.tensor([1.0, 1.0]),  # on the diagonal, far from every centre
        ]),
    }
    for what, x in cases.items():
        ref = mode_coverage(x, ring.centers, ring.std)
        modes, hq, counts = _coverage_triple(name, _run(name, fn, x, ring.centers, ring.std), what)
        if counts.shape != ref.counts.shape:
            fail(name, f"{what}: counts has shape {counts.shape}, expected one count per mode {ref.counts.shape} "
                       "(np.bincount(..., minlength=len(centers))).")
        d = torch.cdist(x.double(), torch.as_tensor(ring.centers))  # (N, M)
        every = np.bincount(d.argmin(1).numpy(), minlength=8)
        if not np.array_equal(counts, ref.counts) and np.array_equal(counts, every):
            fail(name, f"{what}: your counts include every sample nearest to a mode; count only the high-quality "
                       "ones (within 3 std of their nearest centre).")
        one_std = np.bincount(d.argmin(1)[d.min(1).values <= ring.std].numpy(), minlength=8)
        if not np.array_equal(counts, ref.counts) and np.array_equal(counts, one_std):
            fail(name, f"{what}: a sample is high quality within 3 std (n_std * std) of its nearest centre, "
                       "not within 1 std.")
        assert_close(name, f"{what}: high-quality counts per mode", counts, ref.counts, atol=0)
        assert_close(name, f"{what}: high-quality fraction", hq, ref.high_quality, atol=1e-9,
                     hint="The fraction is over all N samples: good.mean().")
        if int(modes) != ref.modes:
            hint = ""
            if what == "a hand-made case":
                hint = (" Here mode 6 holds exactly 1 % of the samples (covered: >=, not >) and mode 4 holds 5 "
                        "good samples (not covered): the threshold is min_fraction * N with N *all* the samples, "
                        "not only the high-quality ones.")
            fail(name, f"{what}: {int(modes)} modes covered, expected {ref.modes} (counts {ref.counts.tolist()}).{hint}")
    passed(name, "nearest centre, within 3 std, a mode covered by >= 1 % of all samples.")


# --------------------------------------------------------------------------------------------
# Lecture 05: the Wasserstein losses and the gradient penalty
# --------------------------------------------------------------------------------------------


def check_critic_loss(fn) -> None:
    r"""Check ``fn(real_scores, fake_scores)`` against :func:`gancourse.losses.critic_loss`,
    :math:`L_C = \mathbb{E}[f(\tilde x)] - \mathbb{E}[f(x)]` (raw scores, no sigmoid, no log). Lecture 05 exercise."""
    from gancourse.losses import critic_loss

    name = "check_critic_loss"
    for seed in (5, 6):
        real, fake = _logit_batches(seed, n=64 if seed == 5 else 7)
        got = _scalar(name, _run(name, fn, real, fake), "the critic's loss")
        expected = critic_loss(real, fake)
        if torch.allclose(got, -expected, atol=1e-5):
            fail(name, "wrong sign: the critic maximises E[f(x)] - E[f(G(z))], its estimate of W1, so the loss "
                       "it minimises is E[f(G(z))] - E[f(x)].")
        if torch.allclose(got, expected * real.shape[0], atol=1e-4):
            fail(name, "got the sum over the batch; take the means (.mean()).")
        assert_close(name, f"loss on {real.shape[0]} random scores (seed {seed})", got, expected, atol=1e-5, rtol=1e-5,
                     hint="A critic's scores are raw: no sigmoid, no log; the loss is a difference of means.")
        if not got.requires_grad:
            fail(name, "the loss carries no gradient: build it from the scores with torch operations.")
    passed(name, "E[f(G(z))] - E[f(x)], the negative of the critic's W1 estimate.")


def check_generator_wasserstein_loss(fn) -> None:
    r"""Check ``fn(fake_scores)`` against :func:`gancourse.losses.generator_wasserstein_loss`,
    :math:`L_G = -\mathbb{E}[f(G(z))]`. Lecture 05 exercise."""
    from gancourse.losses import generator_wasserstein_loss

    name = "check_generator_wasserstein_loss"
    for seed in (7, 8):
        _, fake = _logit_batches(seed, n=64 if seed == 7 else 5)
        got = _scalar(name, _run(name, fn, fake), "the generator's loss")
        expected = generator_wasserstein_loss(fake)
        if torch.allclose(got, -expected, atol=1e-5):
            fail(name, "wrong sign: the generator wants the critic to score its samples *high*, so it minimises "
                       "-E[f(G(z))].")
        assert_close(name, f"loss on {fake.shape[0]} random scores (seed {seed})", got, expected, atol=1e-5, rtol=1e-5)
    passed(name, "-E[f(G(z))].")


class _LinearCritic(torch.nn.Module):
    """f(x) = a . flatten(x) + b in float64, with |a| = slope: its gradient is a everywhere."""

    def __init__(self, shape, slope: float, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        a = torch.randn(int(np.prod(shape)), generator=g, dtype=torch.float64)
        self.a = torch.nn.Parameter(a / a.norm() * slope)
        self.b = torch.nn.Parameter(torch.tensor(0.3, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(start_dim=1) @ self.a + self.b  # (B,)


def check_gradient_penalty(fn) -> None:
    r"""Check ``fn(critic, real, fake)``, the WGAN-GP penalty :math:`\mathbb{E}[(\lVert\nabla f(\hat x)\rVert_2 - 1)^2]`.

    The learner draws the interpolates, so the check uses critics whose answer does not depend on
    the draw, or only on average: linear critics (gradient :math:`a` everywhere, penalty
    :math:`(|a| - 1)^2` exactly, on 1D points and on images) and the quadratic critic
    :math:`f(x) = |x|^2/2` between :math:`x = 3u` and :math:`\tilde x = -3u` (penalty 4 at the
    real or the fake points, :math:`E[(3|2\epsilon - 1| - 1)^2] = 1` at the interpolates).
    Catches: no ``create_graph=True`` (no gradient reaches the critic), the penalty at real or fake
    points, the norm over the wrong axis, :math:`(\lVert g\rVert - 1)` not squared, and one
    :math:`\epsilon` for the whole batch. Lecture 05 exercise.
    """
    name = "check_gradient_penalty"
    g = torch.Generator().manual_seed(9)
    for shape, slope in (((1,), 1.5), ((1,), 0.2), ((2,), 3.0), ((1, 4, 4), 1.5), ((3, 4, 4), 0.5)):
        critic = _LinearCritic(shape, slope, seed=len(shape) + int(10 * slope))
        real = torch.randn(32, *shape, generator=g, dtype=torch.float64)
        fake = torch.randn(32, *shape, generator=g, dtype=torch.float64) + 2
        what = f"a linear critic of slope {slope} on points of shape (32, {', '.join(map(str, shape))})"
        got = _scalar(name, _run(name, fn, critic, real, fake), "the penalty")
        expected = (slope - 1) ** 2
        if abs(got.item() - abs(slope - 1)) < 1e-6 and abs(expected - abs(slope - 1)) > 1e-6:
            fail(name, f"{what}: got |slope - 1| = {abs(slope - 1):.4g}: square (norm - 1) before averaging.")
        if len(shape) == 3 and abs(got.item() - expected) > 1e-6:
            fail(name, f"{what}: got {got.item():.6g}, expected (slope - 1)^2 = {expected:.6g}. For images the norm "
                       "is over every feature of one sample (channels and pixels): grad.flatten(start_dim=1).norm(2, dim=1), "
                       "not over the last dimension only, nor over the batch.")
        assert_close(name, what, got, torch.tensor(expected, dtype=torch.float64), atol=1e-8,
                     hint="The penalty is the mean over the batch of (||grad f(x_hat)||_2 - 1)^2, one norm per sample "
                          "(over all features), not over the batch.")
        if not got.requires_grad:
            fail(name, f"{what}: the penalty has no gradient with respect to the critic's weights, so adding it to "
                       "the loss changes nothing. Take the gradient with torch.autograd.grad(..., create_graph=True).")
        (grad_a,) = torch.autograd.grad(got, critic.a)
        assert_close(name, f"{what}: gradient of the penalty with respect to the critic's weights", grad_a,
                     2 * (slope - 1) * critic.a.detach() / slope, atol=1e-8)
    # the quadratic critic: where the penalty is taken
    u = torch.randn(2048, 2, generator=g, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    real, fake = 3 * u, -3 * u
    for _ in range(3):
        got = _scalar(name, _run(name, fn, lambda x: 0.5 * (x**2).sum(dim=1), real, fake), "the penalty").item()
        if abs(got - 4.0) < 1e-6:
            fail(name, "with f(x) = |x|^2 / 2 between x = 3u and x~ = -3u, the penalty came out as 4, its value at the "
                       "real (or the fake) points. Take it at interpolates eps * real + (1 - eps) * fake, one eps ~ U[0, 1] "
                       "per sample.")
        if abs(got - 1.0) > 0.15:
            fail(name, f"with f(x) = |x|^2 / 2 between x = 3u and x~ = -3u, the penalty should average to 1 over "
                       f"interpolates with eps ~ U[0, 1], one per sample; got {got:.4g}. Draw eps of shape (B, 1, ...) "
                       "with torch.rand, not one number for the whole batch, and not from a normal distribution.")
    passed(name, "(||grad f(x_hat)||_2 - 1)^2 at per-sample interpolates, norm over all features, differentiable "
                 "with respect to the critic.")


# --------------------------------------------------------------------------------------------
# Lecture 03: the DCGAN cookbook and one training step on images
# --------------------------------------------------------------------------------------------


def _leaf_modules(module) -> list:
    """The layers that compute, in order (reshapes such as Flatten are skipped)."""
    from torch import nn

    reshapes = (nn.Flatten, nn.Unflatten, nn.Identity)
    return [m for m in module.modules() if not list(m.children()) and not isinstance(m, reshapes)]


class _OneThread:
    """Run tiny networks on one thread: on two busy cores, two threads can be ten times slower."""

    def __enter__(self):
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.threads)


def _built(check: str, fn, *args) -> torch.nn.Module:
    model = _run(check, fn, *args)
    if model is None:
        fail(check, "your function returned None; did it forget a `return`?")
    if not isinstance(model, torch.nn.Module):
        fail(check, f"return an nn.Module (for example an nn.Sequential), got {type(model).__name__}.")
    return model


def _param_hint(got: int, expected: int, model, who: str) -> str:
    from torch import nn

    biases = sum(m.bias.numel() for m in model.modules()
                 if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None)
    if got > expected and biases and got - expected <= biases:
        return ("you have more biases than the cookbook: a convolution followed by batch norm takes bias=False "
                "(the norm's shift would cancel it); keep a bias only where no norm follows.")
    if got < expected:
        return (f"{who} is too small: check the widths (doubling or halving at each layer), the kernel size 4 "
                "and that every convolution that is not followed by batch norm keeps its bias.")
    return f"check the widths of {who}'s layers (doubling or halving at each layer) and the kernel size 4."


def check_dcgan_generator(fn) -> None:
    """Check ``fn(nz, ngf, channels)``: the cookbook generator for 32x32 images.

    Compares with :class:`gancourse.dcgan.Generator` (``img_size=32``): the output shape for
    z (B, nz, 1, 1), the output range [-1, 1] (Tanh), the parameter count, batch norm and ReLU on the
    hidden layers and none at the output. Lecture 03 exercise.
    """
    with _OneThread():
        _check_dcgan_generator(fn)


def _check_dcgan_generator(fn) -> None:
    from torch import nn

    from gancourse.dcgan import Generator, count_parameters

    name = "check_dcgan_generator"
    for nz, ngf, channels in ((100, 8, 1), (16, 4, 3)):
        torch.manual_seed(0)
        G = _built(name, fn, nz, ngf, channels)
        z = torch.randn(5, nz, 1, 1)
        x = _run(name, G, z, hint="G takes z of shape (B, nz, 1, 1): the first layer is a ConvTranspose2d "
                                  "with nz input channels.")
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != (5, channels, 32, 32):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            fail(name, f"G(z) for z of shape (5, {nz}, 1, 1) gave {shape}, expected (5, {channels}, 32, 32) "
                       f"(nz={nz}, ngf={ngf}, channels={channels}). Sides go 1 -> 4 -> 8 -> 16 -> 32: a first "
                       "layer with kernel 4, stride 1, padding 0, then kernel 4, stride 2, padding 1.")
        leaves = _leaf_modules(G)
        if any(isinstance(m, nn.Linear) for m in leaves):
            fail(name, "found an nn.Linear: the cookbook has no fully connected hidden layers; start from z as "
                       "a 1x1 image and grow it with ConvTranspose2d.")
        if not isinstance(leaves[-1], nn.Tanh):
            fail(name, f"the last layer is {type(leaves[-1]).__name__}; the generator ends with Tanh, so that "
                       "its images lie in [-1, 1] like the data.")
        big = _run(name, G, 50 * torch.randn(5, nz, 1, 1))
        if big.abs().max() > 1:
            fail(name, "outputs left [-1, 1]: the last layer must be Tanh.")
        if isinstance(leaves[-2], (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)):
            fail(name, "batch norm sits at G's output (just before Tanh): the cookbook leaves the output layer "
                       "without it, so that G can produce the data's exact mean and scale.")
        n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in leaves)
        if n_bn != 3:
            fail(name, f"found {n_bn} BatchNorm2d layers, expected 3: one after each hidden transposed convolution "
                       "(none at the output).")
        if not any(isinstance(m, nn.ReLU) for m in leaves) or any(isinstance(m, nn.LeakyReLU) for m in leaves):
            fail(name, "the generator's hidden layers use ReLU (LeakyReLU is the discriminator's).")
        got, expected = count_parameters(G), count_parameters(Generator(nz, ngf, channels, img_size=32))
        if got != expected:
            fail(name, f"nz={nz}, ngf={ngf}, channels={channels}: {got:,} parameters, expected {expected:,}; "
                       + _param_hint(got, expected, G, "G"))
    passed(name, f"z (B, nz, 1, 1) -> (B, C, 32, 32) in [-1, 1], {expected:,} parameters at nz=16, ngf=4, C=3; "
                 "batch norm on the hidden layers only.")


def check_dcgan_discriminator(fn) -> None:
    """Check ``fn(ndf, channels)``: the cookbook discriminator for 32x32 images, returning logits.

    Compares with :class:`gancourse.dcgan.Discriminator` (``img_size=32``): one logit per image, no
    sigmoid, LeakyReLU(0.2), no batch norm at the input layer, the parameter count. Lecture 03 exercise.
    """
    with _OneThread():
        _check_dcgan_discriminator(fn)


def _check_dcgan_discriminator(fn) -> None:
    from torch import nn

    from gancourse.dcgan import Discriminator, count_parameters

    name = "check_dcgan_discriminator"
    for ndf, channels in ((8, 1), (4, 3)):
        torch.manual_seed(0)
        D = _built(name, fn, ndf, channels)
        x = torch.rand(5, channels, 32, 32) * 2 - 1
        s = _run(name, D, x, hint=f"D takes images of shape (B, {channels}, 32, 32).")
        if not isinstance(s, torch.Tensor) or s.numel() != 5:
            shape = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
            fail(name, f"D on 5 images of {channels}x32x32 gave {shape}; expected one logit per image (5 numbers). "
                       "Sides go 32 -> 16 -> 8 -> 4 -> 1: three convolutions with kernel 4, stride 2, padding 1, "
                       "then kernel 4, stride 1, padding 0 down to one channel.")
        leaves = _leaf_modules(D)
        if isinstance(leaves[-1], nn.Sigmoid):
            fail(name, "D ends with a Sigmoid: return logits (the last convolution's output); the losses apply "
                       "the sigmoid in log space, which stays finite when D is confident.")
        if any(isinstance(m, (nn.Linear, nn.MaxPool2d, nn.AvgPool2d)) for m in leaves):
            fail(name, "found a linear or pooling layer: the cookbook downsamples with strided convolutions only.")
        if not isinstance(leaves[0], nn.Conv2d):
            fail(name, f"the first layer is {type(leaves[0]).__name__}; D starts with a strided Conv2d.")
        if isinstance(leaves[1], (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)):
            fail(name, "batch norm follows D's first convolution: the cookbook leaves D's input layer without it "
                       "(normalising there would erase the statistics of the images D must judge).")
        relus = [m for m in leaves if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
        if not relus or any(not isinstance(m, nn.LeakyReLU) or m.negative_slope != 0.2 for m in relus):
            fail(name, "the discriminator's activations are LeakyReLU with slope 0.2 (nn.LeakyReLU(0.2)), so "
                       "that gradients flow back to G even where a unit is off.")
        n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in leaves)
        if n_bn != 2:
            fail(name, f"found {n_bn} BatchNorm2d layers, expected 2: after the second and third convolutions.")
        got, expected = count_parameters(D), count_parameters(Discriminator(ndf, channels, img_size=32))
        if got != expected:
            fail(name, f"ndf={ndf}, channels={channels}: {got:,} parameters, expected {expected:,}; "
                       + _param_hint(got, expected, D, "D"))
    passed(name, f"(B, C, 32, 32) -> one logit per image, {expected:,} parameters at ndf=4, C=3; no batch norm "
                 "at the input, LeakyReLU(0.2), no sigmoid.")


def _dcgan_step(G, D, opt_g, opt_d, x_real, z_d, z_g, mistake: str = ""):
    """The reference DCGAN step, or one of the mistakes learners make (to name the one they made)."""
    from gancourse.losses import d_loss, g_loss_nonsaturating, g_loss_saturating

    def g_step():
        fake_scores = D(G(z_d if mistake == "reuse_z" else z_g))
        loss_g = g_loss_saturating(fake_scores) if mistake == "saturating" else g_loss_nonsaturating(fake_scores)
        if mistake != "no_zero_grad_g":
            opt_g.zero_grad()
        (-loss_g if mistake == "g_sign" else loss_g).backward()
        opt_g.step()
        return loss_g

    if mistake == "g_first":
        loss_g = g_step()
    x_fake = G(z_d).detach()
    if mistake == "concat":
        scores = D(torch.cat([x_real, x_fake]))
        s_real, s_fake = scores[: len(x_real)], scores[len(x_real):]
    else:
        s_real, s_fake = D(x_real), D(x_fake)
    loss_d = d_loss(s_fake, s_real) if mistake == "swapped" else d_loss(s_real, s_fake)
    if mistake != "no_zero_grad_d":
        opt_d.zero_grad()
    (-loss_d if mistake == "d_sign" else loss_d).backward()
    opt_d.step()
    if mistake != "g_first":
        loss_g = g_step()
    return loss_d.item(), loss_g.item()


_DCGAN_STEP_MISTAKES = {
    "d_sign": "D climbs its loss instead of descending it (a sign flipped in the D step): minimise "
              "losses.d_loss(D(x_real), D(x_fake)) with loss_d.backward(); opt_d.step().",
    "g_sign": "G climbs its loss instead of descending it (a sign flipped in the G step): minimise "
              "losses.g_loss_nonsaturating(D(G(z_g))).",
    "swapped": "real and fake are swapped in the D loss: d_loss takes D(x_real) first, then D(x_fake).",
    "saturating": "G uses the saturating loss log(1 - D(G(z))) (or -L_D): use the non-saturating "
                  "losses.g_loss_nonsaturating, whose gradient does not vanish when D rejects the fakes.",
    "reuse_z": "the G step reuses z_d; draw its fakes from the fresh noise z_g.",
    "g_first": "G steps before D; the cookbook (and Goodfellow's algorithm 1) updates D first, then G against "
               "the updated D.",
    "concat": "D scored real and fake images in one batch: batch norm then mixes their statistics. Score them "
              "in two calls, D(x_real) and D(x_fake), as the cookbook's reference code does.",
    "no_zero_grad_d": "D's gradients accumulate across steps (and collect what the G step sent through D): call "
                      "opt_d.zero_grad() before loss_d.backward().",
    "no_zero_grad_g": "G's gradients accumulate across steps: call opt_g.zero_grad() before loss_g.backward().",
}


def _dcgan_game(seed: int):
    from gancourse.dcgan import build_dcgan

    torch.manual_seed(seed)
    G, D = build_dcgan(nz=8, width=4, channels=1, img_size=32)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))  # different rates: swapped
    opt_d = torch.optim.Adam(D.parameters(), lr=3e-3, betas=(0.5, 0.999))  # optimisers show
    return G, D, opt_g, opt_d


def _same_weights(a, b, atol: float = 1e-5) -> bool:
    return all(torch.allclose(p, q, atol=atol, rtol=1e-4) for p, q in zip(a.parameters(), b.parameters()))


def check_dcgan_train_step(fn) -> None:
    """Check ``fn(G, D, opt_g, opt_d, x_real, z_d, z_g) -> (loss_d, loss_g)``: one DCGAN step on images.

    Three steps of a small DCGAN (with batch norm) against the reference: D on real images and on
    ``G(z_d)`` detached, then G on fresh noise ``z_g`` through the updated D, non-saturating loss.
    Catches a missing ``.detach()`` (G's weights then receive gradients from the D loss), a flipped
    sign in either step, swapped real and fake, the saturating loss, reused noise, G stepping first,
    real and fake scored in one batch, and a missing ``zero_grad``. Lecture 03 exercise.
    """
    with _OneThread():
        _check_dcgan_train_step(fn)


def _check_dcgan_train_step(fn) -> None:
    import copy

    name = "check_dcgan_train_step"
    game, ref = _dcgan_game(0), _dcgan_game(0)
    g = torch.Generator().manual_seed(0)
    for step in range(3):
        x_real = torch.rand(16, 1, 32, 32, generator=g) * 2 - 1  # (16, 1, 32, 32)
        z_d, z_g = torch.randn(16, 8, 1, 1, generator=g), torch.randn(16, 8, 1, 1, generator=g)
        before = copy.deepcopy(ref)  # the state both start this step from (they agreed so far)
        G = game[0]
        hits = []
        hooks = [p.register_hook(lambda grad: hits.append(1)) for p in G.parameters()]
        try:
            out = _run(name, fn, *game, x_real, z_d, z_g)
        finally:
            for h in hooks:
                h.remove()
        expected = _dcgan_step(*ref, x_real, z_d, z_g)
        if len(hits) > len(hooks):
            fail(name, f"step {step}: G's weights received gradients from {len(hits) // len(hooks)} backward passes; "
                       "they should receive one (from the G loss). In the D step, score fakes cut off from G: "
                       "D(x_fake.detach()), so that L_D moves D only.")
        if not hits:
            fail(name, f"step {step}: no gradient reached G; the G step scores G(z_g) with D, without detaching.")
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            fail(name, f"return the pair (loss_d, loss_g); got {_fmt(out)}.")
        got = [float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for v in out]
        if not (_same_weights(game[0], ref[0]) and _same_weights(game[1], ref[1])):
            for mistake, hint in _DCGAN_STEP_MISTAKES.items():
                trial = copy.deepcopy(before)
                _dcgan_step(*trial, x_real, z_d, z_g, mistake=mistake)
                if _same_weights(game[0], trial[0]) and _same_weights(game[1], trial[1]):
                    fail(name, f"step {step}: {hint}")
            who = "D" if not _same_weights(game[1], ref[1]) else "G"
            fail(name, f"step {step}: {who}'s weights after your step differ from the reference. D steps first "
                       "(opt_d.zero_grad(); d_loss(D(x_real), D(G(z_d).detach())).backward(); opt_d.step()), then G "
                       "(opt_g.zero_grad(); g_loss_nonsaturating(D(G(z_g))).backward(); opt_g.step()).")
        for what, value, reference in zip(("loss_d", "loss_g"), got, expected):
            if abs(value + reference) < 1e-5 and abs(reference) > 1e-3:
                fail(name, f"step {step}: you returned {what} = {value:.5g}, the negative of {reference:.5g}: "
                           "return the loss each player minimises.")
            assert_close(name, f"step {step}: returned {what}", value, reference, atol=1e-5, rtol=1e-5,
                         hint="Return the losses of this step: loss_d from the D step, loss_g from the G step.")
    passed(name, "three DCGAN steps match the reference: D on real and detached fakes, then G on fresh noise "
                 "through the updated D.")


# --------------------------------------------------------------------------------------------
# Lecture 09: feature statistics and the Fréchet distance
# --------------------------------------------------------------------------------------------


def _spd(rng, n: int) -> np.ndarray:
    """A random symmetric positive-definite (n, n) matrix, well away from singular."""
    a = rng.standard_normal((n, n + 4))
    return a @ a.T / n + 0.1 * np.eye(n)


def _fd_variants(mu1, s1, mu2, s2) -> dict:
    """What the usual mistakes in a Fréchet distance return on one case, keyed by the hint for each."""
    import scipy.linalg

    mean_term = float((mu1 - mu2) @ (mu1 - mu2))
    traces = float(np.trace(s1) + np.trace(s2))
    tr_root = float(np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum())  # the right tr sqrt(S1 S2)
    with np.errstate(invalid="ignore"):
        eigvalsh_product = float(np.sqrt(np.clip(np.linalg.eigvalsh(s1 @ s2), 0, None)).sum())
        elementwise = float(np.nansum(np.sqrt(np.diag(s1 @ s2))))
    return {
        "the trace term uses eigvalsh of the product Sigma1 @ Sigma2, which is not symmetric: eigvalsh reads only "
        "its lower triangle and returns wrong eigenvalues. Use np.linalg.eigvals of the product (real parts), or "
        "the symmetric sandwich sqrt(Sigma1) @ Sigma2 @ sqrt(Sigma1) with eigvalsh.":
            mean_term + traces - 2 * eigvalsh_product,
        "the factor 2 on the trace term is missing: FID = |mu1 - mu2|^2 + tr(Sigma1) + tr(Sigma2) "
        "- 2 tr((Sigma1 Sigma2)^(1/2)).": mean_term + traces - tr_root,
        "the mean term |mu1 - mu2|^2 is missing: two Gaussians with equal covariances and different means "
        "must be at a positive distance.": traces - 2 * tr_root,
        "you took the square root of the trace, sqrt(tr(Sigma1 Sigma2)); the formula needs the trace of the "
        "matrix square root, tr((Sigma1 Sigma2)^(1/2)) = sum of the square roots of its eigenvalues.":
            mean_term + traces - 2 * float(np.sqrt(np.trace(s1 @ s2))),
        "you took elementwise square roots (np.sqrt of a matrix) and traced them; the formula needs the matrix "
        "square root, whose trace is the sum of the square roots of the eigenvalues of Sigma1 Sigma2.":
            mean_term + traces - 2 * elementwise,
        "you returned the distance itself, the square root of FID; FID is the *squared* Fréchet distance "
        "d^2 (no final square root).": float(np.sqrt(max(mean_term + traces - 2 * tr_root, 0.0))),
        "you subtracted the trace of Sigma1 Sigma2 itself; take its matrix square root first.":
            mean_term + traces - 2 * float(np.trace(s1 @ s2)),
        "you multiplied the square roots of Sigma1 and Sigma2, tr(Sigma1^(1/2) Sigma2^(1/2)); that equals "
        "tr((Sigma1 Sigma2)^(1/2)) only when the two covariances commute. Take the root of the product.":
            mean_term + traces - 2 * float(np.trace(scipy.linalg.sqrtm(s1) @ scipy.linalg.sqrtm(s2)).real),
    }


def check_frechet_distance(fn) -> None:
    r"""Check ``fn(mu1, sigma1, mu2, sigma2)`` against :func:`gancourse.metrics.frechet_distance`.

    .. math:: d^2 = \lVert\mu_1 - \mu_2\rVert^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
              - 2\operatorname{tr}(\Sigma_1\Sigma_2)^{1/2}

    Closed forms first (identical Gaussians give 0; N(0, I) against N(mu, I) gives |mu|^2; diagonal
    covariances give the sum of (sqrt(a_i) - sqrt(b_i))^2 plus the mean term), then random
    non-commuting covariances in 3, 10 and 40 dimensions, relative error below 1e-6. Names the usual
    mistakes: ``eigvalsh`` of the non-symmetric product, a missing factor 2, a dropped mean term,
    the square root of the trace instead of the trace of the square root, elementwise square roots,
    returning d instead of d^2. Lecture 09 exercise.
    """
    from gancourse.metrics import frechet_distance

    name = "check_frechet_distance"
    rng = np.random.default_rng(9)

    def compare(what, mu1, s1, mu2, s2, expected, atol=1e-8):
        got = _number(name, _run(name, fn, mu1, s1, mu2, s2), what)
        if np.isclose(got, expected, rtol=1e-6, atol=atol):
            return
        for hint, value in _fd_variants(mu1, s1, mu2, s2).items():
            if np.isfinite(value) and abs(value - expected) > 1e-6 * max(1.0, abs(expected)) and \
                    np.isclose(got, value, rtol=1e-6, atol=1e-8):
                fail(name, f"{what}: got {got:.6g}, expected {expected:.6g}: {hint}")
        hint = ""
        if np.isclose(got, expected, rtol=1e-3):
            hint = " Close but not equal: compute in float64 (float32 statistics lose digits and can give NaN)."
        fail(name, f"{what}: got {got:.6g}, expected {expected:.6g}.{hint}")

    s = _spd(rng, 5)
    mu = rng.standard_normal(5)
    compare("identical Gaussians N(mu, Sigma) in 5-d (expected 0)", mu, s, mu.copy(), s.copy(), 0.0, atol=1e-6)
    shift = np.array([1.0, -2.0, 0.5])
    compare("N(0, I) against N(mu, I), mu = [1, -2, 0.5] (expected |mu|^2 = 5.25)", np.zeros(3), np.eye(3),
            shift, np.eye(3), 5.25)
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    compare("diagonal covariances diag(1, 4, 9) and diag(4, 1, 0.25), equal means", np.zeros(3), np.diag(a),
            np.zeros(3), np.diag(b), float(((np.sqrt(a) - np.sqrt(b)) ** 2).sum()))
    for dim in (3, 10, 40):
        mu1, mu2 = rng.standard_normal(dim), rng.standard_normal(dim)
        s1, s2 = _spd(rng, dim), _spd(rng, dim)
        compare(f"random Gaussians in {dim}-d (covariances that do not commute)", mu1, s1, mu2, s2,
                frechet_distance(mu1, s1, mu2, s2))
    passed(name, "closed forms (0, |mu|^2, diagonal covariances) and random non-commuting covariances in 3, 10 "
                 "and 40 dimensions match the reference.")


def check_feature_statistics(fn) -> None:
    r"""Check ``fn(features)`` (N, F) -> ``(mu, sigma)`` against :func:`gancourse.metrics.feature_statistics`.

    :math:`\mu` (F,) the mean over samples, :math:`\Sigma` (F, F) divided by N - 1. Names: the
    biased covariance (divided by N), np.cov over the wrong axis (an (N, N) matrix), the mean over
    features instead of samples. Lecture 09 exercise.
    """
    from gancourse.metrics import feature_statistics

    name = "check_feature_statistics"
    rng = np.random.default_rng(90)
    for n, width in ((50, 4), (7, 3)):
        f = rng.standard_normal((n, width)) * np.arange(1, width + 1) + np.arange(width)
        out = _run(name, fn, f)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            fail(name, f"return the pair (mu, sigma); got {_fmt(out)}.")
        mu, sigma = (np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64) for v in out)
        ref_mu, ref_sigma = feature_statistics(f)
        if mu.shape == (n,):
            fail(name, f"mu has shape {mu.shape}: you averaged over the features of each sample; average over "
                       f"the samples (axis 0), giving ({width},).")
        if sigma.shape == (n, n):
            fail(name, f"sigma has shape {sigma.shape}: np.cov treats each row as a variable by default; "
                       f"pass rowvar=False (or use f.T), giving ({width}, {width}).")
        assert_close(name, f"mu of {n} samples of {width} features", mu, ref_mu, atol=1e-10)
        if sigma.shape == ref_sigma.shape and np.allclose(sigma, ref_sigma * (n - 1) / n, atol=1e-10):
            fail(name, f"sigma of {n} samples is the biased covariance (divided by N = {n}); FID's reference "
                       f"divides by N - 1 = {n - 1} (np.cov's default, ddof=1).")
        assert_close(name, f"sigma of {n} samples of {width} features", sigma, ref_sigma, atol=1e-10)
    passed(name, "means over samples and covariances divided by N - 1 match the reference.")


# --------------------------------------------------------------------------------------------
# Lecture 10: PatchGAN's output size, the cycle-consistency loss
# --------------------------------------------------------------------------------------------


def _size_variant(n: int, layers, padding: bool = True, stride: bool = True, ceil: bool = False) -> int:
    import math

    for k, s, p in layers:
        s_used = s if stride else 1
        num = n + (2 * p if padding else 0) - k
        n = (math.ceil(num / s_used) if ceil else num // s_used) + 1
    return n


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


# --------------------------------------------------------------------------------------------
# Lecture 11: spherical interpolation, one rule of the training doctor
# --------------------------------------------------------------------------------------------


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
