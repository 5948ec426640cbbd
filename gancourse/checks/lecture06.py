"""Lecture 06 exercise checkers: power iteration for the largest singular value."""

from __future__ import annotations

import torch

from gancourse.checks._core import checker, fail, assert_close, passed, _run


_POWER_HINT = ("Each step multiplies by W^T, normalises (v), multiplies by W, normalises (u); after the loop v "
               "once more from the final u, then sigma from u, W and v. More: hint('power_iteration').")


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


@checker
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


def _sn_reference(W, u, b, x, n_steps: int):
    """Output, new u and sigma of a spectrally normalised linear layer after ``n_steps`` power steps from u."""
    with torch.no_grad():
        for _ in range(n_steps):
            v = torch.nn.functional.normalize(W.T @ u, dim=0)
            u = torch.nn.functional.normalize(W @ v, dim=0)
        v = torch.nn.functional.normalize(W.T @ u, dim=0)
    sigma = u @ (W @ v)  # gradient to W through sigma only: u and v are constants
    return torch.nn.functional.linear(x, W / sigma, b), u, sigma


@checker
def check_sn_linear(cls) -> None:
    r"""Check a class ``cls(in_features, out_features)``: a linear layer divided by its spectral norm.

    The layer keeps :math:`u` as a buffer; each forward in training mode takes one power-iteration
    step from the stored :math:`u`, stores the new :math:`u` in place (no graph attached), and returns
    :math:`x (W/\hat\sigma)^\top + b` with :math:`\hat\sigma = u^\top W v`, the gradient flowing to
    :math:`W` through :math:`\hat\sigma` with :math:`u, v` held constant (Miyato et al. 2018, algorithm 1).
    In evaluation mode :math:`u` does not move. Checked on irregular sizes, over consecutive forwards,
    against the exact spectral norm after many steps, and by the weight's gradient. Lecture 06 exercise.
    """
    F_ = torch.nn.functional
    name = "check_sn_linear"
    for fan_in, fan_out, batch in ((7, 5, 6), (3, 11, 4)):
        where = f"SNLinear({fan_in}, {fan_out})"
        layer = _run(name, cls, fan_in, fan_out)
        if not isinstance(layer, torch.nn.Module):
            fail(name, f"{where} is a {type(layer).__name__}; the class must be an nn.Module.")
        if not isinstance(getattr(layer, "weight", None), torch.nn.Parameter) or tuple(layer.weight.shape) != (fan_out, fan_in):
            fail(name, f"{where}: keep the weight as an nn.Parameter named weight, of shape (out, in) = ({fan_out}, {fan_in}).")
        buffers = dict(layer.named_buffers())
        if "u" not in buffers:
            fail(name, f"{where}: u must be a buffer (self.register_buffer('u', ...)), so that it is saved with the "
                       "layer and moves with .to(device); a plain attribute is neither.")
        if tuple(buffers["u"].shape) != (fan_out,):
            fail(name, f"{where}: u has shape {tuple(buffers['u'].shape)}, expected (out_features,) = ({fan_out},).")
        g = torch.Generator().manual_seed(fan_in * 10 + fan_out)
        with torch.no_grad():
            layer.weight.copy_(torch.randn(fan_out, fan_in, generator=g))
            if getattr(layer, "bias", None) is not None:
                layer.bias.copy_(torch.randn(fan_out, generator=g))
            layer.u.copy_(F_.normalize(torch.randn(fan_out, generator=g), dim=0))
        W, b = layer.weight.detach().clone().requires_grad_(True), getattr(layer, "bias", None)
        b = b.detach().clone() if b is not None else None
        u = layer.u.detach().clone()
        layer.train()
        for call in range(3):
            x = torch.randn(batch, fan_in, generator=g)
            r = torch.randn(batch, fan_out, generator=g)
            before = layer.u
            ptr = layer.u.data_ptr()
            y = _run(name, layer, x)
            expected, u_next, sigma = _sn_reference(W, u, b, x, 1)
            if not isinstance(y, torch.Tensor) or tuple(y.shape) != (batch, fan_out):
                got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
                fail(name, f"{where}: output of shape {got} for x of shape ({batch}, {fan_in}); expected ({batch}, {fan_out}).")
            new_u = layer.u
            if new_u.requires_grad or new_u.grad_fn is not None:
                fail(name, f"{where}: the stored u carries a graph; update it under torch.no_grad() (or from detached "
                           "vectors), or every step's graph stays alive through it.")
            if torch.allclose(new_u, u, atol=1e-6) and not torch.allclose(u_next, u, atol=1e-6):
                fail(name, f"{where}, forward {call + 1} in training mode: u did not change. Store the vector of this "
                           "step in the buffer, so that the next forward starts from it.")
            _, u_two, _ = _sn_reference(W, u, b, x, 2)
            if torch.allclose(new_u, u_two, atol=1e-5) and not torch.allclose(u_two, u_next, atol=1e-5):
                fail(name, f"{where}: u moved by two power steps in one forward; one step per forward is the method.")
            assert_close(name, f"{where}, u after forward {call + 1} (one power step from the stored u)", new_u, u_next,
                         atol=1e-5, rtol=1e-4, hint="Start each forward from the stored u, not from a new random vector.")
            if new_u is not before or new_u.data_ptr() != ptr:
                fail(name, f"{where}: u was replaced by a new tensor; update the buffer in place (self.u.copy_(...) "
                           "under torch.no_grad()), so that anything holding it sees the new value.")
            with torch.no_grad():
                frob = F_.linear(x, W / W.norm(), b)
                bias_too = F_.linear(x, W / sigma, b / sigma if b is not None else None)
            if torch.allclose(y, frob, atol=1e-5) and not torch.allclose(frob, expected, atol=1e-5):
                fail(name, f"{where}: the weight was divided by its Frobenius norm; divide by sigma = u^T W v.")
            if b is not None and torch.allclose(y, bias_too, atol=1e-5) and not torch.allclose(bias_too, expected, atol=1e-5):
                fail(name, f"{where}: the bias was divided by sigma too; only the weight is normalised.")
            assert_close(name, f"{where}, output of forward {call + 1}", y, expected, atol=1e-5, rtol=1e-4,
                         hint="The output is F.linear(x, W / sigma, b), with sigma = u^T W v from the new u and v.")
            if not y.requires_grad:
                fail(name, f"{where}: the output carries no gradient to the weight; compute sigma and the division "
                           "outside torch.no_grad().")
            try:
                (gw,) = torch.autograd.grad((y * r).sum(), layer.weight)
            except RuntimeError as err:
                if "inplace" not in str(err):
                    raise
                fail(name, f"{where}: backward failed because u was overwritten in place after the forward used it "
                           "with gradients. Compute u and v under torch.no_grad(): they are constants for the gradient.")
            (gw_ref,) = torch.autograd.grad((expected * r).sum(), W)
            with torch.no_grad():
                gw_const = (r.T @ x) / sigma  # sigma treated as a constant
            if torch.allclose(gw, gw_const, atol=1e-5) and not torch.allclose(gw_const, gw_ref, atol=1e-5):
                fail(name, f"{where}: no gradient flows through sigma (it was detached): let sigma = u^T W v be "
                           "differentiable in W, with only u and v computed without gradients.")
            assert_close(name, f"{where}, gradient of the weight after forward {call + 1}", gw, gw_ref, atol=1e-4,
                         rtol=1e-3, hint="u and v are constants for the gradient (computed under torch.no_grad()); "
                                         "sigma = u^T W v carries the gradient to W.")
            u = u_next
        layer.eval()
        x = torch.randn(batch, fan_in, generator=g)
        with torch.no_grad():
            y = _run(name, layer, x)
        expected, _, _ = _sn_reference(W.detach(), u, b, x, 0)
        if not torch.allclose(layer.u, u, atol=1e-6):
            fail(name, f"{where}: u moved in evaluation mode (layer.eval()); update it only when self.training is True, "
                       "so that evaluating a model does not change it.")
        assert_close(name, f"{where}, output in evaluation mode (u as stored, no step)", y, expected, atol=1e-5,
                     rtol=1e-4, hint="In evaluation mode take sigma from the stored u without a power step.")
        layer.train()
        with torch.no_grad():
            for _ in range(200):
                layer(x[:1])
            W_bar = layer.weight / _sn_reference(layer.weight, layer.u, None, x[:1], 0)[2]
        top = float(torch.linalg.matrix_norm(W_bar, ord=2))
        if abs(top - 1) > 1e-3:
            fail(name, f"{where}: after 200 forwards the normalised weight has spectral norm {top:.4f}, not 1.")
    passed(name, "one power step per training forward from the stored u, updated in place; W / sigma with the "
                 "gradient through sigma; u frozen in evaluation mode.")
