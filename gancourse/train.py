r"""One alternating training loop for every image GAN of the course.

Goodfellow et al. 2014 (arXiv:1406.2661), algorithm 1: for each step, update the discriminator on
a batch of real images and a batch of fakes, then the generator on fresh noise,

.. math::
    \theta_D \leftarrow \theta_D - \eta_D \nabla_{\theta_D} L_D\big(D(x), D(G(z).\mathrm{detach}())\big),
    \qquad
    \theta_G \leftarrow \theta_G - \eta_G \nabla_{\theta_G} L_G\big(D(G(z'))\big),

with the pair :math:`(L_D, L_G)` chosen by name from :mod:`gancourse.losses` (non-saturating,
saturating, Wasserstein, hinge, least squares). The same loop takes the options later lectures
add: ``n_critic`` discriminator steps per generator step and a gradient penalty weighted by
``gp_weight`` (WGAN-GP, Gulrajani et al. 2017, arXiv:1704.00028), weight clipping (WGAN,
arXiv:1701.07875), separate learning rates (TTUR, Heusel et al. 2017, arXiv:1706.08500), the R1
penalty weighted by ``r1_gamma / 2`` (Mescheder et al. 2018, arXiv:1801.04406), labels for
conditional models called as ``G(z, y)`` and ``D(x, y)``, and an exponential moving average of the
generator's weights (Karras et al. 2018, arXiv:1710.10196).

What a learner reads is :func:`train_gan`'s loop. Speed details sit behind small helpers:
:class:`InMemoryBatches` holds the images on the device and draws batches by indexing (no
DataLoader), and :class:`StepLog` keeps each step's numbers on the device and copies them to the
:class:`History` every few steps (one synchronisation instead of one ``.item()`` per number);
:mod:`gancourse.parallel` wraps the networks in DistributedDataParallel when the loop runs under
``torchrun`` (``G_sync`` and ``D_sync`` below are ``G`` and ``D`` themselves in one process).

Checkpoints are plain dictionaries of state dicts, tensors, lists and numbers, written atomically
(a temporary file in the same folder, then a rename) and read with ``torch.load(weights_only=True)``;
resuming from one continues exactly as if training had never stopped (on the CPU, bit for bit).
Introduced in lecture 03; used by lectures 05-08.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from torch import nn

from gancourse import parallel
from gancourse.config import cache_dir, device as default_device
from gancourse.losses import NEEDS_REAL_SCORES, clip_weights_, gradient_penalty, loss_pair, r1_penalty

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
class History:
    """What one training run recorded, as plain lists and tensors (so it fits in a checkpoint).

    Per generator step (index ``t`` holds step ``t + 1``): ``loss_d`` and ``loss_g`` (the adversarial
    losses, the critic's from its last step when ``n_critic > 1``), ``penalty`` (the weighted gradient
    penalty or R1 term added to ``loss_d``, 0 without one), ``d_real`` and ``d_fake`` (the mean of
    D's output on the real and fake batch: a probability :math:`\\sigma(s)` for the logit losses, the
    raw score otherwise; see ``d_output``), ``grad_norm_d`` and ``grad_norm_g`` (the global L2 norm
    of each network's gradient before its update).

    ``samples[k]`` (K, C, H, W) on the CPU are the generator's images from ``fixed_z`` after
    ``sample_steps[k]`` steps (0 is the untrained generator). ``seconds`` is the training wall time.
    Lecture 03.
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
    d_output: str = "probability"
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        """How many generator steps are recorded."""
        return len(self.loss_g)

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
# The speed seam: data on the device, logs synchronised every few steps
# --------------------------------------------------------------------------------------------


class InMemoryBatches:
    """Random batches drawn by indexing images held on the device (sampling with replacement).

    ``dataset`` is an :class:`~gancourse.data.ImageDataset` (its ``.images`` (N, C, H, W) and
    ``.labels`` (N,)) or a tensor of images. Indices come from a CPU ``torch.Generator`` seeded with
    ``seed``, whose state goes into checkpoints, so a resumed run draws the same batches. Lecture 03.
    """

    def __init__(self, dataset, batch_size: int, device: torch.device, seed: int = 0):
        images = dataset if isinstance(dataset, torch.Tensor) else getattr(dataset, "images", None)
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise TypeError(
                f"dataset must be an ImageDataset (with .images of shape (N, C, H, W)) or such a tensor, "
                f"got {type(dataset).__name__}; build one with gancourse.data.image_dataset(name)."
            )
        if not 0 < batch_size <= len(images):
            raise ValueError(f"batch_size must be between 1 and the dataset's {len(images)} images, got {batch_size}.")
        labels = getattr(dataset, "labels", None)
        self.images = images.to(device)
        self.labels = labels.to(device) if isinstance(labels, torch.Tensor) else None
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def num_classes(self) -> int:
        if self.labels is None:
            raise ValueError("a conditional model needs labels, and this dataset has none.")
        return int(self.labels.max()) + 1

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A batch of images (B, C, H, W) and their labels (B,) (None for unlabelled data)."""
        idx = torch.randint(len(self.images), (self.batch_size,), generator=self.generator)  # (B,)
        idx = idx.to(self.images.device)
        return self.images[idx], (self.labels[idx] if self.labels is not None else None)


class StepLog:
    """Each step's numbers, stacked on the device and copied into a :class:`History` every ``every`` steps.

    Copying is where the loop waits for the device, so it happens once per ``every`` steps (and
    before every checkpoint). It is also where non-finite values are caught: :meth:`flush` raises
    ``FloatingPointError`` naming the first bad step and quantity. Lecture 03.
    """

    def __init__(self, history: History, first_step: int, every: int = 25):
        self.history, self.next_step, self.every = history, first_step + 1, max(1, every)
        self.rows: list[torch.Tensor] = []

    def log(self, **values: torch.Tensor) -> None:
        self.rows.append(torch.stack([values[k].detach().float().reshape(()) for k in LOG_KEYS]))  # (7,)
        if len(self.rows) >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        block = torch.stack(self.rows).cpu()  # (k, 7): the one synchronisation
        self.rows = []
        bad = ~torch.isfinite(block)
        if bad.any():
            row, col = (int(i) for i in bad.nonzero()[0])
            values = ", ".join(f"{k} {v:.4g}" for k, v in zip(LOG_KEYS, block[row].tolist()))
            raise FloatingPointError(
                f"non-finite {LOG_KEYS[col]} at step {self.next_step + row} ({values}). Training stopped; "
                "the weights in memory are no longer usable, the last good checkpoint (if any) is untouched. "
                "Lower the learning rates, check the data range, or use a bounded loss."
            )
        for k, column in zip(LOG_KEYS, block.T.tolist()):
            getattr(self.history, k).extend(column)
        self.next_step += len(block)


# --------------------------------------------------------------------------------------------
# Small helpers the loop calls
# --------------------------------------------------------------------------------------------


def grad_norm(module: nn.Module) -> torch.Tensor:
    r"""The global L2 norm of a module's gradients, :math:`\sqrt{\sum_p \lVert \nabla_p \rVert^2}` (0-dim). Lecture 03."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads)


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


@torch.no_grad()
def sample(G: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Images from a generator in evaluation mode (batch norm uses its running statistics), on the CPU.

    ``z`` (B, Z) on G's device; ``y`` (B,) labels for a conditional G. The mode is restored after.
    Returns (B, C, H, W). Lecture 03.
    """
    was_training = G.training
    G.eval()
    try:
        x = G(z, y) if y is not None else G(z)
    finally:
        G.train(was_training)
    return x.float().cpu()


def checkpoint_path(name: str | os.PathLike) -> Path:
    """Where a checkpoint lives: a bare name goes into :func:`gancourse.config.cache_dir`. Lecture 03."""
    path = Path(name)
    if not path.is_absolute() and path.parent == Path("."):
        path = cache_dir() / path
    return path if path.suffix else path.with_suffix(".pt")


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` atomically: ``torch.save`` to a temporary file in the same folder, then ``os.replace``.

    A crash while writing leaves the previous checkpoint intact. Lecture 03.
    """
    path = checkpoint_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint with ``torch.load(..., weights_only=True)`` onto the CPU. Lecture 03."""
    path = checkpoint_path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train first (train_gan(..., checkpoint=...)).")
    return torch.load(path, map_location="cpu", weights_only=True)


def _rng_state(batches: InMemoryBatches) -> dict:
    state = {"torch": torch.get_rng_state(), "data": batches.generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, batches: InMemoryBatches) -> None:
    torch.set_rng_state(state["torch"])
    batches.generator.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _check_resumable(saved: dict, wanted: dict, path: Path) -> None:
    diff = [f"{k}: checkpoint {saved.get(k)!r}, now {wanted.get(k)!r}"
            for k in sorted(set(saved) | set(wanted))
            if k not in RESUMABLE_KEYS and saved.get(k) != wanted.get(k)]
    if diff:
        raise ValueError(
            f"the checkpoint {path.name} was trained with other settings ({'; '.join(diff)}). "
            "Pass resume=False to start over, or use another checkpoint name."
        )


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def train_gan(G: nn.Module, D: nn.Module, dataset, *, steps: int, loss="nonsaturating",
              batch_size: int = 64, lr_g: float = 2e-4, lr_d: float = 2e-4, betas=(0.5, 0.999),
              optimizer: str = "adam", n_critic: int = 1, gp_weight: float = 0.0, r1_gamma: float = 0.0,
              clip_value: float | None = None, conditional: bool = False, ema: nn.Module | None = None,
              ema_decay: float = 0.999, nz: int | None = None, sample_every: int = 100, n_samples: int = 64,
              checkpoint=None, checkpoint_every: int | None = None, resume: bool = True, seed: int = 0,
              device=None, progress: bool = True, log_every: int = 25, config: dict | None = None,
              channels_last: bool = True, precision: str = "fp32", compile: bool | str = False) -> History:
    r"""Train ``G`` and ``D`` by alternating gradient steps; return the :class:`History`.

    Each of the ``steps`` generator steps follows ``n_critic`` discriminator steps. The D step scores
    a real batch and a batch of fakes *detached* from G (so :math:`L_D` moves D only), adds
    ``gp_weight`` :math:`\cdot` :func:`~gancourse.losses.gradient_penalty` and
    :math:`\tfrac{\gamma}{2}` :func:`~gancourse.losses.r1_penalty` when asked, and clips D's weights
    to ``clip_value`` when asked. The G step draws fresh noise and descends :math:`L_G` through D.

    Args:
        G, D: the networks; ``G(z)`` maps (B, Z) to (B, C, H, W), ``D(x)`` maps images to (B,) scores
            (``G(z, y)`` and ``D(x, y)`` with labels when ``conditional``). Moved to ``device``.
        dataset: an :class:`~gancourse.data.ImageDataset` or an image tensor (N, C, H, W) in [-1, 1].
        steps: generator steps to reach (a resumed run continues from the checkpoint's step).
        loss: a name from :data:`gancourse.losses.LOSS_PAIRS` or a pair ``(d_loss_fn, g_loss_fn)``.
        lr_g, lr_d, betas, optimizer: Adam (or ``"rmsprop"``, the original WGAN's) for each network.
        n_critic, gp_weight, r1_gamma, clip_value: D steps per G step, :math:`\lambda` of WGAN-GP,
            :math:`\gamma` of R1, the WGAN clipping bound :math:`c` (None: no clipping).
        conditional: feed the dataset's labels to G and D.
        ema, ema_decay: a copy of G to keep as the exponential moving average of its weights.
        nz: the latent size Z (default ``G.nz``).
        sample_every, n_samples: draw ``n_samples`` images from a fixed z every ``sample_every`` steps.
        checkpoint: a file name (put into the cache folder) or path; None for no checkpoints.
        checkpoint_every: steps between checkpoints (default: only at the end).
        resume: continue from ``checkpoint`` when it exists (its settings must match).
        seed: seeds torch's global generator (noise) and the batch sampler, so a CPU run repeats exactly.
        device: default :func:`gancourse.config.device`.
        progress: a ``tqdm.auto`` bar (also off when ``TQDM_DISABLE`` is set).
        log_every: steps between copies of the logged numbers from the device (and the finiteness check).
        config: extra settings to store in (and check against) the checkpoint, e.g. a recipe's.
        channels_last: store images and convolution weights pixel by pixel (NHWC) rather than plane
            by plane; convolutions run faster that way on CPUs and on GPUs with tensor cores. Values
            agree with the default layout to rounding, not bit for bit.
        precision: ``"fp32"``, or ``"bf16"`` to run the forward passes under ``torch.autocast`` in
            bfloat16 (for GPUs with bf16 tensor cores; losses and weights stay in float32). Off by
            default: it changes results, and its speed has not been measured on a GPU here.
        compile: ``torch.compile`` the forward passes of G and D (``True`` for the default backend, or
            a backend's name). The gradient penalty's double backward runs uncompiled. Off by default
            (compilation costs more than short CPU runs gain).

    Returns: the :class:`History`. Raises ``FloatingPointError`` at a non-finite loss.
    Lecture 03.
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}.")
    if n_critic < 1:
        raise ValueError(f"n_critic must be at least 1, got {n_critic}.")
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}.")
    d_loss_fn, g_loss_fn = loss_pair(loss) if isinstance(loss, str) else loss
    nz = nz or getattr(G, "nz", None)
    if not nz:
        raise ValueError("the latent size is unknown: give G an attribute nz, or pass nz=...")
    device = torch.device(device) if device is not None else default_device()
    if parallel.is_distributed():  # started by torchrun: one process per device, gradients averaged
        device = parallel.setup()
    settings = dict(loss=loss if isinstance(loss, str) else "custom", steps=steps, batch_size=batch_size,
                    lr_g=lr_g, lr_d=lr_d, betas=tuple(betas), optimizer=optimizer, n_critic=n_critic,
                    gp_weight=gp_weight, r1_gamma=r1_gamma, clip_value=clip_value, conditional=conditional,
                    ema_decay=ema_decay if ema is not None else None, nz=nz, sample_every=sample_every,
                    n_samples=n_samples, checkpoint_every=checkpoint_every, seed=seed, log_every=log_every,
                    **(config or {}))

    layout = torch.channels_last if channels_last else torch.contiguous_format
    G.to(device, memory_format=layout).train()
    D.to(device, memory_format=layout).train()
    # Under torchrun, backward() through G_sync / D_sync averages the gradients across processes.
    # D learns through D_sync in its step; G learns through G_sync in its step.
    G_sync, D_sync = parallel.wrap(G, device), parallel.wrap(D, device)
    G_run, D_run, G_sync, D_sync = _compiled((G, D, G_sync, D_sync), compile)

    def amp():  # the forward passes' precision; a no-op in fp32
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    if ema is not None:
        ema.to(device, memory_format=layout).eval().requires_grad_(False)
    if optimizer == "adam":
        opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=tuple(betas))
        opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=tuple(betas))
    elif optimizer == "rmsprop":  # the original WGAN's choice (momentum hurt with clipping)
        opt_g, opt_d = torch.optim.RMSprop(G.parameters(), lr=lr_g), torch.optim.RMSprop(D.parameters(), lr=lr_d)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {optimizer!r}.")
    batches = InMemoryBatches(dataset, batch_size, device, seed + parallel.rank())  # own batches per process
    if channels_last:
        batches.images = batches.images.contiguous(memory_format=torch.channels_last)
    history = History(d_output="probability" if loss in PROBABILITY_LOSSES else "score")

    path = checkpoint_path(checkpoint) if checkpoint is not None else None
    start = 0
    if path is not None and resume and path.exists():
        ckpt = load_checkpoint(path)
        _check_resumable(ckpt["config"], settings, path)
        G.load_state_dict(ckpt["G"])
        D.load_state_dict(ckpt["D"])
        opt_g.load_state_dict(ckpt["opt_g"])
        opt_d.load_state_dict(ckpt["opt_d"])
        if ema is not None:
            ema.load_state_dict(ckpt["ema"])
        history = History.from_dict(ckpt["history"])
        _set_rng_state(ckpt["rng"], batches)
        start = ckpt["step"]
    else:
        torch.manual_seed(seed + parallel.rank())
        fixed = torch.Generator().manual_seed(seed + 1)  # the fixed z does not move the noise stream
        history.fixed_z = torch.randn(n_samples, nz, generator=fixed)  # (K, Z)
        if conditional:
            history.fixed_y = torch.arange(n_samples) % batches.num_classes  # (K,) classes in turn
    fixed_z = history.fixed_z.to(device)
    fixed_y = history.fixed_y.to(device) if history.fixed_y is not None else None
    if start == 0 and not history.samples:
        history.sample_steps.append(0)
        history.samples.append(sample(ema if ema is not None else G, fixed_z, fixed_y))

    def save(step: int) -> None:
        if not parallel.is_main():  # one process writes; the weights are the same in all of them
            return
        state = {"format": CHECKPOINT_FORMAT, "step": step, "config": settings,
                 "history": history.to_dict(), "G": G.state_dict(), "D": D.state_dict(),
                 "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": _rng_state(batches)}
        if ema is not None:
            state["ema"] = ema.state_dict()
        save_checkpoint(state, path)

    log = StepLog(history, start, log_every)
    bar = _progress_bar(steps, start, progress and parallel.is_main())
    if parallel.is_distributed() and parallel.is_main():
        print(f"training on {parallel.world_size()} processes: effective batch "
              f"{batch_size} x {parallel.world_size()} = {batch_size * parallel.world_size()}", flush=True)
    as_prob = torch.sigmoid if history.d_output == "probability" else (lambda s: s)
    d_params = [p for p in D.parameters() if p.requires_grad]
    began = time.perf_counter()
    for step in range(start + 1, steps + 1):
        # ---- the discriminator: real up, fake down; the fakes are detached, so G does not move
        for i in range(n_critic):
            x_real, y = batches.next()
            z = torch.randn(batch_size, nz, device=device)
            with torch.no_grad(), amp():  # D's fakes need no graph through G (as .detach(), without building one)
                x_fake = (G_run(z, y) if conditional else G_run(z)).float()
            with amp():
                if conditional:
                    s_real, s_fake = D_sync(x_real, y), D_sync(x_fake, y)
                else:
                    s_real, s_fake = D_sync(x_real), D_sync(x_fake)
                penalty = _penalty(D, x_real, x_fake, y if conditional else None, gp_weight, r1_gamma)
            s_real, s_fake = s_real.float(), s_fake.float()
            loss_d = d_loss_fn(s_real, s_fake)
            opt_d.zero_grad(set_to_none=True)
            (loss_d + penalty.float()).backward()
            if i == n_critic - 1:  # the norm the History keeps: the last critic step's
                norm_d = grad_norm(D)
            opt_d.step()
            if clip_value is not None:
                clip_weights_(D, clip_value)

        # ---- the generator: fresh noise, through D, only G's weights move
        z = torch.randn(batch_size, nz, device=device)
        _requires_grad_(d_params, False)  # gradients flow through D to G; D's own are not needed
        try:
            with amp():
                if conditional:  # fakes of the classes of the last real batch
                    s_g = D_run(G_sync(z, y), y)
                    s_r = D_run(x_real, y) if loss in NEEDS_REAL_SCORES else None
                else:
                    s_g = D_run(G_sync(z))
                    s_r = D_run(x_real) if loss in NEEDS_REAL_SCORES else None
            # the relativistic loss compares with D on the last real batch
            loss_g = g_loss_fn(s_g.float(), s_r.float()) if s_r is not None else g_loss_fn(s_g.float())
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
        finally:
            _requires_grad_(d_params, True)
        norm_g = grad_norm(G)
        opt_g.step()
        if ema is not None:
            ema_update_(ema, G, ema_decay)

        log.log(loss_d=loss_d, loss_g=loss_g, penalty=penalty, d_real=as_prob(s_real.detach()).mean(),
                d_fake=as_prob(s_fake.detach()).mean(), grad_norm_d=norm_d, grad_norm_g=norm_g)
        if step % sample_every == 0 or step == steps:
            history.sample_steps.append(step)
            history.samples.append(sample(ema if ema is not None else G, fixed_z, fixed_y))
        if path is not None and ((checkpoint_every and step % checkpoint_every == 0) or step == steps):
            log.flush()  # never write a checkpoint past a non-finite step
            history.seconds += time.perf_counter() - began
            began = time.perf_counter()
            save(step)
        if step % log_every == 0 or step == steps:
            log.flush()
            bar.update(step - bar.n)
            bar.set_postfix(loss_d=f"{history.loss_d[-1]:.3f}", loss_g=f"{history.loss_g[-1]:.3f}")
    log.flush()
    bar.close()
    parallel.sync_buffers(G, D)
    history.seconds += time.perf_counter() - began
    return history


def _compiled(modules: tuple, compile) -> tuple:
    """``torch.compile`` each module once (a module listed twice, as G and G_sync in one process, is shared)."""
    if not compile:
        return modules
    backend = compile if isinstance(compile, str) else "inductor"
    done: dict = {}
    for m in modules:
        if id(m) not in done:
            done[id(m)] = torch.compile(m, backend=backend)
    return tuple(done[id(m)] for m in modules)


def _requires_grad_(params: list, flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


def _penalty(D, x_real, x_fake, y, gp_weight: float, r1_gamma: float) -> torch.Tensor:
    """``gp_weight * GP + r1_gamma / 2 * R1`` (each only when its weight is set), 0-dim on the data's device."""
    critic = D if y is None else (lambda x: D(x, y))
    penalty = torch.zeros((), device=x_real.device)
    if gp_weight:
        penalty = penalty + gp_weight * gradient_penalty(critic, x_real, x_fake)
    if r1_gamma:
        penalty = penalty + r1_gamma / 2 * r1_penalty(critic, x_real)
    return penalty


def _progress_bar(steps: int, start: int, progress: bool):
    from tqdm.auto import tqdm

    off = not progress or os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false")
    return tqdm(total=steps, initial=start, desc="GAN steps", unit="step", disable=off, leave=False)


def clone(module: nn.Module) -> nn.Module:
    """A deep copy with gradients off, for an EMA generator: ``train_gan(..., ema=clone(G))``. Lecture 08."""
    return copy.deepcopy(module).requires_grad_(False)
