"""Lecture 05 exercise checkers: the Wasserstein critic and generator losses, the gradient penalty."""

from __future__ import annotations

import numpy as np
import torch

from gancourse.checks._core import checker, _PlainSGD, _float_list, _grads, fail, assert_close, passed, _run, _scalar, _logit_batches


def _compare_loss(name: str, got, expected, n: int, seed: int, *, sign: str, hint: str) -> None:
    """A Wasserstein loss against the package's: a flipped sign and a sum over the batch get their own message."""
    if torch.allclose(got, -expected, atol=1e-5):
        fail(name, sign)
    if torch.allclose(got, expected * n, atol=1e-4):
        fail(name, "got the sum over the batch; take the mean (.mean()).")
    assert_close(name, f"loss on {n} random scores (seed {seed})", got, expected, atol=1e-5, rtol=1e-5, hint=hint)


@checker
def check_critic_loss(fn) -> None:
    r"""Check ``fn(real_scores, fake_scores)`` against :func:`gancourse.losses.critic_loss`,
    :math:`L_C = \mathbb{E}[f(\tilde x)] - \mathbb{E}[f(x)]` (raw scores, no sigmoid, no log). Lecture 05 exercise."""
    from gancourse.losses import critic_loss

    name = "check_critic_loss"
    for seed in (5, 6):
        real, fake = _logit_batches(seed, n=64 if seed == 5 else 7)
        got = _scalar(name, _run(name, fn, real, fake), "the critic's loss")
        expected = critic_loss(real, fake)
        _compare_loss(name, got, expected, len(real), seed,
                      sign="wrong sign: the critic maximises E[f(x)] - E[f(G(z))], its estimate of W1, so the loss "
                           "it minimises is E[f(G(z))] - E[f(x)].",
                      hint="A critic's scores are raw: no sigmoid, no log; the loss is a difference of means.")
        grads = _grads(name, got, {"real scores": real, "fake scores": fake})
        assert_close(name, "gradient with respect to the real scores", grads["real scores"],
                     torch.full_like(real, -1.0 / len(real)), atol=1e-6)
        assert_close(name, "gradient with respect to the fake scores", grads["fake scores"],
                     torch.full_like(fake, 1.0 / len(fake)), atol=1e-6)
    passed(name, "E[f(G(z))] - E[f(x)], the negative of the critic's W1 estimate.")


@checker
def check_generator_wasserstein_loss(fn) -> None:
    r"""Check ``fn(fake_scores)`` against :func:`gancourse.losses.generator_wasserstein_loss`,
    :math:`L_G = -\mathbb{E}[f(G(z))]`. Lecture 05 exercise."""
    from gancourse.losses import generator_wasserstein_loss

    name = "check_generator_wasserstein_loss"
    for seed in (7, 8):
        _, fake = _logit_batches(seed, n=64 if seed == 7 else 5)
        got = _scalar(name, _run(name, fn, fake), "the generator's loss")
        expected = generator_wasserstein_loss(fake)
        _compare_loss(name, got, expected, len(fake), seed,
                      sign="wrong sign: the generator wants the critic to score its samples *high*, so it minimises "
                           "-E[f(G(z))].",
                      hint="The critic's scores are raw: no sigmoid, no log, no abs.")
        grads = _grads(name, got, {"fake scores": fake})
        assert_close(name, "gradient with respect to the fake scores", grads["fake scores"],
                     torch.full_like(fake, -1.0 / len(fake)), atol=1e-6)
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


@checker
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
    # the quadratic critic f(x) = |x|^2 / 2 (its gradient is x) between x = 3u and x~ = u / 2, u unit vectors in
    # 16 dimensions: the penalty is 4 at the real points and 1/4 at the fake ones; at interpolates with one
    # eps ~ U[0, 1] per sample it averages E[(5 eps / 2 - 1 / 2)^2] = 13/12 (std of the mean over 2,048 about 0.02);
    # a fixed eps = 1/2 gives 9/16, one eps per feature about 0.8, one eps for the whole batch anything in [0.25, 4]
    u = torch.randn(2048, 16, generator=g, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    real, fake = 3 * u, 0.5 * u
    for _ in range(3):
        got = _scalar(name, _run(name, fn, lambda x: 0.5 * (x**2).sum(dim=1), real, fake), "the penalty").item()
        if abs(got - 4.0) < 1e-6 or abs(got - 0.25) < 1e-6:
            fail(name, f"with f(x) = |x|^2 / 2 between x = 3u and x~ = u/2, the penalty came out as {got:.4g}, its value "
                       "at the real (or the fake) points. Take it at interpolates eps * real + (1 - eps) * fake, one "
                       "eps ~ U[0, 1] per sample.")
        if abs(got - 13 / 12) > 0.1:
            fail(name, f"with f(x) = |x|^2 / 2 between x = 3u and x~ = u/2, the penalty should average 13/12 = 1.083 "
                       f"over interpolates with one eps ~ U[0, 1] per sample; got {got:.4g}. Draw eps with torch.rand "
                       "in the shape (B, 1, ...): one number per sample, not one per feature, not one for the whole "
                       "batch, not a fixed 1/2, and not from a normal distribution.")
    passed(name, "(||grad f(x_hat)||_2 - 1)^2 at per-sample interpolates, norm over all features, differentiable "
                 "with respect to the critic.")


class _RecordingLinearCritic(torch.nn.Module):
    """f(x) = x a + b, with |a| = slope, recording every input it scores: its gradient is a everywhere,
    so the penalty is (|a| - 1)^2 whatever the interpolates, and the critic's update is exact."""

    def __init__(self, dim: int, slope: float, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        a = torch.randn(dim, generator=g)
        self.a = torch.nn.Parameter(a / a.norm() * slope)
        self.b = torch.nn.Parameter(torch.tensor(0.3))
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return x @ self.a + self.b  # (B,)


class _SpySGD(_PlainSGD):
    """Plain SGD that logs each ``zero_grad`` and, at each ``step``, the gradients it finds."""

    def __init__(self, params, lr: float):
        super().__init__(params, lr)
        self.log = []

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.log.append(("zero_grad", None))
        super().zero_grad(set_to_none)

    @torch.no_grad()
    def step(self) -> None:
        grads = [None if p.grad is None else p.grad.detach().clone() for p in self.params]
        self.log.append(("step", (grads, [p.detach().clone() for p in self.params])))
        super().step()


def _on_segments(x_hat, real, fake, tol: float = 1e-4) -> bool:
    """Whether every row of x_hat lies on the segment between the same rows of real and fake."""
    if x_hat.shape != real.shape:
        return False
    d = real - fake  # (B, F)
    eps = ((x_hat - fake) * d).sum(1) / (d * d).sum(1).clamp_min(1e-12)  # (B,)
    resid = (x_hat - fake - eps[:, None] * d).norm(dim=1)
    return bool((resid < tol).all() and (eps > -tol).all() and (eps < 1 + tol).all())


@checker
def check_critic_update(fn) -> None:
    r"""Check ``fn(critic, G, opt_c, sample_real, batch_size, z_dim, n_critic, gp_weight) -> list of floats``.

    The WGAN-GP critic's inner loop: ``n_critic`` updates, each on a fresh real batch and fresh fakes
    cut off from G, minimising :math:`\mathbb{E}[f(\tilde x)] - \mathbb{E}[f(x)] + \lambda\,\mathrm{GP}`.
    With a linear critic :math:`f(x) = a^\top x + b` the gradient of that loss is known exactly at every
    update, :math:`\bar{\tilde x} - \bar x + 2\lambda(|a| - 1)a/|a|`, so the check reads the gradient
    the optimiser finds at each step and names the piece that differs: the number of updates, a
    missing or misplaced ``zero_grad``, a penalty left out or not weighted, the sign, a gradient
    reaching G, fakes or real batches reused, the penalty taken away from the interpolates.
    Lecture 05 exercise.
    """
    name = "check_critic_update"
    for n_critic, batch_size, z_dim, dim, gp_weight, slope in ((3, 29, 4, 3, 10.0, 1.7), (1, 16, 2, 2, 2.5, 0.4),
                                                               (5, 11, 3, 5, 10.0, 2.2)):
        where = f"with n_critic={n_critic}, gp_weight={gp_weight}"
        critic = _RecordingLinearCritic(dim, slope, seed=n_critic)
        G = torch.nn.Linear(z_dim, dim)
        g_inputs, g_outputs = [], []

        def record(module, inputs, output):
            g_inputs.append(inputs[0].detach().clone())
            g_outputs.append(output.detach().clone())

        G.register_forward_hook(record)
        opt = _SpySGD(critic.parameters(), lr=0.01)
        gen = torch.Generator().manual_seed(100 + n_critic)
        real_batches = []

        def sample_real(n, *args, **kwargs):
            x = torch.randn(int(n), dim, generator=gen) * 0.7 + 1.0  # (n, dim)
            real_batches.append(x)
            return x

        out = _run(name, fn, critic, G, opt, sample_real, batch_size, z_dim, n_critic, gp_weight)
        steps = [entry for kind, entry in opt.log if kind == "step"]
        if len(steps) != n_critic:
            fail(name, f"{where}: the critic's optimiser stepped {len(steps)} times, expected n_critic = {n_critic}: "
                       "one update per pass of the inner loop (an off-by-one in the range?).")
        if len(real_batches) != n_critic:
            fail(name, f"{where}: {len(real_batches)} real batches drawn for {n_critic} updates; draw a fresh real "
                       "batch of batch_size at each update.")
        if len(g_outputs) != n_critic:
            fail(name, f"{where}: G was called {len(g_outputs)} times for {n_critic} updates; make fresh fakes at "
                       "each update, from fresh noise.")
        if any(tuple(x.shape) != (batch_size, dim) for x in real_batches):
            fail(name, f"{where}: ask sample_real for batch_size = {batch_size} points.")
        if any(tuple(z.shape) != (batch_size, z_dim) for z in g_inputs):
            fail(name, f"{where}: the noise has shape {tuple(g_inputs[0].shape)}, expected (batch_size, z_dim) = "
                       f"({batch_size}, {z_dim}).")
        if len(g_inputs) > 1 and torch.equal(g_inputs[0], g_inputs[1]):
            fail(name, f"{where}: two updates used the same noise; draw fresh z at each update.")
        if any(p.grad is not None and bool(torch.any(p.grad != 0)) for p in G.parameters()):
            fail(name, f"{where}: the critic's loss sent gradients into G's weights: make the fakes with G(z).detach() "
                       "(or under torch.no_grad()); the critic's update must not touch G.")
        previous = None
        for k, (grads, params) in enumerate(steps):
            grad_a = grads[0]
            a = params[0]  # a before this step
            x, y = real_batches[k], g_outputs[k]
            mean_diff = y.mean(0) - x.mean(0)  # (dim,)
            gp_grad = 2 * (a.norm() - 1) * a / a.norm()
            expected = mean_diff + gp_weight * gp_grad
            if grad_a is None or not bool(torch.any(grad_a != 0)):
                fail(name, f"{where}, update {k + 1}: the optimiser found no gradient when it stepped. The order is "
                           "zero_grad(), backward(), step(): a zero_grad between backward and step wipes the gradient.")
            candidates = [
                (mean_diff, "the gradient penalty is missing from the loss: add gp_weight * gradient_penalty(...) "
                            "to the critic's loss before backward()."),
                (mean_diff + gp_grad, "the penalty is in the loss but not weighted: multiply it by gp_weight."),
                (-mean_diff + gp_weight * gp_grad, "the critic's term has the wrong sign: the critic minimises "
                                                    "E[f(fake)] - E[f(real)] (plus the penalty)."),
                (-mean_diff - gp_weight * gp_grad, "the whole loss has the wrong sign: the critic minimises "
                                                   "E[f(fake)] - E[f(real)] + gp_weight * penalty."),
            ]
            if previous is not None:
                candidates.insert(0, (expected + previous, "the gradients of two updates added up: call "
                                                           "opt.zero_grad() before each backward(), inside the loop."))
            if not torch.allclose(grad_a, expected, atol=1e-4, rtol=1e-4):
                for cand, why in candidates:
                    if torch.allclose(grad_a, cand, atol=1e-4, rtol=1e-4):
                        fail(name, f"{where}, update {k + 1}: {why}")
                fail(name, f"{where}, update {k + 1}: the gradient the optimiser found differs from that of "
                           "critic_loss(critic(real), critic(fake)) + gp_weight * gradient_penalty(critic, real, fake) "
                           "on this update's batches.")
            previous = grad_a
        scored = critic.inputs
        for k in range(n_critic):
            x, y = real_batches[k], g_outputs[k]
            if not any(_on_segments(s, x, y) and not torch.equal(s, x) and not torch.equal(s, y) for s in scored):
                fail(name, f"{where}, update {k + 1}: the critic never scored interpolates between this update's "
                           "real batch and its fakes: take the penalty with gradient_penalty(critic, real, fake) on "
                           "the same batches as the loss.")
        if out is None:
            fail(name, "your function returned None; return the list of the critic's losses, one float per update.")
        _float_list(name, "the list of the critic's losses", out, n_critic, where, per="update")
        for k, (v, (grads, params)) in enumerate(zip(out, steps)):
            a, b = params
            x, y = real_batches[k], g_outputs[k]
            value = float((y @ a + b).mean() - (x @ a + b).mean() + gp_weight * (a.norm() - 1) ** 2)
            if abs(v - value) > 1e-3 * max(1.0, abs(value)):
                fail(name, f"{where}: loss {k + 1} came out as {v:.5g}, expected {value:.5g} (the critic's loss plus "
                           "gp_weight times the penalty, before that update's step).")
    passed(name, "n_critic updates, each on fresh batches with detached fakes, zero_grad before backward, the "
                 "weighted penalty at interpolates; G untouched.")
