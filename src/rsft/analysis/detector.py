"""Shape detector for a score-vs-checkpoint curve: claims that hold jointly, calibrated on known-truth shapes.

Every statement the detector makes is a *claim* about the true (population) curve ``mu_s``; a class is named only
from claims. Claims come from three families of paired differences (all paired on the same items, replicates from
the two-stage bootstrap of :mod:`rsft.analysis.stats`):

- **A, vs base**: ``mu_s - mu_0`` for every checkpoint ``s`` after the base (step 0, or the earliest step).
  *Below base* / *above base* when the interval excludes 0.
- **P, pairs**: ``mu_j - mu_i`` for *every* pair of later checkpoints ``i < j``. *Rise* / *fall* from ``i`` to ``j``
  when the interval excludes 0. Because the family covers all pairs, choosing the dip step (the lowest of noisy
  estimates) and then testing the rise after it needs no further correction: the selection is inside the family.
- **R, rate change**: for every split checkpoint ``m``, gain per step before ``m`` minus gain per step after ``m``,
  ``(mu_m - mu_0)/(t_m - t_0) - (mu_T - mu_m)/(t_T - t_m)``. *Slowed* when it excludes 0 with the sign of the
  overall change (a rise or a loss that happened early and then levelled off).

Each family's intervals are simultaneous (bootstrap max-|t|, symmetric ``est -/+ q se``) at level
``1 - alpha/3`` with ``alpha = 1 - level``: by Bonferroni over the three families, all claims hold together with
probability >= ``level``, so whatever the true shape, the probability that the verdict contains a false claim is
<= ``alpha``. With few items the estimated standard errors are themselves noisy, so each ``q`` is moved from the
normal to the Student-t scale with ``n_items - 1`` degrees of freedom (Cornish-Fisher), keeping the tail
probability.

Classes (first match):

- **dip-and-recovery**: below base at ``i``, then a rise from ``i`` to a later ``j`` (P), or above base at ``j``
  (A); the final checkpoint is not below base. **dip-and-partial-recovery**: the same, but the final checkpoint
  is below base.
- **rise-and-fall**: above base at ``i``, then a fall to a later ``j`` (P) or below base at ``j`` (A). When both a
  dip-with-recovery and a rise-with-fall are claimed, the one that starts first names the class (a note names the
  other).
- **degrades**: the final checkpoint is below base; **drop-and-stay** when, in addition, the loss slowed (R).
- **improves**: the final checkpoint is above base; **rise-then-plateau** when, in addition, the gain slowed (R).
- **inconclusive**: a checkpoint is below (above) base but neither a rise (fall) after it nor a final loss (gain)
  can be claimed; or nothing can be claimed and changes smaller than ``resolution`` (default 0.05 score points,
  the final-gain half-width) cannot be told from noise for this n, k and number of checkpoints. The ``reason``
  says which.
- **flat within noise**: nothing can be claimed and the final-gain interval is narrower than +/- ``resolution``.

"Flat within noise" and "inconclusive" make no claim, so they are never false verdicts; missing a real change is a
question of power, which :func:`simulate` measures for a run's n, k and checkpoints. Tested false-verdict rates on
flat, drop-and-stay, steady-decline, steady-rise and rise-then-plateau truths are in docs/analysis.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rsft.analysis.stats import (
    Boot,
    BootSpec,
    bootstrap_means,
    clopper_pearson,
    percentile_ci,
    simultaneous_ci,
)

CLASSES = (
    "improves",
    "rise-then-plateau",
    "dip-and-recovery",
    "dip-and-partial-recovery",
    "rise-and-fall",
    "degrades",
    "drop-and-stay",
    "flat within noise",
    "inconclusive",
)
DIP_CLASSES = ("dip-and-recovery", "dip-and-partial-recovery")
NO_CLAIM = ("flat within noise", "inconclusive")
FAMILIES = ("vs_base", "pairs", "rate_change")
TOO_WIDE = 0.05  # default resolution: a no-claim verdict with a wider final-gain half-width is "inconclusive"
FEW_ITEMS = 30  # below this many items the bootstrap's intervals are rough, and the report says so
MIN_ITEMS = 5  # below this the Student-t correction is undefined in practice: nothing is claimed
_CHUNK = 250_000  # replicate x contrast entries per block when computing max-|t| (fits a CPU cache)

# Which verdicts are false for each known-truth shape of rsft.analysis.synthetic.SHAPES.
_RISE_OK = ("improves", "rise-then-plateau")
_DROP_OK = ("degrades", "drop-and-stay")
TRUE_CLASSES = {
    "flat": (),
    "drop-and-stay": _DROP_OK,
    "steady decline": ("degrades",),
    "steady rise": ("improves",),
    "rise-then-plateau": _RISE_OK,
    "dip-and-recovery": ("dip-and-recovery",),
}


def false_verdicts(shape: str) -> tuple[str, ...]:
    """Classes that contain a false claim when the true curve has ``shape`` (no-claim classes never do)."""
    ok = set(TRUE_CLASSES[shape]) | set(NO_CLAIM)
    return tuple(c for c in CLASSES if c not in ok)


def family_level(level: float) -> float:
    """Joint level of one of the three claim families (Bonferroni: all three hold together at ``level``)."""
    return 1.0 - (1.0 - level) / len(FAMILIES)


def t_quantile_like(z: float, df: float) -> float:
    """The Student-t (``df`` degrees of freedom) quantile with the same tail probability as the normal ``z``.

    Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5); accurate to ~1% for ``df >= 4``.
    """
    if not math.isfinite(z) or df <= 0 or not math.isfinite(df):
        return z
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def joint_intervals(
    est: np.ndarray, reps: np.ndarray, level: float, df: float = math.inf
) -> tuple[np.ndarray, np.ndarray, float]:
    """Symmetric max-|t| simultaneous intervals for a family of contrasts.

    Args:
        est: (m,) observed contrasts.
        reps: (B, m) bootstrap replicates of the contrasts.
        level: joint coverage.
        df: degrees of freedom of the standard errors (``n_items - 1``); ``inf`` = normal.

    Returns:
        (lower, upper, q): ``est -/+ q * se``; contrasts with zero spread get a zero-width interval and never
        enter the maximum.
    """
    if est.size == 0:
        return est.copy(), est.copy(), float("nan")
    se = np.nanstd(reps, axis=0, ddof=1)
    ok = np.isfinite(se) & (se > 1e-12)
    t = np.abs(reps[:, ok] - est[ok]) / se[ok]
    tmax = np.nanmax(np.where(np.isnan(t), -np.inf, t), axis=1) if ok.any() else np.full(len(reps), -np.inf)
    return _finish(est, se, ok, tmax, level, df)


def pair_intervals(
    bt: np.ndarray, est: np.ndarray, ii: np.ndarray, jj: np.ndarray, level: float, df: float = math.inf
) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`joint_intervals` for the differences ``est[jj] - est[ii]`` without materialising all replicates.

    Standard errors come from the (S, S) replicate covariance; the max-|t| is taken in float32 over blocks of
    replicates (the family of all pairs of 130 checkpoints has 8,000+ members).
    """
    e = est[jj] - est[ii]
    if e.size == 0:
        return e.copy(), e.copy(), float("nan")
    if np.isnan(bt).any():
        return joint_intervals(e, bt[:, jj] - bt[:, ii], level, df)
    cov = np.cov(bt, rowvar=False).reshape(bt.shape[1], bt.shape[1])
    var = cov[ii, ii] + cov[jj, jj] - 2 * cov[ii, jj]
    se = np.sqrt(np.clip(var, 0.0, None))
    ok = se > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, se, 1.0), 0.0).astype(np.float32)
    C = (bt - est).astype(np.float32)
    tmax = np.empty(len(C))
    rows = max(1, _CHUNK // max(e.size, 1))
    for a in range(0, len(C), rows):
        c = C[a : a + rows]
        x = c[:, jj]
        x -= c[:, ii]
        x *= inv
        np.abs(x, out=x)
        tmax[a : a + rows] = x.max(axis=1) if ok.any() else -np.inf
    return _finish(e, se, ok, tmax, level, df)


def _finish(est, se, ok, tmax, level, df) -> tuple[np.ndarray, np.ndarray, float]:
    fin = np.isfinite(tmax)
    q = float(np.quantile(tmax[fin], level)) if fin.any() and ok.any() else float("nan")
    q = t_quantile_like(q, df)
    half = np.where(ok, q * np.nan_to_num(se), 0.0) if math.isfinite(q) else np.zeros_like(est)
    return est - half, est + half, q


def _iv(est: float, lo: float, hi: float) -> dict:
    return {"est": float(est), "lo": float(lo), "hi": float(hi)}


def _rate_matrix(steps: np.ndarray) -> np.ndarray:
    """(S, S-2) contrasts: gain per step before checkpoint m minus gain per step after it, m = 1..S-2."""
    S = len(steps)
    t = steps.astype(float)
    M = np.zeros((S, max(S - 2, 0)))
    for c, m in enumerate(range(1, S - 1)):
        a, b = t[m] - t[0], t[-1] - t[m]
        M[m, c] += 1 / a + 1 / b
        M[0, c] -= 1 / a
        M[-1, c] -= 1 / b
    # scale to score points over the whole run, so the contrast reads as "how much of the change came early"
    return M * (t[-1] - t[0])


def classify(steps: Sequence[int], boot: Boot, level: float, *, resolution: float = TOO_WIDE) -> dict:
    """Apply the definition in the module docstring to one curve.

    Args:
        steps: (S,) checkpoint steps, sorted; ``steps[0]`` is the base.
        boot: point estimates and paired replicates (see :func:`rsft.analysis.stats.bootstrap_means`).
        level: probability that every claim holds (``1 - level`` = the stated false-verdict rate).
        resolution: half-width of the final-gain interval above which a no-claim curve is "inconclusive".

    Returns:
        A dict with ``class``, ``reason`` (why this class; for "inconclusive" what is missing), ``claims``,
        ``error_rate``, ``families`` (level, q, size of each), ``base_step``, ``dip_step``, ``depth``,
        ``recovery_step``, ``recovery_gain``, ``peak_step``, ``fall_step``, ``final_step``, ``final_gain``
        (intervals as ``{est, lo, hi}``, family A or P), ``q`` (critical value of family A), per-checkpoint
        ``below``/``above`` flags and ``diff_lo``/``diff_hi`` (family A), ``resolution`` and ``notes``.
    """
    steps = np.asarray(steps)
    out: dict = {
        "base_step": int(steps[0]),
        "final_step": int(steps[-1]),
        "notes": [],
        "claims": [],
        "error_rate": float(1.0 - level),
        "dip_step": None,
        "depth": None,
        "recovery_step": None,
        "recovery_gain": None,
        "peak_step": None,
        "fall_step": None,
    }
    if len(steps) < 2:
        out.update({"class": "inconclusive", "reason": "only one checkpoint: nothing to compare"})
        out["notes"].append(out["reason"])
        return out
    est, bt = boot.est, boot.boot
    n_min = int(np.min(boot.n_items)) if boot.n_items.size else 0
    df = max(n_min - 1, 1)
    flev = family_level(level)
    S = len(steps)
    d = est[1:] - est[0]
    lo, hi, q = pair_intervals(bt, est, np.zeros(S - 1, dtype=int), np.arange(1, S), flev, df)
    below, above = hi < 0, lo > 0
    # pairs of later checkpoints, as indices into d (checkpoint = index + 1)
    ii, jj = np.triu_indices(S - 1, k=1)
    e = est[jj + 1] - est[ii + 1]
    plo, phi, pq = pair_intervals(bt, est, ii + 1, jj + 1, flev, df)
    M = _rate_matrix(steps)
    r = est @ M
    rlo, rhi, rq = joint_intervals(r, bt @ M, flev, df)
    out.update(
        {
            "q": q,
            "families": {
                "vs_base": {"level": flev, "q": q, "size": int(d.size)},
                "pairs": {"level": flev, "q": pq, "size": int(e.size)},
                "rate_change": {"level": flev, "q": rq, "size": int(r.size)},
            },
            "diff_steps": [int(s) for s in steps[1:]],
            "below": below.tolist(),
            "above": above.tolist(),
            "diff_lo": lo.tolist(),
            "diff_hi": hi.tolist(),
            "final_gain": _iv(d[-1], lo[-1], hi[-1]),
        }
    )
    # the final gain's half-width, or the typical one when the final difference happens to have no spread
    halves = (hi - lo) / 2
    half = float(max(halves[-1], np.median(halves)))
    out["resolution"] = half
    if n_min < MIN_ITEMS:
        below[:] = above[:] = False
        plo[:], phi[:], rlo[:], rhi[:] = -np.inf, np.inf, -np.inf, np.inf
    # Recovery from i: a rise i -> j (P) or above base at j (A; then mu_j > mu_0 > mu_i). Fall: the mirror image.
    rec = below[ii] & ((plo > 0) | above[jj])
    fall = above[ii] & ((phi < 0) | below[jj])
    ctx = (steps, d, lo, hi, e, plo, phi, ii, jj)
    cls, reason = _name(out, ctx, below, above, rec, fall, (r, rlo, rhi))
    if cls is None:
        cls, reason = _no_claim(out, boot, below, above, half, resolution, n_min)
    if 0 < n_min < FEW_ITEMS:
        out["notes"].append(f"only {n_min} items: intervals rest on few items")
    out["class"], out["reason"] = cls, reason
    if cls in NO_CLAIM:
        out["notes"].insert(0, reason)
    return out


def _name(out, ctx, below, above, rec, fall, rate) -> tuple[str | None, str]:
    """The class from the claims (None when nothing completes a class). Fills dip/recovery/peak/fall fields."""
    steps, d, lo, hi, e, plo, phi, ii, jj = ctx
    st = [int(s) for s in steps[1:]]
    first_dip = int(ii[rec].min()) if rec.any() else None
    first_peak = int(ii[fall].min()) if fall.any() else None
    if first_dip is not None:
        # the reported dip: the lowest below-base checkpoint that has a claimed recovery after it
        dips = np.unique(ii[rec])
        i = int(dips[np.argmin(d[dips])])
        k = int(np.flatnonzero(rec & (ii == i))[0])  # first recovery checkpoint after the dip
        j = int(jj[k])
        out["dip_step"], out["depth"] = st[i], _iv(d[i], lo[i], hi[i])
        out["recovery_step"], out["recovery_gain"] = st[j], _iv(e[k], plo[k], phi[k])
        out["claims"] += [f"below base at step {st[i]}", f"rises from step {st[i]} to step {st[j]}"]
    if first_peak is not None:
        peaks = np.unique(ii[fall])
        i = int(peaks[np.argmax(d[peaks])])
        k = int(np.flatnonzero(fall & (ii == i))[0])
        out["peak_step"], out["fall_step"] = st[i], st[int(jj[k])]
        out["claims"] += [f"above base at step {st[i]}", f"falls from step {st[i]} to step {st[int(jj[k])]}"]
    if below[-1]:
        out["claims"].append("below base at the final checkpoint")
    if above[-1]:
        out["claims"].append("above base at the final checkpoint")
    if first_dip is not None and (first_peak is None or first_dip <= first_peak):
        if first_peak is not None:
            out["notes"].append(f"also falls after step {out['peak_step']} (step {out['fall_step']})")
        if below[-1]:
            return "dip-and-partial-recovery", "dipped, rose from the dip, still below base at the end"
        return "dip-and-recovery", "dipped below base, then rose significantly from the dip"
    if first_peak is not None:
        if first_dip is not None:
            out["notes"].append(f"also recovers after the dip at step {out['dip_step']}")
        return "rise-and-fall", "rose above base, then fell significantly"
    r, rlo, rhi = rate
    if below[-1] or above[-1]:
        up = bool(above[-1])
        slowed = (rlo > 0) if up else (rhi < 0)
        if slowed.any():
            m = int(np.flatnonzero(slowed)[0]) + 1
            out["claims"].append(f"the {'gain' if up else 'loss'} slowed after step {int(steps[m])}")
            out["slowed_step"] = int(steps[m])
            name = "rise-then-plateau" if up else "drop-and-stay"
            return (
                name,
                f"{'above' if up else 'below'} base at the end; the change came early and levelled off",
            )
        name = "improves" if up else "degrades"
        return name, f"{'above' if up else 'below'} base at the final checkpoint"
    return None, ""


def _no_claim(out, boot, below, above, half, resolution, n_min) -> tuple[str, str]:
    st = out["diff_steps"]
    est, bt = boot.est, boot.boot
    if n_min < MIN_ITEMS:
        return "inconclusive", (
            f"too few items or samples to conclude: {n_min} items; at least {MIN_ITEMS} are needed for any claim"
        )
    if below.any():
        s = st[int(np.argmax(below))]
        out["claims"].append(f"below base at step {s}")
        return "inconclusive", (
            f"below base at step {s}, but neither a significant rise after it nor a loss at the end can be claimed"
        )
    if above.any():
        s = st[int(np.argmax(above))]
        out["claims"].append(f"above base at step {s}")
        return "inconclusive", (
            f"above base at step {s}, but neither a significant fall after it nor a gain at the end can be claimed"
        )
    if np.all(np.nanstd(bt, axis=0) == 0) and np.all(est == est[0]):
        return "inconclusive", (
            f"too few items or samples to conclude: every item scores the same ({est[0]:.3f}) at every "
            "checkpoint (floor or ceiling), so the benchmark cannot show a change"
        )
    k = float(np.median(boot.k)) if boot.k.size else 0.0
    if not math.isfinite(half) or half > resolution:
        return "inconclusive", (
            f"too few items or samples to conclude: with {n_min} items, k={k:g} and {len(st) + 1} checkpoints, "
            f"changes within +/-{half:.3f} of the base cannot be told from noise at the "
            f"{out['error_rate']:.0%} error rate (resolution {resolution:.2f})"
        )
    return "flat within noise", f"no change can be claimed; vs-base intervals +/-{half:.3f}"


def verdicts(steps: Sequence[int], cls: dict) -> list[str]:
    """Per checkpoint after the base: 'below base', 'above base' or 'not distinguishable from base'."""
    return [
        "below base" if b else "above base" if a else "not distinguishable from base"
        for b, a in zip(cls.get("below", []), cls.get("above", []), strict=True)
    ]


def early_warning(steps: Sequence[int], boot: Boot, cls: dict, level: float) -> dict | None:
    """The paper's advice as a computed statement: an early checkpoint whose verdict differs from the final one.

    The checkpoint shown is the dip step when there is one, else the earliest checkpoint whose verdict (family A
    of :func:`classify`) differs from the final checkpoint's. Returns None when every checkpoint agrees.
    """
    vs = verdicts(steps, cls)
    if len(vs) < 2:
        return None
    final = vs[-1]
    idx = None
    if cls.get("dip_step") is not None and final != "below base":
        idx = list(steps[1:]).index(cls["dip_step"])
    else:
        diffs = [i for i, v in enumerate(vs[:-1]) if v != final]
        idx = diffs[0] if diffs else None
    if idx is None:
        return None
    d = boot.est[1:] - boot.est[0]
    lo, hi = cls["diff_lo"], cls["diff_hi"]
    x, f = int(steps[idx + 1]), int(steps[-1])
    text = (
        f"judged at step {x} this run looks {vs[idx]} ({d[idx]:+.3f} [{lo[idx]:+.3f}, {hi[idx]:+.3f}]); "
        f"the final checkpoint (step {f}) says {final} ({d[-1]:+.3f} [{lo[-1]:+.3f}, {hi[-1]:+.3f}])"
    )
    return {"step": x, "verdict": vs[idx], "final_step": f, "final_verdict": final, "text": text}


def simulate(
    model,
    n: int,
    k: int,
    steps: Sequence[int],
    shape: str,
    depth: float,
    n_sims: int,
    spec: BootSpec,
    *,
    resolution: float = TOO_WIDE,
) -> dict:
    """Class frequencies of the detector on simulated runs with a known true curve.

    Each simulated run draws n fresh items from ``model`` (see :class:`rsft.analysis.synthetic.ItemModel`), moves
    every item's logit by the shift that puts the population mean at ``base + depth * shape(x)`` and draws k
    Bernoulli samples per item and checkpoint; then the two-stage bootstrap and :func:`classify` run as on a
    real store.

    Args:
        model: the item model (base accuracies and item x checkpoint jitter).
        n: items; k: samples per item; steps: checkpoint steps.
        shape: a name in :data:`rsft.analysis.synthetic.SHAPES`.
        depth: size of the change in score points (``shape`` gives its sign and timing).
        n_sims: simulated runs.
        spec: bootstrap replicates, seed, level (the seed also drives the simulation).
        resolution: as in :func:`classify`.

    Returns:
        ``{"n", "k", "steps", "shape", "depth", "sims", "rates": {class: share}, "false_verdict": share of
        false verdicts for this shape, "false_verdict_upper": one-sided 95% Clopper-Pearson upper bound,
        "correct": share in the shape's own classes, "dip_detected": share in a dip class, "non_flat": share
        with any claim, "mc_se" / "false_verdict_se" / "correct_se": Monte-Carlo standard errors of
        dip_detected / false_verdict / correct, "item_model": the model}``.
    """
    from rsft.analysis.synthetic import simulate_counts

    steps = np.asarray(steps)
    rng = spec.rng("simulate", shape, f"{depth:.6g}", str(n), str(k), str(len(steps)))
    cnt = np.full((n, len(steps)), float(k))
    counts = dict.fromkeys(CLASSES, 0)
    prep = model.prepare()
    for _ in range(n_sims):
        x = simulate_counts(prep, n, k, steps, shape, depth, rng)
        b = bootstrap_means(cnt, x, x, spec, rng, binary=True)
        counts[classify(steps, b, spec.level, resolution=resolution)["class"]] += 1
    sims = max(n_sims, 1)
    rates = {c: counts[c] / sims for c in CLASSES}
    bad = sum(counts[c] for c in false_verdicts(shape))
    good = sum(counts[c] for c in TRUE_CLASSES[shape])
    dip = sum(counts[c] for c in DIP_CLASSES)

    def se(x: int) -> float:
        # floor of 0.25/sims: a share of 0 or 1 from few simulations is never shown as exact
        p = x / sims
        return float(np.sqrt((p * (1 - p) + 0.25 / sims) / sims))

    return {
        "n": int(n),
        "k": int(k),
        "steps": int(len(steps)),
        "shape": shape,
        "depth": float(depth),
        "sims": int(n_sims),
        "rates": rates,
        "false_verdict": bad / sims,
        "false_verdict_upper": clopper_pearson(bad, n_sims, 0.95)[1] if n_sims else 1.0,
        "correct": good / sims,
        "dip_detected": dip / sims,
        "non_flat": 1.0 - (counts["flat within noise"] + counts["inconclusive"]) / sims,
        "mc_se": se(dip),
        "false_verdict_se": se(bad),
        "correct_se": se(good),
        "item_model": model.describe(),
    }


def curve_summary(steps: Sequence[int], boot: Boot, level: float) -> dict:
    """Columns of a curve: step, est, pointwise interval, n items, k; differences vs base (pointwise and
    simultaneous over the checkpoints at ``level``) and vs the previous checkpoint (pointwise)."""
    lo, hi = percentile_ci(boot.boot, level)
    d = boot.est - boot.est[0]
    db = boot.boot - boot.boot[:, [0]]
    dlo, dhi = percentile_ci(db, level)
    slo, shi, _ = simultaneous_ci(d[1:], db[:, 1:], level)
    prev = np.concatenate([[np.nan], np.diff(boot.est)])
    pb = np.concatenate([np.full((boot.boot.shape[0], 1), np.nan), np.diff(boot.boot, axis=1)], axis=1)
    with np.errstate(invalid="ignore"):
        plo, phi = percentile_ci(pb[:, 1:], level) if len(steps) > 1 else (np.array([]), np.array([]))
    return {
        "step": [int(s) for s in steps],
        "est": boot.est.tolist(),
        "lo": lo.tolist(),
        "hi": hi.tolist(),
        "n_items": boot.n_items.tolist(),
        "k": boot.k.tolist(),
        "diff_base": d.tolist(),
        "diff_base_lo": dlo.tolist(),
        "diff_base_hi": dhi.tolist(),
        "diff_base_sim_lo": [0.0, *slo.tolist()],
        "diff_base_sim_hi": [0.0, *shi.tolist()],
        "diff_prev": prev.tolist(),
        "diff_prev_lo": [float("nan"), *np.asarray(plo).tolist()],
        "diff_prev_hi": [float("nan"), *np.asarray(phi).tolist()],
    }
