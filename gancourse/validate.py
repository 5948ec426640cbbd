"""Checks of arguments at the package's public boundaries, one small helper per kind of check.

A learner who passes ``batch_size=2.5``, ``ema_decay=2.0`` or images in [0, 255] should hear about
it at once, in one sentence that says what was received, what was expected and what to try
(STYLE.md section 7), and not from deep inside torch ten frames later. Public functions call these
helpers on their arguments once, before any work; loops never do. Each helper returns the checked
value (converted where that is safe, e.g. a NumPy integer to ``int``), raises ``TypeError`` for a
value of the wrong kind and ``ValueError`` for one of the right kind but out of range, wrong shape
or non-finite.

>>> check_int(64, "batch_size", low=1)
64
>>> check_int(2.5, "batch_size", low=1)
Traceback (most recent call last):
...
TypeError: batch_size must be an int, got float 2.5. Pass a whole number, e.g. batch_size=2.

Used by every module that takes input from a learner: training, losses, metrics, data, checkpoints,
the command line.
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable

import numpy as np
import torch


def _got(value) -> str:
    """What was received, short: ``float 2.5``, ``tensor of shape (8, 3) float32``, ``str 'no'``."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} ({str(value.dtype).replace('torch.', '')})"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} ({value.dtype})"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _tail(hint: str) -> str:
    return f" {hint}" if hint else ""


def _bounds(low, high, low_open: bool, high_open: bool) -> str:
    """``>= 1``, ``in [0, 1)``, ``> 0``: the expected range in words."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high}"
    return "any value"


def _in_bounds(x, low, high, low_open: bool, high_open: bool) -> bool:
    if low is not None and (x <= low if low_open else x < low):
        return False
    if high is not None and (x >= high if high_open else x > high):
        return False
    return True


def check_type(value, types, name: str, *, hint: str = ""):
    """``value`` if it is an instance of ``types`` (a type or a tuple of types), else a ``TypeError``."""
    if not isinstance(value, types):
        wanted = types if isinstance(types, tuple) else (types,)
        names = " or ".join(t.__name__ for t in wanted)
        raise TypeError(f"{name} must be a {names}, got {_got(value)}.{_tail(hint)}")
    return value


def check_bool(value, name: str, *, hint: str = "") -> bool:
    """``value`` if it is ``True`` or ``False`` (NumPy's bool too). Strings such as ``'no'`` are refused:
    ``bool('no')`` is True, which is rarely what was meant."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {_got(value)}."
                    f"{_tail(hint or f'Pass {name}=True or {name}=False.')}")


def check_int(value, name: str, *, low=None, high=None, hint: str = "") -> int:
    """``value`` as an ``int`` if it is a whole number (not a bool, not a float) within ``[low, high]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        example = max(int(value), 1) if isinstance(value, float) and math.isfinite(value) else (low if low is not None else 1)
        raise TypeError(f"{name} must be an int, got {_got(value)}."
                        f"{_tail(hint or f'Pass a whole number, e.g. {name}={example}.')}")
    value = int(value)
    if not _in_bounds(value, low, high, False, False):
        raise ValueError(f"{name} must be an int {_bounds(low, high, False, False)}, got {value}.{_tail(hint)}")
    return value


def check_number(value, name: str, *, low=None, high=None, low_open: bool = False, high_open: bool = False,
                 hint: str = "") -> float:
    """``value`` as a finite ``float`` within the given bounds (each open or closed)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {_got(value)}.{_tail(hint)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}.{_tail(hint)}")
    if not _in_bounds(value, low, high, low_open, high_open):
        raise ValueError(f"{name} must be {_bounds(low, high, low_open, high_open)}, got {value:g}.{_tail(hint)}")
    return value


def check_numbers(value, name: str, length: int, *, low=None, high=None, low_open: bool = False,
                  high_open: bool = False, hint: str = "") -> tuple[float, ...]:
    """A tuple or list of exactly ``length`` finite numbers, each within the bounds (e.g. Adam's ``betas``)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of {length} numbers, got {_got(value)}.{_tail(hint)}")
    if len(value) != length:
        raise ValueError(f"{name} must hold {length} numbers, got {len(value)}: {tuple(value)!r}.{_tail(hint)}")
    return tuple(check_number(v, f"{name}[{i}]", low=low, high=high, low_open=low_open, high_open=high_open,
                              hint=hint) for i, v in enumerate(value))


def check_choice(value, choices: Iterable, name: str, *, hint: str = ""):
    """``value`` if it is one of ``choices``, else a ``ValueError`` listing them."""
    choices = tuple(choices)
    if not isinstance(value, str) and all(isinstance(c, str) for c in choices):
        raise TypeError(f"{name} must be a str, one of {', '.join(map(repr, choices))}; got {_got(value)}.{_tail(hint)}")
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}.{_tail(hint)}")
    return value


def assert_shape(tensor: torch.Tensor, shape: tuple, name: str = "tensor") -> None:
    """Check ``tensor.shape`` against ``shape``, where ``None`` means "any size".

    Raises ``ValueError`` naming every dimension that differs, e.g.
    ``z has shape (8, 3); expected (None, 100): dim 1 is 3, expected 100``.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}.")
    got = tuple(tensor.shape)
    if len(got) != len(shape):
        raise ValueError(
            f"{name} has shape {got} ({len(got)} dims); expected {tuple(shape)} ({len(shape)} dims)."
        )
    bad = [
        f"dim {i} is {g}, expected {e}"
        for i, (g, e) in enumerate(zip(got, shape))
        if e is not None and g != e
    ]
    if bad:
        raise ValueError(f"{name} has shape {got}; expected {tuple(shape)}: " + ", ".join(bad) + ".")


def check_tensor(x, name: str, *, ndim: int | None = None, floating: bool = False, hint: str = "") -> torch.Tensor:
    """``x`` if it is a ``torch.Tensor`` (with ``ndim`` dimensions, of a floating dtype, when asked)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {_got(x)}.{_tail(hint)}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got {_got(x)}.{_tail(hint)}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must hold floating-point values, got {_got(x)}."
                        f"{_tail(hint or 'Convert it with .float().')}")
    return x


def check_finite(x, name: str, *, hint: str = ""):
    """``x`` (a tensor or an array) if every value is finite; else a ``ValueError`` counting NaNs and infs."""
    values = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))
    if values.is_floating_point() or values.is_complex():
        bad = ~torch.isfinite(values)
        if bool(bad.any()):
            n_nan = int(torch.isnan(values).sum())
            raise ValueError(f"{name} holds {n_nan} NaN and {int(bad.sum()) - n_nan} infinite value(s) "
                             f"among {values.numel()}; expected finite numbers.{_tail(hint)}")
    return x


def check_value_range(x: torch.Tensor, name: str, low: float, high: float, *, tolerance: float = 1e-3,
                      hint: str = "") -> torch.Tensor:
    """``x`` if its values lie in ``[low, high]`` (to ``tolerance``); else a ``ValueError`` with its min and max."""
    lo, hi = float(x.min()), float(x.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        check_finite(x, name, hint=hint)
    if lo < low - tolerance or hi > high + tolerance:
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}], got values from {lo:.4g} to {hi:.4g}.{_tail(hint)}")
    return x


# --------------------------------------------------------------------------------------------
# The training loop's boundary (gancourse.train.train_gan calls this once, before any work)
# --------------------------------------------------------------------------------------------


def training_images(data):
    """The image tensor (N, C, H, W) inside ``data`` (an ImageDataset, a tensor or a pair (images, labels)),
    or None for anything else (a toy sampler)."""
    if isinstance(data, tuple) and len(data) == 2:
        data = data[0]
    images = data if isinstance(data, torch.Tensor) else getattr(data, "images", None)
    return images if isinstance(images, torch.Tensor) else None


def check_training_arguments(*, G, D, data, steps, batch_size, lr_g, lr_d, betas, n_critic, gp_weight,
                             r1_gamma, clip_value, conditional, ema, ema_decay, n_samples, checkpoint_every,
                             resume, seed, progress, log_every, loss="nonsaturating", sample_every=100,
                             r2_gamma=0.0) -> None:
    """Check :func:`gancourse.train.train_gan`'s arguments; raise ``TypeError``/``ValueError`` at the first bad one.

    Beyond types and ranges, the images are checked once: floating point, four dimensions and values in
    [-1, 1] (a dataset in [0, 255] trains a generator that can never match it: its last layer is a tanh).
    Lecture 03.
    """
    from torch import nn

    for name, net in (("G", G), ("D", D)):
        check_type(net, nn.Module, name, hint="Pass the network itself (a torch.nn.Module), not its class or output.")
    check_int(steps, "steps", low=0, hint="It counts generator steps.")
    check_int(batch_size, "batch_size", low=1)
    for name, lr in (("lr_g", lr_g), ("lr_d", lr_d)):
        check_number(lr, name, low=0, hint="Learning rates of 1e-4 to 1e-3 are usual for GANs.")
    check_numbers(betas, "betas", 2, low=0, high=1, high_open=True,
                  hint="Adam's (beta1, beta2), e.g. betas=(0.5, 0.999), each in [0, 1).")
    check_int(n_critic, "n_critic", low=1, hint="It counts discriminator steps per generator step (5 for WGAN-GP).")
    check_number(gp_weight, "gp_weight", low=0, hint="It is the gradient penalty's lambda (10 in WGAN-GP), or 0 for none.")
    check_number(r1_gamma, "r1_gamma", low=0, hint="It is R1's gamma, or 0 for none.")
    check_number(r2_gamma, "r2_gamma", low=0, hint="It is R2's gamma (R3GAN sets it equal to r1_gamma), or 0 for none.")
    if clip_value is not None:
        check_number(clip_value, "clip_value", low=0, low_open=True, hint="WGAN clips at 0.01; None turns clipping off.")
    if ema is not None:
        check_type(ema, nn.Module, "ema", hint="Pass a copy of G: ema=gancourse.train.clone(G).")
        check_number(ema_decay, "ema_decay", low=0, high=1, high_open=True,
                     hint="It is the weight of the old average per step, e.g. 0.999.")
    check_int(n_samples, "n_samples", low=1)
    if checkpoint_every is not None:
        check_int(checkpoint_every, "checkpoint_every", low=1, hint="Pass None to save only at the end.")
    check_int(seed, "seed")
    check_int(log_every, "speed.log_every", low=1)
    for name, flag in (("conditional", conditional), ("resume", resume), ("progress", progress)):
        check_bool(flag, name)
    if not isinstance(loss, str) and not (isinstance(loss, (tuple, list)) and len(loss) == 2 and all(map(callable, loss))):
        raise TypeError(f"loss must be a name (e.g. 'nonsaturating', 'hinge') or a pair of functions "
                        f"(d_loss_fn, g_loss_fn), got {_got(loss)}.")
    if isinstance(sample_every, numbers.Integral) and not isinstance(sample_every, bool):
        check_int(sample_every, "sample_every", low=1, hint="Or pass a list of the steps to sample at.")
    elif not (isinstance(sample_every, (list, tuple, range, set)) and all(
            isinstance(k, numbers.Integral) and not isinstance(k, bool) for k in sample_every)):
        raise TypeError(f"sample_every must be an int (sample every that many steps) or a list of steps, "
                        f"got {_got(sample_every)}.")
    images = training_images(data)
    if images is not None:
        hint = ("Scale them to [-1, 1] (uint8 pixels: x / 127.5 - 1), or load them with "
                "gancourse.data.image_dataset, which does.")
        check_tensor(images, "the training images", ndim=4, floating=True, hint=hint)
        if len(images):
            check_value_range(images, "the training images", -1.0, 1.0, hint=hint)
