"""Bad input at the losses and penalties: the caller's mistake is named, never torch's internals."""

import numpy as np
import pytest
import torch
from torch import nn

from gancourse import losses


class _IgnoresInput(nn.Module):
    """A critic with weights whose score does not read x (a forward that scores a stored batch, say)."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.bias.expand(len(x))


@pytest.mark.parametrize("penalty", [
    lambda D, x: losses.gradient_penalty(D, x, x.flip(0)),
    lambda D, x: losses.r1_penalty(D, x),
    lambda D, x: losses.r2_penalty(D, x),
])
def test_critic_that_ignores_its_input(penalty):
    with pytest.raises(ValueError, match=r"gradient with respect to its input, but its scores do not depend on the "
                                         r"input it was given. Check that D's forward uses its argument x"):
        penalty(_IgnoresInput(), torch.randn(4, 3))


def test_critic_called_without_gradients():
    D = nn.Linear(3, 1)
    with pytest.raises(ValueError, match="not called under torch.no_grad"):
        losses.r1_penalty(lambda x: D(x).detach(), torch.randn(4, 3))


def test_critic_returning_one_number_for_the_batch():
    D = nn.Linear(3, 1)
    with pytest.raises(ValueError, match=r"R1 needs one score per sample: the critic returned \(\) for a batch of 4"):
        losses.r1_penalty(lambda x: D(x).mean(), torch.randn(4, 3))


def test_penalty_of_a_linear_critic_still_right():
    """The checks change no value: a linear critic w.x has gradient w everywhere, so GP = (|w| - 1)^2."""
    D = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[3.0, 0.0, 4.0]]))  # |w| = 5
    assert losses.gradient_penalty(D, torch.randn(6, 3), torch.randn(6, 3)).item() == pytest.approx(16.0)
    assert losses.r1_penalty(D, torch.randn(6, 3)).item() == pytest.approx(25.0)


def test_scores_as_numpy():
    with pytest.raises(TypeError, match=r"real scores must be a floating-point torch.Tensor .*got ndarray"):
        losses.d_loss(np.zeros(4), torch.zeros(4))


def test_scores_as_predicted_labels():
    with pytest.raises(TypeError, match=r"fake scores must be a floating-point torch.Tensor .*got a torch.int64 tensor"):
        losses.d_loss(torch.zeros(4), torch.zeros(4, dtype=torch.long))


def test_scores_of_different_shapes():
    with pytest.raises(ValueError, match=r"real and fake scores differ in shape: got \(64, 1\) and \(64, 2\)"):
        losses.d_loss(torch.zeros(64, 1), torch.zeros(64, 2))


def test_penalty_batches_of_different_sizes():
    with pytest.raises(ValueError, match=r"real and fake batches differ in shape: \(4, 3\) vs \(2, 3\)"):
        losses.gradient_penalty(nn.Linear(3, 1), torch.randn(4, 3), torch.randn(2, 3))


def test_unknown_loss_name():
    with pytest.raises(ValueError, match=r"unknown loss 'wgan'; choose one of 'nonsaturating'"):
        losses.loss_pair("wgan")
