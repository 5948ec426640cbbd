"""Conditional generator and discriminators: shapes for every label, the label changes the output,
the projection's formula by hand, label fidelity on generators whose answer is known."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from gancourse.conditional import (
    ConcatDiscriminator,
    ConditionalGenerator,
    ProjectionDiscriminator,
    compare_discriminators,
    fidelity_over_training,
    label_fidelity,
    label_maps,
    projection_score,
    samples_by_class,
)
from gancourse.data import ImageDataset
from gancourse.train import train_gan

K = 10


@pytest.mark.parametrize("img_size", [28, 32])
def test_generator_shapes_for_every_label(img_size):
    G = ConditionalGenerator(z_dim=8, n_classes=K, channels=1, img_size=img_size, ngf=4)
    z = torch.randn(1, 8).repeat(K, 1)  # the same z for every class
    y = torch.arange(K)
    with torch.no_grad():
        x = G(z, y)  # training mode: batch norm scales the small initial activations up
    assert x.shape == (K, 1, img_size, img_size)
    assert float(x.abs().max()) <= 1.0
    # The label changes the image: the same z gives K different images.
    diffs = (x[:, None] - x[None]).flatten(2).abs().amax(-1)  # (K, K)
    assert float(diffs[~torch.eye(K, dtype=bool)].min()) > 1e-2
    assert G(z[:1, :, None, None], y[:1]).shape == (1, 1, img_size, img_size)  # (B, Z, 1, 1) accepted


@pytest.mark.parametrize("D_cls", [ConcatDiscriminator, ProjectionDiscriminator])
@pytest.mark.parametrize("spectral", [True, False])
def test_discriminator_shapes_and_label_dependence(D_cls, spectral):
    D = D_cls(n_classes=K, channels=3, img_size=32, ndf=4, spectral=spectral).eval()
    x = torch.randn(1, 3, 32, 32).repeat(K, 1, 1, 1)  # one image, scored under every label
    scores = D(x, torch.arange(K))
    assert scores.shape == (K,)
    assert len(torch.unique(scores.detach())) == K  # every label gives its own score
    assert D(torch.randn(5, 3, 32, 32), torch.full((5,), K - 1)).shape == (5,)
    normalised = [m for m in D.modules() if parametrize.is_parametrized(m, "weight")]
    assert bool(normalised) == spectral


def test_projection_discriminator_is_psi_plus_inner_product():
    D = ProjectionDiscriminator(n_classes=3, channels=1, img_size=28, ndf=4, spectral=False).eval()
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 2, 1, 2])
    phi = D.phi(x)  # (4, 16)
    assert phi.shape == (4, 16)
    expected = torch.stack([D.psi.weight[0] @ phi[i] + D.psi.bias[0] + D.embed.weight[y[i]] @ phi[i] for i in range(4)])
    assert torch.allclose(D(x, y), expected, atol=1e-6)


def test_projection_score_by_hand():
    psi = nn.Linear(2, 1)
    embed = nn.Embedding(2, 2)
    with torch.no_grad():
        psi.weight.copy_(torch.tensor([[1.0, -1.0]]))
        psi.bias.fill_(0.5)
        embed.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 3.0]]))
    features = torch.tensor([[1.0, 2.0], [4.0, 1.0]])
    y = torch.tensor([1, 0])
    # sample 0: (1 - 2 + 0.5) + (0*1 + 3*2) = 5.5; sample 1: (4 - 1 + 0.5) + (2*4 + 0) = 11.5
    assert torch.allclose(projection_score(features, y, psi, embed), torch.tensor([5.5, 11.5]))


def test_label_maps():
    maps = label_maps(torch.tensor([2, 0]), 3, 4, 5)
    assert maps.shape == (2, 3, 4, 5)
    assert torch.equal(maps[:, :, 1, 3], torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))


def test_bad_labels_say_what_was_wrong():
    G = ConditionalGenerator(z_dim=8, n_classes=K, ngf=4)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\), got values from 0 to 10"):
        G(torch.randn(2, 8), torch.tensor([0, 10]))
    with pytest.raises(TypeError, match="integer tensor"):
        G(torch.randn(2, 8), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        ProjectionDiscriminator(ndf=4)(torch.randn(2, 1, 28, 28), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 28, 28\)"):
        ConcatDiscriminator(ndf=4)(torch.randn(2, 1, 32, 32), torch.tensor([1, 2]))


class _Oracle(nn.Module):
    """A 'generator' that writes (label + shift) mod K into every pixel, and a 'classifier' that reads it."""

    def __init__(self, shift: int = 0):
        super().__init__()
        self.z_dim, self.n_classes, self.shift = 4, K, shift
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, z, y):
        return ((y + self.shift) % K).float()[:, None, None, None].expand(-1, 1, 2, 2) + 0 * z[:, :1, None, None]


class _Reader:
    def predict(self, x):
        return x[:, 0, 0, 0].round().long()


def test_label_fidelity_on_generators_with_known_answers():
    perfect = label_fidelity(_Oracle(0), _Reader(), n_per_class=3)
    assert perfect["accuracy"] == 1.0
    assert torch.equal(perfect["confusion"], 3 * torch.eye(K, dtype=torch.int64))
    shifted = label_fidelity(_Oracle(1), _Reader(), n_per_class=3)  # always the next class
    assert shifted["accuracy"] == 0.0
    assert shifted["confusion"][4, 5] == 3 and shifted["per_class"].sum() == 0


def test_samples_by_class_share_z_across_classes():
    G = ConditionalGenerator(z_dim=8, n_classes=K, ngf=4)
    x, y = samples_by_class(G, n_per_class=2)
    assert x.shape == (2 * K, 1, 28, 28) and y.tolist() == [k for k in range(K) for _ in range(2)]
    assert G.training  # restored


@pytest.mark.parametrize("D_cls", [ConcatDiscriminator, ProjectionDiscriminator])
def test_trains_through_the_one_loop(D_cls):
    data = ImageDataset(torch.rand(32, 1, 28, 28) * 2 - 1, torch.arange(32) % K, "random", [str(k) for k in range(K)])
    G = ConditionalGenerator(z_dim=8, n_classes=K, ngf=4)
    D = D_cls(n_classes=K, ndf=4)
    history = train_gan(G, D, data, steps=3, loss="hinge", batch_size=8, conditional=True, n_samples=K,
                        sample_every=3, device="cpu", progress=False, r1_gamma=1.0)
    assert history.steps == 3 and history.fixed_y.tolist() == list(range(K))
    assert history.samples[-1].shape == (K, 1, 28, 28)
    assert all(v > 0 for v in history.penalty)  # R1 computed through D(x, y)


def test_matched_discriminators_share_body_and_size():
    from gancourse.dcgan import count_parameters

    for ndf in (4, 16):
        concat = ConcatDiscriminator(n_classes=K, ndf=ndf, feature_dim=4 * ndf, spectral=False)
        proj = ProjectionDiscriminator(n_classes=K, ndf=ndf, feature_dim=4 * ndf, spectral=False)
        # the same layers but the first (K more input channels) and the label's way in (K embeddings)
        first = 16 * ndf * K  # 4x4 kernels, ndf output channels, K more input channels
        assert count_parameters(concat) - count_parameters(proj) == first - K * 4 * ndf
        if ndf == 16:
            assert abs(count_parameters(concat) / count_parameters(proj) - 1) <= 0.1
    D = ConcatDiscriminator(n_classes=K, ndf=4, feature_dim=8).eval()
    x = torch.randn(1, 1, 28, 28).repeat(K, 1, 1, 1)
    scores = D(x, torch.arange(K))
    assert scores.shape == (K,) and len(torch.unique(scores.detach())) == K


def test_fidelity_over_training_reads_each_snapshot():
    from gancourse.train import History

    class Reader:
        def predict(self, x):
            return x[:, 0, 0, 0].round().long()

    y = torch.arange(20) % K
    right = y.float()[:, None, None, None].expand(-1, 1, 2, 2)
    half = right.clone()
    half[::2] = ((y[::2] + 1) % K).float()[:, None, None, None]  # every other sample the wrong class
    history = History(sample_steps=[0, 5], samples=[half, right], fixed_y=y)
    assert fidelity_over_training(history, Reader()) == {0: 0.5, 5: 1.0}
    with pytest.raises(ValueError, match="conditional"):
        fidelity_over_training(History(sample_steps=[0], samples=[right]), Reader())


def test_compare_discriminators_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCOURSE_CACHE", str(tmp_path))
    settings = {"dataset": "digits", "img_size": 28, "seed": 0,
                "model": {"z_dim": 8, "width": 4, "n_classes": K, "discriminator": "projection"},
                "train": {"loss": "hinge", "steps": 2, "batch_size": 8, "conditional": True, "sample_every": 1,
                          "n_samples": K, "seed": 0, "device": "cpu"}}
    runs = compare_discriminators(settings, seeds=(0, 1))
    assert set(runs) == {(d, s) for d in ("concatenation", "projection") for s in (0, 1)}
    assert len(list(tmp_path.glob("conditional-compare-*.pt"))) == 4
    G, history = runs["concatenation", 1]
    assert not G.training and history.sample_steps == [0, 1, 2] and history.fixed_y.tolist() == list(range(K))
    again = compare_discriminators(settings, seeds=(1,), discriminators=("concatenation",))
    G2, history2 = again["concatenation", 1]
    assert history2.loss_d == history.loss_d
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), G2.state_dict().values()))
    assert runs["projection", 0][1].loss_d != runs["projection", 1][1].loss_d  # the seed moves the run
    with pytest.raises(ValueError, match="concatenation"):
        compare_discriminators(settings, seeds=(0,), discriminators=("concat",))
