r"""GAN, VAE and diffusion side by side on the same 2D data, measured the same way.

Three families of generative models trained on lecture 04's 8-Gaussian ring, plus a one-step
generator distilled from the diffusion model, each run cached per seed like a checkpoint:

- the GAN: R3GAN's objective trained by the course loop (:mod:`gancourse.r3gan`), one network evaluation
  per sample, no likelihood;
- the VAE (:mod:`gancourse.vae`): one decoder evaluation per sample, a likelihood estimated by importance sampling;
- the diffusion model (:mod:`gancourse.diffusion`): T evaluations per ancestral sample (or fewer with
  DDIM), a likelihood *bound* (the ELBO);
- the distilled student: one evaluation per sample, trained from the diffusion teacher with an
  adversarial loss plus DMD's regression term (Yin et al. 2023, arXiv:2311.18828; 2024, arXiv:2405.14867).

Every run reports the same numbers: modes covered and the high-quality fraction
(:func:`gancourse.metrics.mode_coverage`, the protocol of lecture 04), network evaluations per sample,
training seconds (measured, so not reproducible to the digit), and the mean held-out log-likelihood
in nats per point where the model defines one. Lecture 12.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch

from gancourse import checkpoints
from gancourse.collapse import RingSetting, lecture_settings, ring_run
from gancourse.config import budget, course_seed, seed_everything
from gancourse.data import Ring2D, image_dataset
from gancourse.diffusion import (Denoiser, NoiseSchedule, ddim_sample, ddpm_sample, diffusion_elbo, distill,
                                 teacher_pairs, train_denoiser)
from gancourse.metrics import mode_coverage
from gancourse.r3gan import DIGIT_METHODS, digit_done, digit_run, digit_setting, ring_done, ring_run_r3gan
from gancourse.toy import Discriminator, Generator
from gancourse.vae import VAE, elbo, log_likelihood_is, train_vae


@dataclass(frozen=True)
class FamilySetting:
    """The budgets of the side-by-side runs; :func:`lecture_setting` gives the lecture's FAST and FULL ones. Lecture 12."""

    std: float = 0.05  # of each Gaussian of the ring (radius 2)
    n_samples: int = 2500  # samples counted per model
    n_test: int = 500  # held-out points for the likelihoods
    diffusion_T: int = 100  # noising steps; linear betas from 1e-4 to beta_T
    diffusion_beta_T: float = 0.1
    diffusion_steps: int = 4000
    diffusion_lr: float = 3e-3
    ddim_steps: int = 10  # the teacher's few-step deterministic sampler (and the distillation pairs)
    clip: float = 3.0  # predicted x0 clamped to [-clip, clip] while sampling
    vae_steps: int = 3000
    vae_lr: float = 2e-3
    vae_z: int = 2
    vae_is_k: int = 100  # importance samples per held-out point
    student_steps: int = 1000
    student_pairs: int = 4096
    student_reg_weight: float = 1.0  # lambda_reg; the adversarial weight is 1
    batch_size: int = 256

    def key(self, family: str, seed: int) -> str:
        """A cache file name that changes with every setting, the family and the (offset) seed."""
        parts = "|".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self))
        return f"family-{family}-seed{course_seed(seed)}-{checkpoints.stable_hash(parts) % 10**10:010d}.pt"


def lecture_setting() -> FamilySetting:
    """Lecture 12's budgets: the ring of lecture 04 (std 0.15 in FAST, 0.05 in FULL), FAST steps that
    a CPU runs in seconds. Measured in FAST on seeds 0-5, high-quality fractions: diffusion (ancestral)
    0.50-0.54, distilled student 0.59-0.60, its regression-only twin 0.48-0.50, all 8 modes on every seed
    (about 6, 5 and 1 s a run on one loaded core). Lecture 12."""
    return FamilySetting(std=budget(fast=0.15, full=0.05), diffusion_steps=budget(fast=800, full=8000),
                         vae_steps=budget(fast=800, full=6000), student_steps=budget(fast=200, full=2000),
                         student_pairs=budget(fast=2048, full=8192))


def _schedule(s: FamilySetting):
    return NoiseSchedule.linear(s.diffusion_T, 1e-4, s.diffusion_beta_T)


def _test_points(s: FamilySetting, seed: int) -> torch.Tensor:
    return Ring2D(std=s.std).sample(s.n_test, generator=torch.Generator().manual_seed(course_seed(seed) + 1000))


def _one_thread(make):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return make()
    finally:
        torch.set_num_threads(threads)


def _cached(s: FamilySetting, family: str, seed: int, make) -> dict:
    path = checkpoints.cache_path(s.key(family, seed))
    if path.exists():
        return checkpoints.load(path)
    state = _one_thread(make)
    checkpoints.save(state, path)
    return state


def diffusion_run(s: FamilySetting, seed: int = 0) -> dict:
    """Train the diffusion teacher (cached): ``{"model", "seconds", "samples" (ancestral), "samples_ddim",
    "loglik" (mean ELBO on held-out points), "nfe", "nfe_ddim"}``. Lecture 12."""
    sched = _schedule(s)

    def make():
        seed_everything(seed)
        model = Denoiser(sched.T)
        began = time.perf_counter()
        train_denoiser(model, sched, Ring2D(std=s.std), steps=s.diffusion_steps, batch_size=s.batch_size,
                       lr=s.diffusion_lr, seed=course_seed(seed))
        seconds = time.perf_counter() - began
        gen = torch.Generator().manual_seed(course_seed(seed) + 1)
        samples = ddpm_sample(model, sched, s.n_samples, generator=gen, clip=s.clip)
        with torch.no_grad():
            samples_ddim = ddim_sample(model, sched, s.ddim_steps, torch.randn(s.n_samples, 2, generator=gen), s.clip)
        elbo = diffusion_elbo(model, sched, _test_points(s, seed), gen).mean().item()
        return {"model": model.state_dict(), "seconds": seconds, "samples": samples, "samples_ddim": samples_ddim,
                "loglik": elbo, "nfe": sched.T, "nfe_ddim": s.ddim_steps}

    return _cached(s, "diffusion", seed, make)


def teacher(s: FamilySetting, seed: int = 0):
    """The trained diffusion teacher of ``seed`` as ``(model, schedule)``. Lecture 12."""
    sched = _schedule(s)
    model = Denoiser(sched.T)
    model.load_state_dict(diffusion_run(s, seed)["model"])
    return model.eval(), sched


def student_run(s: FamilySetting, seed: int = 0, adv_weight: float = 1.0) -> dict:
    """Distil the teacher of ``seed`` into a one-step generator (cached): ``{"seconds", "samples", "nfe": 1,
    "loglik": None}``; ``adv_weight=0`` trains with the regression term alone. Lecture 12."""
    def make():
        model, sched = teacher(s, seed)
        seed_everything(seed)
        G, D = Generator(2, 2, (128, 128), "relu"), Discriminator(2, (128, 128, 128), "relu")
        began = time.perf_counter()
        pairs = teacher_pairs(model, sched, s.student_pairs, s.ddim_steps,
                              generator=torch.Generator().manual_seed(course_seed(seed) + 2), clip=s.clip)
        distill(G, D, pairs, Ring2D(std=s.std), steps=s.student_steps, batch_size=s.batch_size,
                reg_weight=s.student_reg_weight, adv_weight=adv_weight, seed=course_seed(seed))
        seconds = time.perf_counter() - began  # pairs included: the teacher's sampling is part of the cost
        with torch.no_grad():
            samples = G(torch.randn(s.n_samples, 2, generator=torch.Generator().manual_seed(course_seed(seed) + 3)))
        return {"G": G.state_dict(), "seconds": seconds, "samples": samples, "nfe": 1, "loglik": None}

    return _cached(s, f"student-adv{adv_weight}", seed, make)


def vae_run(s: FamilySetting, seed: int = 0) -> dict:
    """Train the VAE (cached): ``{"model", "seconds", "samples", "loglik" (importance-sampled, K = ``vae_is_k``),
    "elbo", "nfe": 1}``. Lecture 12."""
    def make():
        seed_everything(seed)
        model = VAE((2,), z_dim=s.vae_z, hidden=(128, 128))
        began = time.perf_counter()
        train_vae(model, Ring2D(std=s.std), steps=s.vae_steps, batch_size=s.batch_size, lr=s.vae_lr,
                  seed=course_seed(seed))
        seconds = time.perf_counter() - began
        gen = torch.Generator().manual_seed(course_seed(seed) + 1)
        samples = model.sample(s.n_samples, gen)
        test = _test_points(s, seed)
        with torch.no_grad():
            bound = elbo(model, test, gen).mean().item()
        ll = log_likelihood_is(model, test, k=s.vae_is_k, generator=gen).mean().item()
        return {"model": model.state_dict(), "seconds": seconds, "samples": samples, "loglik": ll, "elbo": bound,
                "nfe": 1}

    return _cached(s, "vae", seed, make)


def gan_run(s: FamilySetting, seed: int = 0, gamma: float = 0.1) -> dict:
    """R3GAN on the same ring, with lecture 04's networks and FAST/FULL steps (:func:`gancourse.r3gan.ring_run_r3gan`):
    ``{"seconds", "samples", "nfe": 1, "loglik": None}``. Lecture 12."""
    run = ring_run_r3gan(_gan_ring(s), seed, gamma)
    return {"seconds": run.history.seconds, "samples": run.samples, "nfe": 1, "loglik": None}


def _vae_digits_steps() -> int:
    return budget(fast=400, full=5000)


def _vae_digits_name(seed: int, dataset: str, steps: int) -> str:
    return f"family-vae-{dataset}-seed{course_seed(seed)}-steps{steps}.pt"


def data_loglik(s: FamilySetting, seed: int = 0) -> float:
    """The data's own mean log-density on the held-out points: the best any model can do on average (nats). Lecture 12."""
    ring = Ring2D(std=s.std)
    return float(torch.as_tensor(ring.pdf(_test_points(s, seed).numpy())).log().mean())


def score(s: FamilySetting, samples) -> tuple[int, float]:
    """``(modes covered, high-quality fraction)`` of samples on the ring (lecture 04's protocol). Lecture 12."""
    cover = mode_coverage(samples, Ring2D(std=s.std).centers, s.std)
    return cover.modes, cover.high_quality


def vae_digits_run(seed: int = 0, dataset: str = "digits", steps: int | None = None) -> dict:
    """A VAE on an image dataset of the course (28x28, flattened; z of 16, two hidden layers of 256), cached:
    ``{"model", "seconds", "samples" (1,000 decoder means, clamped to [-1, 1]), "loglik" (importance-sampled,
    K = 50, on 200 held-out images, nats per image)}``. FAST 400 steps, FULL 5,000. Lecture 12."""
    steps = steps if steps is not None else _vae_digits_steps()
    name = _vae_digits_name(seed, dataset, steps)
    path = checkpoints.cache_path(name)
    if path.exists():
        return checkpoints.load(path)

    def make():
        seed_everything(seed)
        model = VAE((1, 28, 28), z_dim=16, hidden=(256, 256), init_log_std=-1.0)
        began = time.perf_counter()
        train_vae(model, image_dataset(dataset, train=True).images, steps=steps, batch_size=128, lr=1e-3,
                  seed=course_seed(seed))
        seconds = time.perf_counter() - began
        gen = torch.Generator().manual_seed(course_seed(seed) + 1)
        samples = model.sample(1000, gen, noise=False).clamp(-1, 1)
        ll = log_likelihood_is(model, image_dataset(dataset, train=False).images[:200], k=50, generator=gen).mean().item()
        return {"model": model.state_dict(), "seconds": seconds, "samples": samples, "loglik": ll, "nfe": 1}

    state = _one_thread(make)
    checkpoints.save(state, path)
    return state


def _prepare_job(kind: str, *args) -> None:
    """One run of :func:`prepare`, written into the cache (module level, so that a spawned process can run it)."""
    if kind == "teacher and students":  # the students need the teacher: one job, in this order
        s, seed = args
        diffusion_run(s, seed)
        student_run(s, seed)
        student_run(s, seed, adv_weight=0.0)
    else:
        _JOBS[kind][0](*args)


def _recipe(name: str) -> None:
    from gancourse.recipes import load_or_train

    load_or_train(name, progress=False)


def _recipe_done(name: str) -> bool:
    from gancourse.recipes import is_trained

    return is_trained(name)


def _gan_ring(s: FamilySetting) -> RingSetting:
    """The ring run of :func:`gan_run`: lecture 04's networks and steps on this setting's ring."""
    return dataclasses.replace(lecture_settings()["vanilla"], std=s.std, n_samples=s.n_samples)


# kind: (what trains it, whether the cache holds it, about how many seconds it takes on one thread)
_JOBS = {
    "dcgan recipe": (_recipe, _recipe_done, 7.0),
    "digits": (digit_run, digit_done, 6.0),  # non-saturating about 4.4 s, R3GAN about 8
    "teacher and students": (None, lambda s, seed: all(checkpoints.cache_path(s.key(f, seed)).exists() for f in
                                                       ("diffusion", "student-adv1.0", "student-adv0.0")), 3.0),
    "vae digits": (vae_digits_run, lambda seed, dataset: checkpoints.cache_path(
        _vae_digits_name(seed, dataset, _vae_digits_steps())).exists(), 2.5),
    "ring": (ring_run, lambda setting, seed: checkpoints.cache_path(setting.key(seed)).exists(), 1.5),
    "r3gan ring": (ring_run_r3gan, ring_done, 1.5),
    "vae": (vae_run, lambda s, seed: checkpoints.cache_path(s.key("vae", seed)).exists(), 1.5),
}


def prepare(s: FamilySetting, seeds, workers: int = 2) -> None:
    """Train every run of lecture 12 that the cache lacks, ``workers`` processes side by side, in one pool (each
    run on one thread, so the results are those of training them one after the other): the ring runs of
    R3GAN's comparison (vanilla, pairing alone, R3GAN), the digits comparison, and per seed the diffusion
    teacher with its two students, the ring VAE, the VAE on lecture 03's images, and lecture 03's DCGAN
    recipe. The lecture's cells then load each run from the cache. Lecture 12."""
    from gancourse.recipes import get

    ring, digit = lecture_settings()["vanilla"], digit_setting()
    dataset = get("dcgan").settings()["dataset"]
    jobs = ([("dcgan recipe", "dcgan")]
            + [("digits", digit, method, seed) for method in DIGIT_METHODS for seed in seeds]
            + [(kind, s, seed) for kind in ("teacher and students", "vae") for seed in seeds]
            + [("vae digits", seed, dataset) for seed in seeds]
            + [("ring", ring, seed) for seed in seeds]
            + [("r3gan ring", ring, seed, gamma) for gamma in (0.0, 0.1) for seed in seeds]
            + [("r3gan ring", _gan_ring(s), seed, 0.1) for seed in seeds])
    checkpoints.side_by_side(_prepare_job, jobs, lambda kind, *args: _JOBS[kind][1](*args), workers,
                             cost=lambda kind, *args: _JOBS[kind][2], desc="lecture 12's runs")
