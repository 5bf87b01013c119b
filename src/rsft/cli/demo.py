"""`rsft demo [--quick]`: the embedded default — a whole miniature study on a CPU."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from rsft.cli._common import console, esc, progress_bars


def demo(
    quick: bool = typer.Option(
        False, "--quick", help="the weak base on two data variants, fewer steps and items (≈1 minute)"
    ),
    out: Path = typer.Option(Path("rsft-demo"), "--out", help="where the study, runs, store and report go"),
    jobs: int = typer.Option(
        0,
        "--jobs",
        "-j",
        help="worker processes for training and sweeps (0: one per core, at most one per run)",
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="no live progress bars"),
) -> None:
    """Run the whole loop on CPU: tiny bases → toy Countdown SFT (CoT / no-CoT / low-quality) → sweeps → report."""
    from rsft._util.errors import RsftError
    from rsft.study.demo import run_demo, summary_lines, timing_lines

    if jobs < 0:
        raise RsftError(f"--jobs must be 0 (automatic) or more (got {jobs})", field="--jobs")

    t0 = time.time()
    console.print(f"[bold]rsft demo[/] ({'quick' if quick else 'full'}) → {esc(out)}/")
    with progress_bars(not no_progress) as bars:
        result = run_demo(
            out, quick=quick, say=lambda s: console.print(f"  {esc(s)}"), progress=bars, jobs=jobs or None
        )
    for line in summary_lines(result):  # markup (bold, verdict colours) around text summary_lines escaped itself
        console.print(line)
    for line in timing_lines(result):
        console.print(f"  {esc(line)}")
    console.print(f"[green]done[/] in {time.time() - t0:.0f} s")
    console.print(f"  report:   {esc(result.report)}")
    console.print(f"  analysis: {esc(result.analysis_dir)}")
    console.print(f"  study:    {esc(result.study_dir / 'study.yaml')} (rerun or extend with `rsft study`)")
