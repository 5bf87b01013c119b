"""Coverage of the two-stage bootstrap on simulated benchmarks with a known population mean."""

from __future__ import annotations

import numpy as np
import pytest

from rsft.analysis.stats import BootSpec, bootstrap_means, percentile_ci, simultaneous_ci


def _coverage(n: int, k: int, sims: int, exact_limit: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, 1_000_000)
    truth = float(np.mean(1 / (1 + np.exp(-z))))  # population mean accuracy over items
    hits = 0
    for i in range(sims):
        p = 1 / (1 + np.exp(-rng.normal(0.0, 1.5, n)))
        x = rng.binomial(k, p)[:, None].astype(float)
        spec = BootSpec(B=500, seed=i, exact_limit=exact_limit)
        b = bootstrap_means(np.full((n, 1), float(k)), x, x, spec, spec.rng("cov"), binary=True)
        lo, hi = percentile_ci(b.boot, 0.95)
        hits += bool(lo[0] <= truth <= hi[0])
    return hits / sims


@pytest.mark.parametrize(
    ("n", "k", "exact_limit"),
    [(80, 4, 10**9), (80, 4, 0), (40, 1, 10**9)],
    ids=["k4-exact-binomial", "k4-normal-within", "k1"],
)
def test_nominal_95_covers_between_92_and_98(n, k, exact_limit):
    cov = _coverage(n, k, sims=400, exact_limit=exact_limit)
    assert 0.92 <= cov <= 0.98, cov


def test_no_double_counting_of_within_item_noise():
    # Plain item bootstrap SE is the textbook estimate; the two-stage one must match it (not exceed it by ~k).
    rng = np.random.default_rng(3)
    n, k = 400, 4
    p = 1 / (1 + np.exp(-rng.normal(0, 1.0, n)))
    x = rng.binomial(k, p)[:, None].astype(float)
    spec = BootSpec(B=4000, seed=1)
    b = bootstrap_means(np.full((n, 1), float(k)), x, x, spec, spec.rng("se"), binary=True)
    se_item = np.std(x[:, 0] / k, ddof=1) / np.sqrt(n)
    assert b.boot.std() == pytest.approx(se_item, rel=0.08)


def test_paired_differences_use_the_same_items():
    # Two checkpoints with identical item difficulties: the paired difference interval is much narrower than
    # the interval of either score (item variance cancels).
    rng = np.random.default_rng(5)
    n, k = 200, 4
    p = 1 / (1 + np.exp(-rng.normal(0, 2.0, n)))
    x = rng.binomial(k, np.stack([p, p], axis=1)).astype(float)
    spec = BootSpec(B=1000, seed=0)
    b = bootstrap_means(np.full((n, 2), float(k)), x, x, spec, spec.rng("pair"), binary=True)
    d = b.boot[:, 1] - b.boot[:, 0]
    assert d.std() < 0.8 * b.boot[:, 0].std()


def test_same_seed_same_numbers_and_missing_items():
    rng = np.random.default_rng(0)
    cnt = np.full((30, 3), 2.0)
    cnt[:5, 2] = 0  # five items not evaluated at the last checkpoint
    x = np.where(cnt > 0, rng.binomial(2, 0.5, (30, 3)), 0).astype(float)
    spec = BootSpec(B=200, seed=7)
    a = bootstrap_means(cnt, x, x, spec, spec.rng("a"), binary=True)
    b = bootstrap_means(cnt, x, x, spec, spec.rng("a"), binary=True)
    assert np.array_equal(a.boot, b.boot)
    assert a.n_items.tolist() == [30, 30, 25]
    assert a.est[2] == pytest.approx(x[5:, 2].sum() / 50)


def test_simultaneous_intervals_are_wider_than_pointwise():
    rng = np.random.default_rng(1)
    boot = rng.normal(size=(2000, 10))
    lo, hi, q = simultaneous_ci(np.zeros(10), boot, 0.95)
    assert q > 1.96 + 0.5
    assert np.all(hi - lo > 2 * 1.96 * 0.99)


def test_items_always_right_or_wrong_have_no_within_item_noise():
    # k = 1 (or any item with all samples equal): the exact binomial within-item draw is deterministic, so the
    # replicates are those of the plain item bootstrap (the same item draws, no within term) ...
    rng = np.random.default_rng(7)
    n, S = 300, 4
    x = (rng.random((n, S)) < 0.6).astype(float)
    cnt = np.ones((n, S))
    spec = BootSpec(B=400, seed=2)
    exact = bootstrap_means(cnt, x, x, spec, spec.rng("k1"), binary=True)
    plain = bootstrap_means(cnt, x, x, spec, spec.rng("k1"), binary=False)  # within term sqrt(0) * z = 0
    np.testing.assert_array_equal(exact.boot, plain.boot)
    # ... while one item with mixed samples (k = 2, one right) brings the within-item draw back
    cnt2, x2 = cnt * 2, x * 2
    cnt2[0, :], x2[0, :] = 2, 1
    mixed = bootstrap_means(cnt2, x2, x2, spec, spec.rng("k1"), binary=True)
    no_within = bootstrap_means(cnt2, x2, x2**2 / cnt2, spec, spec.rng("k1"), binary=False)  # variance 0
    assert not np.array_equal(mixed.boot, no_within.boot)
    np.testing.assert_allclose(mixed.boot.mean(0), no_within.boot.mean(0), atol=0.01)
