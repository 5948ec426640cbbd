r"""What generated images do, measured where it can be: truncation's class balance, and spotting fakes.

Two measurements on the course's own models. **Truncation** (Brock et al. 2019, arXiv:1809.11096,
section 3.1; Karras et al. 2019, arXiv:1812.04948) samples :math:`z` nearer the centre of the
latent, here :math:`z' = \psi z`: fidelity goes up, variety down, and the classes a generator
draws become less balanced (the entropy of the classifier's histogram falls below :math:`\log K`).
**Detection**: a linear classifier on the course classifier's features separates generated digits
from real ones; how well it does (held-out accuracy, 0.5 is chance) says how visible the
generator's traces are, to a model if not to a person (Wang et al. 2020, arXiv:1912.11035, show such
detectors generalise across CNN generators). Lecture 12.
"""

from __future__ import annotations

import torch
from torch import nn

from gancourse.judge import class_histogram


@torch.no_grad()
def truncated_samples(G: nn.Module, n: int, psi: float, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""``n`` samples :math:`G(\psi z)`, :math:`z \sim \mathcal N(0, I)`: truncation towards the latent's mean (0) in :math:`\mathcal Z`.

    ``G`` has ``z_dim`` and maps (B, Z) to images; it runs in evaluation mode (restored after).
    Returns (n, C, H, W) on the CPU. Lecture 12.
    """
    if not 0 <= psi <= 1:
        raise ValueError(f"psi must lie in [0, 1] (1: no truncation, 0: every sample at the mean), got {psi}.")
    z = psi * torch.randn(n, G.z_dim, generator=generator)  # (n, Z)
    was = G.training
    G.eval()
    try:
        return G(z.to(next(G.parameters()).device)).cpu()
    finally:
        G.train(was)


@torch.no_grad()
def class_balance(G: nn.Module, clf, psis, n: int = 1000, seed: int = 0) -> dict:
    """``{psi: histogram (K,)}`` of the classifier's predictions on ``n`` truncated samples per psi,
    all from the same noise (so only psi changes). Lecture 12."""
    out = {}
    for psi in psis:
        x = truncated_samples(G, n, psi, torch.Generator().manual_seed(seed))
        out[psi] = class_histogram(clf.predict(x), clf.num_classes)
    return out


def detector_accuracy(real_feats: torch.Tensor, fake_feats: torch.Tensor, seed: int = 0, steps: int = 300,
                      lr: float = 0.05) -> float:
    r"""Held-out accuracy of a logistic regression telling generated features from real ones.

    .. math:: p(\text{fake} \mid h) = \sigma(w^\top \hat h + b), \qquad \hat h = (h - \mu)/s

    (features standardised with the training half's mean and std). Each set is shuffled with ``seed``
    and split in halves; the model is fitted with Adam on the first halves (equal counts of each, so
    chance is 0.5) and scored on the second. Args: ``real_feats`` (N, F), ``fake_feats`` (M, F).
    Returns a float in [0, 1]. Lecture 12.
    """
    gen = torch.Generator().manual_seed(seed)
    n = min(len(real_feats), len(fake_feats)) // 2 * 2
    if n < 4:
        raise ValueError(f"need at least 4 samples of each kind, got {len(real_feats)} real and {len(fake_feats)} generated.")
    real = real_feats[torch.randperm(len(real_feats), generator=gen)[:n]].float()
    fake = fake_feats[torch.randperm(len(fake_feats), generator=gen)[:n]].float()
    h = n // 2
    x_train, x_test = torch.cat([real[:h], fake[:h]]), torch.cat([real[h:], fake[h:]])  # (n, F) each
    y_train = torch.cat([torch.zeros(h), torch.ones(h)])
    y_test = torch.cat([torch.zeros(n - h), torch.ones(n - h)])
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_test = (x_train - mu) / sd, (x_test - mu) / sd
    model = nn.Linear(x_train.shape[1], 1)
    nn.init.zeros_(model.weight)  # a deterministic start: the fit depends on the data split only
    nn.init.zeros_(model.bias)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = nn.functional.binary_cross_entropy_with_logits(model(x_train).squeeze(1), y_train)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(((model(x_test).squeeze(1) > 0).float() == y_test).float().mean())
