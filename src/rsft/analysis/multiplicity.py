"""Study-level multiplicity: the dynamics question read across every cross-domain curve with Holm's step-down.

Each curve's detector verdict holds at its own false-verdict rate ``alpha = 1 - level`` (per curve). A study has
many curves (runs x out-of-domain and general domains), so "some curve dips and recovers" would be reached by
chance far more often than ``alpha``: with 24 curves and independent errors, 1 - 0.95^24 = 71% at worst. The
dynamics card therefore counts a curve as showing a dip only when the detector names one at Holm's step-down
level: with ``m`` curves, first at ``1 - alpha / m`` (Bonferroni, Holm's first step); when ``r`` curves name a dip
there, again at ``1 - alpha / (m - r)``, until no further curve names one. The family-wise probability that any
curve counted by the card is a false dip is then <= ``alpha`` (the detector's claims only shrink as its level
rises, which is what Holm's step-down needs). The other cards correct their own contrasts with Holm on p-values
(:func:`rsft.analysis.stats.holm`).
"""

from __future__ import annotations

import numpy as np

from rsft.analysis.detector import DIP_CLASSES, classify
from rsft.analysis.stats import Boot

CROSS = ("out-of-domain", "general")  # the domains the dynamics question reads


def _dips(cls: dict) -> bool:
    """A dip and a significant rise from it were claimed (full or partial recovery)."""
    return cls["class"] in DIP_CLASSES or (cls.get("dip_step") is not None and cls.get("recovery_step") is not None)


def holm_dynamics(curves: list[tuple[dict, np.ndarray, Boot]], level: float) -> dict:
    """Holm's step-down over curves (see the module docstring); each record gains ``rec["study"]``.

    Args:
        curves: (domain record, steps, Boot) of every cross-domain curve with at least three checkpoints.
        level: the per-curve level (``1 - alpha``); the family-wise level is the same.

    Returns:
        ``{"method", "curves", "per_curve_error_rate", "family_error_rate", "final_level", "dips"}``; every record
        gets ``study = {"level", "class", "dip_step", "depth", "recovery_step", "recovery_gain", "final_gain"}``
        from the detector run at the final Holm level.
    """
    alpha = 1.0 - level
    m = len(curves)
    out = {
        "method": "Holm step-down over the cross-domain curves (detector re-run at 1 - alpha / (m - r))",
        "curves": m,
        "per_curve_error_rate": alpha,
        "family_error_rate": alpha,
        "final_level": None,
        "dips": 0,
    }
    if m == 0:
        return out
    r, results = 0, None
    while True:
        lev = 1.0 - alpha / (m - r)
        results = [classify(steps, boot, lev) for _, steps, boot in curves]
        hits = sum(_dips(c) for c in results)
        if hits <= r or hits >= m:
            r = max(r, hits)
            break
        r = hits
    out["final_level"], out["dips"] = lev, sum(_dips(c) for c in results)
    keys = ("class", "dip_step", "depth", "recovery_step", "recovery_gain", "final_gain", "reason")
    for (rec, _, _), cls in zip(curves, results, strict=True):
        rec["study"] = {"level": lev, "dip": _dips(cls), **{k: cls.get(k) for k in keys}}
    return out
