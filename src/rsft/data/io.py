"""Read and write SFT rows: JSONL, Parquet, CSV, a ``datasets.save_to_disk`` folder or a hub id at a pinned revision.

Every problem in the input is a :class:`~rsft._util.errors.DataError` naming the file, the 0-based row and the field.
Accepted columns (after ``column_map`` renames): ``messages`` or the paper's ``message`` (a chat list; in CSV a JSON
string) or a plain ``prompt`` string; ``response`` (when absent, a final assistant turn in ``messages`` is taken as
the response); ``weight`` or the paper's ``advantage`` (default 1.0); optional ``teacher_logprobs`` (or the
release's ``logprob``: a per-token list; a single number is kept as ``metadata["logprob"]``), ``id``,
``metadata``. ``column_map`` is a ``{source: rsft}`` dict or a mapping file (:mod:`rsft.data.mapping`). Written files always use ``messages``, ``response``, ``weight`` (+ ``teacher_logprobs``, ``id``,
``metadata``; in Parquet ``metadata`` is a JSON string) and get a dataset card beside them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import uuid
from pathlib import Path
from typing import Any, Literal

from rsft._util.errors import DataError, OfflineError
from rsft._util.hashing import hash_file
from rsft._version import __version__
from rsft.chat import split_thinking
from rsft.data.schemas import ROLES, SFTRow

log = logging.getLogger(__name__)

CARD_SCHEMA = "rsft.sft-card/1"
FORMATS = ("parquet", "jsonl")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
Unclosed = Literal["error", "keep", "drop"]


# ---------------------------------------------------------------- reading


def read_sft(
    source: str | Path,
    *,
    revision: str | None = None,
    split: str = "train",
    column_map: dict[str, Any] | str | Path | None = None,
    on_unclosed: Unclosed = "error",
) -> list[SFTRow]:
    """Read SFT rows from a file, a ``save_to_disk`` folder or a hub id.

    Args:
        source: ``*.jsonl``, ``*.parquet``, ``*.csv``, a ``save_to_disk`` folder, or a hub id ``owner/name``
            (``owner/name@REVISION`` also pins the revision).
        revision: the hub revision (commit sha or tag) to pin; required for hub ids.
        split: the split of a hub dataset or a ``DatasetDict`` folder.
        column_map: renames applied first: ``{"source column": "rsft column"}`` or a mapping YAML file.
        on_unclosed: rows whose response opens ``<think>`` and never closes it: ``error`` (one error listing every
            such row), ``keep`` (kept, flagged ``metadata["unclosed_think"]``, and logged) or ``drop`` (logged).

    Returns:
        The rows, in file order.

    Raises:
        DataError: unreadable input or a bad row (file, row and field named).
        OfflineError: a hub id that cannot be reached.
    """
    records, label = read_records(source, revision=revision, split=split)
    return rows_from_records(records, label, column_map=column_map, on_unclosed=on_unclosed)


def read_records(
    source: str | Path, *, revision: str | None = None, split: str = "train"
) -> tuple[list[dict], str]:
    """The raw records of ``source`` and the label used in error messages (see :func:`read_sft`)."""
    text = str(source)
    path = Path(text)
    if path.is_dir():
        return _read_disk_dataset(path, split), text
    if path.is_file():
        suffix = "".join(path.suffixes[-1:]).lower()
        readers = {
            ".jsonl": _read_jsonl,
            ".ndjson": _read_jsonl,
            ".parquet": _read_parquet,
            ".csv": _read_csv,
        }
        if suffix not in readers:
            raise DataError(
                f"unsupported file type '{suffix}'",
                file=text,
                fix="use .jsonl, .parquet or .csv (or a folder)",
            )
        records = readers[suffix](path)
        if not records:
            raise DataError("empty file: no rows", file=text, fix="check the file was written completely")
        return records, text
    hub_id, _, at_rev = text.removeprefix("hf://").partition("@")
    looks_local = text.startswith((".", "/", "~")) or path.suffix.lower() in (
        ".jsonl",
        ".ndjson",
        ".parquet",
        ".csv",
    )
    if _HUB_ID.match(hub_id) and not looks_local:
        return _read_hub(hub_id, revision or at_rev or None, split), hub_id
    raise DataError(
        "no such file or folder", file=text, fix="check the path, or pass a hub id owner/name@REVISION"
    )


def _read_jsonl(path: Path) -> list[dict]:
    records = []
    for line_no, raw in enumerate(path.read_bytes().split(b"\n")):
        if not raw.strip():
            continue
        row = len(records)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(
                f"invalid UTF-8 at byte {e.start} of line {line_no + 1}",
                file=str(path),
                row=row,
                fix="re-encode the file as UTF-8",
            ) from None
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"line {line_no + 1} is not valid JSON ({e.msg})", file=str(path), row=row
            ) from None
        if not isinstance(rec, dict):
            raise DataError(
                f"line {line_no + 1} is a JSON {type(rec).__name__}, not an object", file=str(path), row=row
            )
        records.append(rec)
    return records


def _read_csv(path: Path) -> list[dict]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n")  # line 0 is the header
        raise DataError(
            f"invalid UTF-8 at byte {e.start} (line {line + 1})",
            file=str(path),
            row=max(line - 1, 0),
            fix="re-encode the file as UTF-8",
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    records = []
    for i, rec in enumerate(reader):
        if None in rec:
            raise DataError(
                "more fields than header columns", file=str(path), row=i, fix="quote fields with commas"
            )
        records.append({k: _csv_value(k, v) for k, v in rec.items()})
    return records


def _csv_value(key: str, value: str | None) -> Any:
    """CSV cells are strings: JSON-encoded lists/objects and numbers are decoded where the schema expects them."""
    if value is None or value == "":
        return None
    if key in ("weight", "advantage"):
        try:
            return float(value)
        except ValueError:
            return value
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _read_parquet(path: Path) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise DataError(
            f"corrupt or unreadable Parquet ({e})", file=str(path), fix="re-create the file"
        ) from None
    return table.to_pylist()


def _read_disk_dataset(path: Path, split: str) -> list[dict]:
    import datasets

    if not any((path / n).exists() for n in ("dataset_info.json", "state.json", "dataset_dict.json")):
        raise DataError(
            "folder is not a datasets.save_to_disk folder",
            file=str(path),
            fix="point at a data file or a saved dataset",
        )
    try:
        ds = datasets.load_from_disk(str(path))
    except (OSError, ValueError) as e:
        raise DataError(f"cannot load the saved dataset ({e})", file=str(path)) from None
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise DataError(f"no split '{split}' (have: {', '.join(ds)})", file=str(path), field="split")
        ds = ds[split]
    if len(ds) == 0:
        raise DataError("empty dataset: no rows", file=str(path))
    return ds.to_list()


def _read_hub(hub_id: str, revision: str | None, split: str) -> list[dict]:
    if not revision:
        raise DataError(
            "a hub dataset needs a pinned revision",
            file=hub_id,
            field="revision",
            fix=f"pass revision=COMMIT_SHA (or write {hub_id}@COMMIT_SHA) so the data cannot change under you",
        )
    import datasets

    try:
        ds = datasets.load_dataset(hub_id, revision=revision, split=split)
    except (ConnectionError, TimeoutError) as e:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        raise OfflineError(
            f"cannot reach the Hugging Face hub for dataset '{hub_id}' at revision {revision}"
            + (" (HF_HUB_OFFLINE is set)" if offline else f" ({e})"),
            file=hub_id,
            fix="go online once (the dataset is then cached), or download it and pass the local folder or file",
        ) from None
    except FileNotFoundError as e:
        raise DataError(
            f"dataset not found on the hub ({e})", file=hub_id, fix="check the id and revision"
        ) from None
    return ds.to_list()


# ---------------------------------------------------------------- validation


def rows_from_records(
    records: list[dict],
    label: str,
    *,
    column_map: dict[str, Any] | str | Path | None = None,
    on_unclosed: Unclosed = "error",
) -> list[SFTRow]:
    """Validate raw records into :class:`SFTRow` (see :func:`read_sft` for the accepted columns and errors)."""
    if on_unclosed not in ("error", "keep", "drop"):
        raise DataError("on_unclosed must be error, keep or drop", field="on_unclosed")
    if not records:
        raise DataError("no rows", file=label)
    from rsft.data.mapping import load_mapping

    mapping = load_mapping(column_map)
    rows: list[SFTRow] = []
    unclosed: list[int] = []
    for i, rec in enumerate(records):
        rec = mapping.apply(rec)
        row = _row(rec, label, i)
        if split_thinking(row.response).truncated:
            unclosed.append(i)
            if on_unclosed == "drop":
                continue
            row.metadata["unclosed_think"] = True
        rows.append(row)
    if unclosed:
        listed = ", ".join(str(i) for i in unclosed[:20]) + (" ..." if len(unclosed) > 20 else "")
        if on_unclosed == "error":
            raise DataError(
                f"{len(unclosed)} response(s) open <think> and never close it: rows {listed}",
                file=label,
                row=unclosed[0],
                field="response",
                fix="fix or drop those rows (read_sft(on_unclosed='drop'|'keep'), `rsft data variant` reports them)",
            )
        log.warning("%s: %d unclosed <think> row(s) %s: %s", label, len(unclosed), on_unclosed, listed)
    return rows


def _row(rec: dict, label: str, i: int) -> SFTRow:
    def err(message: str, field: str, fix: str | None = None) -> DataError:
        return DataError(message, file=label, row=i, field=field, fix=fix)

    messages, mfield = _messages(rec, err)
    response = rec.get("response")
    if response is None and "response" in rec:
        raise err("the response is null", "response", "fill in the response or drop the row")
    if response is None and messages and messages[-1]["role"] == "assistant":
        response, messages = messages[-1]["content"], messages[:-1]
    if response is None:
        raise err(
            f"missing column 'response' (columns: {', '.join(sorted(rec))})",
            "response",
            "add a response column, end each chat with an assistant turn, or map a column with column_map",
        )
    if not isinstance(response, str):
        raise err(f"wrong type: expected a string, got {type(response).__name__}", "response")
    if not response.strip():
        raise err("empty response", "response", "drop the row or fill in the response")
    for text, where in [(response, "response")] + [(t["content"], mfield) for t in messages]:
        bad = _lone_surrogate(text)
        if bad is not None:
            raise err(
                f"a lone surrogate character U+{ord(text[bad]):04X} at character {bad} (not valid Unicode text)",
                where,
                "re-encode the file as valid UTF-8 (a JSON escape such as \\udc80 without its pair is the usual cause)",
            )
    weight = _weight(rec, err)
    logprobs = rec.get("teacher_logprobs", rec.get("logprob"))
    scalar_logprob = None
    if "teacher_logprobs" not in rec and _is_number(logprobs):  # a release's per-row total, not per-token
        scalar_logprob, logprobs = float(logprobs), None
    if logprobs is not None and (not isinstance(logprobs, list) or not all(_is_number(x) for x in logprobs)):
        raise err("wrong type: expected a list of numbers", "teacher_logprobs")
    meta = rec.get("metadata")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError:
            raise err("metadata is not valid JSON", "metadata") from None
    if meta is not None and not isinstance(meta, dict):
        raise err(f"wrong type: expected an object, got {type(meta).__name__}", "metadata")
    rid = rec.get("id")
    if scalar_logprob is not None:
        meta = {**(meta or {}), "logprob": scalar_logprob}
    return SFTRow(
        messages=messages,
        response=response,
        weight=weight,
        teacher_logprobs=[float(x) for x in logprobs] if logprobs is not None else None,
        id=None if rid is None else str(rid),
        metadata=dict(meta or {}),
    )


def _lone_surrogate(text: str) -> int | None:
    """Index of the first lone surrogate in ``text`` (JSON can carry one; no tokenizer or UTF-8 writer can)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return e.start
    return None


def _messages(rec: dict, err: Any) -> tuple[list[dict[str, str]], str]:
    field = (
        "messages"
        if "messages" in rec
        else "message"
        if "message" in rec
        else "prompt"
        if "prompt" in rec
        else None
    )
    if field is None:
        raise err(
            f"missing column 'messages' (or 'message' / 'prompt'; columns: {', '.join(sorted(rec))})",
            "messages",
            "add a messages column or map one with column_map",
        )
    value = rec[field]
    if field in ("prompt", "message") and isinstance(value, str) and value.lstrip()[:1] != "[":
        if not value.strip():
            raise err("empty prompt", field)
        return [{"role": "user", "content": value}], field
    if isinstance(value, str) and value.lstrip()[:1] == "[":
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            if field != "messages":  # a plain-text prompt may start with '['
                return [{"role": "user", "content": value}], field
            raise err(
                f"not valid JSON ({e.msg} at character {e.pos})",
                field,
                "write the cell as a JSON list of {role, content} turns (in CSV, double every quote inside)",
            ) from None
    if not isinstance(value, list):
        raise err(
            f"messages not a list: got {type(value).__name__}", field, "write a list of {role, content} turns"
        )
    out = []
    for k, turn in enumerate(value):
        if not isinstance(turn, dict) or "role" not in turn or "content" not in turn:
            raise err(f"turn {k} is not an object with 'role' and 'content'", field)
        if turn["role"] not in ROLES:
            raise err(f"turn {k} has unknown role '{turn['role']}'", field, f"use one of: {', '.join(ROLES)}")
        if not isinstance(turn["content"], str):
            raise err(f"turn {k} content is {type(turn['content']).__name__}, not a string", field)
        out.append({"role": turn["role"], "content": turn["content"]})
    return out, field


def _weight(rec: dict, err: Any) -> float:
    field = "weight" if "weight" in rec else "advantage" if "advantage" in rec else None
    if field is None or rec[field] is None:
        return 1.0
    w = rec[field]
    if not _is_number(w) or not math.isfinite(float(w)):
        raise err(f"wrong type: expected a finite number, got {w!r}", field)
    return float(w)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


# ---------------------------------------------------------------- writing


def card_path(path: str | Path) -> Path:
    """``data/train.parquet`` -> ``data/train.card.json``."""
    p = Path(path)
    return p.with_name(p.name.split(".")[0] + ".card.json")


def write_sft(rows: list[SFTRow], path: str | Path, *, card: dict[str, Any]) -> Path:
    """Write rows to ``*.parquet`` or ``*.jsonl`` (atomically) and a dataset card beside them.

    The same rows give byte-identical files. The card (``<name>.card.json``) holds the row count, the data file's
    sha256, the rsft version and everything in ``card`` (by convention ``source``, ``generator`` {name, version},
    ``seed``, ``settings``).

    Args:
        rows: the rows to write.
        path: the data file; its suffix picks the format.
        card: extra card fields.

    Returns:
        The card path.

    Raises:
        DataError: unsupported suffix or no rows.
    """
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise DataError(f"cannot write '.{fmt}'", file=str(p), fix="use .parquet or .jsonl")
    p.parent.mkdir(parents=True, exist_ok=True)
    # temporary names of this process's own: shards of a study (Slurm array tasks) may build one dataset at once;
    # the same rows give the same bytes, so whichever rename lands last leaves a complete, identical file
    tag = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp = p.with_name(f"{p.name}.{tag}.tmp")
    (_write_parquet if fmt == "parquet" else _write_jsonl)(rows, tmp)
    os.replace(tmp, p)
    doc = {
        "schema": CARD_SCHEMA,
        "file": p.name,
        "format": fmt,
        "rows": len(rows),
        "sha256": hash_file(p),
        "rsft_version": __version__,
        "columns": ["messages", "response", "weight", "teacher_logprobs", "id", "metadata"],
        **card,
    }
    cp = card_path(p)
    ctmp = cp.with_name(f"{cp.name}.{tag}.tmp")
    ctmp.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")
    os.replace(ctmp, cp)
    return cp


def read_card(path: str | Path) -> dict[str, Any] | None:
    """The card beside a data file, or None."""
    cp = card_path(path)
    return json.loads(cp.read_text()) if cp.is_file() else None


def _write_jsonl(rows: list[SFTRow], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r.to_record(), ensure_ascii=False, sort_keys=True) + "\n")


def _write_parquet(rows: list[SFTRow], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    turn = pa.struct([("role", pa.string()), ("content", pa.string())])
    cols: dict[str, pa.Array] = {
        "messages": pa.array([r.messages for r in rows], type=pa.list_(turn)),
        "response": pa.array([r.response for r in rows], type=pa.string()),
        "weight": pa.array([float(r.weight) for r in rows], type=pa.float64()),
    }
    if any(r.teacher_logprobs is not None for r in rows):
        cols["teacher_logprobs"] = pa.array([r.teacher_logprobs for r in rows], type=pa.list_(pa.float64()))
    if any(r.id is not None for r in rows):
        cols["id"] = pa.array([r.id for r in rows], type=pa.string())
    if any(r.metadata for r in rows):
        cols["metadata"] = pa.array(
            [
                json.dumps(r.metadata, sort_keys=True, ensure_ascii=False) if r.metadata else None
                for r in rows
            ],
            type=pa.string(),
        )
    pq.write_table(pa.table(cols), path, compression="zstd")
