"""Lecture 09's metrics against independent references: pytorch-fid's Fréchet distance, torchmetrics'
FID and KID on the same features, closed forms, brute-force k-NN balls (SciPy), and their errors."""

import warnings

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from torch import nn

from gancourse import metrics
from gancourse.metrics import (FIDResult, InceptionFeatures, density_coverage, feature_statistics, fid,
                               fid_from_features, frechet_distance, generate, inception_preprocess, kid,
                               knn_radii, polynomial_mmd2, precision_recall, score_features)


def _random_spd(rng, n):
    a = rng.standard_normal((n, n + 5))
    return a @ a.T / n


class _Identity(nn.Module):
    """A torchmetrics feature module that hands the given features (N, F) straight through."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x):
        return x


# ---- the Fréchet distance against pytorch-fid and closed forms


@pytest.mark.parametrize("dim", [2, 10, 64, 200])  # dim 1: pytorch-fid 0.3 fails under SciPy 1.17 (sqrtm returns no tuple)
def test_frechet_distance_matches_pytorch_fid(dim):
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(dim)
    mu1, mu2 = rng.standard_normal(dim), rng.standard_normal(dim)
    s1, s2 = _random_spd(rng, dim), _random_spd(rng, dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pytorch-fid passes sqrtm's deprecated disp=
        reference = float(calculate_frechet_distance(mu1, s1, mu2, s2))
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert abs(ours - reference) / abs(reference) < 1e-6


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    for dim in (1, 3, 50):
        mu = rng.standard_normal(dim)
        # N(0, I) against N(mu, I): |mu|^2
        assert frechet_distance(np.zeros(dim), np.eye(dim), mu, np.eye(dim)) == pytest.approx(mu @ mu, rel=1e-12)
        # equal covariances: the trace terms cancel, leaving the squared distance of the means
        s = _random_spd(rng, dim)
        assert frechet_distance(np.zeros(dim), s, mu, s) == pytest.approx(mu @ mu, rel=1e-8, abs=1e-8)
    # scaled identities: d (a - b)^2 for N(0, a^2 I), N(0, b^2 I)
    assert frechet_distance(np.zeros(4), 9 * np.eye(4), np.zeros(4), np.eye(4)) == pytest.approx(4 * (3 - 1) ** 2)


def test_fid_from_features_matches_torchmetrics_custom_features():
    from torchmetrics.image.fid import FrechetInceptionDistance

    gen = torch.Generator().manual_seed(0)
    real = torch.randn(400, 16, generator=gen, dtype=torch.float64)
    fake = 0.8 * torch.randn(300, 16, generator=gen, dtype=torch.float64) + 0.3
    metric = FrechetInceptionDistance(feature=_Identity(16))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    reference = float(metric.compute())
    assert fid_from_features(real, fake) == pytest.approx(reference, rel=1e-6)
    # and both equal the distance between the two sets' statistics
    assert fid_from_features(real, fake) == pytest.approx(
        frechet_distance(*feature_statistics(real), *feature_statistics(fake)), rel=1e-12)


# ---- KID against torchmetrics on the same subsets, and its unbiasedness


def test_kid_matches_torchmetrics_on_the_same_subsets():
    from torchmetrics.image.kid import KernelInceptionDistance

    gen = torch.Generator().manual_seed(1)
    real = torch.randn(120, 8, generator=gen, dtype=torch.float64)
    fake = torch.randn(90, 8, generator=gen, dtype=torch.float64) * 1.3 + 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features in buffer"
        metric = KernelInceptionDistance(feature=_Identity(8), subsets=20, subset_size=50)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    torch.manual_seed(123)  # torchmetrics draws its subsets from torch's global generator
    ref_mean, ref_std = (float(v) for v in metric.compute())
    ours = kid(real, fake, subsets=20, subset_size=50, seed=123)
    assert ours.mean == pytest.approx(ref_mean, rel=1e-10)
    assert ours.std == pytest.approx(ref_std, rel=1e-10)
    # another seed draws other subsets (the agreement above is not an accident of a constant)
    assert kid(real, fake, subsets=20, subset_size=50, seed=124).mean != pytest.approx(ref_mean, rel=1e-6)


def test_polynomial_mmd2_by_hand_and_unbiased():
    x = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    y = torch.tensor([[2.0], [1.0]], dtype=torch.float64)
    k = lambda a, b: (a * b + 1) ** 3  # noqa: E731  F = 1
    within = (2 * k(1, 0) + 2 * k(2, 1)) / 2  # off-diagonal pairs, divided by m (m - 1) = 2
    cross = (k(1, 2) + k(1, 1) + k(0, 2) + k(0, 1)) / 4
    assert float(polynomial_mmd2(x, y)) == pytest.approx(within - 2 * cross)
    # two samples of one distribution: the estimate averages to 0 (a biased V-statistic would stay > 0)
    gen = torch.Generator().manual_seed(2)
    values = [float(polynomial_mmd2(torch.randn(20, 4, generator=gen, dtype=torch.float64),
                                    torch.randn(20, 4, generator=gen, dtype=torch.float64))) for _ in range(400)]
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))


# ---- precision and recall, density and coverage


def test_precision_recall_identical_and_far_apart():
    x = torch.randn(60, 5)
    assert tuple(precision_recall(x, x.clone())) == (1.0, 1.0)
    assert tuple(precision_recall(x, x + 100.0)) == (0.0, 0.0)


def _brute_force_pr(real, fake, k):
    def radii(a):
        d = cdist(a, a)
        return np.array([np.sort(np.delete(row, i))[k - 1] for i, row in enumerate(d)])

    r_real, r_fake = radii(real), radii(fake)
    d = cdist(fake, real)  # (M, N)
    precision = np.mean([any(d[j, i] <= r_real[i] for i in range(len(real))) for j in range(len(fake))])
    recall = np.mean([any(d[j, i] <= r_fake[j] for j in range(len(fake))) for i in range(len(real))])
    return precision, recall


def test_precision_recall_small_case_by_hand():
    # real: 0, 1, 2, 10 on a line; k = 1 radii: 1, 1, 1, 8. fake: 0.5, 5, 20 -> radii 4.5, 4.5, 15
    real = np.array([[0.0], [1.0], [2.0], [10.0]])
    fake = np.array([[0.5], [5.0], [20.0]])
    np.testing.assert_allclose(knn_radii(real, k=1).numpy(), [1, 1, 1, 8])
    p, r = precision_recall(real, fake, k=1)
    assert p == pytest.approx(2 / 3)  # 0.5 (near 0 and 1) and 5 (in 10's ball of radius 8); 20 is outside
    assert r == pytest.approx(1.0)  # 0, 1, 2 in 0.5's or 5's ball (4.5), 10 in 20's ball (15)
    # the boundary counts as inside (<=): a probe exactly at distance r
    assert precision_recall(np.array([[0.0], [1.0]]), np.array([[2.0], [9.0]]), k=1).precision == 0.5


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_matches_brute_force(k):
    rng = np.random.default_rng(k)
    real = rng.standard_normal((40, 3))
    fake = rng.standard_normal((30, 3)) * 0.7 + 0.6
    expected = _brute_force_pr(real, fake, k)
    assert tuple(precision_recall(real, fake, k)) == pytest.approx(expected, abs=1e-12)
    assert 0 < expected[0] < 1 and 0 < expected[1] < 1  # a case where both can be wrong


def test_density_coverage_brute_force():
    rng = np.random.default_rng(7)
    real, fake = rng.standard_normal((30, 2)), rng.standard_normal((25, 2)) + 0.5
    d_rr = cdist(real, real)
    np.fill_diagonal(d_rr, np.inf)
    radius = np.sort(d_rr, axis=1)[:, 4]  # k = 5
    inside = cdist(fake, real) <= radius[None, :]
    d, c = density_coverage(real, fake, k=5)
    assert d == pytest.approx(inside.sum() / (5 * 25)) and c == pytest.approx(inside.any(axis=0).mean())


# ---- FID of a generator, its result object, score rows


class _Shift(nn.Module):
    """A 'generator' whose images are the noise's first 4 values, shifted: (B, 4) -> (B, 1, 2, 2)."""

    def __init__(self, shift: float):
        super().__init__()
        self.z_dim, self.shift = 4, nn.Parameter(torch.tensor(shift))

    def forward(self, z):
        return (z + self.shift).reshape(-1, 1, 2, 2)


class _Flat:
    name = "flattened pixels"

    def __call__(self, images):
        return images.reshape(len(images), -1)


def test_fid_result_names_extractor_and_counts():
    real = torch.randn(500, 1, 2, 2)
    result = fid(_Shift(2.0), real, 300, _Flat(), n_real=400)
    assert isinstance(result, FIDResult) and (result.n_real, result.n_fake) == (400, 300)
    assert str(result).startswith("FID ") and "flattened pixels; 400 real, 300 generated" in str(result)
    assert float(result) == pytest.approx(4 * 2.0 ** 2, rel=0.15)  # N(0, I) vs N(2, I) in 4-d: 16
    assert float(fid(_Shift(0.0), real, 300, _Flat())) < 0.5
    # the same seed draws the same samples, whatever the batch size
    torch.testing.assert_close(generate(_Shift(0.0), 7, batch_size=3), generate(_Shift(0.0), 7, batch_size=250))
    with pytest.raises(ValueError, match="n_real=600 .* holds 500"):
        fid(_Shift(0.0), real, 10, _Flat(), n_real=600)


def test_generate_conditional_cycles_labels():
    class Cond(nn.Module):
        z_dim, n_classes = 2, 3

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

        def forward(self, z, y):
            return (y.double() + 0 * self.w).reshape(-1, 1, 1, 1)

    assert generate(Cond(), 7).flatten().tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_score_features_row():
    gen = torch.Generator().manual_seed(3)
    real, fake = torch.randn(200, 4, generator=gen), torch.randn(150, 4, generator=gen) + 3
    row = score_features(real, fake, kid_subsets=5)
    assert (row.n_real, row.n_fake) == (200, 150)
    assert row.fid == pytest.approx(fid_from_features(real, fake))
    assert row.kid_mean == pytest.approx(kid(real, fake, subsets=5, subset_size=150).mean)
    assert row.recall < 0.2 and row.precision < 0.2


# ---- the Inception extractor: preprocessing with a stand-in, and the offline error


def test_inception_preprocess_matches_the_reference_pipeline():
    from pytorch_fid.inception import InceptionV3  # noqa: F401  (the module the real extractor uses)

    images = torch.rand(3, 1, 28, 28) * 2 - 1
    x = inception_preprocess(images)
    assert x.shape == (3, 3, 299, 299) and 0 <= float(x.min()) and float(x.max()) <= 1
    torch.testing.assert_close(x[:, 0], x[:, 2])  # gray tiled to three channels
    expected = torch.nn.functional.interpolate((images + 1) / 2, size=(299, 299), mode="bilinear", align_corners=False)
    torch.testing.assert_close(x[:, :1], expected)
    with pytest.raises(ValueError, match="expected images"):
        inception_preprocess(torch.zeros(2, 2, 8, 8))


def test_inception_features_with_a_stand_in_model():
    seen = []

    class StandIn(nn.Module):  # pytorch-fid's interface: a list of (B, F, 1, 1) blocks
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(()))

        def forward(self, x):
            seen.append(x)
            return [x.mean(dim=(2, 3), keepdim=True) * self.w]

    ext = InceptionFeatures(model=StandIn(), batch_size=4)
    images = torch.rand(10, 1, 8, 8) * 2 - 1
    feats = ext(images)
    assert feats.shape == (10, 3) and [len(x) for x in seen] == [4, 4, 2]
    assert all(x.shape[1:] == (3, 299, 299) and float(x.min()) >= 0 for x in seen)
    torch.testing.assert_close(feats[:, 0], ((images + 1) / 2).mean(dim=(1, 2, 3)), atol=2e-3, rtol=0)


def test_inception_without_weights_names_the_classifier(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    assert not metrics.inception_weights_path().exists()
    with pytest.raises(RuntimeError, match="not on disk and download=False.*extractor='classifier'"):
        InceptionFeatures(download=False)

    def refuse(*args, **kwargs):  # what a machine with no network sees, without touching the network
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    with pytest.raises(RuntimeError, match="Downloading them failed .*network unreachable.*extractor='classifier'"):
        InceptionFeatures(download=True)
    assert list(tmp_path.iterdir()) == []  # no folder made under torch's home by a failed attempt


# ---- bad input


def test_bad_input_raises_clear_errors():
    a = torch.randn(20, 4)
    with pytest.raises(ValueError, match="feature widths differ: .* 4 features .* 5"):
        fid_from_features(a, torch.randn(20, 5))
    with pytest.raises(ValueError, match="1 sample.*at least 2"):
        fid_from_features(a, torch.randn(1, 4))
    bad = a.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite .* 1 of its 20 rows"):
        fid_from_features(a, bad)
    with pytest.raises(ValueError, match="non-finite"):
        kid(a, bad.nan_to_num(posinf=0) + torch.tensor([float("inf"), 0, 0, 0]), subset_size=10)
    with pytest.raises(ValueError, match="feature widths differ"):
        precision_recall(a, torch.randn(20, 3))
    with pytest.raises(ValueError, match="feature widths differ"):
        kid(a, torch.randn(20, 3), subset_size=10)
    with pytest.raises(ValueError, match=r"subset_size=50 .* \(20 and 20 samples\)"):
        kid(a, torch.randn(20, 4), subset_size=50)
    with pytest.raises(ValueError, match="k=3 needs at least k \\+ 1 = 4 points"):
        precision_recall(a, torch.randn(3, 4))
    with pytest.raises(ValueError, match="shape \\(N, F\\)"):
        fid_from_features(torch.randn(20), a)


def test_too_few_samples_warns_why_fid_is_unreliable():
    with pytest.warns(UserWarning, match="only 10 samples for 16 features: the covariance has rank at most 9"):
        fid_from_features(torch.randn(10, 16), torch.randn(50, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid_from_features(torch.randn(30, 16), torch.randn(50, 16))  # enough samples: no warning


def test_fid_infinity_recovers_the_intercept_and_curve_shapes():
    ns = np.array([100, 200, 400, 800])
    assert metrics.fid_infinity(ns, 3.0 + 250.0 / ns) == pytest.approx(3.0, abs=1e-9)
    assert metrics.fid_infinity(ns, np.stack([2.0 + 100 / ns, 4.0 + 100 / ns])) == pytest.approx(3.0, abs=1e-9)
    with pytest.raises(ValueError, match="two or more"):
        metrics.fid_infinity([100], [3.0])
    gen = torch.Generator().manual_seed(4)
    a, b = torch.randn(300, 3, generator=gen), torch.randn(300, 3, generator=gen)
    curve = metrics.sample_count_curve(a, b, [20, 80, 300], repeats=2)
    assert curve["FID"].shape == curve["KID"].shape == (2, 3)
    assert curve["FID"][:, 0].mean() > curve["FID"][:, -1].mean()  # the bias shrinks with n
    table = metrics.format_scores({"m": score_features(a, b, kid_subsets=3)}, "flat")
    assert table.startswith("features: flat") and "300" in table.splitlines()[-1]


def test_frechet_distance_with_a_singular_covariance_matches_the_eigenvalues_of_the_product():
    # fewer samples than features: sigma1 is singular, Cholesky fails and the eigh route is taken
    from gancourse.metrics import feature_statistics, frechet_distance

    rng = np.random.default_rng(3)
    mu1, s1 = feature_statistics(rng.standard_normal((6, 10)))
    mu2, s2 = feature_statistics(rng.standard_normal((40, 10)) * 1.3)
    assert np.linalg.matrix_rank(s1) < 10
    lam = np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)  # independent: the non-symmetric product
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(lam).sum()
    assert abs(frechet_distance(mu1, s1, mu2, s2) - expected) < 1e-8 * max(1.0, abs(expected))
