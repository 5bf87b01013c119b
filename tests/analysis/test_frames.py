"""Reading the store: last written row per key, schema checks, user-fixable errors."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from rsft._util.errors import DataError
from rsft.analysis.frames import cubes, item_frame, sample_frame
from rsft.analysis.synthetic import make_store


def test_last_written_row_wins(tmp_path):
    store = make_store(tmp_path / "s", steps=[0, 10], items=3, samples=2, seed=1)
    part = pq.read_table(store / "rows" / "part-00000.parquet")
    first = part.slice(0, 1).to_pylist()[0]
    first["score"] = 1.0 - first["score"]  # a rewrite of the same key with a different score
    import pyarrow as pa

    from rsft.eval.schema import ROW_SCHEMA

    pq.write_table(pa.Table.from_pylist([first], schema=ROW_SCHEMA), store / "rows" / "part-00001.parquet")
    t = sample_frame(store, ["run", "step", "item_id", "sample_idx", "score", "key"])
    assert t.num_rows == part.num_rows
    row = [r for r in t.to_pylist() if r["key"] == first["key"]][0]
    assert row["score"] == first["score"]


def test_item_frame_sums_match_samples(tmp_path):
    store = make_store(tmp_path / "s", runs=["a", "b"], steps=[0, 5, 9], items=7, samples=3, seed=2)
    two = item_frame(
        make_store(tmp_path / "t", runs=["a"], steps=[0], benchmarks=["x", "y"], items=4, samples=1)
    )
    assert two.cols["run_item_code"].tolist() == list(range(8))
    assert two.cols["item_code"].tolist() == [0, 1, 2, 3] * 2
    f = item_frame(store)
    t = sample_frame(store, ["run", "score", "n_tokens"])
    assert f.cols["s_sum"].sum() == pytest.approx(np.nansum(t.column("score").to_numpy()))
    assert f.cols["tok_sum"].sum() == t.column("n_tokens").to_numpy().sum()
    assert len(f) == 2 * 3 * 7
    assert sorted(set(f.cols["item_code"].tolist())) == list(range(7))
    assert f.cols["run_item_code"].max() == 6  # one benchmark per run here
    cs = cubes(f)
    assert [(c.run, c.cnt.shape) for c in cs] == [("a", (7, 3)), ("b", (7, 3))]
    assert cs[0].binary


def test_unscored_rows_are_left_out(tmp_path):
    store = make_store(tmp_path / "s", steps=[0], items=2, samples=2)
    path = store / "rows" / "part-00000.parquet"
    t = pq.read_table(path).to_pylist()
    t[0]["score"] = float("nan")
    t[0]["outcome"] = "unscored"
    import pyarrow as pa

    from rsft.eval.schema import ROW_SCHEMA

    pq.write_table(pa.Table.from_pylist(t, schema=ROW_SCHEMA), path)
    f = item_frame(store)
    assert f.cols["n_scored"].sum() == 3 and f.cols["n_rows"].sum() == 4


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="not found"):
        item_frame(tmp_path / "missing")
    (tmp_path / "empty" / "rows").mkdir(parents=True)
    with pytest.raises(DataError, match="no rows"):
        item_frame(tmp_path / "empty")
    store = make_store(tmp_path / "s", steps=[0], items=2, samples=1)
    (store / "store.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(DataError, match="schema version 99"):
        item_frame(store)


def test_rows_without_a_step_are_left_out_with_a_note(tmp_path):
    import pyarrow as pa

    from rsft.eval.schema import ROW_SCHEMA

    store = make_store(tmp_path / "s", steps=[0, 10], items=3, samples=1)
    rows = pq.read_table(store / "rows" / "part-00000.parquet").to_pylist()
    plain = [dict(r, step=None, run="api-model", key=r["key"] + "x") for r in rows[:3]]
    pq.write_table(pa.Table.from_pylist(plain, schema=ROW_SCHEMA), store / "rows" / "part-00001.parquet")
    f = item_frame(store)
    assert len(f) == 6 and f.notes == ["3 rows without a step (plain-model evaluations) were left out"]
    (store / "rows" / "part-00000.parquet").unlink()
    with pytest.raises(DataError, match="no row has a step"):
        item_frame(store)


def test_full_and_topk_entropies_are_never_averaged_together(tmp_path):
    import pyarrow as pa

    from rsft.analysis.behaviour import behaviour_metrics
    from rsft.analysis.stats import BootSpec

    store = make_store(tmp_path / "s", runs=["a", "b"], steps=[0, 10], items=6, samples=2, seed=3)
    path = store / "rows" / "part-00000.parquet"
    rows = pq.read_table(path).to_pylist()
    for i, r in enumerate(rows):
        if r["run"] == "a":  # run a: every other response from a top-k backend, with a far larger value
            r["entropy_kind"] = "full" if i % 2 else "topk:5"
            r["entropy_mean"] = 1.0 if i % 2 else 50.0
        else:  # run b: top-k only
            r["entropy_kind"], r["entropy_mean"] = "topk:20", 2.0
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(path)), path)
    frame = item_frame(store)
    beh = {r["run"]: r for r in behaviour_metrics(frame, BootSpec(B=50, seed=0), {})}
    a, b = beh["a"], beh["b"]
    assert a["entropy_kind"] == "full" and a["entropy_mean"]["est"] == pytest.approx([1.0, 1.0])
    assert "12 responses" in a["entropy_note"] and "never averaged" in a["entropy_note"]
    assert b["entropy_kind"] == "topk:20" and b["entropy_mean"]["est"] == pytest.approx([2.0, 2.0])
    assert "entropy_note" not in b


def test_two_generation_configs_in_one_run_and_benchmark_are_refused_with_both_named(tmp_path):
    """A suite rerun at another temperature adds rows under new keys beside the old ones: analysed together, each
    item would count k = 2 samples of one model. The analysis refuses, naming both configs."""
    import pyarrow as pa

    from rsft.eval.schema import ROW_SCHEMA

    store = make_store(tmp_path / "s", steps=[0, 10], items=3, samples=1, seed=1)
    before = item_frame(store)  # one config: fine
    assert before.cols["n_rows"].max() == 1
    rows = pq.read_table(store / "rows" / "part-00000.parquet").to_pylist()
    for r in rows:
        r["key"], r["gen_hash"] = r["key"] + "-hot", "g-hot"
        r["gen_config"] = json.dumps({"temperature": 1.0, "top_p": 1.0, "seed": 7})
    pq.write_table(pa.Table.from_pylist(rows, schema=ROW_SCHEMA), store / "rows" / "part-00001.parquet")
    with pytest.raises(DataError, match="2 generation configs") as e:
        item_frame(store)
    msg = str(e.value)
    assert "g0" in msg and "g-hot" in msg and '"temperature": 1.0' in msg and '"seed"' not in msg
    assert "own --store" in msg
