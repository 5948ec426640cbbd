"""The one checkpoint store: where cached files live, how they are written, how they are read.

Every trained model and cached result of the course is a plain dictionary of tensors, lists,
numbers and strings (state dicts paired with the settings that made them, as nanoGPT's
checkpoints are). This module

- names them: :func:`cache_path` puts a bare name into :func:`gancourse.config.cache_dir`, and
  :func:`keyed_name` builds ``<kind>-<name>-seed<seed>-<digest>.pt`` for a result keyed by its
  settings (the digest changes whenever a setting changes, so a changed recipe never loads an old file);
- writes them atomically (:func:`save`: a temporary file in the same folder, then ``os.replace``;
  a crash leaves the previous file intact and no temporary behind);
- reads them safely (:func:`load`: ``torch.load(..., weights_only=True)``, which unpickles no code);
- and pins training to one CPU thread (:func:`one_thread`), so that a cached result does not
  depend on how many cores the machine that made it had.

Used by lectures 01-11 (every cached model and table).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import zipfile
from pathlib import Path

import torch

from gancourse.config import CACHE_ENV, cache_dir, check_writable, course_seed


def cache_path(name: str | os.PathLike) -> Path:
    """Where a cached file lives: a bare name goes into :func:`gancourse.config.cache_dir`, any other path stays.

    A name without a suffix gets ``.pt``. Lecture 03.
    """
    path = Path(name)
    if not path.is_absolute() and path.parent == Path("."):
        path = cache_dir() / path
    return path if path.suffix else path.with_suffix(".pt")


def stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every process (Python's ``hash`` is salted per process)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def keyed_name(kind: str, name: str, seed: int, settings: str) -> str:
    """The file name of a cached result: ``<kind>-<name>-seed<seed>-<digest>.pt``.

    ``settings`` is a text listing every setting that changes the result (e.g. ``"steps=300|lr=0.001"``);
    its :func:`stable_hash` makes the ten-digit digest. Lectures 01, 04, 11.
    """
    return f"{kind}-{name}-seed{course_seed(seed)}-{stable_hash(settings) % 10**10:010d}.pt"  # $GANCOURSE_SEED shifts it


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files of earlier saves of ``path`` that were killed before they could clean up.

    A temporary whose process still runs is another save in progress (two processes training one
    recipe into one cache): it is left alone, or that save would fail at its rename.
    """
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            pid = int(stale.name[len(path.name) + 2:-len(".tmp")])
            if pid != os.getpid():
                os.kill(pid, 0)  # raises ProcessLookupError when no such process exists
                continue  # alive: its save is still running
        except ProcessLookupError:
            pass
        except (ValueError, OSError):
            continue  # not a name this module writes, or a live process of another user
        with contextlib.suppress(OSError):
            stale.unlink()


def save(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` atomically: ``torch.save`` to ``.<name>.<pid>.tmp`` in the same folder, then ``os.replace``.

    A failure at any point (a full disk, an object ``torch.save`` cannot write, an interrupt) removes
    the temporary file and leaves the previous file at ``path`` intact; temporaries left by saves that
    were killed outright are removed by the next save to the same name. ``path``: a bare name (into
    the cache folder) or a path. Returns the path written. Lecture 03.
    """
    if not isinstance(state, dict):  # load() accepts dictionaries only: refuse what could never be read back
        raise TypeError(f"a checkpoint is a dict (state dicts, tensors, lists, numbers, strings), got "
                        f"{type(state).__name__}; wrap it, e.g. save({{'G': G.state_dict()}}, path).")
    path = cache_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, (OSError, RuntimeError)):  # torch's error for an unwritable folder names no path
            check_writable(path.parent, CACHE_ENV)
        raise
    return path


class CheckpointError(ValueError):
    """A cached file that exists but cannot be read as a checkpoint (truncated, or not written by the course)."""


def load(path: str | os.PathLike, remedy: str | None = None) -> dict:
    """Read a file written by :func:`save` with ``torch.load(..., weights_only=True)``, onto the CPU.

    A missing file raises ``FileNotFoundError``; a truncated or foreign one (not a torch zip file, or
    holding objects other than tensors, lists, dicts, numbers and strings) raises :class:`CheckpointError`.
    Both messages name the file and what to do; ``remedy`` (e.g. the command that retrains it) is
    added to them. Lecture 03.
    """
    path = cache_path(path)
    how = remedy or "rerun the cell or command that made it"
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; {how}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path} holds objects other than tensors, lists, dicts, numbers and strings: it was "
                              f"not written by gancourse. Delete it and {how}.") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, IndexError, KeyError, ValueError) as err:
        raise CheckpointError(f"cannot read the checkpoint {path}: it is truncated or not a torch file "
                              f"({type(err).__name__}). Delete it and {how}.") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a checkpoint dictionary. Delete it and {how}.")
    return state


class one_thread(contextlib.ContextDecorator):
    """Run torch on one CPU thread inside a ``with`` block or a decorated function, then restore the count.

    Cached results are computed on one thread so that they are the same on every machine (the order
    of a reduction depends on the thread count, and a GAN amplifies the last bit). Lectures 04, 10, 11.

    >>> with one_thread():
    ...     torch.get_num_threads()
    1
    """

    def __init__(self):
        self._saved: list[int] = []  # a stack: one decorated function may call itself

    def __enter__(self) -> "one_thread":
        self._saved.append(torch.get_num_threads())
        torch.set_num_threads(1)
        return self

    def __exit__(self, *exc) -> bool:
        torch.set_num_threads(self._saved.pop())
        return False


#: The version of what :func:`cached` stores. 2: histories are :class:`gancourse.train.History`
#: (1, unmarked: the toy loop's own history, before the course had one loop).
CACHE_FORMAT = 2


def cached(path: str | os.PathLike, make, retrain: bool = False) -> dict:
    """The dictionary cached at ``path``, or ``make()`` saved there (atomically) when absent, stale or ``retrain``.

    A file of another :data:`CACHE_FORMAT` (written by an older version of the course) is computed
    again, with one line saying so. Lectures 01, 04, 11.
    """
    path = cache_path(path)
    if path.exists() and not retrain:
        state = load(path)
        if state.get("format") == CACHE_FORMAT:
            return state
        print(f"{path.name} in the cache folder was written by an older version of gancourse; computing it again.")
    state = {"format": CACHE_FORMAT, **make()}
    save(state, path)
    return state


def side_by_side(fn, jobs: list, done, workers: int, *, cost=None, desc: str | None = None) -> None:
    """Fill the cache: ``fn(*job)`` for every job not ``done(*job)`` yet, in ``workers`` processes side by side.

    Each call writes its own result into the cache folder, and the caller loads every job from there
    afterwards, so the results are those of running the jobs one after the other (a job's thread count is
    ``fn``'s business). ``cost(*job)`` orders the missing jobs, costliest first, so the workers end together;
    ``desc`` labels a progress bar. Nothing happens when ``workers`` is 1 or at most one job is missing.
    Lectures 04, 07, 12.
    """
    missing = [job for job in jobs if not done(*job)]
    if workers <= 1 or len(missing) <= 1:
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    if cost is not None:
        missing.sort(key=lambda job: cost(*job), reverse=True)
    with ProcessPoolExecutor(min(workers, len(missing)), mp_context=multiprocessing.get_context("spawn")) as pool:
        list(tqdm(pool.map(_call, [(fn, job) for job in missing]), total=len(missing), desc=desc or "runs", unit="run",
                  leave=False, disable=desc is None))


def _call(fn_and_job):
    """``fn(*job)`` in a worker (jobs may differ in length, which a plain ``map(fn, *columns)`` would cut)."""
    fn, job = fn_and_job
    return fn(*job)
