"""analyze_store end to end on synthetic stores with a known truth, and the CLI."""

from __future__ import annotations

import json
import math

import pytest

from rsft.analysis import AnalyzeConfig, analyze_store, make_store
from rsft.cli.main import main

STEPS = list(range(0, 90, 10))
BENCHES = {"m": "math", "cd": "math", "r": "reasoning", "s": "safety"}


def _truth(run: str, bench: str, step: int) -> float:
    if bench in ("m", "cd"):
        return 0.35 + 0.004 * step
    if bench == "r":
        return 0.55 - 0.3 * math.sin(math.pi * step / 80)
    return 0.9 - 0.005 * step


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    root = tmp_path_factory.mktemp("an")
    runs = {"Qwen3-4B_Math-CoT_lr5e-5_ep8_bs256": {}, "Qwen3-4B_Math-NoCoT_lr5e-5_ep8_bs256": {}}
    store = make_store(
        root / "store", list(runs), STEPS, BENCHES, items=150, samples=4, curve_fn=_truth, seed=3
    )
    cfg = AnalyzeConfig(B=400, power_sims=10, power_depths=[0.0, 0.1])
    out = analyze_store(store, root / "out", seed=5, config=cfg)
    return store, out, json.loads((out / "analysis.json").read_text())


def test_classes_match_the_truth(analysed):
    _, _, a = analysed
    by = {(r["run"][:20], r["domain"]): r["detector"]["class"] for r in a["domain_curves"]}
    for run in {k[0] for k in by}:
        assert by[(run, "in-domain")] in ("improves", "rise-then-plateau")
        # the sine dip returns exactly to the base: with 150 items the final is not shown within 0.02 of it, so
        # either dip class is right ("recovered" needs that evidence)
        assert by[(run, "out-of-domain")] in ("dip-and-recovery", "dip-and-partial-recovery")
    for r in a["domain_curves"]:
        d = r["detector"]
        assert d["recovered"] == (d["final_vs_margin"]["lo"] > -d["recovery_margin"])
        assert by[(run, "safety")] in ("degrades", "drop-and-stay")


def test_every_number_carries_n_k_seed_and_level(analysed):
    _, out, a = analysed
    for rec in [*a["benchmarks"], *a["domain_curves"]]:
        st = rec["stat"]
        assert st["n_items"] == 150 or st["n_items"] == 300
        assert st["k"] == 4 and st["B"] == 400 and st["seed"] == 5 and st["level"] == 0.95
        cur = rec["curve"]
        assert all(lo <= e <= hi for e, lo, hi in zip(cur["est"], cur["lo"], cur["hi"], strict=True))
    assert {
        "dynamics.csv",
        "detector.csv",
        "detector.md",
        "comparison.csv",
        "power.csv",
        "tradeoff.csv",
        "recommendation.md",
    } <= {p.name for p in (out / "tables").iterdir()}
    assert a["runs"]["Qwen3-4B_Math-CoT_lr5e-5_ep8_bs256"]["dataset"] == "Math-CoT"
    assert a["condition_keys"] == ["dataset"]


def test_tradeoff_and_behaviour(analysed):
    _, _, a = analysed
    t = a["tradeoff"][0]
    rec = t["recommendation"]
    i = t["step"].index(rec["step"])
    assert t["eligible"][i]
    assert rec["weighted_score"]["lo"] <= rec["weighted_score"]["est"] <= rec["weighted_score"]["hi"]
    b = a["behaviour"][0]
    # synthetic responses grow with the step
    assert b["response_tokens"]["est"][-1] > b["response_tokens"]["est"][0]
    assert set(b["markers_per_1k_tokens"]) == {"backtracking", "verification", "decomposition"}
    assert b["marker_correctness"]["backtracking"]["n_with"][0] > 0
    assert a["power"][0]["depth"] == 0.0 and a["power"][1]["depth"] == 0.1
    p0, p1 = a["power"][0], a["power"][1]
    assert p0["shape"] == "flat" and p1["shape"] == "dip-and-recovery" and p0["sims"] == 10
    # the item model is smoothed (a beta), not the raw item means, and the Monte-Carlo error is stated
    assert 0 < p0["item_model"]["sd"] < 0.5 and p0["mc_se"] > 0 and "simulated runs" in p0["method"]
    # each power row names the curve it is for, with the drift fitted from the store and the reference test
    assert p0["benchmark"] in p0["like"] and p0["run"] in p0["like"] and p0["domain"] in ("out-of-domain", "general")
    assert 0 < p0["item_model"]["lag1_item_correlation"] <= 1 and "drift" in p0["method"]
    assert 0 <= p1["reference"] <= 1 and p1["reference_se"] > 0


def test_same_seed_same_analysis(analysed, tmp_path):
    store, _, a = analysed
    cfg = AnalyzeConfig(B=400, power_sims=10, power_depths=[0.0, 0.1])
    b = json.loads(
        (analyze_store(store, tmp_path / "again", seed=5, config=cfg) / "analysis.json").read_text()
    )
    assert a["benchmarks"] == b["benchmarks"] and a["tradeoff"] == b["tradeoff"]


def test_in_domain_is_configurable_and_base_is_borrowed(tmp_path):
    # a Countdown-trained pair of runs: only "cd" is in-domain; run b has no step 0 of its own
    store = make_store(tmp_path / "s", ["a", "b"], [0, 10, 20], BENCHES, items=30, samples=2, curve_fn=_truth)
    import pyarrow.parquet as pq

    t = pq.read_table(store / "rows" / "part-00000.parquet")
    import pyarrow.compute as pc

    keep = pc.invert(pc.and_(pc.equal(t["run"], "b"), pc.equal(t["step"], 0)))
    pq.write_table(t.filter(keep), store / "rows" / "part-00000.parquet")
    conds = {"a": {"model": "m1", "dataset": "cd"}, "b": {"model": "m1", "dataset": "cd-nocot"}}
    out = analyze_store(
        store, tmp_path / "o", in_domain=["cd"], config=AnalyzeConfig(B=100, power_sims=0), conditions=conds
    )
    a = json.loads((out / "analysis.json").read_text())
    assert a["domains"] == {"cd": "in-domain", "m": "out-of-domain", "r": "out-of-domain", "s": "safety"}
    b_rec = [r for r in a["benchmarks"] if r["run"] == "b"][0]
    assert b_rec["curve"]["step"][0] == 0
    assert any("taken from run a" in n for n in a["notes"])
    assert not any("in-domain benchmarks not given" in n for n in a["notes"])


def test_a_guessed_in_domain_is_said(analysed):
    """Without --in-domain every math-group benchmark counts as in-domain: the analysis names them in a note (a
    Countdown run's analysis silently counted arithmetic as in-domain too)."""
    a = analysed[2]
    (note,) = [n for n in a["notes"] if n.startswith("in-domain benchmarks not given")]
    guessed = sorted(b for b, d in a["domains"].items() if d == "in-domain")
    assert guessed and ", ".join(guessed) in note


def test_cli_analyze_and_errors(tmp_path, capsys):
    store = make_store(tmp_path / "s", ["r"], [0, 10], {"m": "math"}, items=20, samples=2)
    with pytest.raises(SystemExit) as e:
        main(
            [
                "analyze",
                str(store),
                "--out",
                str(tmp_path / "o"),
                "--seed",
                "1",
                "--set",
                "B=100",
                "--set",
                "power_sims=0",
            ]
        )
    assert e.value.code == 0
    assert json.loads((tmp_path / "o" / "analysis.json").read_text())["spec"]["seed"] == 1
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(store), "--set", "Bee=3"])
    assert e.value.code == 2
    assert "unknown key" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(
            [
                "analyze",
                "power",
                "--n",
                "30",
                "--k",
                "2",
                "--steps",
                "4",
                "--sims",
                "5",
                "--B",
                "100",
                "--depth",
                "0,0.2",
            ]
        )
    assert e.value.code == 0
    assert "0.200" in capsys.readouterr().out


def test_between_runs_is_paired_and_finds_a_real_difference(tmp_path):
    def truth(run: str, bench: str, step: int) -> float:
        return 0.4 + (0.002 * step if run == "better" else 0.0)

    store = make_store(
        tmp_path / "s",
        ["base_run", "better"],
        [0, 50, 100],
        {"m": "math"},
        items=200,
        samples=4,
        curve_fn=truth,
    )
    conds = {"base_run": {"model": "q", "dataset": "a"}, "better": {"model": "q", "dataset": "b"}}
    out = analyze_store(store, tmp_path / "o", config=AnalyzeConfig(B=400, power_sims=0), conditions=conds)
    rows = json.loads((out / "analysis.json").read_text())["between_runs"]
    m = [r for r in rows if r["curve"] == "m"][0]
    assert m["run"] == "better" and m["reference"] == "base_run" and m["paired"]
    assert m["mark"] == "▲" and m["diff"]["lo"] > 0.05
