"""Where benchmark files come from, and reading them row by row with errors that name file and row.

A benchmark's data is found, in order:

1. option ``path`` (a local file);
2. option ``hub_id`` (with ``revision``, pinned by default) through ``datasets.load_dataset``;
3. ``$RSFT_DATA_DIR/<subdir>/<file>``;
4. ``$RSFT_CACHE/benchmarks/<subdir>/<file>`` (default ``~/.cache/rsft``): what ``rsft data fetch`` downloaded
   and verified (:mod:`rsft.bench.sources`);
5. ``../shared/benchmarks/<subdir>/<file>`` relative to the current directory (the project's offline copies).

Offline hub access raises :class:`OfflineError` naming the id; a missing file raises :class:`DataError` listing the
places looked at.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rsft._util.errors import DataError, OfflineError

_MAX_CSV_FIELD = 1 << 28


def data_dirs() -> list[Path]:
    """Base folders searched for benchmark files (RSFT_DATA_DIR, the fetch cache, then ../shared/benchmarks)."""
    from rsft.bench.sources import benchmark_cache

    out = []
    if os.environ.get("RSFT_DATA_DIR"):
        out.append(Path(os.environ["RSFT_DATA_DIR"]))
    out.append(benchmark_cache())
    out.append(Path.cwd().parent / "shared" / "benchmarks")
    return out


def resolve_path(options: dict[str, Any], subdir: str, filename: str) -> Path:
    """The local file for a benchmark: option ``path``, else ``<data dir>/<subdir>/<filename>``.

    Raises:
        DataError: no such file anywhere (the message lists where it looked and how to point at one).
    """
    if options.get("path"):
        p = Path(options["path"]).expanduser()
        if not p.exists():
            raise DataError("benchmark file not found", file=str(p), fix="check the `path` option")
        return p
    tried = []
    for base in data_dirs():
        p = base / subdir / filename
        tried.append(str(p))
        if p.exists():
            return p
    raise DataError(
        f"no local copy of {subdir}/{filename} (looked in: {', '.join(tried)})",
        fix="run `rsft data fetch --suite SUITE` (downloads and verifies the default source), pass options.path, "
        f"set RSFT_DATA_DIR to a folder holding {subdir}/{filename}, or options.hub_id (+ revision)",
    )


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row index, object) for each non-empty line; a bad line raises DataError naming the row."""
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"not valid JSON: {e}", file=str(path), row=i) from e
            if not isinstance(obj, dict):
                raise DataError("expected a JSON object per line", file=str(path), row=i)
            yield i, obj


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON: {e}", file=str(path)) from e


def read_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(row index, row dict) for each CSV row (header first)."""
    csv.field_size_limit(_MAX_CSV_FIELD)
    with open(path, encoding="utf-8-sig", newline="") as f:  # -sig: some files start with a BOM
        yield from enumerate(csv.DictReader(f))


def _first_char(path: Path) -> str:
    with open(path, encoding="utf-8-sig") as f:
        return f.read(64).lstrip()[:1]


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a .jsonl, .json (list of objects), .csv or .parquet file."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl" or (
        suffix == ".json" and _first_char(path) == "{"
    ):  # .json files holding JSON lines
        yield from read_jsonl(path)
    elif suffix == ".json":
        data = read_json(path)
        if not isinstance(data, list):
            raise DataError("expected a JSON list of objects", file=str(path))
        yield from enumerate(data)
    elif suffix == ".csv":
        yield from read_csv(path)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        yield from enumerate(pq.read_table(path).to_pylist())
    else:
        raise DataError(
            f"unsupported file type '{suffix}'", file=str(path), fix="use .jsonl, .json, .csv or .parquet"
        )


def require(row: dict[str, Any], fields: list[str], file: str, index: int) -> None:
    """Raise DataError naming the first missing field of a row."""
    for name in fields:
        if name not in row or row[name] is None:
            raise DataError(f"missing field '{name}'", file=file, row=index, field=name)


def load_hub(
    hub_id: str,
    *,
    revision: str | None,
    split: str,
    name: str | None = None,
    data_files: Any = None,
    token: str | bool | None = None,
) -> list[dict[str, Any]]:
    """Rows of a hub dataset at a pinned revision (``datasets.load_dataset``).

    Raises:
        DataError: no revision (unpinned hub loads are refused: results must say exactly which data they scored).
        OfflineError: the hub cannot be reached (or the id/revision is unknown) — names the id.
    """
    if not revision:
        raise DataError(
            f"hub dataset '{hub_id}' needs a pinned revision",
            field="revision",
            fix="pass options.revision = the dataset commit sha (unpinned hub loads are refused: "
            "results must say exactly which data they scored)",
        )
    try:
        from datasets import load_dataset

        ds = load_dataset(hub_id, name, split=split, revision=revision, data_files=data_files, token=token)
    except Exception as e:  # noqa: BLE001 - datasets raises many types for "could not fetch"
        raise OfflineError(
            f"could not load hub dataset '{hub_id}' (revision {revision}): {type(e).__name__}: {e}",
            file=hub_id,
            fix="check network access and HF_TOKEN for gated sets, or download it and pass options.path",
        ) from e
    return [dict(r) for r in ds]


def rows_for(
    options: dict[str, Any],
    subdir: str,
    filename: str,
    *,
    hub_split: str = "test",
    hub_name: str | None = None,
    default_revision: str | None = None,
) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    """(source description, indexed rows) from a hub id (option ``hub_id``) or the local file."""
    if options.get("hub_id") and not options.get("path"):
        revision = options.get("revision", default_revision)
        rows = load_hub(
            options["hub_id"],
            revision=revision,
            split=options.get("split", hub_split),
            name=options.get("hub_config", hub_name),
            token=options.get("token"),
        )
        return f"{options['hub_id']}@{revision}", list(enumerate(rows))
    path = resolve_path(options, subdir, filename)
    return str(path), list(read_records(path))


def subset(samples: list, options: dict[str, Any]) -> list:
    """The first ``n_items`` samples when that option is set (quick suites use fixed leading subsets)."""
    n = options.get("n_items")
    return samples if n is None else samples[: int(n)]
