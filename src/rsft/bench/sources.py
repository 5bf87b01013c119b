"""Benchmark data from the hub: default sources, a shipped content manifest, and ``rsft data fetch``.

Each benchmark's class declares its default source (``sources``, read through the registry by
:func:`benchmark_sources`): the hub dataset file(s), the local name its loader reads and the sha256 of each hub file
where rsft knows it. :func:`fetch` downloads through ``huggingface_hub`` (which
honours ``HF_ENDPOINT`` and ``HF_TOKEN``) into ``$RSFT_CACHE/benchmarks/`` (default ``~/.cache/rsft``), checks every
hash, and writes the local file last, so a file in the cache is a verified one; the loaders search that folder
(:func:`rsft.bench._loaders.data_dirs`). A hash that differs is an error naming the file, both hashes and how to
accept the new version: pin it in the suite (``data_pins``).

Hashes: a sha256 is recorded only where the project's offline copy (../shared/benchmarks, taken from the upstream
GitHub repositories listed in its README) is the same file as the hub's; ``sha256_from`` names that copy. None means
rsft has never seen the file: ``rsft data fetch`` downloads it, prints its hash and marks it unverified — pin it in
your suite (``data_pins: {"REPO/PATH": SHA256}``) to lock it. Revisions are ``main`` until you pin a commit.
``convert`` writes the hub's Parquet as the JSONL/CSV the loader reads (the hash is checked on the hub file).
``gated`` sets need the dataset's terms accepted on the hub and HF_TOKEN set; ``get`` says where else to find them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from rsft._util.errors import DataError, OfflineError, RsftError
from rsft.config import StrictModel, did_you_mean

SIDE = ".rsft-source.json"  # written beside each fetched file: where it came from and its verified hashes


class SourceFile(StrictModel):
    """One local file a loader reads, and where it comes from."""

    local: str = Field(description="SUBDIR/FILE under the benchmark cache (the loader's name)")
    repo: str | None = Field(None, description="hub dataset id; None = not on the hub in this form")
    path: list[str] = Field(default_factory=list, description="file(s) in the repo; several are concatenated")
    revision: str = "main"
    split: str | None = None
    sha256: dict[str, str | None] = Field(
        default_factory=dict, description="hub path -> sha256 (None: unknown)"
    )
    sha256_from: str | None = Field(None, description="the offline copy the hash was taken from")
    convert: Literal["jsonl", "csv"] | None = Field(None, description="write the hub's Parquet as JSONL/CSV")
    gated: bool = False
    each: bool = Field(False, description="one local file per hub file (same base name) instead of one file")
    get: str | None = Field(None, description="where to get the file by hand (gated or not on the hub)")


def cache_root() -> Path:
    """``$RSFT_CACHE``, default ``~/.cache/rsft``."""
    return Path(os.environ.get("RSFT_CACHE") or Path.home() / ".cache" / "rsft").expanduser()


def benchmark_cache() -> Path:
    return cache_root() / "benchmarks"


def load_manifest() -> dict[str, list[SourceFile]]:
    """Every registered benchmark's declared source, by name (benchmarks without one are left out)."""
    from rsft.bench.registry import benchmark_names

    out = {name: benchmark_sources(name) for name in benchmark_names()}
    return {name: files for name, files in out.items() if files is not None}


def benchmark_sources(name: str) -> list[SourceFile] | None:
    """The default data source of a registered benchmark, as its class declares it; None: it has none (generated
    or local only).

    Raises:
        RsftError: unknown name. pydantic.ValidationError: a declared entry has an unknown or ill-typed field.
    """
    from rsft.bench.registry import benchmark_class

    declared = benchmark_class(name).sources
    return None if declared is None else [SourceFile(**f) for f in declared]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Fetched:
    """What happened to one local file: ``cached`` | ``fetched`` | ``unverified`` (no recorded hash)."""

    benchmark: str
    local: Path
    status: str
    hashes: dict[str, str]


def _expected(src: SourceFile, path: str, pins: dict[str, str]) -> str | None:
    return pins.get(f"{src.repo}/{path}") or src.sha256.get(path)


def _hint(src: SourceFile) -> str:
    known = {p: h for p, h in src.sha256.items() if h}
    want = "; ".join(f"{p}: sha256 {h}" for p, h in known.items()) or "no hash recorded by rsft"
    return f"{src.get or 'the hub: ' + str(src.repo)} (expected {want})"


def _download(src: SourceFile, path: str, name: str) -> Path:
    """One hub file through huggingface_hub's own cache under RSFT_CACHE/hub."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import GatedRepoError, HfHubHTTPError
    except ImportError as e:  # pragma: no cover - transformers depends on huggingface_hub
        raise RsftError("huggingface_hub is not installed", fix="pip install huggingface_hub") from e
    try:
        return Path(
            hf_hub_download(
                src.repo, path, repo_type="dataset", revision=src.revision, cache_dir=cache_root() / "hub",
                endpoint=os.environ.get("HF_ENDPOINT") or None,
            )
        )  # fmt: skip
    except GatedRepoError:
        raise DataError(
            f"{name}: {src.repo} is gated (access refused)",
            file=f"{src.repo}/{path}",
            fix=f"accept the terms and set HF_TOKEN, or download it from {_hint(src)} and put it at "
            f"{benchmark_cache() / src.local}",
        ) from None
    except HfHubHTTPError as e:
        raise DataError(
            f"{name}: the hub refused {src.repo}/{path} at revision {src.revision}: {e}",
            file=f"{src.repo}/{path}",
            fix=f"check the revision, or get the file from {_hint(src)}",
        ) from None
    except Exception as e:  # noqa: BLE001 - connection errors come in many types
        raise OfflineError(
            f"{name}: cannot download {src.repo}/{path} ({type(e).__name__}: {e})",
            file=f"{src.repo}/{path}",
            fix="check network access (HF_HUB_OFFLINE must be unset; HF_ENDPOINT for a mirror), or set "
            f"RSFT_DATA_DIR to a folder holding {src.local}",
        ) from None


def _write(src: SourceFile, parts: list[Path], dest: Path) -> None:
    """The local file from the downloaded hub file(s): copied, concatenated or converted; written atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    if src.convert is not None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables([pq.read_table(p) for p in parts])
        if src.convert == "csv":
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, tmp)
        else:
            with open(tmp, "w", encoding="utf-8") as f:
                for row in table.to_pylist():
                    f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    else:
        with open(tmp, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out)
    os.replace(tmp, dest)


def _verified(dest: Path, hashes: dict[str, str]) -> bool:
    side = dest.with_name(dest.name + SIDE)
    if not (dest.is_file() and side.is_file()):
        return False
    rec = json.loads(side.read_text(encoding="utf-8"))
    return rec.get("hashes") == hashes and rec.get("local_sha256") == sha256_file(dest)


def fetch_file(
    name: str, src: SourceFile, pins: dict[str, str], say: Callable[[str], None] = lambda _: None
) -> list[Fetched]:
    """Fetch one manifest entry (see the module docstring).

    Raises:
        DataError: a hash differs, a gated file is refused, or a file is not on the hub (says where to get it).
        OfflineError: the hub cannot be reached.
    """
    groups = [([p], src.local.rsplit("/", 1)[0] + "/" + p.rsplit("/", 1)[-1]) for p in src.path] if src.each \
        else [(src.path, src.local)]  # fmt: skip
    out = []
    for paths, local in groups:
        dest = benchmark_cache() / local
        wanted = {p: _expected(src, p, pins) for p in paths}
        if src.repo is None or not paths:
            if dest.is_file():
                out.append(Fetched(name, dest, "cached", {}))
                continue
            raise DataError(
                f"{name}: {local} is not on the hub in the form rsft reads",
                file=local,
                fix=f"download it from {_hint(src)} and put it at {dest} (or pass options.path)",
            )
        if all(wanted.values()) and _verified(dest, wanted):
            out.append(Fetched(name, dest, "cached", dict(wanted)))  # type: ignore[arg-type]
            continue
        parts, actual = [], {}
        for p in paths:
            f = _download(src, p, name)
            actual[p] = sha256_file(f)
            if wanted[p] and actual[p] != wanted[p]:
                raise DataError(
                    f"{name}: sha256 of {src.repo}/{p} (revision {src.revision}) is {actual[p]}, expected {wanted[p]}",
                    file=f"{src.repo}/{p}",
                    fix=f"the hub's file changed: if you accept this version, pin it in your suite with "
                    f'`data_pins: {{"{src.repo}/{p}": "{actual[p]}"}}` (and pin the dataset commit), '
                    "then rerun `rsft data fetch --suite SUITE`",
                )
            parts.append(f)
        _write(src, parts, dest)
        side = {"repo": src.repo, "revision": src.revision, "paths": paths, "hashes": actual,
                "local_sha256": sha256_file(dest)}  # fmt: skip
        dest.with_name(dest.name + SIDE).write_text(json.dumps(side, indent=1, sort_keys=True) + "\n")
        status = "fetched" if all(wanted.values()) else "unverified"
        if status == "unverified":
            unknown = [p for p in paths if not wanted[p]]
            say(
                f"{name}: no recorded sha256 for {', '.join(f'{src.repo}/{p}' for p in unknown)}; downloaded "
                f"{', '.join(actual[p] for p in unknown)} — pin it in your suite (data_pins) to lock this version"
            )
        out.append(Fetched(name, dest, status, actual))
    return out


def fetch(
    names: list[str], pins: dict[str, str] | None = None, say: Callable[[str], None] = lambda _: None
) -> list[Fetched]:
    """Fetch every file of the named benchmarks; benchmarks without a manifest entry (generated toy tasks) are
    skipped with a note.

    Raises:
        RsftError: a name is no registered benchmark (a misspelt one would otherwise fetch nothing, exit 0).
    """
    from rsft.bench.registry import benchmark_names

    known = benchmark_names()
    for name in names:
        if name not in known:
            raise RsftError(
                f"unknown benchmark '{name}'" + did_you_mean(name, known),
                field="names",
                fix="`rsft suites` lists the suites; a suite file names its benchmarks",
            )
    out: list[Fetched] = []
    for name in names:
        sources = benchmark_sources(name)
        if sources is None:
            say(f"{name}: generated or local only (no default source)")
            continue
        for src in sources:
            out += fetch_file(name, src, pins or {}, say)
    return out
