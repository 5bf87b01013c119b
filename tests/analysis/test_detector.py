"""The dip-and-recovery detector: false positives on flat curves, clear patterns, power, early warnings."""

from __future__ import annotations

import numpy as np
import pytest

from rsft.analysis.detector import DIP_CLASSES, classify, early_warning, simulate
from rsft.analysis.stats import BootSpec, bootstrap_means

STEPS = list(range(0, 80, 10))  # 8 checkpoints including the base


def _items(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1 / (1 + np.exp(-rng.normal(0.0, 1.2, n)))


def test_false_positive_rate_on_flat_curves_at_most_5_percent():
    # A run's n and k: 60 items, 4 samples, 8 checkpoints; 300 simulated flat runs.
    res = simulate(_items(60), 4, STEPS, 0.0, 300, BootSpec(B=400, seed=11, exact_limit=0))
    assert res["non_flat"] <= 0.05, res["rates"]


def _classify_truth(p_curve: np.ndarray, k: int = 4, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.binomial(k, p_curve).astype(float)
    cnt = np.full(p_curve.shape, float(k))
    spec = BootSpec(B=1000, seed=seed)
    boot = bootstrap_means(cnt, x, x, spec, spec.rng("clear"), binary=True)
    return classify(STEPS, boot, 0.95) | {"_boot": boot}


def _curve(p0: np.ndarray, shift: np.ndarray) -> np.ndarray:
    return np.clip(p0[:, None] + shift[None, :], 0.0, 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clear_patterns_are_classified(seed):
    p0 = _items(300, seed) * 0.6 + 0.1
    ramp = np.linspace(0, 0.25, len(STEPS))
    dip = np.array([0, -0.1, -0.25, -0.25, -0.15, 0.0, 0.05, 0.05])
    assert _classify_truth(_curve(p0, ramp), seed=seed)["class"] == "improves"
    assert _classify_truth(_curve(p0, -ramp), seed=seed)["class"] == "degrades"
    res = _classify_truth(_curve(p0, dip), seed=seed)
    assert res["class"] == "dip-and-recovery"
    assert res["dip_step"] in (20, 30)
    assert res["depth"]["hi"] < 0 and res["depth"]["lo"] < res["depth"]["est"] < res["depth"]["hi"]
    assert res["recovery_step"] > res["dip_step"]
    stuck = np.array([0, -0.1, -0.25, -0.25, -0.15, -0.1, -0.05, -0.02])
    assert _classify_truth(_curve(p0, stuck), seed=seed)["class"] in (
        "dip without recovery",
        "dip-and-recovery",
    )


def test_flat_curve_with_tiny_n_says_it_cannot_conclude():
    p0 = _items(8)
    res = _classify_truth(_curve(p0, np.zeros(len(STEPS))), k=1)
    assert res["class"] == "flat within noise"
    assert any("too few items" in n for n in res["notes"])


def test_early_warning_names_the_dip_and_the_final_verdict():
    p0 = _items(300) * 0.6 + 0.1
    dip = np.array([0, -0.1, -0.25, -0.25, -0.15, 0.0, 0.05, 0.05])
    res = _classify_truth(_curve(p0, dip))
    w = early_warning(STEPS, res["_boot"], res, 0.95)
    assert w["step"] == res["dip_step"] and w["verdict"] == "below base"
    assert w["final_verdict"] != "below base"
    assert f"judged at step {w['step']}" in w["text"] and "the final checkpoint (step 70) says" in w["text"]


def test_power_grows_with_depth():
    p = _items(100)
    spec = BootSpec(B=300, seed=2, exact_limit=0)
    small = simulate(p, 4, STEPS, 0.03, 40, spec)
    large = simulate(p, 4, STEPS, 0.2, 40, spec)
    assert large["dip_detected"] > 0.8 and large["dip_detected"] > small["dip_detected"]
    assert set(large["rates"]) >= set(DIP_CLASSES)
