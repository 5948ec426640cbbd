r"""The toy games: small MLP players on 1D and 2D data, played through the course's one training loop.

A generator :math:`G` pushes noise :math:`z \sim \mathcal N(0, I_Z)` forward to a point of the line
or the plane; a discriminator :math:`D` maps a point to one logit (or, for a critic, one score).
:func:`train_toy` runs :func:`gancourse.train.train_gan` on a toy sampler and records, at chosen steps,
samples of :math:`p_G` and :math:`D(x)` on a grid: the pictures of lecture 01 (p_G sliding onto p_data while D flattens to 1/2),
lecture 02 (the trained D against :math:`D^*`), lecture 04 (mode collapse on the 8-Gaussian ring) and
lecture 05 (WGAN-GP's critic).

The game (Goodfellow et al. 2014, arXiv:1406.2661, eq. 1):

.. math:: \min_G \max_D V(D, G) = \mathbb{E}_{x\sim p_\text{data}}[\log D(x)]
          + \mathbb{E}_{z\sim p_z}[\log(1 - D(G(z)))]

Variants come in as arguments of the loop (any loss pair of :mod:`gancourse.losses`, ``n_critic``
critic steps per generator step, a gradient penalty, weight clipping), after Arjovsky et al. 2017
(arXiv:1701.07875) and Gulrajani et al. 2017 (arXiv:1704.00028).
Lectures 01, 02, 04, 05.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gancourse import checkpoints
from gancourse.config import seed_everything
from gancourse.train import History, RecordD, train_gan

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
}


# --------------------------------------------------------------------------------------------
# The players
# --------------------------------------------------------------------------------------------


class MLP(nn.Module):
    """A plain multilayer perceptron: ``in_dim -> hidden[0] -> ... -> hidden[-1] -> out_dim``.

    Each hidden layer is ``Linear`` then the activation (``"relu"``, ``"leaky_relu"`` with slope
    0.2, or ``"tanh"``); the last layer is linear. Shapes: (B, in_dim) -> (B, out_dim). Lecture 01.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden=(64, 64, 64), activation: str = "leaky_relu"):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(map(repr, _ACTIVATIONS))}.")
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        hidden = tuple(hidden)
        if any(not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden sizes must be positive ints, got {hidden!r}.")
        layers, width = [], in_dim
        for h in hidden:
            layers += [nn.Linear(width, h), _ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim, self.hidden, self.activation = in_dim, out_dim, hidden, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (B, {self.in_dim}), got {tuple(x.shape)}. "
                "Give 1D points as a column: x.view(-1, 1)."
            )
        return self.net(x)


class Generator(MLP):
    r"""The toy generator :math:`G: \mathbb{R}^Z \to \mathbb{R}^d`, a pushforward of Gaussian noise.

    :math:`x = G(z)`, :math:`z \sim \mathcal N(0, I_Z)`. Shapes: z (B, Z) -> x (B, d), with d = 1
    (lectures 01-02) or 2 (lectures 04-05). Lecture 01.
    """

    def __init__(self, z_dim: int = 8, data_dim: int = 1, hidden=(64, 64, 64), activation: str = "leaky_relu"):
        super().__init__(z_dim, data_dim, hidden, activation)
        self.z_dim, self.data_dim = z_dim, data_dim

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws of :math:`z \\sim \\mathcal N(0, I)`, shape (n, Z), on the generator's device."""
        device = next(self.parameters()).device
        return torch.randn(n, self.z_dim, generator=generator).to(device)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` generated points, shape (n, d). Call under ``torch.no_grad()`` when only looking."""
        return self(self.noise(n, generator))


class Discriminator(MLP):
    r"""The toy discriminator: a point (B, d) -> one logit per point (B,).

    :math:`D(x) = \sigma(s(x))` is the probability that :math:`x` is real; the network returns the
    logit :math:`s(x)`, since every loss of :mod:`gancourse.losses` is computed from logits. With a
    Wasserstein loss the same network is the critic :math:`f(x)` and its score is not a probability.
    Lecture 01.
    """

    def __init__(self, data_dim: int = 1, hidden=(64, 64, 64), activation: str = "leaky_relu"):
        super().__init__(data_dim, 1, hidden, activation)
        self.data_dim = data_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).squeeze(-1)  # (B, 1) -> (B,)


# --------------------------------------------------------------------------------------------
# Where D is recorded, and the game
# --------------------------------------------------------------------------------------------


def grid_1d(lo: float = -5.0, hi: float = 5.0, n: int = 401) -> np.ndarray:
    """``n`` evenly spaced points of ``[lo, hi]`` as a column, shape (n, 1). Lecture 01."""
    return np.linspace(lo, hi, n)[:, None]


def grid_2d(lim: float = 3.0, n: int = 101) -> np.ndarray:
    """An ``n`` x ``n`` grid of ``[-lim, lim]^2`` flattened row by row to points (n*n, 2).

    Reshape a field on it with ``values.reshape(n, n)``: entry [i, j] sits at (xs[j], ys[i]),
    the layout ``plt.contourf(xs, ys, values.reshape(n, n))`` expects. Lecture 04.
    """
    ticks = np.linspace(-lim, lim, n)
    xx, yy = np.meshgrid(ticks, ticks)  # (n, n) each, xx[i, j] = ticks[j]
    return np.stack([xx.ravel(), yy.ravel()], axis=1)  # (n*n, 2)


def train_toy(G: Generator, D: nn.Module, sampler, *, steps: int, batch_size: int = 256, snapshot_steps=(0,),
              grid=None, n_snapshot_samples: int = 2000, **options) -> History:
    r"""Play the toy game: :func:`gancourse.train.train_gan` on a sampler, with the toy lectures' records.

    Snapshots (``n_snapshot_samples`` points of :math:`p_G` from fixed noise) are taken after ``k``
    generator updates for each ``k`` in ``snapshot_steps`` and at the end; ``grid`` (M,) or (M, d)
    points where D is recorded at the same steps (:class:`gancourse.train.RecordD`). ``seed`` (in
    ``options``) fixes the real batches, the noise and the snapshot noise, not the networks' initial
    weights: seed before building them. Runs on the device of G's parameters, without a progress bar
    unless ``progress=True``. Every other keyword (``loss``, ``n_critic``, ``gp_weight``,
    ``clip_value``, ``lr_g``, ``lr_d``, ``betas``, ``g_objective``, ...) is :func:`~gancourse.train.train_gan`'s.
    Returns the :class:`~gancourse.train.History`. Lecture 01 (the loop), 04 and 05 (its variants).
    """
    options.setdefault("progress", False)
    return train_gan(G, D, sampler, steps=steps, batch_size=batch_size, sample_every=tuple(snapshot_steps),
                     n_samples=n_snapshot_samples, hooks=[RecordD(grid)] if grid is not None else [],
                     device=next(G.parameters()).device, **options)


# --------------------------------------------------------------------------------------------
# The lecture 01 game, cached for lecture 02
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BimodalRecipe:
    """The settings of the lecture 01 GAN on the 1D bimodal toy (measured: see the lecture).

    With z of dimension 8 and three hidden layers of 64 in both players, Adam at 2e-4 and batches of
    256, the histogram JSD (:func:`gancourse.divergences.histogram_jsd`, 20,000 samples) measured
    0.022-0.051 nats after 1,500 steps over 8 seeds (it fluctuates: 0.012-0.123 over steps
    1,000-2,000), and max |D(x) - 1/2| near the modes about 0.02. Lecture 01.
    """

    z_dim: int = 8
    hidden: tuple = (64, 64, 64)
    activation: str = "leaky_relu"
    loss: str = "nonsaturating"
    steps: int = 1500
    batch_size: int = 256
    lr: float = 2e-4
    betas: tuple = (0.5, 0.999)
    snapshot_steps: tuple = (0, 100, 500)
    grid: tuple = (-5.0, 5.0, 401)  # lo, hi, number of points where D is recorded

    def key(self, seed: int) -> str:
        """A file name that changes whenever a setting or the seed changes."""
        parts = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)]
        return checkpoints.keyed_name("toy", "bimodal", seed, "|".join(parts))


def bimodal_players(recipe: BimodalRecipe = BimodalRecipe(), seed: int = 0):
    """Fresh ``(G, D)`` for the recipe, initialised from ``seed``. Lecture 01."""
    seed_everything(seed)
    G = Generator(recipe.z_dim, 1, recipe.hidden, recipe.activation)
    D = Discriminator(1, recipe.hidden, recipe.activation)
    return G, D


def train_bimodal(recipe: BimodalRecipe = BimodalRecipe(), seed: int = 0, data=None, progress: bool = False):
    """Build the recipe's players and train them on the bimodal toy. Returns ``(G, D, history)``. Lecture 01."""
    from gancourse.data import BimodalGaussian1D

    data = BimodalGaussian1D() if data is None else data
    G, D = bimodal_players(recipe, seed)
    history = train_toy(
        G, D, data, steps=recipe.steps, batch_size=recipe.batch_size, loss=recipe.loss,
        lr_g=recipe.lr, lr_d=recipe.lr, betas=recipe.betas,
        snapshot_steps=[k for k in recipe.snapshot_steps if k <= recipe.steps],
        grid=grid_1d(*recipe.grid), seed=seed, progress=progress,
    )
    return G, D, history


def load_or_train_bimodal(recipe: BimodalRecipe = BimodalRecipe(), seed: int = 0, retrain: bool = False,
                          progress: bool = False):
    """The lecture 01 GAN from the cache folder, trained (and saved) when absent. Returns ``(G, D, history)``.

    The file name is keyed by every setting of the recipe and the seed (:mod:`gancourse.checkpoints`).
    Lectures 01-02.
    """
    def make() -> dict:
        G, D, history = train_bimodal(recipe, seed, progress=progress)
        config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(recipe).items()}
        return {"G": G.state_dict(), "D": D.state_dict(), "history": history.to_dict(), "config": {**config, "seed": seed}}

    state = checkpoints.cached(recipe.key(seed), make, retrain)
    G, D = bimodal_players(recipe, seed)
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    return G, D, History.from_dict(state["history"])
