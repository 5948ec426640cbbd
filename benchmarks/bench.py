"""The course's performance, measured: `make bench` prints one table.

1. Every lecture's wall time in FAST mode (a fresh kernel each, in order, executed copies in a
   temporary folder) and the peak memory of its kernel.
2. Training throughput (images per second) of `train_gan` for DCGAN, WGAN-GP and the StyleGAN,
   against a reference loop written the usual way (a torch DataLoader over a TensorDataset, the
   same networks, batch size and optimisers, one `.item()` per logged number per step), as a ratio.
3. `frechet_distance` at 2048 dimensions against pytorch-fid's `calculate_frechet_distance`, both
   values printed, as a ratio of times.

Run: `make bench` (everything) or `python benchmarks/bench.py --only fd,throughput`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# ---- 1. lectures ------------------------------------------------------------------------------

PEAK_CELL = "import resource as _r; print('PEAK_RSS_KB', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)"


def bench_lectures(pattern: str = "[0-9][0-9]_*.ipynb") -> list[dict]:
    """Execute each lecture in FAST mode in a fresh kernel; return name, seconds, peak MiB, status."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    os.environ["GANCOURSE_FAST"] = "1"
    os.environ.setdefault("TQDM_DISABLE", "1")
    rows = []
    out = Path(tempfile.mkdtemp(prefix="gancourse-bench-"))
    for path in sorted((ROOT / "lectures").glob(pattern)):
        nb = nbformat.read(path, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
        client = NotebookClient(nb, timeout=1800, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        status = "ok"
        try:
            client.execute()
        except CellExecutionError as err:
            status = "FAILED: " + str(err).strip().splitlines()[-1][:50]
        seconds = time.perf_counter() - start
        peak = None
        for o in nb.cells[-1].get("outputs", []):
            if o.get("name") == "stdout" and "PEAK_RSS_KB" in o.get("text", ""):
                peak = int(o["text"].split()[1]) / 1024
        rows.append({"lecture": path.name, "seconds": seconds, "peak_mib": peak, "status": status})
        print(f"  {path.name:<40} {seconds:7.1f} s  {peak or float('nan'):7.0f} MiB  {status}", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    return rows


# ---- 2. throughput ----------------------------------------------------------------------------

def _reference_loop(G, D, images, *, steps, batch_size, loss, n_critic, gp_weight, z_dim, lr, betas):
    """A training loop written the usual way: DataLoader batches, `.item()` logging every step."""
    from torch.utils.data import DataLoader, TensorDataset

    from gancourse.losses import gradient_penalty, loss_pair

    d_loss_fn, g_loss_fn = loss_pair(loss)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    loader = DataLoader(TensorDataset(images), batch_size=batch_size, shuffle=True, drop_last=True)
    batches = iter(loader)
    log = []
    for _ in range(steps):
        for _ in range(n_critic):
            try:
                (x_real,) = next(batches)
            except StopIteration:
                batches = iter(loader)
                (x_real,) = next(batches)
            z = torch.randn(batch_size, z_dim)
            x_fake = G(z)
            loss_d = d_loss_fn(D(x_real), D(x_fake.detach()))
            if gp_weight:
                loss_d = loss_d + gp_weight * gradient_penalty(D, x_real, x_fake)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        z = torch.randn(batch_size, z_dim)
        loss_g = g_loss_fn(D(G(z)))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        log.append((loss_d.item(), loss_g.item()))
    return log


def _models(kind: str):
    from gancourse.config import seed_everything

    seed_everything(0)
    if kind == "stylegan":
        from gancourse.stylegan import build_stylegan

        G, D = build_stylegan(img_size=28, channels=1, width=16)
    else:
        from gancourse.dcgan import build_dcgan

        G, D = build_dcgan(z_dim=100, width=16, channels=1, img_size=28)
        if kind == "wgan-gp":  # a critic has no batch norm (the penalty is per sample)
            for name, m in list(D.named_modules()):
                if isinstance(m, torch.nn.BatchNorm2d):
                    parent = D.get_submodule(name.rsplit(".", 1)[0]) if "." in name else D
                    setattr(parent, name.rsplit(".", 1)[-1], torch.nn.Identity())
    return G, D


def bench_throughput(steps: int = 30, repeats: int = 5) -> list[dict]:
    """Images per second of train_gan and of the reference loop, same models and settings.

    One untimed run of each first (allocator and kernel warm-up), then ``repeats`` timed runs of
    each, taking turns at going first; the table shows the medians.
    """
    from gancourse.data import image_dataset
    from gancourse.train import train_gan

    data = image_dataset("digits", size=28)
    settings = {
        "dcgan": dict(loss="nonsaturating", n_critic=1, gp_weight=0.0),
        "wgan-gp": dict(loss="wasserstein", n_critic=5, gp_weight=10.0),
        "stylegan": dict(loss="nonsaturating", n_critic=1, gp_weight=0.0),
    }
    rows = []
    for kind, s in settings.items():
        G0, _ = _models(kind)
        z_dim = G0.z_dim
        images_per_run = steps * 64 * (s["n_critic"] + 1)  # every D and G step sees a batch of 64

        def ours():
            G, D = _models(kind)
            t = time.perf_counter()
            train_gan(G, D, data, steps=steps, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.9),
                      z_dim=z_dim, progress=False, sample_every=10**9, device="cpu", **s)
            return images_per_run / (time.perf_counter() - t)

        def reference():
            G, D = _models(kind)
            t = time.perf_counter()
            _reference_loop(G, D, data.images, steps=steps, batch_size=64, z_dim=z_dim, lr=2e-4, betas=(0.5, 0.9), **s)
            return images_per_run / (time.perf_counter() - t)

        ours(), reference()  # warm-up, not timed
        timed = {ours: [], reference: []}
        for r in range(repeats):
            for run in ((ours, reference) if r % 2 == 0 else (reference, ours)):
                timed[run].append(run())
        row = {"model": kind, "train_gan_img_s": statistics.median(timed[ours]),
               "reference_img_s": statistics.median(timed[reference])}
        row["ratio"] = row["train_gan_img_s"] / row["reference_img_s"]
        rows.append(row)
        print(f"  {kind:<9} train_gan {row['train_gan_img_s']:8.0f} img/s   reference {row['reference_img_s']:8.0f} img/s"
              f"   ratio {row['ratio']:.2f}", flush=True)
    return rows


# ---- 3. Fréchet distance ---------------------------------------------------------------------

def bench_frechet(dim: int = 2048, n: int = 4096, repeats: int = 3) -> dict:
    """Our frechet_distance against pytorch-fid's on the same 2048-dimensional statistics."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    from gancourse.metrics import feature_statistics, frechet_distance

    rng = np.random.default_rng(0)
    mix = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    a = rng.standard_normal((n, dim)) @ mix
    b = 1.1 * rng.standard_normal((n, dim)) @ mix + 0.05
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    ours, ref = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        v_ours = frechet_distance(mu1, s1, mu2, s2)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        v_ref = calculate_frechet_distance(mu1, s1, mu2, s2)
        ref.append(time.perf_counter() - t)
    row = {"ours_s": min(ours), "reference_s": min(ref), "ours": float(v_ours), "reference": float(v_ref)}
    row["speedup"] = row["reference_s"] / row["ours_s"]
    row["rel_diff"] = abs(row["ours"] - row["reference"]) / abs(row["reference"])
    print(f"  FD at {dim} dims: ours {row['ours']:.6f} in {row['ours_s']:.2f} s, pytorch-fid {row['reference']:.6f}"
          f" in {row['reference_s']:.2f} s: {row['speedup']:.1f}x faster, relative difference {row['rel_diff']:.1e}",
          flush=True)
    return row


# ---- the table --------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="lectures,throughput,fd", help="comma-separated parts to run")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    print(f"gancourse benchmarks on {machine}\n")
    results = {"machine": machine}
    if "lectures" in parts:
        print("1. lectures in FAST mode")
        results["lectures"] = bench_lectures()
    if "throughput" in parts:
        print("2. training throughput on the CPU (batch 64, 28x28 digits)")
        results["throughput"] = bench_throughput()
    if "fd" in parts:
        print("3. Fréchet distance at 2048 dimensions")
        results["fd"] = bench_frechet()

    print("\n| measurement | value |\n|---|---|")
    for r in results.get("lectures", []):
        print(f"| {r['lecture']} (FAST) | {r['seconds']:.1f} s, peak {r['peak_mib'] or 0:.0f} MiB, {r['status']} |")
    if results.get("lectures"):
        total = sum(r["seconds"] for r in results["lectures"])
        peak = max((r["peak_mib"] or 0) for r in results["lectures"])
        print(f"| all lectures (FAST) | {total:.1f} s, peak {peak:.0f} MiB |")
    for r in results.get("throughput", []):
        print(f"| train_gan {r['model']} | {r['train_gan_img_s']:.0f} img/s vs reference {r['reference_img_s']:.0f} img/s:"
              f" {r['ratio']:.2f}x |")
    if "fd" in results:
        r = results["fd"]
        print(f"| frechet_distance, 2048 dims | {r['ours_s']:.2f} s vs pytorch-fid {r['reference_s']:.2f} s:"
              f" {r['speedup']:.1f}x faster, relative difference {r['rel_diff']:.1e} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
