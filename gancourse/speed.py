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


class StepLog:
    """Each step's numbers, stacked on the device and copied into a history every ``every`` steps.

    ``log(**values)`` takes 0-dim tensors (the same names every step; each is a list of the history).
    Copying is where the loop waits for the device, so it happens once per ``every`` steps (and
    before every checkpoint). It is also where non-finite values are caught: :meth:`flush` raises
    ``FloatingPointError`` naming the first bad step and quantity. Lecture 03.
    """

    def __init__(self, history, first_step: int, every: int = 25):
        self.history, self.next_step, self.every = history, first_step + 1, max(1, every)
        self.keys: tuple = ()
        self.rows: list[torch.Tensor] = []

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
        for k, column in zip(self.keys, block.T.tolist()):
            getattr(self.history, k).extend(column)
        self.next_step += len(block)


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
