"""`rsft curate POOL`: verify, select, cut to a target size, and write long-CoT / no-CoT / low-quality SFT sets.

Example:
    rsft curate pool/ --task countdown --select one_verified --target-size 20480 --seed 0 --out data/countdown
"""

from __future__ import annotations

import json

import typer

from rsft.cli._common import console, esc, stage_app
from rsft.config import build_config

app = stage_app("curate a rollout pool into SFT variants on the same queries, with a report")


@app.command("run")
def run(
    pool: str = typer.Argument(..., help="pool folder (from `rsft rollouts`) or pool Parquet file"),
    task: str = typer.Option(..., help="verifier: countdown, math, code, none, or another registered task"),
    out: str = typer.Option(..., help="output folder"),
    select: str = typer.Option(
        "one_verified",
        help="one_verified | all_verified | shortest_verified | longest_verified | max_logprob_verified | "
        "min_logprob_verified",
    ),
    target_size: int = typer.Option(None, min=1, help="rows per variant (default: everything selected)"),
    seed: int = typer.Option(0, help="seed of the draws (which verified sample for one_verified, the low-quality pick) and of the shuffle before --target-size"),
    reverify: bool = typer.Option(True, help="re-run the verifier (--no-reverify: trust the pool's column)"),
    max_tokens: int = typer.Option(None, help="candidates have at most this many tokens"),
    min_logprob_mean: float = typer.Option(None, help="candidates have at least this mean token log-prob"),
    low_quality: str = typer.Option("unverified", help="unverified | column:NAME | none"),
    same_queries: bool = typer.Option(True, help="only queries for which every variant exists"),
    drop_system: bool = typer.Option(False, help="leave system turns out of the SFT messages"),
    workers: int = typer.Option(1, min=1, help="verifier threads"),
    format: str = typer.Option("parquet", help="parquet | jsonl"),
) -> None:
    """Verify, select and cut a pool; write long_cot / no_cot / low_quality files and report.{json,md}."""
    from rsft.rollouts.curate import CurateConfig, curate

    cfg = build_config(
        CurateConfig,
        dict(
            pool=pool,
            task=task,
            out=out,
            select=select,
            target_size=target_size,
            seed=seed,
            reverify=reverify,
            max_tokens=max_tokens,
            min_logprob_mean=min_logprob_mean,
            low_quality=low_quality,
            same_queries=same_queries,
            drop_system=drop_system,
            workers=workers,
            format=format,
        ),
        source="<command line>",
    )
    rep = curate(cfg)
    y = rep["yield"]
    console.print(
        f"{rep['rows']:,} rows / {rep['queries']:,} queries -> {y['selected_rows']:,} selected on "
        f"{y['selected_queries']:,} queries; variants: "
        + ", ".join(f"{k} {v['rows']:,}" for k, v in rep["variants"].items())
        + f"; report: {esc(out)}/report.md"
    )
    print(
        json.dumps({"out": out, "yield": y, "variants": {k: v["rows"] for k, v in rep["variants"].items()}})
    )
