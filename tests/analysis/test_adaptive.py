"""The adaptive sweep policy: its design, its replay against a real full sweep, and its error spending.

The replay store is written by the evaluation engine itself (`rsft eval` over real tiny Qwen3 checkpoints on the
toy benchmarks); the statistical tests run the policy on simulated runs with a known truth.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rsft.analysis.adaptive import (
    DEFAULT_SCHEDULE,
    Look,
    agreement,
    design_mask,
    expand_counts,
    grid_indices,
    item_order,
    plan_schedule,
    replay_store,
    simulate_policy,
)
from rsft.analysis.stats import BootSpec, clopper_pearson
from rsft.analysis.synthetic import ItemModel

SUITE = """
name: t
seed: 3
generation: {temperature: 1.0, max_new_tokens: 12}
backend: {kind: hf, batch_size: 8, device: cpu}
benchmarks:
  - name: toy_arith
    options: {n_items: 12}
    generation: {n: 2}
  - name: toy_sort
    options: {n_items: 12}
    generation: {n: 2}
"""


def test_grids_are_nested_and_schedule_fits_the_budget():
    g7, g15 = set(grid_indices(65, 7)), set(grid_indices(65, 15))
    assert len(g7) == 7 and len(g15) == 15 and g7 <= g15 and 0 not in g15 and 64 not in g15
    for n, k in ((500, 3), (30, 10), (198, 3)):
        looks = plan_schedule(65, n, k)
        assert 1 <= len(looks) <= len(DEFAULT_SCHEDULE)
        pos = item_order(np.zeros((n, k)), np.random.default_rng(0))
        m = design_mask(65, n, k, looks, pos, 1)
        assert m.sum() <= 0.10 * m.size  # the budget is a share of the full sweep's rows
        assert m[0].all() and m[64].all()  # base and final complete
        # paired: at every interior checkpoint evaluated, the same items (the look's subset or all of them)
        items = [frozenset(np.flatnonzero(m[s].any(axis=1))) for s in range(1, 64) if m[s].any()]
        assert all(a <= b or b <= a for a in items for b in items)
    # a budget below the first look keeps the first look only
    assert plan_schedule(65, 100, 3, budget=0.0) == [DEFAULT_SCHEDULE[0]]


def test_inclusion_probability_is_exact_within_every_base_stratum():
    """Each item is in the half subset with probability 1/2 whatever its base outcome (2,000 draws: MC s.e. of
    a share 0.011; the test allows 5 s.e.)."""
    n, k = 40, 3
    rng = np.random.default_rng(5)
    base = (rng.random((n, k)) < np.linspace(0, 1, n)[:, None]).astype(float)
    hits = np.zeros(n)
    draws = 2000
    for _ in range(draws):
        pos = item_order(base, rng)
        off = int(rng.integers(0, 2))
        hits += design_mask(3, n, k, [Look(1, 1, 1.0)], pos, off)[1].any(axis=1)
    share = hits / draws
    assert np.all(np.abs(share - 0.5) < 5 * math.sqrt(0.25 / draws))
    # and the drawn half is balanced across base strata (implicit stratification): every bin half-filled
    pos = item_order(base, np.random.default_rng(1))
    m = design_mask(3, n, k, [Look(1, 1, 1.0)], pos, 0)[1].any(axis=1)
    mean = base.mean(axis=1)
    for b in np.unique(np.floor(mean * 4.999)):
        sel = np.floor(mean * 4.999) == b
        assert abs(m[sel].sum() - sel.sum() / 2) <= 1


def test_expand_counts_keeps_counts_and_agreement_kinds():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, size=(20, 5)).astype(float)
    y = expand_counts(counts, 3, rng)
    assert y.shape == (5, 20, 3) and np.array_equal(y.sum(axis=2).T, counts)
    assert agreement("dip-and-recovery", "dip-and-recovery") == "same"
    assert agreement("dip-and-recovery", "inconclusive") == "weaker"
    assert agreement("drop-and-stay", "degrades") == "weaker"
    assert agreement("flat within noise", "improves") == "stronger"
    assert agreement("degrades", "improves") == "contradicts"
    # by claims (the detector's class definitions): a partial recovery claims the dip and the rise, not the margin
    assert agreement("dip-and-recovery", "dip-and-partial-recovery") == "weaker"
    assert agreement("dip-and-partial-recovery", "dip-and-recovery") == "stronger"
    assert agreement("drop-and-stay", "dip-and-partial-recovery") == "contradicts"
    assert agreement("rise-then-plateau", "rise-and-fall") == "contradicts"
    # verdicts also carry the final checkpoint's sign: a partial recovery still below base at the end claims
    # "degrades" and more; one that does not claim it says nothing about the final and contradicts "degrades"
    below = {"class": "dip-and-partial-recovery", "below": [True, True], "above": [False, False]}
    not_below = {**below, "below": [True, False]}
    degrades = {"class": "degrades", "below": [False, True], "above": [False, False]}
    assert agreement(below, degrades) == "weaker" and agreement(degrades, below) == "stronger"
    assert agreement(degrades, not_below) == "contradicts"


def write_checkpoint(run_dir, step: int, tokenizer, seed: int) -> None:
    """A tiny random Qwen3 as RUN_DIR/checkpoints/step_NNNNNN, complete (as tests/eval/conftest.py writes it)."""
    from rsft._util.hashing import weights_hash
    from rsft.toy import tiny_qwen3

    d = run_dir / "checkpoints" / f"step_{step:06d}"
    d.mkdir(parents=True, exist_ok=True)
    tiny_qwen3(tokenizer, "micro", seed=seed, out_dir=d)
    (d / "meta.json").write_text(json.dumps({"step": step, "weights_hash": weights_hash(d)}))
    (d / "COMPLETE").write_text("")


@pytest.fixture(scope="module")
def full_store(tmp_path_factory, tiny_tokenizer):
    """A real full sweep: two runs sharing a base, 5 checkpoints each, two toy benchmarks, 12 items x 2 samples."""
    pytest.importorskip("rsft.eval.runner")
    from rsft.cli.main import main

    root = tmp_path_factory.mktemp("adaptive")

    for r, name in enumerate(("run_a", "run_b")):
        for i, step in enumerate((0, 10, 20, 30, 40)):
            write_checkpoint(root / name, step, tiny_tokenizer, seed=0 if step == 0 else 10 * (r + 1) + i)
    (root / "suite.yaml").write_text(SUITE)
    store = root / "store"
    for name in ("run_a", "run_b"):
        with pytest.raises(SystemExit) as e:
            main(["eval", "--run", str(root / name), "--suite", str(root / "suite.yaml"), "--store", str(store),
                  "--no-progress", "--lease-ttl", "0"])  # fmt: skip
        assert e.value.code == 0
    return store


def test_replay_reads_stored_rows_and_never_contradicts(full_store):
    from rsft.analysis.frames import sample_frame

    # no budget: with 5 checkpoints the base and final alone are 40% of the rows, and every look is kept
    rep = replay_store(full_store, spec=BootSpec(B=200, seed=0), budget=None)
    assert len(rep["curves"]) == 4  # 2 runs x 2 benchmarks
    tab = sample_frame(full_store, ["key", "n_tokens"]).to_pydict()
    per_key = dict(zip(tab["key"], tab["n_tokens"], strict=True))
    assert rep["tokens"]["full"] == pytest.approx(sum(per_key.values()))  # each key once (shared base)
    assert 0 < rep["tokens"]["adaptive"] < rep["tokens"]["full"]
    assert rep["contradictions"] == []
    for c in rep["curves"]:
        a = c["adaptive"]
        assert a["steps"][0] == 0 and a["steps"][-1] == 40
        assert a["n_items"][0] == 12 and a["n_items"][-1] == 12  # base and final complete
        assert c["rows"]["adaptive"] < c["rows"]["full"]
        assert c["class_agreement"] in ("same", "weaker")
    assert rep["between_runs"] and all(b["agreement"] != "contradicts" for b in rep["between_runs"])
    assert rep["level_per_look"] == [pytest.approx(1 - 0.05 / len(DEFAULT_SCHEDULE))]
    for c in rep["curves"]:  # each look reads a superset of the previous one's rows
        rows = [look["rows"] for look in c["adaptive"]["looks"]]
        assert rows == sorted(rows) and c["adaptive"]["stopped_at"] == len(rows)


def test_cli_replay_writes_the_report(full_store, tmp_path):
    from rsft.cli.main import main

    out = tmp_path / "replay.json"
    with pytest.raises(SystemExit) as e:
        main(["eval", "--adaptive", "--replay", str(full_store), "--out", str(out), "--n-boot", "200"])
    assert e.value.code == 0
    rep = json.loads(out.read_text())
    assert rep["tokens"]["ratio"] < 1 and rep["contradictions"] == []
    with pytest.raises(SystemExit) as e:  # a store that is not there: one clear line, non-zero exit
        main(["eval", "--adaptive", "--replay", str(tmp_path / "nope")])
    assert e.value.code != 0


def test_live_adaptive_sweep_generates_what_the_replay_reads(full_store, tmp_path):
    """The live sweep of run_a generates exactly the rows the replay of the full store reads for run_a (same
    design, same seed; generation is deterministic per sample seed), and nothing else."""
    from rsft.analysis.frames import sample_frame
    from rsft.eval.config import load_suite
    from rsft.study.adaptive import ADAPTIVE_JSON, adaptive_sweep

    root = full_store.parent
    live = tmp_path / "live"
    rec = adaptive_sweep(load_suite(str(root / "suite.yaml"), []), root / "run_a", live,
                         spec=BootSpec(B=200, seed=0), budget=None)  # fmt: skip
    rep = replay_store(full_store, spec=BootSpec(B=200, seed=0), budget=None)
    got = set(sample_frame(live, ["key"]).column("key").to_pylist())
    replayed = {c["benchmark"]: c for c in rep["curves"] if c["run"] == "run_a"}
    assert len(got) == sum(c["rows"]["adaptive"] for c in replayed.values())
    for c in rec["curves"]:
        r = replayed[c["benchmark"]]
        assert c["class"] == r["adaptive"]["class"] and c["rows"] == r["rows"]["adaptive"]
        assert c["steps"] == r["adaptive"]["steps"] and c["n_items"] == r["adaptive"]["n_items"]
        assert c["steps_not_evaluated"] == [] or all(s not in c["steps"] for s in c["steps_not_evaluated"])
    assert json.loads((live / ADAPTIVE_JSON).read_text())["curves"][0]["schedule"]


def test_a_design_without_known_inclusion_probabilities_fails_where_the_design_holds():
    """Flat truth, 160 items x 2 samples, 9 checkpoints, two looks on half the items. The stratified draw makes
    (almost) no false claim; evaluating the interior on the items the base did best on, analysed as a random draw,
    claims changes that are not there. 60 simulated runs each (B = 100): the valid design's one-sided 95%
    Clopper-Pearson bound is asserted <= 15% (measured 0/60), the wrong design's rate >= 50% (measured 58/60; MC
    s.e. of a 50% rate at 60 runs is 6.5%, so the margin is ~7 s.e.)."""
    model = ItemModel(mean=0.5, sd=0.3, jitter_sd=0.3, jitter_rho=0.9)
    looks = (Look(3, 1, 1.0), Look(7, 1, 1.0))

    def rate(method: str) -> dict:
        return simulate_policy(model, 160, 2, list(range(0, 90, 10)), "flat", 0.0, 60, BootSpec(B=100, seed=7),
                               full=False, method=method, schedule=looks, budget=None)  # fmt: skip

    good, bad = rate("adaptive"), rate("top")
    assert clopper_pearson(good["false_verdicts"], 60, 0.95)[1] <= 0.15, good["adaptive"]
    assert bad["false_verdict_rate"] >= 0.50, bad["adaptive"]


PAPER = {"MATH-500": (500, 3, 0.6), "GPQA": (198, 3, 0.4), "AIME": (30, 10, 0.25)}


@pytest.mark.slow
@pytest.mark.parametrize("config", list(PAPER))
@pytest.mark.parametrize(
    "shape", ["flat", "drop-and-stay", "steady decline", "steady rise", "rise-then-plateau"]
)
def test_false_verdict_rate_on_null_shapes_at_paper_sizes(config, shape):
    """Paper-shaped sweeps (65 checkpoints), 1,000 simulated runs per null (the item model of
    benchmarks/detector_calibration.py): the adaptive false-verdict rate's one-sided 95% Clopper-Pearson upper
    bound is <= 5%. At 1,000 runs that bound is met for observed rates up to 3.8% (MC s.e. ~0.6%)."""
    n, k, mean = PAPER[config]
    model = ItemModel(mean=mean, sd=0.3, jitter_sd=0.3, jitter_rho=0.9)
    r = simulate_policy(model, n, k, list(range(0, 650, 10)), shape, 0.0 if shape == "flat" else 0.10, 1000,
                        BootSpec(B=400, seed=11), full=False)  # fmt: skip
    assert r["false_verdict_upper"] <= 0.05, r
