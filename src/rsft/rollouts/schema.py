"""The rollout pool: its row schema (the release format) and its on-disk layout.

One row per (query, sample). Per-token arrays are ``list<float32>`` / ``list<int32>`` so a 1.4 M-row pool streams
in bounded memory. Bump :data:`POOL_SCHEMA_VERSION` on any change; readers refuse versions they do not know.

Layout (a folder)::

    POOL/pool.json                          identity: teacher, generation config, queries hash, n, schema version
    POOL/DATA_CARD.md                       human-readable card (rewritten after each shard finishes)
    POOL/shards/SSSSS-of-NNNNN/part-*.parquet
                                            committed parts: each holds complete queries only (all n samples),
                                            written to a tmp name and renamed, so a part is all or nothing
    POOL/shards/SSSSS-of-NNNNN/progress.json
                                            queries/rows done, parts, ``complete`` flag (informational; the
                                            committed parts are the truth on resume)

Readers glob ``shards/*/part-*.parquet`` (DuckDB: ``read_parquet('POOL/shards/*/part-*.parquet')``).
"""

from __future__ import annotations

import pyarrow as pa

POOL_SCHEMA_VERSION = 1
POOL_MANIFEST = "pool.json"
DATA_CARD = "DATA_CARD.md"
SHARDS_DIR = "shards"
PARTS_GLOB = "shards/*/part-*.parquet"
PROGRESS = "progress.json"

POOL_SCHEMA = pa.schema(
    [
        # identity: (query_id, sample_idx) is unique in a pool
        ("query_id", pa.string()),
        ("sample_idx", pa.int32()),
        # the query
        ("prompt", pa.string()),  # the user turn (plain text)
        ("messages", pa.string()),  # JSON chat list given to the teacher (system turn included, if any)
        ("target", pa.string()),  # reference answer, as given by the queries
        ("query_meta", pa.string()),  # JSON: what the verifier needs (Countdown numbers, test cases ...)
        # the response
        ("response", pa.string()),
        ("token_ids", pa.list_(pa.int32())),
        (
            "logprobs",
            pa.list_(pa.float32()),
        ),  # chosen-token log-probabilities; null when the backend gave none
        ("entropies", pa.list_(pa.float32())),  # next-token entropies; null when the backend gave none
        ("entropy_kind", pa.string()),  # "full" (whole vocabulary), "topk:K", or null
        ("finish_reason", pa.string()),  # "stop" | "length" | "error"
        ("n_tokens", pa.int32()),
        ("prompt_tokens", pa.int32()),
        ("logprob_sum", pa.float64()),  # derived from logprobs (null without them): cheap to filter on
        # verification at rollout time (curation may re-verify)
        ("extracted_answer", pa.string()),
        ("verified", pa.bool_()),  # null = unscored (no verifier, or the verifier could not decide)
        ("verify_reason", pa.string()),
        # provenance
        ("teacher", pa.string()),  # backend id, e.g. hf/Qwen/Qwen3-8B
        ("teacher_hash", pa.string()),  # weights hash where the teacher is a local folder
        ("gen_config", pa.string()),  # JSON of GenerateConfig (n = the pool's n, seed = the pool's seed)
        ("seed", pa.int64()),  # the seed used for this query's batch of samples
        ("seconds", pa.float32()),
        ("error", pa.string()),
    ]
)

COLUMNS = tuple(POOL_SCHEMA.names)
