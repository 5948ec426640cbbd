r"""One alternating training loop for every GAN of the course, from the toy games to StyleGAN.

Goodfellow et al. 2014 (arXiv:1406.2661), algorithm 1: for each step, update the discriminator on
a batch of real data and a batch of fakes, then the generator on fresh noise,

.. math::
    \theta_D \leftarrow \theta_D - \eta_D \nabla_{\theta_D} L_D\big(D(x), D(G(z).\mathrm{detach}())\big),
    \qquad
    \theta_G \leftarrow \theta_G - \eta_G \nabla_{\theta_G} L_G\big(D(G(z'))\big),

with the pair :math:`(L_D, L_G)` chosen by name from :mod:`gancourse.losses` (non-saturating,
saturating, Wasserstein, hinge, least squares, relativistic). The two updates are
:func:`discriminator_step` and :func:`generator_step` (d2l's ``update_D`` and ``update_G``), and
:func:`train_gan` is a short loop over them. The options later lectures add are arguments of those
steps: ``n_critic`` discriminator steps per generator step and a gradient penalty weighted by
``gp_weight`` (WGAN-GP, Gulrajani et al. 2017, arXiv:1704.00028), weight clipping (WGAN,
arXiv:1701.07875), separate learning rates (TTUR, Heusel et al. 2017, arXiv:1706.08500), the R1
penalty weighted by ``r1_gamma / 2`` (Mescheder et al. 2018, arXiv:1801.04406) and its twin on the
fakes, R2, by ``r2_gamma / 2`` (R3GAN, Huang et al. 2024, arXiv:2501.05441), labels for
conditional models called as ``G(z, y)`` and ``D(x, y)``, another generator objective (the unrolled
GAN's, Metz et al. 2017, arXiv:1611.02163) and an exponential moving average of the generator's
weights (Karras et al. 2018, arXiv:1710.10196).

The data is any batch source: images held in memory (an :class:`~gancourse.data.ImageDataset`, a
tensor, or a pair of images and labels) or a toy sampler (:class:`~gancourse.data.BimodalGaussian1D`,
:class:`~gancourse.data.Ring2D`, any function ``(n, generator) -> (n, d)``). Everything that makes
the loop fast (in-memory batches, logging without waiting for the device, channels-last, autocast,
compile, DistributedDataParallel) sits behind :mod:`gancourse.speed`. Checkpoints go through
:mod:`gancourse.checkpoints`: resuming from one continues exactly as if training had never stopped
(on the CPU, bit for bit). Introduced in lecture 01 (the toy game) and lecture 03 (images); used by
lectures 02, 04-08 and 11.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gancourse import checkpoints, parallel
from gancourse.config import course_seed
from gancourse.config import device as default_device
from gancourse.losses import NEEDS_REAL_SCORES, clip_weights_, gradient_penalty, loss_pair, r1_penalty, r2_penalty
from gancourse.speed import InMemoryBatches, Player, Speed, StepLog, frozen, unwrap
from gancourse.validate import check_training_arguments

# Losses whose discriminator outputs are logits of a probability: the loop logs sigmoid(score) as
# "D(x)". Every other loss (Wasserstein, hinge, least squares) logs the raw score.
PROBABILITY_LOSSES = ("nonsaturating", "saturating", "smoothed")
LOG_KEYS = ("loss_d", "loss_g", "penalty", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")
CHECKPOINT_FORMAT = 1
# Settings that may change between a checkpoint and the call that resumes from it.
RESUMABLE_KEYS = ("steps", "sample_every", "checkpoint_every", "log_every")


# --------------------------------------------------------------------------------------------
# What training leaves behind
# --------------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """The game at one sample step: ``samples`` (N, ...) from the fixed noise and, when a
    :class:`RecordD` hook ran, ``d_grid`` (M,), D on the history's ``grid``; numpy arrays. Lecture 01."""

    step: int
    samples: np.ndarray
    d_grid: np.ndarray | None = None


@dataclass
class History:
    r"""What one training run recorded, as plain lists and tensors (so it fits in a checkpoint).

    Per generator step (index ``t`` holds step ``t + 1``): ``loss_d`` and ``loss_g`` (the adversarial
    losses, the critic's from its last step when ``n_critic > 1``), ``penalty`` (the *weighted* gradient
    penalty or R1 term added to ``loss_d``, 0 without one), ``d_real`` and ``d_fake`` (the mean of
    D's output on the real and fake batch: a probability :math:`\sigma(s)` for the logit losses, the
    raw score otherwise; see ``d_output``), ``grad_norm_d`` and ``grad_norm_g`` (the global L2 norm
    of each network's gradient before its update).

    ``samples[k]`` (K, C, H, W) images or (K, d) points, on the CPU, are the generator's output from
    ``fixed_z`` after ``sample_steps[k]`` steps (0 is the untrained generator). With a
    :class:`RecordD` hook, ``d_grid[k]`` (M,) is D on the points ``grid`` (M, d) at the same steps;
    :attr:`snapshots` pairs them. ``parts`` (name -> list) holds what a loop records beside these (the
    terms of lecture 10's translation objectives, a periodic evaluation). ``seconds`` is the training
    wall time. Lectures 01 and 03.
    """

    loss_d: list = field(default_factory=list)
    loss_g: list = field(default_factory=list)
    penalty: list = field(default_factory=list)
    d_real: list = field(default_factory=list)
    d_fake: list = field(default_factory=list)
    grad_norm_d: list = field(default_factory=list)
    grad_norm_g: list = field(default_factory=list)
    sample_steps: list = field(default_factory=list)
    samples: list = field(default_factory=list)
    fixed_z: torch.Tensor | None = None
    fixed_y: torch.Tensor | None = None
    grid: torch.Tensor | None = None
    d_grid: list = field(default_factory=list)
    parts: dict = field(default_factory=dict)
    d_output: str = "probability"
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        """How many generator steps are recorded."""
        return len(self.loss_g)

    @property
    def probabilities(self) -> bool:
        """Whether ``d_real``, ``d_fake`` and ``d_grid`` are probabilities (else raw critic scores)."""
        return self.d_output == "probability"

    @property
    def snapshot_steps(self) -> list[int]:
        return list(self.sample_steps)

    @property
    def snapshots(self) -> list[Snapshot]:
        """Each sample step's samples (and D on the grid) as numpy arrays, in step order. Lecture 01."""
        grids = self.d_grid if len(self.d_grid) == len(self.samples) else [None] * len(self.samples)
        return [Snapshot(step, x.numpy(), None if d is None else d.numpy())
                for step, x, d in zip(self.sample_steps, self.samples, grids)]

    def snapshot(self, step: int) -> Snapshot:
        """The snapshot taken at ``step``; ``ValueError`` listing the recorded steps when absent."""
        for s in self.snapshots:
            if s.step == step:
                return s
        raise ValueError(f"no snapshot at step {step}; snapshots were taken at steps {self.snapshot_steps}.")

    def record(self, **values) -> None:
        """Append one number per name: to its list for the names of :data:`LOG_KEYS`, to ``parts`` otherwise."""
        for k, v in values.items():
            v = float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
            (getattr(self, k) if k in LOG_KEYS else self.parts.setdefault(k, [])).append(v)

    def to_dict(self) -> dict:
        """Plain dict of lists, tensors, numbers and strings: ``torch.load(weights_only=True)`` reads it."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"not a History: unexpected keys {sorted(unknown)}; expected some of {sorted(known)}.")
        return cls(**{k: (list(v) if isinstance(v, list) else v) for k, v in d.items()})

    def mean(self, key: str, last: int | None = None) -> float:
        """The mean of a logged quantity over the last ``last`` steps (all steps when None)."""
        if key not in LOG_KEYS:
            raise ValueError(f"unknown quantity {key!r}; a History logs {', '.join(LOG_KEYS)}.")
        values = getattr(self, key)[-last:] if last else getattr(self, key)
        if not values:
            raise ValueError("the History is empty: no step has been recorded yet.")
        return float(sum(values) / len(values))

    def __repr__(self) -> str:
        if not self.steps:
            return "History(0 steps)"
        return (f"History({self.steps} steps, last 50: loss_d {self.mean('loss_d', 50):.3f}, "
                f"loss_g {self.mean('loss_g', 50):.3f}, D(real) {self.mean('d_real', 50):.3f}, "
                f"D(fake) {self.mean('d_fake', 50):.3f}; {len(self.samples)} sample grids)")


# --------------------------------------------------------------------------------------------
# Small helpers the steps call
# --------------------------------------------------------------------------------------------


def grad_norm(module: nn.Module) -> torch.Tensor:
    r"""The global L2 norm of a module's gradients, :math:`\sqrt{\sum_p \lVert \nabla_p \rVert^2}` (0-dim). Lecture 03."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads)


def penalty_term(D, x_real: torch.Tensor, x_fake: torch.Tensor, y=None, gp_weight: float = 0.0,
                 r1_gamma: float = 0.0, r2_gamma: float = 0.0) -> torch.Tensor:
    r"""What the discriminator's loss adds: :math:`\lambda\,\mathrm{GP} + \tfrac{\gamma_1}{2}\,R_1 + \tfrac{\gamma_2}{2}\,R_2`, 0-dim.

    Each term only when its weight is set (:func:`~gancourse.losses.gradient_penalty`,
    :func:`~gancourse.losses.r1_penalty` at the real batch, :func:`~gancourse.losses.r2_penalty` at the
    detached fakes); 0 on the data's device otherwise. R3GAN sets ``r1_gamma = r2_gamma``. Lectures 05, 06 and 12.
    """
    forward = getattr(D, "uncompiled", D)  # a double backward: never through a compiled graph
    critic = forward if y is None else (lambda x: forward(x, y))
    penalty = torch.zeros((), device=x_real.device)
    if gp_weight:
        penalty = penalty + gp_weight * gradient_penalty(critic, x_real, x_fake)
    if r1_gamma:
        penalty = penalty + r1_gamma / 2 * r1_penalty(critic, x_real)
    if r2_gamma:
        penalty = penalty + r2_gamma / 2 * r2_penalty(critic, x_fake)
    return penalty


# --------------------------------------------------------------------------------------------
# The two steps
# --------------------------------------------------------------------------------------------


def discriminator_step(G, D, opt_d, x_real: torch.Tensor, z: torch.Tensor, loss_fn, *, y=None,
                       gp_weight: float = 0.0, r1_gamma: float = 0.0, r2_gamma: float = 0.0,
                       clip_value: float | None = None) -> dict:
    r"""One update of D: real up, fake down, :math:`L_D(D(x), D(G(z)))` plus the penalty, then clip.

    The fakes are made without a graph through G (as ``G(z).detach()``), so :math:`L_D` moves D only.
    ``x_real`` (B, ...) a real batch, ``z`` (B, Z) noise, ``y`` (B,) labels for conditional players;
    ``loss_fn(s_real, s_fake)`` the discriminator's loss; ``gp_weight``, ``r1_gamma``, ``r2_gamma``: see
    :func:`penalty_term`; ``clip_value``: WGAN's bound :math:`c` on D's weights after the step.
    Returns 0-dim tensors ``loss_d``, ``penalty`` and ``grad_norm_d``, and the scores ``s_real``,
    ``s_fake`` (B,). Lecture 01 (the step), 05 (penalty, clipping).
    """
    with torch.no_grad():  # the fakes are detached: D's loss does not reach G
        x_fake = G(z) if y is None else G(z, y)
    if x_fake.shape[1:] != x_real.shape[1:]:  # a D that pools would score both without complaint
        raise ValueError(f"G makes samples of shape {tuple(x_fake.shape[1:])} but the data's are "
                         f"{tuple(x_real.shape[1:])}; build G for the data's channels and size (e.g. img_size=...).")
    s_real, s_fake = (D(x_real), D(x_fake)) if y is None else (D(x_real, y), D(x_fake, y))
    loss_d = loss_fn(s_real, s_fake)
    penalty = penalty_term(D, x_real, x_fake, y, gp_weight, r1_gamma, r2_gamma)
    opt_d.zero_grad(set_to_none=True)
    (loss_d + penalty).backward()
    norm = grad_norm(unwrap(D))
    opt_d.step()
    if clip_value is not None:
        clip_weights_(unwrap(D), clip_value)
    return {"loss_d": loss_d, "penalty": penalty, "grad_norm_d": norm,
            "s_real": s_real.detach(), "s_fake": s_fake.detach()}


def generator_step(G, D, opt_g, z: torch.Tensor, loss_fn, *, y=None, x_real=None, objective=None) -> dict:
    r"""One update of G: fresh fakes through D, :math:`L_G(D(G(z)))`; only G's weights move.

    D is :func:`~gancourse.speed.frozen` during the step: gradients flow through it into G, its own
    weights take none. ``x_real`` (the last real batch), when given, is scored too and passed to
    ``loss_fn(s_fake, s_real)``: the relativistic loss compares fakes with reals. ``objective``, when
    given, replaces :math:`L_G`: it is called as ``objective(G, D, z, x_real)`` on the plain networks
    and returns a scalar (the unrolled GAN's, :class:`gancourse.collapse.UnrolledGeneratorLoss`).
    Returns 0-dim tensors ``loss_g`` and ``grad_norm_g``. Lecture 01 (the step), 04 (the objective).
    """
    if objective is not None:  # it differentiates through D's weights itself, so D is not frozen
        loss_g = objective(unwrap(G), unwrap(D), z, x_real)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    else:
        with frozen(D):
            s_fake = D(G(z)) if y is None else D(G(z, y), y)
            if x_real is None:
                loss_g = loss_fn(s_fake)
            else:
                loss_g = loss_fn(s_fake, D(x_real) if y is None else D(x_real, y))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
    norm = grad_norm(unwrap(G))
    opt_g.step()
    return {"loss_g": loss_g, "grad_norm_g": norm}


# --------------------------------------------------------------------------------------------
# Batch sources, samples, hooks
# --------------------------------------------------------------------------------------------


class SamplerBatches:
    """Batches from a toy sampler: ``.sample(n, generator=)`` (as :class:`~gancourse.data.Ring2D`) or a
    function ``(n, generator) -> (n, d)``; 1D samples (n,) become a column (n, 1).

    The real batches *and* the loop's noise come from one CPU ``torch.Generator`` seeded with ``seed``
    (the toy lectures' runs are reproducible on any device). Lecture 01.
    """

    def __init__(self, sampler, batch_size: int, device: torch.device, seed: int = 0):
        if not (hasattr(sampler, "sample") or callable(sampler)):
            raise TypeError(
                f"data must be images (an ImageDataset, a tensor (N, C, H, W) or a pair (images, labels)) or a "
                f"sampler with .sample(n, generator=...) (like data.Ring2D) or a function (n, generator) -> (n, d); "
                f"got {type(sampler).__name__}."
            )
        self.sampler, self.batch_size, self.device = sampler, batch_size, device
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[torch.Tensor, None]:
        s = self.sampler
        x = s.sample(self.batch_size, generator=self.generator) if hasattr(s, "sample") else s(self.batch_size, self.generator)
        x = torch.as_tensor(x, dtype=torch.float32)
        return (x[:, None] if x.ndim == 1 else x).to(self.device), None  # (B, d)

    def noise(self, n: int, z_dim: int) -> torch.Tensor:
        return torch.randn(n, z_dim, generator=self.generator).to(self.device)  # (n, Z)


def batch_source(data, batch_size: int, device: torch.device, seed: int, speed: Speed = Speed()):
    """The batches ``train_gan`` draws from ``data``: images in memory or a toy sampler. Lecture 03."""
    if isinstance(data, (torch.Tensor, tuple)) or hasattr(data, "images"):
        return InMemoryBatches(data, batch_size, device, seed, speed.layout)
    return SamplerBatches(data, batch_size, device, seed)


@torch.no_grad()
def sample(G: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Images (or points) from a generator in evaluation mode (batch norm uses its running statistics), on the CPU.

    ``z`` (B, Z) on G's device; ``y`` (B,) labels for a conditional G. The mode is restored after.
    Returns (B, C, H, W) (or (B, d)). Lecture 03.
    """
    was_training = G.training
    G.eval()
    try:
        x = G(z, y) if y is not None else G(z)
    finally:
        G.train(was_training)
    return x.float().cpu()


class RecordD:
    r"""A hook for :func:`train_gan`: D on fixed points (a grid) at every sample step.

    Sets ``history.grid`` to the points (M, d) and appends D's output (M,) to ``history.d_grid``:
    :math:`D(x) = \sigma(s(x))` for the probability losses, the raw score otherwise. ``points`` (M,)
    or (M, d), e.g. :func:`gancourse.toy.grid_1d`. Lectures 01, 02, 04, 05.
    """

    def __init__(self, points):
        grid = torch.as_tensor(np.asarray(points), dtype=torch.float32)
        self.points = grid[:, None] if grid.ndim == 1 else grid  # (M, d)

    def __call__(self, step: int, G: nn.Module, D: nn.Module, history: History) -> None:
        history.grid = self.points
        scores = sample(D, self.points.to(next(D.parameters()).device))  # (M,)
        history.d_grid.append(torch.sigmoid(scores) if history.probabilities else scores)


@torch.no_grad()
def ema_update_(ema: nn.Module, G: nn.Module, decay: float) -> None:
    r"""Move the average generator towards the trained one: :math:`\bar\theta \leftarrow \beta\bar\theta + (1-\beta)\theta`.

    Buffers (batch-norm statistics) are copied. Karras et al. 2018 (arXiv:1710.10196), appendix A.1.
    Lecture 08.
    """
    for p_ema, p in zip(ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def clone(module: nn.Module) -> nn.Module:
    """A deep copy with gradients off, for an EMA generator: ``train_gan(..., ema=clone(G))``. Lecture 08."""
    return copy.deepcopy(module).requires_grad_(False)


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def train_gan(G: nn.Module, D: nn.Module, data, *, steps: int, loss="nonsaturating", batch_size: int = 64,
              lr_g: float = 2e-4, lr_d: float = 2e-4, betas=(0.5, 0.999), optimizer: str = "adam",
              n_critic: int = 1, gp_weight: float = 0.0, r1_gamma: float = 0.0, r2_gamma: float = 0.0,
              clip_value: float | None = None, conditional: bool = False, g_objective=None, ema: nn.Module | None = None, ema_decay: float = 0.999,
              z_dim: int | None = None, sample_every=100, n_samples: int = 64, hooks=(), checkpoint=None,
              checkpoint_every: int | None = None, resume: bool = True, seed: int = 0, device=None,
              progress: bool = True, config: dict | None = None, speed: Speed = Speed()) -> History:
    r"""Train ``G`` and ``D`` by alternating :func:`discriminator_step` and :func:`generator_step`; return the :class:`History`.

    Each of the ``steps`` generator steps follows ``n_critic`` discriminator steps, each on a fresh
    real batch and fresh noise.

    Args:
        G, D: the networks; ``G(z)`` maps (B, Z) to images (B, C, H, W) or points (B, d), ``D(x)`` maps
            them to (B,) scores (``G(z, y)`` and ``D(x, y)`` with labels when ``conditional``).
        data: images (an :class:`~gancourse.data.ImageDataset`, a tensor (N, C, H, W) in [-1, 1], or a
            pair ``(images, labels)``) or a toy sampler (see :class:`SamplerBatches`).
        steps: generator steps to reach (a resumed run continues from the checkpoint's step).
        loss: a name from :data:`gancourse.losses.LOSS_PAIRS` or a pair ``(d_loss_fn, g_loss_fn)``.
        lr_g, lr_d, betas, optimizer: Adam (or ``"rmsprop"``, the original WGAN's) for each network.
        n_critic, gp_weight, r1_gamma, r2_gamma, clip_value: D steps per G step, :math:`\lambda` of WGAN-GP,
            :math:`\gamma` of R1 (on real data) and of R2 (on the fakes; R3GAN sets both), the WGAN clipping
            bound :math:`c` (None: no clipping).
        conditional: feed the data's labels to G and D.
        g_objective: replaces the generator's loss (see :func:`generator_step`).
        ema, ema_decay: a copy of G to keep as the exponential moving average of its weights.
        z_dim: the latent size Z (default ``G.z_dim``).
        sample_every, n_samples: draw ``n_samples`` outputs from a fixed z at step 0, every
            ``sample_every`` steps and at the end; or, given a list of steps, at those and at the end.
        hooks: functions ``hook(step, G, D, history)`` called after each sample (e.g. :class:`RecordD`).
        checkpoint: a file name (put into the cache folder) or path; None for no checkpoints.
        checkpoint_every: steps between checkpoints (default: only at the end).
        resume: continue from ``checkpoint`` when it exists (its settings must match).
        seed: seeds torch's global generator, the batches and the fixed z, so a CPU run repeats exactly.
        device: default :func:`gancourse.config.device`.
        progress: a ``tqdm.auto`` bar (also off when ``TQDM_DISABLE`` is set).
        config: extra settings to store in (and check against) the checkpoint, e.g. a recipe's.
        speed: a :class:`~gancourse.speed.Speed` (channels-last, bf16, compile, how often to log).

    Returns: the :class:`History`. Raises ``TypeError``/``ValueError`` for a bad argument (images outside
    [-1, 1] included), ``FloatingPointError`` at a non-finite loss, and its subclass
    :class:`~gancourse.speed.DivergenceError` when a loss passes 1e8, a network's weights grow 1e4-fold or
    G's gradient is exactly 0 for 100 steps (in every case before the checkpoint that would hold it).
    Lectures 01 (toys) and 03 (images).
    """
    check_training_arguments(G=G, D=D, data=data, steps=steps, batch_size=batch_size, lr_g=lr_g, lr_d=lr_d,
                             betas=betas, n_critic=n_critic, gp_weight=gp_weight, r1_gamma=r1_gamma,
                             r2_gamma=r2_gamma, clip_value=clip_value, conditional=conditional, ema=ema, ema_decay=ema_decay,
                             n_samples=n_samples, checkpoint_every=checkpoint_every, resume=resume, seed=seed,
                             progress=progress, log_every=speed.log_every, loss=loss, sample_every=sample_every)
    seed = course_seed(seed)  # $GANCOURSE_SEED shifts every run (config.seed_offset); 0 by default
    sample_at = _sample_steps(sample_every, steps)
    d_loss_fn, g_loss_fn = loss_pair(loss) if isinstance(loss, str) else loss
    z_dim = z_dim or getattr(G, "z_dim", None)
    if not z_dim:
        raise ValueError("the latent size is unknown: give G an attribute z_dim, or pass z_dim=...")
    device = torch.device(device) if device is not None else default_device()
    if parallel.is_distributed():  # started by torchrun: one process per device, gradients averaged
        device = parallel.setup()
    settings = dict(loss=loss if isinstance(loss, str) else "custom", steps=steps, batch_size=batch_size,
                    lr_g=lr_g, lr_d=lr_d, betas=tuple(betas), optimizer=optimizer, n_critic=n_critic,
                    gp_weight=gp_weight, r1_gamma=r1_gamma, clip_value=clip_value, conditional=conditional,
                    ema_decay=ema_decay if ema is not None else None, z_dim=z_dim, n_samples=n_samples,
                    sample_every=sample_every if isinstance(sample_every, int) else list(sample_every),
                    checkpoint_every=checkpoint_every, seed=seed, log_every=speed.log_every,
                    **({"r2_gamma": r2_gamma} if r2_gamma else {}),  # absent when 0: older checkpoints still resume
                    **(config or {}))

    G, D = Player(G, device, speed), Player(D, device, speed)  # see gancourse.speed: the same networks, run fast
    if ema is not None:
        ema.to(device, memory_format=speed.layout).eval().requires_grad_(False)
    opt_g, opt_d = _optimizers(G.module, D.module, optimizer, lr_g, lr_d, betas)
    batches = batch_source(data, batch_size, device, seed + parallel.rank(), speed)  # own batches per process
    history = History(d_output="probability" if loss in PROBABILITY_LOSSES else "score")
    path = checkpoints.cache_path(checkpoint) if checkpoint is not None else None
    state = dict(G=G.module, D=D.module, opt_g=opt_g, opt_d=opt_d, **({"ema": ema} if ema is not None else {}))
    start, history = _start(path, resume, settings, state, batches, history, seed, n_samples, z_dim, conditional)
    fixed_z = history.fixed_z.to(device)
    fixed_y = history.fixed_y.to(device) if history.fixed_y is not None else None
    G_shown = ema if ema is not None else G.module  # the generator whose samples are recorded

    def record_samples(step: int) -> None:
        history.sample_steps.append(step)
        history.samples.append(sample(G_shown, fixed_z, fixed_y))
        for hook in hooks:
            hook(step, G_shown, D.module, history)

    if start == 0 and not history.samples and 0 in sample_at:
        record_samples(0)
    log = StepLog(history, start, speed.log_every, watch=(G.module, D.module))  # also stops a run that diverges
    bar = _progress_bar(steps, start, progress and parallel.is_main(), batch_size)
    as_prob = torch.sigmoid if history.probabilities else (lambda s: s)
    relativistic = loss in NEEDS_REAL_SCORES
    began = time.perf_counter()
    for step in range(start + 1, steps + 1):
        for _ in range(n_critic):
            x_real, y = batches.next()
            d = discriminator_step(G, D, opt_d, x_real, batches.noise(batch_size, z_dim), d_loss_fn,
                                   y=y if conditional else None, gp_weight=gp_weight, r1_gamma=r1_gamma,
                                   r2_gamma=r2_gamma, clip_value=clip_value)
        g = generator_step(G, D, opt_g, batches.noise(batch_size, z_dim), g_loss_fn, y=y if conditional else None,
                           x_real=x_real if relativistic or g_objective else None, objective=g_objective)
        if ema is not None:
            ema_update_(ema, G.module, ema_decay)

        log.log(loss_d=d["loss_d"], loss_g=g["loss_g"], penalty=d["penalty"], d_real=as_prob(d["s_real"]).mean(),
                d_fake=as_prob(d["s_fake"]).mean(), grad_norm_d=d["grad_norm_d"], grad_norm_g=g["grad_norm_g"])
        if step in sample_at or step == steps:
            record_samples(step)
        if path is not None and ((checkpoint_every and step % checkpoint_every == 0) or step == steps):
            log.flush()  # never write a checkpoint past a non-finite step
            history.seconds += time.perf_counter() - began
            began = time.perf_counter()
            _save(path, step, settings, history, state, batches)
        if step % speed.log_every == 0 or step == steps:
            log.flush()
            bar.update(step - bar.n)
            bar.set_postfix(loss_d=f"{history.loss_d[-1]:.3f}", loss_g=f"{history.loss_g[-1]:.3f}")
    log.flush()
    bar.close()
    parallel.sync_buffers(G.module, D.module)
    history.seconds += time.perf_counter() - began
    return history


# --------------------------------------------------------------------------------------------
# What the loop calls before and around the steps
# --------------------------------------------------------------------------------------------


class _Steps:
    """The set of sample steps: every ``every``-th (and 0), as ``step in steps`` tests."""

    def __init__(self, every: int):
        self.every = every

    def __contains__(self, step: int) -> bool:
        return step % self.every == 0


def _sample_steps(sample_every, steps: int):
    if isinstance(sample_every, int):
        if sample_every < 1:
            raise ValueError(f"sample_every must be a positive int or a list of steps, got {sample_every}.")
        return _Steps(sample_every)
    chosen = set(sample_every)
    bad = sorted(k for k in chosen if not 0 <= k <= steps)
    if bad:
        raise ValueError(f"sample steps {bad} fall outside 0..{steps}; pick steps within the run.")
    return chosen


def _optimizers(G: nn.Module, D: nn.Module, optimizer: str, lr_g: float, lr_d: float, betas):
    if optimizer == "adam":
        return (torch.optim.Adam(G.parameters(), lr=lr_g, betas=tuple(betas)),
                torch.optim.Adam(D.parameters(), lr=lr_d, betas=tuple(betas)))
    if optimizer == "rmsprop":  # the original WGAN's choice (momentum hurt with clipping)
        return torch.optim.RMSprop(G.parameters(), lr=lr_g), torch.optim.RMSprop(D.parameters(), lr=lr_d)
    raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {optimizer!r}.")


def _start(path, resume, settings, state, batches, history, seed, n_samples, z_dim, conditional):
    """``(first step, history)``: from the checkpoint at ``path`` when resuming, else fresh (seeded)."""
    if path is not None and resume and path.exists():
        ckpt = checkpoints.load(path)
        _check_loadable(ckpt, state, path)  # every part first, so that a bad D leaves G as it was
        _check_resumable(ckpt["config"], settings, path)
        for key, obj in state.items():
            obj.load_state_dict(ckpt[key])
        _set_rng_state(ckpt["rng"], batches)
        return ckpt["step"], History.from_dict(ckpt["history"])
    torch.manual_seed(seed + parallel.rank())
    fixed = torch.Generator().manual_seed(seed + 1)  # the fixed z does not move the noise stream
    history.fixed_z = torch.randn(n_samples, z_dim, generator=fixed)  # (K, Z)
    if conditional:
        history.fixed_y = torch.arange(n_samples) % batches.num_classes  # (K,) classes in turn
    return 0, history


def _save(path: Path, step: int, settings: dict, history: History, state: dict, batches) -> None:
    if not parallel.is_main():  # one process writes; the weights are the same in all of them
        return
    checkpoints.save({"format": CHECKPOINT_FORMAT, "step": step, "config": settings, "history": history.to_dict(),
                      "rng": _rng_state(batches), **{k: obj.state_dict() for k, obj in state.items()}}, path)


def _rng_state(batches) -> dict:
    state = {"torch": torch.get_rng_state(), "data": batches.generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, batches) -> None:
    torch.set_rng_state(state["torch"])
    batches.generator.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _check_loadable(ckpt: dict, state: dict, path: Path) -> None:
    """Each network's and optimiser's entry is in the checkpoint, each network's tensors of the right shapes."""
    missing = [k for k in ("step", "config", "history", "rng") if k not in ckpt]
    if missing:
        raise checkpoints.CheckpointError(f"{path} lacks {', '.join(missing)}: it is not a train_gan checkpoint. "
                                          f"Pass resume=False to start over, or use another checkpoint name.")
    for key, obj in state.items():
        saved = ckpt.get(key)
        if not isinstance(saved, dict):
            raise checkpoints.CheckpointError(f"{path} holds no {key!r} state; it was not written by train_gan with "
                                              f"these networks. Pass resume=False to start over.")
        if isinstance(obj, nn.Module):
            mine = obj.state_dict()
            bad = [f"{k}: checkpoint {tuple(saved[k].shape) if k in saved else 'missing'}, now {tuple(v.shape)}"
                   for k, v in mine.items() if k not in saved or tuple(saved[k].shape) != tuple(v.shape)]
            if bad:
                raise checkpoints.CheckpointError(
                    f"{path}'s {key} does not fit this {key} ({'; '.join(bad[:3])}{'; ...' if len(bad) > 3 else ''}). "
                    f"Pass resume=False to start over, or use another checkpoint name.")


def _check_resumable(saved: dict, wanted: dict, path: Path) -> None:
    diff = [f"{k}: checkpoint {saved.get(k)!r}, now {wanted.get(k)!r}"
            for k in sorted(set(saved) | set(wanted))
            if k not in RESUMABLE_KEYS and saved.get(k) != wanted.get(k)]
    if diff:
        raise ValueError(
            f"the checkpoint {path.name} was trained with other settings ({'; '.join(diff)}). "
            "Pass resume=False to start over, or use another checkpoint name."
        )


def _progress_bar(steps: int, start: int, progress: bool, batch_size: int):
    from tqdm.auto import tqdm

    off = not progress or os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false")
    if parallel.is_distributed() and parallel.is_main():
        print(f"training on {parallel.world_size()} processes: effective batch "
              f"{batch_size} x {parallel.world_size()} = {batch_size * parallel.world_size()}", flush=True)
    return tqdm(total=steps, initial=start, desc="GAN steps", unit="step", disable=off, leave=False)
