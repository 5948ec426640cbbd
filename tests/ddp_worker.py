"""One process of the two-process training test (tests/test_parallel.py starts two of these).

Trains a tiny DCGAN through train_gan for a few steps with a checkpoint, then writes this rank's
weights to OUT/rank<N>.pt. The environment carries RANK, WORLD_SIZE and GANCOURSE_DIST_INIT, as
torchrun would (with a file store instead of a TCP one, so the test stays off the network).
"""

import os
import sys

import torch

from gancourse.data import image_dataset
from gancourse.dcgan import build_dcgan
from gancourse.speed import Speed
from gancourse.train import train_gan

out = sys.argv[1]
torch.set_num_threads(1)
torch.manual_seed(1234 + int(os.environ["RANK"]))  # different initial weights: DDP must make them equal
G, D = build_dcgan(z_dim=16, width=4, channels=1, img_size=28)
data = image_dataset("digits", size=28)
history = train_gan(G, D, data, steps=4, batch_size=8, gp_weight=1.0, sample_every=2, progress=False,
                    checkpoint=os.path.join(out, "ddp.pt"), device="cpu", speed=Speed(log_every=2))
torch.save({"G": G.state_dict(), "D": D.state_dict(), "loss_d": history.loss_d},
           os.path.join(out, f"rank{os.environ['RANK']}.pt"))
