"""Plots for the course: densities with D(x), 2D fields, image grids, loss curves.

Every function draws onto matplotlib axes it creates or is given, takes the title and labels a
lecture wants, and returns the figure (or axes), so a notebook cell stays one call long. The
widgets in :mod:`gancourse.widgets` only wire sliders to these functions. Used by every lecture.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch


def _to_numpy_images(images) -> np.ndarray:
    """(B, C, H, W) tensor or array in [-1, 1] -> (B, H, W, C) float array in [0, 1]."""
    if isinstance(images, torch.Tensor):
        images = images.detach().float().cpu().numpy()
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (B, C, H, W), got {images.shape}.")
    return np.clip((images.transpose(0, 2, 3, 1) + 1) / 2, 0, 1)


def image_grid(images, nrow: int = 8, title: str | None = None, ax=None, row_labels=None, col_labels=None):
    """Draw a batch of images (B, C, H, W) in [-1, 1] as a grid with ``nrow`` images per row.

    Optional ``row_labels`` / ``col_labels`` annotate rows and columns (classes, psi values...).
    Returns the axes. Lecture 00.
    """
    imgs = _to_numpy_images(images)
    b, h, w, c = imgs.shape
    ncol = min(nrow, b)
    nrows = int(np.ceil(b / ncol))
    pad = 1
    canvas = np.ones((nrows * (h + pad) + pad, ncol * (w + pad) + pad, c), dtype=np.float32)
    for k in range(b):
        r, q = divmod(k, ncol)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = imgs[k]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.45 * ncol + 1), max(2.0, 0.45 * nrows + 0.8)))
    ax.imshow(canvas.squeeze(-1) if c == 1 else canvas, cmap="gray" if c == 1 else None, vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if row_labels is not None:
        ax.set_yticks([pad + r * (h + pad) + h / 2 for r in range(len(row_labels))], list(row_labels))
    if col_labels is not None:
        ax.set_xticks([pad + q * (w + pad) + w / 2 for q in range(len(col_labels))], list(col_labels))
    if title:
        ax.set_title(title)
    return ax


# --------------------------------------------------------------------------------------------
# Lectures 01-02: the 1D game (densities, D(x), snapshots, losses, D*, JSD vs W1, gradients)
# --------------------------------------------------------------------------------------------

_REAL_COLOR, _FAKE_COLOR, _D_COLOR, _DSTAR_COLOR = "tab:blue", "tab:orange", "black", "tab:green"


def _new_axes(ax, figsize=(6.0, 3.6)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_game_1d(x, p_data, samples=None, d_values=None, *, p_g=None, d_star=None, ax=None, title=None,
                 bins: int = 80, xlim=None, d_label: str = "D(x)"):
    r"""One picture of the 1D game: :math:`p_\text{data}`, :math:`p_G` and the discriminator together.

    ``x`` (M,) grid; ``p_data`` (M,) density on it; ``samples`` (N,) or (N, 1) generated points, drawn as
    a density histogram of :math:`p_G` (or ``p_g`` (M,), a density curve); ``d_values`` (M,) the
    discriminator's :math:`D(x)` on the grid; ``d_star`` (M,) the optimal :math:`D^*`. Densities and
    D share the vertical axis (both live in [0, 1] here), with a dotted line at 1/2. Returns the axes.
    Lecture 01.
    """
    ax = _new_axes(ax)
    x = np.asarray(x, dtype=float).ravel()
    ax.plot(x, p_data, color=_REAL_COLOR, lw=2, label=r"$p_\mathrm{data}$")
    if samples is not None:
        s = np.asarray(samples, dtype=float).ravel()
        ax.hist(s, bins=bins, range=(x.min(), x.max()), density=True, color=_FAKE_COLOR, alpha=0.45,
                label=r"$p_G$ (histogram of G's samples)")
    if p_g is not None:
        ax.plot(x, p_g, color=_FAKE_COLOR, lw=2, label=r"$p_G$")
    if d_values is not None:
        ax.plot(x, d_values, color=_D_COLOR, lw=1.8, label=d_label)
    if d_star is not None:
        ax.plot(x, d_star, color=_DSTAR_COLOR, lw=1.8, ls="--", label=r"$D^*(x)$")
    ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    ax.set_xlim(xlim or (x.min(), x.max()))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("x")
    ax.set_ylabel("density  /  D(x)")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    return ax


def plot_snapshots_1d(history, p_data_fn, steps=None, *, title: str | None = None, ncols: int = 4):
    """A row of :func:`plot_game_1d` panels, one per recorded step of a ``toy.ToyHistory``.

    ``p_data_fn`` maps points (M,) to the data density (e.g. ``BimodalGaussian1D().pdf``); ``steps``
    picks snapshots (default: all). Returns the figure. Lecture 01.
    """
    steps = history.snapshot_steps if steps is None else list(steps)
    if history.grid is None:
        raise ValueError("this history has no grid: train with grid=toy.grid_1d() to record D(x).")
    x = history.grid.ravel()
    ncols = min(ncols, len(steps))
    nrows = int(np.ceil(len(steps) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows), sharey=True, squeeze=False)
    for ax, step in zip(axes.ravel(), steps):
        snap = history.snapshot(step)
        plot_game_1d(x, p_data_fn(x), snap.samples, snap.d_grid, ax=ax, title=f"after {step:,} G steps")
        if ax is not axes.ravel()[0]:
            ax.get_legend().remove()
            ax.set_ylabel("")
    for ax in axes.ravel()[len(steps):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_toy_losses(history, *, title: str = "The game's records", smooth: int = 25):
    r"""Two panels from a ``toy.ToyHistory``: both losses, and the mean :math:`D(x)`, :math:`D(G(z))`.

    Reference lines mark the equilibrium values of the non-saturating game: :math:`L_D = \log 4`,
    :math:`L_G = \log 2`, :math:`D = 1/2`. Curves are moving averages over ``smooth`` steps (raw in
    light colour). Returns the figure. Lecture 01.
    """
    def ma(v):
        v = np.asarray(v, dtype=float)
        k = max(1, min(smooth, len(v)))
        return np.convolve(v, np.ones(k) / k, mode="valid"), np.arange(k - 1, len(v)) + 1

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4))
    for values, color, label in ((history.d_loss, "tab:red", r"$L_D$"), (history.g_loss, "tab:purple", r"$L_G$")):
        a1.plot(np.arange(1, len(values) + 1), values, color=color, alpha=0.2, lw=0.8)
        m, t = ma(values)
        a1.plot(t, m, color=color, label=label)
    if history.probabilities:
        a1.axhline(np.log(4), color="tab:red", ls=":", lw=1, label=r"$\log 4$ (D = 1/2)")
        a1.axhline(np.log(2), color="tab:purple", ls=":", lw=1, label=r"$\log 2$ (D = 1/2)")
    a1.set_xlabel("generator step")
    a1.set_ylabel("loss (nats)")
    a1.set_title("Losses")
    a1.legend(fontsize=8)
    for values, color, label in ((history.d_real, _REAL_COLOR, "mean D(x), real"),
                                 (history.d_fake, _FAKE_COLOR, "mean D(G(z)), fake")):
        a2.plot(np.arange(1, len(values) + 1), values, color=color, alpha=0.2, lw=0.8)
        m, t = ma(values)
        a2.plot(t, m, color=color, label=label)
    if history.probabilities:
        a2.axhline(0.5, color="gray", ls=":", lw=1, label="1/2")
        a2.set_ylim(0, 1)
    a2.set_xlabel("generator step")
    a2.set_ylabel("D" if history.probabilities else "critic score")
    a2.set_title("What D says about each batch")
    a2.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_jsd_and_w1(thetas, jsd_values, w1_values, *, ax=None,
                    title: str = r"Two point masses $\theta$ apart: JSD is stuck, $W_1$ is not"):
    """JSD (nats) and W1 against the distance ``theta`` between two distributions. Lecture 02."""
    ax = _new_axes(ax)
    ax.plot(thetas, jsd_values, color="tab:red", lw=2, label="JSD (nats)")
    ax.plot(thetas, w1_values, color="tab:blue", lw=2, label=r"$W_1$")
    ax.axhline(np.log(2), color="tab:red", ls=":", lw=1, label=r"$\log 2$")
    ax.set_xlabel(r"$\theta$ (distance between the two supports)")
    ax.set_ylabel("divergence / distance")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_generator_gradients(d_fake, grad_saturating, grad_nonsaturating, *, ax=None, mark: float | None = 0.01,
                             title: str = "How hard each generator loss pushes, by how D judges a fake"):
    r"""Magnitude of :math:`\partial L_G / \partial s` for both generator losses against :math:`D(G(z))`.

    ``mark`` draws the worked example (D(G(z)) = 0.01). Lecture 02.
    """
    ax = _new_axes(ax)
    ax.plot(d_fake, np.abs(grad_saturating), color="tab:gray", lw=2, label=r"saturating $\log(1 - D)$: $|\partial/\partial s| = D$")
    ax.plot(d_fake, np.abs(grad_nonsaturating), color="tab:purple", lw=2,
            label=r"non-saturating $-\log D$: $|\partial/\partial s| = 1 - D$")
    if mark is not None:
        ax.axvline(mark, color="k", ls=":", lw=1)
        ax.annotate(f"D(G(z)) = {mark}: {mark:.2f} vs {1 - mark:.2f}", (mark, 0.5), xytext=(0.12, 0.45), fontsize=8,
                    arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.set_xlabel("D(G(z)), the discriminator's probability that a fake is real")
    ax.set_ylabel("|gradient| with respect to the logit")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_bilinear_spiral(trajectories: dict, *, ax=None,
                         title: str = "Gradient play on min_x max_y xy (equilibrium at the origin)"):
    """Paths (T, 2) in the (x, y) plane, one per labelled method, with start and equilibrium marked. Lecture 02."""
    ax = _new_axes(ax, figsize=(5.0, 5.0))
    for label, path in trajectories.items():
        path = np.asarray(path)
        ax.plot(path[:, 0], path[:, 1], lw=1.2, label=label)
    first = np.asarray(next(iter(trajectories.values())))[0]
    ax.plot(*first, "ko", ms=5, label="start")
    ax.plot(0, 0, "r*", ms=12, label="equilibrium (0, 0)")
    ax.set_aspect("equal")
    ax.set_xlabel("x (the minimising player)")
    ax.set_ylabel("y (the maximising player)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    return ax
