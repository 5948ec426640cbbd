"""Lecture 03's checkers: the reference passes, the stub's NotImplementedError passes through, each typical mistake fails."""

import pytest
from torch import nn

from gancourse import checks
from gancourse.checks import CheckFailed, check_dcgan_discriminator, check_dcgan_generator, check_dcgan_train_step
from gancourse.losses import d_loss, g_loss_nonsaturating, g_loss_saturating

# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _strict_checks():
    """A failing check raises here, so that each mistake can be asserted with pytest.raises."""
    with checks.strict():
        yield



def make_generator(nz, ngf, channels, *, bias_everywhere=False, bn_at_output=False, leaky=False, no_tanh=False,
                   widths=(4, 2, 1)):
    w = [nz] + [ngf * k for k in widths] + [channels]
    layers = []
    for i, (k, s, p) in enumerate([(4, 1, 0), (4, 2, 1), (4, 2, 1), (4, 2, 1)]):
        last = i == 3
        layers.append(nn.ConvTranspose2d(w[i], w[i + 1], k, s, p, bias=last or bias_everywhere))
        if not last:
            layers += [nn.BatchNorm2d(w[i + 1]), nn.LeakyReLU(0.2) if leaky else nn.ReLU()]
    if bn_at_output:
        layers.append(nn.BatchNorm2d(channels))
    if not no_tanh:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def test_generator_reference_passes(capsys):
    check_dcgan_generator(make_generator)
    assert "check_dcgan_generator passed" in capsys.readouterr().out


def test_generator_stub_propagates():
    def stub(nz, ngf, channels):
        raise NotImplementedError("Exercise: write this part yourself")

    with pytest.raises(NotImplementedError):
        check_dcgan_generator(stub)


@pytest.mark.parametrize("mistake,match", [
    (dict(bn_at_output=True), "batch norm sits at G's output"),
    (dict(no_tanh=True), "ends with Tanh"),
    (dict(bias_everywhere=True), "more biases than the cookbook"),
    (dict(leaky=True), "use ReLU"),
    (dict(widths=(8, 4, 1)), r"parameters, expected"),
])
def test_generator_mistakes_fail(mistake, match):
    with pytest.raises(CheckFailed, match=match):
        check_dcgan_generator(lambda nz, ngf, c: make_generator(nz, ngf, c, **mistake))


def test_generator_wrong_size_and_types_fail():
    def to_28(nz, ngf, channels):  # 1 -> 3 -> 7 -> 14 -> 28
        return nn.Sequential(nn.ConvTranspose2d(nz, ngf, 3, 1, 0), nn.ConvTranspose2d(ngf, ngf, 3, 2, 0),
                             nn.ConvTranspose2d(ngf, ngf, 4, 2, 1), nn.ConvTranspose2d(ngf, channels, 4, 2, 1),
                             nn.Tanh())

    with pytest.raises(CheckFailed, match=r"expected \(5, 1, 32, 32\)"):
        check_dcgan_generator(to_28)
    with pytest.raises(CheckFailed, match="return an nn.Module"):
        check_dcgan_generator(lambda nz, ngf, c: [nn.Tanh()])
    with pytest.raises(CheckFailed, match="forget a `return`"):
        check_dcgan_generator(lambda nz, ngf, c: None)

    def with_linear(nz, ngf, channels):
        return nn.Sequential(nn.Flatten(), nn.Linear(nz, channels * 32 * 32), nn.Unflatten(1, (channels, 32, 32)),
                             nn.Tanh())

    with pytest.raises(CheckFailed, match="no fully connected hidden layers"):
        check_dcgan_generator(with_linear)


# --------------------------------------------------------------------------------------------
# The discriminator
# --------------------------------------------------------------------------------------------


def make_discriminator(ndf, channels, *, bn_at_input=False, sigmoid=False, relu=False, slope=0.2,
                       bias_everywhere=False):
    w = [channels, ndf, ndf * 2, ndf * 4, 1]
    layers = []
    for i, (k, s, p) in enumerate([(4, 2, 1), (4, 2, 1), (4, 2, 1), (4, 1, 0)]):
        first, last = i == 0, i == 3
        normed = not last and (not first or bn_at_input)
        layers.append(nn.Conv2d(w[i], w[i + 1], k, s, p, bias=bias_everywhere or not normed))
        if last:
            break
        if normed:
            layers.append(nn.BatchNorm2d(w[i + 1]))
        layers.append(nn.ReLU() if relu else nn.LeakyReLU(slope))
    if sigmoid:
        layers.append(nn.Sigmoid())
    layers.append(nn.Flatten(0))
    return nn.Sequential(*layers)


def test_discriminator_reference_passes(capsys):
    check_dcgan_discriminator(make_discriminator)
    assert "check_dcgan_discriminator passed" in capsys.readouterr().out


def test_discriminator_stub_propagates():
    def stub(ndf, channels):
        raise NotImplementedError("Exercise: write this part yourself")

    with pytest.raises(NotImplementedError):
        check_dcgan_discriminator(stub)


@pytest.mark.parametrize("mistake,match", [
    (dict(bn_at_input=True), "batch norm follows D's first convolution"),
    (dict(sigmoid=True), "ends with a Sigmoid"),
    (dict(relu=True), "LeakyReLU with slope 0.2"),
    (dict(slope=0.01), "LeakyReLU with slope 0.2"),
    (dict(bias_everywhere=True), "more biases than the cookbook"),
])
def test_discriminator_mistakes_fail(mistake, match):
    with pytest.raises(CheckFailed, match=match):
        check_dcgan_discriminator(lambda ndf, c: make_discriminator(ndf, c, **mistake))


def test_discriminator_wrong_output_fails():
    def no_last_layer(ndf, channels):  # stops at 4x4: 16 numbers per image
        return nn.Sequential(nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(ndf, 1, 4, 2, 1),
                             nn.LeakyReLU(0.2), nn.Conv2d(1, 1, 4, 2, 1))

    with pytest.raises(CheckFailed, match="one logit per image"):
        check_dcgan_discriminator(no_last_layer)


# --------------------------------------------------------------------------------------------
# The training step
# --------------------------------------------------------------------------------------------


def train_step(G, D, opt_g, opt_d, x_real, z_d, z_g):
    x_fake = G(z_d)
    loss_d = d_loss(D(x_real), D(x_fake.detach()))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = g_loss_nonsaturating(D(G(z_g)))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def no_detach(G, D, opt_g, opt_d, x_real, z_d, z_g):
    loss_d = d_loss(D(x_real), D(G(z_d)))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = g_loss_nonsaturating(D(G(z_g)))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def d_ascends(G, D, opt_g, opt_d, x_real, z_d, z_g):
    loss_d = d_loss(D(x_real), D(G(z_d).detach()))
    opt_d.zero_grad()
    (-loss_d).backward()
    opt_d.step()
    loss_g = g_loss_nonsaturating(D(G(z_g)))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def g_ascends(G, D, opt_g, opt_d, x_real, z_d, z_g):
    loss_d = d_loss(D(x_real), D(G(z_d).detach()))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = -g_loss_nonsaturating(D(G(z_g)))  # "G maximises log D(G(z))", written as a loss with the wrong sign
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), -loss_g.item()


def swapped(G, D, opt_g, opt_d, x_real, z_d, z_g):
    loss_d = d_loss(D(G(z_d).detach()), D(x_real))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = g_loss_nonsaturating(D(G(z_g)))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def saturating(G, D, opt_g, opt_d, x_real, z_d, z_g):
    loss_d = d_loss(D(x_real), D(G(z_d).detach()))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = g_loss_saturating(D(G(z_g)))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def no_zero_grad(G, D, opt_g, opt_d, x_real, z_d, z_g):
    loss_d = d_loss(D(x_real), D(G(z_d).detach()))
    loss_d.backward()
    opt_d.step()
    loss_g = g_loss_nonsaturating(D(G(z_g)))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def reuse_z(G, D, opt_g, opt_d, x_real, z_d, z_g):
    return train_step(G, D, opt_g, opt_d, x_real, z_d, z_d)


def returns_negated_loss(G, D, opt_g, opt_d, x_real, z_d, z_g):
    loss_d, loss_g = train_step(G, D, opt_g, opt_d, x_real, z_d, z_g)
    return -loss_d, loss_g


def swapped_optimizers(G, D, opt_g, opt_d, x_real, z_d, z_g):
    return train_step(G, D, opt_d, opt_g, x_real, z_d, z_g)


def test_train_step_reference_passes(capsys):
    check_dcgan_train_step(train_step)
    assert "check_dcgan_train_step passed" in capsys.readouterr().out


def test_train_step_stub_propagates():
    def stub(*args):
        raise NotImplementedError("Exercise: write this part yourself")

    with pytest.raises(NotImplementedError):
        check_dcgan_train_step(stub)


@pytest.mark.parametrize("fn,match", [
    (no_detach, r"received gradients from 2 backward passes.*detach"),
    (d_ascends, "D climbs its loss"),
    (g_ascends, "G climbs its loss"),
    (swapped, "real and fake are swapped"),
    (saturating, "saturating loss"),
    (no_zero_grad, "opt_d.zero_grad"),
    (reuse_z, "reuses z_d"),
    (returns_negated_loss, "the negative of"),
    (swapped_optimizers, "weights after your step differ"),
])
def test_train_step_mistakes_fail(fn, match):
    with pytest.raises(CheckFailed, match=match):
        check_dcgan_train_step(fn)


# ---- layer order and the final activation (the mistakes a count of layers lets through)


def _g_order(act_first=False):
    def make(nz, ngf, channels):
        def block(i, o, *spec):
            conv, bn, act = nn.ConvTranspose2d(i, o, *spec, bias=False), nn.BatchNorm2d(o), nn.ReLU()
            return [conv, act, bn] if act_first else [conv, bn, act]
        return nn.Sequential(*block(nz, 4 * ngf, 4, 1, 0), *block(4 * ngf, 2 * ngf, 4, 2, 1),
                             *block(2 * ngf, ngf, 4, 2, 1), nn.ConvTranspose2d(ngf, channels, 4, 2, 1), nn.Tanh())
    return make


def _d_final(final=None, act_first=False):
    def make(ndf, channels):
        def block(i, o):
            conv, bn, act = nn.Conv2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.LeakyReLU(0.2)
            return [conv, act, bn] if act_first else [conv, bn, act]
        layers = [nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2), *block(ndf, 2 * ndf), *block(2 * ndf, 4 * ndf),
                  nn.Conv2d(4 * ndf, 1, 4, 1, 0), nn.Flatten(0)]
        return nn.Sequential(*layers, *([final()] if final else []))
    return make


def test_layer_order_and_final_activation_are_checked():
    with checks.strict():
        check_dcgan_generator(_g_order())
        check_dcgan_discriminator(_d_final())
        with pytest.raises(CheckFailed, match="BatchNorm2d after a ReLU"):
            check_dcgan_generator(_g_order(act_first=True))
        with pytest.raises(CheckFailed, match="BatchNorm2d after a LeakyReLU"):
            check_dcgan_discriminator(_d_final(act_first=True))
        for final in (nn.Tanh, nn.ReLU, lambda: nn.LeakyReLU(0.2)):
            with pytest.raises(CheckFailed, match="after its last convolution"):
                check_dcgan_discriminator(_d_final(final))
