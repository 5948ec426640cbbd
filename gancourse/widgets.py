r"""Interactive figures: ipywidgets front ends over the plain drawing functions of :mod:`gancourse.viz`.

Each widget holds its own matplotlib figure (not pyplot's, so nothing is drawn twice in a notebook)
and shows it as a PNG in an ``Image`` widget: setting a slider's ``value``, in a browser or from
Python, redraws the picture and updates the readouts, so tests drive the widgets headless.
``Play`` buttons animate through ``jslink`` in the browser, and the slider they move drives the
redraw through ``observe`` on the Python side.

- :class:`MinimaxDance` (lecture 01): scrub through the snapshots of a toy GAN run, watching
  :math:`p_G` slide onto :math:`p_\text{data}` while :math:`D(x)` flattens to 1/2.
- :class:`OptimalDiscriminatorExplorer` (lecture 02): move :math:`p_G` and watch
  :math:`D^* = p_\text{data} / (p_\text{data} + p_G)` and :math:`\mathrm{JSD}` follow.

Lectures 01, 02 (and later 05, 08).
"""

from __future__ import annotations

import io
import math

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from gancourse import divergences, viz


def _png(fig: Figure, dpi: int = 90) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class _FigureWidget:
    """A figure shown as an ``Image`` widget; subclasses draw on ``self.ax`` in ``_draw``."""

    def __init__(self, figsize):
        self.fig = Figure(figsize=figsize, layout="tight")
        self.ax = self.fig.subplots()
        self.image = widgets.Image(format="png")
        self.widget = None  # the box a notebook displays, built by the subclass

    def redraw(self) -> None:
        self.ax.clear()
        self._draw()
        self.image.value = _png(self.fig)

    def _draw(self) -> None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


class MinimaxDance(_FigureWidget):
    r"""A Play button and a slider over the snapshots of a :class:`gancourse.train.History` of a 1D game.

    Each frame draws :math:`p_\text{data}`, the histogram of G's samples and :math:`D(x)` at one
    recorded step (:func:`gancourse.viz.plot_game_1d`). ``history`` needs a grid (train with
    ``grid=toy.grid_1d()``); ``p_data_fn`` maps points (M,) to densities (M,). Attributes a test can
    read: ``slider``, ``play``, ``label``, ``image``, ``step`` (the step on show). Lecture 01.
    """

    def __init__(self, history, p_data_fn, *, interval_ms: int = 700, figsize=(7.0, 3.6)):
        if history.grid is None or not history.snapshots:
            raise ValueError("MinimaxDance needs snapshots with D on a grid: train with grid=toy.grid_1d() "
                             "and snapshot_steps=(...).")
        super().__init__(figsize)
        self.history = history
        self.x = np.asarray(history.grid).ravel()  # (M,)
        self.p_data = np.asarray(p_data_fn(self.x), dtype=float)  # (M,)
        last = len(history.snapshots) - 1
        self.slider = widgets.IntSlider(value=0, min=0, max=last, description="snapshot", readout=False)
        self.play = widgets.Play(value=0, min=0, max=last, interval=interval_ms, description="play")
        self.link = widgets.jslink((self.play, "value"), (self.slider, "value"))  # animates in the browser
        self.label = widgets.Label()
        self.slider.observe(lambda change: self.redraw(), names="value")  # the Python side redraws
        self.widget = widgets.VBox([widgets.HBox([self.play, self.slider, self.label]), self.image])
        self.redraw()

    @property
    def step(self) -> int:
        """The generator step of the snapshot on show."""
        return self.history.snapshots[self.slider.value].step

    def _draw(self) -> None:
        snap = self.history.snapshots[self.slider.value]
        d_label = "D(x)" if self.history.probabilities else "critic f(x)"
        viz.plot_game_1d(self.x, self.p_data, snap.samples, snap.d_grid, ax=self.ax, d_label=d_label,
                         title=f"p_G and D(x) after {snap.step:,} generator steps")
        mid = np.abs(np.abs(self.x) - 2) < 0.75  # near the modes of the bimodal toy
        gap = float(np.max(np.abs(snap.d_grid[mid] - 0.5))) if snap.d_grid is not None and mid.any() else float("nan")
        self.label.value = f"step {snap.step:,}: max |D(x) - 1/2| near the modes = {gap:.2f}"


class OptimalDiscriminatorExplorer(_FigureWidget):
    r"""A slider that shifts :math:`p_G` against a fixed :math:`p_\text{data}` and redraws :math:`D^*`.

    :math:`p_G(x) = p_\text{data}(x - \theta)`: at :math:`\theta = 0` the generator is perfect,
    :math:`D^* = 1/2` and JSD = 0; as :math:`|\theta|` grows the supports separate, :math:`D^*` turns
    into a step between 0 and 1 and JSD climbs towards :math:`\log 2`. The readout gives JSD and
    :math:`C(G) = 2\,\mathrm{JSD} - \log 4`, computed on the grid with :mod:`gancourse.divergences`.
    Attributes a test can read: ``slider``, ``readout``, ``image``, ``jsd``, ``value``. Lecture 02.
    """

    def __init__(self, p_data_fn=None, *, theta: float = 1.0, theta_max: float = 2.0,
                 x=None, figsize=(7.0, 3.6)):
        from gancourse.data import BimodalGaussian1D

        super().__init__(figsize)
        self.p_data_fn = BimodalGaussian1D().pdf if p_data_fn is None else p_data_fn
        self.x = np.linspace(-7, 7, 1401) if x is None else np.asarray(x, dtype=float)  # (M,)
        self.p_data = np.asarray(self.p_data_fn(self.x), dtype=float)
        self.slider = widgets.FloatSlider(value=theta, min=-theta_max, max=theta_max, step=0.05,
                                          description="shift θ", continuous_update=False)
        self.readout = widgets.Label()
        self.slider.observe(lambda change: self.redraw(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.slider, self.readout]), self.image])
        self.jsd = self.value = float("nan")
        self.redraw()

    def _draw(self) -> None:
        theta = self.slider.value
        p_g = np.asarray(self.p_data_fn(self.x - theta), dtype=float)  # p_G(x) = p_data(x - theta)
        d_star = divergences.optimal_discriminator(self.p_data, p_g)
        self.jsd = divergences.jsd(self.p_data, p_g)  # the grid's cells as bins
        self.value = 2 * self.jsd - math.log(4)
        viz.plot_game_1d(self.x, self.p_data, p_g=p_g, d_star=d_star, ax=self.ax, xlim=(-5, 5),
                         title=f"p_G shifted by θ = {theta:+.2f}: JSD = {self.jsd:.3f} nats")
        self.readout.value = (f"JSD = {self.jsd:.3f} nats (log 2 = {math.log(2):.3f}),  "
                              f"C(G) = 2 JSD - log 4 = {self.value:.3f}")


class TruncationExplorer(_FigureWidget):
    r"""A slider for StyleGAN's truncation :math:`\psi` from 0 to 1 over a fixed set of latents.

    Each move redraws the samples of the same ``z`` at :math:`w' = \bar w + \psi (w - \bar w)`
    (:func:`gancourse.viz.plot_truncation`): at :math:`\psi = 0` every cell shows the "average"
    image, at 1 the untruncated samples. The readout gives the mean distance
    :math:`\lVert w' - \bar w \rVert` of the latents on show. Attributes a test can read: ``slider``,
    ``readout``, ``image``, ``distance``. Lecture 08.
    """

    def __init__(self, G, z=None, *, n: int = 16, psi: float = 0.7, nrow: int = 8, seed: int = 0,
                 figsize=(7.0, 2.4)):
        import torch

        super().__init__(figsize)
        self.G, self.nrow = G, nrow
        self.z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)) if z is None else z
        self.z = self.z.to(G.w_avg.device)
        self.slider = widgets.FloatSlider(value=psi, min=0.0, max=1.0, step=0.05, description="ψ",
                                          continuous_update=False)
        self.readout = widgets.Label()
        self.distance = float("nan")
        self.slider.observe(lambda change: self.redraw(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.slider, self.readout]), self.image])
        self.redraw()

    def _draw(self) -> None:
        import torch

        psi = self.slider.value
        viz.plot_truncation(self.G, self.z, psi, nrow=self.nrow, ax=self.ax)
        was_training = self.G.training
        self.G.eval()
        try:
            with torch.no_grad():
                w = self.G.w_from_z(self.z, truncation_psi=psi)  # (B, W)
        finally:
            self.G.train(was_training)
        self.distance = float((w - self.G.w_avg).norm(dim=1).mean())
        self.readout.value = f"ψ = {psi:.2f}: mean ‖w' − w̄‖ = {self.distance:.3f}"
