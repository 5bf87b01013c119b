"""Reading a store creates, writes and moves nothing: ``Store.open`` against ``Store(path)``; the analysis, the
summary and the protocol metrics read through it; a missing store is one error naming its path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rsft._util.errors import DataError, RsftError
from rsft.analysis import analyze_store
from rsft.analysis.frames import item_frame, judges_used, sample_frame
from rsft.analysis.synthetic import make_store
from rsft.eval.protocol import protocol_records
from rsft.eval.schema import SCORED_SQL, scored_mask
from rsft.eval.store import Store


def _tree(root: Path) -> list[tuple[str, int, int]]:
    """Every file and folder under ``root`` with its size and mtime (tests run as root, so a chmod'ed copy would
    not stop a write: compare the tree instead)."""
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_analyze_changes_nothing_in_the_store(tmp_path):
    store = make_store(tmp_path / "s", steps=(0, 10, 20), items=20, samples=2, parts=3)
    (store / "rows" / "part-99-bad.parquet").write_bytes(b"not parquet")  # a damaged part: named, not moved
    before = _tree(store)
    out = analyze_store(store, tmp_path / "out", config=None, seed=1)
    assert (out / "analysis.json").is_file()
    assert _tree(store) == before


@pytest.mark.parametrize(
    "read", ["open", "sample_frame", "item_frame", "judges_used", "protocol_records", "analyze_store"]
)
def test_reading_a_missing_store_creates_nothing(tmp_path, read):
    missing = tmp_path / "nowhere" / "store"
    call = {
        "open": Store.open,
        "sample_frame": sample_frame,
        "item_frame": item_frame,
        "judges_used": judges_used,
        "protocol_records": protocol_records,
        "analyze_store": analyze_store,
    }[read]  # fmt: skip (analyze_store: its default out is inside STORE)
    with pytest.raises(DataError, match="store folder not found") as e:
        call(missing)
    assert str(missing) in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_a_store_opened_to_read_refuses_writes(tmp_path):
    store = make_store(tmp_path / "s", steps=(0, 10), items=5, samples=1)
    st = Store.open(store)
    before = _tree(store)
    for write in (lambda: st.append([{"key": "k"}]), st.compact, lambda: st.drop_replaced("run", set())):
        with pytest.raises(RsftError, match="opened to read"):
            write()
    assert _tree(store) == before
    assert st.table().num_rows == Store(store).table().num_rows == 10


def test_one_scored_rule_in_sql_and_on_frames(tmp_path):
    """The item frame's SQL and the frame mask (summary, protocol metrics, replays) are one predicate: every
    outcome but error with a finite score."""
    import duckdb

    outcomes = ["ok", "truncated", "no_answer", "error", None]
    scores = [1.0, 0.0, 0.5, math.nan, math.inf, None]
    df = pd.DataFrame([(o, s) for o in outcomes for s in scores], columns=["outcome", "score"])
    want = np.array(
        [
            o in ("ok", "truncated", "no_answer") and s is not None and math.isfinite(s)
            for o in outcomes
            for s in scores
        ]
    )
    assert (scored_mask(df) == want).all()
    con = duckdb.connect()
    got = con.execute(f"SELECT {SCORED_SQL} FROM df").fetchnumpy()
    assert (np.asarray(next(iter(got.values())), dtype=bool) == want).all()
