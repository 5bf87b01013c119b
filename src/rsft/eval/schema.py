"""The per-sample store's row schema — the contract between evaluation and analysis.

One row per (weights hash, benchmark@version, prompt hash, generation config, item, sample). Aggregates are always
derived from rows. Bump :data:`SCHEMA_VERSION` on any change; readers refuse versions they do not know.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

# Outcomes: "ok" (scored), "truncated" (thinking or answer cut by max_new_tokens — never parsed as an answer),
# "error" (backend or scorer failure, recorded on the row), "unscored" (kept, left out of metrics).
OUTCOMES = ("ok", "truncated", "error", "unscored")

ROW_SCHEMA = pa.schema(
    [
        ("key", pa.string()),  # hash of the identity columns below: the resume key
        ("schema_version", pa.int32()),
        # identity
        ("weights_hash", pa.string()),
        ("benchmark", pa.string()),
        ("benchmark_version", pa.int32()),
        ("prompt_hash", pa.string()),
        ("gen_hash", pa.string()),
        ("item_id", pa.string()),
        ("sample_idx", pa.int32()),
        # where it came from (not part of the key)
        ("run", pa.string()),  # run name (training run folder name) or model id
        ("step", pa.int64()),  # checkpoint step; null for a plain model; 0 = base model
        ("model_path", pa.string()),
        ("group", pa.string()),  # domain group of the benchmark
        ("gen_config", pa.string()),  # JSON of GenerateConfig with n=1 and the sample's seed
        ("seed", pa.int64()),
        # what happened
        ("prompt", pa.string()),
        ("response", pa.string()),
        ("finish_reason", pa.string()),
        ("outcome", pa.string()),
        ("extracted", pa.string()),
        ("score", pa.float64()),  # NaN when unscored; truncated and error rows score 0
        ("score_reason", pa.string()),
        ("score_meta", pa.string()),  # JSON
        ("n_tokens", pa.int32()),
        ("n_thinking_tokens", pa.int32()),
        ("n_answer_tokens", pa.int32()),
        ("prompt_tokens", pa.int32()),
        ("logprob_mean", pa.float64()),
        ("entropy_mean", pa.float64()),
        ("entropy_kind", pa.string()),
        ("error", pa.string()),
        ("seconds", pa.float64()),
        ("created_at", pa.string()),
        ("rsft_version", pa.string()),
        ("git_commit", pa.string()),
    ]
)

KEY_COLUMNS = (
    "weights_hash",
    "benchmark",
    "benchmark_version",
    "prompt_hash",
    "gen_hash",
    "item_id",
    "sample_idx",
)

# Store layout (a folder):
#   STORE/store.json              {"schema_version": 1, "created_by": ...}
#   STORE/rows/part-*.parquet     row groups with ROW_SCHEMA; written atomically (tmp file + rename), append-only
# Readers glob STORE/rows/*.parquet (DuckDB: read_parquet('STORE/rows/*.parquet')). A key may appear in more than
# one part only after a crash between write and compaction: readers keep the last written row per key.
STORE_ROWS_GLOB = "rows/*.parquet"
