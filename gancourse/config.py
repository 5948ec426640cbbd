"""Where the course runs: the device, seeds, FAST and FULL budgets, data and cache folders.

Every lecture starts here. FAST mode (``GANCOURSE_FAST=1``, set by ``make test`` and CI) makes
every notebook finish on a 2-core CPU with no network; FULL mode (the default on a GPU) gives the
budgets a lecture needs for good-looking results. Notebooks never branch on the mode in their
prose: they call :func:`budget`. Introduced in lecture 00.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

FAST_ENV = "GANCOURSE_FAST"
DATA_ENV = "GANCOURSE_DATA"
CACHE_ENV = "GANCOURSE_CACHE"
SEED_ENV = "GANCOURSE_SEED"


def device() -> torch.device:
    """The best device here: CUDA, then Apple's MPS, then the CPU. Lecture 00."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_offset() -> int:
    """The offset added to every seed the course draws: ``$GANCOURSE_SEED``, default 0.

    A claim that holds for seed 0 only teaches nothing; ``GANCOURSE_SEED=1`` re-runs the whole course
    from other seeds (``make robust`` does so, and prints every checked claim that changes). Lecture 00.
    """
    value = os.environ.get(SEED_ENV, "").strip()
    if value == "":
        return 0
    try:
        offset = int(value)
    except ValueError:
        offset = -1
    if offset < 0 or offset >= 2**31:
        raise ValueError(f"{SEED_ENV} must be a whole number from 0 to {2**31 - 1} (the offset added to every "
                         f"seed of the course), got {value!r}. Unset it for the default, 0.")
    return offset


def course_seed(seed: int) -> int:
    """The seed actually used for the course's seed ``seed``: ``seed + seed_offset()``.

    Every place that turns a seed into random state calls this once (:func:`seed_everything`, the
    training loops' streams, the cached runs' file names), so one variable moves every run. Lecture 00.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r}).")
    return seed + seed_offset()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (and CUDA) with ``course_seed(seed)``, so that a run on the CPU repeats exactly.

    The seed is shifted by ``$GANCOURSE_SEED`` (see :func:`seed_offset`; 0 unless set). On CUDA it also
    asks for deterministic cuBLAS workspaces and turns off cuDNN's autotuner, so GPU runs vary less; GPU
    results are still compared with tolerances, never exactly. Lecture 00.
    """
    seed = course_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.benchmark = False


def is_fast() -> bool:
    """True in FAST mode.

    ``GANCOURSE_FAST`` set to ``"1"`` means FAST, ``"0"`` means FULL. Unset, the mode follows the
    hardware: FULL where a GPU is available, FAST on a CPU. Lecture 00.
    """
    value = os.environ.get(FAST_ENV)
    if value is None or value.strip() == "":
        return device().type == "cpu"
    value = value.strip()
    if value not in ("0", "1"):
        raise ValueError(
            f"{FAST_ENV} must be '1' (FAST: small budgets for a CPU) or '0' (FULL budgets), "
            f"got {value!r}. Unset it to let the course choose from the hardware."
        )
    return value == "1"


def mode() -> str:
    """``"FAST"`` or ``"FULL"``, for printing. Lecture 00."""
    return "FAST" if is_fast() else "FULL"


def budget(*, fast, full):
    """Return ``fast`` in FAST mode and ``full`` in FULL mode.

    Lectures write ``steps = budget(fast=300, full=20_000)`` so the prose never branches on the
    mode. Lecture 00.
    """
    return fast if is_fast() else full


def _user_cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg else Path.home() / ".cache"


def _folder(env: str, default: Path, what: str) -> Path:
    """The folder named by the environment variable ``env`` (else ``default``), created when missing.

    Each way the variable can be wrong ends in one sentence naming the variable, its value and the way
    out: a value that is not a path, a path that is a file, a folder that cannot be created.
    """
    value = os.environ.get(env)
    if value is None or value.strip() == "":
        path, source = default, f"the default {what} folder"
    else:
        if value != value.strip():
            raise ValueError(f"{env} must be a folder's path, got {value!r}, with spaces around it (a stray space "
                             f"in a shell assignment?). Set it to the path alone, or unset it to use {default}.")
        path, source = Path(value).expanduser().absolute(), f"{env}"
    if path.exists() and not path.is_dir():
        raise ValueError(f"{source} points at {path}, which is a file, not a folder. "
                         f"Point {env} at a folder (it is created when missing), or unset it.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"cannot create the {what} folder {path} named by {source} ({err.strerror}). "
                              f"Point {env} at a folder you can write.") from None
    return path


def check_writable(folder: Path, env: str) -> None:
    """Raise ``PermissionError`` naming ``folder`` and ``env`` when no file can be created in ``folder``.

    A probe file, not ``os.access``: the permission bits do not tell the whole story (a read-only file
    system, or root, for whom every bit says yes). Lecture 00.
    """
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise PermissionError(f"cannot write into {folder} ({err.strerror}); it is read-only for this process. "
                              f"Point {env} at a folder you can write, or make this one writable.") from None


def data_dir() -> Path:
    """The folder datasets are downloaded to: ``$GANCOURSE_DATA``, else ``<user cache>/gancourse/data``.

    Created when missing. A value that is a file, or a folder that cannot be created, raises an error
    naming it. Lecture 00.
    """
    return _folder(DATA_ENV, _user_cache_root() / "gancourse" / "data", "data")


def cache_dir() -> Path:
    """The folder checkpoints and cached results go to: ``$GANCOURSE_CACHE``, else ``<user cache>/gancourse/cache``.

    Created when missing. A value that is a file, or a folder that cannot be created, raises an error
    naming it; a folder that exists but is read-only can still be read from (a shared cache), and
    :func:`gancourse.checkpoints.save` says so when it cannot write there. Lecture 00.
    """
    return _folder(CACHE_ENV, _user_cache_root() / "gancourse" / "cache", "cache")


def _short(path: Path) -> str:
    """A path as a learner would say it: inside the course as ``<course>/...``, under home as ``~/...``."""
    path = Path(path).resolve()
    course = Path(__file__).resolve().parent.parent
    for root, label in ((course, "<course>"), (Path.home().resolve(), "~")):
        try:
            return f"{label}/{path.relative_to(root).as_posix()}"
        except ValueError:
            continue
    return str(path)


def describe() -> dict:
    """What this machine gives the course: versions, device, threads, mode, folders. Lecture 00."""
    import platform

    import torchvision

    dev = device()
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else platform.processor() or platform.machine()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": f"{dev.type} ({name})",
        "cpu threads": torch.get_num_threads(),
        "mode": mode() + (f" ({FAST_ENV}={os.environ[FAST_ENV]})" if os.environ.get(FAST_ENV) else " (from the hardware)"),
        "data folder": _short(data_dir()) + ("" if os.environ.get(DATA_ENV) else f"  (set {DATA_ENV} to move it)"),
        "cache folder": _short(cache_dir()) + ("" if os.environ.get(CACHE_ENV) else f"  (set {CACHE_ENV} to move it)"),
    }
