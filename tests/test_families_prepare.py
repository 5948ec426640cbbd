"""families.prepare trains every run lecture 12 loads, side by side, and they equal the runs trained one by one."""

import dataclasses

import torch

from gancourse import checkpoints, families
from gancourse.collapse import lecture_settings
from gancourse.r3gan import DIGIT_METHODS, digit_done, digit_setting, ring_done
from gancourse.recipes import is_trained

TINY = dataclasses.replace(families.FamilySetting(), n_samples=64, n_test=16, diffusion_T=10, diffusion_steps=5,
                           ddim_steps=2, vae_steps=5, vae_is_k=4, student_steps=3, student_pairs=32, batch_size=16)


def test_prepare_caches_what_the_lecture_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path / "side"))
    families.prepare(TINY, [0, 1], workers=1)  # one worker: nothing is trained here
    assert not any((tmp_path / "side").glob("family-*")) and not is_trained("dcgan")
    families.prepare(TINY, [0], workers=2)
    names = sorted(p.name for p in (tmp_path / "side").glob("family-*"))
    assert len(names) == 5, names  # per seed: teacher, two students, ring VAE, digits VAE
    ring, digit = lecture_settings()["vanilla"], digit_setting()
    assert checkpoints.cache_path(ring.key(0)).exists() and all(digit_done(digit, m, 0) for m in DIGIT_METHODS)
    assert ring_done(ring, 0, 0.0) and ring_done(ring, 0, 0.1)
    assert is_trained("dcgan")  # and lecture 03's GAN, which the lecture compares with the VAE
    side = families.student_run(TINY, 0)["samples"]
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path / "alone"))
    assert torch.equal(side, families.student_run(TINY, 0)["samples"])  # trained here, one after the other
