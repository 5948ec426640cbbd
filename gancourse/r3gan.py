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
:func:`~gancourse.losses.r2_penalty`); this module assembles them into a step and runs it on lecture
04's ring under the same protocol (:mod:`gancourse.collapse`). Lecture 12.
"""

from __future__ import annotations

import dataclasses
import time

import torch
from torch import nn

from gancourse import checkpoints, losses
from gancourse.collapse import RingSetting
from gancourse.config import course_seed, seed_everything
from gancourse.data import Ring2D
from gancourse.metrics import mode_coverage
from gancourse.toy import Discriminator, Generator


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


def train_r3gan_toy(G: Generator, D: nn.Module, sampler, *, steps: int, batch_size: int = 128, gamma: float = 1.0,
                    lr: float = 1e-3, betas=(0.5, 0.999), n_samples: int = 2500, seed: int = 0) -> dict:
    """Play :func:`r3gan_step` ``steps`` times on a toy sampler (``.sample(n, generator=)``).

    Noise and real batches come from one generator seeded by ``seed``; the final samples from fixed
    noise (seeded ``seed + 1``); seeds are shifted by :func:`gancourse.config.course_seed`. Returns
    ``{"d_loss", "g_loss", "penalty"}`` lists per step (the adversarial losses and :math:`R_1 + R_2`
    unweighted), ``"samples"`` (n_samples, d) and the training ``"seconds"``. Lecture 12.
    """
    gen = torch.Generator().manual_seed(course_seed(seed))
    z_fixed = G.noise(n_samples, torch.Generator().manual_seed(course_seed(seed) + 1))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=tuple(betas))
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=tuple(betas))
    record = {"d_loss": [], "g_loss": [], "penalty": []}
    began = time.perf_counter()
    for _ in range(steps):
        x_real = torch.as_tensor(sampler.sample(batch_size, generator=gen), dtype=torch.float32)
        rec = r3gan_step(G, D, opt_g, opt_d, x_real, G.noise(batch_size, gen), gamma)
        record["d_loss"].append(rec["adv"])
        record["g_loss"].append(rec["g_loss"])
        record["penalty"].append(rec["r1"] + rec["r2"])
    record["seconds"] = time.perf_counter() - began
    with torch.no_grad():
        record["samples"] = G(z_fixed)
    return record


@dataclasses.dataclass
class R3Run:
    """One cached R3GAN ring run: ``seed``, the final ``samples`` (N, 2), their ``modes`` covered and
    ``high_quality`` fraction (:func:`gancourse.metrics.mode_coverage`), and the per-step ``record``. Lecture 12."""

    seed: int
    samples: torch.Tensor
    modes: int
    high_quality: float
    record: dict


def ring_run_r3gan(setting: RingSetting, seed: int = 0, gamma: float = 1.0, betas=(0.5, 0.999),
                   retrain: bool = False) -> R3Run:
    """R3GAN on lecture 04's ring with ``setting``'s networks, data, batch, steps and learning rate (its
    ``method`` is ignored), counted with the same protocol as :func:`gancourse.collapse.ring_run` and
    cached in the cache folder, keyed by every setting, ``gamma``, ``betas`` and the seed. Trains on
    one thread. Measured on lecture 04's FAST ring (300 steps, seeds 0-2, modes covered): gamma 0.01
    gave 6, 6, 7; gamma 0.03, 0.1 and 1 gave 8, 8, 8 (high-quality fractions about 0.29, 0.25 and
    0.21); Adam betas (0, 0.99), R3GAN's own, gave 8, 8, 8 at gamma 1 as well. Lecture 12.
    """
    parts = "|".join(f"{f.name}={getattr(setting, f.name)}" for f in dataclasses.fields(setting) if f.name != "method")
    path = checkpoints.cache_path(
        f"ring-r3gan-seed{course_seed(seed)}-{checkpoints.stable_hash(parts + f'|gamma={gamma}|betas={tuple(betas)}') % 10**10:010d}.pt")
    if path.exists() and not retrain:
        record = checkpoints.load(path)["record"]
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            seed_everything(seed)
            G = Generator(setting.z_dim, 2, setting.g_hidden, "relu")
            D = Discriminator(2, setting.d_hidden, "relu")
            record = train_r3gan_toy(G, D, Ring2D(std=setting.std), steps=setting.steps, batch_size=setting.batch_size,
                                     gamma=gamma, lr=setting.lr, betas=betas, n_samples=setting.n_samples, seed=seed)
        finally:
            torch.set_num_threads(threads)
        checkpoints.save({"record": record, "G": G.state_dict(), "D": D.state_dict(),
                          "config": {"gamma": gamma, "betas": list(betas), "seed": seed,
                                     **{k: (list(v) if isinstance(v, tuple) else v)
                                        for k, v in dataclasses.asdict(setting).items()}}}, path)
    cover = mode_coverage(record["samples"], Ring2D(std=setting.std).centers, setting.std)
    return R3Run(seed, record["samples"], cover.modes, cover.high_quality, record)
