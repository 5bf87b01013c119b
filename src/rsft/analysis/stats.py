"""Vectorised two-stage bootstrap over items and samples within items, and simultaneous intervals.

Every statistic is computed from item x step matrices (per-item counts and sums; see :mod:`rsft.analysis.frames`).

**Two-stage bootstrap.** Replicate ``b`` draws the n items with replacement (multinomial counts ``W[b]``, one draw
shared by all checkpoints so that checkpoint differences are paired on the same items), then, within every drawn
copy of an item, re-draws its k samples with replacement. Resampling at both stages counts the within-item noise
twice (the spread of item means already contains it), which widens intervals; as in Davison & Hinkley (1997,
§3.8) the item stage is therefore shrunk: its deviations from the grand means are mapped by the (S x S) matrix
``A`` with ``A C0 A' = C1 - D`` (``C0``/``C1``: plug-in/unbiased covariance of item means across checkpoints,
``D``: diagonal of mean plug-in within-item variance over k), so the total bootstrap covariance equals the usual
estimate ``C1 / n`` for every checkpoint and every difference of checkpoints. The within stage is exact for binary scores
when the draw is small (the sum of ``W`` independent Binomial(k, p) is Binomial(W k, p)); otherwise the sum of the
within-item deviations over the n drawn items is drawn as a normal variable with its exact variance (a central limit
over items), which keeps 100 checkpoints x 500 items x B = 1000 at matrix-multiply cost.

Pointwise intervals are percentile intervals at ``level``. Simultaneous intervals over a family of checkpoint
differences are *symmetric* max-|t| intervals, ``est -/+ q * se`` (``se``: bootstrap standard deviation of each
difference; ``q``: the ``level`` quantile over replicates of the family's largest ``|replicate - est| / se``), so all
intervals of a family hold together with probability ``level``. With few items the bootstrap standard errors are
themselves noisy, so ``q`` moves from the normal to the Student-t scale with ``n_items - 1`` degrees of freedom
(:func:`t_scale`) when ``df`` is given.

**Pre-specified contrasts** (final − base of one curve, the final difference of two runs, a difference of two
runs' gains) are pointwise: :func:`contrast` gives ``est -/+ t * se`` with ``t`` the Student-t ``level``
quantile on ``n_items - 1`` degrees of freedom, ``se`` the bootstrap standard deviation of the contrast, and a
two-sided p-value from the same t distribution. Families (max-|t|) are kept for checkpoints chosen from the data.
:func:`holm` adjusts a family of such p-values (Holm's step-down; family-wise error <= alpha).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass

import numpy as np

EXACT_LIMIT = 5_000_000  # B * n * S binomial draws above which the within stage uses its normal form

READER_METHOD = (
    "Every score is the mean over a benchmark's n items of each item's mean over its k sampled responses. Its "
    "uncertainty comes from a two-stage bootstrap: each of B replicates redraws the n items with replacement and, "
    "within each drawn item, its k responses; the same item draw is used at every checkpoint, so differences "
    "between checkpoints compare the same items. Redrawing responses as well as items would count the noise "
    "between responses twice, so the item stage is shrunk to keep each replicate's spread equal to the usual "
    "standard error. A pointwise interval (the level, e.g. 95%, of the replicates' central range) describes one "
    "number on its own. A simultaneous interval covers a whole family of checkpoints at once: all of them hold "
    "together with that probability, which is the right interval when the checkpoint was picked by looking at "
    "the data (the deepest dip, the best score). A pre-specified contrast (final minus base, one run minus "
    "another) gets a pointwise interval and a p-value from the t distribution on n - 1 degrees of freedom; with "
    "few items the intervals use the same t scale. The seed fixes the random draws, so the same store and seed "
    "give the same intervals."
)
"""The bootstrap and its intervals in plain words, for the report's Methods section (the module docstring is
the exact statement)."""


@dataclass(frozen=True)
class BootSpec:
    """How intervals are computed: replicates, seed, level."""

    B: int = 1000
    seed: int = 0
    level: float = 0.95
    exact_limit: int = EXACT_LIMIT

    def rng(self, *labels: str) -> np.random.Generator:
        """A generator that depends on the seed and the labels only (not on call order)."""
        digest = hashlib.sha256("\x1f".join(labels).encode()).digest()
        return np.random.default_rng([self.seed, int.from_bytes(digest[:8], "little")])

    def describe(self) -> dict:
        return {
            "B": self.B,
            "seed": self.seed,
            "level": self.level,
            "method": "two-stage bootstrap (items, samples within items); pointwise: percentile, simultaneous: symmetric max-|t|",
        }


@dataclass
class Boot:
    """Point estimates and bootstrap replicates of a curve over checkpoints.

    Attributes:
        est: (S,) point estimates (mean over items of item means; items missing at a step are left out).
        boot: (B, S) bootstrap replicates, paired across checkpoints.
        n_items: (S,) items with at least one scored sample per checkpoint.
        k: (S,) median scored samples per evaluated item.
    """

    est: np.ndarray
    boot: np.ndarray
    n_items: np.ndarray
    k: np.ndarray


def item_weights(n: int, B: int, rng: np.random.Generator) -> np.ndarray:
    """(B, n) multinomial counts: how often each item is drawn in each replicate."""
    draws = rng.integers(0, n, size=(B, n)) + (np.arange(B) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=B * n).reshape(B, n).astype(np.float64)


def bootstrap_means(
    cnt: np.ndarray,
    s_sum: np.ndarray,
    s_sq: np.ndarray,
    spec: BootSpec,
    rng: np.random.Generator,
    *,
    binary: bool = False,
    weights: np.ndarray | None = None,
) -> Boot:
    """Two-stage bootstrap of the per-checkpoint mean score (see the module docstring).

    Args:
        cnt: (n, S) scored samples per item and checkpoint (0 = not evaluated).
        s_sum: (n, S) score sums.
        s_sq: (n, S) sums of squared scores.
        spec: replicates, seed and level.
        rng: the generator to draw from.
        binary: scores are 0/1 (allows the exact binomial within stage).
        weights: optional (B, n) item draws to reuse (pairing across benchmarks of one item set).

    Returns:
        A :class:`Boot`.
    """
    n, S = cnt.shape
    present = cnt > 0
    pres = present.astype(np.float64)
    safe = np.where(present, cnt, 1.0)
    m = np.where(present, s_sum / safe, 0.0)
    v = np.where(present, np.maximum(s_sq / safe - m * m, 0.0), 0.0)  # plug-in within-item variance
    n_s = pres.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = (m * pres).sum(axis=0) / n_s
        dev = np.where(present, m - est, 0.0)
        w_over_k = np.where(present, v / safe, 0.0).sum(axis=0) / n_s
    shrink = _between_shrink(dev, pres, w_over_k)
    W = item_weights(n, spec.B, rng) if weights is None else weights
    wn = W @ pres
    with np.errstate(invalid="ignore", divide="ignore"):
        item_dev = (W @ dev) / wn
        boot = est + np.nan_to_num(item_dev) @ shrink.T
        p = np.clip(m, 0.0, 1.0)
        if binary and not ((p > 0.0) & (p < 1.0) & present).any():
            # every item always right or always wrong (k = 1, say): the binomial draws are deterministic
            # (hits = trials * p), so the within-item term is exactly 0; drawing it is a waste of B x n x S draws
            within = np.zeros((spec.B, S))
        elif binary and spec.B * n * S <= spec.exact_limit:
            trials = (W[:, :, None] * safe[None] * pres[None]).astype(np.int64)
            hits = rng.binomial(trials, p[None])
            within = ((hits - trials * p[None]) / safe[None]).sum(axis=1)
        else:
            var = W @ np.where(present, v / safe, 0.0)
            within = np.sqrt(var) * rng.standard_normal((spec.B, S))
        boot = boot + within / wn
    k_med = np.array([np.median(cnt[present[:, s], s]) if n_s[s] else 0 for s in range(S)])
    return Boot(est=est, boot=boot, n_items=n_s.astype(int), k=k_med)


def _psd_sqrt(mat: np.ndarray, inverse: bool = False) -> np.ndarray:
    vals, vecs = np.linalg.eigh((mat + mat.T) / 2.0)
    vals = np.clip(vals, 0.0, None)
    if inverse:
        tol = vals.max(initial=0.0) * 1e-10
        vals = np.where(vals > tol, 1.0 / np.sqrt(np.where(vals > tol, vals, 1.0)), 0.0)
    else:
        vals = np.sqrt(vals)
    return (vecs * vals) @ vecs.T


def _between_shrink(dev: np.ndarray, pres: np.ndarray, w_over_k: np.ndarray) -> np.ndarray:
    """The (S, S) matrix A with A C0 A' = C1 - D (see the module docstring).

    C0/C1: plug-in/unbiased covariance of item means across checkpoints; D: diagonal within-item variance of an
    item mean. The item stage then carries only the between-item (co)variance, so checkpoint differences keep their
    pairing and the within stage is not counted twice.
    """
    pairs = pres.T @ pres
    c0 = (dev.T @ dev) / np.maximum(pairs, 1.0)
    c1 = (dev.T @ dev) / np.maximum(pairs - 1.0, 1.0)
    between = c1 - np.diag(np.nan_to_num(w_over_k))
    return _psd_sqrt(between) @ _psd_sqrt(c0, inverse=True)


def percentile_ci(boot: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise percentile intervals along axis 0."""
    a = (1.0 - level) / 2.0
    with warnings.catch_warnings():  # an all-NaN column (no data at a checkpoint) gives a NaN interval
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(boot, [a, 1.0 - a], axis=0)
    return lo, hi


def simultaneous_ci(
    diff_est: np.ndarray, diff_boot: np.ndarray, level: float, df: float = math.inf
) -> tuple[np.ndarray, np.ndarray, float]:
    """Max-|t| simultaneous intervals for a family of differences.

    Args:
        diff_est: (m,) observed differences.
        diff_boot: (B, m) bootstrap replicates of the differences.
        level: joint coverage.
        df: degrees of freedom of the standard errors (``n_items - 1``): ``q`` is moved to the Student-t scale
            (:func:`t_scale`); ``inf`` keeps the bootstrap's normal-scale ``q``.

    Returns:
        (lower, upper, q): ``diff_est -/+ q * se`` with ``q`` the ``level`` quantile of the replicates' max |t|
        (t-scaled when ``df`` is finite).
    """
    if diff_est.size == 0:
        return diff_est.copy(), diff_est.copy(), float("nan")
    se = np.nanstd(diff_boot, axis=0, ddof=1)
    se = np.where(se > 0, se, np.nan)
    t = np.abs(diff_boot - diff_est) / se
    tmax = np.nanmax(np.where(np.isnan(t), -np.inf, t), axis=1)
    q = float(np.quantile(tmax[np.isfinite(tmax)], level)) if np.isfinite(tmax).any() else float("nan")
    q = t_scale(q, df)
    se0 = np.nan_to_num(se, nan=0.0)
    return diff_est - q * se0, diff_est + q * se0, q


def t_scale(z: float, df: float) -> float:
    """The Student-t (``df`` degrees of freedom) quantile with the same upper-tail probability as the normal ``z``.

    Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5); accurate to ~1% for ``df >= 4``; ``z`` unchanged for
    ``df`` infinite or <= 0.
    """
    if not math.isfinite(z) or df <= 0 or not math.isfinite(df):
        return z
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def _norm_q(p: float) -> float:
    """The standard normal quantile (bisection on erfc; |error| < 1e-12)."""
    lo, hi = -40.0, 40.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 0.5 * math.erfc(-mid / math.sqrt(2)) < p else (lo, mid)
    return (lo + hi) / 2


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value of a t statistic: the z with ``t_scale(z, df) == |t|`` (bisection), then 2 (1 - Phi(z))."""
    t = abs(float(t))
    if not math.isfinite(t):
        return 0.0 if t == math.inf else float("nan")
    lo, hi = 0.0, t  # t_scale(z) >= z for z >= 0, so the solution lies in [0, t]
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_scale(mid, df) < t else (lo, mid)
    return float(math.erfc(((lo + hi) / 2) / math.sqrt(2)))


def contrast(est: float, reps: np.ndarray, level: float, df: float = math.inf) -> dict:
    """A pre-specified contrast with its own pointwise interval and p-value (see the module docstring).

    Args:
        est: observed contrast.
        reps: (B,) bootstrap replicates of it.
        level: interval level (pointwise).
        df: degrees of freedom of its standard error (``n_items - 1``).

    Returns:
        ``{"est", "lo", "hi", "se", "p", "df", "interval": "pointwise"}``: ``est -/+ t * se`` and the two-sided
        p-value of ``est / se`` (0 with a zero standard error and a non-zero estimate, 1 for a zero estimate).
    """
    reps = np.asarray(reps, dtype=float)
    reps = reps[np.isfinite(reps)]
    se = float(np.std(reps, ddof=1)) if reps.size > 1 else float("nan")
    q = t_scale(_norm_q(1.0 - (1.0 - level) / 2.0), df)
    if not math.isfinite(est) or not math.isfinite(se):
        lo = hi = p = float("nan")
    elif se <= 1e-12:
        lo = hi = float(est)
        p = 1.0 if abs(est) <= 1e-12 else 0.0
    else:
        lo, hi, p = est - q * se, est + q * se, t_two_sided_p(est / se, df)
    return {"est": float(est), "lo": float(lo), "hi": float(hi), "se": se, "p": float(p),
            "df": float(df) if math.isfinite(df) else None, "interval": "pointwise"}  # fmt: skip


def holm(p: list[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error <= alpha when rejecting adjusted p <= alpha).

    A NaN p-value (no test) stays NaN and does not count towards the family size.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out[order] = adj
    return out


def _binom_cdf(x: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= x), summed in log space."""
    if x < 0:
        return 0.0
    if x >= n:
        return 1.0
    i = np.arange(x + 1)
    lg = np.array([math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) for j in i])
    with np.errstate(divide="ignore"):
        logs = lg + i * math.log(p) + (n - i) * math.log1p(-p) if 0 < p < 1 else None
    if logs is None:
        return 1.0 if p <= 0 else 0.0
    m = logs.max()
    return float(min(1.0, math.exp(m) * np.exp(logs - m).sum()))


def clopper_pearson(x: int, n: int, conf: float = 0.95) -> tuple[float, float]:
    """One-sided Clopper-Pearson bounds for a binomial share: (lower, upper), each holding with ``conf``.

    ``upper`` solves P(X <= x | p) = 1 - conf and ``lower`` solves P(X >= x | p) = 1 - conf (bisection on the
    exact binomial distribution; 0 and 1 at the edges).
    """
    if n <= 0:
        return 0.0, 1.0
    a = 1.0 - conf

    def solve(f) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) else (lo, mid)
        return (lo + hi) / 2

    upper = 1.0 if x >= n else solve(lambda p: _binom_cdf(x, n, p) > a)
    lower = 0.0 if x <= 0 else solve(lambda p: 1.0 - _binom_cdf(x - 1, n, p) < a)
    return lower, upper
