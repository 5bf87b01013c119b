"""A raw rollout pool with other column names -> an rsft pool Parquet file (``rsft rollouts import``).

The renames come from a mapping file (:mod:`rsft.data.mapping`), so a release's pool needs no code. Columns of
:data:`rsft.rollouts.schema.POOL_SCHEMA` the source lacks are null, except those derived here: ``sample_idx``
(order within a query), ``messages`` from ``prompt`` (one user turn) and back, ``n_tokens`` (from ``token_ids`` or
``logprobs``), ``logprob_sum`` (from ``logprobs``). The result is one Parquet file that ``rsft curate`` reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rsft._util.errors import DataError
from rsft.data.mapping import load_mapping, require_columns
from rsft.rollouts.schema import POOL_SCHEMA

_JSON_COLUMNS = ("messages", "query_meta")


def _records(source: Path) -> list[dict[str, Any]]:
    from rsft.bench._loaders import read_records

    files = sorted(source.rglob("*.parquet")) if source.is_dir() else [source]
    if not files:
        raise DataError("no Parquet files in the raw pool folder", file=str(source))
    return [rec for f in files for _, rec in read_records(f)]


def _derive(rec: dict[str, Any], idx: dict[str, int]) -> dict[str, Any]:
    qid = str(rec.get("query_id") if rec.get("query_id") is not None else rec.get("prompt"))
    rec["query_id"] = qid
    if rec.get("sample_idx") is None:
        rec["sample_idx"] = idx.get(qid, 0)
    idx[qid] = int(rec["sample_idx"]) + 1
    for col in _JSON_COLUMNS:
        if rec.get(col) is not None and not isinstance(rec[col], str):
            rec[col] = json.dumps(rec[col], ensure_ascii=False)
    if rec.get("messages") is None and rec.get("prompt") is not None:
        rec["messages"] = json.dumps([{"role": "user", "content": rec["prompt"]}], ensure_ascii=False)
    if rec.get("prompt") is None and rec.get("messages") is not None:
        turns = json.loads(rec["messages"])
        rec["prompt"] = next((t["content"] for t in reversed(turns) if t.get("role") == "user"), None)
    lps = rec.get("logprobs")
    if rec.get("n_tokens") is None:
        seq = rec.get("token_ids") if rec.get("token_ids") is not None else lps
        rec["n_tokens"] = len(seq) if seq is not None else None
    if rec.get("logprob_sum") is None and lps is not None:
        rec["logprob_sum"] = float(sum(lps))
    if rec.get("target") is not None:
        rec["target"] = str(rec["target"])
    return rec


def import_pool(source: str | Path, mapping: str | Path | dict[str, Any], out: str | Path) -> dict[str, Any]:
    """Rename a raw pool's columns (and fill derived ones) into an rsft pool Parquet file; returns a summary.

    Raises:
        DataError: unreadable source, or a row without ``prompt``/``messages`` or ``response`` after mapping (the
            file and row named).
        ConfigError: an invalid mapping file.
    """
    src, m = Path(source), load_mapping(mapping)
    rows, idx = [], {}
    for i, raw in enumerate(_records(src)):
        rec = m.apply(raw)
        if i == 0:
            require_columns(list(rec), ["response"], str(src), m)
        if rec.get("prompt") is None and rec.get("messages") is None:
            raise DataError("no prompt or messages after the mapping", file=str(src), row=i, field="prompt",
                            fix="map the query column to prompt (text) or messages (chat list)")  # fmt: skip
        rows.append(_derive(rec, idx))
    known = {f.name for f in POOL_SCHEMA}
    dropped = sorted({k for r in rows for k in r} - known)
    try:
        table = pa.Table.from_pylist([{k: r.get(k) for k in known} for r in rows], schema=POOL_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise DataError(
            f"a mapped column has the wrong type for the pool schema: {e}", file=str(src)
        ) from None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    pq.write_table(table, tmp)
    os.replace(tmp, out)
    return {"rows": len(rows), "queries": len(idx), "out": str(out), "dropped_columns": dropped}
