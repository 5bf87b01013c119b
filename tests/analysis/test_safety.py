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


def test_judges_used_names_the_judge_of_every_safety_benchmark(tmp_path):
    """analysis.json says which judge scored each safety number, from the rows' score_meta."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from rsft.analysis.frames import judges_used
    from rsft.analysis.synthetic import make_store

    store = make_store(tmp_path / "s", benchmarks={"hex_phi": "safety", "xstest": "overrefusal", "m": "math"})
    part = next((store / "rows").glob("*.parquet"))
    t = pq.read_table(part)
    bench = t.column("benchmark").to_pylist()
    metas = []
    for i, b in enumerate(bench):
        if b == "hex_phi":
            metas.append(json.dumps({"judge": "classifier:llamaguard3" if i % 2 else "refusal"}))
        elif b == "xstest":
            metas.append(json.dumps({"judge": "refusal", "rule": "none"}))
        else:
            metas.append(json.dumps({}))
    t = t.set_column(t.schema.get_field_index("score_meta"), "score_meta", pa.array(metas, pa.string()))
    pq.write_table(t, part)
    used = judges_used(store)
    n_hex = bench.count("hex_phi")
    assert set(used) == {"hex_phi", "xstest"}  # math is not a safety group
    assert used["hex_phi"] == {"classifier:llamaguard3": n_hex // 2, "refusal": n_hex - n_hex // 2}
    assert used["xstest"] == {"refusal": bench.count("xstest")}
