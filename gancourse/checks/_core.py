"""The checkers' shared core: call the learner's function, compare with the reference, say what differs.

A checker fails with :class:`CheckFailed` (an ``AssertionError``) whose message gives what was
given, what came back and what was expected; it passes by printing one line. A stub that raises
``NotImplementedError`` is let through unchanged, so the learner sees which function is still to
write. Used by every module of :mod:`gancourse.checks`.
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


def _logit_batches(seed: int, n: int = 64):
    g = torch.Generator().manual_seed(seed)
    real = (torch.randn(n, generator=g) * 2 + 1).requires_grad_(True)
    fake = (torch.randn(n, generator=g) * 2 - 1).requires_grad_(True)
    return real, fake


def _number(check: str, got, what: str) -> float:
    if got is None:
        fail(check, f"{what}: your function returned None; did it forget a `return`?")
    try:
        return float(got)
    except (TypeError, ValueError):
        fail(check, f"{what}: return one number (a float); got {_fmt(got)}.")


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
