"""ProGAN's fade-in, SAGAN's self-attention and BigGAN's tricks against brute force and closed forms (lecture 12)."""

import math

import pytest
import torch
import torch.nn.functional as F

from gancourse.scale import ConditionalBatchNorm2d, FadeInBlock, SelfAttention, orthogonal_penalty, truncated_noise


def test_fade_in_at_alpha_zero_and_one_and_between():
    torch.manual_seed(0)
    block = FadeInBlock(8, 4, image_channels=1)
    h = torch.randn(3, 8, 4, 4)
    old = F.interpolate(block.rgb_old(h), scale_factor=2, mode="nearest")  # old stage's image, then upsampled
    new = block.rgb_new(block.block(F.interpolate(h, scale_factor=2, mode="nearest")))
    with torch.no_grad():
        block.alpha = 0.0
        torch.testing.assert_close(block(h), old, atol=1e-6, rtol=0)
        block.alpha = 1.0
        torch.testing.assert_close(block(h), new, atol=1e-6, rtol=0)
        block.alpha = 0.25
        torch.testing.assert_close(block(h), 0.75 * old + 0.25 * new, atol=1e-6, rtol=0)
        assert block(h).shape == (3, 1, 8, 8)
    block.alpha = 1.5
    with pytest.raises(ValueError, match="alpha must lie in"):
        block(h)


def test_self_attention_against_loops():
    torch.manual_seed(1)
    layer = SelfAttention(16)
    with torch.no_grad():
        layer.gamma.fill_(0.7)
    h = torch.randn(2, 16, 3, 4)
    y, att = layer(h)
    assert att.shape == (2, 12, 12)
    torch.testing.assert_close(att.sum(-1), torch.ones(2, 12), atol=1e-6, rtol=0)
    # brute force, one position at a time
    keys, queries, values = layer.f(h).flatten(2), layer.g(h).flatten(2), layer.h(h).flatten(2)
    for b in range(2):
        for j in range(12):
            logits = torch.stack([queries[b, :, j] @ keys[b, :, i] for i in range(12)])
            beta = torch.exp(logits) / torch.exp(logits).sum()
            torch.testing.assert_close(att[b, j], beta, atol=1e-5, rtol=0)
            o_j = sum(beta[i] * values[b, :, i] for i in range(12))  # (C/2,)
            out_j = 0.7 * (layer.v.weight[:, :, 0, 0] @ o_j) + h[b, :, j // 4, j % 4]
            torch.testing.assert_close(y[b, :, j // 4, j % 4], out_j, atol=1e-5, rtol=0)


def test_self_attention_starts_as_identity():
    layer = SelfAttention(8)
    h = torch.randn(1, 8, 2, 2)
    assert torch.equal(layer(h)[0], h)
    with pytest.raises(ValueError, match="need >= 8"):
        SelfAttention(4)


def test_conditional_batch_norm_is_batch_norm_with_a_per_class_affine():
    torch.manual_seed(2)
    cbn = ConditionalBatchNorm2d(3, num_classes=4)
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.randn(4, 3))
        cbn.bias.weight.copy_(torch.randn(4, 3))
    h, y = torch.randn(6, 3, 5, 5), torch.tensor([0, 1, 2, 3, 1, 0])
    out = cbn(h, y)
    bn = torch.nn.BatchNorm2d(3, affine=False)(h)  # a fresh BN in training mode: batch statistics
    for i in range(6):
        g, b = cbn.gain.weight[y[i]], cbn.bias.weight[y[i]]
        torch.testing.assert_close(out[i], g[:, None, None] * bn[i] + b[:, None, None], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        cbn(h, torch.tensor([0, 1, 2, 3, 4, 0]))
    with pytest.raises(ValueError, match="int64 of shape"):
        cbn(h, y.float())


def test_orthogonal_penalty():
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    assert orthogonal_penalty(q).item() == pytest.approx(0, abs=1e-20)
    assert orthogonal_penalty(q, off_diagonal_only=False).item() == pytest.approx(0, abs=1e-20)
    scaled = q * torch.arange(1.0, 7.0, dtype=torch.float64)[:, None]  # orthogonal rows, norms 1..6
    assert orthogonal_penalty(scaled).item() == pytest.approx(0, abs=1e-20)
    assert orthogonal_penalty(scaled, False).item() == pytest.approx(sum((k * k - 1) ** 2 for k in range(1, 7)))
    w = torch.randn(4, 2, 3, 3, dtype=torch.float64)  # a conv weight: rows are the 4 flattened filters
    flat = w.reshape(4, -1)
    brute = sum(float(flat[i] @ flat[j]) ** 2 for i in range(4) for j in range(4) if i != j)
    assert orthogonal_penalty(w).item() == pytest.approx(brute, rel=1e-12)


def test_truncated_noise_matches_the_truncated_normal():
    tau = 0.8
    z = truncated_noise(20000, 8, tau, torch.Generator().manual_seed(0))
    assert z.shape == (20000, 8) and z.abs().max() <= tau
    # variance of N(0,1) truncated to [-tau, tau]: 1 - 2 tau phi(tau) / (2 Phi(tau) - 1)
    phi = math.exp(-tau**2 / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(tau / math.sqrt(2))
    assert z.var().item() == pytest.approx(1 - 2 * tau * phi / mass, abs=0.005)
    with pytest.raises(ValueError, match="must be positive"):
        truncated_noise(2, 2, 0.0)
