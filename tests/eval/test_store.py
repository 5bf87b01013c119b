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
        "schema_version": 1,
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
    assert json.loads((tmp_path / "s" / "store.json").read_text())["schema_version"] == 1


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
