"""The per-sample store's row schema — the contract between evaluation and analysis.

One row per (weights hash, benchmark@version, prompt hash, generation config, item, sample). Aggregates are always
derived from rows. Bump :data:`SCHEMA_VERSION` on any change; readers refuse versions they do not know and read every
version in :data:`READABLE_VERSIONS` through :func:`select_sql`, which fills what an older row lacks.

Schema 2 (outcomes you can trust) against schema 1:

- ``outcome`` is one of :data:`OUTCOMES`. Schema-1 rows are read as: ``unscored`` -> ``error`` (a judge whose output
  could not be read, or an item that could not be scored: not model behaviour); ``ok`` with ``score_reason`` =
  ``no_answer`` -> ``no_answer``; every ``error`` row's score -> NaN (schema 1 stored 0, which counted a backend or
  judge failure as a wrong answer or, on safety benchmarks, as an attack success).
- new columns ``policy`` (the benchmark's outcome policy, e.g. ``truncated=wrong;no_answer=wrong;error=excluded``),
  ``score_mode`` (which scorer mode scored the row, e.g. math ``protocol`` / ``strict``) and ``score_scale``
  (``unit``: a score in [0, 1]; ``reward``: unbounded). Schema-1 rows read ``policy`` and ``score_mode`` as
  ``unknown``; ``score_scale`` is derived per benchmark: ``reward`` when any stored score of that benchmark lies
  outside [0, 1], else ``unit``.
- Schema-1 truncation was decided from the text alone; ``rsft eval --rescore`` re-derives every outcome from the
  stored response, finish reason and rendered prompt without generating again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)

# One outcome per response (see rsft.eval.scoring): "ok" (an answer was found and scored), "truncated" (cut by the
# length limit; scored as the benchmark's policy says), "no_answer" (the response ended without an answer: scored as
# its policy says, wrong by default), "error" (backend, judge or scorer failure: score NaN, left out of every mean,
# counted).
OUTCOMES = ("ok", "truncated", "no_answer", "error")

# A scored row: what every mean, count of scored samples and bootstrap of rsft reads (eval summary, protocol
# metrics, the analysis' item frame, adaptive replays). Every outcome but ``error`` with a finite score: an error row
# (a backend, judge or scorer failure) is left out and counted, never a wrong answer; a score a policy leaves out
# (NaN) is not averaged, nor a row without an outcome. ``isfinite``, not ``isnan``: DuckDB 2.0 reports isnan(NaN read from
# Parquet) as false; NULL is not scored. The SQL predicate is the only definition: :func:`scored_mask` evaluates it.
SCORED_SQL = "coalesce(outcome <> 'error' AND isfinite(score), false)"
SCALES = ("unit", "reward")

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
        ("score", pa.float64()),  # NaN for error rows; truncated / no_answer rows as the policy says
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
        # schema 2
        ("policy", pa.string()),  # the benchmark's outcome policy when the row was scored
        ("score_mode", pa.string()),  # which scorer mode scored the row (math: protocol / strict)
        ("score_scale", pa.string()),  # "unit" (score in [0, 1]) or "reward" (unbounded)
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
#   STORE/store.json              {"schema_version": 2, "created_by": ...}
#   STORE/rows/part-*.parquet     row groups with ROW_SCHEMA; written atomically (tmp file + rename), append-only
# Readers glob STORE/rows/*.parquet (DuckDB: read_parquet('STORE/rows/*.parquet')). A key may appear in more than
# one part only after a crash between write and compaction: readers keep the last written row per key.
STORE_ROWS_GLOB = "rows/*.parquet"

_GLOB_CHARS = "[*?"


def sql_path(path: object) -> str:
    """``path`` as a DuckDB string literal naming exactly that file or folder: DuckDB expands ``[...]``, ``*`` and
    ``?`` in every path it reads (in a list too), so each is written as a one-character class (``[[]``) and a store
    folder named ``runs[ab]`` never reads ``runsa``'s rows."""
    text = "".join(f"[{c}]" if c in _GLOB_CHARS else c for c in str(path))
    return "'" + text.replace("'", "''") + "'"


def rows_glob_sql(store: object) -> str:
    """The SQL literal of every part of the store folder ``store`` (its own name escaped, see :func:`sql_path`)."""
    from pathlib import Path

    return sql_path(Path(store) / "rows")[:-1] + "/*.parquet'"


def parts_sql(parts: list) -> str:
    """A DuckDB list literal of exactly these part files (glob characters escaped)."""
    return "[" + ", ".join(sql_path(p) for p in parts) + "]"


def select_sql(available: set[str], source: str) -> str:
    """A DuckDB query over ``source`` (a relation with the store's columns) returning every column of ROW_SCHEMA,
    schema-1 rows read as schema 2 (see the module docstring); columns no part has are filled."""
    has = available.__contains__
    legacy = "coalesce(schema_version, 1) < 2" if has("schema_version") else "true"
    outcome = (
        f"CASE WHEN {legacy} AND outcome = 'unscored' THEN 'error' "
        f"WHEN {legacy} AND outcome = 'ok' AND score_reason = 'no_answer' THEN 'no_answer' ELSE outcome END"
    )
    score = f"CASE WHEN ({outcome}) = 'error' THEN CAST('NaN' AS DOUBLE) ELSE score END"
    # isfinite, not isnan: DuckDB 2.0 reports isnan(NaN read from Parquet) as false
    ignored = "coalesce(NOT isfinite(score), true)"
    bounded = f"bool_and({ignored} OR (score >= 0 AND score <= 1)) OVER (PARTITION BY benchmark)"
    derived = {
        "outcome": outcome,
        "score": score,
        "policy": "coalesce(policy, 'unknown')" if has("policy") else "'unknown'",
        "score_mode": "coalesce(score_mode, 'unknown')" if has("score_mode") else "'unknown'",
        "score_scale": ("coalesce(score_scale, " if has("score_scale") else "(")
        + f"CASE WHEN {bounded} THEN 'unit' ELSE 'reward' END)",
    }
    cols = []
    for f in ROW_SCHEMA:
        if f.name in ("policy", "score_mode", "score_scale") or (f.name in derived and has(f.name)):
            expr = derived[f.name]
        else:
            expr = f'"{f.name}"' if has(f.name) else "NULL"
        cols.append(f'CAST({expr} AS {_DUCK[str(f.type)]}) AS "{f.name}"')
    return f"SELECT {', '.join(cols)} FROM {source}"


_DUCK = {"string": "VARCHAR", "int32": "INTEGER", "int64": "BIGINT", "double": "DOUBLE"}


def scored_mask(rows: object) -> np.ndarray:
    """Which of ``rows`` (a pandas DataFrame, a pyarrow table or a dict of columns, with ``outcome`` and ``score``)
    are scored rows, in row order: :data:`SCORED_SQL` evaluated by DuckDB, so that the rule has one spelling."""
    import duckdb
    import numpy as np

    outcome = [o if isinstance(o, str) else None for o in _column(rows, "outcome")]
    score = np.asarray(_column(rows, "score"), dtype=float)  # a null score becomes NaN: not scored either
    if not outcome:
        return np.zeros(0, dtype=bool)
    table = pa.table({"outcome": pa.array(outcome, pa.string()), "score": pa.array(score, pa.float64())})
    con = duckdb.connect()
    try:
        con.register("_rows", table)
        got = con.execute(f"SELECT {SCORED_SQL} AS scored FROM _rows").fetchnumpy()["scored"]
    finally:
        con.close()
    return np.asarray(got, dtype=bool)


def _column(rows: object, name: str) -> list:
    if isinstance(rows, pa.Table):
        return rows.column(name).to_pylist()
    col = rows[name]  # type: ignore[index]
    return col.tolist() if hasattr(col, "tolist") else list(col)
