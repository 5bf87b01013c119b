"""Pre-specified contrasts, the small-sample correction, selection-aware recommendations, contradiction-only early
warnings and the study-level Holm correction, checked on simulated runs with a known truth.

Monte-Carlo error: a share p from N simulations has standard error sqrt(p (1 - p) / N); each threshold below is
stated with it and sits >= 2.5 standard errors from the expected value of the method under test, while the wrong
method it replaces misses it by >= 3 (numbers in each test). Items persist across checkpoints (a beta of item
accuracies, fresh Bernoulli draws per checkpoint), as on a real benchmark.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rsft.analysis import detector
from rsft.analysis.detector import classify, family_level
from rsft.analysis.dynamics import early_warning, final_change
from rsft.analysis.multiplicity import holm_dynamics
from rsft.analysis.safety import tradeoff
from rsft.analysis.stats import BootSpec, bootstrap_means, contrast, holm, simultaneous_ci, t_scale


def _run(p: np.ndarray, k: int, rng: np.random.Generator, B: int, seed: int):
    """Bootstrap of one simulated run: ``p`` (n, S) true item accuracies per checkpoint, k samples each."""
    x = rng.binomial(k, np.clip(p, 0.0, 1.0)).astype(float)
    spec = BootSpec(B=B, seed=seed)
    return bootstrap_means(np.full(p.shape, float(k)), x, x, spec, spec.rng("sim"), binary=True)


def test_holm_and_contrast_against_hand_computed_values():
    # Holm: sorted p 0.01, 0.03, 0.04 -> 3 * 0.01, max(0.03, 2 * 0.03), max(0.06, 0.04); NaN is no test
    np.testing.assert_allclose(holm([0.04, 0.01, math.nan, 0.03]), [0.06, 0.03, math.nan, 0.06])
    assert t_scale(1.959964, 9) == pytest.approx(2.262, abs=0.005)  # Student-t 0.975 quantile, 9 df
    assert detector.t_scale is t_scale  # the detector's small-sample correction is this one (one home)
    rng = np.random.default_rng(0)
    for est in (0.0, 0.05, 0.1, -0.2):
        reps = est + rng.normal(0, 0.05, 4000)
        c = contrast(est, reps, 0.95, 29)
        assert c["hi"] - c["lo"] == pytest.approx(2 * 2.045 * c["se"], rel=0.01)  # t(29) 0.975 = 2.045
        assert (c["p"] <= 0.05) == (c["lo"] > 0 or c["hi"] < 0)  # the p-value and the interval agree
    assert contrast(0.0, np.zeros(10), 0.95)["p"] == 1.0 and contrast(0.1, np.full(10, 0.1), 0.95)["p"] == 0.0


def test_final_change_is_pointwise_and_finds_a_real_safety_loss():
    """A true -0.05 safety loss at n 330, k 1 with 65 checkpoints: the pointwise final − base finds it far more
    often than the simultaneous family over the 64 checkpoints at the detector's family level (what the ▲/▼ marks
    and the safety card read before), and covers the truth at the nominal 95%.

    300 simulations (fresh Bernoulli draws per checkpoint, so the pairing is weaker than with persistent item
    drift): pointwise detection measured 0.31 (MC se 0.027), the family's 0.01; threshold: pointwise >= 0.20
    (4 se below) and >= 3x the family's. Coverage of the true -0.05: measured 0.953 (se 0.012), threshold 0.91.
    """
    n, k, S, sims = 330, 1, 65, 300
    rng = np.random.default_rng(20)
    shift = np.zeros(S)
    shift[-1] = -0.05
    found = fam = cover = 0
    for i in range(sims):
        p0 = rng.beta(6, 2, n)  # safety: most items safe at base (mean 0.75)
        b = _run(p0[:, None] + shift[None, :], k, rng, 300, i)
        c = final_change(b, 0.95)
        found += c["hi"] < 0
        cover += c["lo"] <= -0.05 <= c["hi"]
        d = b.est[1:] - b.est[0]
        _, hi, _ = simultaneous_ci(d, b.boot[:, 1:] - b.boot[:, [0]], family_level(0.95), n - 1)
        fam += hi[-1] < 0
    assert found / sims >= 0.20 and found >= 3 * fam, (found, fam)
    assert cover / sims >= 0.91, cover


def _sim_coverage(n: int, k: int, S: int, sims: int, df: float, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    hit = 0
    for i in range(sims):
        p = rng.beta(2, 2, n)
        b = _run(np.repeat(p[:, None], S, 1), k, rng, 400, i)
        lo, hi, _ = simultaneous_ci(b.est[1:] - b.est[0], b.boot[:, 1:] - b.boot[:, [0]], 0.95, df)
        hit += bool(np.all((lo <= 0) & (hi >= 0)))
    return hit / sims


def test_simultaneous_ci_small_sample_correction():
    """n 20, k 1, 6 checkpoints, flat truth: joint coverage of the 5 differences vs base.

    Measured with 2,000 simulations: 0.919 without the correction, 0.943 with it. 1,000 simulations here (MC se
    0.0073): the corrected intervals must cover >= 0.925 (2.5 se below 0.943; the uncorrected 0.919 fails it)."""
    assert _sim_coverage(20, 1, 6, 1000, df=19) >= 0.925


@pytest.mark.slow
def test_simultaneous_ci_small_sample_correction_many_sims():
    """As above with 4,000 simulations (MC se 0.0037): corrected >= 0.93, uncorrected below it."""
    assert _sim_coverage(20, 1, 6, 4000, df=19, seed=1) >= 0.93
    assert _sim_coverage(20, 1, 6, 4000, df=math.inf, seed=1) < 0.93


def test_recommended_gain_accounts_for_the_selection():
    """All-flat truth, 8 checkpoints: the recommended (best) checkpoint's gain interval must exclude 0 from above
    in <= 2.5% of runs (one side of a two-sided 95% family). The pointwise interval of the chosen best (the old
    method) did so in ~11% of runs at the issue's sizes (12% measured here).

    600 simulations (n 240, k 1): measured 0.023 here, and 0.128 for the pointwise interval of the chosen best;
    threshold 0.045 (MC se 0.0064 at 2.5%: 3 se above 0.025; the old 0.128 is 13 se above it)."""
    n, k, S, sims = 240, 1, 8, 600
    rng = np.random.default_rng(3)
    steps = np.arange(S) * 10
    spec = BootSpec(B=300, seed=0)
    excl = naive = 0
    for i in range(sims):
        p0 = rng.beta(2, 3, n)
        b = _run(np.repeat(p0[:, None], S, 1), k, rng, 300, i)
        t = tradeoff("r", {"in-domain": (steps, b)}, spec)
        g = t["recommendation"]["reasoning_gain"]
        best = t["step"].index(t["recommendation"]["step"])
        excl += g["lo"] > 0
        naive += best > 0 and t["reasoning_gain"]["lo"][best] > 0
    assert excl / sims <= 0.045, excl
    assert naive / sims > 0.045  # the pointwise interval of the chosen best fails the same threshold


def _warn_rate(shift: np.ndarray, sims: int, n: int = 400, k: int = 1, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    steps = np.arange(len(shift)) * 10
    warned = final_above = 0
    for i in range(sims):
        p0 = rng.beta(3, 3, n)
        b = _run(p0[:, None] + shift[None, :], k, rng, 300, i)
        cls = classify(steps, b, 0.95)
        warned += early_warning(steps, b, cls) is not None
        final_above += bool(cls["above"][-1])
    return warned / sims, final_above / sims


def test_early_warning_only_where_the_final_contradicts_an_early_verdict():
    """Steady rise (0 -> +0.12 over 8 checkpoints, n 400, k 1) and flat truth: no early checkpoint's verdict is
    contradicted, so a warning is a false claim. 200 simulations each: rate <= 0.05 + 2.5 se (0.088; the
    detector's claims are jointly wrong <= 5%); measured 0 of 200 for both. The old rule ("an early verdict differs
    from the final's") fired whenever the final was above base and an early checkpoint was not yet: 75% of the
    rising runs here (checked: >= 50%)."""
    rise, above = _warn_rate(np.linspace(0, 0.12, 8), 200)
    assert rise <= 0.088 and above >= 0.5, (rise, above)
    flat, _ = _warn_rate(np.zeros(8), 200, seed=1)
    assert flat <= 0.088, flat
    # a real dip that recovers is warned about (power, not a guarantee: most runs at this depth and size)
    dip, _ = _warn_rate(np.array([0, -0.12, -0.2, -0.2, -0.1, 0.0, 0.02, 0.02]), 40, n=600, seed=2)
    assert dip >= 0.6, dip


def test_holm_dynamics_counts_only_dips_that_survive_the_study_level():
    rng = np.random.default_rng(5)
    steps = np.arange(8) * 10
    deep = np.array([0, -0.1, -0.25, -0.25, -0.15, 0.0, 0.1, 0.1])  # ends clearly above base: recovered
    curves = []
    for j in range(6):
        p0 = rng.beta(3, 3, 300)
        shift = deep if j == 0 else np.zeros(8)
        b = _run(p0[:, None] + shift[None, :], 4, rng, 600, j)
        curves.append(({"run": f"r{j}", "domain": "out-of-domain"}, steps, b))
    out = holm_dynamics(curves, 0.95)
    assert out["curves"] == 6 and out["dips"] == 1
    # one dip counted at 1 - 0.05/6, then the step-down moves to 1 - 0.05/5 and finds no further dip
    assert out["final_level"] == pytest.approx(1 - 0.05 / 5)
    assert curves[0][0]["study"]["dip"] and curves[0][0]["study"]["class"] == "dip-and-recovery"
    assert not any(c[0]["study"]["dip"] for c in curves[1:])
    assert holm_dynamics([], 0.95)["curves"] == 0


@pytest.mark.slow
def test_study_level_dip_count_is_not_reached_by_chance():
    """24 cross-domain curves, all drop-and-stay (a 0.10 loss early, then level; n 100, k 2, 10 checkpoints, item
    drift): no curve truly dips and recovers. Uncorrected, "some curve is a dip" happened in 15% of 60 study
    simulations (the issue measured 14-20% at the paper's sizes); with Holm's step-down over the curves, 0 of 60.
    200 simulations here: the Holm share's one-sided 95% Clopper-Pearson upper bound must be <= 5% (<= 4 of 200);
    read uncorrected, the same studies fail it (15% of 60, and >= 16 of these 200, with the detector of commit
    db4a1e8; that share depends on the detector's per-curve calibration, so it is printed, not asserted)."""
    from rsft.analysis.detector import DIP_CLASSES
    from rsft.analysis.stats import clopper_pearson
    from rsft.analysis.synthetic import ItemModel, simulate_counts

    steps = np.arange(10) * 10
    prep = ItemModel(mean=0.5, sd=0.2, jitter_sd=0.4).prepare()
    rng = np.random.default_rng(0)
    n, k, m, sims = 100, 2, 24, 200
    raw = corrected = 0
    for i in range(sims):
        curves = []
        for j in range(m):
            x = simulate_counts(prep, n, k, steps, "drop-and-stay", 0.10, rng)
            spec = BootSpec(B=400, seed=i * 100 + j)
            b = bootstrap_means(np.full(x.shape, float(k)), x, x, spec, spec.rng("s"), binary=True)
            curves.append(({}, steps, b))
        raw += any(classify(s, b, 0.95)["class"] in DIP_CLASSES for _, s, b in curves)
        corrected += holm_dynamics(curves, 0.95)["dips"] > 0
    print(f"some curve a dip: uncorrected {raw}/{sims}, Holm {corrected}/{sims}")
    assert clopper_pearson(corrected, sims, 0.95)[1] <= 0.05, corrected
