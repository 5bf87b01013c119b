"""Dip-and-recovery detector: a written definition, calibrated by simulation.

Definition (all differences are paired on the same items; "significantly" means that a simultaneous bootstrap
interval at ``level`` — max-|t| over the family, see :func:`rsft.analysis.stats.simultaneous_ci` — excludes 0):

1. Family A: the differences ``d_s = score(s) - score(base)`` for every checkpoint ``s`` after the base (step 0, or
   the earliest step when there is no step 0). A checkpoint is *below base* when its simultaneous upper bound is
   < 0, *above base* when its lower bound is > 0.
2. **Dip**: at least one checkpoint is below base. The *dip step* is the below-base checkpoint with the lowest
   score; the *depth* is its ``d`` with its simultaneous interval.
3. Family B (only when there is a dip): the differences ``score(r) - score(dip)`` for every later checkpoint ``r``.
   **Recovery**: the first later ``r`` that is significantly above the dip (family B) and not below base
   (family A).
4. Classes, in order:
   - *dip-and-recovery*: a dip, a recovery, and the final checkpoint is not below base;
   - *degrades*: the final checkpoint is below base;
   - *dip without recovery*: a dip, the final checkpoint is not below base, but no later checkpoint is
     significantly above the dip;
   - *improves*: no dip and the final checkpoint is above base;
   - *flat within noise*: none of the above (a transient gain that is gone at the end is noted).
5. The *final gain* is ``d`` at the last checkpoint, with its simultaneous interval.

Because every "significant" statement about family A holds jointly at ``level``, on a flat curve (no true change)
any non-flat class has probability <= 1 - level, whatever the number of checkpoints; :func:`simulate` measures this
and the power to detect dips of a given depth for a run's n items, k samples and steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rsft.analysis.stats import Boot, BootSpec, bootstrap_means, percentile_ci, simultaneous_ci

CLASSES = ("improves", "dip-and-recovery", "dip without recovery", "degrades", "flat within noise")
DIP_CLASSES = ("dip-and-recovery", "dip without recovery", "degrades")
TOO_WIDE = 0.05  # a flat verdict whose final-gain half-width exceeds this is reported as inconclusive
FEW_ITEMS = 30  # below this many items the bootstrap's intervals are rough, and the report says so


def _iv(est: float, lo: float, hi: float) -> dict:
    return {"est": float(est), "lo": float(lo), "hi": float(hi)}


def classify(steps: Sequence[int], boot: Boot, level: float) -> dict:
    """Apply the definition in the module docstring to one curve.

    Args:
        steps: (S,) checkpoint steps, sorted; ``steps[0]`` is the base.
        boot: point estimates and paired replicates (see :func:`rsft.analysis.stats.bootstrap_means`).
        level: joint coverage of each family of intervals.

    Returns:
        A dict with ``class``, ``base_step``, ``dip_step``, ``depth``, ``recovery_step``, ``recovery_gain``,
        ``final_step``, ``final_gain`` (intervals as ``{est, lo, hi}``), ``q`` (critical |t| of family A),
        per-checkpoint ``below``/``above`` flags, and ``notes``.
    """
    steps = np.asarray(steps)
    out: dict = {"base_step": int(steps[0]), "final_step": int(steps[-1]), "notes": []}
    if len(steps) < 2:
        out.update({"class": "flat within noise", "notes": ["only one checkpoint: nothing to compare"]})
        return out
    est, bt = boot.est, boot.boot
    d = est[1:] - est[0]
    db = bt[:, 1:] - bt[:, [0]]
    lo, hi, q = simultaneous_ci(d, db, level)
    below, above = hi < 0, lo > 0
    out.update(
        {
            "q": q,
            "diff_steps": [int(s) for s in steps[1:]],
            "below": below.tolist(),
            "above": above.tolist(),
            "final_gain": _iv(d[-1], lo[-1], hi[-1]),
            "dip_step": None,
            "depth": None,
            "recovery_step": None,
            "recovery_gain": None,
        }
    )
    if below.any():
        j = int(np.argmin(np.where(below, d, np.inf)))
        out["dip_step"], out["depth"] = int(steps[j + 1]), _iv(d[j], lo[j], hi[j])
        later = np.arange(j + 1, len(d))
        if later.size:
            e = est[later + 1] - est[j + 1]
            eb = bt[:, later + 1] - bt[:, [j + 1]]
            elo, ehi, _ = simultaneous_ci(e, eb, level)
            ok = (elo > 0) & ~below[later]
            if ok.any():
                r = int(np.argmax(ok))
                out["recovery_step"] = int(steps[later[r] + 1])
                out["recovery_gain"] = _iv(e[r], elo[r], ehi[r])
    if below[-1]:
        cls = "degrades"
    elif out["dip_step"] is not None:
        cls = "dip-and-recovery" if out["recovery_step"] is not None else "dip without recovery"
    elif above[-1]:
        cls = "improves"
    else:
        cls = "flat within noise"
        if above.any():
            first = int(steps[1 + int(np.argmax(above))])
            out["notes"].append(f"transient gain: above base at step {first}, not at the final checkpoint")
    half = float((hi[-1] - lo[-1]) / 2)
    out["resolution"] = half
    n_max = int(np.max(boot.n_items)) if boot.n_items.size else 0
    if np.all(np.nanstd(bt, axis=0) == 0) and np.all(est == est[0]):
        out["notes"].append(
            f"too few items or samples to conclude: every item scores the same ({est[0]:.3f}) at every "
            "checkpoint (floor or ceiling), so the benchmark cannot show a change"
        )
    elif cls == "flat within noise" and half > TOO_WIDE:
        out["notes"].append(
            f"too few items or samples to conclude: final-gain interval is +/-{half:.3f}, "
            f"so changes of that size are not detectable here"
        )
    if 0 < n_max < FEW_ITEMS:
        out["notes"].append(f"only {n_max} items: intervals rest on few items")
    out["class"] = cls
    return out


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
    est = boot.est
    d = est[1:] - est[0]
    lo, hi, _ = simultaneous_ci(d, boot.boot[:, 1:] - boot.boot[:, [0]], level)
    x, f = int(steps[idx + 1]), int(steps[-1])
    text = (
        f"judged at step {x} this run looks {vs[idx]} ({d[idx]:+.3f} [{lo[idx]:+.3f}, {hi[idx]:+.3f}]); "
        f"the final checkpoint (step {f}) says {final} ({d[-1]:+.3f} [{lo[-1]:+.3f}, {hi[-1]:+.3f}])"
    )
    return {"step": x, "verdict": vs[idx], "final_step": f, "final_verdict": final, "text": text}


def dip_shape(steps: Sequence[int]) -> np.ndarray:
    """A triangular dip: 0 at the base and the final checkpoint, 1 at the middle checkpoint."""
    S = len(steps)
    mid = (S - 1) / 2.0
    return np.clip(1.0 - np.abs(np.arange(S) - mid) / max(mid, 1e-9), 0.0, 1.0)


def simulate(
    base_p: np.ndarray,
    k: int,
    steps: Sequence[int],
    depth: float,
    n_sims: int,
    spec: BootSpec,
    *,
    shape: np.ndarray | None = None,
) -> dict:
    """Class frequencies of the detector on simulated curves with known truth.

    Item ``i`` at checkpoint ``s`` succeeds with probability ``clip(base_p[i] - depth * shape[s], 0, 1)``
    (binary scores, k samples per item); ``depth = 0`` is a flat curve (false-positive rate), ``depth > 0`` a dip
    of that size in score points (power).

    Args:
        base_p: (n,) per-item success probabilities of the base model.
        k: samples per item.
        steps: checkpoint steps.
        depth: true dip depth at the bottom of the dip.
        n_sims: simulated runs.
        spec: bootstrap replicates, seed, level (the seed also drives the simulation).
        shape: (S,) dip shape (default :func:`dip_shape`).

    Returns:
        ``{"n": n, "k": k, "steps": S, "depth": depth, "sims": n_sims, "rates": {class: share},
        "dip_detected": share in a dip class, "non_flat": share in any non-flat class, "mc_se": Monte-Carlo
        standard error of the dip share}``.
    """
    rng = spec.rng("simulate", str(depth), str(k), str(len(steps)))
    shape = dip_shape(steps) if shape is None else shape
    p = np.clip(base_p[:, None] - depth * shape[None, :], 0.0, 1.0)
    n, S = p.shape
    cnt = np.full((n, S), float(k))
    counts = dict.fromkeys(CLASSES, 0)
    for _ in range(n_sims):
        x = rng.binomial(k, p).astype(np.float64)
        b = bootstrap_means(cnt, x, x, spec, rng, binary=True)
        counts[classify(steps, b, spec.level)["class"]] += 1
    rates = {c: counts[c] / n_sims for c in CLASSES}
    detected = sum(rates[c] for c in DIP_CLASSES)
    return {
        "n": int(n),
        "k": int(k),
        "steps": int(S),
        "depth": float(depth),
        "sims": int(n_sims),
        "rates": rates,
        "dip_detected": detected,
        "non_flat": 1.0 - rates["flat within noise"],
        # floor of 0.25/sims: a share of 0 or 1 from few simulations is never shown as exact
        "mc_se": float(np.sqrt((detected * (1 - detected) + 0.25 / n_sims) / n_sims)),
    }


def curve_summary(steps: Sequence[int], boot: Boot, level: float) -> dict:
    """Columns of a curve: step, est, pointwise interval, n items, k; differences vs base (pointwise and
    simultaneous) and vs the previous checkpoint (pointwise)."""
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
