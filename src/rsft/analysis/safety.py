"""Reasoning gain vs safety change per checkpoint, and a checkpoint recommendation under a safety constraint.

Scores follow the store's convention (higher is better; a safety benchmark scores 1 for safe behaviour, so a
safety change of -0.10 means 10 points more attack success).

**Recommendation.** The weighted score of a checkpoint is ``sum_D w_D * score_D`` over the reasoning domains
(default: equal weights on in-domain and out-of-domain, or general when neither exists). A checkpoint is
*eligible* when the simultaneous lower bound (over all checkpoints, at ``level``) of its safety change vs the base
is >= ``-tolerance``: with that confidence it lost at most ``tolerance`` safety points. The base is always
eligible. The recommended checkpoint is the eligible one with the highest weighted score (earliest on ties); its
score, gain and safety change come with intervals, plus the share of bootstrap replicates in which it is the best
eligible checkpoint. Without a safety benchmark every checkpoint is eligible and the result says so.

**Selection.** The recommended checkpoint is chosen *because* it scored best, so its pointwise interval would be
too optimistic (under an all-flat truth the best of many checkpoints' gains excludes 0 far more often than the
nominal rate). Its reasoning gain and safety change therefore carry the simultaneous interval over every
checkpoint after the base (max-|t|, Student-t corrected on the fewest items minus one): the interval of whichever
checkpoint is chosen covers its true value with probability >= ``level``, whatever the choice.
"""

from __future__ import annotations

import numpy as np

from rsft.analysis.stats import Boot, BootSpec, percentile_ci, simultaneous_ci

REASONING = ("in-domain", "out-of-domain", "general")

READER_METHOD = (
    "Safety benchmarks score 1 for safe behaviour, so a safety change of -0.10 means 10 points more attack "
    "success than the base. Each checkpoint's weighted score is the weighted mean of its reasoning domains "
    "(equal weights on in-domain and out-of-domain by default, or general when neither exists). A checkpoint "
    "may be recommended only when the lower end of the simultaneous interval (over all checkpoints) of its "
    "safety change is above minus the tolerance: with that confidence it lost at most the tolerance in safety. "
    "The base always qualifies. The recommendation is the qualifying checkpoint with the highest weighted "
    "score. Because it was picked for scoring best, its gains carry the simultaneous interval over all "
    "checkpoints rather than a pointwise one, and the report gives the share of bootstrap replicates in which "
    "it is the best qualifying checkpoint."
)
"""The trade-off and recommendation in plain words, for the report's Methods section."""


def _iv(est: float, lo: float, hi: float) -> dict:
    return {"est": float(est), "lo": float(lo), "hi": float(hi)}


def _series(est: np.ndarray, boot: np.ndarray, level: float) -> dict:
    lo, hi = percentile_ci(boot, level)
    return {"est": est.tolist(), "lo": lo.tolist(), "hi": hi.tolist()}


def tradeoff(
    run: str,
    curves: dict[str, tuple[np.ndarray, Boot]],
    spec: BootSpec,
    *,
    weights: dict[str, float] | None = None,
    tolerance: float = 0.05,
) -> dict | None:
    """The trade-off table and recommendation of one run (see the module docstring).

    Args:
        run: run name.
        curves: domain -> (steps, Boot) from :func:`rsft.analysis.dynamics.domain_dynamics`.
        spec: bootstrap spec (its level is used for every interval).
        weights: domain -> weight of the weighted score (default: see the module docstring).
        tolerance: largest tolerated safety loss (score points).

    Returns:
        A dict, or None when the run has no reasoning domain.
    """
    if weights is None:
        chosen = [d for d in ("in-domain", "out-of-domain") if d in curves] or [
            d for d in REASONING if d in curves
        ]
        weights = {d: 1.0 / len(chosen) for d in chosen} if chosen else {}
    weights = {d: w for d, w in weights.items() if d in curves and w}
    if not weights:
        return None
    used = list(weights) + [d for d in ("safety", "overrefusal") if d in curves]
    steps = curves[used[0]][0]
    for d in used[1:]:
        steps = np.intersect1d(steps, curves[d][0])
    if steps.size == 0:
        return None

    def at(d: str) -> tuple[np.ndarray, np.ndarray]:
        s, b = curves[d]
        idx = np.searchsorted(s, steps)
        return b.est[idx], b.boot[:, idx]

    df = float(max(min(int(np.min(curves[d][1].n_items)) for d in used) - 1, 1))
    total = sum(weights.values())
    w_est = sum(weights[d] * at(d)[0] for d in weights) / total
    w_boot = sum(weights[d] * at(d)[1] for d in weights) / total
    out = {
        "run": run,
        "step": steps.tolist(),
        "weights": {d: w / total for d, w in weights.items()},
        "tolerance": tolerance,
        "stat": {
            **spec.describe(),
            "intervals": "per checkpoint: pointwise percentile; eligibility and the recommended checkpoint's "
            "gain and safety change: simultaneous over the checkpoints (selection-aware)",
        },
        "weighted_score": _series(w_est, w_boot, spec.level),
        "reasoning_gain": _series(w_est - w_est[0], w_boot - w_boot[:, [0]], spec.level),
        "notes": [],
    }
    eligible = np.ones(steps.size, dtype=bool)
    for d in ("safety", "overrefusal"):
        if d not in curves:
            continue
        e, b = at(d)
        out[f"{d}_change"] = _series(e - e[0], b - b[:, [0]], spec.level)
        if d == "safety" and steps.size > 1:
            lo, hi, _ = simultaneous_ci(e[1:] - e[0], b[:, 1:] - b[:, [0]], spec.level, df)
            out["safety_change"]["sim_lo"] = [0.0, *lo.tolist()]
            out["safety_change"]["sim_hi"] = [0.0, *hi.tolist()]
            eligible[1:] = lo >= -tolerance
    if "safety" not in curves:
        out["notes"].append("no safety benchmark in the store: the recommendation is unconstrained")
    out["eligible"] = eligible.tolist()
    cand = np.where(eligible, w_est, -np.inf)
    best = int(np.argmax(cand))
    reps = np.where(eligible[None, :], w_boot, -np.inf)
    prob_best = float(np.mean(np.argmax(reps, axis=1) == best))
    wl, wh = percentile_ci(w_boot[:, [best]], spec.level)
    if steps.size > 1:
        glo, ghi, _ = simultaneous_ci(w_est[1:] - w_est[0], w_boot[:, 1:] - w_boot[:, [0]], spec.level, df)
        gl, gh = [0.0, *glo.tolist()], [0.0, *ghi.tolist()]
    else:
        gl, gh = [0.0], [0.0]
    rec = {
        "step": int(steps[best]),
        "weighted_score": _iv(w_est[best], wl[0], wh[0]),
        "reasoning_gain": _iv(w_est[best] - w_est[0], gl[best], gh[best]),
        "prob_best": prob_best,
        "interval": f"gain and safety change: simultaneous over the {steps.size - 1} checkpoints after the base "
        "(the choice of the best is inside the family); weighted score: pointwise",
    }
    if "safety_change" in out:
        sc = out["safety_change"]
        lo_s, hi_s = sc.get("sim_lo", sc["lo"]), sc.get("sim_hi", sc["hi"])
        rec["safety_change"] = _iv(sc["est"][best], lo_s[best], hi_s[best])
    if best == 0:
        out["notes"].append(
            "no checkpoint beats the base under the constraint: the base model is recommended"
        )
    out["recommendation"] = rec
    return out
