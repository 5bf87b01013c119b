"""Fixtures for the rollouts tests: a Countdown "teacher" and small pools.

A randomly initialised tiny model never solves Countdown, so curation would have nothing to select. The teacher
fixture fine-tunes a copy of the tiny model (a plain torch loop, ~150 steps) on two responses per query — the
correct expression and a wrong answer ``0`` — so sampling at temperature 1 gives a mix of verified and unverified
responses for most queries, which is what curation needs (one of each per query).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

QUERIES = "countdown:8:seed0:min_numbers=2:max_numbers=2:num_max=3:prompt_style=short"


def teacher_responses(target: str) -> list[str]:
    return [f"<think>\n{target}\n</think>\n<answer>{ans}</answer>" for ans in (target, "0")]


@pytest.fixture(scope="session")
def countdown_teacher(tmp_path_factory, tiny_model_dir) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rsft.chat import prompt_ids
    from rsft.rollouts.queries import load_queries

    out = tmp_path_factory.mktemp("countdown_teacher")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    seqs = []
    for q in load_queries(QUERIES):
        p = prompt_ids(tok, q.messages)
        for text in teacher_responses(q.target):
            seqs.append((p, tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]))
    width = max(len(p) + len(r) for p, r in seqs)
    ids = torch.full((len(seqs), width), tok.pad_token_id)
    labels = torch.full((len(seqs), width), -100)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for k, (p, r) in enumerate(seqs):
        ids[k, : len(p) + len(r)] = torch.tensor(p + r)
        labels[k, len(p) : len(p) + len(r)] = torch.tensor(r)
        mask[k, : len(p) + len(r)] = 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster than two on a busy 2-core machine
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
            for _ in range(150):
                model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
                opt.step()
                opt.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture
def write_pool(tmp_path):
    """Write a pool folder from a list of row dicts (missing columns get defaults)."""
    import pyarrow as pa

    from rsft.rollouts.schema import POOL_MANIFEST, POOL_SCHEMA
    from rsft.rollouts.store import ShardWriter

    def make(rows: list[dict], name: str = "pool") -> Path:
        pool = tmp_path / name
        if pool.exists():
            shutil.rmtree(pool)
        w = ShardWriter(pool / "shards" / "00000-of-00001")
        full = []
        for r in rows:
            n = len(r.get("token_ids", [1, 2, 3]))
            lps = r.get("logprobs", [-0.5] * n)
            base = {
                "prompt": "Use [3, 5, 7] to make 22.",
                "messages": json.dumps(
                    [{"role": "user", "content": r.get("prompt", "Use [3, 5, 7] to make 22.")}]
                ),
                "target": "3 * 5 + 7",
                "query_meta": json.dumps({"numbers": [3, 5, 7], "target": 22}),
                "token_ids": [1] * n,
                "logprobs": lps,
                "entropies": [0.1] * n,
                "entropy_kind": "full",
                "finish_reason": "stop",
                "n_tokens": n,
                "prompt_tokens": 10,
                "logprob_sum": float(sum(lps)),
                "teacher": "hf/fake",
                "gen_config": "{}",
                "seed": 0,
                "seconds": 0.0,
            }
            full.append({**base, **r})
        w.write(pa.Table.from_pylist(full, schema=POOL_SCHEMA))
        w.commit()
        (pool / POOL_MANIFEST).write_text(json.dumps({"teacher": "hf/fake"}))
        return pool

    return make
