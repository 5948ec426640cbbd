"""The checkers' shared core: call the learner's function, compare with the reference, say what differs.

A checker fails with :class:`CheckFailed` (an ``AssertionError``) whose message names the most likely
mistake; it passes by printing one line. Every public checker is wrapped by :func:`checker`, which
(in a notebook) turns the outcome into one line, ``check_x passed: ...`` or ``check_x FAILED: ...``,
records it for :func:`summary`, and lets the notebook run on: a failing check never stops Run All.
In strict mode (:func:`strict`, or ``GANCOURSE_STRICT_CHECKS=1``: the tests and the grader's debug
runs) a failure raises instead. The checker runs under a private random state: it never moves the
notebook's torch, NumPy or Python random streams. A stub raises :class:`NotWrittenYet`, which
IPython renders as its message alone, without the frames of the package. Used by every module of
:mod:`gancourse.checks`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import textwrap

import numpy as np
import torch

MAX_LINES = 6  # a failure shows at most this many lines in a notebook
BASE_SEED = 0  # the checkers' private seed; the tests vary it to run each checker over several seeds
RESULTS: dict[str, bool] = {}  # check name -> passed, in the order the notebook ran them
_STRICT = [os.environ.get("GANCOURSE_STRICT_CHECKS", "") not in ("", "0")]


def _short(text: str, prefix: str = "") -> list[str]:
    """``text`` wrapped to at most :data:`MAX_LINES` lines of 100 characters."""
    lines = textwrap.wrap(prefix + " ".join(str(text).split()), width=100) or [prefix.strip()]
    if len(lines) > MAX_LINES:
        lines = lines[: MAX_LINES - 1] + [lines[MAX_LINES - 1][:96] + " ..."]
    return lines


class CheckFailed(AssertionError):
    """A learner's function disagreed with the reference. IPython shows the message alone, in a few lines."""

    def _render_traceback_(self):
        return _short(str(self), "FAILED ")


class NotWrittenYet(NotImplementedError):
    """Raised by an exercise's stub: the part still to write. IPython shows the message alone."""

    def _render_traceback_(self):
        return _short(str(self), "Not written yet. ")


@contextlib.contextmanager
def strict(on: bool = True):
    """Within this block, a failing check raises (:class:`CheckFailed`, or the stub's exception)."""
    old = _STRICT[0]
    _STRICT[0] = on
    try:
        yield
    finally:
        _STRICT[0] = old


@contextlib.contextmanager
def private_random_state(seed: int | None = None):
    """Run a block without moving the caller's torch, NumPy and Python random streams."""
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def checker(fn):
    """Wrap a ``check_*`` function: one line out, the result recorded, no exception out of the cell.

    The wrapped checker returns None (so a check cell shows its line and nothing else); the outcome
    is recorded in :data:`RESULTS` (strict mode raises on a failure).
    An error that is not a :class:`CheckFailed` came from the learner's code (or tripped the checker
    over a wrong answer): it is reported as a failure with its one-line message, never as a crash.
    """
    name = fn.__name__

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            with private_random_state(BASE_SEED):
                fn(*args, **kwargs)
        except NotImplementedError as err:
            RESULTS[name] = False
            if _STRICT[0]:
                raise
            message = str(err).strip() or "the function still raises NotImplementedError"
            print("\n".join(_short(message, f"{name} FAILED: not written yet. To do: ")), flush=True)
            return None
        except CheckFailed as err:
            RESULTS[name] = False
            if _STRICT[0]:
                raise
            text = str(err)
            text = text[len(name) + 2:] if text.startswith(name + ": ") else text
            print("\n".join(_short(text, f"{name} FAILED: ")), flush=True)
            return None
        except Exception as err:  # noqa: BLE001 - a wrong answer may fail in any way; report it, never crash
            RESULTS[name] = False
            message = (f"{name}: your code raised {_first_line(err)}. Run your function on a small input "
                       "in a cell of its own to see where.")
            if _STRICT[0]:
                raise CheckFailed(message) from err
            print("\n".join(_short(message[len(name) + 2:], f"{name} FAILED: ")), flush=True)
            return None
        RESULTS[name] = True
        return None

    wrapped.__wrapped_check__ = fn
    return wrapped


def summary() -> dict[str, bool]:
    """Print how many checks passed so far, and which are still to do; return the results."""
    done = [k for k, ok in RESULTS.items() if ok]
    todo = [k for k, ok in RESULTS.items() if not ok]
    print(f"Checks passed: {len(done)} of {len(RESULTS)} run." + (f" Still to do: {', '.join(todo)}." if todo else
          (" All done." if RESULTS else " Run the check cells first.")), flush=True)
    return dict(RESULTS)


def results() -> dict[str, bool]:
    """The checks run so far in this kernel and whether each passed (read by the grader)."""
    return dict(RESULTS)


@contextlib.contextmanager
def skip_if_stub():
    """Run a demonstration cell; if it reaches a part not written yet, say so in one line and go on.

    Strict mode lets the stub's exception through (the notebook tests count on it).
    """
    try:
        yield
    except NotImplementedError as err:
        if _STRICT[0]:
            raise
        print("Skipped: this cell uses a function that is not written yet (its check above says which).", flush=True)


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
        if isinstance(err, RuntimeError) and "modified by an inplace operation" in str(err):
            fail(check, "backward() failed: a loss was built, then an optimiser step changed the weights it was "
                        "built from, then backward ran through it. Compute each loss just before its own backward: "
                        "D's whole update first, then G's loss through the updated D.")
        fail(check, f"your function raised {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}."
             + (f" {hint}" if hint else ""))


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


def _grads(check: str, out: torch.Tensor, inputs: dict) -> dict:
    """The gradient of ``out`` with respect to each named input; fail, naming the input, where none flows.

    A loss that detached one input (or took ``.item()`` of a term) fails here even when another
    input still carries a gradient.
    """
    names = list(inputs)
    if not out.requires_grad:
        fail(check, "the result carries no gradient: build it from the inputs with torch operations (no .item(), "
                    ".detach(), NumPy or new tensors from numbers), so that backward() reaches the networks.")
    grads = torch.autograd.grad(out, [inputs[k] for k in names], allow_unused=True, retain_graph=True)
    for k, g in zip(names, grads):
        if g is None or not bool(torch.any(g != 0)):
            fail(check, f"no gradient flows back to the {k}: that term was cut off from the graph (a .detach(), "
                        f".item() or a constant in its place?) or dropped from the sum.")
    return dict(zip(names, grads))


def _same_type(check: str, what: str, got, expected_type, why: str = "") -> None:
    """Fail unless ``got`` is an instance of ``expected_type`` (int is not float, a tensor is not a float)."""
    if isinstance(got, bool) and expected_type is not bool:
        fail(check, f"{what}: got a bool ({got}); expected {expected_type.__name__}." + (f" {why}" if why else ""))
    if not isinstance(got, expected_type):
        fail(check, f"{what}: got {type(got).__name__} ({_fmt(got)}), expected a {expected_type.__name__}."
                    + (f" {why}" if why else ""))


def _float_list(check: str, what: str, got, length: int, where: str, per: str = "step") -> None:
    """Fail unless ``got`` is a plain list of ``length`` Python floats (no tensors, which keep graphs alive)."""
    if not isinstance(got, list):
        fail(check, f"{what} is a {type(got).__name__}; return a list of floats (a plain Python list), one per {per}.")
    if len(got) != length:
        fail(check, f"{where}: {what} has {len(got)} entries, expected one per {per} ({length}).")
    for v in got:
        if isinstance(v, torch.Tensor):
            fail(check, f"{what} holds tensors; store each as a float (.item()), which keeps no graph alive.")
        _same_type(check, f"an entry of {what}", v, float)


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
