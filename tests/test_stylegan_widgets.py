"""Lecture 08's truncation slider and figures, driven headless: set the slider, read the picture and readout."""

import matplotlib
import pytest
import torch

from gancourse import viz
from gancourse.stylegan import StyleGenerator
from gancourse.widgets import TruncationExplorer

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    G = StyleGenerator(z_dim=8, w_dim=8, width=4, max_width=8, mapping_layers=2).train()
    with torch.no_grad():
        G(torch.randn(16, 8))  # one training call, so that w_avg is no longer zero
    return G.eval()


def test_truncation_explorer_redraws_and_reports_the_distance_to_the_mean(G):
    explorer = TruncationExplorer(G, n=8, psi=1.0, nrow=4)
    assert explorer.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    explorer.redraw()  # the first draw settles the tight layout; compare from the second on
    first_png, at_one = explorer.image.value, explorer.distance
    assert "ψ = 1.00" in explorer.readout.value and at_one > 0
    explorer.slider.value = 0.5  # what a browser does
    assert explorer.distance == pytest.approx(0.5 * at_one, rel=1e-5)  # |w' - w_avg| = psi |w - w_avg|
    assert "ψ = 0.50" in explorer.ax.get_title()
    assert explorer.image.value != first_png
    explorer.slider.value = 0.0
    assert explorer.distance == pytest.approx(0.0, abs=1e-6)
    explorer.slider.value = 1.0
    assert explorer.image.value == first_png  # fixed noise: the same psi draws the same picture


def test_truncation_at_zero_draws_one_image_in_every_cell(G):
    images = viz.truncated_samples(G, torch.randn(6, 8), 0.0)
    assert images.shape == (6, 1, 28, 28)
    torch.testing.assert_close(images, images[:1].expand_as(images), atol=1e-5, rtol=1e-5)


def test_lecture_08_figures_draw(G):
    import matplotlib.pyplot as plt

    z = torch.randn(3, 8)
    ax = viz.plot_style_mixing(G, z[:2], z[2:], crossover=2)
    assert "4-7 px from A" in ax.get_title() and "14-28 px from B" in ax.get_title()
    fig = viz.plot_noise_variation(G, z[:2], n_draws=3, n_std=8)
    assert len(fig.axes) >= 8
    ax = viz.plot_latent_paths(G, z[:1], z[1:2], steps=5)
    assert ax.get_yticklabels()[0].get_text() == "slerp in Z"
    x = torch.randn(2, 3, 5, 5)
    fig = viz.plot_adain_statistics(x, x, torch.ones(2, 3), torch.zeros(2, 3))
    assert fig.axes[0].get_xlabel() == "channel"
    fig = viz.plot_truncation_tradeoff([0, 0.5, 1], [1, 2, 3], [3, 2, 1])
    assert fig.axes[0].get_legend() is not None
    assert G.training is False
    plt.close("all")
