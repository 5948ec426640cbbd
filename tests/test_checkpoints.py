"""The one checkpoint store: atomic saves that clean up after themselves, safe loads with clear errors, names, one thread."""

import os

import pytest
import torch

from gancourse import checkpoints


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path / "cache"))


def test_a_bare_name_goes_to_the_cache_folder_and_gets_pt(tmp_path):
    assert checkpoints.cache_path("dcgan-fast") == tmp_path / "cache" / "dcgan-fast.pt"
    assert checkpoints.cache_path(tmp_path / "x.ckpt") == tmp_path / "x.ckpt"
    # the ten-digit digest is stable across processes (a salted hash() would not be)
    assert checkpoints.keyed_name("ring", "vanilla", 3, "steps=300") == (
        f"ring-vanilla-seed3-{checkpoints.stable_hash('steps=300') % 10**10:010d}.pt")
    assert len(checkpoints.keyed_name("ring", "vanilla", 3, "a").split("-")[-1]) == len("0123456789.pt")


def test_save_then_load_round_trips_without_pickle(tmp_path):
    path = checkpoints.save({"w": torch.arange(3.0), "steps": 5, "name": "x"}, "rt")
    assert path == tmp_path / "cache" / "rt.pt"
    back = checkpoints.load("rt")
    assert torch.equal(back["w"], torch.arange(3.0)) and back["steps"] == 5
    assert os.listdir(path.parent) == ["rt.pt"]


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "x.pt"
    checkpoints.save({"a": torch.ones(2)}, path)

    def broken(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        checkpoints.save({"a": torch.zeros(2)}, path)
    monkeypatch.undo()
    assert torch.equal(checkpoints.load(path)["a"], torch.ones(2))
    assert os.listdir(tmp_path) == ["x.pt"]
    # an object torch cannot write fails the same way, and an interrupt too
    with pytest.raises(Exception):
        checkpoints.save({"f": lambda: 1}, path)
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []


def test_stale_temporaries_of_killed_saves_are_removed_by_the_next_save(tmp_path):
    for pid in (4_194_305, 4_194_306):  # above Linux's largest process id: no such process runs
        (tmp_path / f".x.pt.{pid}.tmp").write_bytes(b"killed mid-write")
    (tmp_path / ".other.pt.13.tmp").write_bytes(b"another file's: kept")
    checkpoints.save({"a": 1}, tmp_path / "x.pt")
    assert sorted(os.listdir(tmp_path)) == [".other.pt.13.tmp", "x.pt"]


def test_load_names_the_file_and_the_remedy(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*missing.pt; python -m gancourse train dcgan"):
        checkpoints.load(tmp_path / "missing.pt", remedy="python -m gancourse train dcgan")
    good = checkpoints.save({"w": torch.ones(1000)}, tmp_path / "good.pt")
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:200])
    with pytest.raises(checkpoints.CheckpointError, match=r"cut.pt: it is truncated or not a torch file.*Delete it"):
        checkpoints.load(tmp_path / "cut.pt")
    torch.save({"where": tmp_path}, tmp_path / "foreign.pt")  # a Path object: loading it would run pickle's code
    with pytest.raises(checkpoints.CheckpointError, match=r"foreign.pt holds objects other than tensors"):
        checkpoints.load(tmp_path / "foreign.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(checkpoints.CheckpointError, match="holds a list, not a checkpoint dictionary"):
        checkpoints.load(tmp_path / "list.pt")


def test_cached_makes_once_and_remakes_an_old_format(capsys):
    calls = []

    def make():
        calls.append(1)
        return {"x": torch.tensor(len(calls))}

    assert int(checkpoints.cached("c", make)["x"]) == 1
    assert int(checkpoints.cached("c", make)["x"]) == 1 and len(calls) == 1
    checkpoints.save({"x": torch.tensor(0)}, "c")  # no format: an older version's file
    assert int(checkpoints.cached("c", make)["x"]) == 2
    assert "older version of gancourse; computing it again" in capsys.readouterr().out
    assert int(checkpoints.cached("c", make, retrain=True)["x"]) == 3


def test_one_thread_as_block_and_decorator_restores_the_count():
    before = torch.get_num_threads()
    with checkpoints.one_thread():
        assert torch.get_num_threads() == 1

    @checkpoints.one_thread()
    def inner(depth):
        assert torch.get_num_threads() == 1
        return inner(depth - 1) if depth else "done"

    assert inner(2) == "done"
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with checkpoints.one_thread():
            raise RuntimeError("fails inside")
    assert torch.get_num_threads() == before


def test_side_by_side_fills_only_what_is_missing(tmp_path):
    from gancourse.checkpoints import load, save, side_by_side

    jobs = [({"k": k}, tmp_path / f"job{k}.pt") for k in range(4)]
    save({"k": "kept"}, jobs[0][1])  # already done: must not be redone
    done = lambda state, path: path.exists()
    side_by_side(save, jobs, done, workers=1)  # one worker: the caller runs the jobs itself, nothing happens here
    assert [p.exists() for _, p in jobs] == [True, False, False, False]
    side_by_side(save, jobs, done, workers=2, cost=lambda state, path: state["k"])
    assert [load(p)["k"] for _, p in jobs] == ["kept", 1, 2, 3]
