"""The widgets of lectures 01-02, driven headless: set a slider's value, read the figure and readouts."""

import math

import numpy as np
import pytest
import torch

from gancourse import divergences
from gancourse.data import BimodalGaussian1D
from gancourse.toy import Discriminator, Generator, grid_1d, train_toy
from gancourse.widgets import MinimaxDance, OptimalDiscriminatorExplorer


@pytest.fixture(scope="module")
def history():
    torch.manual_seed(0)
    G, D = Generator(2, 1, hidden=(16,)), Discriminator(1, hidden=(16,))
    return train_toy(G, D, BimodalGaussian1D(), steps=20, batch_size=32, lr_g=1e-2, lr_d=1e-2,
                     snapshot_steps=(0, 10), grid=grid_1d(-5, 5, 101), n_snapshot_samples=200)


def test_dance_scrubs_through_the_snapshots(history):
    dance = MinimaxDance(history, BimodalGaussian1D().pdf)
    assert dance.slider.max == 2 and dance.play.max == 2
    assert dance.step == 0
    first_png, first_label = dance.image.value, dance.label.value
    assert first_png[:8] == b"\x89PNG\r\n\x1a\n"
    assert first_label.startswith("step 0:")
    dance.slider.value = 2  # what a browser (or the Play button, through jslink) does
    assert dance.step == 20
    assert dance.label.value.startswith("step 20:")
    assert "after 20 generator steps" in dance.ax.get_title()
    assert dance.image.value != first_png
    dance.slider.value = 0
    assert dance.image.value == first_png  # redrawing the same snapshot gives the same picture


def test_dance_links_play_to_slider_in_the_browser(history):
    dance = MinimaxDance(history, BimodalGaussian1D().pdf)
    assert dance.link.source == (dance.play, "value")
    assert dance.link.target == (dance.slider, "value")
    assert "application/vnd.jupyter.widget-view+json" in dance._repr_mimebundle_()


def test_dance_draws_the_recorded_discriminator(history):
    dance = MinimaxDance(history, BimodalGaussian1D().pdf)
    dance.slider.value = 1
    d_line = [line for line in dance.ax.get_lines() if line.get_label() == "D(x)"][0]
    np.testing.assert_allclose(d_line.get_ydata(), history.snapshot(10).d_grid)


def test_dance_needs_a_grid():
    torch.manual_seed(0)
    h = train_toy(Generator(2, 1, hidden=(4,)), Discriminator(1, hidden=(4,)), BimodalGaussian1D(), steps=1,
                  batch_size=4)
    with pytest.raises(ValueError, match="grid=toy.grid_1d"):
        MinimaxDance(h, BimodalGaussian1D().pdf)


def test_explorer_follows_the_slider():
    ex = OptimalDiscriminatorExplorer(theta=0.0)
    assert ex.jsd == pytest.approx(0.0, abs=1e-12)
    assert ex.value == pytest.approx(-math.log(4), abs=1e-12)
    png = ex.image.value
    ex.slider.value = 1.5
    assert ex.image.value != png
    assert "JSD = " in ex.readout.value and "θ = +1.50" in ex.ax.get_title()
    data = BimodalGaussian1D()
    expected = divergences.jsd(data.pdf(ex.x), data.pdf(ex.x - 1.5))
    assert ex.jsd == pytest.approx(expected, abs=1e-12)
    assert 0.5 < ex.jsd < math.log(2)  # modes 3 std apart: nearly, not exactly, disjoint
    assert ex.value == pytest.approx(2 * ex.jsd - math.log(4), abs=1e-12)
    d_star = [line for line in ex.ax.get_lines() if line.get_label() == "$D^*(x)$"][0].get_ydata()
    np.testing.assert_allclose(d_star, divergences.optimal_discriminator(data.pdf(ex.x), data.pdf(ex.x - 1.5)))
