"""Lecture 03 exercise checkers: the DCGAN cookbook networks and one training step on images."""

from __future__ import annotations

import torch

from gancourse.checkpoints import one_thread
from gancourse.checks._core import checker, _fmt, fail, assert_close, passed, _run


def _leaf_modules(module) -> list:
    """The layers that compute, in order (reshapes such as Flatten are skipped)."""
    from torch import nn

    reshapes = (nn.Flatten, nn.Unflatten, nn.Identity)
    return [m for m in module.modules() if not list(m.children()) and not isinstance(m, reshapes)]


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


@checker
def check_dcgan_generator(fn) -> None:
    """Check ``fn(nz, ngf, channels)``: the cookbook generator for 32x32 images.

    Compares with :class:`gancourse.dcgan.Generator` (``img_size=32``): the output shape for
    z (B, nz, 1, 1), the output range [-1, 1] (Tanh), the parameter count, batch norm and ReLU on the
    hidden layers and none at the output. Lecture 03 exercise.
    """
    with one_thread():  # tiny networks: on two busy cores, two threads can be ten times slower
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
        for k, m in enumerate(leaves[:-1]):
            if isinstance(m, nn.BatchNorm2d) and not isinstance(leaves[k - 1], nn.ConvTranspose2d):
                fail(name, f"layer {k} is a BatchNorm2d after a {type(leaves[k - 1]).__name__}: the cookbook's order "
                           "is transposed convolution, then batch norm, then ReLU (normalise the convolution's "
                           "output, then activate).")
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


@checker
def check_dcgan_discriminator(fn) -> None:
    """Check ``fn(ndf, channels)``: the cookbook discriminator for 32x32 images, returning logits.

    Compares with :class:`gancourse.dcgan.Discriminator` (``img_size=32``): one logit per image, no
    sigmoid, LeakyReLU(0.2), no batch norm at the input layer, the parameter count. Lecture 03 exercise.
    """
    with one_thread():
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
        if not isinstance(leaves[-1], nn.Conv2d):
            fail(name, f"D ends with a {type(leaves[-1]).__name__} after its last convolution: return that "
                       "convolution's output as it is, one logit per image, with no activation after it.")
        for k, m in enumerate(leaves[:-1]):
            if isinstance(m, nn.BatchNorm2d) and not isinstance(leaves[k - 1], nn.Conv2d):
                fail(name, f"layer {k} is a BatchNorm2d after a {type(leaves[k - 1]).__name__}: the order is "
                           "convolution, then batch norm, then LeakyReLU.")
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
    G, D = build_dcgan(z_dim=8, width=4, channels=1, img_size=32)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))  # different rates: swapped
    opt_d = torch.optim.Adam(D.parameters(), lr=3e-3, betas=(0.5, 0.999))  # optimisers show
    return G, D, opt_g, opt_d


def _same_weights(a, b, atol: float = 1e-5) -> bool:
    return all(torch.allclose(p, q, atol=atol, rtol=1e-4) for p, q in zip(a.parameters(), b.parameters()))


@checker
def check_dcgan_train_step(fn) -> None:
    """Check ``fn(G, D, opt_g, opt_d, x_real, z_d, z_g) -> (loss_d, loss_g)``: one DCGAN step on images.

    Three steps of a small DCGAN (with batch norm) against the reference: D on real images and on
    ``G(z_d)`` detached, then G on fresh noise ``z_g`` through the updated D, non-saturating loss.
    Catches a missing ``.detach()`` (G's weights then receive gradients from the D loss), a flipped
    sign in either step, swapped real and fake, the saturating loss, reused noise, G stepping first,
    real and fake scored in one batch, and a missing ``zero_grad``. Lecture 03 exercise.
    """
    with one_thread():
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
