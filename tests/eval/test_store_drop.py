"""The store's own operation for a retrained run: drop that run's rows of replaced weights, keep everything else."""

from __future__ import annotations

from rsft.eval.store import Store


def _row(key: str, run: str, weights: str, score: float = 1.0) -> dict:
    return {"key": key, "schema_version": 1, "benchmark": "b", "item_id": key, "sample_idx": 0, "score": score,
            "run": run, "weights_hash": weights}  # fmt: skip


def test_drop_replaced_removes_only_the_runs_stale_rows_and_the_key_index_follows(tmp_path):
    st = Store(tmp_path)
    st.append([_row("a1", "r1", "old"), _row("a2", "r1", "new"), _row("b1", "r2", "old")])
    st.append([_row("a3", "r1", "old")])
    assert st.keys("r1") == {"a1", "a2", "a3"}  # builds the key index, which the drop must refresh
    assert st.drop_replaced("r1", {"new"}) == 2
    assert len(st.parts()) == 1 and not list(st.rows_dir.glob("*.tmp"))
    assert st.keys("r1") == {"a2"} and st.keys("r2") == {"b1"}
    assert set(Store(tmp_path).frame()["key"]) == {"a2", "b1"}
    assert st.drop_replaced("r1", {"new"}) == 0 and st.drop_replaced("r3", set()) == 0


def test_refresh_reads_only_new_parts_and_rebuilds_when_another_process_removed_parts(tmp_path, monkeypatch):
    import rsft.eval.store as store_mod

    mine, other = Store(tmp_path), Store(tmp_path)  # two processes on one store
    mine.append([_row("a1", "r1", "w1")])
    other.append([_row("b1", "r2", "w1")])
    assert mine.keys() == {"a1", "b1"}  # the first read indexes every part
    reads = []
    real = store_mod.pq.read_table
    monkeypatch.setattr(store_mod.pq, "read_table", lambda p, **kw: reads.append(p) or real(p, **kw))
    other.append([_row("b2", "r2", "w1")])
    mine.refresh()
    assert mine.keys("r2") == {"b1", "b2"} and len(reads) == 1  # only the new part was read
    mine.refresh()
    assert len(reads) == 1  # nothing new: nothing read
    assert other.drop_replaced("r1", {"w2"}) == 1  # rewrites the parts: mine's indexed parts are gone
    mine.refresh()
    assert mine.keys() == {"b1", "b2"} and mine.keys("r1") == set()
