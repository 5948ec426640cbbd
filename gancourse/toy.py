r"""The toy games: small MLP players on 1D and 2D data, and a training loop that records the game.

A generator :math:`G` pushes noise :math:`z \sim \mathcal N(0, I_Z)` forward to a point of the line
or the plane; a discriminator :math:`D` maps a point to one logit (or, for a critic, one score).
:func:`train_toy` alternates their updates and records, at chosen steps, samples of :math:`p_G` and
:math:`D(x)` on a grid: the pictures of lecture 01 (p_G sliding onto p_data while D flattens to 1/2),
lecture 02 (the trained D against :math:`D^*`), lecture 04 (mode collapse on the 8-Gaussian ring) and
lecture 05 (WGAN-GP's critic).

The game (Goodfellow et al. 2014, arXiv:1406.2661, eq. 1):

.. math:: \min_G \max_D V(D, G) = \mathbb{E}_{x\sim p_\text{data}}[\log D(x)]
          + \mathbb{E}_{z\sim p_z}[\log(1 - D(G(z)))]

Variants come in as arguments (any loss pair of :mod:`gancourse.losses`, ``n_critic`` critic steps
per generator step, a gradient penalty, weight clipping), after Arjovsky et al. 2017
(arXiv:1701.07875) and Gulrajani et al. 2017 (arXiv:1704.00028).
Lectures 01, 02, 04, 05.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gancourse import losses
from gancourse.config import cache_dir, seed_everything

#: Losses whose discriminator outputs a logit, so that :math:`\sigma(s)` is a probability.
#: For every other loss of :data:`gancourse.losses.LOSS_PAIRS` the recorded scores are raw.
PROBABILITY_LOSSES = ("nonsaturating", "saturating", "smoothed")

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
# What training records
# --------------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """The game at one step: samples of :math:`p_G` and the discriminator on the grid.

    ``samples`` (N, d) float32, drawn from the same fixed noise at every snapshot; ``d_grid`` (M,)
    float32, :math:`D(x) = \\sigma(s(x))` at the grid points for the probability losses, raw scores
    otherwise (``None`` when no grid was given). ``step`` counts generator updates done before it.
    """

    step: int
    samples: np.ndarray
    d_grid: np.ndarray | None = None


@dataclass
class ToyHistory:
    """Per-step records of :func:`train_toy` and its snapshots. Lecture 01.

    Lists (one entry per generator step): ``d_loss`` (the adversarial loss of the last critic step,
    penalty excluded), ``penalty`` (the gradient penalty before weighting; 0 when unused),
    ``g_loss``, ``d_real`` and ``d_fake`` (mean :math:`D(x)` and :math:`D(G(z))` on that batch,
    probabilities for the probability losses, raw mean scores otherwise), ``g_grad_norm`` (the L2
    norm of the generator's whole gradient). ``grid`` (M, d) or ``None``; ``loss`` the loss name;
    ``probabilities`` whether ``d_real``, ``d_fake`` and ``Snapshot.d_grid`` are probabilities.
    """

    loss: str
    probabilities: bool
    grid: np.ndarray | None = None
    d_loss: list = field(default_factory=list)
    penalty: list = field(default_factory=list)
    g_loss: list = field(default_factory=list)
    d_real: list = field(default_factory=list)
    d_fake: list = field(default_factory=list)
    g_grad_norm: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)

    @property
    def steps(self) -> int:
        """Generator updates recorded."""
        return len(self.g_loss)

    @property
    def snapshot_steps(self) -> list[int]:
        return [s.step for s in self.snapshots]

    def snapshot(self, step: int) -> Snapshot:
        """The snapshot taken at ``step``; ``ValueError`` listing the recorded steps when absent."""
        for s in self.snapshots:
            if s.step == step:
                return s
        raise ValueError(f"no snapshot at step {step}; snapshots were taken at steps {self.snapshot_steps}.")

    def state_dict(self) -> dict:
        """Plain tensors, lists and numbers, loadable with ``torch.load(weights_only=True)``."""
        as_t = lambda a: None if a is None else torch.as_tensor(np.asarray(a))  # noqa: E731
        return {
            "loss": self.loss, "probabilities": self.probabilities, "grid": as_t(self.grid),
            **{k: torch.tensor(getattr(self, k), dtype=torch.float64) for k in _SERIES},
            "snapshots": [{"step": s.step, "samples": as_t(s.samples), "d_grid": as_t(s.d_grid)}
                          for s in self.snapshots],
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> "ToyHistory":
        as_np = lambda t: None if t is None else t.numpy()  # noqa: E731
        h = cls(loss=state["loss"], probabilities=state["probabilities"], grid=as_np(state["grid"]))
        for k in _SERIES:
            setattr(h, k, state[k].tolist())
        h.snapshots = [Snapshot(s["step"], as_np(s["samples"]), as_np(s["d_grid"])) for s in state["snapshots"]]
        return h


_SERIES = ("d_loss", "penalty", "g_loss", "d_real", "d_fake", "g_grad_norm")


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


# --------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------


def _draw(sampler, n: int, generator: torch.Generator) -> torch.Tensor:
    if hasattr(sampler, "sample"):
        x = sampler.sample(n, generator=generator)
    elif callable(sampler):
        x = sampler(n, generator)
    else:
        raise TypeError(
            f"sampler must have a .sample(n, generator=...) method (like data.BimodalGaussian1D) or be "
            f"a function (n, generator) -> (n, d) tensor; got {type(sampler).__name__}."
        )
    x = torch.as_tensor(x, dtype=torch.float32)
    return x[:, None] if x.ndim == 1 else x  # (n,) -> (n, 1)


def _grad_norm(module: nn.Module) -> float:
    total = sum(float(p.grad.pow(2).sum()) for p in module.parameters() if p.grad is not None)
    return total**0.5


@torch.no_grad()
def _snapshot(G, D, step: int, z_fixed: torch.Tensor, grid_t, probabilities: bool) -> Snapshot:
    samples = G(z_fixed).cpu().numpy()
    d_grid = None
    if grid_t is not None:
        scores = D(grid_t)
        d_grid = (torch.sigmoid(scores) if probabilities else scores).cpu().numpy()
    return Snapshot(step, samples, d_grid)


def train_toy(G: Generator, D: nn.Module, sampler, *, steps: int, batch_size: int = 256,
              loss: str = "nonsaturating", n_critic: int = 1, gp_weight: float = 0.0,
              clip_value: float | None = None, lr_g: float = 2e-4, lr_d: float = 2e-4,
              betas=(0.5, 0.999), snapshot_steps=(0,), grid=None, n_snapshot_samples: int = 2000,
              seed: int = 0, progress: bool = False, g_objective=None) -> ToyHistory:
    r"""Play the game for ``steps`` generator updates with Adam, recording it in a :class:`ToyHistory`.

    One step is ``n_critic`` discriminator (critic) updates, each on a fresh real batch and a fresh,
    *detached* fake batch,

    .. math:: \theta_D \leftarrow \theta_D - \eta_D \nabla_{\theta_D}
              \big[L_D(D(x), D(G(z))) + \lambda\,\mathrm{GP}\big],

    then one generator update :math:`\theta_G \leftarrow \theta_G - \eta_G\nabla_{\theta_G} L_G(D(G(z)))`
    through a frozen-in-place D (only G's optimiser steps). ``loss`` names a pair of
    :func:`gancourse.losses.loss_pair`; ``gp_weight`` is :math:`\lambda` of
    :func:`gancourse.losses.gradient_penalty` (Gulrajani et al. 2017, they use 10 with
    ``n_critic=5``, ``betas=(0.5, 0.9)``); ``clip_value`` clips the critic's weights after each of
    its steps (the original WGAN, Arjovsky et al. 2017, c = 0.01).

    Snapshots are taken after ``k`` generator updates for each ``k`` in ``snapshot_steps`` and always
    at the end, from ``n_snapshot_samples`` fixed noise vectors; ``grid`` (M,) or (M, d) points where
    D is recorded. ``seed`` fixes the real batches, the noise and the snapshot noise (not the
    networks' initial weights: seed before building them). Runs on the device of G's parameters.
    ``g_objective``, when given, replaces the generator's loss :math:`L_G(D(G(z)))`: it is called as
    ``g_objective(G, D, z, x_real)`` with the step's noise (B, Z) and the last real batch (B, d)
    and returns a scalar (lecture 04's unrolled GAN, :class:`gancourse.collapse.UnrolledGeneratorLoss`).
    Lecture 01 (the loop), 04 and 05 (its variants).

    Args: ``G`` maps (B, Z) -> (B, d); ``D`` maps (B, d) -> (B,) or (B, 1); ``sampler`` has
    ``.sample(n, generator=)`` returning (n, d), or is a function ``(n, generator) -> (n, d)``.
    Returns: the :class:`ToyHistory`.
    """
    d_loss_fn, g_loss_fn = losses.loss_pair(loss)
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}.")
    if not isinstance(n_critic, int) or n_critic < 1:
        raise ValueError(f"n_critic must be a positive int, got {n_critic!r}.")
    if gp_weight < 0:
        raise ValueError(f"gp_weight must be >= 0, got {gp_weight}.")
    bad = [k for k in snapshot_steps if not 0 <= k <= steps]
    if bad:
        raise ValueError(f"snapshot steps {bad} fall outside 0..{steps}; pick steps within the run.")
    device = next(G.parameters()).device
    probabilities = loss in PROBABILITY_LOSSES
    gen = torch.Generator().manual_seed(seed)  # real batches and training noise
    snap_gen = torch.Generator().manual_seed(seed + 1)  # the fixed noise of every snapshot
    z_fixed = G.noise(n_snapshot_samples, snap_gen)  # (N, Z)
    grid_np = None
    grid_t = None
    if grid is not None:
        grid_np = np.asarray(grid, dtype=np.float32)
        grid_np = grid_np[:, None] if grid_np.ndim == 1 else grid_np  # (M,) -> (M, 1)
        grid_t = torch.as_tensor(grid_np, device=device)
    history = ToyHistory(loss=loss, probabilities=probabilities, grid=grid_np)
    wanted = set(snapshot_steps) | {steps}

    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=tuple(betas))
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=tuple(betas))
    squash = torch.sigmoid if probabilities else (lambda s: s)

    iterator = range(steps)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"toy GAN ({loss})")
    if 0 in wanted:
        history.snapshots.append(_snapshot(G, D, 0, z_fixed, grid_t, probabilities))
    for step in iterator:
        # --- the discriminator (critic): G's output is detached, so no gradient reaches G ---
        for _ in range(n_critic):
            x_real = _draw(sampler, batch_size, gen).to(device)  # (B, d)
            x_fake = G(G.noise(batch_size, gen)).detach()  # (B, d)
            s_real, s_fake = D(x_real), D(x_fake)
            loss_d = d_loss_fn(s_real, s_fake)
            penalty = losses.gradient_penalty(D, x_real, x_fake) if gp_weight > 0 else torch.zeros(())
            opt_d.zero_grad(set_to_none=True)
            (loss_d + gp_weight * penalty).backward()
            opt_d.step()
            if clip_value is not None:
                losses.clip_weights_(D, clip_value)
        # --- the generator: gradients flow through D, but only G's optimiser steps ---
        z = G.noise(batch_size, gen)  # (B, Z)
        if g_objective is not None:
            loss_g = g_objective(G, D, z, x_real)
        elif loss in losses.NEEDS_REAL_SCORES:  # the relativistic loss compares with D on the last real batch
            loss_g = g_loss_fn(D(G(z)), D(x_real))
        else:
            loss_g = g_loss_fn(D(G(z)))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

        history.d_loss.append(loss_d.item())
        history.penalty.append(penalty.item())
        history.g_loss.append(loss_g.item())
        history.d_real.append(float(squash(s_real.detach()).mean()))
        history.d_fake.append(float(squash(s_fake.detach()).mean()))
        history.g_grad_norm.append(_grad_norm(G))
        if step + 1 in wanted:
            history.snapshots.append(_snapshot(G, D, step + 1, z_fixed, grid_t, probabilities))
    return history


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
        digest = abs(hash_str("|".join(parts))) % 10**10
        return f"toy-bimodal-seed{seed}-{digest:010d}.pt"


def hash_str(text: str) -> int:
    """A hash of ``text`` stable across processes (Python's ``hash`` is salted per process)."""
    import hashlib

    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


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


def save_checkpoint(path, G: nn.Module, D: nn.Module, history: ToyHistory, config: dict) -> Path:
    """Write G, D, the history and the config atomically (a temporary file, then a rename). Lecture 01."""
    path = Path(path)
    state = {"G": G.state_dict(), "D": D.state_dict(), "history": history.state_dict(), "config": config}
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_or_train_bimodal(recipe: BimodalRecipe = BimodalRecipe(), seed: int = 0, retrain: bool = False,
                          progress: bool = False):
    """The lecture 01 GAN from the cache folder, trained (and saved) when absent. Returns ``(G, D, history)``.

    The file name is keyed by every setting of the recipe and the seed; it is loaded with
    ``torch.load(weights_only=True)``. Lectures 01-02.
    """
    path = cache_dir() / recipe.key(seed)
    if path.exists() and not retrain:
        state = torch.load(path, map_location="cpu", weights_only=True)
        G, D = bimodal_players(recipe, seed)
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        return G, D, ToyHistory.from_state_dict(state["history"])
    G, D, history = train_bimodal(recipe, seed, progress=progress)
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(recipe).items()}
    save_checkpoint(path, G, D, history, {**config, "seed": seed})
    return G, D, history
