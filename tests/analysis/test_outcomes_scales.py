"""Outcomes and scales in the analysis: error rows never count as 0, rewards never average raw into a domain."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rsft.analysis import AnalyzeConfig, analyze_store, make_store
from rsft.analysis.frames import cubes, item_frame
from rsft.eval.schema import ROW_SCHEMA


def _rewrite(store, fn) -> None:
    path = store / "rows" / "part-00000.parquet"
    rows = [fn(r) for r in pq.read_table(path).to_pylist()]
    pq.write_table(pa.Table.from_pylist(rows, schema=ROW_SCHEMA), path)


def test_error_rows_are_left_out_and_counted_also_in_schema1_stores(tmp_path):
    store = make_store(tmp_path / "s", steps=[0, 10], benchmarks={"hb": "safety"}, items=6, samples=2, seed=3)
    clean = item_frame(store)
    hit = lambda r: r["sample_idx"] == 1 and r["item_id"].endswith(("-0", "-1"))  # noqa: E731
    lost = sum(r["score"] for r in pq.read_table(store / "rows" / "part-00000.parquet").to_pylist() if hit(r))

    def break_some(r):
        if not hit(r):
            return r
        if r["step"] == 0:  # as schema 1 wrote a judge / backend error: score 0 (an attack success)
            return dict(r, outcome="error", score=0.0, schema_version=1, error="judge down")
        return dict(r, outcome="error", score=math.nan, error="HTTP 500")

    _rewrite(store, break_some)
    f = item_frame(store)
    assert f.cols["n_err"].sum() == 4 and f.cols["n_scored"].sum() == clean.cols["n_scored"].sum() - 4
    assert f.cols["s_sum"].sum() == pytest.approx(clean.cols["s_sum"].sum() - lost)
    out = analyze_store(store, tmp_path / "o", config=AnalyzeConfig(B=100, power_sims=0))
    a = json.loads((out / "analysis.json").read_text())
    rec = a["benchmarks"][0]
    assert rec["outcomes"]["error"] == [2, 2] and rec["outcomes"]["total"]["error"] == 4
    assert rec["curve"]["n_items"] == [6, 6]  # items keep their other sample


def test_errors_do_not_lower_a_safety_score(tmp_path):
    """Every step-10 response is safe except a run of judge errors: the score stays 1, it does not drop."""
    store = make_store(tmp_path / "s", steps=[0, 10], benchmarks={"hb": "safety"}, items=20, samples=1)

    def fix(r):
        if r["step"] == 10 and r["item_id"].endswith(("-1", "-2", "-3", "-4", "-5")):
            return dict(r, outcome="error", score=0.0, error="judge: unparsed")  # rsft wrote 0 before
        return dict(r, outcome="ok", score=1.0)

    _rewrite(store, fix)
    (cube,) = cubes(item_frame(store))
    means = cube.s_sum.sum(axis=0) / cube.cnt.sum(axis=0)
    assert means.tolist() == [1.0, 1.0] and cube.cnt.sum(axis=0).tolist() == [20, 15]


def _rewards(store, scale: str | None, rewards: dict[tuple[int, int], float]) -> None:
    """Give the rows of benchmark "alp" the reward rewards[(step, item)] (same for every sample)."""

    def fix(r):
        if not r["benchmark"] == "alp":
            return r
        item = int(r["item_id"].rsplit("-", 1)[1])
        return dict(r, score=rewards[(r["step"], item)], score_scale=scale, outcome="ok")

    _rewrite(store, fix)


@pytest.mark.parametrize(
    "scale", ["reward", None]
)  # None: a schema-1 store, the scale derived from the values
def test_reward_becomes_win_rate_against_the_base(tmp_path, scale):
    store = make_store(
        tmp_path / "s", steps=[0, 10], benchmarks={"alp": "general", "ife": "general"}, items=4, samples=1
    )
    base = {0: 1.0, 1: -2.0, 2: 0.5, 3: 7.0}
    later = {0: 3.0, 1: -2.0, 2: -1.0, 3: 9.0}  # wins, ties, loses, wins
    _rewards(store, scale, {**{(0, i): v for i, v in base.items()}, **{(10, i): v for i, v in later.items()}})
    f = item_frame(store)
    assert f.scoring["alp"]["scale"] == "reward" and f.scoring["alp"]["unit"]
    cube = next(c for c in cubes(f) if c.benchmark == "alp")
    assert (cube.s_sum[:, 0] == 0.5).all()  # the base against itself: a tie
    assert cube.s_sum[:, 1].tolist() == [1.0, 0.5, 0.0, 1.0]
    out = analyze_store(store, tmp_path / "o", config=AnalyzeConfig(B=100, power_sims=0))
    a = json.loads((out / "analysis.json").read_text())
    (dom,) = [d for d in a["domain_curves"] if d["domain"] == "general"]
    assert dom["benchmarks"] == ["alp", "ife"]  # bounded now, so it is averaged
    alp = next(b for b in a["benchmarks"] if b["benchmark"] == "alp")
    assert alp["curve"]["est"] == [0.5, 0.625]
    assert any("win rate against the run's base" in n for n in a["notes"])


def test_unbounded_scores_are_never_averaged_into_a_domain(tmp_path):
    """A benchmark that says "unit" but stores values outside [0, 1] is shown alone."""
    store = make_store(
        tmp_path / "s", steps=[0, 10], benchmarks={"alp": "general", "ife": "general"}, items=4, samples=1
    )
    _rewards(store, "unit", {(s, i): 2.0 + i for s in (0, 10) for i in range(4)})
    out = analyze_store(store, tmp_path / "o", config=AnalyzeConfig(B=100, power_sims=0))
    a = json.loads((out / "analysis.json").read_text())
    (dom,) = [d for d in a["domain_curves"] if d["domain"] == "general"]
    assert dom["benchmarks"] == ["ife"]
    assert any("alp: scores outside [0, 1]" in n for n in a["notes"])
    assert np.isclose(next(b for b in a["benchmarks"] if b["benchmark"] == "alp")["curve"]["est"][0], 3.5)


def test_a_schema1_store_is_analysed(tmp_path):
    """store.json at version 1, parts without the schema-2 columns: read, with policy and mode "unknown"."""
    store = make_store(
        tmp_path / "s", steps=[0, 10], benchmarks={"m": "math", "alp": "general"}, items=4, samples=1
    )
    path = store / "rows" / "part-00000.parquet"
    t = pq.read_table(path)
    rows = [
        dict(r, schema_version=1, score=(5.0 + r["step"] if r["benchmark"] == "alp" else r["score"]))
        for r in t.to_pylist()
    ]
    old = pa.schema([f for f in ROW_SCHEMA if f.name not in ("policy", "score_mode", "score_scale")])
    pq.write_table(pa.Table.from_pylist([{k: r[k] for k in old.names} for r in rows], schema=old), path)
    (store / "store.json").write_text(json.dumps({"schema_version": 1}))
    f = item_frame(store)
    assert f.scoring["m"] == {"policy": ["unknown"], "score_mode": ["unknown"], "scale": "unit", "unit": True}
    assert f.scoring["alp"]["scale"] == "reward"  # derived: scores outside [0, 1]
    cube = next(c for c in cubes(f) if c.benchmark == "alp")
    assert cube.s_sum[:, 1].tolist() == [1.0] * 4  # every later reward beats the base's
