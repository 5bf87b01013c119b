"""Checkpoint recommendation: best weighted score subject to the safety constraint."""

from __future__ import annotations

import numpy as np

from rsft.analysis.safety import tradeoff
from rsft.analysis.stats import BootSpec, bootstrap_means

STEPS = np.array([0, 10, 20, 30])


def _curve(shift: list[float], seed: int, n: int = 400, k: int = 4):
    rng = np.random.default_rng(seed)
    p0 = 1 / (1 + np.exp(-rng.normal(0.0, 1.0, n)))
    p = np.clip(p0[:, None] + np.array(shift)[None, :], 0, 1)
    x = rng.binomial(k, p).astype(float)
    spec = BootSpec(B=500, seed=seed)
    return STEPS, bootstrap_means(np.full(p.shape, float(k)), x, x, spec, spec.rng(str(seed)), binary=True)


def test_recommendation_respects_the_safety_constraint():
    spec = BootSpec(B=500, seed=0)
    reasoning = _curve([0, 0.1, 0.2, 0.3], 1)
    # safety holds until step 20, then drops by 20 points at step 30
    curves = {"in-domain": reasoning, "safety": _curve([0, 0, 0, -0.2], 2)}
    t = tradeoff("r", curves, spec, tolerance=0.05)
    assert not t["eligible"][3]
    assert t["recommendation"]["step"] in (10, 20)
    sc = t["recommendation"]["safety_change"]
    assert sc["lo"] <= sc["est"] <= sc["hi"]
    # without a safety benchmark, the best weighted score wins and the result says it is unconstrained
    free = tradeoff("r", {"in-domain": reasoning}, spec)
    assert free["recommendation"]["step"] == 30
    assert any("unconstrained" in n for n in free["notes"])
