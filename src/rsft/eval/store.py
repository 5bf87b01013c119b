"""The per-sample store: append-only Parquet parts with exactly :data:`~rsft.eval.schema.ROW_SCHEMA`.

Layout (see :mod:`rsft.eval.schema`): ``STORE/store.json`` and ``STORE/rows/part-*.parquet``. Every append writes a
new part to a temporary name and renames it into place, so a ``kill -9`` leaves either the whole part or nothing.
Part names sort in write order; when a (run, key) appears in several parts (a rescore, or a crash before compaction)
the row of the *last* part wins. :meth:`Store.compact` rewrites everything into one part.

Two ways in: ``Store(path)`` opens a store to write it (the folder is created when absent, and parts that cannot be
read are moved to ``STORE/quarantine/`` once, here: :func:`quarantine_damaged`); :meth:`Store.open` opens an existing
store to read it and creates, writes and moves nothing (a damaged part is skipped and named in
:attr:`Store.damaged`; ``rsft eval check`` moves it aside). Every reader of rows (``rsft eval summary``, the protocol
metrics, the analysis' frames, the study) reads through :meth:`Store.connect`'s ``rows`` view.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rsft._util.errors import DataError, RsftError
from rsft.eval.schema import (
    READABLE_VERSIONS,
    ROW_SCHEMA,
    SCHEMA_VERSION,
    parts_sql,
    rows_glob_sql,
    select_sql,
)

_SEQ = itertools.count()

QUARANTINE = "quarantine"
# Columns a part must have to be read at all (the resume key and where a row belongs).
REQUIRED_COLUMNS = ("key", "run", "benchmark", "item_id", "sample_idx", "score")


def part_problem(part: Path) -> str | None:
    """Why a part cannot be read as store rows (None when it can): unreadable footer, truncated file, or a
    schema without the store's key columns."""
    try:
        meta = pq.read_metadata(part)
        schema = meta.schema.to_arrow_schema()
    except Exception as e:  # pyarrow raises ArrowInvalid / OSError for truncated or garbage files
        return f"not a readable Parquet file ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
    if missing:
        return f"not store rows: lacks columns {missing}"
    try:  # the footer can be intact while a column chunk is cut or garbled
        pq.read_table(part, columns=["key", "run"])
    except Exception as e:
        return f"a damaged column chunk ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
    return None


def quarantine_damaged(store_path: str | Path) -> list[dict[str, str]]:
    """Move every part that cannot be read to ``STORE/quarantine/`` (with a ``.why`` note beside it).

    The rows of a quarantined part are missing from the store, so the next ``rsft eval`` regenerates them; nothing
    is deleted. Returns [{"part", "moved_to", "why"}] for the parts moved now.
    """
    rows_dir = Path(store_path) / "rows"
    moved: list[dict[str, str]] = []
    if not rows_dir.is_dir():
        return moved
    for part in sorted(rows_dir.glob("*.parquet")):
        why = part_problem(part)
        if why is None:
            continue
        qdir = Path(store_path) / QUARANTINE
        qdir.mkdir(exist_ok=True)
        dest = qdir / part.name
        try:
            os.replace(part, dest)
        except FileNotFoundError:  # another process moved it first
            continue
        (qdir / (part.name + ".why")).write_text(why + "\n")
        moved.append({"part": str(part), "moved_to": str(dest), "why": why})
    return moved


def read_store_meta(path: Path) -> dict[str, Any]:
    """``store.json``, or a DataError naming the file when it is not a JSON object."""
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(
            f"store.json is damaged ({e})",
            file=str(path),
            fix=f'rewrite it as {{"schema_version": {SCHEMA_VERSION}}} if the rows/ folder is an rsft store',
        ) from None
    if not isinstance(meta, dict):
        raise DataError(
            "store.json is not a JSON object",
            file=str(path),
            fix=f'rewrite it as {{"schema_version": {SCHEMA_VERSION}}} if the rows/ folder is an rsft store',
        )
    return meta


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
    cols = {}
    for f in ROW_SCHEMA:
        values = [_clean_text(r.get(f.name)) for r in rows]
        if not pa.types.is_floating(f.type):  # rows from pandas carry NaN for missing strings and integers
            values = [None if isinstance(v, float) and v != v else v for v in values]
        cols[f.name] = values
    return pa.Table.from_pydict(cols, schema=ROW_SCHEMA)


def dedup_sql(store_path: str | Path, parts: list[Path] | None = None, *, dedupe: bool = True) -> str:
    """A DuckDB query returning the store's rows, one per (run, key): the last written wins.

    A key identifies a computation (weights, prompt, sampling, item, sample); the run says whose trajectory the
    row belongs to. Two runs sharing a checkpoint (the same base model at step 0) each get a row with the same key,
    generated once and copied for the second run. With ``parts``, exactly those files are read (else every part);
    the folder's name is never a glob (:func:`~rsft.eval.schema.sql_path`). ``dedupe=False`` skips the window (for
    parts known to hold no (run, key) twice: the common case, and much cheaper on millions of rows).
    """
    source = parts_sql(parts) if parts is not None else rows_glob_sql(store_path)
    if not dedupe:
        return f"SELECT * FROM read_parquet({source}, union_by_name=true)"
    return (
        "SELECT * EXCLUDE (filename, file_row_number) FROM read_parquet("
        f"{source}, filename=true, file_row_number=true, union_by_name=true) "
        "QUALIFY row_number() OVER (PARTITION BY run, key ORDER BY filename DESC, file_row_number DESC) = 1"
    )


def _path_problem(path: Path) -> None:
    for p in (path, path / "rows"):
        if p.exists() and not p.is_dir():
            raise DataError(
                "the store path is a file, not a folder", file=str(p), fix="pass a folder for --store"
            )


def _readable_version(meta: Path) -> int | None:
    """The schema version of ``store.json`` (None: no such file), refused when this rsft cannot read it."""
    if not meta.is_file():
        return None
    version = read_store_meta(meta).get("schema_version")
    if version not in READABLE_VERSIONS:
        raise DataError(
            f"store schema version {version} is not a version this rsft reads {READABLE_VERSIONS}",
            file=str(meta),
            field="schema_version",
            fix="use another --store folder, or an rsft version matching this store",
        )
    return version


class Store:
    """A per-sample result store in a folder, opened to write it (created when absent).

    Args:
        path: the store folder.

    Opening a store to write it moves parts that cannot be read to ``STORE/quarantine/`` (listed in
    :attr:`quarantined`); to read a store without changing anything, use :meth:`open`. A store of an older readable
    schema version (:data:`~rsft.eval.schema.READABLE_VERSIONS`) is read with its rows mapped to the current schema
    (:func:`~rsft.eval.schema.select_sql`); its ``store.json`` is raised to the current version when the first new
    part is written; old parts stay as they are.

    Raises:
        DataError: the folder holds a store of a schema version this rsft cannot read.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows_dir = self.path / "rows"
        self.writable = True
        _path_problem(self.path)
        try:
            self.rows_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(
                f"cannot create the store folder ({e.strerror})", file=str(self.rows_dir),
                fix="pass a writable folder for --store",
            ) from None
        meta = self.path / "store.json"
        self._version = _readable_version(meta)
        if self._version is None:
            self._write_meta()
        self._keys: dict[str, set[str | None]] | None = None
        self._indexed: set[str] = set()  # part names already in the key index
        self.quarantined: list[dict[str, str]] = quarantine_damaged(self.path)
        self.damaged: list[dict[str, str]] = []

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """An existing store, opened to read it: nothing is created, written or moved.

        Every part is checked once here (:func:`part_problem`); a damaged one is left where it is, skipped by every
        read and named in :attr:`damaged` (``[{"part", "why"}]``) and :meth:`notes`; ``rsft eval check STORE`` (or
        the next ``rsft eval`` into the store) moves it to ``STORE/quarantine/``. Writing through a store opened
        this way raises.

        Raises:
            DataError: no folder at ``path`` (named), a file there, or an unreadable schema version.
        """
        self = cls.__new__(cls)
        self.path = Path(path)
        self.rows_dir = self.path / "rows"
        self.writable = False
        _path_problem(self.path)
        if not self.path.is_dir():
            raise DataError(
                "store folder not found", file=str(self.path), fix="pass the folder written by `rsft eval`"
            )
        self._version = _readable_version(self.path / "store.json")
        self._keys, self._indexed = None, set()
        self.quarantined = []
        self.damaged = []
        for part in sorted(self.rows_dir.glob("*.parquet")):
            why = part_problem(part)
            if why is not None and part.exists():  # a part removed meanwhile (a compaction) is not damage
                self.damaged.append({"part": str(part), "why": why})
        return self

    def _writing(self) -> None:
        if not self.writable:
            raise RsftError(
                "this store was opened to read it (Store.open): nothing is written through it",
                file=str(self.path),
                fix="open it with Store(path) to write",
            )

    def notes(self) -> list[str]:
        """What a reader of this store should be told: damaged parts skipped (not moved), and parts moved to
        ``STORE/quarantine/`` earlier, whose rows are missing unless ``rsft eval`` has regenerated them."""
        out = []
        if self.damaged:
            names = ", ".join(d["part"] for d in self.damaged[:5]) + (" ..." if len(self.damaged) > 5 else "")
            out.append(
                f"{len(self.damaged)} damaged store part(s) were skipped (rows only they hold are left out): "
                f"{names}; `rsft eval check {self.path}` moves them to {self.path / QUARANTINE} and the next "
                "`rsft eval` regenerates their rows"
            )
        parked = sorted((self.path / QUARANTINE).glob("*.parquet"))
        if parked:
            out.append(
                f"{len(parked)} damaged store part(s) were moved to {self.path / QUARANTINE} and skipped: rows only "
                "they held are missing unless `rsft eval` has regenerated them since (delete the folder once it "
                "has): " + ", ".join(p.name for p in parked[:5])
            )
        return out

    def _write_meta(self) -> None:
        """store.json at the current schema version (a readable older store is raised on its first append).

        Several processes may create one fresh store at once: each writes its own temporary file (a unique name)
        and links it into place with an exclusive create, so the first one wins and the others keep its file
        (raising an older store's version replaces the file atomically instead).
        """
        from rsft._version import __version__

        meta = self.path / "store.json"
        tmp = self.path / f".store.json.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
        tmp.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "created_by": f"rsft {__version__}"}))
        try:
            if self._version is None:
                try:
                    os.link(tmp, meta)
                except FileExistsError:  # another process created the store first: its store.json stands
                    version = read_store_meta(meta).get("schema_version")
                    if version != SCHEMA_VERSION:
                        raise DataError(
                            f"another process created this store at schema version {version}",
                            file=str(meta),
                            fix="use another --store folder, or an rsft version matching this store",
                        ) from None
            else:
                os.replace(tmp, meta)
        finally:
            tmp.unlink(missing_ok=True)
        self._version = SCHEMA_VERSION

    def refresh(self) -> None:
        """See rows other processes appended since the key index was read.

        Parts are immutable once renamed into place, so only parts not indexed yet are read; when a part the index
        holds has gone (another process compacted the store or dropped a run's rows), the index is rebuilt.
        """
        if self._keys is None:
            return
        names = {p.name for p in self.parts()}
        if not self._indexed <= names:
            self._keys, self._indexed = None, set()
            return
        for name in sorted(names - self._indexed):
            self._read_part_keys(self.rows_dir / name, self._keys)

    def parts(self) -> list[Path]:
        """The store's parts in write order, less the damaged ones a reader skips (:attr:`damaged`)."""
        skip = {d["part"] for d in self.damaged}
        return [p for p in sorted(self.rows_dir.glob("*.parquet")) if str(p) not in skip]

    def _read_part_keys(self, part: Path, index: dict[str, set[str | None]]) -> None:
        try:
            t = pq.read_table(part, columns=["key", "run"])
        except FileNotFoundError:  # removed by another process's compaction since it was listed
            return
        for k, r in zip(t.column("key").to_pylist(), t.column("run").to_pylist(), strict=True):
            index.setdefault(k, set()).add(r)
        self._indexed.add(part.name)

    def _index(self) -> dict[str, set[str | None]]:
        """key -> runs holding it (read once from the parts' key and run columns, then kept up to date)."""
        if self._keys is None:
            index: dict[str, set[str | None]] = {}
            self._indexed = set()
            for part in self.parts():
                self._read_part_keys(part, index)
            self._keys = index
        return self._keys

    def keys(self, run: str | None = None) -> set[str]:
        """Every key present; with ``run``, only the keys that run has a row for."""
        index = self._index()
        if run is None:
            return set(index)
        return {k for k, runs in index.items() if run in runs}

    def rows_for(self, keys: set[str] | list[str]) -> list[dict[str, Any]]:
        """The latest stored row of each of ``keys`` (whatever its run), as dicts."""
        if not keys or not self.parts():
            return []
        con = self.connect()
        try:
            con.register("_want", pa.table({"want": sorted(keys)}))
            rel = con.sql(
                "SELECT r.* FROM rows r JOIN _want w ON r.key = w.want "
                "QUALIFY row_number() OVER (PARTITION BY r.key ORDER BY r.created_at DESC) = 1"
            )
            fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
            return fetch().cast(ROW_SCHEMA).to_pylist()
        finally:
            con.close()

    def append(self, rows: list[dict[str, Any]]) -> Path | None:
        """Write ``rows`` as one new part, atomically. Returns the part's path (None for no rows)."""
        if not rows:
            return None
        self._writing()
        table = rows_to_table(rows)
        if self._version != SCHEMA_VERSION:
            self._write_meta()
        name = f"part-{time.time_ns():020d}-{os.getpid()}-{next(_SEQ):06d}.parquet"
        final = self.rows_dir / name
        tmp = self.rows_dir / (name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, final)
        if self._keys is not None:
            for r in rows:
                self._keys.setdefault(r["key"], set()).add(r.get("run"))
            self._indexed.add(name)
        return final

    def connect(self, parts: list[Path] | None = None, *, threads: int | None = None) -> Any:
        """A DuckDB connection with a view ``rows`` over every readable part, or exactly ``parts``: one row per
        (run, key), the last written winning, every column of ROW_SCHEMA with older schemas' rows mapped
        (:func:`~rsft.eval.schema.select_sql`). The only reader of the store's rows. :attr:`stored_columns` is set to
        the columns the parts hold."""
        import duckdb

        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        if threads:
            con.execute(f"SET threads={int(threads)}")
        parts = self.parts() if parts is None else parts
        if parts:
            source = parts_sql(parts)
            cols = {
                r[0]
                for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({source}, union_by_name=true)").fetchall()
            }
            twice = con.execute(  # the window only when some (run, key) was written twice
                f"SELECT count(*) > count(DISTINCT (run, key)) FROM read_parquet({source}, union_by_name=true)"
            ).fetchone()[0]
            deduped = dedup_sql(self.path, parts, dedupe=twice)
            con.execute(f"CREATE VIEW rows AS {select_sql(cols, f'({deduped})')}")
        else:
            cols = set()
            con.register("_empty", ROW_SCHEMA.empty_table())
            con.execute("CREATE VIEW rows AS SELECT * FROM _empty")
        self.stored_columns: set[str] = cols
        return con

    def table(self, where: str | None = None, parts: list[Path] | None = None) -> pa.Table:
        """The deduplicated rows as a pyarrow table, optionally filtered by a SQL ``where`` clause (of every part,
        or of exactly ``parts``)."""
        con = self.connect(parts)
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
        self._writing()
        old = self.parts()
        if len(old) <= 1:
            return old[0] if old else None
        return self._replace_parts(self.table(parts=old), old)

    def drop_replaced(self, run: str, current: set[str]) -> int:
        """Remove ``run``'s rows whose weights hash is not in ``current`` (the weights of its checkpoints now: a
        retrained run's old checkpoints are gone); other runs' rows stay. Safe to interrupt, as :meth:`compact`,
        and safe beside other processes appending: only the parts listed before reading are rewritten and removed,
        so a part another process renames into place meanwhile stays (``tests/eval/test_store_concurrency.py``).

        Returns:
            The number of rows removed.
        """
        self._writing()
        old = self.parts()
        if not old:
            return 0
        con = self.connect(old)
        try:
            stale = con.execute(
                "SELECT count(*) FROM rows WHERE run = ? AND NOT list_contains(?, weights_hash)",
                [run, sorted(current)],
            ).fetchone()[0]
        finally:
            con.close()
        if not stale:
            return 0
        quoted = ",".join("'" + h.replace("'", "''") + "'" for h in sorted(current)) or "''"
        run_sql = run.replace("'", "''")
        where = f"NOT (run = '{run_sql}' AND weights_hash NOT IN ({quoted}))"
        self._replace_parts(self.table(where=where, parts=old), old)
        self._keys, self._indexed = None, set()  # rows left: the key index is rebuilt on next use
        return stale

    def _replace_parts(self, table: pa.Table, old: list[Path]) -> Path:
        """Write ``table`` (the rows of exactly ``old``) as one new part, then remove ``old`` (the new part is
        complete first). Parts not in ``old`` (appended since they were listed) are never touched.

        The new part's name sorts right after the newest of ``old`` and before any part named later ("~" sorts
        after ".parquet" and before the next digit): its rows win over the rows they replace, and a row written
        meanwhile by another process still wins over them.
        """
        base = max(old).name.removesuffix(".parquet").split("~", 1)[0]
        name = f"{base}~{time.time_ns():020d}-{os.getpid()}-{next(_SEQ):06d}.parquet"
        tmp = self.rows_dir / (name + ".tmp")
        pq.write_table(table.cast(ROW_SCHEMA), tmp)
        os.replace(tmp, self.rows_dir / name)
        for p in old:
            p.unlink(missing_ok=True)  # another process's drop may have removed it first
        return self.rows_dir / name
