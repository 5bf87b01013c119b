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
