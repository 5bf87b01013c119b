"""Streaming, sharded, resumable pool storage.

:class:`ShardWriter` appends tables of *complete queries* (all samples of each query) to a shard folder. Rows are
buffered into row groups of ``row_group_rows`` and streamed through one ``pyarrow.parquet.ParquetWriter`` into a
temporary part file; :meth:`ShardWriter.commit` closes it, fsyncs and renames it to ``part-NNNNNN.parquet``. A part
is therefore all or nothing, and a query is never split across a committed and an uncommitted part: after a crash
(even SIGKILL) the committed parts hold every finished query exactly once, and :meth:`ShardWriter.done_ids` tells
the driver which queries to skip. Memory is bounded by one row group plus the caller's batch.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rsft._util.errors import DataError, RsftError
from rsft.rollouts.schema import PARTS_GLOB, POOL_SCHEMA, POOL_SCHEMA_VERSION, PROGRESS, SHARDS_DIR

_VERSION_KEY = b"rsft.pool_schema_version"
_SOURCES_KEY = b"rsft.compacted_from"  # a compacted part lists the parts it replaces


def superseded(files: list[Path]) -> set[Path]:
    """Parts replaced by a compacted part in the same folder (left behind only by a crash during compaction)."""
    out: set[Path] = set()
    for f in files:
        meta = open_parquet(f).schema_arrow.metadata or {}
        if _SOURCES_KEY in meta:
            out.update(f.with_name(name) for name in json.loads(meta[_SOURCES_KEY]))
    return out


def shard_name(index: int, count: int) -> str:
    return f"{index:05d}-of-{count:05d}"


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to a tmp file and rename it over ``path`` (readers never see half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ShardWriter:
    """Writer for one shard folder of a pool (see module docstring).

    Args:
        shard_dir: the shard folder (created if missing).
        schema: the row schema (default :data:`POOL_SCHEMA`).
        row_group_rows: rows per Parquet row group (at most).
        row_group_bytes: a row group is also cut once the buffered rows hold about this many bytes, so long-CoT
            rows (thousands of tokens each) keep row groups — the unit readers decompress — small.
        part_rows: a part is committed automatically once it holds at least this many rows.
        compression: Parquet codec.
    """

    def __init__(
        self,
        shard_dir: str | Path,
        *,
        schema: pa.Schema = POOL_SCHEMA,
        row_group_rows: int = 4096,
        row_group_bytes: int = 128 << 20,
        part_rows: int = 262_144,
        compression: str = "zstd",
    ) -> None:
        self.dir = Path(shard_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.schema = schema.with_metadata({_VERSION_KEY: str(POOL_SCHEMA_VERSION).encode()})
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self._buffered_bytes = 0
        self.part_rows = part_rows
        self.compression = compression
        for stale in self.dir.glob("*.tmp"):  # a part that was being written when the process died
            stale.unlink()
        for old in superseded(
            sorted(self.dir.glob("part-*.parquet"))
        ):  # a compaction that died before cleanup
            old.unlink(missing_ok=True)
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self._part_rows_written = 0
        self._next = 1 + max((int(p.stem.split("-")[1]) for p in self.parts()), default=0)
        self.rows_committed = sum(pq.ParquetFile(p).metadata.num_rows for p in self.parts())

    def parts(self) -> list[Path]:
        """Committed part files, in write order."""
        files = sorted(self.dir.glob("part-*.parquet"))
        gone = superseded(files)
        return [f for f in files if f not in gone]

    def done_ids(self, column: str = "query_id") -> set[str]:
        """Query ids present in committed parts (each complete, by construction)."""
        done: set[str] = set()
        for p in self.parts():
            col = pq.read_table(p, columns=[column]).column(column)
            done.update(col.to_pylist())
        return done

    def write(self, table: pa.Table) -> None:
        """Append rows of complete queries; commits a part when it reaches ``part_rows``."""
        if table.num_rows == 0:
            return
        if table.schema.names != self.schema.names:
            table = table.select(self.schema.names)
        if not table.schema.equals(self.schema, check_metadata=False):
            table = table.cast(self.schema)
        self._buffer.append(table)
        self._buffered += table.num_rows
        self._buffered_bytes += table.nbytes
        if self._buffered_bytes >= self.row_group_bytes:
            self._flush_row_groups(final=True)
        elif self._buffered >= self.row_group_rows:
            self._flush_row_groups(final=False)
        if self._part_rows_written + self._buffered >= self.part_rows:
            self.commit()

    def _flush_row_groups(self, *, final: bool) -> None:
        if not self._buffered:
            return
        data = pa.concat_tables(self._buffer)
        cut = data.num_rows if final else (data.num_rows // self.row_group_rows) * self.row_group_rows
        if cut == 0:
            return
        if self._writer is None:
            self._tmp = self.dir / f"part-{self._next:06d}.parquet.tmp"
            self._writer = pq.ParquetWriter(self._tmp, self.schema, compression=self.compression)
        self._writer.write_table(data.slice(0, cut), row_group_size=self.row_group_rows)
        self._part_rows_written += cut
        rest = data.slice(cut)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered = rest.num_rows
        self._buffered_bytes = rest.nbytes if rest.num_rows else 0

    def commit(self) -> Path | None:
        """Make everything written so far durable as one part; returns its path (None when nothing was pending)."""
        self._flush_row_groups(final=True)
        if self._writer is None:
            return None
        self._writer.close()
        assert self._tmp is not None
        _fsync(self._tmp)
        final = self.dir / f"part-{self._next:06d}.parquet"
        os.replace(self._tmp, final)
        self.rows_committed += self._part_rows_written
        self._writer, self._tmp, self._part_rows_written = None, None, 0
        self._next += 1
        return final

    def compact(self) -> list[Path]:
        """Merge runs of small committed parts into parts of about ``part_rows`` rows (row groups re-cut).

        Crash-safe without a lock: the merged part is renamed into place carrying the names of the parts it
        replaces, which are deleted afterwards; a reader or writer that finds both ignores (and the writer deletes)
        the replaced ones, so no row is ever seen twice.
        """
        self.commit()
        groups, cur, rows = [], [], 0
        for p in self.parts():
            n = pq.ParquetFile(p).metadata.num_rows
            if cur and rows + n > self.part_rows:
                groups.append(cur)
                cur, rows = [], 0
            cur.append(p)
            rows += n
        groups.append(cur)
        for group in (g for g in groups if len(g) > 1):
            meta = {
                _VERSION_KEY: str(POOL_SCHEMA_VERSION).encode(),
                _SOURCES_KEY: json.dumps([p.name for p in group]).encode(),
            }
            tmp = self.dir / f"part-{self._next:06d}.parquet.tmp"
            with pq.ParquetWriter(tmp, self.schema.with_metadata(meta), compression=self.compression) as w:
                pending: list[pa.RecordBatch] = []
                for p in group:
                    for b in pq.ParquetFile(p).iter_batches(batch_size=self.row_group_rows):
                        pending.append(b)
                        if sum(x.num_rows for x in pending) >= self.row_group_rows:
                            w.write_table(pa.Table.from_batches(pending), row_group_size=self.row_group_rows)
                            pending = []
                if pending:
                    w.write_table(pa.Table.from_batches(pending), row_group_size=self.row_group_rows)
            _fsync(tmp)
            os.replace(tmp, self.dir / f"part-{self._next:06d}.parquet")
            self._next += 1
            for p in group:
                p.unlink()
        return self.parts()

    def write_progress(self, **fields: Any) -> None:
        """Rewrite the shard's small progress manifest (parts, rows, caller's fields)."""
        parts = self.parts()
        record = {
            "parts": [p.name for p in parts],
            "rows": self.rows_committed,
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **fields,
        }
        write_json_atomic(self.dir / PROGRESS, record)


@contextlib.contextmanager
def shard_lock(shard_dir: Path) -> Iterator[None]:
    """Hold ``shard_dir/.lock`` while writing: two runs on one shard would each skip nothing and write twice.

    A lock left by a dead process on this host is taken over; one from another host is refused (its process
    cannot be checked from here).

    Raises:
        RsftError: another live run (or a run on another host) holds the shard.
    """
    shard_dir.mkdir(parents=True, exist_ok=True)
    lock = shard_dir / ".lock"
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text())
            except (OSError, ValueError):
                holder = {}
            if holder.get("host") == me["host"] and not _alive(int(holder.get("pid", -1))):
                lock.unlink(missing_ok=True)
                continue
            raise RsftError(
                f"shard {shard_dir.name} is being written by another run ({holder.get('host')}, pid {holder.get('pid')})",
                file=str(lock),
                fix="wait for it, or delete the lock file if that run is dead",
            ) from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_parquet(f: str | Path) -> pq.ParquetFile:
    """``pq.ParquetFile(f)``, with a damaged or non-Parquet file as one :class:`DataError` naming it.

    Raises:
        DataError: ``f`` is not a readable Parquet file.
    """
    try:
        return pq.ParquetFile(f)
    except (pa.ArrowException, OSError) as e:
        raise DataError(
            f"not a readable Parquet file ({str(e).splitlines()[0]})",
            file=str(f),
            fix="pass a pool written by `rsft rollouts` (or `rsft rollouts import`), or re-create the file",
        ) from None


def pool_files(path: str | Path) -> list[Path]:
    """The Parquet files of a pool: a pool folder (its committed parts) or a single Parquet file.

    Raises:
        DataError: nothing readable at ``path``.
    """
    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(p.glob(PARTS_GLOB))
        gone = superseded(files)
        files = [f for f in files if f not in gone]
        if not files and (p / SHARDS_DIR).is_dir():
            raise DataError(
                "the pool has no committed parts yet", file=str(p), fix="run `rsft rollouts` first"
            )
        if not files:
            files = sorted(p.glob("*.parquet"))
        if files:
            return files
    raise DataError(
        "no rollout pool here",
        file=str(p),
        fix="pass a pool folder written by `rsft rollouts` or a Parquet file in the pool format",
    )


def _check_file(f: Path, required: list[str]) -> pq.ParquetFile:
    pf = open_parquet(f)
    meta = pf.schema_arrow.metadata or {}
    version = meta.get(_VERSION_KEY)
    if version is not None and int(version) > POOL_SCHEMA_VERSION:
        raise DataError(
            f"pool schema version {int(version)} is newer than this rsft understands ({POOL_SCHEMA_VERSION})",
            file=str(f),
            fix="upgrade rsft",
        )
    missing = [c for c in required if c not in pf.schema_arrow.names]
    if missing:
        raise DataError(
            f"missing pool column(s): {', '.join(missing)}",
            file=str(f),
            field=missing[0],
            fix="pass a pool written by `rsft rollouts` (release format columns)",
        )
    return pf


def iter_pool(
    path: str | Path, columns: list[str] | None = None, *, batch_rows: int = 2048
) -> Iterator[pa.RecordBatch]:
    """Stream a pool as record batches (bounded memory: one batch of the requested columns at a time).

    Args:
        path: pool folder or Parquet file.
        columns: columns to read (default: all); each must exist.
        batch_rows: rows per yielded batch.

    Raises:
        DataError: not a pool, a newer schema version, or a missing column.
    """
    for f in pool_files(path):
        pf = _check_file(f, list(columns or ["query_id", "sample_idx"]))
        yield from pf.iter_batches(batch_size=batch_rows, columns=columns)


def pool_num_rows(path: str | Path) -> int:
    return sum(open_parquet(f).metadata.num_rows for f in pool_files(path))
