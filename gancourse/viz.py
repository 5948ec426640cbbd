"""Plots for the course, in lecture order: densities with D(x), loss curves, 2D fields, image grids.

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


def _label(ax, xlabel: str, ylabel: str, title: str, legend_size: int | None = 8) -> None:
    """Label a panel's axes, title it, and add its legend (``legend_size`` None: no legend)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend_size:
        ax.legend(fontsize=legend_size)


def _finish(fig, title: str | None):
    """Title a figure of several panels, tidy its layout, return it."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _moving_average(values, k: int):
    """(values smoothed over k, the 1-based steps they belong to)."""
    v = np.asarray(values, dtype=float)
    k = max(1, min(k, len(v)))
    return np.convolve(v, np.ones(k) / k, mode="valid"), np.arange(k, len(v) + 1)


# --------------------------------------------------------------------------------------------
# Lectures 01-02: the 1D game (densities, D(x), snapshots, D*, JSD vs W1, gradients)
# --------------------------------------------------------------------------------------------


_REAL_COLOR, _FAKE_COLOR, _D_COLOR, _DSTAR_COLOR = "tab:blue", "tab:orange", "black", "tab:green"


def _new_axes(ax, figsize=(6.0, 3.6)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_game_1d(x, p_data, samples=None, d_values=None, *, p_g=None, d_star=None, ax=None, title=None,
                 bins: int = 80, xlim=None, d_label: str = "D(x)", p_g_label: str = r"$p_G$",
                 ylabel: str = "density  /  D(x)"):
    r"""One picture of the 1D game: :math:`p_\text{data}`, :math:`p_G` and the discriminator together.

    ``x`` (M,) grid; ``p_data`` (M,) density on it; ``samples`` (N,) or (N, 1) generated points, drawn as
    a density histogram of :math:`p_G` (or ``p_g`` (M,), a density curve); ``d_values`` (M,) the
    discriminator's :math:`D(x)` on the grid; ``d_star`` (M,) the optimal :math:`D^*`. Densities and
    D share the vertical axis (both live in [0, 1] here), with a dotted line at 1/2; ``p_g_label`` and
    ``ylabel`` rename the curve and the axis. Returns the axes. Lecture 01.
    """
    ax = _new_axes(ax)
    x = np.asarray(x, dtype=float).ravel()
    ax.plot(x, p_data, color=_REAL_COLOR, lw=2, label=r"$p_\mathrm{data}$")
    if samples is not None:
        s = np.asarray(samples, dtype=float).ravel()
        ax.hist(s, bins=bins, range=(x.min(), x.max()), density=True, color=_FAKE_COLOR, alpha=0.45,
                label=r"$p_G$ (histogram of G's samples)")
    if p_g is not None:
        ax.plot(x, p_g, color=_FAKE_COLOR, lw=2, label=p_g_label)
    if d_values is not None:
        ax.plot(x, d_values, color=_D_COLOR, lw=1.8, label=d_label)
    if d_star is not None:
        ax.plot(x, d_star, color=_DSTAR_COLOR, lw=1.8, ls="--", label=r"$D^*(x)$")
    ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    ax.set_xlim(xlim or (x.min(), x.max()))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("x")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    return ax



def _finish_strip(fig, axes, n_used: int, title: str | None):
    """Blank the unused panels of a strip of snapshots, add the title, tidy the layout; return the figure."""
    for ax in axes.ravel()[n_used:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

def plot_snapshots_1d(history, p_data_fn, steps=None, *, title: str | None = None, ncols: int = 4):
    """A row of :func:`plot_game_1d` panels, one per snapshot of a :class:`gancourse.train.History` of a 1D game.

    ``p_data_fn`` maps points (M,) to the data density (e.g. ``BimodalGaussian1D().pdf``); ``steps``
    picks snapshots (default: all). Returns the figure. Lecture 01.
    """
    steps = history.snapshot_steps if steps is None else list(steps)
    if history.grid is None:
        raise ValueError("this history has no grid: train with grid=toy.grid_1d() (train.RecordD) to record D(x).")
    x = np.asarray(history.grid).ravel()
    ncols = min(ncols, len(steps))
    nrows = int(np.ceil(len(steps) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows), sharey=True, squeeze=False)
    for ax, step in zip(axes.ravel(), steps):
        snap = history.snapshot(step)
        plot_game_1d(x, p_data_fn(x), snap.samples, snap.d_grid, ax=ax, title=f"after {step:,} G steps")
        if ax is not axes.ravel()[0]:
            ax.get_legend().remove()
            ax.set_ylabel("")
    return _finish_strip(fig, axes, len(steps), title)


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


# --------------------------------------------------------------------------------------------
# Lecture 03: image GANs over training (loss curves, D's outputs, gradient norms, sample grids)
# --------------------------------------------------------------------------------------------


def plot_training_curves(history, *, smooth: int = 10, title: str | None = None):
    r"""The course's loss-curve plot, three panels from a :class:`gancourse.train.History` (toy or image
    run): both losses; D's mean output on real and fake batches; the gradient norms of D and G (log scale).

    Faint lines are the per-step values, bold ones moving averages over ``smooth`` steps. For the
    logit losses the middle panel marks 1/2, where an undecided D sits, and the left one
    :math:`\log 4 \approx 1.386`, the D loss of an undecided D. Returns the figure. Lectures 01 and 03.
    """
    probability = history.d_output == "probability"
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.7))
    panels = (
        (axes[0], (("loss_d", "D loss", _REAL_COLOR), ("loss_g", "G loss", _FAKE_COLOR)), "loss",
         "Losses"),
        (axes[1], (("d_real", "D(x), real batch" if probability else "score on real", _REAL_COLOR),
                   ("d_fake", "D(G(z)), fake batch" if probability else "score on fake", _FAKE_COLOR)),
         "mean D(x)" if probability else "mean critic score", "What D says about each batch"),
        (axes[2], (("grad_norm_d", r"$\|\nabla_{\theta_D} L_D\|$", _REAL_COLOR),
                   ("grad_norm_g", r"$\|\nabla_{\theta_G} L_G\|$", _FAKE_COLOR)), "gradient norm",
         "Gradient norms"),
    )
    for ax, series, ylabel, panel_title in panels:
        for key, label, color in series:
            values = np.asarray(getattr(history, key), dtype=float)
            steps = np.arange(1, len(values) + 1)
            ax.plot(steps, values, color=color, alpha=0.25, lw=0.8)
            m, t = _moving_average(values, smooth)
            ax.plot(t, m, color=color, lw=2, label=label)
        ax.set_xlabel("generator step")
        ax.set_ylabel(ylabel)
        ax.set_title(panel_title)
    if probability:
        axes[0].axhline(np.log(4), color="gray", ls=":", lw=1, label=r"$\log 4$: D undecided")
        axes[1].axhline(0.5, color="gray", ls=":", lw=1, label="1/2: D undecided")
        axes[1].set_ylim(0, 1)
    axes[2].set_yscale("log")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle(title or f"Training records over {history.steps} generator steps")
    fig.tight_layout()
    return fig


def plot_samples_over_training(history, *, n: int = 8, rows: int = 6, title: str | None = None):
    """The generator's images from the same fixed z at several moments of training, one row each.

    ``rows`` sample grids are picked evenly from ``history.sample_steps`` (always the first and the
    last); each row shows the first ``n`` images. Returns the axes. Lecture 03.
    """
    if not history.samples:
        raise ValueError("the History holds no samples; train with sample_every set.")
    picks = np.unique(np.linspace(0, len(history.samples) - 1, min(rows, len(history.samples))).round().astype(int))
    images = torch.cat([history.samples[k][:n] for k in picks])  # (rows * n, C, H, W)
    labels = [f"step {history.sample_steps[k]:,}" for k in picks]
    _, ax = plt.subplots(figsize=(0.75 * n + 1.5, 0.75 * len(picks) + 0.8))
    return image_grid(images, nrow=n, ax=ax, row_labels=labels,
                      title=title or "The same z as training goes (rows: generator steps)")


def plot_interpolation(images, t, *, ax=None, title: str | None = None):
    """A row of images (S, C, H, W) generated along a path in latent space, labelled by ``t`` (S,). Lecture 03."""
    if ax is None:
        _, ax = plt.subplots(figsize=(0.8 * len(images) + 1.2, 1.9))
    image_grid(images, nrow=len(images), ax=ax, col_labels=[f"{v:.2f}" for v in t])
    ax.set_xlabel("t, from z_0 (t = 0) to z_1 (t = 1)")
    ax.set_title(title or "Walking a straight line in z")
    return ax


# --------------------------------------------------------------------------------------------
# Lectures 04-05: the 2D games (samples over the data, D or the critic as a field, G's gradients)
# --------------------------------------------------------------------------------------------


def plot_samples_2d(samples, centers=None, std: float | None = None, *, ax=None, title: str | None = None,
                    lim: float = 3.0, n_std: float = 3.0, max_points: int = 2500, label: str = "G's samples"):
    r"""Generated points (N, 2) over the modes of a 2D mixture.

    ``centers`` (M, 2) are marked with crosses and, with ``std``, circled at radius ``n_std`` std: the
    high-quality zone of :func:`gancourse.metrics.mode_coverage`. Returns the axes. Lecture 04.
    """
    ax = _new_axes(ax, figsize=(4.2, 4.2))
    x = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
    x = x[:max_points]
    ax.scatter(x[:, 0], x[:, 1], s=3, alpha=0.35, color=_FAKE_COLOR, label=label, rasterized=True)
    if centers is not None:
        c = np.asarray(centers)
        ax.scatter(c[:, 0], c[:, 1], marker="x", s=40, color=_REAL_COLOR, label="data modes", zorder=3)
        if std is not None:
            for cx, cy in c:
                ax.add_patch(plt.Circle((cx, cy), n_std * std, fill=False, ls="--", lw=0.8, color=_REAL_COLOR))
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=7, markerscale=2, framealpha=0.85)
    return ax


def plot_field_2d(grid, values, samples=None, centers=None, *, ax=None, title: str | None = None,
                  label: str = "D(x)", cmap: str = "RdBu_r", colorbar: bool = True):
    r"""A scalar field on a square grid (D(x), or a critic's f(x)) as filled contours, with samples on top.

    ``grid`` (n*n, 2) from :func:`gancourse.toy.grid_2d` and ``values`` (n*n,) on it; ``samples`` (N, 2)
    and ``centers`` (M, 2) are drawn over it. Returns the axes. Lectures 04-05.
    """
    ax = _new_axes(ax, figsize=(4.8, 4.2))
    grid = np.asarray(grid)
    n = int(round(np.sqrt(len(grid))))
    ticks = np.unique(grid[:, 0])
    cs = ax.contourf(ticks, ticks, np.asarray(values).reshape(n, n), levels=20, cmap=cmap)
    if colorbar:
        ax.figure.colorbar(cs, ax=ax, label=label, fraction=0.046)
    if samples is not None:
        x = np.asarray(samples)[:1000]
        ax.scatter(x[:, 0], x[:, 1], s=2, color="k", alpha=0.5, label="G's samples")
    if centers is not None:
        c = np.asarray(centers)
        ax.scatter(c[:, 0], c[:, 1], marker="x", s=40, color="lime", label="data modes")
    ax.set_xlim(ticks[0], ticks[-1])  # the field's square; samples outside it are not drawn
    ax.set_ylim(ticks[0], ticks[-1])
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title, fontsize=10)
    if samples is not None or centers is not None:
        ax.legend(loc="upper right", fontsize=7, markerscale=2, framealpha=0.85)
    return ax


def generator_gradient_field(D, samples, loss: str = "nonsaturating") -> np.ndarray:
    r"""Where the generator loss pushes each sample: :math:`-\nabla_x L_G(D(x))` at the points (N, 2).

    For the non-saturating loss the push on sample :math:`x` is :math:`(1 - D(x))\nabla_x s(x)`; for the
    Wasserstein loss it is :math:`\nabla_x f(x)`. The gradient is of the *sum* over samples, so each
    arrow is one sample's own push. Returns (N, 2). Lectures 04-05.
    """
    from gancourse.losses import loss_pair

    _, g_loss_fn = loss_pair(loss)
    x = torch.as_tensor(np.asarray(samples), dtype=torch.float32).requires_grad_(True)
    (grad,) = torch.autograd.grad(g_loss_fn(D(x)) * len(x), x)  # mean -> sum: one sample's gradient each
    return (-grad).numpy()


def plot_generator_gradients_2d(D, samples, centers=None, *, loss: str = "nonsaturating", ax=None,
                                title: str | None = None, max_arrows: int = 300):
    """Arrows of :func:`generator_gradient_field` on generated points: the picture of what D rewards. Lecture 04."""
    ax = _new_axes(ax, figsize=(4.2, 4.2))
    x = np.asarray(samples)[:max_arrows]
    push = generator_gradient_field(D, x, loss)
    ax.quiver(x[:, 0], x[:, 1], push[:, 0], push[:, 1], np.linalg.norm(push, axis=1), cmap="viridis",
              angles="xy", width=0.004)
    ax.scatter(x[:, 0], x[:, 1], s=3, color=_FAKE_COLOR, label="G's samples")
    if centers is not None:
        c = np.asarray(centers)
        ax.scatter(c[:, 0], c[:, 1], marker="x", s=40, color=_REAL_COLOR, label="data modes")
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title or "Where the generator's loss pushes its samples", fontsize=10)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.85)
    return ax


def plot_snapshots_2d(history, centers=None, std: float | None = None, steps=None, *, modes=None,
                      title: str | None = None, ncols: int = 5, lim: float = 3.0):
    """A strip of :func:`plot_samples_2d` panels, one per snapshot of a :class:`gancourse.train.History` of a 2D game.

    ``modes`` (optional, aligned with ``history.snapshot_steps``) adds the modes covered to each
    panel's title. Returns the figure. Lecture 04.
    """
    steps = history.snapshot_steps if steps is None else list(steps)
    ncols = min(ncols, len(steps))
    nrows = int(np.ceil(len(steps) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.9 * ncols, 3.0 * nrows), squeeze=False)
    for ax, step in zip(axes.ravel(), steps):
        extra = ""
        if modes is not None:
            extra = f": {modes[history.snapshot_steps.index(step)]} modes"
        plot_samples_2d(history.snapshot(step).samples, centers, std, ax=ax, lim=lim,
                        title=f"after {step:,} G steps{extra}")
        if ax is not axes.ravel()[0]:
            ax.get_legend().remove()
            ax.set_ylabel("")
    return _finish_strip(fig, axes, len(steps), title)


def plot_modes_over_training(curves: dict, n_modes: int = 8, *, ax=None,
                             title: str = "Modes covered during training"):
    """``{label: (steps, modes)}`` as step curves, with the number of modes of the data dashed. Lecture 04."""
    ax = _new_axes(ax, figsize=(6.0, 3.2))
    for label, (steps, modes) in curves.items():
        ax.plot(steps, modes, marker="o", ms=3, lw=1.4, label=label)
    ax.axhline(n_modes, color="gray", ls="--", lw=1, label=f"all {n_modes} modes")
    ax.set_ylim(-0.3, n_modes + 0.8)
    ax.set_xlabel("generator steps")
    ax.set_ylabel("modes covered")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return ax


def plot_weight_histogram(module, c: float | None = None, *, ax=None, title: str = "The critic's weights",
                          bins: int = 60):
    """A histogram of every weight of ``module`` (biases included), with the clipping bounds +-c marked. Lecture 05."""
    ax = _new_axes(ax, figsize=(5.0, 3.0))
    w = torch.cat([p.detach().flatten().cpu() for p in module.parameters()]).numpy()
    ax.hist(w, bins=bins, color="tab:purple", alpha=0.8, label=f"{len(w):,} weights")
    if c is not None:
        for s in (-c, c):
            ax.axvline(s, color="k", ls="--", lw=1)
        ax.axvline(np.nan, color="k", ls="--", lw=1, label=f"clipping bounds $\\pm c$ = $\\pm${c}")
    ax.set_xlabel("weight value")
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


# --------------------------------------------------------------------------------------------
# Lecture 06: spectral normalization
# --------------------------------------------------------------------------------------------


def plot_power_iteration(estimates: dict, exact: dict, *, title: str = "Power iteration on random matrices"):
    r"""Two panels: :math:`\hat\sigma` after each power-iteration step against the exact :math:`\sigma`
    (dashed), and the relative error :math:`(\sigma - \hat\sigma)/\sigma` on a log scale.

    ``estimates`` maps a label to the sequence of estimates (index 0: before the first step);
    ``exact`` maps the same labels to ``torch.linalg.matrix_norm(W, ord=2)``. Returns the figure. Lecture 06.
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
    for i, (label, values) in enumerate(estimates.items()):
        color = f"C{i}"
        values = np.asarray(values, dtype=float)
        steps = np.arange(len(values))
        a1.plot(steps, values, color=color, marker=".", label=f"{label}: estimate")
        a1.axhline(exact[label], color=color, ls="--", lw=1, label=f"{label}: SVD, {exact[label]:.3f}")
        err = np.clip((exact[label] - values) / exact[label], 1e-16, None)
        a2.semilogy(steps, err, color=color, marker=".", label=label)
    _label(a1, "power-iteration steps", r"$\hat\sigma = u^\top W v$", "The estimate climbs to the top singular value", 7)
    _label(a2, "power-iteration steps", r"relative error $(\sigma - \hat\sigma)/\sigma$",
           "The error shrinks geometrically", 7)
    return _finish(fig, title)


def plot_normalised_sigma(curves: dict, *, ax=None, xlabel: str = "forward passes (one power-iteration step each)",
                          title: str = "Spectral norm of the normalised weight"):
    r"""The exact spectral norm of :math:`W/\hat\sigma` over time, one curve per label, with the target 1 dotted.

    Returns the axes. Lecture 06.
    """
    ax = _new_axes(ax)
    for label, values in curves.items():
        ax.plot(np.arange(len(values)), values, marker=".", label=label)
    ax.axhline(1.0, color="gray", ls=":", lw=1, label="target: 1")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"$\sigma(W / \hat\sigma)$ (exact, by SVD)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_lipschitz_check(norms: dict, bound: float, *, ax=None, bins: int = 40,
                         title: str = "Measured gradient norms against the Lipschitz bound"):
    r"""Histograms of measured :math:`\lVert\nabla_x D(x)\rVert_2`, one per set of points, and the bound as a vertical line.

    ``norms`` maps a label (e.g. "real images") to a (B,) tensor from
    :func:`gancourse.spectral.gradient_norms`. Log-scaled x axis. Returns the axes. Lecture 06.
    """
    ax = _new_axes(ax, figsize=(7.0, 3.6))
    values = {k: np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=float) for k, v in norms.items()}
    lo = min(v.min() for v in values.values())
    edges = np.geomspace(max(lo, 1e-8) * 0.8, bound * 1.5, bins)
    for label, v in values.items():
        ax.hist(v, bins=edges, alpha=0.55, label=f"{label} (max {v.max():.3g})")
    ax.axvline(bound, color="black", ls="--", label=f"product of layer bounds: {bound:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel(r"$\|\nabla_x D(x)\|_2$")
    ax.set_ylabel("points")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_run_comparison(histories: dict, *, smooth: int = 10, title: str = "Two runs side by side"):
    r"""Compare image-GAN runs (:class:`gancourse.train.History`): D's output on real (solid) and fake
    (dashed) batches, and the norm of D's gradient (log scale), moving averages over ``smooth`` steps.

    ``histories`` maps a label to a History. Returns the figure. Lecture 06.
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
    for i, (label, h) in enumerate(histories.items()):
        color = f"C{i}"
        unit = "D" if h.d_output == "probability" else "score"
        for key, ls, what in (("d_real", "-", "real"), ("d_fake", "--", "fake")):
            m, t = _moving_average(getattr(h, key), smooth)
            a1.plot(t, m, color=color, ls=ls, label=f"{label}: {unit} on {what}")
        m, t = _moving_average(h.grad_norm_d, smooth)
        a2.semilogy(t, m, color=color, label=label)
    _label(a1, "generator step", "mean output of D (probability or score)", "What D says about real and fake batches", 7)
    _label(a2, "generator step", r"$\|\nabla_{\theta_D} L_D\|$", "Norm of the discriminator's gradient")
    return _finish(fig, title)


# --------------------------------------------------------------------------------------------
# Lecture 07: conditional GANs
# --------------------------------------------------------------------------------------------


def plot_label_fidelity(per_class: dict, *, chance: float | None = None, ax=None,
                        title: str = "Label fidelity per class"):
    r"""Grouped bars: for each class, the share of samples the classifier assigns to the requested class.

    ``per_class`` maps a label (a model, a stage of training) to a (K,) tensor of accuracies, as
    returned in :func:`gancourse.conditional.label_fidelity`'s ``per_class``; ``chance`` (1/K)
    is drawn as a dotted line. Returns the axes. Lecture 07.
    """
    ax = _new_axes(ax, figsize=(8.0, 3.4))
    n = len(per_class)
    width = 0.8 / n
    for i, (label, acc) in enumerate(per_class.items()):
        acc = np.asarray(acc, dtype=float)
        ax.bar(np.arange(len(acc)) + (i - (n - 1) / 2) * width, acc, width, label=f"{label} (mean {acc.mean():.2f})")
    if chance is not None:
        ax.axhline(chance, color="gray", ls=":", label=f"chance: {chance:.2f}")
    k = len(next(iter(per_class.values())))
    ax.set_xticks(np.arange(k))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("requested class y")
    ax.set_ylabel("share classified as y")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    return ax


def plot_confusion(confusion, classes=None, *, ax=None, title: str = "Requested against recognised class"):
    """A confusion matrix of counts (K, K) (rows: the requested class, columns: the classifier's), shown as row shares.

    Returns the axes. Lecture 07.
    """
    ax = _new_axes(ax, figsize=(4.6, 4.0))
    c = np.asarray(confusion.cpu() if isinstance(confusion, torch.Tensor) else confusion, dtype=float)
    shares = c / np.clip(c.sum(axis=1, keepdims=True), 1, None)
    im = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    k = len(c)
    classes = list(classes) if classes is not None else [str(i) for i in range(k)]
    ax.set_xticks(range(k), classes)
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("class predicted by the classifier")
    ax.set_ylabel("class requested from G")
    ax.set_title(title)
    plt.colorbar(im, ax=ax, fraction=0.046, label="share of the row")
    return ax


# --------------------------------------------------------------------------------------------
# Lecture 08: StyleGAN (AdaIN statistics, noise, style mixing, truncation, latent paths)
# --------------------------------------------------------------------------------------------


def plot_adain_statistics(x, y, scale, bias, *, sample: int = 0, title: str | None = None):
    """Per-channel mean and std of one sample's feature map before (``x``) and after (``y``) AdaIN.

    ``x``, ``y`` (B, C, H, W); ``scale``, ``bias`` (B, C), the style's targets :math:`y_s, y_b`, drawn
    as crosses. Returns the figure. Lecture 08.
    """
    def stats(t):
        t = t.detach().double()[sample]  # (C, H, W)
        return t.mean(dim=(1, 2)).numpy(), t.std(dim=(1, 2), unbiased=False).numpy()

    (m_x, s_x), (m_y, s_y) = stats(x), stats(y)
    channels = np.arange(len(m_x))
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.2))
    targets = (bias.detach()[sample].numpy(), scale.detach()[sample].abs().numpy())
    for ax, before, after, target, what, sym in zip(axes, (m_x, s_x), (m_y, s_y), targets,
                                                    ("mean", "standard deviation"), ("$y_b$", "$|y_s|$")):
        ax.bar(channels - 0.2, before, width=0.4, color="tab:gray", label="before AdaIN")
        ax.bar(channels + 0.2, after, width=0.4, color="tab:blue", label="after AdaIN")
        ax.scatter(channels + 0.2, target, marker="x", s=60, color="tab:red", zorder=3, label=f"style {sym}")
        ax.set_xlabel("channel")
        ax.set_ylabel(f"{what} over H x W")
        ax.set_xticks(channels)
        ax.set_title(f"Per-channel {what}")
        ax.axhline(0, color="k", lw=0.6)
    axes[0].legend(fontsize=8)
    fig.suptitle(title or f"AdaIN on sample {sample}: each channel takes the style's statistics")
    fig.tight_layout()
    return fig


@torch.no_grad()
def plot_noise_variation(G, z, n_draws: int = 6, n_std: int = 64, *, title: str | None = None):
    """Rows: one latent each; columns: the same ``w`` with ``n_draws`` fresh noise draws, then the per-pixel std.

    The std map is over ``n_std`` noise draws of the same ``w``: where noise changes the picture
    (stochastic detail) and where it does not (the structure ``w`` fixes). ``G`` is a
    :class:`gancourse.stylegan.StyleGenerator`; ``z`` (R, Z). Returns the figure. Lecture 08.
    """
    was_training = G.training
    G.eval()
    try:
        rows = []
        for k in range(len(z)):
            zk = z[k: k + 1].expand(n_std, -1)  # (n_std, Z): one latent, many noise draws
            rows.append(G(zk, noise_mode="random").cpu())  # (n_std, C, H, W)
    finally:
        G.train(was_training)
    fig, axes = plt.subplots(len(z), n_draws + 1, figsize=(1.1 * (n_draws + 1) + 0.6, 1.15 * len(z) + 0.6),
                             squeeze=False)
    for r, images in enumerate(rows):
        for c in range(n_draws):
            axes[r, c].imshow(_to_numpy_images(images[c: c + 1])[0].squeeze(-1), cmap="gray", vmin=0, vmax=1)
        std = images.std(dim=0).mean(dim=0).numpy()  # (H, W): per-pixel std over the draws
        im = axes[r, n_draws].imshow(std, cmap="magma", vmin=0)
        fig.colorbar(im, ax=axes[r, n_draws], fraction=0.046, pad=0.04)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for c in range(n_draws):
        axes[0, c].set_title(f"noise {c + 1}", fontsize=8)
    axes[0, n_draws].set_title(f"pixel std\n({n_std} draws)", fontsize=8)
    for r in range(len(z)):
        axes[r, 0].set_ylabel(f"z{r + 1}", fontsize=8)
    fig.suptitle(title or "Same w, fresh noise: what the noise changes")
    fig.tight_layout()
    return fig


@torch.no_grad()
def plot_style_mixing(G, z_a, z_b, crossover: int, *, ax=None, title: str | None = None, classify=None):
    """A style-mixing grid: sources A down the left, sources B along the top, mixes inside.

    Cell (i, j) takes blocks ``0 .. crossover-1`` (the coarse resolutions) from ``z_a[i]`` and the
    rest from ``z_b[j]``, with fixed noise (:meth:`gancourse.stylegan.StyleGenerator.mix`). The
    top-left corner is left black. With ``classify`` (images -> classes) every image carries the
    class it reads, green in a mix that reads as its A, red otherwise. Returns the axes. Lecture 08.
    """
    was_training = G.training
    G.eval()
    try:
        a, b = G(z_a, noise_mode="const").cpu(), G(z_b, noise_mode="const").cpu()  # (R, C, H, W), (K, C, H, W)
        r, k = len(z_a), len(z_b)
        mixes = G.mix(z_a.repeat_interleave(k, dim=0), z_b.repeat(r, 1), crossover).cpu()  # (R*K, C, H, W)
    finally:
        G.train(was_training)
    blank = -torch.ones_like(a[:1])
    cells = [blank, b] + [torch.cat([a[i: i + 1], mixes[i * k: (i + 1) * k]]) for i in range(r)]
    grid = torch.cat(cells)  # ((R + 1) * (K + 1), C, H, W)
    sides = G.sides
    span = lambda a, b: "none" if a > b else (f"{sides[a]}" if a == b else f"{sides[a]}-{sides[b]}")  # noqa: E731
    coarse, fine = span(0, crossover - 1), span(crossover, len(sides) - 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.8 * (k + 1) + 1.2, 0.8 * (r + 1) + 1.0))
    ax = image_grid(grid, nrow=k + 1, ax=ax, row_labels=["B"] + [f"A{i + 1}" for i in range(r)],
                    col_labels=["A"] + [f"B{j + 1}" for j in range(k)],
                    title=title or f"Style mixing: blocks {coarse} px from A (rows), {fine} px from B (columns)")
    if classify is not None:
        y = torch.as_tensor(classify(grid)).view(r + 1, k + 1).tolist()  # y[0][0] is the blank corner
        side = grid.shape[-1] + 1  # one cell and its padding, in pixels
        for i, j in ((i, j) for i in range(r + 1) for j in range(k + 1) if i or j):
            colour = "white" if not (i and j) else ("lime" if y[i][j] == y[i][0] else "red")
            ax.text(j * side + 2, i * side + 2, str(y[i][j]), color=colour, fontsize=7, va="top", ha="left")
    return ax


@torch.no_grad()
def truncated_samples(G, z, psi: float, noise_mode: str = "const") -> torch.Tensor:
    """Images (B, C, H, W) of ``G`` at truncation ``psi`` (evaluation mode, fixed noise), on the CPU. Lecture 08."""
    was_training = G.training
    G.eval()
    try:
        return G(z, truncation_psi=psi, noise_mode=noise_mode).cpu()
    finally:
        G.train(was_training)


def plot_truncation(G, z, psi: float, *, nrow: int = 8, ax=None, title: str | None = None):
    """The samples of fixed latents ``z`` at one truncation :math:`\\psi` (the widget's picture). Lecture 08."""
    images = truncated_samples(G, z, psi)
    return image_grid(images, nrow=nrow, ax=ax,
                      title=title or f"Truncation ψ = {psi:.2f}: w' = w̄ + ψ (w - w̄), same z in every cell")


def plot_truncation_sweep(G, z, psis, *, ax=None, title: str | None = None):
    """Rows: truncation values ``psis``; columns: the same latents ``z``. Lecture 08."""
    images = torch.cat([truncated_samples(G, z, psi) for psi in psis])  # (len(psis) * B, C, H, W)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.75 * len(z) + 1.5, 0.75 * len(psis) + 0.9))
    return image_grid(images, nrow=len(z), ax=ax, row_labels=[f"ψ = {psi:.2f}" for psi in psis],
                      title=title or "The truncation trick: each column one z, each row one ψ")


def plot_truncation_tradeoff(psis, fidelity, diversity, *, fidelity_label: str = "fidelity",
                             diversity_label: str = "diversity", title: str | None = None):
    """Fidelity and diversity against :math:`\\psi`, on two y axes. Returns the figure. Lecture 08."""
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    ax.plot(psis, fidelity, "o-", color="tab:blue", label=fidelity_label)
    ax.set_xlabel("truncation ψ (0: every sample is the mean w̄, 1: no truncation)")
    ax.set_ylabel(fidelity_label, color="tab:blue")
    twin = ax.twinx()
    twin.plot(psis, diversity, "s--", color="tab:orange", label=diversity_label)
    twin.set_ylabel(diversity_label, color="tab:orange")
    lines = ax.get_lines() + twin.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="center right")
    ax.set_title(title or "Truncation trades diversity for fidelity")
    fig.tight_layout()
    return fig


@torch.no_grad()
def plot_latent_paths(G, z1, z2, steps: int = 9, *, ax=None, title: str | None = None):
    """Two rows between the same endpoints: spherical interpolation in Z (top) and linear in W (bottom).

    ``z1``, ``z2`` (1, Z); fixed noise. Returns the axes. Lecture 08.
    """
    from gancourse.latent import slerp

    was_training = G.training
    G.eval()
    try:
        t = torch.linspace(0, 1, steps)
        zs = slerp(z1.expand(steps, -1), z2.expand(steps, -1), t)  # (S, Z)
        in_z = G(zs, noise_mode="const")
        w1, w2 = G.w_from_z(z1), G.w_from_z(z2)
        in_w = G.synthesize(G.broadcast(torch.lerp(w1, w2, t[:, None])), noise_mode="const")  # (S, C, H, W)
    finally:
        G.train(was_training)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.8 * steps + 1.8, 2.9))
    return image_grid(torch.cat([in_z, in_w]).cpu(), nrow=steps, ax=ax, row_labels=["slerp in Z", "lerp in W"],
                      col_labels=[f"{v:.2f}" for v in t.tolist()],
                      title=title or "From one latent to another: the same endpoints, two paths")


# --------------------------------------------------------------------------------------------
# Lecture 09: FID and KID against the sample count, precision against recall
# --------------------------------------------------------------------------------------------


def plot_metric_vs_samples(ns, runs: dict, *, fid_inf: float | None = None,
                           title: str = "Real against real: the estimate depends on the sample count"):
    """One panel per metric: the mean over repeats (with the spread) of a real-vs-real estimate against n.

    ``ns`` (L,) sample counts; ``runs`` maps a metric's name ("FID", "KID") to an array (R, L) of R
    repeats at each n. ``fid_inf``: the extrapolation of FID to n = infinity, drawn dashed. Returns
    the figure. Lecture 09.
    """
    ns = np.asarray(ns)
    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 3.6), squeeze=False)
    for ax, (label, values) in zip(axes[0], runs.items()):
        values = np.asarray(values, dtype=np.float64)
        mean, std = values.mean(axis=0), values.std(axis=0)
        ax.fill_between(ns, mean - std, mean + std, alpha=0.25, color="tab:blue", label="mean ± std over splits")
        ax.plot(ns, mean, "o-", color="tab:blue", label=f"{label}(real, real)")
        ax.axhline(0, color="black", lw=0.8, label="the true value, 0")
        if label == "FID" and fid_inf is not None:
            ax.axhline(fid_inf, color="tab:red", ls="--", label=f"extrapolated to n = ∞: {fid_inf:.1f}")
        ax.set_xlabel("samples n in each set")
        ax.set_ylabel(label)
        ax.set_title(f"{label} of two disjoint sets of real digits")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_precision_recall(scores: dict, *, title: str = "Quality (precision) against coverage (recall)", ax=None):
    """Each entry of ``scores`` (name -> an object with ``precision``, ``recall`` and ``fid``) as a labelled point.

    The ideal generator sits at the top right corner (1, 1). Returns the axes. Lecture 09.
    """
    ax = _new_axes(ax, figsize=(5.4, 4.6))
    for i, (name, s) in enumerate(scores.items()):
        ax.scatter(s.recall, s.precision, s=60, color=f"C{i}", label=f"{name} (FID {s.fid:.0f})", zorder=3)
        ax.annotate(name, (s.recall, s.precision), textcoords="offset points", xytext=(6, 4), fontsize=9)
    ax.plot([1], [1], marker="*", ms=14, color="gold", markeredgecolor="black", ls="none", label="ideal (1, 1)")
    ax.set_xlim(-0.02, 1.08)
    ax.set_ylim(-0.02, 1.08)
    ax.set_xlabel("recall: share of real samples the generator covers")
    ax.set_ylabel("precision: share of samples on the real manifold")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return ax


# --------------------------------------------------------------------------------------------
# Lectures 10-11: translations side by side, the cycle error, a diagnosed run
# --------------------------------------------------------------------------------------------


def plot_translation_rows(rows: dict, n: int = 8, *, title: str | None = None):
    """One row of ``n`` images per entry of ``rows`` (label -> images (B, C, H, W) in [-1, 1]), labelled. Lecture 10."""
    import torch

    images = torch.cat([torch.as_tensor(v[:n]).detach().float().cpu() for v in rows.values()])
    fig, ax = plt.subplots(figsize=(0.55 * n + 2.2, 0.6 * len(rows) + 0.8))
    image_grid(images, nrow=n, ax=ax, row_labels=list(rows), title=title)
    ax.set_xlabel("examples (same inputs in every row)")
    return fig


def plot_cycle_error(steps, errors, *, ax=None, title: str = "CycleGAN: cycle reconstruction error over training"):
    """The cycle error (mean |F(G(a)) - a| + mean |G(F(b)) - b| on held images) against the step. Lecture 10."""
    ax = _new_axes(ax, (5.5, 3.2))
    ax.plot(steps, errors, marker="o")
    ax.set_xlabel("training step")
    ax.set_ylabel("cycle error (L1, both cycles)")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    return ax


def plot_diagnosed_run(history, diagnosis, *, name: str = "", smooth: int = 10, axes=None):
    """A toy run's losses and the generator's gradient norm, with the steps the diagnosis read shaded. Lecture 11."""
    from gancourse.diagnose import curves

    c = curves(history)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9.0, 2.8))
    for key, colour in (("loss_d", _D_COLOR), ("loss_g", _FAKE_COLOR)):
        values, steps = _moving_average(c[key], smooth)
        axes[0].plot(steps, values, color=colour, label=key)
    axes[0].axhline(2 * np.log(2), color="grey", ls=":", label="2 log 2 (D = 1/2)")
    if c["grad_norm_g"] is not None:
        values, steps = _moving_average(c["grad_norm_g"], smooth)
        axes[1].semilogy(steps, np.maximum(values, 1e-12), color="tab:purple")
    for f in diagnosis.findings:
        for ax in axes:
            ax.axvspan(f.steps[0], f.steps[1], color="tab:red", alpha=0.12)
    verdict = diagnosis.primary.replace("_", " ")
    axes[0].set_title(f"{name}: losses (diagnosis: {verdict})")
    axes[0].set_xlabel("generator step")
    axes[0].set_ylabel("loss")
    axes[0].legend(fontsize=7)
    axes[1].set_title(f"{name}: generator gradient norm")
    axes[1].set_xlabel("generator step")
    axes[1].set_ylabel("||grad G|| (log scale)")
    return axes
