"""Shape detector for a score-vs-checkpoint curve: claims that hold jointly, calibrated on known-truth shapes.

Every statement the detector makes is a *claim* about the true (population) curve ``mu_s``; a class is named only
from claims. Claims are one-sided tests of paired differences (all paired on the same items; replicates from the
two-stage bootstrap of :mod:`rsft.analysis.stats`, one item draw shared by all checkpoints, so the item-level
correlation across checkpoints, drift included, is kept), studentized, each family with a max-t critical value
``q`` (the quantile over replicates of the family's largest centred t). The error budget ``alpha = 1 - level`` is
split by Bonferroni over four families (:data:`ALPHA_SHARE`), so whatever the true shape, the probability that the
verdict contains a false claim is <= ``alpha``:

- **vs_base** (40% of alpha): *below base* ``mu_0 - mu_s`` and *above base* ``mu_s - mu_0`` for every checkpoint
  ``s`` after the base (step 0, or the earliest step); one maximum over both directions.
- **rise_to_final** (40%): *later vs dip*, ``mu_T - mu_i`` for every candidate dip ``i`` between the base and the
  final checkpoint ``T``, one-sided (the final above the dip).
- **fall_to_final** (10%): ``mu_i - mu_T``, one-sided (the mirror image, for a rise that fell back).
- **rate_change** (10%): for every split checkpoint ``m``, gain per step before ``m`` minus gain per step after
  ``m``, ``(mu_m - mu_0)/(t_m - t_0) - (mu_T - mu_m)/(t_T - t_m)``, two-sided. *Slowed* when it excludes 0 with
  the sign of the overall change. Rate-change claims never enter the dip decision.

A **dip** at ``i`` is the conjunction *below base at i* and *the final above i* (or *above base* at a later
checkpoint): an intersection-union test, each part in its own family, so the conjunction needs no further
correction, and the choice of ``i`` (the lowest of noisy estimates) is inside the max-t over candidate dips. The
recovery contrast is pre-specified (dip to final, not dip to the best later checkpoint), which keeps its family
small and its critical value low: power that costs no error rate. **Recovered** (non-inferiority) is the claim
``mu_T - mu_0 > -margin`` (``margin`` default :data:`RECOVERY_MARGIN` = 0.02 score points), made when the lower end
of the final gain's interval (``est - q se``, family vs_base) is above ``-margin``; its centred t is the final
vs-base one, already in that family's maximum, so it costs nothing either.

With few items the estimated standard errors are themselves noisy, so each critical value is moved from the
normal to the Student-t scale with ``n_items - 1`` degrees of freedom (Cornish-Fisher), keeping the tail
probability, when there are fewer than :data:`FEW_ITEMS` items.

Classes (first match):

- **dip-and-recovery**: below base at ``i``, then the final above ``i`` or above base at a later ``j``, and
  the final checkpoint is shown to be no more than ``margin`` below the base (recovered).
  **dip-and-partial-recovery**: the dip and the rise are claimed, but the final checkpoint is not shown to be
  within ``margin`` of the base; the ``reason`` gives the final gain and its lower bound.
- **rise-and-fall**: above base at ``i``, then the final below ``i`` (fall_to_final) or below base at a later ``j``. When both a
  dip-with-rise and a rise-with-fall are claimed, the one that starts first names the class (a note names the
  other).
- **degrades**: the final checkpoint is below base; **drop-and-stay** when, in addition, the loss slowed.
- **improves**: the final checkpoint is above base; **rise-then-plateau** when, in addition, the gain slowed.
- **inconclusive** (no claim): nothing completes a class, and either some checkpoint looks below (above) base
  while neither a rise (fall) after it nor a final loss (gain) can be claimed, or changes smaller than
  ``resolution`` (default 0.05 score points, the final-gain half-width) cannot be told from noise for this n, k
  and number of checkpoints. The ``reason`` says which.
- **flat within noise** (no claim): nothing can be claimed and the final-gain interval is narrower than
  +/- ``resolution``.

"Flat within noise" and "inconclusive" make no claim, so they are never false verdicts; missing a real change is a
question of power, which :func:`simulate` measures for a run's n, k and checkpoints, beside the reference test
:func:`reference_dip` (the plain max-t over the dip-vs-base and later-vs-dip contrasts at the whole ``alpha``).
Tested false-verdict rates and power ratios are in docs/analysis.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from rsft.analysis.stats import (
    Boot,
    BootSpec,
    bootstrap_means,
    clopper_pearson,
    percentile_ci,
    simultaneous_ci,
    t_scale,
)

ShapeClass = Literal[
    "improves",
    "rise-then-plateau",
    "dip-and-recovery",
    "dip-and-partial-recovery",
    "rise-and-fall",
    "degrades",
    "drop-and-stay",
    "flat within noise",
    "inconclusive",
]
"""The detector's classes: the one list every reader (analysis tables, report figures, findings) uses."""
CLASSES: tuple[ShapeClass, ...] = get_args(ShapeClass)
DIP_CLASSES: tuple[ShapeClass, ...] = ("dip-and-recovery", "dip-and-partial-recovery")
NO_CLAIM: tuple[ShapeClass, ...] = ("flat within noise", "inconclusive")
ALPHA_SHARE = {"vs_base": 0.4, "rise_to_final": 0.4, "fall_to_final": 0.1, "rate_change": 0.1}
"""Bonferroni shares of ``alpha = 1 - level`` (they sum to 1)."""
FAMILIES = tuple(ALPHA_SHARE)
RECOVERY_MARGIN = (
    0.02  # score points the final checkpoint may stay below the base and still count as recovered
)

READER_METHOD = (
    "Each curve (a score per checkpoint) is given one shape class, named only from statements the data supports "
    "at the stated level, so that the chance that a verdict contains a false statement is at most 1 - level "
    "(5% at 95%). The statements compare checkpoints on the same items: a checkpoint below or above the base "
    "(the first checkpoint), the final checkpoint above an earlier low point, the final below an earlier high "
    "point, and whether the change slowed. The error budget is split over these four families (40%, 40%, 10%, "
    "10%) and each family uses a simultaneous interval over its checkpoints, so picking the lowest checkpoint as "
    "the dip is already accounted for. A dip is a checkpoint shown below the base followed by a rise shown from "
    "it; it counts as a full recovery (dip-and-recovery) when the final checkpoint is also shown to be no more "
    f"than {RECOVERY_MARGIN} score points below the base, and as dip-and-partial-recovery otherwise. Without a dip, a "
    "curve improves, degrades, rises then plateaus, drops and stays, or rises and falls. 'Flat within noise' "
    "and 'inconclusive' claim nothing: the first when the final change is shown to be small, the second when "
    "this number of items (n), samples per item (k) and checkpoints cannot tell a change from noise. Whether a "
    "run of this size could have seen a dip at all is measured by simulation (the power table in section 5)."
)
"""The detector in plain words, for the report's Methods section (the module docstring is the exact rule)."""
TOO_WIDE = 0.05  # default resolution: a no-claim verdict with a wider final-gain half-width is "inconclusive"
FEW_ITEMS = 30  # below this many items the bootstrap's intervals are rough: Student-t critical values, a note
MIN_ITEMS = 5  # below this the Student-t correction is undefined in practice: nothing is claimed
_CHUNK = 250_000  # replicate x contrast entries per block when computing max-t (fits a CPU cache)

# Which verdicts are false for each known-truth shape of rsft.analysis.synthetic.SHAPES.
_RISE_OK = ("improves", "rise-then-plateau")
_DROP_OK = ("degrades", "drop-and-stay")
TRUE_CLASSES = {
    "flat": (),
    "drop-and-stay": _DROP_OK,
    "drop-and-stay gradual": _DROP_OK,
    "steady decline": ("degrades",),
    "steady rise": ("improves",),
    "rise-then-plateau": _RISE_OK,
    "dip-and-recovery": ("dip-and-recovery", "dip-and-partial-recovery"),
    "dip-and-partial-recovery": ("dip-and-partial-recovery", "degrades"),
}


CLASS_CLAIMS: dict[str, frozenset[str]] = {
    "improves": frozenset({"final above base"}),
    "rise-then-plateau": frozenset({"final above base", "gain slowed"}),
    "degrades": frozenset({"final below base"}),
    "drop-and-stay": frozenset({"final below base", "loss slowed"}),
    "dip-and-recovery": frozenset({"dip below base", "rise from the dip", "final within margin of base"}),
    "dip-and-partial-recovery": frozenset({"dip below base", "rise from the dip"}),
    "rise-and-fall": frozenset({"peak above base", "fall from the peak"}),
    "flat within noise": frozenset(),
    "inconclusive": frozenset(),
}
"""The claims every verdict of a class makes (what :func:`_name` requires before it names the class)."""


def verdict_claims(verdict: dict | str) -> frozenset[str]:
    """The claims of a verdict: its class's (:data:`CLASS_CLAIMS`) plus the final checkpoint's sign vs base when
    the verdict claims it (a dip or a peak class may also claim it). A bare class name gives the class's claims."""
    if isinstance(verdict, str):
        return CLASS_CLAIMS[verdict]
    out = set(CLASS_CLAIMS[verdict["class"]])
    if verdict.get("below") and verdict["below"][-1]:
        out.add("final below base")
    if verdict.get("above") and verdict["above"][-1]:
        out.add("final above base")
    return frozenset(out)


def compare_verdicts(reference: dict | str, other: dict | str) -> str:
    """How ``other``'s claims relate to ``reference``'s: ``same`` (the same claims; two no-claim verdicts),
    ``weaker`` (a strict subset: fewer claims, none new), ``stronger`` (a strict superset) or ``contradicts``
    (each makes a claim the other does not: a different decided class, or opposite signs).

    Classes are compared by what they claim, not by name: "dip-and-partial-recovery" claims the dip and the rise
    and *not* that the final is within the margin, so it is weaker than "dip-and-recovery", never contrary to it.
    """
    a, b = verdict_claims(reference), verdict_claims(other)
    if a == b:
        return "same"
    if b < a:
        return "weaker"
    if a < b:
        return "stronger"
    return "contradicts"


def false_verdicts(shape: str) -> tuple[str, ...]:
    """Classes that contain a false claim when the true curve has ``shape`` (no-claim classes never do).

    On a dip that returns to the base, "dip-and-partial-recovery" is true (a dip, a rise, and no claim that the
    final checkpoint is within the margin).
    """
    ok = set(TRUE_CLASSES[shape]) | set(NO_CLAIM)
    return tuple(c for c in CLASSES if c not in ok)


def family_level(level: float, family: str = "vs_base") -> float:
    """Level of one claim family: ``1 - alpha * ALPHA_SHARE[family]`` (all families hold together at ``level``)."""
    return 1.0 - (1.0 - level) * ALPHA_SHARE[family]


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


def pair_t(
    bt: np.ndarray, est: np.ndarray, ii: np.ndarray, jj: np.ndarray, sign: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centred bootstrap t of the differences ``est[jj] - est[ii]`` and each replicate's largest one.

    ``sign`` +1: the largest ``t`` (one-sided, the difference above its estimate); -1: the largest ``-t``;
    0: the largest ``|t|``. Standard errors come from the (S, S) replicate covariance; the maximum is taken in
    float32 over blocks of replicates without materialising all of them (all pairs of 130 checkpoints: 8,000+).

    Returns:
        (est diff, se, ok: se > 0, tmax (B,); ``-inf`` where no contrast has spread).
    """
    e = est[jj] - est[ii]
    B = len(bt)
    if e.size == 0:
        return e, np.zeros(0), np.zeros(0, dtype=bool), np.full(B, -np.inf)
    if np.isnan(bt).any():
        reps = bt[:, jj] - bt[:, ii]
        se = np.nanstd(reps, axis=0, ddof=1)
        ok = np.isfinite(se) & (se > 1e-12)
        t = (reps[:, ok] - e[ok]) / se[ok]
        t = np.abs(t) if sign == 0 else sign * t
        tmax = np.nanmax(np.where(np.isnan(t), -np.inf, t), axis=1) if ok.any() else np.full(B, -np.inf)
        return e, np.nan_to_num(se), ok, tmax
    cov = np.cov(bt, rowvar=False).reshape(bt.shape[1], bt.shape[1])
    var = cov[ii, ii] + cov[jj, jj] - 2 * cov[ii, jj]
    se = np.sqrt(np.clip(var, 0.0, None))
    ok = se > 1e-12
    if not ok.any():
        return e, se, ok, np.full(B, -np.inf)
    inv = np.where(ok, 1.0 / np.where(ok, se, 1.0), 0.0).astype(np.float32)
    if sign < 0:
        inv = -inv
    C = (bt - est).astype(np.float32)
    tmax = np.empty(B)
    rows = max(1, _CHUNK // max(e.size, 1))
    for a in range(0, B, rows):
        c = C[a : a + rows]
        x = c[:, jj]
        x -= c[:, ii]
        x *= inv
        if sign == 0:
            np.abs(x, out=x)
        tmax[a : a + rows] = x.max(axis=1)
    return e, se, ok, tmax


def pair_intervals(
    bt: np.ndarray, est: np.ndarray, ii: np.ndarray, jj: np.ndarray, level: float, df: float = math.inf
) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`joint_intervals` for the differences ``est[jj] - est[ii]`` (see :func:`pair_t`)."""
    e, se, ok, tmax = pair_t(bt, est, ii, jj, 0)
    if e.size == 0:
        return e.copy(), e.copy(), float("nan")
    return _finish(e, se, ok, tmax, level, df)


def _crit(tmax: np.ndarray, level: float, df: float) -> float:
    fin = np.isfinite(tmax)
    q = float(np.quantile(tmax[fin], level)) if fin.any() else float("nan")
    return t_scale(q, df)


def _finish(est, se, ok, tmax, level, df) -> tuple[np.ndarray, np.ndarray, float]:
    q = _crit(tmax, level, df) if ok.any() else float("nan")
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


def _df(boot: Boot) -> tuple[int, float]:
    """(fewest items at any checkpoint, degrees of freedom of the critical values: inf from FEW_ITEMS items)."""
    n_min = int(np.min(boot.n_items)) if boot.n_items.size else 0
    return n_min, (math.inf if n_min >= FEW_ITEMS else float(max(n_min - 1, 1)))


def rises(boot: Boot) -> tuple:
    """(ii, jj, e, se, ok, tmax) of every later rise ``d[jj] - d[ii]`` (one-sided), for :func:`reference_dip`."""
    S = len(boot.est)
    ii, jj = np.triu_indices(S - 1, k=1)
    return (ii, jj, *pair_t(boot.boot, boot.est, ii + 1, jj + 1, +1))


def dip_family(boot: Boot, level: float, df: float = math.inf) -> dict:
    """The two families of a dip: vs_base (below/above base, both directions in one maximum) and rise_to_final
    (``mu_T - mu_i``, one-sided), each at its own level ``1 - alpha * ALPHA_SHARE[family]``.

    Returns a dict with ``d`` (S-1,) differences vs base, ``se_d``, ``t_d`` (their t), ``q`` (vs_base critical
    value), ``e`` (S-2,) the final minus each candidate dip ``1..S-2``, ``se_e``, ``t_e``, ``q_rise``, and the two
    levels.
    """
    est, bt = boot.est, boot.boot
    S = len(est)
    lev, rlev = family_level(level, "vs_base"), family_level(level, "rise_to_final")
    zero, rest = np.zeros(S - 1, dtype=int), np.arange(1, S)
    d, se_d, ok_d, tmax_d = pair_t(bt, est, zero, rest, 0)
    cand = np.arange(1, S - 1)
    e, se_e, ok_e, tmax_e = pair_t(bt, est, cand, np.full(cand.size, S - 1), +1)
    q = _crit(tmax_d, lev, df) if ok_d.any() else float("nan")
    qr = _crit(tmax_e, rlev, df) if ok_e.any() else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        t_d = np.where(ok_d, d / np.where(ok_d, se_d, 1.0), 0.0)
        t_e = np.where(ok_e, e / np.where(ok_e, se_e, 1.0), 0.0)
    return {
        "d": d, "se_d": np.where(ok_d, se_d, 0.0), "t_d": t_d, "q": q, "level": lev,
        "e": e, "se_e": np.where(ok_e, se_e, 0.0), "t_e": t_e, "q_rise": qr, "rise_level": rlev,
    }  # fmt: skip


def reference_dip(steps: Sequence[int], boot: Boot, level: float) -> bool:
    """The reference test of a dip: plain one-sided bootstrap max-t over the dip-vs-base contrasts
    ``mu_0 - mu_i`` and the later-vs-dip contrasts ``mu_j - mu_i`` (i < j) at the whole ``alpha = 1 - level``,
    normal critical value; a dip is found when some ``i`` is below base and some later ``j`` above ``i``.

    Used only to measure the detector's power against (benchmarks/detector_calibration.py, the tests): it makes
    no other claim and spends the whole error budget on this one question.
    """
    est, bt = boot.est, boot.boot
    S = len(est)
    if S < 3:
        return False
    zero, rest = np.zeros(S - 1, dtype=int), np.arange(1, S)
    d, se_d, ok_d, tmax_d = pair_t(bt, est, zero, rest, -1)  # mu_0 - mu_i, one-sided
    ii, jj, e, se_e, ok_e, tmax_e = rises(boot)
    if not (ok_d.any() and ok_e.any()):
        return False
    q = _crit(np.maximum(tmax_d, tmax_e), level, math.inf)
    below = ok_d & (-d > q * se_d)
    rise = ok_e & (e > q * se_e)
    return bool((below[ii] & rise).any())


def classify(
    steps: Sequence[int],
    boot: Boot,
    level: float,
    *,
    resolution: float = TOO_WIDE,
    margin: float = RECOVERY_MARGIN,
) -> dict:
    """Apply the definition in the module docstring to one curve.

    Args:
        steps: (S,) checkpoint steps, sorted; ``steps[0]`` is the base.
        boot: point estimates and paired replicates (see :func:`rsft.analysis.stats.bootstrap_means`).
        level: probability that every claim holds (``1 - level`` = the stated false-verdict rate).
        resolution: half-width of the final-gain interval above which a no-claim curve is "inconclusive".
        margin: how far (score points) the final checkpoint may stay below the base and count as recovered.

    Returns:
        A dict with ``class``, ``reason`` (why this class; for "inconclusive" what is missing), ``claims``,
        ``error_rate``, ``families`` (level, q, size of each), ``base_step``, ``dip_step``, ``depth``,
        ``recovery_step``, ``recovery_gain``, ``recovery_margin``, ``final_vs_margin`` (final gain and the
        lower end of its dip-family interval), ``recovered`` (the final is shown within the margin),
        ``peak_step``, ``fall_step``, ``final_step``, ``final_gain`` (intervals as ``{est, lo, hi}``, ``est -/+ q
        se`` of the dip family, or of the falls family for a fall), ``q`` (critical value of the dip family),
        per-checkpoint ``below``/``above`` flags and ``diff_lo``/``diff_hi`` (dip family), ``resolution`` and
        ``notes``.
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
        "recovery_margin": float(margin),
        "final_vs_margin": None,
        "recovered": None,
        "peak_step": None,
        "fall_step": None,
    }
    if len(steps) < 2:
        out.update({"class": "inconclusive", "reason": "only one checkpoint: nothing to compare"})
        out["notes"].append(out["reason"])
        return out
    est, bt = boot.est, boot.boot
    n_min, df = _df(boot)
    S = len(steps)
    fam = dip_family(boot, level, df)
    d, q, e = fam["d"], fam["q"], fam["e"]
    qh = q if math.isfinite(q) else 0.0
    lo, hi = d - qh * fam["se_d"], d + qh * fam["se_d"]
    below, above = fam["t_d"] < -q, fam["t_d"] > q
    qr = fam["q_rise"]
    rise = fam["t_e"] > qr  # the final above candidate dip i (index i into d, checkpoint i + 1)
    qrh = qr if math.isfinite(qr) else 0.0
    plo, phi = e - qrh * fam["se_e"], e + qrh * fam["se_e"]
    cand = np.arange(1, S - 1)
    flev = family_level(level, "fall_to_final")
    _, se_f, ok_f, tmax_f = pair_t(bt, est, cand, np.full(cand.size, S - 1), -1)
    fq = _crit(tmax_f, flev, df) if ok_f.any() else float("nan")
    fall_final = ok_f & (-e > fq * se_f) if math.isfinite(fq) else np.zeros(e.size, dtype=bool)
    M = _rate_matrix(steps)
    r = est @ M
    rlev = family_level(level, "rate_change")
    rlo, rhi, rq = joint_intervals(r, bt @ M, rlev, df)
    n_lo = float(lo[-1])  # recovered: the final gain's lower end (family vs_base) above -margin
    out.update(
        {
            "q": q,
            "families": {
                "vs_base": {"level": fam["level"], "q": q, "size": int(2 * d.size), "sided": "one, both ways",
                            "recovery_margin": float(margin)},
                "rise_to_final": {"level": fam["rise_level"], "q": qr, "size": int(e.size), "sided": "one"},
                "fall_to_final": {"level": flev, "q": fq, "size": int(e.size), "sided": "one"},
                "rate_change": {"level": rlev, "q": rq, "size": int(r.size), "sided": "two"},
            },
            "diff_steps": [int(s) for s in steps[1:]],
            "below": below.tolist(),
            "above": above.tolist(),
            "diff_lo": lo.tolist(),
            "diff_hi": hi.tolist(),
            "final_gain": _iv(d[-1], lo[-1], hi[-1]),
            "final_vs_margin": {"est": float(d[-1]), "lo": n_lo, "level": fam["level"]},
            "recovered": bool(n_lo > -margin),
        }
    )  # fmt: skip
    # the final gain's half-width, or the typical one when the final difference happens to have no spread
    halves = (hi - lo) / 2
    half = float(max(halves[-1], np.median(halves)))
    out["resolution"] = half
    if n_min < MIN_ITEMS:
        below[:] = above[:] = rise[:] = fall_final[:] = False
        rlo[:], rhi[:] = -np.inf, np.inf
        out["recovered"] = False
    # Recovery from a dip at i (< the final): the final above i, or above base at a later j (mu_j > mu_0 > mu_i).
    # Fall: the mirror image. later[i]: some checkpoint after i (index > i) is above (below) base.
    later_above = np.flip(np.logical_or.accumulate(np.flip(above)))[1:]  # (S-2,): any above at index > i
    later_below = np.flip(np.logical_or.accumulate(np.flip(below)))[1:]
    rec = below[:-1] & (rise | later_above)
    fall = above[:-1] & (fall_final | later_below)
    ctx = (steps, d, lo, hi, e, plo, phi, later_above, later_below)
    cls, reason = _name(out, ctx, below, above, rec, fall, (r, rlo, rhi))
    if cls is None:
        cls, reason = _no_claim(out, boot, below, above, half, resolution, n_min)
    if 0 < n_min < FEW_ITEMS:
        out["notes"].append(f"only {n_min} items: intervals rest on few items (Student-t critical values)")
    out["class"], out["reason"] = cls, reason
    if cls in NO_CLAIM:
        out["notes"].insert(0, reason)
    return out


def _name(out, ctx, below, above, rec, fall, rate) -> tuple[str | None, str]:
    """The class from the claims (None when nothing completes a class). Fills dip/recovery/peak/fall fields."""
    steps, d, lo, hi, e, plo, phi, later_above, later_below = ctx
    st = [int(s) for s in steps[1:]]
    first_dip = int(np.flatnonzero(rec)[0]) if rec.any() else None
    first_peak = int(np.flatnonzero(fall)[0]) if fall.any() else None
    if first_dip is not None:
        # the reported dip: the lowest below-base checkpoint with a claimed recovery after it
        dips = np.flatnonzero(rec)
        i = int(dips[np.argmin(d[dips])])
        out["dip_step"], out["depth"] = st[i], _iv(d[i], lo[i], hi[i])
        if phi[i] > plo[i] > 0:  # the final above the dip (rise_to_final)
            out["recovery_step"], out["recovery_gain"] = st[-1], _iv(e[i], plo[i], phi[i])
            out["claims"] += [f"below base at step {st[i]}", f"the final step {st[-1]} is above step {st[i]}"]
        else:  # above base at a later checkpoint
            j = i + 1 + int(np.argmax(above[i + 1 :]))
            out["recovery_step"], out["recovery_gain"] = st[j], _iv(d[j] - d[i], lo[j] - hi[i], hi[j] - lo[i])
            out["claims"] += [f"below base at step {st[i]}", f"above base at step {st[j]}"]
    if first_peak is not None:
        peaks = np.flatnonzero(fall)
        i = int(peaks[np.argmax(d[peaks])])
        j = i + 1 + int(np.argmax(below[i + 1 :])) if later_below[i] else len(st) - 1
        out["peak_step"], out["fall_step"] = st[i], st[j]
        what = (
            f"below base at step {st[j]}"
            if later_below[i]
            else f"the final step {st[-1]} is below step {st[i]}"
        )
        out["claims"] += [f"above base at step {st[i]}", what]
    if first_dip is not None and (first_peak is None or first_dip <= first_peak):
        if first_peak is not None:
            out["notes"].append(f"also falls after step {out['peak_step']} (step {out['fall_step']})")
        nm = out["final_vs_margin"]
        m = out["recovery_margin"]
        if out["recovered"]:
            out["claims"].append(f"the final checkpoint is at most {m:.2f} below the base")
            return "dip-and-recovery", (
                f"dipped below base, rose significantly from the dip, and the final checkpoint is within {m:.2f} "
                f"of the base (final − base {nm['est']:+.3f}, lower bound {nm['lo']:+.3f})"
            )
        if below[-1]:
            out["claims"].append("below base at the final checkpoint")
        return "dip-and-partial-recovery", (
            f"dipped below base and rose significantly from the dip, but the final checkpoint is not shown to be "
            f"within {m:.2f} of the base (final − base {nm['est']:+.3f}, lower bound {nm['lo']:+.3f} "
            f"< −{m:.2f})"
        )
    if first_peak is not None:
        if first_dip is not None:
            out["notes"].append(f"also recovers after the dip at step {out['dip_step']}")
        return "rise-and-fall", "rose above base, then fell significantly"
    r, rlo, rhi = rate
    if below[-1] or above[-1]:
        up = bool(above[-1])
        out["claims"].append(f"{'above' if up else 'below'} base at the final checkpoint")
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
    # a claimed peak/dip that completes no class is dropped: the verdict carries no claim
    out["claims"] = []
    out["dip_step"] = out["depth"] = out["recovery_step"] = out["recovery_gain"] = None
    out["peak_step"] = out["fall_step"] = None
    return None, ""


def _no_claim(out, boot, below, above, half, resolution, n_min) -> tuple[str, str]:
    st = out["diff_steps"]
    est, bt = boot.est, boot.boot
    out["claims"] = []
    if n_min < MIN_ITEMS:
        return "inconclusive", (
            f"too few items or samples to conclude: {n_min} items; at least {MIN_ITEMS} are needed for any claim"
        )
    if below.any():
        s = st[int(np.argmax(below))]
        return "inconclusive", (
            f"step {s} looks below base, but neither a significant rise after it nor a loss at the end can be "
            "claimed, so no shape is claimed"
        )
    if above.any():
        s = st[int(np.argmax(above))]
        return "inconclusive", (
            f"step {s} looks above base, but neither a significant fall after it nor a gain at the end can be "
            "claimed, so no shape is claimed"
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


def simulated_runs(
    model, n: int, k: int, steps, shape: str, depth: float, n_sims: int, rng: np.random.Generator
):
    """``n_sims`` simulated runs of the known-truth ``shape``: each an (n, S) array of correct counts out of k
    (fresh items from ``model``; :func:`rsft.analysis.synthetic.simulate_counts`)."""
    from rsft.analysis.synthetic import simulate_counts

    prep = model.prepare()
    for _ in range(n_sims):
        yield simulate_counts(prep, n, k, np.asarray(steps), shape, depth, rng)


def sim_header(n: int, k: int, steps, shape: str, depth: float, n_sims: int) -> dict:
    """The fields that name a simulated cell (sizes, true shape and depth, runs), first in every result."""
    return {"n": int(n), "k": int(k), "steps": int(len(steps)), "shape": shape, "depth": float(depth),
            "sims": int(n_sims)}  # fmt: skip


def full_boot(counts: np.ndarray, k: int, spec: BootSpec, rng: np.random.Generator) -> Boot:
    """The two-stage bootstrap of a complete binary sweep given as (n, S) correct counts out of k."""
    return bootstrap_means(np.full(counts.shape, float(k)), counts, counts, spec, rng, binary=True)


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
    margin: float = RECOVERY_MARGIN,
) -> dict:
    """Class frequencies of the detector on simulated runs with a known true curve, beside the reference test.

    Each simulated run draws n fresh items from ``model`` (see :class:`rsft.analysis.synthetic.ItemModel`: base
    accuracies and the items' drift across checkpoints), moves every item's logit by the shift that puts the
    population mean at ``base + depth * shape(x)`` and draws k Bernoulli samples per item and checkpoint; then the
    two-stage bootstrap, :func:`classify` and :func:`reference_dip` run as on a real store.

    Args:
        model: the item model (base accuracies and item x checkpoint drift).
        n: items; k: samples per item; steps: checkpoint steps.
        shape: a name in :data:`rsft.analysis.synthetic.SHAPES`.
        depth: size of the change in score points (``shape`` gives its sign and timing).
        n_sims: simulated runs.
        spec: bootstrap replicates, seed, level (the seed also drives the simulation).
        resolution, margin: as in :func:`classify`.

    Returns:
        ``{"n", "k", "steps", "shape", "depth", "sims", "rates": {class: share}, "false_verdict": share of
        false verdicts for this shape, "false_verdict_upper": one-sided 95% Clopper-Pearson upper bound,
        "correct": share in the shape's own classes, "dip_detected": share in a dip class, "recovered": share
        "dip-and-recovery", "reference": share in which the reference test finds a dip, "both": share in which
        both do, "non_flat": share with any claim, "mc_se" / "false_verdict_se" / "correct_se" /
        "reference_se": Monte-Carlo standard errors of dip_detected / false_verdict / correct / reference,
        "item_model": the model}``.
    """
    steps = np.asarray(steps)
    rng = spec.rng("simulate", shape, f"{depth:.6g}", str(n), str(k), str(len(steps)))
    counts = dict.fromkeys(CLASSES, 0)
    ref = both = 0
    for x in simulated_runs(model, n, k, steps, shape, depth, n_sims, rng):
        b = full_boot(x, k, spec, rng)
        c = classify(steps, b, spec.level, resolution=resolution, margin=margin)["class"]
        counts[c] += 1
        r = reference_dip(steps, b, spec.level)
        ref += r
        both += r and c in DIP_CLASSES
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
        **sim_header(n, k, steps, shape, depth, n_sims),
        "rates": rates,
        "false_verdict": bad / sims,
        "false_verdict_upper": clopper_pearson(bad, n_sims, 0.95)[1] if n_sims else 1.0,
        "correct": good / sims,
        "dip_detected": dip / sims,
        "recovered": counts["dip-and-recovery"] / sims,
        "reference": ref / sims,
        "both": both / sims,
        "non_flat": 1.0 - (counts["flat within noise"] + counts["inconclusive"]) / sims,
        "mc_se": se(dip),
        "false_verdict_se": se(bad),
        "correct_se": se(good),
        "reference_se": se(ref),
        "margin": float(margin),
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
