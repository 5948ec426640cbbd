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
