"""Training on several processes: PyTorch's DistributedDataParallel behind one small seam.

``python -m gancourse train NAME`` runs unchanged under ``torchrun --nproc_per_node N`` (and across
nodes with torchrun's usual flags). torchrun starts N copies of the program and tells each its
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` through the environment; :func:`setup` joins the process
group (gloo on CPUs, nccl on GPUs), :func:`wrap` puts a network inside
``torch.nn.parallel.DistributedDataParallel``, which averages gradients across processes during
``backward()``, so every process takes the same optimiser step and the weights stay identical.
Each process draws its own batches (its own seed), so the effective batch is ``batch_size * N``.

Nothing here runs in a single process: :func:`wrap` returns the network unchanged and
:func:`is_main` is True, so the training loop reads the same either way. Lecture 03 (the loop);
the README's "Beyond one machine" section.
"""

from __future__ import annotations

import os

import torch
from torch import nn

INIT_ENV = "GANCOURSE_DIST_INIT"  # optional init_method (e.g. file:///path) instead of torchrun's env://


def _environment() -> tuple[int, int]:
    """``(rank, world size)`` from torchrun's variables, checked: both or neither, whole numbers, rank < size.

    A ``RANK`` left over in a shell without ``WORLD_SIZE`` used to train as a non-main process of one:
    no checkpoint, no output, exit status 0.
    """
    values = {k: os.environ.get(k, "").strip() for k in ("RANK", "WORLD_SIZE")}
    if not any(values.values()):
        return 0, 1
    fix = ("torchrun sets both; unset RANK and WORLD_SIZE to train in one process, or start the command "
           "with torchrun --nproc_per_node N.")
    if not all(values.values()):
        given, absent = ("RANK", "WORLD_SIZE") if values["RANK"] else ("WORLD_SIZE", "RANK")
        raise ValueError(f"{given}={values[given]} is set but {absent} is not; {fix}")
    try:
        r, n = int(values["RANK"]), int(values["WORLD_SIZE"])
    except ValueError:
        raise ValueError(f"RANK and WORLD_SIZE must be whole numbers, got RANK={values['RANK']!r} and "
                         f"WORLD_SIZE={values['WORLD_SIZE']!r}; {fix}") from None
    if not (n >= 1 and 0 <= r < n):
        raise ValueError(f"RANK must lie in 0..WORLD_SIZE-1 with WORLD_SIZE >= 1, got RANK={r} and WORLD_SIZE={n}; {fix}")
    return r, n


def world_size() -> int:
    """How many processes train together (1 when not started by torchrun)."""
    return _environment()[1]


def rank() -> int:
    """This process's number, 0 to ``world_size() - 1``."""
    return _environment()[0]


def is_distributed() -> bool:
    return world_size() > 1


def is_main() -> bool:
    """True in the one process that writes checkpoints, progress bars and messages."""
    return rank() == 0


def setup() -> torch.device:
    """Join the process group once (gloo on CPU, nccl on CUDA); return this process's device."""
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo",
                                init_method=os.environ.get(INIT_ENV, "env://"),
                                rank=rank(), world_size=world_size())
    return device


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """``DistributedDataParallel(module)`` when several processes train, else ``module`` itself.

    DDP copies rank 0's weights to every process when it wraps, then averages gradients in every
    ``backward()`` through the wrapper.
    """
    if not is_distributed():
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def barrier() -> None:
    """Wait for every process (a no-op in a single process)."""
    if is_distributed():
        import torch.distributed as dist

        dist.barrier()


def sync_buffers(*modules: nn.Module) -> None:
    """Copy rank 0's buffers (batch-norm running statistics) to every process.

    DDP keeps the parameters equal by averaging gradients; the running statistics are updated by
    each process's own batches, so at the end of training they are made equal here (a no-op in a
    single process).
    """
    if not is_distributed():
        return
    import torch.distributed as dist

    with torch.no_grad():
        for module in modules:
            for buffer in module.buffers():
                dist.broadcast(buffer, src=0)
