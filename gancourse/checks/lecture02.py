"""Lecture 02 exercise checkers: the optimal discriminator and the Jensen-Shannon divergence."""

from __future__ import annotations

import numpy as np

from gancourse.checks._core import checker, fail, assert_close, passed, _run, _number


@checker
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


@checker
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
