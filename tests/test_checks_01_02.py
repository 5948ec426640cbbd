"""The exercise checkers of lectures 01-02 pass the reference and catch the mistakes learners make."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gancourse import checks, divergences, losses

@pytest.fixture(autouse=True)
def _strict_checks():
    """A failing check raises here, so that each mistake can be asserted with pytest.raises."""
    with checks.strict():
        yield



def _stub(*args):
    raise NotImplementedError("Exercise: write this part yourself")


# --------------------------------------------------------------------------------------------
# The discriminator loss
# --------------------------------------------------------------------------------------------


def test_discriminator_loss_passes_the_reference(capsys):
    checks.check_discriminator_loss(losses.d_loss)
    assert "check_discriminator_loss passed" in capsys.readouterr().out


def test_discriminator_loss_passes_bce_with_logits():
    def bce(real, fake):
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))

    checks.check_discriminator_loss(bce)


@pytest.mark.parametrize("mistake, message", [
    # logits used as probabilities: log of negative numbers
    (lambda r, f: -(torch.log(r).mean() + torch.log(1 - f).mean()), "not probabilities"),
    # torch refuses probabilities outside [0, 1]
    (lambda r, f: F.binary_cross_entropy(r, torch.ones_like(r)) + F.binary_cross_entropy(f, torch.zeros_like(f)),
     "raised"),
    # the value V instead of the loss -V
    (lambda r, f: F.logsigmoid(r).mean() + F.logsigmoid(-f).mean(), "not the loss"),
    # unstable: log(sigmoid(s)) is -inf at large |s|
    (lambda r, f: -(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean()), "200"),
    # probabilities through the clamped BCE: finite but wrong at large logits
    (lambda r, f: F.binary_cross_entropy(torch.sigmoid(r), torch.ones_like(r))
     + F.binary_cross_entropy(torch.sigmoid(f), torch.zeros_like(f)), "200"),
    # sum instead of mean
    (lambda r, f: -(F.logsigmoid(r).sum() + F.logsigmoid(-f).sum()), "sum over the batch"),
    # the labels swapped
    (lambda r, f: -(F.logsigmoid(-r).mean() + F.logsigmoid(f).mean()), "got"),
    # no gradient
    (lambda r, f: torch.tensor(losses.d_loss(r, f).item()), "no gradient"),
    # per-sample losses, no reduction
    (lambda r, f: -(F.logsigmoid(r) + F.logsigmoid(-f)), "mean over"),
])
def test_discriminator_loss_catches(mistake, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_discriminator_loss(mistake)


def test_discriminator_loss_lets_the_stub_through():
    with pytest.raises(NotImplementedError):
        checks.check_discriminator_loss(_stub)


# --------------------------------------------------------------------------------------------
# The generator loss
# --------------------------------------------------------------------------------------------


def test_generator_loss_passes_the_reference(capsys):
    checks.check_generator_loss(losses.g_loss_nonsaturating)
    assert "gradient at D(G(z)) = 0.01 is -0.99" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, message", [
    (losses.g_loss_saturating, "saturating loss"),
    (lambda f: F.logsigmoid(f).mean(), "wrong sign"),
    (lambda f: -F.logsigmoid(-f).mean(), "pushes D\\(G\\(z\\)\\) towards 0"),
    (lambda f: -torch.log(f).mean(), "not probabilities"),
    (lambda f: -torch.log(torch.sigmoid(f)).mean(), "200"),
    (lambda f: -F.logsigmoid(f).sum(), "sum over the batch"),
])
def test_generator_loss_catches(mistake, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_generator_loss(mistake)


def test_generator_loss_lets_the_stub_through():
    with pytest.raises(NotImplementedError):
        checks.check_generator_loss(_stub)


# --------------------------------------------------------------------------------------------
# One training step
# --------------------------------------------------------------------------------------------


def _step(detach=True, swap=False, zero_grad=True, g_loss=losses.g_loss_nonsaturating):
    def train_step(G, D, opt_g, opt_d, x_real, z):
        first, second = (opt_g, opt_d) if swap else (opt_d, opt_g)
        x_fake = G(z).detach() if detach else G(z)
        loss_d = losses.d_loss(D(x_real), D(x_fake))
        if zero_grad:
            first.zero_grad()
        loss_d.backward()
        first.step()
        loss_g = g_loss(D(G(z)))
        if zero_grad:
            second.zero_grad()
        loss_g.backward()
        second.step()
        return loss_d.item(), loss_g.item()

    return train_step


def test_train_step_passes_the_reference(capsys):
    checks.check_train_step(_step())
    assert "check_train_step passed" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, message", [
    (_step(detach=False), "detach"),
    (_step(swap=True), "opt_d right after the D loss"),
    (_step(zero_grad=False), "zero_grad"),
    (_step(g_loss=losses.g_loss_saturating), "returned G loss"),
])
def test_train_step_catches(mistake, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_train_step(mistake)


def test_train_step_catches_a_detached_generator_step():
    def frozen_g(G, D, opt_g, opt_d, x_real, z):
        x_fake = G(z).detach()
        loss_d = losses.d_loss(D(x_real), D(x_fake))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = losses.g_loss_nonsaturating(D(x_fake))  # reuses the detached fakes: G learns nothing
        opt_g.zero_grad()
        return loss_d.item(), loss_g.item()

    with pytest.raises(AssertionError, match="no gradient reached G"):
        checks.check_train_step(frozen_g)


def test_train_step_lets_the_stub_through():
    with pytest.raises(NotImplementedError):
        checks.check_train_step(_stub)


# --------------------------------------------------------------------------------------------
# Lecture 02: D* and JSD
# --------------------------------------------------------------------------------------------


def test_optimal_discriminator_passes_the_reference(capsys):
    checks.check_optimal_discriminator(divergences.optimal_discriminator)
    assert "check_optimal_discriminator passed" in capsys.readouterr().out


def test_optimal_discriminator_catches():
    with pytest.raises(AssertionError, match="probability of \\*fake\\*"):
        checks.check_optimal_discriminator(lambda p, q: q / (p + q))
    with np.errstate(invalid="ignore"):
        with pytest.raises(AssertionError, match="return 1/2 there"):
            checks.check_optimal_discriminator(lambda p, q: p / (p + q))
    with pytest.raises(AssertionError, match="got"):
        checks.check_optimal_discriminator(lambda p, q: p / q)
    with pytest.raises(NotImplementedError):
        checks.check_optimal_discriminator(_stub)


def _jsd_variant(log=np.log, normalise=True, safe=True, half=True):
    def jsd(p, q):
        p, q = np.asarray(p, float), np.asarray(q, float)
        if normalise:
            p, q = p / p.sum(), q / q.sum()
        m = (p + q) / 2

        def kl(a, b):
            if safe:
                a_pos = a > 0
                return np.sum(a[a_pos] * (log(a[a_pos]) - log(b[a_pos])))
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.sum(a * log(a / b))

        total = kl(p, m) + kl(q, m)
        return total / 2 if half else total

    return jsd


def test_jsd_passes_the_reference_and_a_correct_variant(capsys):
    checks.check_jsd(divergences.jsd)
    checks.check_jsd(_jsd_variant())
    assert capsys.readouterr().out.count("check_jsd passed") == 2


@pytest.mark.parametrize("mistake, message", [
    (_jsd_variant(log=np.log2), "log base 2"),
    (_jsd_variant(normalise=False), "Normalise inside"),
    (_jsd_variant(safe=False), "0 log 0 = 0"),
    (_jsd_variant(half=False), "twice the JSD"),
])
def test_jsd_catches(mistake, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_jsd(mistake)


def test_jsd_lets_the_stub_through():
    with pytest.raises(NotImplementedError):
        checks.check_jsd(_stub)


# --------------------------------------------------------------------------------------------
# The whole loop (exercise 01, section 4)
# --------------------------------------------------------------------------------------------


def _loop(*, steps=lambda n: range(n), z_once=False, real_once=False, noise=torch.randn, z_shape=None,
          swap_lists=False, as_tensor=False, call=None, batch=None):
    def train(step, G, D, opt_g, opt_d, sample_real, num_steps, batch_size, z_dim):
        losses_d, losses_g = [], []
        b = batch or batch_size
        shape = z_shape(b, z_dim) if z_shape else (b, z_dim)
        z0, x0 = noise(*shape), (sample_real(b) if real_once else None)
        for _ in steps(num_steps):
            x_real = x0 if real_once else sample_real(b)
            z = z0 if z_once else noise(*shape)
            args = call(G, D, opt_g, opt_d, x_real, z) if call else (G, D, opt_g, opt_d, x_real, z)
            loss_d, loss_g = step(*args)
            if as_tensor:
                loss_d, loss_g = torch.tensor(loss_d), torch.tensor(loss_g)
            losses_d.append(loss_d)
            losses_g.append(loss_g)
        return (losses_g, losses_d) if swap_lists else (losses_d, losses_g)

    return train


def _loop_while(step, G, D, opt_g, opt_d, sample_real, num_steps, batch_size, z_dim):
    """A correct rewrite: a while loop, noise drawn before the data, tuples collected then split."""
    record, k = [], 0
    while k < num_steps:
        z = torch.normal(0.0, 1.0, size=(batch_size, z_dim))
        record.append(step(G, D, opt_g, opt_d, sample_real(batch_size), z))
        k += 1
    return [float(a) for a, _ in record], [float(b) for _, b in record]


def _loop_comprehension(step, G, D, opt_g, opt_d, sample_real, num_steps, batch_size, z_dim):
    """A correct rewrite: one list of pairs from a comprehension."""
    pairs = [step(G, D, opt_g, opt_d, sample_real(batch_size), torch.randn(batch_size, z_dim)) for _ in range(num_steps)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@pytest.mark.parametrize("seed", range(5))
def test_train_loop_passes_the_solution_and_rewrites_over_seeds(seed, monkeypatch, capsys):
    from gancourse.checks import _core
    from gancourse.config import seed_everything

    monkeypatch.setattr(_core, "BASE_SEED", seed)
    seed_everything(seed)
    for fn in (_loop(), _loop_while, _loop_comprehension):
        checks.check_train_loop(fn)
    assert capsys.readouterr().out.count("check_train_loop passed") == 3


@pytest.mark.parametrize("mistake, message", [
    (_loop(steps=lambda n: range(n + 1)), "off-by-one"),
    (_loop(steps=lambda n: range(1, n)), "off-by-one"),
    (_loop(z_once=True), "same z"),
    (_loop(real_once=True), "fresh real batch"),
    (_loop(noise=torch.rand), "standard normal"),
    (_loop(z_shape=lambda b, z: (z, b)), "one row of z_dim"),
    (_loop(z_shape=lambda b, z: (b,)), "expected \\(batch_size, z_dim\\)"),
    (_loop(swap_lists=True), "swapped"),
    (_loop(as_tensor=True), "holds tensors"),
    (_loop(call=lambda G, D, og, od, x, z: (D, G, og, od, x, z)), "argument 1 of step should be G"),
    (_loop(call=lambda G, D, og, od, x, z: (G, D, od, og, x, z)), "argument 3 of step should be opt_g"),
    (_loop(batch=64), "ask sample_real for batch_size"),
    (lambda step, G, D, og, od, s, n, b, zd: [step(G, D, og, od, s(b), torch.randn(b, zd)) for _ in range(n)] and None,
     "returned None"),
    (lambda step, G, D, og, od, s, n, b, zd: ([], []), "never called"),
])
def test_train_loop_catches(mistake, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_train_loop(mistake)


def test_train_loop_reports_without_raising_outside_strict_mode(capsys):
    with checks.strict(False):
        assert checks.check_train_loop(_loop(z_once=True)) is None
        assert checks.results()["check_train_loop"] is False
        checks.check_train_loop(lambda *a: 1 / 0)  # the learner's error: reported, not raised
        assert checks.results()["check_train_loop"] is False
    out = capsys.readouterr().out.strip().splitlines()
    assert sum(line.startswith("check_train_loop FAILED") for line in out) == 2 and len(out) <= 12
    assert "ZeroDivisionError" in out[-1]


def test_checks_leave_the_learners_random_state_alone():
    import random

    import numpy as np

    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    expected = (torch.rand(1).item(), np.random.rand(), random.random())
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    checks.check_train_loop(_loop())
    checks.check_train_step(_step())
    assert (torch.rand(1).item(), np.random.rand(), random.random()) == expected


@pytest.mark.parametrize("mistake, message", [
    # one input detached while the other keeps its gradient
    (lambda r, f: -F.logsigmoid(r).mean() - F.logsigmoid(-f.detach()).mean(), "no gradient flows back to the fake"),
    (lambda r, f: -F.logsigmoid(r.detach()).mean() - F.logsigmoid(-f).mean(), "no gradient flows back to the real"),
    (lambda r, f: -F.logsigmoid(r).mean() - F.logsigmoid(-f).mean().item(), "no gradient flows back to the fake"),
])
def test_discriminator_loss_checks_the_gradient_of_each_input(mistake, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_discriminator_loss(mistake)


# --------------------------------------------------------------------------------------------
# More plausible mistakes for D*, the JSD and the step (each run as its check cell runs it)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mistake", [
    lambda p, q: np.where(p + q > 0, p / np.where(p + q > 0, p + q, 1.0), 0.0),  # 0 where both vanish
    lambda p, q: np.where(p + q > 0, p / np.where(p + q > 0, p + q, 1.0), 1.0),  # 1 there
    lambda p, q: float(np.mean(p / np.maximum(p + q, 1e-12))),  # one number for the whole array
    lambda p, q: np.round(p / np.maximum(p + q, 1e-12), 2),  # rounded
    lambda p, q: p / np.maximum(p + q, 1e-12) > 0.5,  # a decision, not a probability
], ids=["0 where both vanish", "1 there", "a mean", "rounded", "thresholded"])
def test_optimal_discriminator_more_mistakes(mistake):
    with np.errstate(invalid="ignore", divide="ignore"):
        with pytest.raises(AssertionError):
            checks.check_optimal_discriminator(mistake)


@pytest.mark.parametrize("mistake", [
    _jsd_variant(log=np.log2),  # bits, not nats
    lambda p, q: float(np.sum(np.asarray(p) * np.log(np.asarray(p) / ((np.asarray(p) + np.asarray(q)) / 2)))),  # one KL
    lambda p, q: 0.5 * float(np.sum(np.abs(np.asarray(p, float) / np.sum(p) - np.asarray(q, float) / np.sum(q)))),  # TV
], ids=["log2", "one KL only", "total variation"])
def test_jsd_more_mistakes(mistake):
    with np.errstate(invalid="ignore", divide="ignore"):
        with pytest.raises(AssertionError):
            checks.check_jsd(mistake)


def test_train_step_more_mistakes():
    def g_step_first(G, D, opt_g, opt_d, x_real, z):  # G moves before D has looked at this batch
        loss_g = losses.g_loss_nonsaturating(D(G(z)))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        loss_d = losses.d_loss(D(x_real), D(G(z).detach()))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        return loss_d.item(), loss_g.item()

    def no_step_for_g(G, D, opt_g, opt_d, x_real, z):
        loss_d = losses.d_loss(D(x_real), D(G(z).detach()))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = losses.g_loss_nonsaturating(D(G(z)))
        opt_g.zero_grad()
        loss_g.backward()
        return loss_d.item(), loss_g.item()

    for mistake in (g_step_first, no_step_for_g):
        with pytest.raises(AssertionError):
            checks.check_train_step(mistake)
