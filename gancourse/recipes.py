"""Each trained model of the course by name, with its FAST and FULL budgets, trained once and cached.

A recipe names what a lecture trains: how to build the networks, on which data, and every argument
of :func:`gancourse.train.train_gan`, once for FAST mode (a 2-core CPU, the embedded digits) and
once for FULL mode (a GPU, MNIST-class data). :func:`load_or_train` returns the trained networks
and their :class:`~gancourse.train.History`, from the checkpoint in the cache folder when there is
one (keyed by recipe and mode, so FAST and FULL never collide) or by training. Lectures add their
models by appending to :data:`RECIPES` with :func:`register`; later lectures (09's scoreboard, 11's
latent space) load what earlier ones trained. ``python -m gancourse train NAME|--all`` pre-trains
them before a live lecture. Introduced in lecture 03.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from gancourse import checkpoints
from gancourse.config import budget, course_seed, mode, seed_offset
from gancourse.data import image_dataset
from gancourse.dcgan import build_dcgan
from gancourse.stylegan import build_stylegan
from gancourse.train import History, clone, train_gan


@dataclass(frozen=True)
class Recipe:
    """A trained model of the course: ``build(settings) -> (G, D)`` and its FAST and FULL settings.

    Settings are plain dicts: ``dataset`` and ``img_size`` (passed to
    :func:`gancourse.data.image_dataset`), ``model`` (read by ``build``), ``train`` (keyword
    arguments of :func:`gancourse.train.train_gan`; ``ema: True`` keeps an average generator) and
    ``seed`` (the networks' initialisation and the training stream). Lecture 03.
    """

    name: str
    lecture: int
    summary: str
    build: Callable[[dict], tuple[nn.Module, nn.Module]]
    fast: dict
    full: dict

    def settings(self) -> dict:
        """This mode's settings (see :func:`gancourse.config.budget`)."""
        return budget(fast=self.fast, full=self.full)


@dataclass
class Trained:
    """What :func:`load_or_train` returns: the networks (in evaluation mode), the History, where it lives."""

    name: str
    G: nn.Module
    D: nn.Module
    history: History
    settings: dict
    path: Path
    G_ema: nn.Module | None = field(default=None)


RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe, replace: bool = False) -> Recipe:
    """Add a recipe to :data:`RECIPES` (a lecture's module calls this once). Lecture 03."""
    if recipe.name in RECIPES and not replace:
        raise ValueError(f"a recipe named {recipe.name!r} already exists; pick another name or pass replace=True.")
    for label, settings in (("fast", recipe.fast), ("full", recipe.full)):
        for key in ("dataset", "img_size", "model", "train", "seed"):
            if key not in settings:
                raise ValueError(f"recipe {recipe.name!r}: its {label} settings lack {key!r}.")
    RECIPES[recipe.name] = recipe
    return recipe


def names() -> list[str]:
    """Every recipe's name, in lecture order (the order ``train --all`` trains them). Lecture 03."""
    return [r.name for r in sorted(RECIPES.values(), key=lambda r: r.lecture)]


def get(name: str) -> Recipe:
    """The recipe called ``name``. Lecture 03."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; the course's models are {', '.join(map(repr, names()))}.") from None


def recipe_checkpoint(name: str) -> Path:
    """Where a recipe's checkpoint lives in this mode: ``<cache>/<name>-fast.pt`` or ``-full.pt``. Lecture 03."""
    offset = f"-seed{seed_offset()}" if seed_offset() else ""  # $GANCOURSE_SEED runs never share a checkpoint
    return checkpoints.cache_path(f"{name}-{mode().lower()}{offset}.pt")


def _stored_config(recipe: Recipe, settings: dict) -> dict:
    """What the checkpoint records beside train_gan's own arguments, to recognise a changed recipe."""
    return {"recipe": recipe.name, "dataset": settings["dataset"], "img_size": settings["img_size"],
            "model": settings["model"], "init_seed": settings["seed"], "train": settings["train"]}


def is_trained(name: str) -> bool:
    """Whether the cache holds a finished checkpoint of recipe ``name`` with its current settings (this mode). Lecture 03."""
    recipe = get(name)
    settings, path = recipe.settings(), recipe_checkpoint(name)
    if not path.exists():
        return False
    ckpt = _load_checkpoint(name, path)
    same = all(ckpt["config"].get(k) == v for k, v in _stored_config(recipe, settings).items())
    return same and ckpt["step"] >= settings["train"]["steps"]


def load_or_train(name: str, retrain: bool = False, progress: bool = True) -> Trained:
    """The trained networks and History of recipe ``name``: loaded from the cache, or trained.

    A finished checkpoint with the recipe's current settings is loaded without touching the data;
    an unfinished one is resumed; one written with other settings (the recipe changed) is replaced.
    ``retrain=True`` trains from scratch. Runs in ``torch.random.fork_rng``, so the caller's random
    stream is the same whether the model was loaded or trained. The networks come back in
    evaluation mode on :func:`gancourse.config.device`. Lecture 03.
    """
    recipe = get(name)
    settings = recipe.settings()
    path = recipe_checkpoint(name)
    train_args = dict(settings["train"])
    use_ema = bool(train_args.pop("ema", False))
    stored = _stored_config(recipe, settings)
    with torch.random.fork_rng():
        torch.manual_seed(course_seed(settings["seed"]))  # shifted by $GANCOURSE_SEED
        G, D = recipe.build(settings)
        G_ema = clone(G) if use_ema else None
        resume = not retrain
        if resume and path.exists():
            ckpt = _load_checkpoint(name, path)
            same = all(ckpt["config"].get(k) == v for k, v in stored.items())
            if same and ckpt["step"] >= train_args["steps"]:
                return _from_checkpoint(name, ckpt, G, D, G_ema, settings, path)
            resume = same  # an unfinished run of this recipe continues; another recipe's is replaced
            if not same and progress:
                print(f"{path.name} in the cache folder holds an older version of the {name!r} recipe; training it again.")
        dataset = image_dataset(settings["dataset"], train=True, size=settings["img_size"])
        history = train_gan(G, D, dataset, **train_args, ema=G_ema, checkpoint=path, resume=resume,
                            progress=progress, config=stored)
    G.eval()
    D.eval()
    return Trained(name, G, D, history, settings, path, G_ema)


def _load_checkpoint(name: str, path) -> dict:
    """A recipe's checkpoint, read safely; one that lacks a recipe checkpoint's parts names the file and the fix."""
    remedy = f"python -m gancourse train {name} --retrain"
    ckpt = checkpoints.load(path, remedy=remedy)
    missing = [k for k in ("config", "step", "history", "G", "D") if k not in ckpt]
    if missing or not isinstance(ckpt["config"], dict):
        raise checkpoints.CheckpointError(f"{path} is not a checkpoint of the {name!r} recipe (it lacks "
                                          f"{', '.join(missing) or 'its settings'}). Delete it, or run {remedy}.")
    return ckpt


def _from_checkpoint(name, ckpt, G, D, G_ema, settings, path) -> Trained:
    from gancourse.config import device

    try:
        G.load_state_dict(ckpt["G"])
        D.load_state_dict(ckpt["D"])
        if G_ema is not None:
            G_ema.load_state_dict(ckpt["ema"])
    except (KeyError, RuntimeError) as err:  # the networks were built fresh here: nothing half-loaded escapes
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise checkpoints.CheckpointError(f"{path} does not fit the {name!r} recipe's networks ({detail}). "
                                          f"Delete it, or run python -m gancourse train {name} --retrain.") from None
    if G_ema is not None:
        G_ema.to(device()).eval()
    G.to(device()).eval()
    D.to(device()).eval()
    return Trained(name, G, D, History.from_dict(ckpt["history"]), settings, path, G_ema)


# --------------------------------------------------------------------------------------------
# The course's models, in lecture order. Later lectures append their own with register(...).
# --------------------------------------------------------------------------------------------


def _settings(dataset: str, model: dict, **train) -> dict:
    """A mode's settings: ``dataset`` at 28x28, the ``model`` (``build``'s arguments), initialisation seed 0, and
    :func:`gancourse.train.train_gan`'s keyword arguments (64 fixed samples and seed 0 unless given)."""
    return {"dataset": dataset, "img_size": 28, "seed": 0, "model": model, "train": {"n_samples": 64, "seed": 0, **train}}


def _channels(settings: dict) -> int:
    return 3 if settings["dataset"] == "cifar10" else 1


def _networks(build: Callable) -> Callable[[dict], tuple[nn.Module, nn.Module]]:
    """A recipe's ``build``: ``build(img_size=..., channels=..., **model)`` from a mode's settings."""
    return lambda settings: build(img_size=settings["img_size"], channels=_channels(settings), **settings["model"])


register(Recipe(
    name="dcgan",
    lecture=3,
    summary="DCGAN from the cookbook, non-saturating loss (lecture 03; reused by 09 and 11)",
    build=_networks(build_dcgan),
    # FAST: width 16 trains best per second on a CPU; few steps, so a larger learning rate and a
    # smaller batch than the cookbook's. About 300 steps reach all ten classes on the digits.
    fast=_settings("digits", {"z_dim": 100, "width": 16}, loss="nonsaturating", steps=300, batch_size=32,
                   lr_g=5e-4, lr_d=5e-4, betas=(0.5, 0.999), sample_every=25, checkpoint_every=100),
    # FULL: the cookbook on MNIST (width 64, Adam 2e-4, betas (0.5, 0.999), batch 128), about 10 epochs.
    full=_settings("mnist", {"z_dim": 100, "width": 64}, loss="nonsaturating", steps=5_000, batch_size=128,
                   lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), sample_every=250, checkpoint_every=500),
))


register(Recipe(
    name="wgan-gp",
    lecture=5,
    summary="WGAN-GP: DCGAN generator, a critic with layer norm, lambda 10, n_critic 5 (lecture 05; reused by 09)",
    build=_networks(build_dcgan),
    # FAST: lecture 03's widths and batch, Adam betas (0.5, 0.9) as in the paper, a larger learning
    # rate for the short run. Measured on the digits (seed 0, 1,000 samples against 1,000 digits):
    # 100 steps gave classifier FD 216, 150 steps FD 98 with all ten classes, about 25 s on one thread.
    fast=_settings("digits", {"z_dim": 100, "width": 16, "d_norm": "layer"}, loss="wasserstein", n_critic=5,
                   gp_weight=10.0, steps=150, batch_size=32, lr_g=5e-4, lr_d=5e-4, betas=(0.5, 0.9),
                   sample_every=25, checkpoint_every=50),
    # FULL: the paper's MNIST setting (Gulrajani et al. 2017: Adam 1e-4, betas (0.5, 0.9), lambda 10,
    # n_critic 5) at the cookbook widths. Not yet measured on a GPU.
    full=_settings("mnist", {"z_dim": 100, "width": 64, "d_norm": "layer"}, loss="wasserstein", n_critic=5,
                   gp_weight=10.0, steps=10_000, batch_size=64, lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.9),
                   sample_every=500, checkpoint_every=1_000),
))


register(Recipe(
    name="stylegan",
    lecture=8,
    summary="a small StyleGAN: mapping network, AdaIN, noise, mixing, residual D (lecture 08; reused by 09, 11)",
    build=_networks(build_stylegan),
    # FAST: the embedded digits are 8x8 scans shown at 28 pixels, so the blocks stop at 14 (4 -> 7 -> 14,
    # then a bilinear resize to 28; D looks at 14) and stay narrow (8 channels at 14x14, at most 32).
    # Even so a step costs about twice a DCGAN-16 step (many small styled layers), so the batch is 16.
    # StyleGAN's optimiser (Adam lr 0.002, betas (0, 0.99)) and an average generator with a short
    # horizon (decay 0.98, about 50 steps), since the whole run is a few hundred steps. No R1 here: it
    # costs a second backward pass, and the short run stays stable without it.
    fast=_settings("digits", {"z_dim": 64, "w_dim": 64, "width": 8, "max_width": 32, "mapping_layers": 8,
                   "mixing_prob": 0.5, "max_resolution": 14}, loss="nonsaturating", steps=250, batch_size=16,
                   lr_g=2e-3, lr_d=2e-3, betas=(0.0, 0.99), ema=True, ema_decay=0.98, sample_every=25,
                   checkpoint_every=50),
    # FULL (not measured on a GPU yet): the paper's recipe at MNIST scale: non-saturating loss with
    # R1 (gamma 1 for 28x28 digits), mixing regularisation 0.9, the average generator at 0.999.
    full=_settings("mnist", {"z_dim": 128, "w_dim": 128, "width": 32, "max_width": 128, "mapping_layers": 8,
                   "mixing_prob": 0.9}, loss="nonsaturating", steps=20_000, batch_size=64, lr_g=2e-3,
                   lr_d=2e-3, betas=(0.0, 0.99), r1_gamma=1.0, ema=True, ema_decay=0.999, sample_every=500,
                   checkpoint_every=1_000),
))


def _build_sngan(settings: dict) -> tuple[nn.Module, nn.Module]:
    from gancourse.dcgan import Generator, weights_init
    from gancourse.spectral import sn_discriminator

    channels, model = _channels(settings), settings["model"]
    G = Generator(z_dim=model["z_dim"], ngf=model["width"], channels=channels, img_size=settings["img_size"])
    G.apply(weights_init)
    return G, sn_discriminator(ndf=model["width"], channels=channels, img_size=settings["img_size"])


register(Recipe(
    name="sngan",
    lecture=6,
    summary="SN-GAN: DCGAN generator, spectrally normalised discriminator without BN, hinge loss, TTUR (lecture 06; reused by 09)",
    build=_build_sngan,
    # FAST: the lecture-03 widths; TTUR with lr_D = 4 lr_G (SAGAN's ratio, Zhang et al. 2019; SN-GAN's paper
    # uses one learning rate for both players). At these gentle settings the same D without SN trains about as
    # well (200 steps on the digits); lecture 06 shows SN's advantage in a harsher setting (lr 2e-3, n_critic 3).
    fast=_settings("digits", {"z_dim": 100, "width": 16}, loss="hinge", steps=200, batch_size=32, lr_g=5e-4,
                   lr_d=2e-3, betas=(0.5, 0.999), sample_every=25, checkpoint_every=100),
    # FULL: the cookbook widths on MNIST, SN-GAN's hinge loss and Adam betas (0.5, 0.999) (Miyato et al. 2018,
    # table 1, whose settings share one learning rate between the players) with TTUR at SAGAN's ratio
    # (Zhang et al. 2019: lr_G 1e-4, lr_D 4e-4). Not yet measured on a GPU.
    full=_settings("mnist", {"z_dim": 100, "width": 64}, loss="hinge", steps=5_000, batch_size=128, lr_g=1e-4,
                   lr_d=4e-4, betas=(0.5, 0.999), sample_every=250, checkpoint_every=500),
))


def _build_conditional(settings: dict) -> tuple[nn.Module, nn.Module]:
    from gancourse.conditional import ConcatDiscriminator, ConditionalGenerator, ProjectionDiscriminator

    channels, model, size = _channels(settings), settings["model"], settings["img_size"]
    G = ConditionalGenerator(z_dim=model["z_dim"], n_classes=model["n_classes"], channels=channels, img_size=size,
                             ngf=model["width"])
    D_cls = {"projection": ProjectionDiscriminator, "concat": ConcatDiscriminator}[model["discriminator"]]
    return G, D_cls(n_classes=model["n_classes"], channels=channels, img_size=size, ndf=model["width"], spectral=True)


register(Recipe(
    name="conditional",
    lecture=7,
    summary="Conditional GAN: label embedding joined to z, projection discriminator with SN, hinge, TTUR (lecture 07; reused by 09)",
    build=_build_conditional,
    # FAST: SN-GAN's settings with labels. Label fidelity (the classifier's accuracy on the requested
    # class) rose from 0.10 (chance) to 0.25-0.50 at 200 steps and 0.77-0.87 at 300 on seeds 0-2 (lecture 07).
    fast=_settings("digits", {"z_dim": 100, "width": 16, "n_classes": 10, "discriminator": "projection"},
                   loss="hinge", steps=300, batch_size=32, lr_g=5e-4, lr_d=2e-3, betas=(0.5, 0.999),
                   conditional=True, sample_every=25, n_samples=100, checkpoint_every=100),
    # FULL: MNIST, cookbook widths, the sngan recipe's optimiser (TTUR at SAGAN's 4:1). Not yet measured on a GPU.
    full=_settings("mnist", {"z_dim": 100, "width": 64, "n_classes": 10, "discriminator": "projection"},
                   loss="hinge", steps=5_000, batch_size=128, lr_g=1e-4, lr_d=4e-4, betas=(0.5, 0.999),
                   conditional=True, sample_every=250, n_samples=100, checkpoint_every=500),
))
