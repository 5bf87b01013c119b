"""Queries for rollouts: a file (JSONL / JSON / Parquet) or a task generator spec.

File rows need an id (``id`` or ``query_id``; the 0-based row index ``row-NNNNNN`` when absent), the question
(``messages`` / ``message`` chat list, or a ``prompt`` / ``question`` / ``problem`` string) and, for verification,
the reference (``answer`` / ``target`` / ``solution``). Every column but the id and the question is kept in ``metadata`` (the reference included) (stored as the
pool's ``query_meta``), so a verifier can read what it needs (Countdown ``numbers``, code ``tests``) and curation
can use a column such as a short reference solution as the low-quality variant.

A generator spec is ``TASK:N[:seedS][:key=value...]``, e.g. ``countdown:200:seed0``: ``N`` samples of a registered
task (:mod:`rsft.tasks.registry`), a pure function of (N, seed, settings).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsft._util.errors import DataError, RsftError
from rsft.config import MAX_ROWS

ID_COLUMNS = ("id", "query_id")
PROMPT_COLUMNS = ("prompt", "question", "problem")
MESSAGES_COLUMNS = ("messages", "message")
TARGET_COLUMNS = ("answer", "target", "solution")


@dataclass
class Query:
    """One query.

    Attributes:
        id: stable id (unique within the queries).
        messages: chat turns given to the teacher (the user turn, and a system turn when configured).
        prompt: the user turn's text.
        target: reference answer ("" when unknown).
        metadata: everything else from the source row or the task sample.
    """

    id: str
    messages: list[dict[str, str]]
    prompt: str
    target: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def is_task_spec(spec: str) -> bool:
    from rsft.tasks.registry import TASKS

    head = spec.split(":", 1)[0]
    return ":" in spec and head in TASKS and not Path(spec).exists()


def _parse_task_spec(spec: str) -> tuple[str, int, int, dict[str, Any]]:
    import yaml

    parts = spec.split(":")
    name, rest = parts[0], parts[1:]
    try:
        n = int(rest[0])
    except (IndexError, ValueError):
        raise RsftError(
            f"bad queries spec '{spec}'",
            field="queries",
            fix="write TASK:N[:seedS][:key=value], e.g. countdown:200:seed0",
        ) from None
    if not 1 <= n <= MAX_ROWS:
        raise RsftError(
            f"queries spec '{spec}': N must be from 1 to {MAX_ROWS:,} (got {n:,})",
            field="queries",
            fix="write TASK:N[:seedS][:key=value], e.g. countdown:200:seed0",
        )
    seed, settings = 0, {}
    for item in rest[1:]:
        if item.startswith("seed") and item[4:].isdigit():
            seed = int(item[4:])
        elif "=" in item:
            key, raw = item.split("=", 1)
            settings[key] = yaml.safe_load(raw)
        else:
            raise RsftError(
                f"bad item '{item}' in queries spec '{spec}'",
                field="queries",
                fix="use seedS or key=value items",
            )
    return name, n, seed, settings


def _from_task(spec: str) -> list[Query]:
    from rsft.tasks.registry import get_task

    name, n, seed, settings = _parse_task_spec(spec)
    task = get_task(name)
    out = []
    for s in task.generate(n, seed, **settings):
        meta = dict(s.metadata)
        meta.setdefault("task", name)
        out.append(Query(s.id, [{"role": "user", "content": s.prompt}], s.prompt, str(s.target), meta))
    return out


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(
            "queries file not found", file=str(path), fix="pass a JSONL/JSON/Parquet file or TASK:N:seedS"
        )
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if suffix == ".jsonl":
        rows = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(
                    f"invalid JSON: {e.msg}", file=str(path), row=i, fix="one JSON object per line"
                ) from None
        return rows
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            return data
    raise DataError(
        f"unsupported queries format '{suffix}'", file=str(path), fix="use .jsonl, .json (a list) or .parquet"
    )


def _messages(row: dict[str, Any], path: Path, i: int) -> tuple[list[dict[str, str]], str]:
    for col in MESSAGES_COLUMNS:
        msgs = row.get(col)
        if msgs is not None:
            if isinstance(msgs, str):
                msgs = json.loads(msgs)
            if not isinstance(msgs, list) or not all(
                isinstance(m, dict) and "role" in m and "content" in m for m in msgs
            ):
                raise DataError(
                    "messages must be a list of {role, content}",
                    file=str(path),
                    row=i,
                    field=col,
                    fix="fix the row",
                )
            msgs = [{"role": m["role"], "content": m["content"]} for m in msgs if m["role"] != "assistant"]
            user = [m["content"] for m in msgs if m["role"] == "user"]
            return msgs, (user[-1] if user else "")
    for col in PROMPT_COLUMNS:
        text = row.get(col)
        if isinstance(text, str) and text:
            return [{"role": "user", "content": text}], text
    raise DataError(
        "row has no question",
        file=str(path),
        row=i,
        field="prompt",
        fix=f"give one of the columns {', '.join(MESSAGES_COLUMNS + PROMPT_COLUMNS)}",
    )


def _from_file(path: Path) -> list[Query]:
    out, seen = [], {}
    for i, row in enumerate(_read_rows(path)):
        if not isinstance(row, dict):
            raise DataError("row is not an object", file=str(path), row=i, fix="one JSON object per row")
        qid = next((str(row[c]) for c in ID_COLUMNS if row.get(c) is not None), f"row-{i:06d}")
        if qid in seen:
            raise DataError(
                f"duplicate query id '{qid}' (also row {seen[qid]})",
                file=str(path),
                row=i,
                field="id",
                fix="make ids unique",
            )
        seen[qid] = i
        messages, prompt = _messages(row, path, i)
        target = next((row[c] for c in TARGET_COLUMNS if row.get(c) is not None), "")
        used = set(ID_COLUMNS + MESSAGES_COLUMNS + PROMPT_COLUMNS)
        meta = {k: v for k, v in row.items() if k not in used}
        out.append(
            Query(qid, messages, prompt, target if isinstance(target, str) else json.dumps(target), meta)
        )
    if not out:
        raise DataError("no queries in file", file=str(path), fix="the file is empty")
    return out


def load_queries(spec: str, *, system_prompt: str | None = None) -> list[Query]:
    """Queries from a file or a ``TASK:N[:seedS][:key=value]`` spec, in a stable order.

    Args:
        spec: path or task spec (see module docstring).
        system_prompt: prepended as a system turn to each query that has none.

    Raises:
        DataError: unreadable file, a row without a question, duplicate ids.
        RsftError: a malformed task spec or unknown task.
    """
    queries = _from_task(spec) if is_task_spec(spec) else _from_file(Path(spec))
    if system_prompt:
        for q in queries:
            if not any(m["role"] == "system" for m in q.messages):
                q.messages = [{"role": "system", "content": system_prompt}, *q.messages]
    return queries


def shard_range(total: int, index: int, count: int) -> tuple[int, int]:
    """Contiguous query range ``[start, end)`` of shard ``index`` of ``count`` (sizes differ by at most one)."""
    return (total * index) // count, (total * (index + 1)) // count


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n), 0-based.

    Raises:
        RsftError: not of the form i/n with 0 <= i < n.
    """
    try:
        a, b = (int(x) for x in text.split("/"))
    except ValueError:
        a, b = -1, 0
    if not 0 <= a < b:
        raise RsftError(
            f"bad shard '{text}'", field="shard", fix="write i/n with 0 <= i < n, e.g. --shard 0/4"
        )
    return a, b
