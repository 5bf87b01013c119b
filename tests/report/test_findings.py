"""The four questions: each verdict is a reading of the analysis's intervals, and flips when the numbers do."""

from __future__ import annotations

from rsft.report.findings import four_findings, run_labels

STEPS = [0, 10, 20, 40]


def _iv(est: float, half: float = 0.05) -> dict:
    return {"est": est, "lo": est - half, "hi": est + half}


def _curve(
    run: str, domain: str, gain: float, cls: str = "improves", n: int = 128, k: int = 4, **det
) -> dict:
    est = [0.4, 0.4 + gain / 2, 0.4 + gain, 0.4 + gain]
    return {
        "run": run,
        "domain": domain,
        "curve": {"step": STEPS, "est": est, "lo": [e - 0.05 for e in est], "hi": [e + 0.05 for e in est]},
        "detector": {"class": cls, "final_gain": _iv(gain), **det},
        "stat": {"n_items": n, "k": k},
    }


def _analysis(conds: dict, curves: list[dict], between: list[dict] = (), behaviour: list[dict] = ()) -> dict:
    return {
        "runs": conds,
        "domain_curves": curves,
        "between_runs": list(between),
        "behaviour": list(behaviour),
        "power": [],
        "early_warnings": [],
    }


def _by_key(a: dict) -> dict:
    return {f.key: f for f in four_findings(a)}


CONDS = {
    "large_cot": {"model": "large", "capability": "strong", "quality": "verified-long-cot"},
    "large_nocot": {"model": "large", "capability": "strong", "quality": "no-cot"},
    "large_lowq": {"model": "large", "capability": "strong", "quality": "low-quality"},
    "small_cot": {"model": "small", "capability": "weak", "quality": "verified-long-cot"},
}


def _diff(run: str, ref: str, est: float) -> dict:
    return {"run": run, "reference": ref, "curve": "[out-of-domain]", "diff": _iv(est), "paired": True}


def test_data_transfer_verdict_follows_the_paired_differences():
    curves = [
        _curve(r, "out-of-domain", g)
        for r, g in (("large_cot", 0.2), ("large_nocot", 0.0), ("large_lowq", -0.1))
    ]
    both_below = [_diff("large_nocot", "large_cot", -0.2), _diff("large_lowq", "large_cot", -0.3)]
    f = _by_key(_analysis(CONDS, curves, both_below))["data"]
    assert f.verdict == "reproduced" and f.figure == "q_data"
    assert "no-cot − long-CoT -0.20 [-0.25, -0.15]" in f.text and "n=128 items, k=4" in f.text
    one_below = [_diff("large_nocot", "large_cot", -0.02), _diff("large_lowq", "large_cot", -0.3)]
    assert _by_key(_analysis(CONDS, curves, one_below))["data"].verdict == "partly"
    none_below = [_diff("large_nocot", "large_cot", 0.01), _diff("large_lowq", "large_cot", 0.0)]
    assert _by_key(_analysis(CONDS, curves, none_below))["data"].verdict == "not reproduced"
    # the difference may be stored the other way round (reference = the no-CoT run): the sign is flipped
    flipped = [_diff("large_cot", "large_nocot", 0.2), _diff("large_cot", "large_lowq", 0.3)]
    assert _by_key(_analysis(CONDS, curves, flipped))["data"].verdict == "reproduced"


def test_data_not_measurable_with_one_data_kind_per_base():
    conds = {"large_cot": CONDS["large_cot"], "small_cot": CONDS["small_cot"]}
    curves = [_curve(r, "out-of-domain", 0.1) for r in conds]
    f = _by_key(_analysis(conds, curves))["data"]
    assert f.verdict == "not measurable here" and f.figure is None and "same base" in f.text


def test_capability_reads_strong_and_weak_from_conditions():
    beh = [
        {"run": r, "step": STEPS, "response_tokens": {"est": [30, 50, 70, 90], "lo": [28, 48, 68, 88],
                                                       "hi": [32, 52, 72, 92]}}
        for r in ("large_cot", "small_cot")
    ]  # fmt: skip
    for strong, weak, verdict in (
        (0.2, 0.0, "reproduced"),
        (0.2, 0.2, "partly"),
        (0.0, 0.2, "not reproduced"),
    ):
        curves = [_curve("large_cot", "out-of-domain", strong), _curve("small_cot", "out-of-domain", weak)]
        f = _by_key(_analysis(CONDS, curves, behaviour=beh))["capability"]
        assert f.verdict == verdict, (strong, weak)
        assert f"{strong:+.2f} [{strong - 0.05:+.2f}, {strong + 0.05:+.2f}]" in f.text
        assert "grew from 30 [28, 32] to 90 [88, 92]" in f.text
    one = {"large_cot": CONDS["large_cot"]}
    f = _by_key(_analysis(one, [_curve("large_cot", "out-of-domain", 0.2)]))["capability"]
    assert f.verdict == "not measurable here" and "Fewer than two base models" in f.text


def test_safety_cost_needs_both_a_significant_gain_and_a_significant_loss():
    runs = {"large_cot": CONDS["large_cot"]}
    cost = [_curve("large_cot", "in-domain", 0.3), _curve("large_cot", "safety", -0.2)]
    f = _by_key(_analysis(runs, cost))["safety"]
    assert f.verdict == "reproduced" and "-0.20 [-0.25, -0.15]" in f.text
    no_cost = [_curve("large_cot", "in-domain", 0.3), _curve("large_cot", "safety", -0.02)]
    assert _by_key(_analysis(runs, no_cost))["safety"].verdict == "not reproduced"
    assert (
        _by_key(_analysis(runs, [_curve("large_cot", "in-domain", 0.3)]))["safety"].verdict
        == "not measurable here"
    )


def test_dynamics_quotes_the_dip_as_a_positive_drop():
    runs = {"large_cot": CONDS["large_cot"]}
    dip = _curve("large_cot", "out-of-domain", 0.05, "dip-and-recovery", depth=_iv(-0.15), dip_step=10,
                 recovery_step=40)  # fmt: skip
    f = _by_key(_analysis(runs, [dip]))["dynamics"]
    assert f.verdict == "reproduced" and "fell by 0.15 [0.10, 0.20] at step 10" in f.text
    part = _curve("large_cot", "out-of-domain", -0.05, "dip-and-partial-recovery", depth=_iv(-0.15), dip_step=10,
                  recovery_step=40)  # fmt: skip
    assert _by_key(_analysis(runs, [part]))["dynamics"].verdict == "partly"
    flat = _curve("large_cot", "out-of-domain", 0.0, "flat within noise")
    f = _by_key(_analysis(runs, [flat]))["dynamics"]
    assert f.verdict == "not reproduced" and "No power simulation" in f.text
    short = _curve("large_cot", "general", 0.0)
    short["curve"] = {k: v[:2] for k, v in short["curve"].items()}
    assert _by_key(_analysis(runs, [short]))["dynamics"].verdict == "not measurable here"


def test_run_labels_are_short_unique_and_fall_back_to_numbers():
    labels = run_labels(_analysis(CONDS, []))
    assert labels["large_cot"] == "large · long-cot" and labels["small_cot"] == "small · long-cot"
    same = {"a": {"model": "m", "quality": "cot"}, "b": {"model": "m", "quality": "cot"}}
    assert run_labels(_analysis(same, [])) == {"a": "R1", "b": "R2"}
