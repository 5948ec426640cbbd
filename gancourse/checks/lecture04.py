"""Lecture 04 exercise checkers: mode coverage on the ring of Gaussians."""

from __future__ import annotations

import numpy as np
import torch

from gancourse.checks._core import checker, _fmt, fail, assert_close, passed, _run


def _coverage_triple(check: str, got, what: str):
    if got is None:
        fail(check, f"{what}: your function returned None; did it forget a `return`?")
    try:
        modes, high_quality, counts = got
    except (TypeError, ValueError):
        fail(check, f"{what}: return three things, (modes, high_quality, counts); got {_fmt(got)}.")
    return modes, high_quality, np.asarray(counts)


@checker
def check_mode_coverage(fn) -> None:
    r"""Check ``fn(samples, centers, std)`` against :func:`gancourse.metrics.mode_coverage`.

    The learner returns ``(modes, high_quality, counts)``. Catches counting every sample instead of
    the high-quality ones, a radius of one std instead of three, a threshold relative to the
    high-quality samples instead of all samples, and ``>`` in place of ``>=``. Lecture 04 exercise.
    """
    from gancourse.data import Ring2D
    from gancourse.metrics import mode_coverage

    name = "check_mode_coverage"
    ring = Ring2D(std=0.05)
    g = torch.Generator().manual_seed(4)
    cases = {
        "2,000 samples of the ring itself": ring.sample(2000, generator=g),
        "1,000 samples of one mode": torch.as_tensor(ring.centers[2], dtype=torch.float32) + 0.05 * torch.randn(1000, 2, generator=g),
        "500 samples in the ring's hole": 0.3 * torch.randn(500, 2, generator=g),
        # 1,000 samples: modes 0, 1 and 3 hit by 93 each, mode 6 by exactly 10 (1 %), mode 4 by 5 samples at
        # 2 std (covered only if the threshold were 1 % of the high-quality samples), 706 between the modes
        "a hand-made case": torch.cat([
            torch.as_tensor(ring.centers[[0, 1, 3]], dtype=torch.float32).repeat_interleave(93, 0),
            torch.as_tensor(ring.centers[6], dtype=torch.float32).expand(10, 2),
            torch.as_tensor(ring.centers[4] + [0.0, 0.1], dtype=torch.float32).expand(5, 2),
            torch.rand(706, 1, generator=g) * torch.tensor([1.0, 1.0]),  # on the diagonal, far from every centre
        ]),
    }
    for what, x in cases.items():
        ref = mode_coverage(x, ring.centers, ring.std)
        modes, hq, counts = _coverage_triple(name, _run(name, fn, x, ring.centers, ring.std), what)
        if counts.shape != ref.counts.shape:
            fail(name, f"{what}: counts has shape {counts.shape}, expected one count per mode {ref.counts.shape} "
                       "(np.bincount(..., minlength=len(centers))).")
        d = torch.cdist(x.double(), torch.as_tensor(ring.centers))  # (N, M)
        every = np.bincount(d.argmin(1).numpy(), minlength=8)
        if not np.array_equal(counts, ref.counts) and np.array_equal(counts, every):
            fail(name, f"{what}: your counts include every sample nearest to a mode; count only the high-quality "
                       "ones (within 3 std of their nearest centre).")
        one_std = np.bincount(d.argmin(1)[d.min(1).values <= ring.std].numpy(), minlength=8)
        if not np.array_equal(counts, ref.counts) and np.array_equal(counts, one_std):
            fail(name, f"{what}: a sample is high quality within 3 std (n_std * std) of its nearest centre, "
                       "not within 1 std.")
        assert_close(name, f"{what}: high-quality counts per mode", counts, ref.counts, atol=0)
        assert_close(name, f"{what}: high-quality fraction", hq, ref.high_quality, atol=1e-9,
                     hint="The fraction is over all N samples: good.mean().")
        if int(modes) != ref.modes:
            hint = ""
            if what == "a hand-made case":
                hint = (" Here mode 6 holds exactly 1 % of the samples (covered: >=, not >) and mode 4 holds 5 "
                        "good samples (not covered): the threshold is min_fraction * N with N *all* the samples, "
                        "not only the high-quality ones.")
            fail(name, f"{what}: {int(modes)} modes covered, expected {ref.modes} (counts {ref.counts.tolist()}).{hint}")
    # every argument varied from its default, on an irregular sample count and a 3-mode mixture in 3D
    centers = np.array([[0.0, 0.0, 0.0], [1.0, 0.5, -0.5], [-0.7, 1.1, 0.3]])
    std = 0.1
    x = torch.cat([torch.as_tensor(centers, dtype=torch.float32).repeat_interleave(torch.tensor([400, 37, 9]), 0)
                   + 0.16 * torch.randn(446, 3, generator=g), 2.0 + torch.randn(891, 3, generator=g)])  # (1337, 3)
    for n_std, min_fraction in ((2.0, 0.05), (4.5, 0.006)):
        what = f"n_std={n_std}, min_fraction={min_fraction} on 1,337 samples of a 3-mode mixture in 3D"
        ref = mode_coverage(x, centers, std, n_std=n_std, min_fraction=min_fraction)
        modes, hq, counts = _coverage_triple(name, _run(name, fn, x, centers, std, n_std, min_fraction), what)
        default = mode_coverage(x, centers, std)
        if counts.shape == ref.counts.shape and not np.array_equal(counts, ref.counts) and np.array_equal(counts, default.counts):
            fail(name, f"{what}: your counts are those of n_std = 3; use the n_std you were given, not a fixed 3.")
        assert_close(name, f"{what}: high-quality counts per mode", counts, ref.counts, atol=0)
        assert_close(name, f"{what}: high-quality fraction", hq, ref.high_quality, atol=1e-9)
        if int(modes) != ref.modes:
            fail(name, f"{what}: {int(modes)} modes covered, expected {ref.modes}: the threshold is min_fraction (the "
                       "one you were given) times all N samples, at least 1.")
    if isinstance(modes, bool) or not isinstance(modes, (int, np.integer)):
        fail(name, f"the number of modes is a {type(modes).__name__} ({modes!r}); return an int (int(...)): a "
                   "count of modes is a whole number.")
    if not isinstance(hq, (float, np.floating)):
        fail(name, f"the high-quality fraction is a {type(hq).__name__}; return a float (a fraction of all samples).")
    if not np.issubdtype(counts.dtype, np.integer):
        fail(name, f"counts has dtype {counts.dtype}; counts of samples are integers (np.bincount gives them).")
    passed(name, "nearest centre, within n_std std, a mode covered by >= min_fraction of all samples; arguments "
                 "honoured; int, float and integer counts.")
