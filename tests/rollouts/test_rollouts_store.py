"""Pool storage: atomic parts, exactly-once bookkeeping, streaming reads, queries and shards."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rsft._util.errors import DataError, RsftError
from rsft.rollouts import iter_pool, pool_num_rows
from rsft.rollouts.queries import load_queries, parse_shard, shard_range
from rsft.rollouts.schema import POOL_SCHEMA
from rsft.rollouts.store import ShardWriter


def _table(qids: list[str], n: int = 2) -> pa.Table:
    rows = [
        {
            "query_id": q,
            "sample_idx": j,
            "response": f"{q}/{j}",
            "token_ids": [1, 2],
            "logprobs": [-0.1, -0.2],
        }
        for q in qids
        for j in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=POOL_SCHEMA)


def test_parts_are_atomic_and_resume_skips_committed(tmp_path):
    shard = tmp_path / "shards" / "00000-of-00001"
    w = ShardWriter(shard, row_group_rows=3)
    w.write(_table(["a", "b"]))
    assert w.commit().name == "part-000001.parquet"
    w.write(_table(["c"]))  # written but never committed: the process "dies" here
    assert list(shard.glob("*.tmp")) or w._buffered  # pending, invisible to readers
    assert pool_num_rows(tmp_path) == 4

    w2 = ShardWriter(shard, row_group_rows=3)  # the rerun
    assert not list(shard.glob("*.tmp"))  # the half-written part is gone
    assert w2.done_ids() == {"a", "b"}
    w2.write(_table(["c", "d"]))
    assert w2.commit().name == "part-000002.parquet"
    ids = [(r["query_id"], r["sample_idx"]) for b in iter_pool(tmp_path) for r in b.to_pylist()]
    assert sorted(ids) == [(q, j) for q in "abcd" for j in range(2)]  # each exactly once


def test_row_groups_and_auto_commit(tmp_path):
    w = ShardWriter(tmp_path / "s", row_group_rows=4, part_rows=8)
    for q in "abcdef":
        w.write(_table([q]))  # 2 rows each; a part closes once it holds >= 8 rows
    w.commit()
    parts = w.parts()
    assert [pq.ParquetFile(p).metadata.num_rows for p in parts] == [8, 4]
    assert [pq.ParquetFile(parts[0]).metadata.row_group(i).num_rows for i in range(2)] == [4, 4]


def test_compaction_never_shows_a_row_twice(tmp_path):
    shard = tmp_path / "shards" / "00000-of-00001"
    w = ShardWriter(shard, row_group_rows=4, part_rows=100)
    for q in "abc":
        w.write(_table([q]))
        w.commit()
    saved = {p.name: p.read_bytes() for p in w.parts()}
    (merged,) = w.compact()
    assert pq.ParquetFile(merged).metadata.num_rows == 6
    for name, data in saved.items():  # a crash between the rename and the deletes leaves the sources behind
        (shard / name).write_bytes(data)
    assert pool_num_rows(tmp_path) == 6  # readers skip the replaced parts
    assert ShardWriter(shard).parts() == [merged] and len(list(shard.glob("*.parquet"))) == 1


def test_reader_refuses_newer_schema_and_missing_columns(tmp_path):
    f = tmp_path / "pool.parquet"
    table = _table(["a"])
    pq.write_table(table.replace_schema_metadata({b"rsft.pool_schema_version": b"99"}), f)
    with pytest.raises(DataError, match="newer"):
        list(iter_pool(f))
    g = tmp_path / "other.parquet"
    pq.write_table(pa.table({"x": [1]}), g)
    with pytest.raises(DataError, match="missing pool column"):
        list(iter_pool(g))
    with pytest.raises(DataError, match="no rollout pool"):
        list(iter_pool(tmp_path / "nothing"))


def test_shards_cover_every_query_once():
    for total in (0, 1, 7, 100):
        for count in (1, 3, 8):
            covered = [i for s in range(count) for i in range(*shard_range(total, s, count))]
            assert covered == list(range(total))
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "x", "-1/2", "1/0"):
        with pytest.raises(RsftError, match="bad shard"):
            parse_shard(bad)


def test_queries_from_jsonl(tmp_path):
    f = tmp_path / "q.jsonl"
    rows = [
        {"id": "m1", "problem": "What is 2+2?", "answer": "4", "level": 1},
        {"messages": [{"role": "user", "content": "Say hi"}], "target": "hi"},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    qs = load_queries(str(f), system_prompt="Be brief.")
    assert [q.id for q in qs] == ["m1", "row-000001"]
    assert qs[0].messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    assert (qs[0].target, qs[0].metadata) == ("4", {"answer": "4", "level": 1})  # all other columns kept
    assert qs[1].prompt == "Say hi" and qs[1].target == "hi"

    f.write_text(json.dumps({"id": "a", "prompt": "x"}) + "\n" + json.dumps({"id": "a", "prompt": "y"}))
    with pytest.raises(DataError, match="duplicate query id") as e:
        load_queries(str(f))
    assert e.value.row == 1
    f.write_text(json.dumps({"id": "a", "text": "x"}))
    with pytest.raises(DataError, match="no question") as e:
        load_queries(str(f))
    assert e.value.row == 0


def test_queries_from_task_spec():
    qs = load_queries("countdown:5:seed3:min_numbers=2:max_numbers=2")
    assert len(qs) == 5 and len({q.id for q in qs}) == 5
    assert qs[0].metadata["task"] == "countdown" and len(qs[0].metadata["numbers"]) == 2
    assert [q.id for q in load_queries("countdown:5:seed3:min_numbers=2:max_numbers=2")] == [q.id for q in qs]
    with pytest.raises(RsftError, match="bad queries spec"):
        load_queries("countdown:many")
    with pytest.raises(RsftError, match="bad item"):
        load_queries("countdown:3:oops")


def test_shard_lock_refuses_a_live_run_and_takes_over_a_dead_one(tmp_path):
    import os
    import socket
    import subprocess

    from rsft.rollouts.store import shard_lock

    shard = tmp_path / "s"
    with shard_lock(shard):
        with pytest.raises(RsftError, match="being written by another run"):
            with shard_lock(shard):
                pass
    assert not (shard / ".lock").exists()
    child = subprocess.Popen(["true"])
    child.wait()  # its pid is free now: the lock's owner is dead
    (shard / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": child.pid}))
    with shard_lock(shard):  # stale lock from a killed run on this host: taken over
        assert json.loads((shard / ".lock").read_text())["pid"] == os.getpid()
