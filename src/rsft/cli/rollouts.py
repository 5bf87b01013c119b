"""`rsft rollouts`: teacher samples into a resumable Parquet pool; `rsft rollouts score`: teacher-forced log-probs.

Examples:
    rsft rollouts --teacher hf/Qwen/Qwen3-8B --queries countdown:44000:seed0 --n 32 --out pool/
    rsft rollouts --teacher hf/PATH --queries math.jsonl --task math --n 32 --shard 3/8 --out pool/
    rsft rollouts score --model hf/Qwen/Qwen2.5-7B --data pool/ --out pool_scored.parquet
    rsft rollouts import RAW_POOL/ --mapping mapping.yaml --out pool.parquet   # then: rsft curate pool.parquet

Kill and rerun the same command to resume: committed queries are skipped, none is written twice.
"""

from __future__ import annotations

import json
from typing import Any

import typer
import yaml

from rsft.cli._common import console, esc, progress_bars, stage_app
from rsft.config import build_config

app = stage_app(
    "teacher rollouts into a pool with per-token log-probs (sharded, resumable); `score` for log-probs"
)


def _options(items: list[str] | None) -> dict[str, Any]:
    out = {}
    for item in items or []:
        key, _, raw = item.partition("=")
        out[key.strip()] = yaml.safe_load(raw) if raw else ""
    return out


@app.command("run")
def run(
    teacher: str = typer.Option(..., help="backend id: hf/PATH_OR_ID, openai/MODEL@URL, vllm/PATH"),
    queries: str = typer.Option(..., help="queries file (JSONL/JSON/Parquet) or TASK:N[:seedS][:key=value]"),
    out: str = typer.Option(..., help="pool folder (rerun the same command to resume)"),
    n: int = typer.Option(None, min=1, help="samples per query (default: rsft.rollouts.run.ROLLOUT_SAMPLING)"),
    temperature: float = typer.Option(None, help="default: ROLLOUT_SAMPLING"),
    top_p: float = typer.Option(None, help="default: GenerateConfig's"),
    top_k: int = typer.Option(None, help="default: GenerateConfig's"),
    max_new_tokens: int = typer.Option(None, min=1, help="default: ROLLOUT_SAMPLING"),
    top_logprobs: int = typer.Option(
        0, help="top-k log-probs per token (vLLM/API teachers: their entropies are over these k only)"
    ),
    seed: int = typer.Option(None, help="base seed; each query's samples derive from (seed, query id)"),
    stop: list[str] = typer.Option(None, help="stop string (repeatable)"),
    task: str = typer.Option(
        None, help="verifier: countdown, math, code, none ... (default: from a TASK:N spec)"
    ),
    system_prompt: str = typer.Option(
        None, help="none | model_default | a system turn added to every query that has none"
    ),
    template_kwarg: list[str] = typer.Option(
        None,
        "--template-kwarg",
        help="chat template variable key=value, e.g. enable_thinking=false (repeatable)",
    ),
    shard: str = typer.Option("0/1", help="i/n: this run's contiguous part of the queries"),
    batch_queries: int = typer.Option(16, min=1, help="queries per backend call"),
    commit_every: float = typer.Option(0.0, help="seconds between committed parts (0: after every batch)"),
    backend_opt: list[str] = typer.Option(
        None, "--backend-opt", help="backend option key=value (repeatable)"
    ),
) -> None:
    """Sample N responses per query from a teacher, verify them, and stream them to a Parquet pool."""
    from rsft.rollouts.run import ROLLOUT_SAMPLING, RolloutsConfig, run_rollouts

    given = dict(temperature=temperature, top_p=top_p, top_k=top_k, max_new_tokens=max_new_tokens, n=n, seed=seed)
    gen = {**ROLLOUT_SAMPLING, **{k: v for k, v in given.items() if v is not None}, "stop": list(stop or [])}
    gen["logprobs"] = True
    gen["top_logprobs"] = top_logprobs
    cfg = build_config(
        RolloutsConfig,
        dict(
            teacher=teacher,
            queries=queries,
            out=out,
            generate=gen,
            task=task,
            system_prompt=system_prompt,
            chat_template_kwargs=_options(template_kwarg),
            shard=shard,
            batch_queries=batch_queries,
            commit_every_s=commit_every,
            backend=_options(backend_opt),
        ),
        source="<command line>",
    )
    with progress_bars() as progress:
        summary = run_rollouts(cfg, progress=progress)
    console.print(
        f"shard {summary['shard']}: {summary['queries']:,} queries ({summary['skipped']:,} already done, "
        f"{summary['generated']:,} generated); {summary['rows']:,} rows in {esc(summary['pool'])}"
    )
    print(json.dumps(summary))


@app.command("score")
def score(
    model: str = typer.Option(..., help="model folder or hub id (hf/ prefix accepted)"),
    data: str = typer.Option(..., help="pool folder / pool Parquet, or SFT file (.parquet/.jsonl)"),
    out: str = typer.Option(..., help="output Parquet file (input columns + score_logprobs ...)"),
    tokens: str = typer.Option(
        "retokenize", help="retokenize (as in training) | pool (the pool's token_ids)"
    ),
    batch_size: int = typer.Option(8, min=1, help="rows per forward pass"),
    device: str = typer.Option("auto", help="auto (cuda when there is one) | cpu | cuda | cuda:N"),
    dtype: str = typer.Option("float32", help="float32 | bfloat16 | float16: the dtype the model is scored in"),
    chat_template: str = typer.Option(None, help="Jinja chat template file for tokenizers without one"),
) -> None:
    """Teacher-forced per-token log-probabilities of existing responses under MODEL."""
    from rsft.rollouts.score import ScoreConfig, score_responses

    cfg = build_config(
        ScoreConfig,
        dict(
            model=model,
            data=data,
            out=out,
            tokens=tokens,
            batch_size=batch_size,
            device=device,
            dtype=dtype,
            chat_template=chat_template,
        ),
        source="<command line>",
    )
    with progress_bars() as progress:
        summary = score_responses(cfg, progress=progress)
    console.print(
        f"scored {summary['rows']:,} rows ({summary['skipped']:,} resumed) -> {esc(summary['out'])}"
    )
    print(json.dumps(summary))


@app.command("import")
def import_(
    source: str = typer.Argument(..., help="raw pool: a Parquet/JSONL file or a folder of Parquet files"),
    mapping: str = typer.Option(..., "--mapping", help="mapping YAML: columns (source -> rsft) and defaults"),
    out: str = typer.Option(..., "--out", help="output pool Parquet file (read by `rsft curate`)"),
) -> None:
    """Rename a raw rollout pool's columns through a mapping file into an rsft pool (no code needed)."""
    from rsft.rollouts.importer import import_pool

    summary = import_pool(source, mapping, out)
    if summary["dropped_columns"]:
        console.print(
            f"[yellow]note[/]: columns not in the pool schema left out: {esc(summary['dropped_columns'])}"
        )
    console.print(
        f"imported {summary['rows']:,} rows ({summary['queries']:,} queries) -> {esc(summary['out'])}"
    )
    print(json.dumps(summary))
