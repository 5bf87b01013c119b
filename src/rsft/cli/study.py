"""`rsft study STUDY.yaml` runs a study; `rsft study plan STUDY.yaml` prints what it will cost first."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from rsft._util.errors import RsftError
from rsft.cli._common import console, esc, progress_bars, say, stage_app

app = stage_app("Run a study (matrix of models × datasets × schedules): train → sweep → analyse → report.")


STAGES = ("data", "train", "sweep", "analysis")


def _parse_shard(shard: str | None) -> tuple[int, int] | None:
    if shard is None:
        return None
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise RsftError(f"--shard must look like i/n (got {shard!r})", field="--shard") from None
    if not (n >= 1 and 0 <= i < n):
        raise RsftError(f"--shard {shard}: need 0 <= i < n", field="--shard")
    return i, n


@app.command("run")
def run(
    study: Path = typer.Argument(..., help="study YAML, or a packaged study name (paper, paper/dynamics)"),
    overrides: list[str] = typer.Argument(None, help="dotted key=value overrides"),
    stop_after: str = typer.Option(None, help="stop after a stage: data | train | sweep | analysis"),
    shard: str = typer.Option(
        None,
        help="i/n: this worker trains and sweeps every n-th run starting at i (all workers share the store); "
        "run once more without --shard to analyse and report",
    ),
    jobs: int = typer.Option(
        1,
        "--jobs",
        "-j",
        help="train and sweep runs in this many worker processes on this machine (CPU cores; same results)",
    ),
    executor: str = typer.Option(
        "local", help="local (this machine: one process, or --jobs processes) | ray (each run a Ray task)"
    ),
    address: str = typer.Option(
        None, help="with --executor ray: the cluster (auto, HOST:PORT, ray://HOST:PORT; default: start a local one)"
    ),
    gpus: float = typer.Option(
        None, min=0, help="with --executor ray: GPUs per run (default: budget.gpus_per_run on a cluster with GPUs, else 0)"
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="no live progress bars"),
) -> None:
    """Run (or continue) a study; every finished stage with the same identity is skipped."""
    from rsft.study.config import load_study
    from rsft.study.run import run_study

    if stop_after is not None and stop_after not in STAGES:
        raise RsftError(
            f"--stop-after {stop_after!r} is not a stage", field="--stop-after", fix=" | ".join(STAGES)
        )
    if jobs < 1:
        raise RsftError(f"--jobs must be 1 or more (got {jobs})", field="--jobs")
    if executor not in ("local", "ray"):
        raise RsftError(f"--executor {executor!r} is not an executor", field="--executor", fix="local | ray")
    if executor == "ray" and jobs > 1:
        raise RsftError("--jobs is for the local executor; Ray places runs by their resources", field="--jobs")
    part = _parse_shard(shard)  # options first: a bad option is named before the study file is read
    cfg = load_study(study, overrides)
    if part is not None:
        from rsft.study.matrix import resolve_runs

        keep = {r.name for j, r in enumerate(resolve_runs(cfg)) if j % part[1] == part[0]}
        stop_after = stop_after or "sweep"
    else:
        keep = None
    with progress_bars(not no_progress) as bars:
        result = run_study(
            cfg, say=say, progress=bars, stop_after=stop_after, only_runs=keep, jobs=jobs,
            executor=executor, address=address, gpus=gpus,
        )  # fmt: skip
    stages = ", ".join(f"{k} {v}" for k, v in result.stages.items())
    console.print(f"[green]study {esc(cfg.study.name)}[/]: {esc(stages)}")
    console.print(f"  study folder: {esc(result.study_dir)}")
    if result.report:
        console.print(f"  report: {esc(result.report)}")


@app.command("plan")
def plan(
    study: Path = typer.Argument(..., help="study YAML, or a packaged study name (paper, paper/dynamics)"),
    overrides: list[str] = typer.Argument(None, help="dotted key=value overrides"),
    as_json: bool = typer.Option(False, "--json", help="print the plan as JSON"),
    slurm: Path = typer.Option(
        None, "--slurm", help="also write a Slurm job array for the study into this folder (then run its submit.sh)"
    ),
    partition: str = typer.Option(None, help="with --slurm: the partition to submit to (default: the cluster's)"),
    account: str = typer.Option(None, help="with --slurm: the account to charge (default: yours)"),
    gpus: int = typer.Option(None, min=0, help="with --slurm: GPUs per run (default: the study's budget.gpus_per_run)"),
    cpus: int = typer.Option(None, min=1, help="with --slurm: CPU cores per run (default: the cluster's)"),
    mem: str = typer.Option(None, help="with --slurm: memory per run, e.g. 64G (default: the cluster's)"),
    time_limit: str = typer.Option(
        None, "--time", help="with --slurm: time limit per run, e.g. 12:00:00 (default: 1.5 x the planned hours)"
    ),
    setup: list[str] = typer.Option(
        None, "--setup", help="with --slurm: a shell line run before rsft on the nodes (repeatable), e.g. "
        "'source ~/venv/bin/activate'"
    ),
) -> None:
    """Print the runs, schedules, steps, checkpoints, disk, tokens and an estimated GPU-hour budget — before
    anything runs."""
    from rsft.study.config import load_study
    from rsft.study.plan import plan_study

    cfg = load_study(study, overrides)
    p = plan_study(cfg)
    if slurm is not None:
        from rsft.study.slurm import SlurmOptions, write_slurm

        opts = SlurmOptions(partition=partition, account=account, gpus=gpus, cpus=cpus, mem=mem,
                            time=time_limit, setup=list(setup or []))  # fmt: skip
        files = write_slurm(cfg, str(study), list(overrides or []), slurm, opts)
        console.print(f"Slurm array for {len(p.runs)} runs written to {esc(files['array'].parent)}")
        console.print(f"  submit with: bash {esc(files['submit'])}")
    if as_json:
        print(p.to_json())
        return
    t = Table(title=f"study {esc(p.study)}: {len(p.runs)} runs", show_lines=False)
    cols = ("#", "run", "finding", "schedule", "steps", "warmup", "ckpts", "states", "disk", "train tok",
            "gen tok/sweep", "GPU-h")  # fmt: skip
    for col in cols:
        t.add_column(col, justify="right" if col not in ("run", "finding", "schedule") else "left")
    for i, r in enumerate(p.runs, 1):
        disk = "?" if r.disk_gb is None else f"{r.disk_gb:,.0f} GB"
        t.add_row(
            str(i), esc(r.name), esc(r.finding or ""), esc(r.schedule), str(r.steps), str(r.warmup),
            str(r.checkpoints),
            str(r.state_saves), disk, f"{r.train_tokens / 1e9:.2f}B", f"{r.gen_tokens_per_sweep / 1e6:.1f}M",
            f"{r.gpu_hours:,.0f}",
        )  # fmt: skip
    out = console.__class__(width=max(200, console.width))
    out.print(t)
    b = p.budget
    out.print(
        "sweep per checkpoint: "
        + ", ".join(f"{esc(s['benchmark'])} {s['items']}×{s['samples']}" for s in p.sweep)
    )
    out.print(
        f"budget: {p.total_gpu_hours:,.0f} GPU-hours in all, at {b['train_tokens_per_gpu_s']:,.0f} training "
        f"tokens/s and {b['gen_tokens_per_gpu_s']:,.0f} generated tokens/s per GPU, generated length = "
        f"{b['gen_fill']:.0%} of max_new_tokens (set `budget:` for your hardware)"
    )
    total = "unknown (give models params_b)" if p.total_disk_gb is None else f"{p.total_disk_gb:,.0f} GB"
    out.print(
        f"disk: {total} for all run folders (kept checkpoints in the saved dtype + two resume states at most; "
        "ckpts = checkpoints incl. step 0, states = resume-state saves)"
    )
    for w in p.warnings:
        out.print(f"[yellow]warning[/]: {esc(w)}")


@app.command("tasks")
def tasks(
    folder: Path = typer.Argument(..., help="the folder written by `rsft study plan STUDY --slurm FOLDER`"),
) -> None:
    """Name each Slurm array task of a study that failed or left no status; exit 1 if any did."""
    from rsft.study.slurm import read_tasks

    statuses = read_tasks(folder)
    bad = [s for s in statuses if not s.ok]
    for s in statuses:
        state = "ok" if s.ok else ("no status (cancelled, killed or out of time)" if s.rc is None else f"exit {s.rc}")
        again = f", requeued {s.restarts}x" if s.restarts else ""
        print(f"task {s.task} ({s.run}): {state}{again}")
    if bad:
        names = ", ".join(str(s.task) for s in bad)
        print(
            f"{len(bad)} of {len(statuses)} tasks did not finish: {names}; resubmit them with "
            f"sbatch --array={names} {folder / 'array.sbatch'}, then the final job"
        )
        raise typer.Exit(1)
    print(f"all {len(statuses)} tasks finished")
