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
