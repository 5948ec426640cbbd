"""The speed seam of the training loop: what makes :func:`gancourse.train.train_gan` fast, kept out of its sight.

The loop a lecture shows calls ``G(z)`` and ``D(x)`` and records numbers. Underneath, this module

- draws image batches by indexing a tensor held on the device (:class:`InMemoryBatches`, no DataLoader);
- keeps each step's numbers on the device and copies them every few steps (:class:`StepLog`: one
  synchronisation instead of one ``.item()`` per number);
- runs each network as a :class:`Player`: stored pixel by pixel (channels-last), its forward pass
  under ``torch.autocast`` in bfloat16 when asked, compiled with ``torch.compile`` when asked, and
  wrapped in DistributedDataParallel under ``torchrun`` (:mod:`gancourse.parallel`);
- and groups those switches in one :class:`Speed` object, the one argument ``train_gan`` takes for them.

None of it changes the algorithm: with the defaults a run on the CPU is the same as the plain loop's
to rounding (channels-last reorders the sums of a convolution). Lecture 03.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from gancourse import parallel


@dataclass(frozen=True)
class Speed:
    """How the loop runs, not what it computes. Lecture 03.

    ``channels_last``: store images and convolution weights pixel by pixel (NHWC); convolutions run
    faster that way on CPUs and on GPUs with tensor cores (values agree with the default layout to
    rounding). ``precision``: ``"fp32"``, or ``"bf16"`` for the forward passes under ``torch.autocast``
    (losses and weights stay float32; it changes results). ``compile``: ``torch.compile`` the forward
    passes (True for the default backend, or a backend's name; the gradient penalty's double backward
    runs uncompiled; compiling costs more than short CPU runs gain). ``log_every``: steps between copies
    of the logged numbers from the device (and the finiteness check).
    """

    channels_last: bool = True
    precision: str = "fp32"
    compile: bool | str = False
    log_every: int = 25

    def __post_init__(self):
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}.")

    @property
    def layout(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


class InMemoryBatches:
    """Random batches drawn by indexing images held on the device (sampling with replacement).

    ``dataset`` is an :class:`~gancourse.data.ImageDataset` (its ``.images`` (N, C, H, W) and
    ``.labels`` (N,)), a tensor of images, or a pair ``(images, labels)``. Indices come from a CPU
    ``torch.Generator`` seeded with ``seed``, whose state goes into checkpoints, so a resumed run draws
    the same batches. The loop's noise comes from torch's global stream, on the device. Lecture 03.
    """

    def __init__(self, dataset, batch_size: int, device: torch.device, seed: int = 0,
                 layout: torch.memory_format = torch.contiguous_format):
        if isinstance(dataset, tuple) and len(dataset) == 2:
            images, labels = dataset
        else:
            images = dataset if isinstance(dataset, torch.Tensor) else getattr(dataset, "images", None)
            labels = getattr(dataset, "labels", None)
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise TypeError(
                f"dataset must be an ImageDataset (with .images of shape (N, C, H, W)), such a tensor or a pair "
                f"(images, labels), got {type(dataset).__name__}; build one with gancourse.data.image_dataset(name)."
            )
        if not 0 < batch_size <= len(images):
            raise ValueError(f"batch_size must be between 1 and the dataset's {len(images)} images, got {batch_size}.")
        self.images = images.to(device).contiguous(memory_format=layout)
        self.labels = labels.to(device) if isinstance(labels, torch.Tensor) else None
        self.batch_size, self.device = batch_size, device
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

    def noise(self, n: int, z_dim: int) -> torch.Tensor:
        """``n`` latent vectors (n, Z) from torch's global stream, drawn on the device."""
        return torch.randn(n, z_dim, device=self.device)


class DivergenceError(FloatingPointError):
    """A run that blew up (a loss beyond :data:`MAX_LOSS`, weights grown :data:`MAX_WEIGHT_GROWTH`-fold) or
    whose generator stopped learning (a gradient of exactly 0 for :data:`DEAD_GRADIENT_STEPS` steps).
    Raised before the checkpoint that would have held it is written. Lecture 03."""


MAX_LOSS = 1e8  # |loss| beyond this is a blow-up; lecture 11's deliberately unstable demo (Adam 0.2) peaks at 3e6
MAX_WEIGHT_GROWTH = 1e4  # a network's weight norm this many times its norm when the run (or resume) began
DEAD_GRADIENT_STEPS = 100  # consecutive steps with G's gradient norm exactly 0: G no longer learns


def weight_norm(module: nn.Module) -> float:
    """The L2 norm of all of a module's parameters together."""
    squares = [p.detach().float().pow(2).sum() for p in module.parameters()]
    return float(torch.stack(squares).sum().sqrt()) if squares else 0.0


class StepLog:
    """Each step's numbers, stacked on the device and copied into a history every ``every`` steps.

    ``log(**values)`` takes 0-dim tensors (the same names every step; each is a list of the history).
    Copying is where the loop waits for the device, so it happens once per ``every`` steps (and
    before every checkpoint). It is also where runs that went wrong are caught: :meth:`flush` raises
    ``FloatingPointError`` naming the first non-finite step and quantity, and :class:`DivergenceError`
    for a loss beyond :data:`MAX_LOSS`, a generator gradient of exactly 0 for :data:`DEAD_GRADIENT_STEPS`
    steps, or (for the networks in ``watch``, e.g. ``(G, D)``) weights grown :data:`MAX_WEIGHT_GROWTH`-fold.
    Lecture 03.
    """

    def __init__(self, history, first_step: int, every: int = 25, watch: tuple = ()):
        self.history, self.next_step, self.every = history, first_step + 1, max(1, every)
        self.keys: tuple = ()
        self.rows: list[torch.Tensor] = []
        self.watch = tuple(watch)
        self.norms = [weight_norm(m) for m in self.watch]  # at the start of this run (or resume)
        self.zero_run = 0  # consecutive steps with G's gradient norm exactly 0

    def log(self, **values: torch.Tensor) -> None:
        self.keys = tuple(values)
        self.rows.append(torch.stack([v.detach().float().reshape(()) for v in values.values()]))  # (K,)
        if len(self.rows) >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        block = torch.stack(self.rows).cpu()  # (k, K): the one synchronisation
        self.rows = []
        bad = ~torch.isfinite(block)
        if bad.any():
            row, col = (int(i) for i in bad.nonzero()[0])
            values = ", ".join(f"{k} {v:.4g}" for k, v in zip(self.keys, block[row].tolist()))
            raise FloatingPointError(
                f"non-finite {self.keys[col]} at step {self.next_step + row} ({values}). Training stopped; "
                "the weights in memory are no longer usable, the last good checkpoint (if any) is untouched. "
                "Lower the learning rates, check the data range, or use a bounded loss."
            )
        self._check_divergence(block)
        for k, column in zip(self.keys, block.T.tolist()):
            getattr(self.history, k).extend(column)
        self.next_step += len(block)

    def _check_divergence(self, block: torch.Tensor) -> None:
        """Raise :class:`DivergenceError` for a blown-up loss, a dead generator or exploding weights."""
        stopped = ("Training stopped before writing a checkpoint; the last good one (if any) is untouched. ")
        for key in ("loss_d", "loss_g"):
            if key in self.keys:
                column = block[:, self.keys.index(key)]
                big = (column.abs() > MAX_LOSS).nonzero()
                if len(big):
                    row = int(big[0])
                    raise DivergenceError(
                        f"{key} reached {float(column[row]):.3g} at step {self.next_step + row}, beyond {MAX_LOSS:.0e}: "
                        f"the run diverged. {stopped}Lower the learning rates, check that the data lie in "
                        f"[-1, 1], or add a penalty (gp_weight, r1_gamma).")
        trainable = bool(self.watch) and any(p.requires_grad for p in self.watch[0].parameters())
        if "grad_norm_g" in self.keys and trainable:
            for row, value in enumerate(block[:, self.keys.index("grad_norm_g")].tolist()):
                self.zero_run = self.zero_run + 1 if value == 0.0 else 0
                if self.zero_run >= DEAD_GRADIENT_STEPS:
                    step = self.next_step + row
                    raise DivergenceError(
                        f"grad_norm_g has been exactly 0 for {self.zero_run} steps (steps {step - self.zero_run + 1} "
                        f"to {step}): the generator no longer learns. {stopped}Check that D's score depends on "
                        f"its input, use the non-saturating loss, or leaky ReLUs in G (dead units pass no gradient).")
        for name, module, start in zip(("G", "D"), self.watch, self.norms):
            now = weight_norm(module)
            if start > 0 and now > MAX_WEIGHT_GROWTH * start:
                raise DivergenceError(
                    f"{name}'s weight norm grew {now / start:.3g}-fold ({start:.3g} -> {now:.3g}) by step "
                    f"{self.next_step + len(block) - 1}, beyond {MAX_WEIGHT_GROWTH:.0e}-fold: the run diverged. "
                    f"{stopped}Lower the learning rates, or bound D (spectral norm, a gradient penalty).")


class Player:
    """A network as the loop runs it; calling it runs the network's forward pass, returning float32.

    ``module`` is the network itself (its weights, optimiser and checkpoint). A call with gradients on
    goes through DistributedDataParallel under ``torchrun`` (its backward averages the gradients across
    processes); a call under ``torch.no_grad()`` or inside :func:`frozen` goes to the network alone (no
    gradient of its weights is taken). Both are compiled when ``speed.compile`` is set.
    :meth:`uncompiled` is the plain forward (for a gradient penalty's double backward). Lecture 03.
    """

    def __init__(self, module: nn.Module, device: torch.device, speed: Speed):
        self.module = module.to(device, memory_format=speed.layout).train()
        synced = parallel.wrap(module, device)
        self._local = _compile(module, speed.compile)
        self._synced = self._local if synced is module else _compile(synced, speed.compile)
        self._device_type = device.type
        self._bf16 = speed.precision == "bf16"
        self.frozen = False

    def _autocast(self):
        if not self._bf16:
            return contextlib.nullcontext()
        return torch.autocast(self._device_type, dtype=torch.bfloat16)

    def __call__(self, *args) -> torch.Tensor:
        net = self._synced if torch.is_grad_enabled() and not self.frozen else self._local
        with self._autocast():
            return net(*args).float()

    def uncompiled(self, *args) -> torch.Tensor:
        with self._autocast():
            return self.module(*args).float()

    def parameters(self):
        return self.module.parameters()


def unwrap(net) -> nn.Module:
    """The network inside a :class:`Player` (a plain module is returned as it is)."""
    return net.module if isinstance(net, Player) else net


@contextlib.contextmanager
def frozen(net):
    """Within the block ``net``'s weights take no gradient (gradients still flow through it to its input).

    For the generator's step: D scores the fakes, G's weights move, D's stay. Works on a
    :class:`Player` or a plain module. Lecture 03.
    """
    params = [p for p in net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    was = getattr(net, "frozen", None)
    if isinstance(net, Player):
        net.frozen = True
    try:
        yield net
    finally:
        for p in params:
            p.requires_grad_(True)
        if isinstance(net, Player):
            net.frozen = was


def _compile(module: nn.Module, compile):
    """``torch.compile(module)`` once per module (or the module itself when ``compile`` is off)."""
    if not compile:
        return module
    backend = compile if isinstance(compile, str) else "inductor"
    return torch.compile(module, backend=backend)
