"""The paper's released data: SFT sets with `message`, `response`, `advantage` (and `logprob` when present), and a raw
rollout pool whose column names differ from rsft's, read through a mapping file (YAML, no code)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rsft._util.errors import ConfigError, DataError
from rsft.config import load_config
from rsft.data.io import read_sft
from rsft.rollouts.curate import CurateConfig, curate
from rsft.rollouts.importer import import_pool
from rsft.rollouts.schema import POOL_SCHEMA
from rsft.train.config import TrainConfig

CHAT = [{"role": "user", "content": "Compute 2+3."}]


def test_released_sft_columns_message_response_advantage_logprob(tmp_path):
    path = tmp_path / "release.parquet"
    table = pa.table(
        {
            "message": [json.dumps(CHAT), "Compute 4*5.", json.dumps(CHAT)],
            "response": ["<think>\n2+3=5\n</think>\n5", "<think>\n20\n</think>\n20", "5"],
            "advantage": [0.5, 1.0, -0.25],
            "logprob": [[-0.1, -0.2, -0.3], None, [-1.0]],
        }
    )
    pq.write_table(table, path)
    rows = read_sft(path)
    assert rows[0].messages == CHAT and rows[1].messages == [{"role": "user", "content": "Compute 4*5."}]
    assert [r.weight for r in rows] == [0.5, 1.0, -0.25]
    assert rows[0].teacher_logprobs == [-0.1, -0.2, -0.3] and rows[1].teacher_logprobs is None
    # a per-row total is kept as metadata, not mistaken for per-token log-probs
    scalar = tmp_path / "scalar.jsonl"
    scalar.write_text(json.dumps({"message": CHAT, "response": "5", "logprob": -3.5}) + "\n")
    (row,) = read_sft(scalar)
    assert row.teacher_logprobs is None and row.metadata["logprob"] == -3.5
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"message": CHAT, "response": "5", "logprob": ["x"]}) + "\n")
    with pytest.raises(DataError, match="row 0") as e:
        read_sft(bad)
    assert "teacher_logprobs" in e.value.render()


def test_sft_mapping_file_renames_columns_for_training(tmp_path):
    data = tmp_path / "raw.jsonl"
    data.write_text(
        "".join(json.dumps({"question": q, "completion": a, "score": s}) + "\n" for q, a, s in
                [("Compute 2+3.", "5", 1.0), ("Compute 1+1.", "2", 0.5)])
    )  # fmt: skip
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("columns: {question: prompt, completion: response, score: weight}\n")
    rows = read_sft(data, column_map=str(mapping))
    assert [r.messages[0]["content"] for r in rows] == ["Compute 2+3.", "Compute 1+1."]
    assert [(r.response, r.weight) for r in rows] == [("5", 1.0), ("2", 0.5)]
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"model: {{path: m}}\ndata: {{path: {data}, column_map: {mapping}}}\n")
    assert load_config(cfg, TrainConfig).data.column_map == str(mapping)
    broken = tmp_path / "broken.yaml"
    broken.write_text("columns: {question: prompt, completion: prompt}\nextra: 1\n")
    with pytest.raises(ConfigError) as e:
        read_sft(data, column_map=str(broken))
    assert "extra" in e.value.render()


def _raw_pool(tmp_path):
    rows = []
    for q, (a, b) in {"q0": ("1+2", "3+0"), "q1": ("2*2", "4/1")}.items():
        for text, ok in ((f"<think>\n{a}\n</think>\nyes", True), (f"<think>\n{b}\n</think>\nno", False)):
            rows.append({"qid": q, "query": f"Make {q}", "output": text, "is_correct": ok,
                         "token_lp": [-0.5, -0.25], "stop": "stop", "gold": 7})  # fmt: skip
    path = tmp_path / "raw"
    path.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), path / "part-0.parquet")
    mapping = tmp_path / "pool_mapping.yaml"
    mapping.write_text(
        "columns: {qid: query_id, query: prompt, output: response, is_correct: verified, token_lp: logprobs,\n"
        "          stop: finish_reason, gold: target}\n"
        "defaults: {teacher: release/teacher}\n"
    )
    return path, mapping


def test_raw_pool_through_a_mapping_file_into_curation(tmp_path):
    raw, mapping = _raw_pool(tmp_path)
    summary = import_pool(raw, mapping, tmp_path / "pool.parquet")
    assert summary == {"rows": 4, "queries": 2, "out": str(tmp_path / "pool.parquet"), "dropped_columns": []}
    table = pq.read_table(tmp_path / "pool.parquet")
    assert table.schema == POOL_SCHEMA
    got = table.to_pylist()
    assert [(r["query_id"], r["sample_idx"]) for r in got] == [("q0", 0), ("q0", 1), ("q1", 0), ("q1", 1)]
    assert all(
        r["n_tokens"] == 2 and r["logprob_sum"] == -0.75 and r["teacher"] == "release/teacher" for r in got
    )
    assert (
        json.loads(got[0]["messages"]) == [{"role": "user", "content": "Make q0"}] and got[0]["target"] == "7"
    )
    # the pool's own verdicts drive curation: one verified and one unverified response per query
    rep = curate(CurateConfig(pool=str(tmp_path / "pool.parquet"), task="none", out=str(tmp_path / "sft"),
                              reverify=False))  # fmt: skip
    long_cot = read_sft(tmp_path / "sft" / "long_cot.parquet")
    assert sorted(r.response.splitlines()[-1] for r in long_cot) == ["yes", "yes"]
    assert rep["verdicts"]["source"] == "the pool's verified column"


def test_pool_mapping_errors_name_the_missing_column(tmp_path):
    raw, _ = _raw_pool(tmp_path)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {qid: query_id, query: prompt}\n")  # output not mapped to response
    with pytest.raises(DataError, match="response"):
        import_pool(raw, mapping, tmp_path / "p.parquet")
