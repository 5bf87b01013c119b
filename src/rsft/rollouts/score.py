"""``rsft rollouts score``: teacher-forced per-token log-probabilities of existing responses under any model.

The prompt is :func:`rsft.chat.render_prompt` on the row's messages (the train/eval contract); the response is
tokenized as in training — ``tokenizer(response, add_special_tokens=False)`` then EOS — and each response token
(EOS included) gets ``log p(token | prefix)`` from one forward pass. For a pool whose teacher is the scoring model,
``tokens="pool"`` scores the pool's own ``token_ids`` instead (what the teacher actually sampled), which is how
the backend's returned log-probabilities are checked.

Rows are streamed: read in batches, sorted by length within a batch, right-padded, scored with the LM head applied
in chunks of response positions (full-vocabulary logits for a whole long-CoT batch would not fit), and committed as
parts (resume skips committed rows); the finished output is one Parquet file: the input columns plus
``score_logprobs`` (list<float32>), ``score_n_tokens``, ``score_logprob_sum``, ``score_model``, and
``score_entropies`` (list<float32>): the full-vocabulary next-token entropy at each response token
(``score_entropy_kind = "full"``), which backends that return only top-k log-probs (vLLM, API servers) cannot give.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from rsft._util.errors import DataError, RsftError
from rsft._util.progress import Progress
from rsft.config import StrictModel
from rsft.rollouts.store import ShardWriter

SCORE_FIELDS = [
    pa.field("score_logprobs", pa.list_(pa.float32())),
    pa.field("score_n_tokens", pa.int32()),
    pa.field("score_logprob_sum", pa.float64()),
    pa.field("score_model", pa.string()),
    pa.field("score_entropies", pa.list_(pa.float32())),
    pa.field("score_entropy_kind", pa.string()),
]


class ScoreConfig(StrictModel):
    """Settings of one scoring run."""

    model: str = Field(..., description="model folder or hub id (an hf/ prefix is accepted)")
    data: str = Field(
        ..., description="pool folder / pool Parquet, or an SFT file (messages|prompt, response)"
    )
    out: str = Field(..., description="output Parquet file")
    tokens: Literal["retokenize", "pool"] = "retokenize"
    batch_size: int = Field(8, ge=1)
    read_rows: int = Field(256, ge=1, description="rows read (and committed) at a time")
    device: str = "auto"
    dtype: str = Field("float32", description="float32 | bfloat16 | float16")
    lm_head_chunk: int = Field(1024, ge=1, description="response positions per LM-head chunk")
    chat_template: str | None = None
    system_prompt: str | None = Field(None, description="none | model_default | text; unset = as trained")
    chat_template_kwargs: dict[str, Any] | None = Field(
        None, description="template variables; unset = as trained"
    )
    trust_remote_code: bool = False


def _input_batches(data: str, read_rows: int) -> tuple[pa.Schema, Any, int]:
    """(schema, iterator of record batches, row count) for a pool or a Parquet/JSONL SFT file."""
    from rsft.rollouts.store import open_parquet, pool_files

    p = Path(data)
    if p.is_dir():
        files = pool_files(p)
        schema = open_parquet(files[0]).schema_arrow
        total = sum(open_parquet(f).metadata.num_rows for f in files)
        return schema, (b for f in files for b in open_parquet(f).iter_batches(batch_size=read_rows)), total
    if p.suffix == ".parquet" and p.is_file():
        pf = open_parquet(p)
        return pf.schema_arrow, pf.iter_batches(batch_size=read_rows), pf.metadata.num_rows
    if p.suffix in (".jsonl", ".json") and p.is_file():
        from rsft.data.io import read_sft

        rows = [r.to_record() for r in read_sft(p)]
        for r in rows:
            r["messages"] = json.dumps(r["messages"], ensure_ascii=False)
            r.pop("metadata", None)
        table = pa.Table.from_pylist(rows)
        return table.schema, iter(table.to_batches(max_chunksize=read_rows)), table.num_rows
    raise DataError(
        "cannot read scoring input", file=data, fix="pass a pool folder, or a .parquet/.jsonl SFT file"
    )


def _messages(row: dict[str, Any], i: int, data: str) -> list[dict[str, str]]:
    for key in ("messages", "message"):
        m = row.get(key)
        if m is not None:
            msgs = json.loads(m) if isinstance(m, str) else m
            return [{"role": x["role"], "content": x["content"]} for x in msgs]
    if isinstance(row.get("prompt"), str):
        return [{"role": "user", "content": row["prompt"]}]
    raise DataError("row has no messages or prompt", file=data, row=i, field="messages", fix="add the prompt")


def _load(cfg: ScoreConfig) -> tuple[Any, Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rsft._util.model_folder import check_finite_weights
    from rsft.generate.hf import resolve_model_dir

    path = resolve_model_dir(cfg.model.removeprefix("hf/"))
    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=cfg.trust_remote_code)
    if cfg.chat_template:
        tok.chat_template = Path(cfg.chat_template).read_text()
    device = torch.device(
        "cuda"
        if cfg.device == "auto" and torch.cuda.is_available()
        else ("cpu" if cfg.device == "auto" else cfg.device)
    )
    dtype = getattr(torch, cfg.dtype)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, trust_remote_code=cfg.trust_remote_code)
    check_finite_weights(model, path, field="model")  # NaN weights would score every token NaN, silently
    model = model.to(device).eval()
    return model, tok, device


def teacher_forced_logprobs(
    model: Any, prompts: list[list[int]], responses: list[list[int]], *, chunk: int = 1024
) -> list[list[float]]:
    """``log p(response[t] | prompt, response[:t])`` for every response token, per row (fp32 log-softmax)."""
    return teacher_forced(model, prompts, responses, chunk=chunk)[0]


def teacher_forced(
    model: Any, prompts: list[list[int]], responses: list[list[int]], *, chunk: int = 1024
) -> tuple[list[list[float]], list[list[float]]]:
    """Per row: the log-prob of every response token given its prefix, and the full-vocabulary entropy of the
    next-token distribution it was drawn from (fp32 log-softmax; untempered).

    Args:
        model: a causal LM (``transformers`` ``*ForCausalLM``).
        prompts: prompt token ids per row.
        responses: response token ids per row (non-empty).
        chunk: response positions per LM-head application.
    """
    import torch

    device = next(model.parameters()).device
    seqs = [p + r for p, r in zip(prompts, responses, strict=True)]
    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for k, s in enumerate(seqs):  # right padding: real tokens keep positions 0..len-1
        ids[k, : len(s)] = torch.tensor(s, device=device)
        mask[k, : len(s)] = 1
    base = getattr(model, model.base_model_prefix)
    head = model.get_output_embeddings()
    out: list[list[float]] = []
    ents: list[list[float]] = []
    with torch.no_grad():
        hidden = base(input_ids=ids, attention_mask=mask).last_hidden_state
        for k, (p, r) in enumerate(zip(prompts, responses, strict=True)):
            target = torch.tensor(r, device=device)
            vals, hs = [], []
            # position t predicts token t+1: the response tokens are predicted from positions len(p)-1 ...
            for a in range(0, len(r), chunk):
                h = hidden[k, len(p) - 1 + a : len(p) - 1 + min(a + chunk, len(r))]
                logp = torch.log_softmax(head(h).float(), dim=-1)
                vals.append(logp.gather(-1, target[a : a + chunk, None])[:, 0])
                hs.append(-(logp.exp() * logp).nan_to_num().sum(-1))
            out.append(torch.cat(vals).tolist())
            ents.append(torch.cat(hs).tolist())
    return out, ents


def _score_batch(cfg: ScoreConfig, model: Any, tok: Any, batch: pa.RecordBatch, first_row: int) -> pa.Table:
    from rsft.chat import render_prompt, resolve_format

    fmt = resolve_format(
        cfg.model if Path(cfg.model).is_dir() else None, cfg.system_prompt, cfg.chat_template_kwargs
    )
    rows = batch.to_pylist()
    prompts, responses = [], []
    for i, row in enumerate(rows):
        text = render_prompt(tok, _messages(row, first_row + i, cfg.data), fmt)
        prompts.append(tok(text, add_special_tokens=False)["input_ids"])
        if cfg.tokens == "pool":
            if row.get("token_ids") is None:
                raise DataError(
                    "tokens=pool needs a token_ids column",
                    file=cfg.data,
                    row=first_row + i,
                    field="token_ids",
                )
            responses.append(list(row["token_ids"]) or [tok.eos_token_id])
        else:
            responses.append(tok(row["response"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
    order = sorted(range(len(rows)), key=lambda k: len(prompts[k]) + len(responses[k]))
    scores: list[list[float] | None] = [None] * len(rows)
    entropies: list[list[float] | None] = [None] * len(rows)
    for a in range(0, len(order), cfg.batch_size):
        idx = order[a : a + cfg.batch_size]
        res, ent = teacher_forced(
            model, [prompts[k] for k in idx], [responses[k] for k in idx], chunk=cfg.lm_head_chunk
        )
        for k, v, e in zip(idx, res, ent, strict=True):
            scores[k], entropies[k] = v, e
    table = pa.Table.from_batches([batch])
    add = {
        "score_logprobs": pa.array(scores, pa.list_(pa.float32())),
        "score_n_tokens": pa.array([len(s or []) for s in scores], pa.int32()),
        "score_logprob_sum": pa.array([float(sum(s or [])) for s in scores], pa.float64()),
        "score_model": pa.array([cfg.model] * len(rows), pa.string()),
        "score_entropies": pa.array(entropies, pa.list_(pa.float32())),
        "score_entropy_kind": pa.array(["full"] * len(rows), pa.string()),
    }
    for name, arr in add.items():
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, arr)
    return table


def score_responses(cfg: ScoreConfig, *, progress: Progress | None = None) -> dict[str, Any]:
    """Score every row of ``cfg.data`` under ``cfg.model``; resumable (committed rows are skipped).

    Args:
        cfg: the scoring job.
        progress: receives ("scored rows", rows done, rows in the input) after every committed batch.

    Returns:
        {"out", "rows", "skipped", "tokens"}.

    Raises:
        DataError: unreadable input or rows without messages/response.
        OfflineError: the model is neither local nor cached.
    """
    schema, batches, total = _input_batches(cfg.data, cfg.read_rows)
    if "response" not in schema.names and cfg.tokens == "retokenize":
        raise DataError("no response column", file=cfg.data, field="response", fix="pass SFT rows or a pool")
    names = [n for n in schema.names if n not in {f.name for f in SCORE_FIELDS}]
    out_schema = pa.schema([schema.field(n) for n in names] + SCORE_FIELDS)
    out = Path(cfg.out)
    work = out.with_name(out.name + ".parts")
    writer = ShardWriter(work, schema=out_schema, row_group_rows=cfg.read_rows)
    _check_identity(work, cfg)
    skip = writer.rows_committed
    model, tok, _ = _load(cfg)
    seen, tokens = 0, 0
    for batch in batches:
        if seen + batch.num_rows <= skip:
            seen += batch.num_rows
            continue
        if seen < skip:
            batch = batch.slice(skip - seen)
            seen = skip
        table = _score_batch(cfg, model, tok, batch, seen)
        tokens += int(sum(table.column("score_n_tokens").to_pylist()))
        writer.write(table)
        writer.commit()
        seen += batch.num_rows
        if progress:
            progress("scored rows", seen, total)
    writer.commit()
    _merge(writer.parts(), out, out_schema)
    shutil.rmtree(work)
    return {"out": str(out), "rows": seen, "skipped": skip, "tokens": tokens}


def _check_identity(work: Path, cfg: ScoreConfig) -> None:
    """Resume only the same scoring job: a half-done output of another model or input is never extended."""
    from rsft.rollouts.store import write_json_atomic

    ident = {
        "model": cfg.model,
        "data": str(Path(cfg.data).resolve()),
        "tokens": cfg.tokens,
        "dtype": cfg.dtype,
    }
    path = work / "score.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old != ident:
            diff = sorted(k for k in ident if old.get(k) != ident[k])
            raise RsftError(
                f"unfinished scoring output of a different job ({', '.join(diff)})",
                file=str(work),
                fix="rerun the same command to resume it, or delete that folder",
            )
    else:
        write_json_atomic(path, ident)


def _merge(parts: list[Path], out: Path, schema: pa.Schema) -> None:
    if not parts:
        raise RsftError("nothing to score: the input has no rows", file=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
        for p in parts:
            for b in pq.ParquetFile(p).iter_batches():
                w.write_batch(b)
    os.replace(tmp, out)
