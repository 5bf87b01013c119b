"""The per-sample store: append-only Parquet parts with exactly :data:`~rsft.eval.schema.ROW_SCHEMA`.

Layout (see :mod:`rsft.eval.schema`): ``STORE/store.json`` and ``STORE/rows/part-*.parquet``. Every append writes a
new part to a temporary name and renames it into place, so a ``kill -9`` leaves either the whole part or nothing.
Part names sort in write order; when a key appears in several parts (a rescore, or a crash before compaction) the
row of the *last* part wins. :meth:`Store.compact` rewrites everything into one part.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rsft._util.errors import DataError
from rsft.eval.schema import ROW_SCHEMA, SCHEMA_VERSION, STORE_ROWS_GLOB

_SEQ = itertools.count()


def _clean_text(value: Any) -> Any:
    """Strings must be valid UTF-8 in Parquet: lone surrogates (undecodable bytes) become U+FFFD."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            try:  # bytes smuggled through "surrogateescape": decode them for real, invalid ones -> U+FFFD
                return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            except UnicodeEncodeError:
                return value.encode("utf-8", "replace").decode("utf-8")
    return value


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """A table with exactly ROW_SCHEMA; missing columns are null, unknown keys are refused."""
    names = set(ROW_SCHEMA.names)
    for r in rows:
        extra = set(r) - names
        if extra:
            raise DataError(f"row has columns not in ROW_SCHEMA: {sorted(extra)}", field="rows")
    cols = {n: [_clean_text(r.get(n)) for r in rows] for n in ROW_SCHEMA.names}
    return pa.Table.from_pydict(cols, schema=ROW_SCHEMA)


def dedup_sql(store_path: str | Path) -> str:
    """A DuckDB query returning the store's rows, one per key (the last written wins)."""
    glob = str(Path(store_path) / STORE_ROWS_GLOB).replace("'", "''")
    return (
        f"SELECT * EXCLUDE (filename) FROM read_parquet('{glob}', filename=true, union_by_name=true) "
        "QUALIFY row_number() OVER (PARTITION BY key ORDER BY filename DESC) = 1"
    )


class Store:
    """A per-sample result store in a folder (created when absent).

    Args:
        path: the store folder.

    Raises:
        DataError: the folder holds a store of another schema version.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows_dir = self.path / "rows"
        self.rows_dir.mkdir(parents=True, exist_ok=True)
        meta = self.path / "store.json"
        if meta.is_file():
            version = json.loads(meta.read_text()).get("schema_version")
            if version != SCHEMA_VERSION:
                raise DataError(
                    f"store schema version {version} is not the version this rsft reads ({SCHEMA_VERSION})",
                    file=str(meta),
                    fix="use another --store folder, or an rsft version matching this store",
                )
        else:
            import rsft

            tmp = meta.with_suffix(".json.tmp")
            tmp.write_text(
                json.dumps({"schema_version": SCHEMA_VERSION, "created_by": f"rsft {rsft.__version__}"})
            )
            os.replace(tmp, meta)
        self._keys: set[str] | None = None

    def parts(self) -> list[Path]:
        return sorted(self.rows_dir.glob("*.parquet"))

    def keys(self) -> set[str]:
        """Every key present (read once from the parts' key column, then kept up to date by :meth:`append`)."""
        if self._keys is None:
            keys: set[str] = set()
            for part in self.parts():
                keys.update(pq.read_table(part, columns=["key"]).column("key").to_pylist())
            self._keys = keys
        return set(self._keys)

    def append(self, rows: list[dict[str, Any]]) -> Path | None:
        """Write ``rows`` as one new part, atomically. Returns the part's path (None for no rows)."""
        if not rows:
            return None
        table = rows_to_table(rows)
        name = f"part-{time.time_ns():020d}-{os.getpid()}-{next(_SEQ):06d}.parquet"
        final = self.rows_dir / name
        tmp = self.rows_dir / (name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, final)
        if self._keys is not None:
            self._keys.update(r["key"] for r in rows)
        return final

    def connect(self) -> Any:
        """A DuckDB connection with a view ``rows`` (deduplicated by key)."""
        import duckdb

        con = duckdb.connect()
        if self.parts():
            con.execute(f"CREATE VIEW rows AS {dedup_sql(self.path)}")
        else:
            con.register("_empty", ROW_SCHEMA.empty_table())
            con.execute("CREATE VIEW rows AS SELECT * FROM _empty")
        return con

    def table(self, where: str | None = None) -> pa.Table:
        """The deduplicated rows as a pyarrow table, optionally filtered by a SQL ``where`` clause."""
        con = self.connect()
        try:
            sql = "SELECT * FROM rows" + (f" WHERE {where}" if where else "") + " ORDER BY key"
            rel = con.sql(sql)
            # duckdb >= 1.4 names it to_arrow_table; older releases arrow()
            fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
            return fetch().cast(ROW_SCHEMA)
        finally:
            con.close()

    def frame(self, where: str | None = None) -> Any:
        """The deduplicated rows as a pandas DataFrame (see :meth:`table`)."""
        return self.table(where).to_pandas()

    def compact(self) -> Path | None:
        """Rewrite all parts into one (deduplicated). Safe to interrupt: the new part is written before the old
        ones are removed, and it wins on every key it holds."""
        old = self.parts()
        if len(old) <= 1:
            return old[0] if old else None
        table = self.table().cast(ROW_SCHEMA)
        name = f"part-{time.time_ns():020d}-{os.getpid()}-{next(_SEQ):06d}.parquet"
        tmp = self.rows_dir / (name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, self.rows_dir / name)
        for p in old:
            p.unlink()
        return self.rows_dir / name
