"""`rsft analyze`: per-sample store in, tables and analysis.json out; plus `power` and `nll`.

Run: ``rsft analyze STORE [--out DIR] [--in-domain a,b] [--seed 0]``;
``rsft analyze power --n 100 --k 4 --steps 11 --depth 0.05``; ``rsft analyze nll --run RUN_DIR --data REF.jsonl``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rsft._util.errors import RsftError
from rsft.cli._common import console, esc, stage_app
from rsft.config import MAX_BOOT, MAX_ROWS, MAX_SAMPLES

app = stage_app("analyze stage: dynamics with intervals, dip detection, behaviours, safety trade-off")


def _split(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


@app.command("run")
def run(
    store: Path = typer.Argument(..., help="the store folder (rows/*.parquet) written by `rsft eval`"),
    out: Path | None = typer.Option(None, "--out", help="output folder (default STORE/analysis)"),
    in_domain: str | None = typer.Option(
        None, "--in-domain", help="comma-separated in-domain benchmarks (default: group 'math')"
    ),
    seed: int = typer.Option(0, "--seed", help="seed of every bootstrap and simulation"),
    config: Path | None = typer.Option(None, "--config", help="YAML of AnalyzeConfig options"),
    lexicon: Path | None = typer.Option(None, "--lexicon", help="YAML: marker category -> phrases"),
    runs_file: Path | None = typer.Option(
        None, "--runs", help="JSON/YAML run -> conditions (default STORE/runs.json)"
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="option override key=value (repeatable), e.g. B=2000"
    ),
) -> None:
    """Analyse a store: writes analysis.json, tables/*.csv and tables/*.md."""
    from rsft.analysis import AnalyzeConfig, analyze_store
    from rsft.analysis.behaviour import load_lexicon
    from rsft.config import apply_overrides, build_config, read_yaml

    data = read_yaml(config) if config else {}
    data = apply_overrides(data, overrides)
    if lexicon:
        data["lexicon"] = load_lexicon(lexicon)
    cfg = build_config(AnalyzeConfig, data, source=str(config) if config else "<command line>")
    conditions = read_yaml(runs_file) if runs_file else None
    with console.status("analysing") as status:
        path = analyze_store(
            store,
            out,
            in_domain=_split(in_domain),
            seed=seed,
            config=cfg,
            conditions=conditions,
            progress=lambda msg: status.update(msg),
        )
    a = json.loads((path / "analysis.json").read_text())
    for rec in a["domain_curves"]:
        g = rec.get("final_change") or rec["detector"].get("final_gain") or {}
        console.print(
            f"{esc(rec['run'])} · {esc(rec['domain'])}: {rec['detector']['class']} "
            f"(final gain {g.get('est', float('nan')):+.3f} [{g.get('lo', float('nan')):+.3f}, "
            f"{g.get('hi', float('nan')):+.3f}], n={rec['stat']['n_items']}, k={rec['stat']['k']:g})"
        )
    for note in a.get("notes", []):
        if note.startswith("in-domain benchmarks not given"):
            console.print(f"[yellow]note[/]: {esc(note)}")
    console.print(f"wrote {esc(path / 'analysis.json')} and {esc(path / 'tables')} in {a['seconds']} s")


@app.command("power")
def power(
    n: int = typer.Option(..., "--n", min=1, max=MAX_ROWS, help="items per benchmark"),
    k: int = typer.Option(..., "--k", min=1, max=MAX_SAMPLES, help="samples per item"),
    steps: int = typer.Option(..., "--steps", min=2, max=10_000, help="checkpoints including the base"),
    depth: str = typer.Option("0,0.02,0.05,0.1", "--depth", help="comma-separated dip depths (score points)"),
    base_acc: float = typer.Option(
        0.5, "--base-acc", min=0.0, max=1.0, help="mean base accuracy over items"
    ),
    item_sd: float = typer.Option(
        0.25, "--item-sd", min=0.0, max=0.5, help="between-item sd of base accuracies (beta)"
    ),
    drift_sd: float = typer.Option(
        1.0, "--drift-sd", min=0.0, help="sd of the items' AR(1) logit drift across checkpoints (0 = none)"
    ),
    drift_rho: float = typer.Option(
        0.95, "--drift-rho", min=0.0, max=1.0, help="correlation of the drift between consecutive checkpoints"
    ),
    shape: str = typer.Option(
        "dip-and-recovery", "--shape", help="true shape for depth > 0 (depth 0 is always flat)"
    ),
    sims: int = typer.Option(200, "--sims", min=1, max=MAX_SAMPLES, help="simulated runs per depth"),
    B: int = typer.Option(1000, "--B", min=100, max=MAX_BOOT, help="bootstrap replicates"),
    seed: int = typer.Option(0, "--seed", help="seed of the simulated runs and their bootstraps"),
) -> None:
    """Detector verdicts by simulation for a run's n, k and steps: power, and false verdicts at depth 0."""
    from rsft.analysis.detector import simulate
    from rsft.analysis.stats import BootSpec
    from rsft.analysis.synthetic import SHAPES, ItemModel

    if shape not in SHAPES:
        raise typer.BadParameter(f"--shape must be one of {', '.join(SHAPES)}")
    depths = _depths(depth)
    model = ItemModel(mean=base_acc, sd=item_sd, jitter_sd=drift_sd, jitter_rho=drift_rho)
    spec = BootSpec(B=B, seed=seed)
    console.print(
        f"n={n} items, k={k}, {steps} checkpoints, {sims} sims per depth, B={B}, seed={seed}; item drift sd "
        f"{drift_sd:g}, correlation {drift_rho:g} (item correlation {model.lag_correlation(1):.3f} between "
        "consecutive checkpoints); reference = plain max-t over dip-vs-base and later-vs-dip contrasts"
    )
    typer.echo("shape\tdepth\tdip_detected\t±1.96se\treference\tfalse_verdict\tcorrect\tany_claim")
    for d in depths:
        sh = shape if d > 0 else "flat"
        r = simulate(model, n, k, list(range(steps)), sh, d, sims, spec)
        typer.echo(
            f"{sh}\t{d:.3f}\t{r['dip_detected']:.3f}\t{1.96 * r['mc_se']:.3f}\t{r['reference']:.3f}"
            f"\t{r['false_verdict']:.3f}"
            f"\t{r['correct']:.3f}\t{r['non_flat']:.3f}"
        )


def _depths(text: str) -> list[float]:
    """``--depth`` as numbers in [0, 1) (a dip of 1 or more score points is not a dip)."""
    import math

    out = []
    for x in _split(text) or []:
        try:
            d = float(x)
        except ValueError:
            d = math.nan
        if not 0.0 <= d < 1.0:  # NaN fails too
            raise RsftError(
                f"--depth {x!r} is not a dip depth in [0, 1)", field="--depth", fix="e.g. --depth 0,0.02,0.05"
            )
        out.append(d)
    return out


@app.command("nll")
def nll(
    run_dir: Path = typer.Option(
        ..., "--run", help="training run folder of any trainer (rsft, Hugging Face Trainer, run manifest)"
    ),
    base: str | None = typer.Option(None, "--base", help="the base model (step 0) when the run does not name it"),
    data: Path = typer.Option(..., "--data", help="reference traces (SFT rows, e.g. held-out training data)"),
    out: Path | None = typer.Option(None, "--out", help="output JSON (default RUN_DIR/analysis/nll.json)"),
    max_rows: int = typer.Option(200, "--max-rows", min=0, help="use the first N rows (0 = all)"),
    seed: int = typer.Option(0, "--seed", help="seed of the bootstrap over rows"),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N"),
) -> None:
    """Teacher-forced NLL of reference traces at every checkpoint."""
    from rsft.analysis.nll import nll_curve, write_nll

    with console.status("scoring checkpoints") as status:
        res = nll_curve(
            run_dir,
            data,
            max_rows=max_rows or None,
            seed=seed,
            device=device,
            progress=lambda i, t: status.update(f"checkpoint {i}/{t}"),
            base=base,
        )
    path = write_nll(res, out or Path(run_dir) / "analysis" / "nll.json")
    for s, e, lo, hi in zip(res["step"], res["nll"]["est"], res["nll"]["lo"], res["nll"]["hi"], strict=True):
        typer.echo(f"step {s}: {e:.4f} [{lo:.4f}, {hi:.4f}] nats/token")
    console.print(f"{res['rows']} rows, {res['tokens']} tokens; wrote {esc(path)}")
