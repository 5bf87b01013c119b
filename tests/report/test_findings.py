"""The four questions: each verdict follows its stated rule (report.findings' docstring) from the card's own numbers.

Every card is fed numbers that contradict it (the cases that went wrong in the demos, and significance that does
not survive the Holm correction), and the test checks both the verdict and the sentence that explains it.
"""

from __future__ import annotations

import math

from rsft.report.findings import four_findings, headline, run_labels

STEPS = [0, 10, 20, 40]
Z = 1.959964


def _iv(est: float, half: float = 0.05, p: float | None = None) -> dict:
    """An interval dict; ``p`` given: the half-width is the one that p-value implies (normal)."""
    if p is not None:
        z = _z(p)
        half = abs(est) / z * Z if z > 0 else half
    return {"est": est, "lo": est - half, "hi": est + half, **({"p": p} if p is not None else {})}


def _z(p: float) -> float:
    lo, hi = 0.0, 40.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.erfc(mid / math.sqrt(2)) > p else (lo, mid)
    return lo


def _curve(
    run: str, domain: str, gain: float | dict, cls: str = "improves", n: int = 128, k: int = 4, base: float = 0.4,
    **det,
) -> dict:  # fmt: skip
    g = gain if isinstance(gain, dict) else _iv(gain)
    est = [base, base + g["est"] / 2, base + g["est"], base + g["est"]]
    return {
        "run": run,
        "domain": domain,
        "curve": {"step": STEPS, "est": est, "lo": [e - 0.05 for e in est], "hi": [e + 0.05 for e in est]},
        "detector": {"class": cls, "final_gain": {"est": g["est"], "lo": g["est"] - 1, "hi": g["est"] + 1}, **det},
        "final_change": g,
        "stat": {"n_items": n, "k": k},
    }


def _analysis(conds: dict, curves: list[dict], between=(), behaviour=(), gain_diffs=(), **extra) -> dict:
    return {
        "runs": conds,
        "domain_curves": curves,
        "between_runs": list(between),
        "gain_differences": list(gain_diffs),
        "behaviour": list(behaviour),
        "power": [],
        "early_warnings": [],
        "spec": {"level": 0.95, "B": 1000, "seed": 0},
        **extra,
    }


def _by_key(a: dict) -> dict:
    return {f.key: f for f in four_findings(a)}


CONDS = {
    "large_cot": {"model": "large", "capability": "strong", "quality": "verified-long-cot"},
    "large_nocot": {"model": "large", "capability": "strong", "quality": "no-cot"},
    "large_lowq": {"model": "large", "capability": "strong", "quality": "low-quality"},
    "small_cot": {"model": "small", "capability": "weak", "quality": "verified-long-cot"},
}


def _diff(run: str, ref: str, d: float | dict, curve: str = "[out-of-domain]") -> dict:
    return {"run": run, "reference": ref, "curve": curve, "diff": d if isinstance(d, dict) else _iv(d)}


def _data(cot: float | dict, nocot: float | dict, lowq: float | dict, gains=(0.0, 0.0)):
    curves = [_curve("large_cot", "out-of-domain", cot)] + [
        _curve(r, "out-of-domain", g) for r, g in zip(("large_nocot", "large_lowq"), gains, strict=True)
    ]
    between = [_diff("large_nocot", "large_cot", nocot), _diff("large_lowq", "large_cot", lowq)]
    return _by_key(_analysis(CONDS, curves, between))["data"]


def test_data_reproduced_needs_long_cot_to_gain_and_every_other_kind_below_it():
    f = _data(0.2, -0.2, -0.3)
    assert f.verdict == "reproduced" and f.figure == "q_data"
    assert "long-CoT gains significantly and every other data kind ends significantly below it" in f.text
    assert "no-cot − long-CoT -0.20 [-0.25, -0.15], Holm p < 0.001" in f.text and "n=128 items, k=4" in f.text
    # the difference may be stored the other way round (reference = the no-CoT run): the sign is flipped
    curves = [_curve(r, "out-of-domain", 0.2) for r in ("large_cot", "large_nocot", "large_lowq")]
    flipped = [_diff("large_cot", "large_nocot", 0.2), _diff("large_cot", "large_lowq", 0.3)]
    assert _by_key(_analysis(CONDS, curves, flipped))["data"].verdict == "reproduced"


def test_data_long_cot_that_itself_falls_out_of_domain_is_not_reproduced():
    # the quick demo: "reproduced: Long-CoT transfers best" while long-CoT's own change was -0.16 [-0.27, -0.06]
    cot = {"est": -0.16, "lo": -0.27, "hi": -0.06}
    f = _data(cot, -0.2, -0.3)
    assert f.verdict == "not reproduced"
    assert "long-CoT itself does not transfer: it ends significantly below its base" in f.text
    assert "long-CoT -0.16 [-0.27, -0.06]" in f.text


def test_data_a_kind_that_beats_long_cot_is_not_reproduced():
    # the full demo: "partly" while low-quality ended significantly above long-CoT (+0.03 [+0.01, +0.05])
    f = _data(_iv(-0.5, 0.04), -0.01, {"est": 0.03, "lo": 0.01, "hi": 0.05, "p": 0.003}, gains=(-0.5, -0.47))
    assert f.verdict == "not reproduced"
    assert "low-quality ends significantly above long-CoT" in f.text and "+0.03 [+0.01, +0.05]" in f.text


def test_data_partly_when_some_kinds_or_long_cot_itself_fall_short():
    one_below = _data(0.2, -0.02, -0.3)
    assert one_below.verdict == "partly" and "low-quality ends significantly below long-CoT, not every" in one_below.text
    flat_cot = _data(0.01, -0.2, -0.3)
    assert flat_cot.verdict == "partly" and "long-CoT's own gain is not significant" in flat_cot.text
    none_below = _data(0.2, 0.01, 0.0)
    assert none_below.verdict == "not reproduced" and "no other data kind ends significantly below" in none_below.text


def test_data_significance_must_survive_the_holm_correction():
    # each difference alone has p = 0.03 (its 95% interval excludes 0), but over the card's three tests Holm
    # adjusts them to 0.06: neither is significant, so no kind is shown to end below long-CoT
    f = _data(_iv(0.3, p=1e-6), _iv(-0.1, p=0.03), _iv(-0.1, p=0.03))
    assert f.verdict == "not reproduced", f.text
    assert "Holm p 0.060" in f.text and "Holm-corrected over this card's 3 test(s) at 5% family-wise" in f.text
    # one of them strong enough: p 0.001 * 2 = 0.002, then 0.03 * 1 = 0.03 survives too
    assert _data(_iv(0.3, p=1e-6), _iv(-0.1, p=0.001), _iv(-0.1, p=0.03)).verdict == "reproduced"


def test_data_not_measurable_with_one_data_kind_per_base():
    conds = {"large_cot": CONDS["large_cot"], "small_cot": CONDS["small_cot"]}
    curves = [_curve(r, "out-of-domain", 0.1) for r in conds]
    f = _by_key(_analysis(conds, curves))["data"]
    assert f.verdict == "not measurable here" and f.figure is None and "same base" in f.text


BEH = [
    {"run": r, "step": STEPS, "response_tokens": {"est": [30, 50, 70, 90], "lo": [28, 48, 68, 88],
                                                   "hi": [32, 52, 72, 92]}}
    for r in ("large_cot", "small_cot")
]  # fmt: skip


def _capability(strong, weak, diff):
    curves = [_curve("large_cot", "out-of-domain", strong), _curve("small_cot", "out-of-domain", weak)]
    gd = [] if diff is None else [_diff("large_cot", "small_cot", diff)]
    return _by_key(_analysis(CONDS, curves, behaviour=BEH, gain_diffs=gd))["capability"]


def test_capability_tests_the_difference_of_the_gains():
    f = _capability(0.2, 0.0, 0.2)
    assert f.verdict == "reproduced" and "gains significantly more out of domain than the weaker" in f.text
    assert "+0.20 [+0.15, +0.25], Holm p < 0.001" in f.text and "strong − weak +0.20 [+0.15, +0.25]" in f.text
    assert "grew from 30 [28, 32] to 90 [88, 92]" in f.text
    # one gain significant and the other not is no evidence of a difference: the difference itself is tested
    f = _capability(0.2, _iv(0.1, 0.12), _iv(0.1, 0.12))
    assert f.verdict == "partly" and "not significantly larger than the weaker base's" in f.text
    # stored the other way round (weak − strong): flipped
    curves = [_curve("large_cot", "out-of-domain", 0.2), _curve("small_cot", "out-of-domain", 0.0)]
    back = _analysis(CONDS, curves, gain_diffs=[_diff("small_cot", "large_cot", -0.2)])
    assert _by_key(back)["capability"].verdict == "reproduced"
    f = _capability(0.2, 0.4, -0.2)
    assert f.verdict == "not reproduced" and "weaker base gains significantly more" in f.text
    f = _capability(0.0, 0.2, -0.2)
    assert f.verdict == "not reproduced" and "stronger base shows no significant gain" in f.text
    f = _capability(0.2, 0.0, None)
    assert f.verdict == "partly" and "difference of gains was not computed" in f.text
    one = {"large_cot": CONDS["large_cot"]}
    f = _by_key(_analysis(one, [_curve("large_cot", "out-of-domain", 0.2)]))["capability"]
    assert f.verdict == "not measurable here" and "Fewer than two base models" in f.text


def test_safety_cost_needs_both_a_significant_gain_and_a_significant_loss():
    runs = {"large_cot": CONDS["large_cot"]}
    cost = [_curve("large_cot", "in-domain", 0.3), _curve("large_cot", "safety", -0.2)]
    f = _by_key(_analysis(runs, cost))["safety"]
    assert f.verdict == "reproduced" and "-0.20 [-0.25, -0.15]" in f.text and f.text.startswith("Yes: in 1 of 1")
    no_cost = [_curve("large_cot", "in-domain", 0.3), _curve("large_cot", "safety", -0.02)]
    f = _by_key(_analysis(runs, no_cost))["safety"]
    assert f.verdict == "not reproduced" and "0 of 1 lost safety significantly" in f.text
    gain_no_loss = [_curve("large_cot", "in-domain", -0.3), _curve("large_cot", "safety", -0.2)]
    f = _by_key(_analysis(runs, gain_no_loss))["safety"]
    assert f.verdict == "not reproduced" and "1 of 1 lost safety significantly" in f.text
    assert (
        _by_key(_analysis(runs, [_curve("large_cot", "in-domain", 0.3)]))["safety"].verdict
        == "not measurable here"
    )


def test_safety_holm_over_runs():
    # run A: gain and loss both at p = 0.03 (each interval excludes 0); run B shows nothing. Over two runs Holm
    # adjusts A's intersection-union p-value 0.03 to 0.06: not significant
    two = {"large_cot": CONDS["large_cot"], "small_cot": CONDS["small_cot"]}
    curves = [
        _curve("large_cot", "in-domain", _iv(0.1, p=0.03)), _curve("large_cot", "safety", _iv(-0.1, p=0.03)),
        _curve("small_cot", "in-domain", _iv(0.0, 0.1)), _curve("small_cot", "safety", _iv(0.0, 0.1)),
    ]  # fmt: skip
    f = _by_key(_analysis(two, curves))["safety"]
    assert f.verdict == "not reproduced" and "both: Holm p 0.060" in f.text
    curves[0] = _curve("large_cot", "in-domain", _iv(0.1, p=0.01))
    curves[1] = _curve("large_cot", "safety", _iv(-0.1, p=0.02))
    assert _by_key(_analysis(two, curves))["safety"].verdict == "reproduced"  # max(0.01, 0.02) * 2 = 0.04


def _dip(run: str, cls: str, study_cls: str | None = None) -> dict:
    c = _curve(run, "out-of-domain", 0.05, cls, depth=_iv(-0.15), dip_step=10, recovery_step=40)
    if study_cls is not None:
        c["study"] = {"class": study_cls, "depth": _iv(-0.15, 0.08), "dip_step": 10, "recovery_step": 40}
    return c


def test_dynamics_counts_dips_at_the_study_level():
    runs = {"large_cot": CONDS["large_cot"], "small_cot": CONDS["small_cot"]}
    study = {"dynamics": {"final_level": 0.975, "curves": 2}, "curves": 10, "per_curve_error_rate": 0.05}
    # the curve alone is a dip-and-recovery, but not at the Holm level over the study's curves
    curves = [_dip("large_cot", "dip-and-recovery", "degrades"), _dip("small_cot", "degrades", "degrades")]
    f = _by_key(_analysis(runs, curves, study=study))["dynamics"]
    assert f.verdict == "not reproduced" and "counted at Holm's step-down over the 2 cross-domain curves" in f.text
    assert "1 dip-and-recovery, 1 degrades" in f.text  # the per-curve verdicts are still listed
    curves = [_dip("large_cot", "dip-and-recovery", "dip-and-recovery"), _dip("small_cot", "degrades", "degrades")]
    f = _by_key(_analysis(runs, curves, study=study))["dynamics"]
    assert f.verdict == "reproduced" and "Yes in 1 of 2" in f.text and "fell by 0.15 [0.07, 0.23] at step 10" in f.text
    partial = [_dip("large_cot", "dip-and-recovery", "dip-and-partial-recovery"), _dip("small_cot", "degrades", "x")]
    assert _by_key(_analysis(runs, partial, study=study))["dynamics"].verdict == "partly"


def test_dynamics_without_a_study_block_says_it_is_uncorrected():
    runs = {"large_cot": CONDS["large_cot"]}
    f = _by_key(_analysis(runs, [_dip("large_cot", "dip-and-recovery")]))["dynamics"]
    assert f.verdict == "reproduced" and "fell by 0.15 [0.10, 0.20] at step 10" in f.text
    assert "not corrected across the 1 curves" in f.text
    fp = _by_key(_analysis(runs, [_dip("large_cot", "dip-and-partial-recovery")]))["dynamics"]
    assert fp.verdict == "partly" and "not shown to be back" in fp.text and "recovered" not in fp.text
    flat = _curve("large_cot", "out-of-domain", 0.0, "flat within noise")
    f = _by_key(_analysis(runs, [flat]))["dynamics"]
    assert f.verdict == "not reproduced" and "No power simulation" in f.text
    short = _curve("large_cot", "general", 0.0)
    short["curve"] = {k: v[:2] for k, v in short["curve"].items()}
    assert _by_key(_analysis(runs, [short]))["dynamics"].verdict == "not measurable here"


def _trade(run: str, step: int, gain: float = 0.0) -> dict:
    return {"run": run, "step": STEPS, "tolerance": 0.05, "safety_change": {},
            "recommendation": {"step": step, "reasoning_gain": _iv(gain)}}  # fmt: skip


def test_headline_says_what_happened_to_each_domain_and_what_is_recommended():
    runs = {r: CONDS[r] for r in ("large_cot", "large_nocot", "small_cot")}
    curves = [_curve(r, "out-of-domain", _iv(-0.45, 0.04), base=0.46) for r in runs]
    curves += [_curve(r, "in-domain", g) for r, g in zip(runs, (0.2, 0.0, -0.2), strict=True)]
    study = {"curves": 24, "per_curve_error_rate": 0.05}
    a = _analysis(runs, curves, tradeoff=[_trade(r, 0) for r in runs], study=study)
    lines = headline(a)
    assert lines[0] == "In-domain: 1 of 3 runs end significantly below their base, 1 above, 1 not significantly " \
        "changed; final scores 0.20–0.60 (final − base -0.20 to +0.20)."  # fmt: skip
    assert lines[1].startswith("Out-of-domain: every run ends significantly below its base; final scores 0.01 "
                               "— collapsed to ~0 (final − base -0.45).")  # fmt: skip
    assert "not corrected across curves, unlike the cards" in lines[2]
    assert "Recommendation: the untrained base for every run" in lines[3]
    assert "24 curves" in lines[4] and "up to 1.2 of them could be wrong by chance" in lines[4]
    assert "dashed horizontal line" in lines[5] and "▲/▼" in lines[5]
    a["tradeoff"] = [_trade("large_cot", 20, 0.1), _trade("large_nocot", 0), _trade("small_cot", 0)]
    rec = next(s for s in headline(a) if s.startswith("Recommend"))
    assert "large · long-cot: step 20 (reasoning gain +0.10 [+0.05, +0.15]" in rec and "the untrained base" in rec


def test_run_labels_are_short_unique_and_fall_back_to_numbers():
    labels = run_labels(_analysis(CONDS, []))
    assert labels["large_cot"] == "large · long-cot" and labels["small_cot"] == "small · long-cot"
    same = {"a": {"model": "m", "quality": "cot"}, "b": {"model": "m", "quality": "cot"}}
    assert run_labels(_analysis(same, [])) == {"a": "R1", "b": "R2"}
