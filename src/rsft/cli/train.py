"""`rsft train CONFIG.yaml [key=value ...] [--resume] [--overwrite]`: supervised fine-tuning with checkpoints.

Examples:
    rsft train train/toy model.path=PATH data.path=FILE      # a packaged config by name (`rsft suites` lists them)
    rsft train train/paper_qwen3_8b_math_cot schedule.lr=1e-5 --resume
    accelerate launch --config_file "$(rsft suites --path accelerate/fsdp2)" -m rsft.cli.main train CONFIG.yaml
"""

from __future__ import annotations

import os

import typer

from rsft.cli._common import console, esc, progress_bars, say, stage_app
from rsft.config import apply_overrides, build_config, leaf_keys, read_yaml

app = stage_app("supervised fine-tuning: checkpoints in Hugging Face format, exact resume")


@app.command("run")
def run(
    config: str = typer.Argument(..., help="training config YAML, or a packaged config name (train/toy)"),
    overrides: list[str] = typer.Argument(None, help="dotted key=value overrides, e.g. schedule.lr=1e-5"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in the output folder"),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="delete a previous run in the output folder first"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="live progress bar"),
) -> None:
    """Train; the run folder is output_dir/run_name (see `rsft validate CONFIG` for the config's keys)."""
    from rsft.resources import resolve_config
    from rsft.train.config import TrainConfig
    from rsft.train.sft import train

    config = str(resolve_config(config, "train"))
    raw = read_yaml(config)
    sources = dict.fromkeys(leaf_keys(raw), "file")
    sources.update({o.split("=", 1)[0].strip(): "cli" for o in overrides or [] if "=" in o})
    cfg = build_config(TrainConfig, apply_overrides(raw, overrides), source=str(config))
    with progress_bars(progress and os.environ.get("RANK", "0") == "0") as bars:
        result = train(
            cfg, resume=resume, overwrite=overwrite, progress=bars, sources=sources, say=say
        )
    if os.environ.get("RANK", "0") != "0":
        return
    console.print(
        f"[green]done[/]: {result.final_step} steps, {len(result.checkpoints)} checkpoints in "
        f"{esc(result.run_dir / 'checkpoints')}; weights {result.weights_hash}"
    )
