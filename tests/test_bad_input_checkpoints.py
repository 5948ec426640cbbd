"""Bad input and faults at the checkpoint store: broken, foreign and hostile files, interrupted and concurrent saves."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gancourse import checkpoints
from gancourse.checkpoints import CheckpointError


class _RunsCode:
    """An object whose unpickling would create a file: the kind of payload a foreign .pt can carry."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.fixture
def saved(tmp_path):
    return checkpoints.save({"w": torch.arange(1000.0), "step": 7}, tmp_path / "model.pt")


def test_truncated_checkpoint_names_the_file_and_the_remedy(saved):
    saved.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=rf"{saved.name}.*truncated or not a torch file.*Delete it and retrain"):
        checkpoints.load(saved, remedy="retrain")


def test_zero_byte_checkpoint(saved):
    saved.write_bytes(b"")
    with pytest.raises(CheckpointError, match=rf"cannot read the checkpoint .*{saved.name}"):
        checkpoints.load(saved)


def test_foreign_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("these are my notes, not a model")
    with pytest.raises(CheckpointError, match="notes.pt.*not a torch file"):
        checkpoints.load(path)


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "hostile.pt"
    torch.save({"w": torch.zeros(2), "payload": _RunsCode(marker)}, path)
    with pytest.raises(CheckpointError, match="hostile.pt holds objects other than tensors.*not written by gancourse"):
        checkpoints.load(path)
    assert not marker.exists()


def test_a_list_is_not_a_checkpoint_dictionary(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(CheckpointError, match="list.pt holds a list, not a checkpoint dictionary"):
        checkpoints.load(path)


def test_save_refuses_what_load_could_never_read_back(tmp_path):
    with pytest.raises(TypeError, match=r"a checkpoint is a dict .*got list; wrap it"):
        checkpoints.save([torch.zeros(2)], tmp_path / "list.pt")
    assert list(tmp_path.iterdir()) == []


def test_missing_checkpoint_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*absent.pt; python -m gancourse train dcgan"):
        checkpoints.load(tmp_path / "absent.pt", remedy="python -m gancourse train dcgan")


def test_stale_temporaries_of_a_killed_save_are_removed_by_the_next_save(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".model.pt.{dead}.tmp"
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / f".other.pt.{dead}.tmp"  # another name's temporary: not this save's business
    other.write_bytes(b"x")
    checkpoints.save({"a": 1}, tmp_path / "model.pt")
    assert not stale.exists() and other.exists()
    assert checkpoints.load(tmp_path / "model.pt") == {"a": 1}


def test_a_live_writers_temporary_is_left_alone(tmp_path):
    """A temporary whose process still runs is another save in progress: removing it would break that save."""
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        busy = tmp_path / f".model.pt.{live.pid}.tmp"
        busy.write_bytes(b"being written")
        checkpoints.save({"a": 1}, tmp_path / "model.pt")
        assert busy.exists()
    finally:
        live.kill()
        live.wait()


def test_read_only_cache_names_the_folder_and_the_variable(monkeypatch):
    if not Path("/sys").is_dir() or os.access("/sys", os.W_OK) and _can_write("/sys"):
        pytest.skip("needs a read-only folder (/sys on Linux)")
    monkeypatch.setenv("GANCOURSE_CACHE", "/sys")
    with pytest.raises(PermissionError, match=r"cannot write into /sys .*GANCOURSE_CACHE"):
        checkpoints.save({"a": 1}, "model")


def test_save_refuses_what_it_cannot_write_and_keeps_the_old_file(saved):
    before = saved.read_bytes()
    with pytest.raises(Exception):
        checkpoints.save({"f": lambda: 0}, saved)  # a lambda cannot be pickled
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


# ---- processes killed mid-save, and two writers at once (slow: real processes, forked so as not to import torch again)

def _write_loop(path, value, rounds, go):
    state = {"w": torch.full((400_000,), value), "value": value}
    go.wait()  # start together with the other writers
    for _ in range(rounds):
        checkpoints.save(state, path)


def _writer(path, value, rounds):
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    proc = ctx.Process(target=_write_loop, args=(path, value, rounds, go))
    proc.start()
    return proc, go


@pytest.mark.slow
def test_kill_9_during_saves_leaves_a_valid_checkpoint_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "model.pt"
    checkpoints.save({"w": torch.zeros(400_000), "value": 0.0}, path)
    killed_mid_write = 0
    for attempt in range(3):
        proc, go = _writer(path, 1.0 + attempt, rounds=100_000)
        go.set()
        deadline = time.monotonic() + 10
        while not any(tmp_path.glob(".model.pt.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.0005)  # wait until it is inside a save, then kill it there
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        killed_mid_write += any(tmp_path.glob(".model.pt.*.tmp"))
        state = checkpoints.load(path)  # never a torn file: the old one or a whole new one
        assert state["value"] in {0.0, *(1.0 + k for k in range(attempt + 1))}
        assert torch.equal(state["w"], torch.full((400_000,), state["value"]))
    assert killed_mid_write >= 1, "no kill landed inside a save; the test proved nothing"
    checkpoints.save({"w": torch.zeros(1), "value": -1.0}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


@pytest.mark.slow
def test_two_concurrent_writers_into_one_cache(tmp_path):
    path = tmp_path / "shared.pt"
    writers = [_writer(path, value, rounds=200) for value in (1.0, 2.0)]
    for _, go in writers:
        go.set()
    for proc, _ in writers:
        proc.join(timeout=60)
        assert proc.exitcode == 0  # neither writer's save was broken by the other's clean-up
    state = checkpoints.load(path)
    assert state["value"] in (1.0, 2.0)
    assert torch.equal(state["w"], torch.full((400_000,), state["value"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.pt"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _can_write(folder) -> bool:
    try:
        with open(Path(folder) / ".probe-gancourse", "w"):
            pass
    except OSError:
        return False
    os.unlink(Path(folder) / ".probe-gancourse")
    return True
