r"""R3GAN's objective: the relativistic pairing loss with R1 and R2, and one training step of it.

Huang et al. 2024 (*The GAN is dead; long live the GAN!*, arXiv:2501.05441) argue that a GAN needs
no tricks once its loss is well behaved: the relativistic pairing loss (RpGAN, Jolicoeur-Martineau
2018, arXiv:1807.00734) has no mode-dropping optima, and zero-centred gradient penalties on *both*
real and generated data make its training converge locally (section 2.2). The discriminator
minimises

.. math:: L_D = \mathbb{E}_{x, z}\big[f\big(D(G(z)) - D(x)\big)\big]
          + \frac{\gamma}{2}\,\mathbb{E}_x\lVert\nabla_x D(x)\rVert^2
          + \frac{\gamma}{2}\,\mathbb{E}_z\lVert\nabla_{\tilde x} D(\tilde x)\rVert^2\big|_{\tilde x = G(z)},
          \qquad f(t) = \log(1 + e^{t}),

and the generator :math:`L_G = \mathbb{E}_{x,z}[f(D(x) - D(G(z)))]` (their eq. 2 and section 2.2).
The losses live in :mod:`gancourse.losses` (:func:`~gancourse.losses.d_loss_relativistic_pairing`,
:func:`~gancourse.losses.r2_penalty`); this module writes them out as one step (:func:`r3gan_step`, the
exercise's) and runs them through the course loop, whose ``train_gan(..., loss="relativistic-pairing",
r1_gamma=gamma, r2_gamma=gamma)`` is R3GAN: on lecture 04's ring under its protocol (:mod:`gancourse.collapse`),
and on the digits against lecture 03's non-saturating GAN (:func:`digit_table`). Lecture 12.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from gancourse import checkpoints, losses
from gancourse.collapse import RingSetting
from gancourse.config import budget, seed_everything
from gancourse.data import Ring2D
from gancourse.metrics import mode_coverage
from gancourse.toy import Discriminator, Generator, train_toy
from gancourse.train import History


def r3gan_d_loss(D: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor, gamma: float) -> tuple[torch.Tensor, dict]:
    r"""The discriminator's whole R3GAN objective at one real and one (detached) fake batch.

    .. math:: L_D = \operatorname{mean}_i \operatorname{softplus}(s_{f,i} - s_{r,i}) + \frac{\gamma}{2}(R_1 + R_2)

    Args: ``x_real``, ``x_fake`` (B, ...) of one shape; ``gamma`` :math:`\gamma \ge 0` (0: RpGAN alone, no penalty computed).
    Returns ``(loss, parts)``, parts ``{"adv", "r1", "r2"}`` as floats. Lecture 12.
    """
    x_fake = x_fake.detach()
    adv = losses.d_loss_relativistic_pairing(D(x_real), D(x_fake))
    if gamma == 0:  # plain RpGAN: no penalty to compute
        return adv, {"adv": adv.item(), "r1": 0.0, "r2": 0.0}
    r1 = losses.r1_penalty(D, x_real)
    r2 = losses.r2_penalty(D, x_fake)
    return adv + gamma / 2 * (r1 + r2), {"adv": adv.item(), "r1": r1.item(), "r2": r2.item()}


def r3gan_step(G: nn.Module, D: nn.Module, opt_g, opt_d, x_real: torch.Tensor, z: torch.Tensor,
               gamma: float) -> dict:
    r"""One R3GAN training step: a discriminator update, then a generator update, on one batch.

    D descends :func:`r3gan_d_loss` with the fakes :math:`G(z)` detached; then G descends
    :math:`L_G = \operatorname{mean}_i \operatorname{softplus}(s_{r,i} - s_{f,i})` scored by the
    updated D on the same real batch and the same fakes, with only G's optimiser stepping.
    Args: ``x_real`` (B, ...), ``z`` (B, Z). Returns ``{"d_loss", "g_loss", "adv", "r1", "r2"}``. Lecture 12.
    """
    x_fake = G(z)  # (B, ...), the graph back to G is kept for G's update
    loss_d, parts = r3gan_d_loss(D, x_real, x_fake, gamma)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    loss_g = losses.g_loss_relativistic_pairing(D(x_fake), D(x_real))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()  # D's weights received gradients too; opt_d clears them before its next step
    return {"d_loss": loss_d.item(), "g_loss": loss_g.item(), **parts}


@dataclasses.dataclass
class R3Run:
    """One cached R3GAN ring run: ``seed``, the final ``samples`` (N, 2), their ``modes`` covered and
    ``high_quality`` fraction (:func:`gancourse.metrics.mode_coverage`), and the run's
    :class:`~gancourse.train.History` (``penalty``: the weighted :math:`\\tfrac{\\gamma}{2}(R_1 + R_2)` per step). Lecture 12."""

    seed: int
    samples: torch.Tensor
    modes: int
    high_quality: float
    history: History


def _ring_name(setting: RingSetting, seed: int, gamma: float, betas) -> str:
    parts = "|".join(f"{f.name}={getattr(setting, f.name)}" for f in dataclasses.fields(setting) if f.name != "method")
    return checkpoints.keyed_name("ring", "r3gan", seed, parts + f"|gamma={gamma}|betas={tuple(betas)}|loop=train_gan")


def ring_done(setting: RingSetting, seed: int, gamma: float, betas=(0.5, 0.999)) -> bool:
    """Whether :func:`ring_run_r3gan` of these arguments is in the cache already. Lecture 12."""
    return checkpoints.cache_path(_ring_name(setting, seed, gamma, betas)).exists()


def ring_table_r3gan(setting: RingSetting, seeds, gammas, workers: int = 1) -> dict:
    """``{gamma: [R3Run per seed]}``: :func:`ring_run_r3gan` for every gamma and seed, the missing runs trained in
    ``workers`` processes side by side (as :func:`gancourse.collapse.ring_table` does). Lecture 12."""
    jobs = [(setting, seed, gamma) for gamma in gammas for seed in seeds]
    checkpoints.side_by_side(ring_run_r3gan, jobs, ring_done, workers)
    return {gamma: [ring_run_r3gan(setting, seed, gamma) for seed in seeds] for gamma in gammas}


def ring_run_r3gan(setting: RingSetting, seed: int = 0, gamma: float = 1.0, betas=(0.5, 0.999),
                   retrain: bool = False) -> R3Run:
    """R3GAN on lecture 04's ring with ``setting``'s networks, data, batch, steps and learning rate (its
    ``method`` is ignored), trained by the course loop: ``train_gan(..., loss="relativistic-pairing",
    r1_gamma=gamma, r2_gamma=gamma)`` through :func:`gancourse.toy.train_toy`, on one thread, counted
    with the same protocol as :func:`gancourse.collapse.ring_run` and cached in the cache folder, keyed
    by every setting, ``gamma``, ``betas`` and the seed. ``gamma=0`` is the pairing loss alone (RpGAN).
    Measured on lecture 04's FAST ring (300 steps, modes covered): through the course loop, gamma 0.1 gave
    8 on seeds 0-4 (high-quality fractions 0.21-0.26) and gamma 0 gave 4-5, about 2.4 and 1.6 s a run on one
    thread; with :func:`r3gan_step` (G scored on the same fakes), seeds 0-2, gamma 0.01 gave 6, 6, 7 and
    gamma 0.03, 0.1 and 1 gave 8, 8, 8. Lecture 12.
    """
    name = _ring_name(setting, seed, gamma, betas)

    @checkpoints.one_thread()
    def make() -> dict:
        seed_everything(seed)
        G = Generator(setting.z_dim, 2, setting.g_hidden, "relu")
        D = Discriminator(2, setting.d_hidden, "relu")
        history = train_toy(G, D, Ring2D(std=setting.std), steps=setting.steps, batch_size=setting.batch_size,
                            loss="relativistic-pairing", r1_gamma=gamma, r2_gamma=gamma, lr_g=setting.lr,
                            lr_d=setting.lr, betas=tuple(betas), snapshot_steps=(), n_snapshot_samples=setting.n_samples,
                            seed=seed)
        config = {"gamma": gamma, "betas": list(betas), "seed": seed,
                  **{k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(setting).items()}}
        return {"history": history.to_dict(), "G": G.state_dict(), "D": D.state_dict(), "config": config}

    history = History.from_dict(checkpoints.cached(name, make, retrain)["history"])
    samples = history.snapshots[-1].samples
    cover = mode_coverage(samples, Ring2D(std=setting.std).centers, setting.std)
    return R3Run(seed, torch.as_tensor(samples), cover.modes, cover.high_quality, history)


# --------------------------------------------------------------------------------------------
# On the digits: R3GAN and the non-saturating GAN through the course loop
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DigitSetting:
    """One protocol for R3GAN and its baseline on images: lecture 03's DCGAN networks at ``width``, the
    same data, steps, batch, learning rate, Adam betas and seeds for both; ``gamma`` is R3GAN's
    :math:`\\gamma` for R1 and R2. ``n_samples`` images are drawn from fixed noise at the end. Lecture 12."""

    dataset: str = "digits"
    width: int = 16
    z_dim: int = 100
    steps: int = 200
    batch_size: int = 32
    lr: float = 5e-4
    betas: tuple = (0.5, 0.999)
    gamma: float = 1.0
    n_samples: int = 1000


def digit_setting() -> DigitSetting:
    """Lecture 12's budgets on images: FAST on the embedded digits (lecture 03's width 16, batch 32 and learning
    rate), FULL on MNIST at the cookbook's width 64 (not measured on a GPU). Measured in FAST (200 steps,
    classifier FD of the 1,000 final samples to the held-out digits, seeds 0-4): the non-saturating GAN 185,
    135, 191, 137, 127 (about 0.022 s a step on one thread); R3GAN at gamma 1 539, 192, 386, 279, 355 (0.040 s
    a step: the penalties' double backward). On seeds 0-2, from other sample noise: R3GAN at gamma 0.1 532,
    173, 571; the non-saturating GAN with R3GAN's normalisation-free D 1,116, 622, 694. Lecture 12."""
    return DigitSetting(dataset=budget(fast="digits", full="mnist"), width=budget(fast=16, full=64),
                        steps=budget(fast=DIGIT_FAST_STEPS, full=3000), batch_size=budget(fast=32, full=64),
                        lr=budget(fast=5e-4, full=2e-4))


DIGIT_FAST_STEPS = 200
DIGIT_METHODS = ("nonsaturating", "r3gan")


def _digit_name(setting: DigitSetting, method: str, seed: int) -> str:
    parts = "|".join(f"{f.name}={getattr(setting, f.name)}" for f in dataclasses.fields(setting))
    return checkpoints.keyed_name("digits", method, seed, parts)


def digit_done(setting: DigitSetting, method: str, seed: int) -> bool:
    """Whether :func:`digit_run` of these arguments is in the cache already. Lecture 12."""
    return checkpoints.cache_path(_digit_name(setting, method, seed)).exists()


def digit_table(setting: DigitSetting, seeds, methods=DIGIT_METHODS, workers: int = 1) -> dict:
    """``{method: [(G, History) per seed]}``: :func:`digit_run` for every method and seed, the missing runs
    trained in ``workers`` processes side by side (one thread each; the same results as one after the other). Lecture 12."""
    jobs = [(setting, m, seed) for m in methods for seed in seeds]
    checkpoints.side_by_side(_digit_worker, jobs, digit_done, workers)
    return {m: [digit_run(setting, m, seed) for seed in seeds] for m in methods}


def _digit_worker(setting: DigitSetting, method: str, seed: int) -> None:
    digit_run(setting, method, seed)  # writes the checkpoint; the parent reads it


def digit_run(setting: DigitSetting, method: str, seed: int = 0) -> tuple[nn.Module, History]:
    """Train ``method`` on ``setting``'s images with :func:`gancourse.train.train_gan` on one thread (or read
    the finished checkpoint from the cache folder): ``"nonsaturating"`` is lecture 03's GAN (the cookbook's
    batch-norm D), ``"r3gan"`` is ``train_gan(..., loss="relativistic-pairing", r1_gamma=gamma,
    r2_gamma=gamma)`` with a D without normalisation (R3GAN's D has none, and a batch statistic would make each
    image's gradient depend on the others'). Returns ``(G in evaluation mode, History)``; the History's last
    samples are ``setting.n_samples`` images. Lecture 12.
    """
    from gancourse.data import image_dataset
    from gancourse.dcgan import build_dcgan
    from gancourse.train import train_gan

    if method not in DIGIT_METHODS:
        raise ValueError(f"method must be one of {DIGIT_METHODS}, got {method!r}.")
    name = _digit_name(setting, method, seed)
    kw = (dict(loss="relativistic-pairing", r1_gamma=setting.gamma, r2_gamma=setting.gamma) if method == "r3gan"
          else dict(loss="nonsaturating"))
    with checkpoints.one_thread():
        seed_everything(seed)
        G, D = build_dcgan(z_dim=setting.z_dim, width=setting.width, img_size=28,
                           d_norm="none" if method == "r3gan" else "batch")
        history = train_gan(G, D, image_dataset(setting.dataset, train=True), steps=setting.steps,
                            batch_size=setting.batch_size, lr_g=setting.lr, lr_d=setting.lr, betas=setting.betas,
                            sample_every=(), n_samples=setting.n_samples, checkpoint=name, seed=seed,
                            progress=False, **kw)
    return G.eval(), history
