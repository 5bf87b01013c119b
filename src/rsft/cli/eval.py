"""`rsft eval`: sweep a model or every checkpoint of a training run over a suite, into a per-sample store.

    rsft eval --model PATH_OR_ID --suite toy --store STORE [key=value ...]
    rsft eval --run RUN_DIR [--steps 0,10,20|all] --suite SUITE.yaml --store STORE [--backend hf|openai|vllm]
    rsft eval --run RUN_DIR --suite toy --store STORE --watch [--watch-until-done]
    rsft eval --run TRL_OUTPUT_DIR [--base BASE] --suite toy --store STORE   # any trainer's checkpoints
    rsft eval --run RUN_DIR --suite toy --store STORE --rescore
    rsft eval --run hub:ORG/NAME@REVISION --suite paper --store STORE   # released stepN checkpoints, one at a time
    rsft eval --run hub:ORG/NAME --suite paper --store STORE   # one branch/tag per step (OLMo's stepN revisions)
    rsft eval summary STORE            # metrics with bootstrap intervals, from the stored rows (reads only)
    rsft eval check STORE              # move damaged parts to STORE/quarantine/ (reads never move anything)
    rsft eval --adaptive --run RUN_DIR --suite SUITE --store STORE   # only what the adaptive policy asks for
    rsft eval --adaptive --replay FULL_STORE [--out replay.json]     # the adaptive policy on a past full sweep

Rerunning the same command resumes: rows already in the store are skipped.
"""

from __future__ import annotations

import functools
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from rsft._util.errors import RsftError
from rsft.cli._common import console, esc, progress_bars, stage_app
from rsft.config import MAX_BOOT

app = stage_app("sweep models or training checkpoints over an evaluation suite (per-sample store, resumable)")


def _targets(
    model: str | None, run_dir: Path | None, steps: str | None, kind: str, base: str | None, store: Path
) -> list:
    from rsft.eval.plan import discover_run, model_target, parse_steps

    if model is not None:
        if kind == "hf":
            from rsft._util.model_folder import check_model_folder, is_adapter_folder
            from rsft.generate.hf import resolve_model_dir

            local = resolve_model_dir(model)
            if not is_adapter_folder(local):  # an adapter's base is checked when the backend loads it
                check_model_folder(local, field="--model")
            return [model_target(model, local)]
        return [model_target(model)]
    wanted = parse_steps(steps)  # before the folder is read: a bad --steps is named as such
    complete, listing = discover_run(run_dir, base=base)
    for d, why in listing.partial:
        console.print(f"[yellow]warning[/]: {esc(d)} is half-written ({esc(why)}): skipped", soft_wrap=True)
    for note in listing.notes:
        console.print(f"[yellow]note[/]: {esc(note)}", soft_wrap=True)
    if wanted is not None:
        have = {t.step for t in complete}
        for s in sorted(set(wanted) - have):
            console.print(
                f"[yellow]warning[/]: no complete checkpoint for step {s} in {esc(run_dir)}", soft_wrap=True
            )
        complete = [t for t in complete if t.step in wanted]
    if not complete:
        raise RsftError(
            f"no complete checkpoint to evaluate (layout: {listing.layout})",
            file=str(run_dir),
            fix="wait for the trainer to finish a checkpoint, or use --watch to evaluate them as they complete",
        )
    from rsft.eval.layouts import provenance, write_provenance

    write_provenance(store, complete[0].run, provenance(listing, complete))  # layout, files, adapter base
    return complete


def _removes_empty_store_on_failure(command: Callable[..., None]) -> Callable[..., None]:
    """A store folder the command creates is deleted again when the command fails before any row is stored (a
    later run would otherwise find an "existing" store holding nothing); one holding rows is kept: they resume.
    (A second process that opened the same new folder in that moment and stored nothing yet loses its folder.)"""

    @functools.wraps(command)
    def wrapped(*args: Any, **kwargs: Any) -> None:
        if kwargs.get("store") is None:  # --adaptive --replay FULL_STORE reads a store and creates none
            return command(*args, **kwargs)
        store = Path(kwargs["store"])
        fresh = not store.exists()
        try:
            command(*args, **kwargs)
        except BaseException:
            if fresh and store.is_dir() and not any(store.glob("rows/**/*.parquet")):
                shutil.rmtree(store, ignore_errors=True)
            raise

    return wrapped


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@_removes_empty_store_on_failure
def run(
    ctx: typer.Context,
    model: str = typer.Option(
        None, "--model", help="model folder or hub id (or served model name for openai)"
    ),
    run_dir: Path = typer.Option(
        None,
        "--run",
        help="training run folder of any trainer (rsft checkpoints/step_*, Hugging Face Trainer checkpoint-N, a "
        "run manifest rsft_run.yaml), hub:ORG/NAME@REVISION (stepN folders), or hub:ORG/NAME[@GLOB] (one stepN "
        "branch or tag per checkpoint)",
    ),
    base: str = typer.Option(
        None, "--base", help="with --run: the base model (folder or hub id) evaluated as step 0, when the run's "
        "own files do not name it (or to override what they name)",
    ),
    hub_cache: Path = typer.Option(
        None, "--hub-cache", help="with --run hub:...: download folder (default $RSFT_CACHE/checkpoints)"
    ),
    hub_cache_gb: float = typer.Option(
        None,
        "--hub-cache-gb",
        help="with --run hub:...: refuse a checkpoint larger than this (one is held at a time)",
    ),
    revision: str = typer.Option(
        None, "--revision", help="hub revision of --model (commit sha or tag; same as --model ID@REVISION)"
    ),
    steps: str = typer.Option(None, "--steps", help="checkpoint steps, e.g. 0,10,20 (default: all)"),
    suite: str = typer.Option(None, "--suite", help="suite YAML file or suite name (e.g. toy); required"),
    store: Path = typer.Option(None, "--store", help="store folder (created when absent); required"),
    backend: str = typer.Option(
        None, "--backend", help="a backend kind, e.g. hf | openai | vllm (overrides the suite's backend.kind)"
    ),
    rescore: bool = typer.Option(False, "--rescore", help="rescore stored responses; generate nothing"),
    watch: bool = typer.Option(
        False, "--watch", help="keep evaluating new checkpoints of --run as they appear"
    ),
    watch_until_done: bool = typer.Option(
        False,
        "--watch-until-done",
        help="with --watch: exit once the run says it is done (RUN_DIR/DONE, a Trainer checkpoint at max_steps) "
        "and all are evaluated",
    ),
    poll: float = typer.Option(30.0, "--poll", help="seconds between checks in watch mode"),
    lease_ttl: float = typer.Option(
        300.0,
        "--lease-ttl",
        help="seconds a worker's claim on a checkpoint x benchmark lasts without renewal (several `rsft eval` "
        "on one store split the work; a crashed worker's units are taken over after this); 0 = no claims",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    adaptive: bool = typer.Option(
        False, "--adaptive", help="adaptive sweep of --run (docs/adaptive.md), or with --replay FULL_STORE"
    ),
    replay: Path = typer.Option(
        None, "--replay", help="with --adaptive: run the policy on a full sweep's store, reading its rows"
    ),
    out: Path = typer.Option(None, "--out", help="with --replay: write the replay report (JSON) here"),
    n_boot: int = typer.Option(1000, "--n-boot", help="with --adaptive: bootstrap replicates (as rsft analyze)"),
    seed: int = typer.Option(0, "--seed", help="with --adaptive: bootstrap and item-draw seed"),
    executor: str = typer.Option(
        "local", help="local (this process) | ray (the sweep split over --workers Ray tasks through the store's "
        "leases)"
    ),
    workers: int = typer.Option(2, min=1, help="with --executor ray: Ray tasks sharing the sweep"),
    address: str = typer.Option(
        None, help="with --executor ray: the cluster (auto, HOST:PORT, ray://HOST:PORT; default: a local one)"
    ),
    gpus: float = typer.Option(0.0, min=0, help="with --executor ray: GPUs per worker"),
    max_error_rate: float = typer.Option(
        0.05,
        "--max-error-rate",
        help="fail (exit 2, every row kept) when more than this share of the new rows could not be scored "
        "(backend / judge / sandbox errors, or scorers the response broke); 1 = never",
    ),
) -> None:
    """Evaluate a model or a run's checkpoints on a suite; extra key=value arguments override the suite."""
    from rsft.eval.config import load_suite
    from rsft.eval.lease import check_ttl
    from rsft.eval.runner import run_sweep, watch_run
    from rsft.eval.store import Store

    if executor not in ("local", "ray"):
        raise RsftError(f"--executor {executor!r} is not an executor", field="--executor", fix="local | ray")
    if executor == "ray" and (watch or watch_until_done or adaptive or replay is not None
                              or str(run_dir or "").startswith("hub:")):  # fmt: skip
        raise RsftError("--executor ray sweeps a model or a run's checkpoints as they are: drop --watch/--adaptive",
                        field="--executor")  # fmt: skip
    if replay is not None and not adaptive:
        raise RsftError("--replay needs --adaptive", field="--replay")
    if replay is not None:
        _replay(replay, out, n_boot, seed)
        return
    if adaptive:
        if run_dir is None or suite is None or store is None or str(run_dir).startswith("hub:"):
            raise RsftError(
                "--adaptive sweeps a local training run: give --run RUN_DIR, --suite and --store",
                field="--adaptive",
                fix="or --adaptive --replay FULL_STORE to measure the policy on a past full sweep",
            )
        if watch or watch_until_done or rescore or steps is not None:
            raise RsftError("--adaptive chooses its own checkpoints: drop --steps, --watch, --rescore",
                            field="--adaptive")  # fmt: skip
        _adaptive(ctx, run_dir, suite, store, backend, n_boot, seed, progress)
        return
    if suite is None or store is None:
        raise RsftError("--suite and --store are required", field="--suite" if suite is None else "--store")
    if (model is None) == (run_dir is None):
        raise RsftError("give exactly one of --model and --run", field="--model/--run")
    if revision is not None:
        if model is None:
            raise RsftError("--revision applies to --model", field="--revision")
        model = f"{model}@{revision}"
    cfg = load_suite(suite, list(ctx.args))
    if backend is not None:
        from rsft.generate.registry import backend_names

        if backend not in backend_names():
            from rsft.config import did_you_mean

            raise RsftError(f"unknown backend '{backend}'{did_you_mean(backend, backend_names())}",
                            field="--backend", fix=" | ".join(backend_names()))  # fmt: skip
        cfg.backend.kind = backend
    if not (math.isfinite(poll) and poll > 0):
        raise RsftError(
            f"--poll must be a finite positive number (got {poll})", field="--poll", fix="e.g. --poll 30"
        )
    lease_ttl = check_ttl(lease_ttl)
    if not 0 <= max_error_rate <= 1:  # NaN fails too
        raise RsftError(f"--max-error-rate must be in [0, 1] (got {max_error_rate})", field="--max-error-rate")
    # an existing store is opened (and its problems named) first; a new one is created only after a plain model
    # passed its checks, so that a bad model leaves no store behind
    if rescore and not (store / "store.json").is_file():
        raise RsftError(
            "--rescore rescores stored rows, and there is no store here",
            file=str(store),
            field="--rescore",
            fix="point --store at the store the responses were generated into",
        )
    st = Store(store) if store.exists() else None
    targets = _targets(model, None, None, cfg.backend.kind, base, store) if model is not None else None
    st = st or Store(store)
    _say_quarantined(st)
    if run_dir is not None and str(run_dir).startswith("hub:"):
        from rsft.bench.sources import cache_root
        from rsft.eval.hubrun import sweep_hub_run
        from rsft.eval.plan import parse_steps

        if watch or watch_until_done or rescore:
            raise RsftError("--watch and --rescore apply to local runs", field="--run")
        with progress_bars(progress) as bars:
            report = sweep_hub_run(
                cfg,
                str(run_dir),
                st,
                steps=parse_steps(steps),
                cache_dir=hub_cache or cache_root() / "checkpoints",
                max_bytes=int(hub_cache_gb * 1e9) if hub_cache_gb else None,
                progress=bars,
                say=lambda m: console.print(f"[yellow]note[/]: {esc(m)}", soft_wrap=True),
                max_error_rate=max_error_rate,
            )
        console.print(
            f"[green]done[/]: {len(report.targets)} checkpoint(s) ({report.downloads} downloaded), "
            f"{report.planned} planned rows: {report.reused} reused, {report.generated} generated, "
            f"{report.errors} error rows ({report.seconds:.1f}s) -> {esc(store)}",
            soft_wrap=True,
        )
        return
    if watch or watch_until_done:
        if run_dir is None:
            raise RsftError("--watch needs --run", field="--watch")
        from rsft.eval.plan import parse_steps

        with progress_bars(progress) as bars:
            report = watch_run(
                cfg,
                run_dir,
                st,
                steps=parse_steps(steps),
                poll_s=poll,
                until_done=watch_until_done,
                progress=bars,
                say=lambda m: console.print(f"[yellow]warning[/]: {esc(m)}", soft_wrap=True),
                lease_ttl_s=lease_ttl,
                max_error_rate=max_error_rate,
                base=base,
            )
    elif executor == "ray":
        from rsft.eval.ray_sweep import run_sweep_ray

        targets = targets or _targets(model, run_dir, steps, cfg.backend.kind, base, store)
        report = run_sweep_ray(
            cfg, str(store), targets, workers=workers, address=address, gpus=gpus, rescore=rescore,
            lease_ttl_s=lease_ttl, max_error_rate=max_error_rate,
        )  # fmt: skip
    else:
        targets = targets or _targets(model, run_dir, steps, cfg.backend.kind, base, store)
        with progress_bars(progress) as bars:
            report = run_sweep(
                cfg, st, targets=targets, rescore=rescore, progress=bars, lease_ttl_s=lease_ttl,
                max_error_rate=max_error_rate,
            )  # fmt: skip
    console.print(
        f"[green]done[/]: {len(report.targets)} model(s), {report.planned} planned rows: {report.reused} reused, "
        f"{report.generated} generated, {report.rescored} rescored, {report.missing} missing, "
        f"{report.errors} error rows ({report.seconds:.1f}s) -> {esc(store)}",
        soft_wrap=True,
    )


def _adaptive(ctx, run_dir: Path, suite: str, store: Path, backend: str | None, n_boot: int, seed: int,
              progress: bool) -> None:  # fmt: skip
    """`rsft eval --adaptive --run RUN_DIR`: generate only what the adaptive policy asks for (docs/adaptive.md)."""
    from rsft.analysis.stats import BootSpec
    from rsft.eval.config import load_suite
    from rsft.study.adaptive import ADAPTIVE_JSON, adaptive_sweep

    cfg = load_suite(suite, list(ctx.args))
    if backend is not None:
        cfg.backend.kind = backend
    with progress_bars(progress) as bars:
        rec = adaptive_sweep(cfg, run_dir, store, spec=BootSpec(B=n_boot, seed=seed), progress=bars,
                             say=lambda m: console.print(m, soft_wrap=True))  # fmt: skip
    rows = sum(c["rows"] for c in rec["curves"])
    full = sum(c["full_rows"] for c in rec["curves"])
    console.print(
        f"[green]done[/]: adaptive sweep, {rows} of {full} rows of a full sweep ({rows / max(full, 1):.1%}) -> "
        f"{store}; design and per-look verdicts in {store / ADAPTIVE_JSON}", soft_wrap=True
    )


def _replay(full_store: Path, out: Path | None, n_boot: int, seed: int) -> None:
    """`rsft eval --adaptive --replay FULL_STORE`: tokens the adaptive policy would have generated, and whether
    every verdict matches the full analysis of the same store."""
    import json
    import math

    from rich.table import Table

    from rsft.analysis.adaptive import replay_store
    from rsft.analysis.stats import BootSpec

    if n_boot < 100:
        raise RsftError(f"--n-boot must be at least 100 (got {n_boot})", field="--n-boot", fix="e.g. 1000")
    rep = replay_store(full_store, spec=BootSpec(B=n_boot, seed=seed))
    view = Table("run", "benchmark", "full", "adaptive", "agreement", "final−base (full/adaptive)", "checkpoints",
                 "items at interior", "stopped at look", "rows adaptive/full")  # fmt: skip
    for c in rep["curves"]:
        a = c["adaptive"]
        interior = sorted(set(a["n_items"][1:-1])) or ["-"]
        view.add_row(
            esc(c["run"]), esc(c["benchmark"]), c["full"]["class"], a["class"], c["class_agreement"],
            f"{c['full']['final_mark'] or '·'} / {a['final_mark'] or '·'}", str(len(a["steps"])),
            ",".join(map(str, interior)), str(a["stopped_at"]), f"{c['rows']['adaptive']}/{c['rows']['full']}",
        )  # fmt: skip
    console.print(view)
    tok = rep["tokens"]
    ratio = "n/a" if not math.isfinite(tok["ratio"]) else f"{tok['ratio']:.3f}"
    console.print(
        f"tokens: adaptive {tok['adaptive']:.0f} / full {tok['full']:.0f} = {ratio} (stored n_tokens of the rows "
        f"read, each key once); rows {rep['rows']['adaptive']}/{rep['rows']['full']}", soft_wrap=True
    )
    ag = rep["agreement"]
    for name, d in ag.items():
        console.print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in d.items()), soft_wrap=True)
    for c in rep["contradictions"]:
        console.print(f"[red]contradiction[/]: {esc(c)}", soft_wrap=True)
    console.print(
        f"joint level {rep['level']:.0%}; each look at {', '.join(f'{x:.4f}' for x in rep['level_per_look'])} "
        "(Bonferroni over the looks fixed in advance; docs/adaptive.md)", soft_wrap=True
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rep, indent=1, default=str))
        console.print(f"report -> {esc(out)}")


@app.command("summary")
def summary(
    store: Path = typer.Argument(..., help="store folder"),
    k: int = typer.Option(None, help="samples per item for @k metrics (default: all stored)"),
    seed: int = typer.Option(0, help="bootstrap seed"),
    n_boot: int = typer.Option(1000, help="bootstrap resamples"),
    csv: Path = typer.Option(None, help="also write the table as CSV"),
) -> None:
    """Print metrics from the stored rows (value [95% bootstrap interval over items], n items, k)."""
    from rich.table import Table

    from rsft.analysis.summary import summarize
    from rsft.eval.store import Store

    if not (store / "store.json").is_file():
        raise RsftError("not a store folder (no store.json)", file=str(store))
    if k is not None and k < 1:
        raise RsftError(f"--k must be at least 1 (got {k})", field="--k")
    if not 100 <= n_boot <= MAX_BOOT:
        raise RsftError(
            f"--n-boot must be from 100 (for a 95% interval) to {MAX_BOOT:,} (got {n_boot:,})",
            field="--n-boot",
            fix="e.g. 1000",
        )
    st = Store.open(store)  # read only: a damaged part is named, not moved (`rsft eval check` moves it)
    _say_quarantined(st)
    table = summarize(st.frame(), k=k, seed=seed, n_boot=n_boot)
    if csv is not None:
        table.to_csv(csv, index=False)
    view = Table(
        "run", "step", "benchmark", "metric", "value [95% CI]", "n", "k", "errors", "truncated", "no answer"
    )
    for r in table.itertuples():
        step = "" if r.step is None or r.step != r.step else str(int(r.step))
        view.add_row(
            esc(r.run),
            step,
            esc(r.benchmark),
            r.metric,
            f"{r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]",
            str(r.n_items),
            str(r.k),
            str(r.n_errors),
            str(r.n_truncated),
            str(r.n_no_answer),
        )
    console.print(view)
    console.print(
        f"bootstrap: {n_boot} resamples over items, seed {seed}; error rows (backend, judge or scorer failures) "
        "are left out of every value and counted; truncated and no-answer rows score as each benchmark's policy says"
    )
    for bench, pol in sorted({(str(r.benchmark), str(r.policy)) for r in table.itertuples()}):
        console.print(f"  {esc(bench)}: {esc(pol)}", soft_wrap=True)
    _print_protocol(st)


def _say_quarantined(st) -> None:
    """Tell the user which damaged parts were moved aside now (a store opened to write), were skipped (a store
    opened to read), or were moved earlier, and what happens to their rows."""
    for q in st.quarantined:
        console.print(f"[yellow]store part moved aside:[/] {esc(q['part'])} ({esc(q['why'])})")
    for d in st.damaged:
        console.print(f"[yellow]damaged store part skipped:[/] {esc(d['part'])} ({esc(d['why'])})")
    for note in st.notes():
        console.print(f"[yellow]{esc(note)}[/]", soft_wrap=True)


@app.command("check")
def check(store: Path = typer.Argument(..., help="the store folder written by `rsft eval`")) -> None:
    """Check every part of a store and move the damaged ones to STORE/quarantine/ (with a .why note beside each).

    The one step that moves parts (besides `rsft eval` opening a store to write into it): reading commands
    (`eval summary`, `analyze`, `report`) skip a damaged part and name it, and change nothing."""
    from rsft.eval.store import QUARANTINE, Store, quarantine_damaged

    st = Store.open(store)  # a missing folder or an unknown schema version is named; nothing is created
    moved = quarantine_damaged(st.path)
    for q in moved:
        console.print(f"[yellow]store part moved aside:[/] {esc(q['part'])} ({esc(q['why'])})")
    parts = Store.open(store).parts()
    console.print(
        f"{len(parts)} readable part(s); {len(moved)} damaged part(s) moved to {esc(st.path / QUARANTINE)} now"
        + (": the next `rsft eval` into this store regenerates their rows" if moved else "")
    )


def _print_protocol(store) -> None:  # noqa: ANN001 - a Store opened to read
    """Each benchmark's own protocol metrics (rsft.eval.protocol), when the store holds such benchmarks."""
    from rich.table import Table

    from rsft.eval.protocol import protocol_records

    records = protocol_records(store)
    if not records:
        return
    view = Table("run", "step", "benchmark", "protocol metric", "value", "n", "how", title="protocol metrics")
    for r in records:
        value = "n/a" if r["value"] is None else f"{r['value']:.3f}"
        step = "" if r["step"] is None else str(r["step"])
        view.add_row(
            esc(r["run"]), step, esc(r["benchmark"]), esc(r["metric"]), value, str(r["n"]), esc(r["definition"])
        )
    console.print(view)
