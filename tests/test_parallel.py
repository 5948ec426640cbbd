"""Two CPU processes train one GAN with DistributedDataParallel (gloo) and end with the same weights."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from gancourse import parallel
from gancourse.dcgan import build_dcgan
from gancourse.checkpoints import load

HERE = Path(__file__).resolve().parent


def test_single_process_is_not_distributed(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert parallel.world_size() == 1 and parallel.rank() == 0 and parallel.is_main()
    net = torch.nn.Linear(2, 2)
    assert parallel.wrap(net, torch.device("cpu")) is net


def test_two_processes_end_with_identical_weights(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(WORLD_SIZE="2", GANCOURSE_DIST_INIT=f"file://{tmp_path / 'store'}", GLOO_SOCKET_IFNAME="lo",
               GANCOURSE_CACHE=str(tmp_path), TQDM_DISABLE="1", OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, str(HERE / "ddp_worker.py"), str(tmp_path)],
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(2)]
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    for r, (p, out) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, f"rank {r} failed:\n{out}"
    assert "effective batch 8 x 2 = 16" in outputs[0]

    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for net in ("G", "D"):
        for key, value in ranks[0][net].items():
            assert torch.equal(value, ranks[1][net][key]), f"{net}.{key} differs between the two ranks"
    # each rank saw its own batches, so the losses they logged differ
    assert ranks[0]["loss_d"] != ranks[1]["loss_d"]

    # the checkpoint (written by rank 0 alone) loads in a single process and holds those weights
    ckpt = load(tmp_path / "ddp.pt")
    G, D = build_dcgan(z_dim=16, width=4, channels=1, img_size=28)
    G.load_state_dict(ckpt["G"])
    D.load_state_dict(ckpt["D"])
    assert ckpt["step"] == 4
    assert all(torch.equal(v, ranks[0]["G"][k]) for k, v in G.state_dict().items())
