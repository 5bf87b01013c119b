"""``rsft rollouts``: N teacher samples per query, verified, streamed to a sharded, resumable Parquet pool.

Resume by identity: ``pool.json`` records what the pool is (teacher and its weights hash, generation config,
queries and their hash, verifier, shard count). A rerun with the same identity skips every query already in a
committed part of its shard; a rerun with a different identity is refused (never mixed silently). Samples are
seeded per query id (:func:`rsft.generate.base.sample_seed`), so a resumed run draws what the uninterrupted run
would have drawn, whatever the batching.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import Field

from rsft._util.errors import RsftError
from rsft._util.hashing import hash_obj
from rsft._util.progress import Counter, Progress
from rsft._util.provenance import provenance
from rsft.config import StrictModel
from rsft.generate.base import Backend, Completion, GenerateConfig, Request
from rsft.rollouts.queries import Query, is_task_spec, load_queries, parse_shard, shard_range
from rsft.rollouts.schema import PARTS_GLOB, POOL_MANIFEST, POOL_SCHEMA, POOL_SCHEMA_VERSION, SHARDS_DIR
from rsft.rollouts.store import ShardWriter, shard_lock, shard_name, write_json_atomic
from rsft.rollouts.verify import Verifier, get_verifier, verified_flag

# identity keys: a rerun must match all of them to resume into the same pool
_IDENTITY = ("schema_version", "teacher", "teacher_hash", "gen_config", "queries_hash", "task", "shards",
             "system_prompt", "chat_template_kwargs")  # fmt: skip
_POLICIES = ("none", "model_default")


# Teacher sampling when nothing is said (the one home of these values; `rsft rollouts` starts from it too).
ROLLOUT_SAMPLING: dict[str, Any] = {"temperature": 1.0, "max_new_tokens": 4096, "n": 32, "logprobs": True}


class RolloutsConfig(StrictModel):
    """Everything one ``rsft rollouts`` run depends on."""

    teacher: str = Field(..., description="backend id: hf/PATH_OR_ID, openai/MODEL@URL, vllm/PATH")
    queries: str = Field(..., description="queries file (JSONL/JSON/Parquet) or TASK:N[:seedS][:key=value]")
    out: str = Field(..., description="pool folder")
    generate: GenerateConfig = Field(
        default_factory=lambda: GenerateConfig(**ROLLOUT_SAMPLING),
        description="keys not given take GenerateConfig's defaults; the whole default is ROLLOUT_SAMPLING",
    )
    task: str | None = Field(
        None, description="verifier: countdown, math, code, none... (default: from queries)"
    )
    system_prompt: str | None = Field(
        None,
        description="none | model_default | a system text added to each query that has none "
        "(rsft.chat.PromptFormat; unset = model_default)",
    )
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="template variables, e.g. {enable_thinking: false}"
    )
    shard: str = Field("0/1", description="i/n: this run's contiguous range of the queries")
    batch_queries: int = Field(16, ge=1, description="queries per backend call")
    commit_every_s: float = Field(0.0, ge=0, description="commit a part at most this often (0: every batch)")
    backend: dict[str, Any] = Field(
        default_factory=dict, description="backend options (batch_size, device ...)"
    )


def resolve_task(cfg: RolloutsConfig) -> str:
    """The verifier name: explicit, or the task of a ``TASK:N`` queries spec, or ``none``."""
    if cfg.task:
        return cfg.task
    return cfg.queries.split(":", 1)[0] if is_task_spec(cfg.queries) else "none"


def make_backend(teacher: str, **options: Any) -> Backend:
    """A backend for a prefixed id, through :mod:`rsft.generate.registry`.

    Raises:
        RsftError: unknown prefix or bad options (from the registry).
    """
    from rsft.generate.registry import make_backend as build

    return build(teacher, **options)


def teacher_hash(teacher: str) -> str | None:
    """Weights hash of a local teacher folder (``hf/PATH`` or ``vllm/PATH``); None otherwise."""
    from rsft._util.hashing import weights_hash

    _, _, path = teacher.partition("/")
    try:
        return weights_hash(path) if Path(path).is_dir() else None
    except FileNotFoundError:
        return None


def _identity(cfg: RolloutsConfig, queries: list[Query], task: str) -> dict[str, Any]:
    gen = cfg.generate.model_dump(mode="json")
    return {
        "schema_version": POOL_SCHEMA_VERSION,
        "teacher": cfg.teacher,
        "teacher_hash": teacher_hash(cfg.teacher),
        "gen_config": gen,
        "queries": cfg.queries,
        "queries_hash": hash_obj([[q.id, q.messages, q.target] for q in queries]),
        "num_queries": len(queries),
        "task": task,
        "system_prompt": cfg.system_prompt,
        "chat_template_kwargs": cfg.chat_template_kwargs or None,
        "shards": parse_shard(cfg.shard)[1],
    }


def open_pool(out: Path, identity: dict[str, Any]) -> None:
    """Create ``pool.json`` or check that the existing one has the same identity.

    Raises:
        RsftError: the folder holds a pool with a different identity.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / POOL_MANIFEST
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        diff = [k for k in _IDENTITY if old.get(k) != identity.get(k)]
        if diff:
            raise RsftError(
                f"this folder holds a pool with a different {', '.join(diff)}",
                file=str(path),
                field=diff[0],
                fix="rerun with the same settings to resume, or pass a new --out for a new pool",
            )
        return
    write_json_atomic(path, {**identity, "created_at": _now(), "provenance": provenance()})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def completion_row(
    q: Query, j: int, c: Completion, *, verifier: Verifier, teacher: str, t_hash: str | None, gen_json: str
) -> dict[str, Any]:
    """One pool row (release format) for sample ``j`` of query ``q``; the verifier runs here."""
    try:
        rec = verifier(q.id, q.prompt, q.target, q.metadata, c.text)
        extracted, verified, reason = rec.answer, verified_flag(rec), rec.reason
    except Exception as e:  # noqa: BLE001 - a per-sample verifier failure becomes a row, not a crash
        extracted, verified, reason = None, None, f"verifier_error: {type(e).__name__}: {e}"[:300]
    if c.finish_reason == "error":
        verified, reason = None, "generation_error"
    return {
        "query_id": q.id,
        "sample_idx": j,
        "prompt": q.prompt,
        "messages": json.dumps(q.messages, ensure_ascii=False),
        "target": q.target,
        "query_meta": json.dumps(q.metadata, ensure_ascii=False, default=str),
        "response": c.text,
        "token_ids": list(c.token_ids),
        "logprobs": c.logprobs,
        "entropies": c.entropies,
        "entropy_kind": c.entropy_kind,
        "finish_reason": c.finish_reason,
        "n_tokens": len(c.token_ids)
        or len(c.logprobs or []),  # API backends may return log-probs without ids
        "prompt_tokens": c.prompt_tokens,
        "logprob_sum": float(sum(c.logprobs)) if c.logprobs else None,
        "extracted_answer": None if extracted is None else str(extracted),
        "verified": verified,
        "verify_reason": reason,
        "teacher": teacher,
        "teacher_hash": t_hash,
        "gen_config": gen_json,
        "seed": getattr(c, "seed", None),
        "seconds": c.seconds,
        "error": c.error,
    }


def run_rollouts(
    cfg: RolloutsConfig, *, backend: Backend | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Generate, verify and store this shard's missing queries; returns a summary.

    Args:
        cfg: the run's config.
        backend: a ready backend (default: built from ``cfg.teacher`` and ``cfg.backend``); closed only if built here.
        progress: receives ("rollouts", queries done, queries in this shard) as batches are written.

    Returns:
        {"pool", "shard", "queries", "skipped", "generated", "rows"} for this shard.

    Raises:
        RsftError: bad queries, unknown verifier or backend, or a pool folder with a different identity.
    """
    out = Path(cfg.out)
    index, count = parse_shard(cfg.shard)
    task = resolve_task(cfg)
    verifier = get_verifier(task)
    text = cfg.system_prompt if cfg.system_prompt not in (None, *_POLICIES) else None
    queries = load_queries(cfg.queries, system_prompt=text)
    identity = _identity(cfg, queries, task)
    fresh = not out.exists()
    open_pool(out, identity)
    start, end = shard_range(len(queries), index, count)
    shard_dir = out / SHARDS_DIR / shard_name(index, count)
    try:
        with shard_lock(shard_dir):
            return _run_shard(
                cfg, queries[start:end], identity, verifier, ShardWriter(shard_dir), backend, progress
            )
    except BaseException:
        _remove_if_unused(out, shard_dir, fresh)
        raise


def _remove_if_unused(out: Path, shard_dir: Path, fresh: bool) -> None:
    """A pool folder this process created is deleted again when it failed before committing anything and no
    other shard has started in it (sharded workers share one pool folder: theirs is never touched)."""
    import shutil

    shards = out / SHARDS_DIR
    others = [d for d in shards.iterdir() if d != shard_dir] if shards.is_dir() else []
    if fresh and not others and not any(out.glob(PARTS_GLOB)):
        shutil.rmtree(out, ignore_errors=True)


def _run_shard(
    cfg: RolloutsConfig,
    mine: list[Query],
    identity: dict[str, Any],
    verifier: Verifier,
    writer: ShardWriter,
    backend: Backend | None,
    progress: Progress | None,
) -> dict[str, Any]:
    out = Path(cfg.out)
    done = writer.done_ids()
    todo = [q for q in mine if q.id not in done]
    summary = {"pool": str(out), "shard": cfg.shard, "queries": len(mine), "skipped": len(mine) - len(todo)}
    generated = 0
    if todo:
        own = backend is None
        fmt = {
            "system_prompt": cfg.system_prompt or "model_default",
            "chat_template_kwargs": cfg.chat_template_kwargs,
        }
        backend = make_backend(cfg.teacher, **fmt, **cfg.backend) if own else backend
        gen_json = json.dumps(identity["gen_config"], sort_keys=True)
        last = time.monotonic()
        try:
            counter = Counter(progress, "rollouts", len(mine), len(mine) - len(todo))
            for b in range(0, len(todo), cfg.batch_queries):
                batch = todo[b : b + cfg.batch_queries]
                reqs = [Request(messages=q.messages, id=q.id) for q in batch]
                outs = backend.generate(reqs, cfg.generate)
                rows = [
                    completion_row(
                        q,
                        j,
                        c,
                        verifier=verifier,
                        teacher=cfg.teacher,
                        t_hash=identity["teacher_hash"],
                        gen_json=gen_json,
                    )
                    for q, comps in zip(batch, outs, strict=True)
                    for j, c in enumerate(comps)
                ]
                writer.write(pa.Table.from_pylist(rows, schema=POOL_SCHEMA))
                generated += len(batch)
                if time.monotonic() - last >= cfg.commit_every_s:
                    writer.commit()
                    writer.write_progress(shard=cfg.shard, queries_total=len(mine), complete=False)
                    last = time.monotonic()
                counter.advance(len(batch))
        except BaseException:
            writer.commit()  # whole queries written so far are kept; the batch in flight is redone on resume
            writer.write_progress(shard=cfg.shard, queries_total=len(mine), complete=False)
            raise
        finally:
            if own and hasattr(backend, "close"):
                backend.close()
    writer.compact()
    writer.write_progress(shard=cfg.shard, queries_total=len(mine), complete=True)
    from rsft.rollouts.card import write_data_card

    write_data_card(out)
    return {**summary, "generated": generated, "rows": writer.rows_committed}
