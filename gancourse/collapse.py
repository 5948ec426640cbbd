r"""Mode collapse: three small fixes against it, and the ring experiment that measures them.

A generator collapses when it puts its mass on a few modes of :math:`p_\text{data}`: the
discriminator scores one sample at a time, so a generator that reproduces one mode perfectly is
not punished for missing the others, and it hops to whichever region D currently rewards. Each
fix below lets the discriminator see *more than one sample at once*, or lets the generator see
*how D will answer*:

- minibatch standard deviation (Karras et al. 2018, arXiv:1710.10196, section 3): D gets, as one
  extra feature, the spread of a group of samples, :math:`\bar\sigma = \frac1F\sum_f
  \sqrt{\operatorname{Var}_{i \in \text{group}}[h_{i,f}] + \epsilon}`; a collapsed batch has a
  small spread and is easy to reject;
- PacGAN (Lin et al. 2018, arXiv:1712.04086): D scores *packs* of :math:`m` samples concatenated,
  :math:`D(x_1, \dots, x_m)`, all real or all fake;
- unrolled GAN (Metz et al. 2017, arXiv:1611.02163): the generator descends the loss of a
  discriminator that has taken :math:`k` more gradient steps, differentiating through them,

  .. math:: \theta_D^{0} = \theta_D, \quad
            \theta_D^{j+1} = \theta_D^{j} - \eta\,\nabla_{\theta_D} L_D(\theta_G, \theta_D^{j}), \quad
            L_G^{(k)}(\theta_G) = L_G\big(D(G(z); \theta_D^{k}(\theta_G))\big).

The experiment (:func:`ring_run`, :func:`ring_table`) trains a GAN on the 8-Gaussian ring of the
unrolled-GAN paper and counts the modes it covers with :func:`gancourse.metrics.mode_coverage`;
results are cached like checkpoints, keyed by every setting and the seed.
Lectures 04 (the fixes, the table) and 05 (the same table for WGAN-GP).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from tqdm.auto import tqdm

from gancourse import losses
from gancourse import checkpoints
from gancourse.config import budget, seed_everything
from gancourse.toy import _ACTIVATIONS, MLP, Discriminator, Generator, grid_2d, train_toy
from gancourse.train import History

# --------------------------------------------------------------------------------------------
# Minibatch standard deviation
# --------------------------------------------------------------------------------------------


def minibatch_std(h: torch.Tensor, group_size: int | None = None, eps: float = 1e-8) -> torch.Tensor:
    r"""The mean standard deviation of ``h`` across each group of samples, one number per sample.

    .. math:: \bar\sigma_g = \frac{1}{F}\sum_{f} \sqrt{\frac{1}{G}\sum_{i \in g} (h_{i,f} - \bar h_{g,f})^2 + \epsilon}

    over every feature :math:`f` (channels and pixels of an image alike), with the biased variance
    (divide by the group size G). Samples are grouped as ``i // G`` would not: sample ``i`` goes to
    group ``i % (B / G)``, as in Karras et al. 2018 (arXiv:1710.10196), section 3; with
    ``group_size=None`` the whole batch is one group.

    Args: ``h`` (B, F) or (B, C, H, W); ``group_size`` must divide B.
    Returns: (B,) the statistic of each sample's group. Lecture 04.
    """
    b = h.shape[0]
    g = b if group_size is None else min(group_size, b)
    if b % g != 0:
        raise ValueError(f"the batch of {b} samples does not split into groups of {g}; "
                         f"use a batch size divisible by {g} or group_size=None.")
    flat = h.reshape(g, b // g, -1)  # (G, B/G, F): sample i sits at [i // (B/G), i % (B/G)]
    std = (flat.var(dim=0, unbiased=False) + eps).sqrt()  # (B/G, F)
    per_group = std.mean(dim=1)  # (B/G,)
    return per_group.repeat(g)  # (B,): sample i gets group i % (B/G)


class MinibatchStdDev(nn.Module):
    r"""A layer that appends :func:`minibatch_std` to every sample as one more feature.

    (B, F) -> (B, F + 1), or (B, C, H, W) -> (B, C + 1, H, W) with the statistic as a constant
    channel. It has no parameters. Karras et al. 2018 (arXiv:1710.10196), section 3. Lecture 04.
    """

    def __init__(self, group_size: int | None = None):
        super().__init__()
        self.group_size = group_size

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        s = minibatch_std(h, self.group_size)  # (B,)
        if h.ndim == 2:
            return torch.cat([h, s[:, None]], dim=1)  # (B, F + 1)
        if h.ndim == 4:
            b, _, height, width = h.shape
            return torch.cat([h, s.view(b, 1, 1, 1).expand(b, 1, height, width)], dim=1)  # (B, C + 1, H, W)
        raise ValueError(f"MinibatchStdDev expects (B, F) or (B, C, H, W), got shape {tuple(h.shape)}.")


class MinibatchStdDiscriminator(nn.Module):
    r"""The toy discriminator with a minibatch-standard-deviation feature after its first hidden layer.

    ``x (B, d) -> Linear, activation -> (B, h1) -> MinibatchStdDev -> (B, h1 + 1) -> MLP -> (B,)``.
    Same widths as :class:`gancourse.toy.Discriminator` with ``hidden``. Lecture 04.
    """

    def __init__(self, data_dim: int = 2, hidden=(128, 128, 128), activation: str = "relu",
                 group_size: int | None = None):
        super().__init__()
        hidden = tuple(hidden)
        if not hidden:
            raise ValueError("MinibatchStdDiscriminator needs at least one hidden layer, got hidden=().")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(map(repr, _ACTIVATIONS))}.")
        self.first = nn.Sequential(nn.Linear(data_dim, hidden[0]), _ACTIVATIONS[activation]())  # (B, h1)
        self.mbstd = MinibatchStdDev(group_size)
        self.rest = MLP(hidden[0] + 1, 1, hidden[1:], activation)
        self.data_dim = data_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rest(self.mbstd(self.first(x))).squeeze(-1)  # (B, 1) -> (B,)


# --------------------------------------------------------------------------------------------
# PacGAN
# --------------------------------------------------------------------------------------------


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    r"""Concatenate every ``m`` consecutive samples into one: the input of a packed discriminator.

    (B, d) -> (B/m, m d) with ``out[j] = [x[m j], ..., x[m j + m - 1]]``; images (B, C, H, W) ->
    (B/m, m C, H, W), stacked along the channels. Lin et al. 2018 (arXiv:1712.04086), section 3.
    Lecture 04.
    """
    if not isinstance(m, int) or m < 1:
        raise ValueError(f"the packing degree m must be a positive int, got {m!r}.")
    b = x.shape[0]
    if b % m != 0:
        raise ValueError(f"a batch of {b} samples does not split into packs of {m}; "
                         f"use a batch size divisible by {m}.")
    return x.reshape(b // m, m * x.shape[1], *x.shape[2:])  # (B/m, m * first feature dim, ...)


def unpack(x: torch.Tensor, m: int) -> torch.Tensor:
    """The inverse of :func:`pack`: (B/m, m d, ...) -> (B, d, ...). Lecture 04."""
    if x.shape[1] % m != 0:
        raise ValueError(f"{x.shape[1]} features do not split into {m} samples.")
    return x.reshape(x.shape[0] * m, x.shape[1] // m, *x.shape[2:])


class PackedDiscriminator(nn.Module):
    r"""A discriminator that scores packs of ``m`` samples: :math:`D(x_1, \dots, x_m)`, one score per pack.

    Wraps ``inner``, which takes packed inputs (B/m, m d): (B, d) -> (B/m,) scores. The losses
    then average over packs, as PacGAN does (Lin et al. 2018, arXiv:1712.04086). Lecture 04.
    """

    def __init__(self, inner: nn.Module, m: int = 2):
        super().__init__()
        self.inner, self.m = inner, m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(pack(x, self.m))


# --------------------------------------------------------------------------------------------
# Unrolled GAN
# --------------------------------------------------------------------------------------------


def unroll_discriminator(D: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor, *, k: int = 5,
                         lr: float = 1e-3, loss: str = "nonsaturating", create_graph: bool = True,
                         optimizer: str = "sgd", betas: tuple = (0.5, 0.999), eps: float = 1e-8,
                         state: dict | None = None) -> dict:
    r"""Take ``k`` steps of an optimiser on D's loss without touching D: returns the unrolled weights.

    With ``optimizer="sgd"``, plain gradient descent,

    .. math:: \theta_D^{j+1} = \theta_D^{j} - \eta\,g_j, \qquad g_j = \nabla_{\theta_D} L_D\big(D(x; \theta_D^{j}), D(\tilde x; \theta_D^{j})\big);

    with ``optimizer="adam"``, Adam's update (Kingma and Ba 2015, algorithm 1),

    .. math:: m_{j+1} = \beta_1 m_j + (1-\beta_1) g_j, \quad v_{j+1} = \beta_2 v_j + (1-\beta_2) g_j^2, \quad
              \theta_D^{j+1} = \theta_D^{j} - \eta\,\frac{m_{j+1}/(1-\beta_1^{j+1})}{\sqrt{v_{j+1}/(1-\beta_2^{j+1})} + \epsilon},

    whose steps are up to :math:`\eta` per weight whatever the gradient's scale, as large as the steps D
    itself takes with Adam, where plain steps at the same :math:`\eta` barely move D. The moments start at
    zero, or from ``state`` (``{"m": {name: tensor}, "v": {...}, "t": steps taken}``), which the first step
    then advances in place (detached): called once per generator step, ``state`` follows D's gradients
    as D's own Adam moments do. Each step uses the same
    real batch ``x_real`` and fakes ``x_fake`` (B, d). With ``create_graph=True`` the unrolled weights stay
    functions of the fakes (and so of :math:`\theta_G`): a generator loss computed with them sends
    gradients *through* the k steps, the second-order term included. Metz et al. 2017 (arXiv:1611.02163),
    eqs. 6-8; they unroll D's own Adam, with its current moments; a departure: the loop keeps D's
    optimiser to itself, so ``state`` keeps moments of its own. Returns ``{name: tensor}`` for
    :func:`torch.func.functional_call`. Lecture 04.
    """
    if not isinstance(k, int) or k < 0:
        raise ValueError(f"k (the unrolling steps) must be a non-negative int, got {k!r}.")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"unknown unrolling optimizer {optimizer!r}; choose 'sgd' or 'adam'.")
    d_loss_fn, _ = losses.loss_pair(loss)
    params = dict(D.named_parameters())
    m = {name: (state["m"][name] if state and "m" in state else torch.zeros_like(p)) for name, p in params.items()}
    v = {name: (state["v"][name] if state and "v" in state else torch.zeros_like(p)) for name, p in params.items()}
    t0 = state.get("t", 0) if state else 0
    beta1, beta2 = betas
    for j in range(1, k + 1):
        loss_d = d_loss_fn(functional_call(D, params, (x_real,)), functional_call(D, params, (x_fake,)))
        grads = torch.autograd.grad(loss_d, list(params.values()), create_graph=create_graph)
        if optimizer == "sgd":
            params = {name: p - lr * g for (name, p), g in zip(params.items(), grads)}
            continue
        new = {}
        for (name, p), g in zip(params.items(), grads):
            m[name] = beta1 * m[name] + (1 - beta1) * g
            v[name] = beta2 * v[name] + (1 - beta2) * g * g
            m_hat, v_hat = m[name] / (1 - beta1 ** (t0 + j)), v[name] / (1 - beta2 ** (t0 + j))
            # sqrt(v_hat + tiny) keeps the second derivative finite where a gradient is exactly 0 (a dead ReLU)
            new[name] = p - lr * m_hat / ((v_hat + 1e-30).sqrt() + eps)
        params = new
        if j == 1 and state is not None:  # D's own Adam would have taken this one step
            state.update(m={n: x.detach() for n, x in m.items()}, v={n: x.detach() for n, x in v.items()}, t=t0 + 1)
    return params


class UnrolledGeneratorLoss:
    r"""The unrolled generator objective, as a ``g_objective`` for :func:`gancourse.train.train_gan`.

    Called as ``(G, D, z, x_real) -> loss``: draws the fakes :math:`G(z)`, unrolls D ``k`` steps of
    ``optimizer`` (``"sgd"`` or ``"adam"``) on them and ``x_real`` with :func:`unroll_discriminator`,
    then returns :math:`L_G\big(D(G(z); \theta_D^k)\big)`. With ``k = 0`` it is the ordinary generator
    loss. With Adam, the object keeps Adam's moments from call to call (one call per generator step, as
    D takes one step per generator step), so the unrolled steps are the size of D's own. Metz et al. 2017
    (arXiv:1611.02163). Lecture 04.
    """

    def __init__(self, k: int = 5, lr: float = 1e-3, loss: str = "nonsaturating", optimizer: str = "sgd",
                 betas: tuple = (0.5, 0.999)):
        self.k, self.lr, self.loss, self.optimizer, self.betas = k, lr, loss, optimizer, betas
        self.state: dict = {}  # Adam's moments, carried from call to call

    def __call__(self, G: nn.Module, D: nn.Module, z: torch.Tensor, x_real: torch.Tensor) -> torch.Tensor:
        _, g_loss_fn = losses.loss_pair(self.loss)
        x_fake = G(z)  # (B, d), not detached: the unrolled D depends on it
        params = unroll_discriminator(D, x_real, x_fake, k=self.k, lr=self.lr, loss=self.loss,
                                      optimizer=self.optimizer, betas=self.betas, state=self.state)
        return g_loss_fn(functional_call(D, params, (x_fake,)))


# --------------------------------------------------------------------------------------------
# Minibatch discrimination and feature matching (Salimans et al. 2016)
# --------------------------------------------------------------------------------------------


class MinibatchDiscrimination(nn.Module):
    r"""Salimans et al.'s minibatch discrimination: each sample gets features saying how close the others are.

    .. math:: M_i = f(x_i)\,T \in \mathbb{R}^{B' \times C}, \qquad
              c_b(x_i, x_j) = \exp\big(-\lVert M_{i,b} - M_{j,b}\rVert_{1}\big), \qquad
              o(x_i)_b = \sum_{j} c_b(x_i, x_j)

    with a learned tensor :math:`T` of shape (A, B', C); the layer outputs :math:`[f(x_i), o(x_i)]`. A
    collapsed batch, whose samples are all alike, has every :math:`o_b` near the batch size, which D learns
    to reject. The sum runs over the whole batch, :math:`j = i` included (a constant 1). Salimans et al.
    2016 (arXiv:1606.03498), section 3.2. Shapes: (B, A) -> (B, A + B'). Lecture 04.
    """

    def __init__(self, in_features: int, kernels: int = 16, kernel_dim: int = 4):
        super().__init__()
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)  # (A, B' C)
        self.kernels, self.kernel_dim = kernels, kernel_dim

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = (h @ self.T).view(-1, self.kernels, self.kernel_dim).transpose(0, 1)  # (B', B, C)
        l1 = torch.cdist(m, m, p=1)  # (B', B, B): ||M_i,b - M_j,b||_1 for every pair i, j
        o = torch.exp(-l1).sum(dim=2).T  # (B, B'), the sum over j
        return torch.cat([h, o], dim=1)  # (B, A + B')


class MinibatchDiscriminator(nn.Module):
    r"""The toy discriminator with :class:`MinibatchDiscrimination` after its first hidden layer.

    ``x (B, d) -> Linear, activation -> (B, h1) -> MinibatchDiscrimination -> (B, h1 + B') -> MLP -> (B,)``. Lecture 04.
    """

    def __init__(self, data_dim: int = 2, hidden=(128, 128, 128), activation: str = "relu", kernels: int = 16,
                 kernel_dim: int = 4):
        super().__init__()
        hidden = tuple(hidden)
        self.first = nn.Sequential(nn.Linear(data_dim, hidden[0]), _ACTIVATIONS[activation]())  # (B, h1)
        self.mbd = MinibatchDiscrimination(hidden[0], kernels, kernel_dim)
        self.rest = MLP(hidden[0] + kernels, 1, hidden[1:], activation)
        self.data_dim = data_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rest(self.mbd(self.first(x))).squeeze(-1)  # (B,)


def discriminator_features(D: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The toy discriminator's last hidden activations (B, F): every layer of ``D.net`` but the output layer. Lecture 04."""
    return D.net[:-1](x)


class FeatureMatchingLoss:
    r"""Feature matching, as a ``g_objective``: G matches the mean of D's hidden features on real data.

    .. math:: L_G = \big\lVert \mathbb{E}_{x}\, f(x) - \mathbb{E}_{z}\, f(G(z)) \big\rVert_2^2

    with :math:`f` the discriminator's last hidden layer (:func:`discriminator_features`), both means over
    the batch; D keeps its usual loss. Salimans et al. 2016 (arXiv:1606.03498), section 3.1. Called as
    ``(G, D, z, x_real) -> loss``. Lecture 04.
    """

    def __call__(self, G: nn.Module, D: nn.Module, z: torch.Tensor, x_real: torch.Tensor) -> torch.Tensor:
        f_real = discriminator_features(D, x_real).mean(0).detach()  # (F,), a target: no gradient to D
        f_fake = discriminator_features(D, G(z)).mean(0)  # (F,)
        return ((f_real - f_fake) ** 2).sum()


# --------------------------------------------------------------------------------------------
# The ring experiment
# --------------------------------------------------------------------------------------------

METHODS = ("vanilla", "mbstd", "pacgan", "unrolled", "wgan-gp", "smoothed", "instance-noise", "relativistic", "mbd",
           "feature-matching")


@dataclass(frozen=True)
class RingSetting:
    """One training setting on the 8-Gaussian ring: the players, the method and its budget.

    ``method`` is one of :data:`METHODS`: ``"vanilla"`` (non-saturating GAN), ``"mbstd"``
    (:class:`MinibatchStdDiscriminator`), ``"pacgan"`` (:class:`PackedDiscriminator` with
    ``pack_m``), ``"unrolled"`` (:class:`UnrolledGeneratorLoss` with ``unroll_k``) or ``"wgan-gp"``
    (Wasserstein loss, gradient penalty :math:`\\lambda = 10`, ``n_critic`` 5, Adam betas (0.5, 0.9)),
    and lecture 11's tricks on the vanilla GAN: ``"smoothed"`` (one-sided label smoothing, real
    target 0.9), ``"instance-noise"`` (:class:`gancourse.losses.InstanceNoise` with ``noise_sigma``)
    and ``"relativistic"`` (the relativistic average loss); and Salimans et al. 2016's ``"mbd"``
    (:class:`MinibatchDiscriminator`) and ``"feature-matching"`` (:class:`FeatureMatchingLoss`).
    Default shapes follow the unrolled-GAN paper (Metz et al. 2017, appendix A). Lecture 04.
    """

    method: str = "vanilla"
    steps: int = 2500  # generator steps
    z_dim: int = 256
    g_hidden: tuple = (128, 128)
    d_hidden: tuple = (128, 128, 128)
    batch_size: int = 128
    lr: float = 1e-3
    std: float = 0.05  # of each Gaussian of the ring (radius 2)
    pack_m: int = 2
    unroll_k: int = 5
    unroll_optimizer: str = "sgd"  # unrolled only: "sgd" (plain steps at lr) or "adam" (Adam's steps, as Metz et al.)
    n_critic: int = 5  # WGAN-GP only
    gp_weight: float = 10.0  # WGAN-GP only
    noise_sigma: float = 0.1  # instance noise only
    snapshot_steps: tuple = ()
    n_samples: int = 2500  # samples counted at each snapshot

    def key(self, seed: int) -> str:
        """A file name that changes whenever a setting or the seed changes."""
        # a field added after runs were cached enters the name only when it differs from its default,
        # so the runs cached before it keep their names
        later = {"unroll_optimizer": "sgd"}
        parts = "|".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)
                         if f.name not in later or getattr(self, f.name) != later[f.name])
        return checkpoints.keyed_name("ring", self.method, seed, parts)


def ring_players(setting: RingSetting, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """Fresh ``(G, D)`` for a setting, initialised from ``seed``. Lecture 04."""
    if setting.method not in METHODS:
        raise ValueError(f"unknown method {setting.method!r}; choose one of {', '.join(map(repr, METHODS))}.")
    seed_everything(seed)
    G = Generator(setting.z_dim, 2, setting.g_hidden, "relu")
    if setting.method == "mbd":
        D = MinibatchDiscriminator(2, setting.d_hidden, "relu")
    elif setting.method == "mbstd":
        D = MinibatchStdDiscriminator(2, setting.d_hidden, "relu")
    elif setting.method == "pacgan":
        D = PackedDiscriminator(Discriminator(2 * setting.pack_m, setting.d_hidden, "relu"), setting.pack_m)
    else:
        D = Discriminator(2, setting.d_hidden, "relu")
    if setting.method == "instance-noise":
        D = losses.InstanceNoise(D, setting.noise_sigma)
    return G, D


def _train_ring(setting: RingSetting, seed: int) -> tuple[nn.Module, nn.Module, History]:
    from gancourse.data import Ring2D

    G, D = ring_players(setting, seed)
    common = dict(steps=setting.steps, batch_size=setting.batch_size, lr_g=setting.lr, lr_d=setting.lr,
                  snapshot_steps=[s for s in setting.snapshot_steps if s <= setting.steps],
                  n_snapshot_samples=setting.n_samples, seed=seed)
    # D's field on a grid, where D scores single points (not packs or whole batches)
    common["grid"] = None if setting.method in ("pacgan", "mbstd", "mbd") else grid_2d(3.0, 61)
    if setting.method == "wgan-gp":
        history = train_toy(G, D, Ring2D(std=setting.std), loss="wasserstein", n_critic=setting.n_critic,
                            gp_weight=setting.gp_weight, betas=(0.5, 0.9), **common)
    else:
        g_objective = None
        if setting.method == "unrolled":  # one object for the run: it carries Adam's moments from step to step
            g_objective = UnrolledGeneratorLoss(setting.unroll_k, setting.lr, optimizer=setting.unroll_optimizer)
        g_objective = FeatureMatchingLoss() if setting.method == "feature-matching" else g_objective
        loss = setting.method if setting.method in ("smoothed", "relativistic") else "nonsaturating"
        history = train_toy(G, D, Ring2D(std=setting.std), loss=loss, betas=(0.5, 0.999), g_objective=g_objective,
                            **common)
    return G, D, history


@dataclass
class RingRun:
    """One cached run: the setting, the seed, its :class:`~gancourse.train.History`, and the coverage
    at each snapshot (``modes``, ``high_quality``: lists aligned with ``history.snapshot_steps``). Lecture 04."""

    setting: RingSetting
    seed: int
    history: History
    modes: list
    high_quality: list

    def players(self) -> tuple[nn.Module, nn.Module]:
        """The trained ``(G, D)`` at the end of the run, loaded from the cache folder."""
        state = checkpoints.load(self.setting.key(self.seed))
        G, D = ring_players(self.setting, self.seed)
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        return G, D

    @property
    def final_modes(self) -> int:
        return self.modes[-1]

    @property
    def final_high_quality(self) -> float:
        return self.high_quality[-1]


def ring_run(setting: RingSetting, seed: int = 0, retrain: bool = False) -> RingRun:
    """Train ``setting`` from ``seed`` on one thread (so the result does not depend on the thread count),
    or load it from the cache folder; the result is written atomically. Lecture 04."""
    from gancourse.data import Ring2D
    from gancourse.metrics import mode_coverage

    @checkpoints.one_thread()
    def make() -> dict:
        G, D, history = _train_ring(setting, seed)
        config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(setting).items()}
        return {"history": history.to_dict(), "seed": seed, "G": G.state_dict(), "D": D.state_dict(), "config": config}

    history = History.from_dict(checkpoints.cached(setting.key(seed), make, retrain)["history"])
    centers = Ring2D(std=setting.std).centers
    cover = [mode_coverage(s.samples, centers, setting.std) for s in history.snapshots]
    return RingRun(setting, seed, history, [c.modes for c in cover], [c.high_quality for c in cover])


def _relative_cost(setting: RingSetting) -> float:
    """Roughly how long a run takes, in vanilla generator steps: an unrolled step costs about k vanilla
    ones, a WGAN-GP step n_critic critic steps with a penalty, minibatch discrimination about twice."""
    per_step = {"unrolled": float(setting.unroll_k), "wgan-gp": 1.5 * setting.n_critic, "mbd": 2.0}
    return setting.steps * per_step.get(setting.method, 1.0)


def ring_table(settings, seeds, workers: int = 1) -> list[RingRun]:
    """:func:`ring_run` for every setting and seed (settings outer, seeds inner), cached.

    Runs missing from the cache train in ``workers`` processes side by side (one thread each);
    the results are identical to training them one after the other. Lecture 04.
    """
    jobs = [(s, seed) for s in settings for seed in seeds]
    checkpoints.side_by_side(ring_run, jobs, lambda s, seed: checkpoints.cache_path(s.key(seed)).exists(), workers,
                             cost=lambda s, seed: _relative_cost(s), desc="ring runs")  # longest first
    missing = [j for j in jobs if not checkpoints.cache_path(j[0].key(j[1])).exists()]
    bar = tqdm(total=len(missing), desc="ring runs", unit="run", leave=False) if missing else None
    runs = []
    for s, seed in jobs:
        runs.append(ring_run(s, seed))
        if bar is not None and (s, seed) in missing:
            bar.update()
    if bar is not None:
        bar.close()
    return runs


def summarize(runs: list[RingRun]) -> dict:
    """``{method: {"modes": [...], "high_quality": [...]}}`` of the final snapshots, seeds in order. Lecture 04."""
    out: dict = {}
    for r in runs:
        row = out.setdefault(r.setting.method, {"seeds": [], "modes": [], "high_quality": []})
        row["seeds"].append(r.seed)
        row["modes"].append(r.final_modes)
        row["high_quality"].append(r.final_high_quality)
    return out


def lecture_settings() -> dict:
    """The ring settings of lectures 04 and 05, by method, with their FAST and FULL budgets.

    One definition for both lectures (lecture 05 derives its matched vanilla run from ``vanilla``). FULL follows
    the unrolled-GAN paper's ring (std 0.05, Metz et al. 2017) with the budgets measured in the
    course's field notes (vanilla 2,500 steps; WGAN-GP 2,000 steps at lr 5e-4 covered all 8 modes
    on 5 of 5 seeds). FAST widens the modes to std 0.15 so that a few hundred steps on a CPU reach
    them; the networks stay the paper's. Measured in FAST (modes at the end): vanilla 5, 5, 5 on
    seeds 0-2 (high-quality fraction about 0.50). WGAN-GP in FAST (lecture 05 compares it with the
    vanilla GAN at the same batch and the same number of D/critic steps): at batch 256 and lr 2e-3, 200
    steps covered 8, 8, 8, 5, 4 modes on seeds 0-4 (high-quality fraction 0.36, 0.28, 0.43, 0.09, 0.10),
    where a Gaussian cloud with the data's mean and covariance scores 8 modes and 0.15, and the vanilla
    GAN at batch 256 with 1,000 steps (the same 1,000 D steps) 6, 6, 6, 4, 3 (0.68, 0.72, 0.69, 0.81,
    0.88). Tried before: at batch 128, 150 steps covered 8, 4, 6, 2 modes on seeds 0-3; at batch 512 and
    lr 1e-3, 200 steps covered 8 modes on 7 of 8 seeds but with a high-quality fraction of 0.16-0.28,
    hardly above the cloud's; at batch 256 and lr 1e-3, 300 steps 8, 8, 7 (0.35, 0.30, 0.16). At short
    budgets and these learning rates WGAN-GP is unstable from seed to seed; FULL's lr 5e-4 is slower.

    The unrolled GAN unrolls D the way Metz et al. do: k = 5 Adam steps at D's learning rate, with moments
    carried from step to step, the generator's gradient taken through the steps (second-order term
    included). Measured in FAST on seeds 0-4 it does not help: 4, 5, 4, 5, 5 modes (high-quality fraction
    0.50, 0.44, 0.51, 0.38, 0.45) against the vanilla GAN's 5, 5, 5, 6, 4 (0.49, 0.49, 0.53, 0.49, 0.48);
    Adam steps from zero moments at every generator step covered 3, 1, 2 on seeds 0-2; plain gradient steps at lr 1e-3 barely move D (5, 4 on seeds 0-1, the
    vanilla GAN's picture) and at lr 0.1 the unrolled D diverged within 3 steps. An unrolled run costs
    about five vanilla runs. Lectures 04-05.
    """
    std = budget(fast=0.15, full=0.05)
    steps = budget(fast=300, full=2500)
    snaps = tuple(range(steps // 6, steps, steps // 6))
    out = {m: RingSetting(m, std=std, steps=steps, snapshot_steps=snaps)
           for m in ("vanilla", "mbstd", "pacgan", "unrolled", "smoothed", "instance-noise", "relativistic", "mbd",
                     "feature-matching")}
    out["unrolled"] = dataclasses.replace(out["unrolled"], unroll_optimizer="adam")
    wsteps = budget(fast=200, full=2000)
    out["wgan-gp"] = RingSetting("wgan-gp", std=std, steps=wsteps, lr=budget(fast=2e-3, full=5e-4),
                                 batch_size=budget(fast=256, full=128),
                                 snapshot_steps=tuple(range(wsteps // 6, wsteps, wsteps // 6)))
    return out


# --------------------------------------------------------------------------------------------
# Collapse on images
# --------------------------------------------------------------------------------------------


def mean_pairwise_distance(images: torch.Tensor) -> float:
    r"""The mean Euclidean distance between two different images of a batch, :math:`\frac{1}{B(B-1)}\sum_{i \ne j}\lVert x_i - x_j\rVert_2`.

    A diversity number, near 0 when the samples are copies of one another: in pixel space (lecture 04),
    or in a classifier's feature space (lecture 08's truncation trade-off). (B, ...) with B >= 2, flattened
    to (B, F). Lectures 04 and 08.
    """
    if images.shape[0] < 2:
        raise ValueError(f"need at least 2 images to compare, got {images.shape[0]}.")
    flat = images.detach().flatten(1).double()  # (B, F)
    dist = torch.cdist(flat, flat)  # (B, B), zero diagonal
    b = flat.shape[0]
    return float(dist.sum() / (b * (b - 1)))
