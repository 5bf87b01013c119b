from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from rsft._util.errors import DataError
from rsft.eval.schema import ROW_SCHEMA
from rsft.eval.store import Store


def _row(key: str, score: float = 1.0, **kw):
    return {
        "key": key,
        "schema_version": 2,
        "benchmark": "b",
        "item_id": key,
        "sample_idx": 0,
        "score": score,
        **kw,
    }


def test_append_keys_frame_and_last_write_wins(tmp_path):
    st = Store(tmp_path / "s")
    assert st.keys() == set() and len(st.frame()) == 0
    st.append([_row("a"), _row("b")])
    st.append([_row("a", score=0.0)])  # a rescore of key a
    assert Store(tmp_path / "s").keys() == {"a", "b"}
    df = st.frame().set_index("key")
    assert len(df) == 2 and df.loc["a", "score"] == 0.0
    assert list(st.frame("score > 0.5")["key"]) == ["b"]
    assert pq.read_schema(st.parts()[0]).equals(ROW_SCHEMA, check_metadata=False)
    assert json.loads((tmp_path / "s" / "store.json").read_text())["schema_version"] == 2


def test_compact_keeps_latest(tmp_path):
    st = Store(tmp_path)
    for i in range(3):
        st.append([_row("a", score=float(i)), _row(f"k{i}")])
    st.compact()
    assert len(st.parts()) == 1
    df = st.frame().set_index("key")
    assert len(df) == 4 and df.loc["a", "score"] == 2.0


def test_tmp_parts_are_invisible_and_bad_text_is_cleaned(tmp_path):
    st = Store(tmp_path)
    (st.rows_dir / "part-x.parquet.tmp").write_bytes(b"half written")
    st.append([_row("a", response="bad \udcff byte")])  # undecodable byte surfaced as a lone surrogate
    assert st.frame()["response"][0] == "bad \ufffd byte"


def test_unknown_columns_and_other_schema_versions_refused(tmp_path):
    st = Store(tmp_path)
    with pytest.raises(DataError, match="not in ROW_SCHEMA"):
        st.append([{"key": "a", "extra": 1}])
    (tmp_path / "store.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(DataError, match="schema version 99"):
        Store(tmp_path)


def _schema1_part(folder, rows: list[dict]) -> None:
    """A part as rsft wrote it with schema 1 (no policy / score_mode / score_scale columns)."""
    import pyarrow as pa

    v1 = pa.schema([f for f in ROW_SCHEMA if f.name not in ("policy", "score_mode", "score_scale")])
    folder.mkdir(parents=True, exist_ok=True)
    (folder.parent / "store.json").write_text(json.dumps({"schema_version": 1}))
    cols = {f.name: [r.get(f.name) for r in rows] for f in v1}
    pq.write_table(
        pa.Table.from_pydict(cols, schema=v1), folder / "part-00000000000000000001-1-000000.parquet"
    )


def test_schema1_store_reads_as_schema2(tmp_path):
    import math

    rows = [
        _row("ok", 1.0, schema_version=1, outcome="ok", score_reason="correct", run="r", benchmark="m"),
        _row("na", 0.0, schema_version=1, outcome="ok", score_reason="no_answer", run="r", benchmark="m"),
        _row("err", 0.0, schema_version=1, outcome="error", error="HTTP 500", run="r", benchmark="m"),
        _row("uns", math.nan, schema_version=1, outcome="unscored", score_reason="judge_unparsed", run="r"),
        _row("rw", 3.5, schema_version=1, outcome="ok", run="r", benchmark="alpaca"),
    ]
    _schema1_part(tmp_path / "rows", rows)
    st = Store(tmp_path)  # readable; reading changes nothing, the first append raises store.json to 2
    df = st.frame().set_index("key")
    assert json.loads((tmp_path / "store.json").read_text())["schema_version"] == 1
    assert df.loc["ok", "outcome"] == "ok" and df.loc["na", "outcome"] == "no_answer"
    assert df.loc["err", "outcome"] == "error" and math.isnan(df.loc["err", "score"])  # schema 1 stored 0
    assert df.loc["uns", "outcome"] == "error"
    assert set(df["policy"]) == {"unknown"} and set(df["score_mode"]) == {"unknown"}
    assert df.loc["rw", "score_scale"] == "reward" and df.loc["ok", "score_scale"] == "unit"  # derived
    st.append([_row("new", 1.0, outcome="ok", policy="truncated=wrong", score_scale="unit", run="r")])
    assert Store(tmp_path).frame().set_index("key").loc["new", "policy"] == "truncated=wrong"
    assert json.loads((tmp_path / "store.json").read_text())["schema_version"] == 2
