"""Deterministic row subsets of an SFT dataset (``rsft data subset``), e.g. Math-CoT-2.5k from Math-CoT-20k.

The paper trained one run on "Math-CoT-2.5k" (2,560 rows = 640 steps x 32 / 8 epochs) that it never released;
how it was drawn is not published (paper_spec.md §1.1: "presumably a random subset of Math-CoT-20k", INFERRED).
rsft's rule, ``random``: the ``rows`` records with the smallest sha256(seed, canonical JSON of the record), kept in
source order (the paper trains in file order, so the subset keeps the parent's order). Keying on content, not on
the row number, picks the same rows from any copy of the data, whatever its order. ``first`` takes the leading
rows. Records are copied as they are (every column kept).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from rsft._util.errors import DataError

RULES = ("random", "first")


def record_key(seed: int, record: dict[str, Any]) -> str:
    """The sort key of one record under the ``random`` rule."""
    canon = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{seed}\x1f{canon}".encode()).hexdigest()


def subset_indices(
    records: list[dict[str, Any]], rows: int, *, rule: str = "random", seed: int = 0
) -> list[int]:
    """Indices (ascending) of the rows selected from ``records``.

    Raises:
        DataError: an unknown rule, or more rows asked for than the data has.
    """
    if rule not in RULES:
        raise DataError(f"unknown subset rule '{rule}'", field="rule", fix=" or ".join(RULES))
    if not 1 <= rows <= len(records):
        raise DataError(f"cannot take {rows} rows from {len(records)}", field="rows")
    if rule == "first":
        return list(range(rows))
    order = sorted(range(len(records)), key=lambda i: (record_key(seed, records[i]), i))
    return sorted(order[:rows])


def write_subset(
    source: str | Path, out: str | Path, rows: int, *, rule: str = "random", seed: int = 0,
    revision: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Select rows of ``source`` (file, folder or hub id) and write them to ``out`` (.jsonl or .parquet) with a card
    (``<name>.card.json``: source, rule, seed, selected indices and the output's sha256). Returns the card."""
    from rsft._util.hashing import hash_file
    from rsft.data.io import card_path, read_records

    records, label = read_records(source, revision=revision)
    idx = subset_indices(records, rows, rule=rule, seed=seed)
    p = Path(out)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in ("jsonl", "parquet"):
        raise DataError(f"cannot write '.{fmt}'", file=str(p), fix="use .jsonl or .parquet")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    chosen = [records[i] for i in idx]
    if fmt == "jsonl":
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for r in chosen:
                f.write(json.dumps(r, ensure_ascii=False, sort_keys=True, default=str) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(chosen), tmp)
    os.replace(tmp, p)
    card = {
        "file": p.name,
        "rows": len(idx),
        "sha256": hash_file(p),
        "source": label,
        "source_rows": len(records),
        "revision": revision,
        "generator": {"name": "rsft data subset"},
        "rule": rule,
        "seed": seed,
        "rule_text": __doc__.split("rsft's rule, ")[1].split(" Records")[0].replace("\n", " "),
        "indices": idx,
    }
    card_path(p).write_text(json.dumps(card, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return card
