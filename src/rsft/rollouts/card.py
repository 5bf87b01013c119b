"""The pool's data card: ``DATA_CARD.md`` and ``stats.json``, from the pool's scalar columns (a cheap scan)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from rsft.rollouts.schema import DATA_CARD, POOL_MANIFEST, POOL_SCHEMA, PROGRESS, SHARDS_DIR
from rsft.rollouts.stats import describe, fmt_describe
from rsft.rollouts.store import iter_pool, write_json_atomic

_SCAN = ["query_id", "sample_idx", "n_tokens", "logprob_sum", "verified", "finish_reason"]

COLUMN_DOCS = {
    "query_id": "query id (stable; from the queries file or the task generator)",
    "sample_idx": "sample index 0..n-1 within the query",
    "prompt": "user turn text",
    "messages": "JSON chat list given to the teacher",
    "target": "reference answer",
    "query_meta": "JSON: other query fields (what the verifier needs)",
    "response": "decoded response (special tokens removed, thinking tags kept)",
    "token_ids": "generated token ids (teacher tokenizer), EOS included when generated",
    "logprobs": "chosen-token log-probabilities under the teacher's untempered distribution (float32)",
    "entropies": "next-token entropies (float32); entropy_kind says over what",
    "entropy_kind": "full = whole vocabulary, topk:K = the K returned top log-probs only",
    "finish_reason": "stop | length | error",
    "n_tokens": "len(token_ids)",
    "prompt_tokens": "prompt length in tokens",
    "logprob_sum": "sum of logprobs",
    "extracted_answer": "the verifier's extracted answer",
    "verified": "verifier verdict; null = unscored",
    "verify_reason": "why (correct, no_answer, wrong_value, truncated ...)",
    "teacher": "backend id of the teacher",
    "teacher_hash": "weights hash of a local teacher folder",
    "gen_config": "JSON generation config",
    "seed": "seed of this sample",
    "seconds": "generation wall time attributed to the sample",
    "error": "backend error text, when finish_reason is error",
}


def pool_stats(pool: str | Path) -> dict[str, Any]:
    """Rows, queries, verified yield, finish reasons, token-length and mean-log-prob distributions."""
    n_tok, lp_mean, per_query = [], [], Counter()
    verified, finish = Counter(), Counter()
    for b in iter_pool(pool, _SCAN):
        tok = b.column("n_tokens").to_numpy(zero_copy_only=False).astype(np.float64)
        lps = b.column("logprob_sum").to_numpy(zero_copy_only=False).astype(np.float64)
        n_tok.append(tok)
        with np.errstate(invalid="ignore", divide="ignore"):
            lp_mean.append(np.where(tok > 0, lps / tok, np.nan))
        ver = b.column("verified").to_pylist()
        verified.update("unscored" if v is None else str(v).lower() for v in ver)
        finish.update(b.column("finish_reason").to_pylist())
        for qid, v in zip(b.column("query_id").to_pylist(), ver, strict=True):
            per_query[qid] += 1 if v else 0
    tokens = np.concatenate(n_tok) if n_tok else np.array([])
    lpm = np.concatenate(lp_mean) if lp_mean else np.array([])
    solved = sum(1 for v in per_query.values() if v > 0)
    return {
        "rows": int(tokens.size),
        "queries": len(per_query),
        "queries_with_verified": solved,
        "verified": dict(verified),
        "finish_reason": dict(finish),
        "n_tokens": describe(tokens),
        "logprob_mean": describe(lpm),
    }


def write_data_card(pool: str | Path) -> dict[str, Any]:
    """Write ``stats.json`` and ``DATA_CARD.md`` for the pool folder; returns the stats."""
    pool = Path(pool)
    manifest = json.loads((pool / POOL_MANIFEST).read_text(encoding="utf-8"))
    stats = pool_stats(pool)
    shards = []
    for p in sorted((pool / SHARDS_DIR).glob(f"*/{PROGRESS}")):
        s = json.loads(p.read_text(encoding="utf-8"))
        shards.append(f"| {p.parent.name} | {s.get('rows', 0):,} | {'yes' if s.get('complete') else 'no'} |")
    write_json_atomic(pool / "stats.json", stats)
    gen = manifest["gen_config"]
    lines = [
        "# Rollout pool",
        "",
        f"- teacher: `{manifest['teacher']}` (weights hash {manifest.get('teacher_hash') or 'n/a'})",
        f"- queries: `{manifest['queries']}` ({manifest['num_queries']:,} queries, hash {manifest['queries_hash']})",
        f"- verifier: `{manifest['task']}`; system prompt: {manifest.get('system_prompt')!r}",
        f"- generation: n={gen['n']}, temperature={gen['temperature']}, top_p={gen['top_p']}, top_k={gen['top_k']}, "
        f"max_new_tokens={gen['max_new_tokens']}, seed={gen['seed']} (per-sample seeds derive from seed and query id)",
        f"- schema version {manifest['schema_version']}; created {manifest.get('created_at')}; "
        f"rsft {manifest.get('provenance', {}).get('rsft_version')}, "
        f"git {manifest.get('provenance', {}).get('git', {}).get('commit')}",
        "",
        "## Contents (all committed parts)",
        "",
        f"- rows: {stats['rows']:,}; queries: {stats['queries']:,}; "
        f"queries with >= 1 verified response: {stats['queries_with_verified']:,}",
        f"- verified: {stats['verified']}",
        f"- finish reasons: {stats['finish_reason']}",
        f"- response tokens: {fmt_describe(stats['n_tokens'])}",
        f"- mean per-token log-prob: {fmt_describe(stats['logprob_mean'], 3)}",
        "",
        "| shard | rows | complete |",
        "|---|---|---|",
        *shards,
        "",
        "## Columns",
        "",
        *(f"- `{f.name}` ({f.type}): {COLUMN_DOCS.get(f.name, '')}" for f in POOL_SCHEMA),
        "",
    ]
    tmp = pool / (DATA_CARD + ".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, pool / DATA_CARD)  # shards finishing at once each rewrite the card
    return stats
