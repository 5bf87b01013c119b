"""`rsft data`: generate, transform, verify and describe SFT datasets.

Sub-commands: ``countdown`` (long-CoT Countdown traces), ``toy`` (toy-world tasks or their mixture), ``variant``
(nocot / lowquality), ``verify`` (keep rows the task scorer accepts), ``stats``. Files are written in the SFT schema
``messages`` (chat list), ``response``, ``weight`` (plus ``id`` and ``metadata``: task, version and the sample);
the paper's ``message`` and ``advantage`` columns are accepted on read. A card ``<name>.card.json`` is written beside
every file (rows, source, generator and version, seed, settings, sha256). Same seed -> byte-identical file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rsft._util.errors import RsftError
from rsft.cli._common import console, esc, stage_app
from rsft.config import MAX_ROWS

app = stage_app("data stage: generate Countdown / toy-task SFT data, make variants, verify, describe")

SUBCOMMANDS = {
    "countdown": "generate long-CoT (or no-CoT) Countdown SFT data",
    "toy": "generate a toy-world task (or --mixture of all of them)",
    "variant": "make a nocot or lowquality variant of a dataset",
    "verify": "keep the rows a task's verifier accepts; report counts and reasons",
    "stats": "rows, lengths, thinking/answer lengths, behaviour markers",
    "fetch": "download benchmark files from their default hub sources into RSFT_CACHE and verify their hashes",
}


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, hidden=True)
def run(ctx: typer.Context) -> None:
    """List the data sub-commands (``rsft data`` alone)."""
    if ctx.args:
        raise RsftError(
            f"unknown data sub-command '{ctx.args[0]}'",
            fix=f"use one of: {', '.join(SUBCOMMANDS)} (rsft data --help)",
        )
    lines = [f"  {name:<10} {text}" for name, text in SUBCOMMANDS.items()]
    typer.echo(
        "rsft data SUB-COMMAND ...\n\n" + "\n".join(lines) + "\n\nrsft data SUB-COMMAND --help for options"
    )


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _out_file(out: Path, name: str, fmt: str) -> Path:
    if fmt not in ("parquet", "jsonl"):
        raise RsftError(f"unknown format '{fmt}'", field="format", fix="use parquet or jsonl")
    return out / f"{name}.{fmt}"


def _write(rows: list, path: Path, card: dict[str, Any]) -> None:
    from rsft.data.io import write_sft

    card_file = write_sft(rows, path, card=card)
    console.print(f"wrote {len(rows)} rows to {esc(path)} (card {esc(card_file.name)})")


def _generator(task: Any) -> dict[str, Any]:
    from rsft._version import __version__

    return {"name": f"rsft.tasks:{task.name}", "version": task.version, "rsft_version": __version__}


@app.command("countdown")
def countdown(
    out: Path = typer.Option(..., "--out", help="output folder"),
    n: int = typer.Option(20480, "--n", min=1, max=MAX_ROWS, help="rows (1 to rsft.config.MAX_ROWS)"),
    seed: int = typer.Option(0, "--seed", help="the same seed gives the same instances and rows, byte for byte"),
    fmt: str = typer.Option("parquet", "--format", help="parquet | jsonl"),
    name: str = typer.Option("countdown", "--name", help="file stem: OUT/NAME.FORMAT"),
    style: str = typer.Option(
        "cot", "--style", help="cot (narrated search in <think>) | nocot (answer only)"
    ),
    min_numbers: int = typer.Option(3, "--min-numbers", help="fewest numbers per instance"),
    max_numbers: int = typer.Option(4, "--max-numbers", help="most numbers per instance"),
    num_min: int = typer.Option(1, "--num-min", help="smallest number drawn"),
    num_max: int = typer.Option(99, "--num-max", help="largest number drawn"),
    target_min: int = typer.Option(1, "--target-min", help="smallest target"),
    target_max: int = typer.Option(100, "--target-max", help="largest target"),
    use_all: bool = typer.Option(
        True, "--use-all/--subset", help="targets need all numbers (TinyZero) or a subset"
    ),
    prompt_style: str = typer.Option("tinyzero", "--prompt-style", help="tinyzero | short"),
    search_order: str = typer.Option("closest", "--search-order", help="given | closest | random"),
    verbosity: int = typer.Option(1, "--verbosity", help="0 terse, 1 normal, 2 chatty"),
    max_backtracks: int = typer.Option(2, "--max-backtracks", help="dead ends narrated before the solution"),
    min_backtracks: int = typer.Option(
        None, "--min-backtracks", help="fewest dead ends: each instance draws its count between this and --max-backtracks (default: exactly --max-backtracks)"
    ),
    trace_seed: int = typer.Option(0, "--trace-seed", help="varies the narration for the same instances"),
) -> None:
    """Generate Countdown SFT rows; every final answer is verified before writing."""
    from rsft.tasks.countdown import CountdownTask
    from rsft.tasks.rows import task_rows

    task = CountdownTask()
    settings = {
        "min_numbers": min_numbers,
        "max_numbers": max_numbers,
        "num_min": num_min,
        "num_max": num_max,
        "target_min": target_min,
        "target_max": target_max,
        "use_all": use_all,
        "prompt_style": prompt_style,
    }
    task.resolve(**settings)
    trace = {
        "search_order": search_order,
        "verbosity": verbosity,
        "max_backtracks": max_backtracks,
        "min_backtracks": min_backtracks,
        "seed": trace_seed,
    }
    style_kw = {"style": style, **(trace if style == "cot" else {})}
    path = _out_file(out, name, fmt)
    with _progress() as bar:
        job = bar.add_task("countdown", total=n)
        rows = task_rows(
            task, n, seed, settings=settings, style=style_kw, progress=lambda k: bar.advance(job, k)
        )
    card = {
        "source": "rsft data countdown",
        "generator": _generator(task),
        "seed": seed,
        "settings": settings,
        "style": style_kw,
        "verified": len(rows),
    }
    _write(rows, path, card)


@app.command("toy")
def toy(
    out: Path = typer.Option(..., "--out", help="output folder"),
    task_name: str = typer.Option(
        None, "--task", help="toy_arith | toy_sort | toy_mcq | toy_instruct | toy_safety"
    ),
    mixture: bool = typer.Option(
        False, "--mixture", help="all toy tasks interleaved (the toy-base pretraining mix)"
    ),
    n: int = typer.Option(
        1000, "--n", min=1, max=MAX_ROWS, help="rows (per task with --mixture; 1 to rsft.config.MAX_ROWS)"
    ),
    seed: int = typer.Option(0, "--seed", help="the same seed gives the same rows"),
    style: str = typer.Option("cot", "--style", help="cot | nocot"),
    fmt: str = typer.Option("parquet", "--format", help="parquet | jsonl"),
    name: str = typer.Option(None, "--name", help="file stem (default: the task name or 'toy_mixture')"),
) -> None:
    """Generate a toy-world task, or with --mixture every toy task interleaved."""
    from rsft.tasks.toyworld import TOY_TASKS, task_rows, toy_mixture

    if mixture == (task_name is not None):
        raise RsftError("pass exactly one of --task NAME and --mixture", field="task")
    stem = name or ("toy_mixture" if mixture else task_name)
    path = _out_file(out, stem, fmt)
    rows = toy_mixture(n, seed, style=style) if mixture else task_rows(task_name, n, seed, style=style)
    from rsft.data.verify import verify_rows

    tasks = TOY_TASKS if mixture else (task_name,)
    for t in tasks:
        _, report = verify_rows([r for r in rows if r.metadata["task"] == t], t)
        if report["dropped"]:
            raise AssertionError(f"{t}: {report['dropped']} reference responses do not verify: {report}")
    from rsft._version import __version__

    card = {
        "source": "rsft data toy",
        "generator": {"name": "rsft.tasks.toyworld", "tasks": list(tasks), "rsft_version": __version__},
        "seed": seed,
        "n_per_task": n,
        "style": style,
    }
    _write(rows, path, card)


def _not_the_input(src: Path | str, dst: Path) -> None:
    """The output file is not the input file: writing it would replace the data it is made from."""
    if Path(src).exists() and dst.exists() and Path(src).resolve() == dst.resolve():
        raise RsftError(
            "the output file is the input file: writing it would replace the data it is read from",
            file=str(dst),
            field="dst",
            fix="write to another file",
        )


def _card_for(kind: str, src: Path, report: dict[str, Any]) -> dict[str, Any]:
    from rsft.data.io import read_card

    return {
        "source": str(src),
        "generator": {"name": f"rsft data {kind}"},
        "report": report,
        "parent_card": read_card(src) if src.is_file() else None,
    }


@app.command("variant")
def variant(
    src: Path = typer.Argument(..., help="input dataset"),
    dst: Path = typer.Argument(..., help="output file (.parquet or .jsonl)"),
    kind: str = typer.Option(..., "--kind", help="nocot | lowquality"),
    on_missing: str = typer.Option("keep", "--on-missing", help="nocot: rows without thinking: keep | drop"),
    wrong_rate: float = typer.Option(0.5, "--wrong-rate", help="lowquality: share of wrong final answers"),
    truncate_rate: float = typer.Option(
        0.0, "--truncate-rate", help="lowquality: share of truncated reasoning"
    ),
    shuffle_rate: float = typer.Option(0.0, "--shuffle-rate", help="lowquality: share of shuffled reasoning"),
    seed: int = typer.Option(0, "--seed", help="seed of the lowquality corruptions (which rows, and how)"),
) -> None:
    """Make a nocot or lowquality variant; rows with missing or unclosed thinking are reported."""
    from rsft.data.io import read_sft
    from rsft.data.variants import make_variant

    _not_the_input(src, dst)
    rows = read_sft(src, on_unclosed="keep")
    opts: dict[str, Any] = (
        {"on_missing": on_missing}
        if kind == "nocot"
        else {
            "wrong_rate": wrong_rate,
            "truncate_rate": truncate_rate,
            "shuffle_rate": shuffle_rate,
            "seed": seed,
        }
    )
    out, report = make_variant(rows, kind, **opts)
    _print_report(report)
    _write(out, dst, _card_for(kind, src, report))


@app.command("subset")
def subset(
    src: str = typer.Argument(
        ..., help="input dataset: a file, folder or hub id (e.g. jasonrqh/Math-CoT-20k)"
    ),
    dst: Path = typer.Argument(..., help="output file (.jsonl or .parquet)"),
    rows: int = typer.Option(2560, "--rows", min=1, help="rows to keep (2,560 = the paper's Math-CoT-2.5k)"),
    rule: str = typer.Option("random", "--rule", help="random (seeded, by content) | first"),
    seed: int = typer.Option(0, "--seed", help="seed of the random rule (ignored by --rule first)"),
    revision: str = typer.Option(None, "--revision", help="hub revision of the input"),
) -> None:
    """A deterministic subset in source order, e.g. Math-CoT-2.5k from Math-CoT-20k (rule: rsft.data.subset)."""
    from rsft.data.subset import write_subset

    _not_the_input(src, dst)
    card = write_subset(src, dst, rows, rule=rule, seed=seed, revision=revision)
    console.print(
        f"[green]{card['rows']}[/] of {card['source_rows']} rows ({rule}, seed {seed}) -> {esc(dst)} "
        f"(sha256 {card['sha256'][:12]})"
    )


def _print_report(report: dict[str, Any]) -> None:
    short = dict(report)
    problems = short.pop("problems", {})
    console.print(esc(json.dumps(short, indent=1)))
    for what, idx in problems.items():
        if idx:
            shown = ", ".join(map(str, idx[:20])) + (" ..." if len(idx) > 20 else "")
            console.print(f"[yellow]{len(idx)} row(s) {what}[/]: {esc(shown)}")


@app.command("verify")
def verify(
    src: Path = typer.Argument(..., help="input dataset"),
    dst: Path = typer.Argument(..., help="output file with the rows that verify"),
    task_name: str = typer.Option(..., "--task", help="registered task (countdown, toy_arith, ...)"),
) -> None:
    """Keep rows the task's verifier accepts; print counts and reasons."""
    from rsft.data.io import read_sft
    from rsft.data.verify import verify_rows

    _not_the_input(src, dst)
    rows = read_sft(src, on_unclosed="keep")
    kept, report = verify_rows(rows, task_name)
    console.print(esc(json.dumps(report, indent=1)))
    if not kept:
        raise RsftError(
            f"no row of {src} verifies as {task_name}", file=str(src), fix="check --task and the data"
        )
    _write(kept, dst, _card_for("verify", src, report))


@app.command("stats")
def stats(
    src: Path = typer.Argument(..., help="dataset"),
    tokenizer: str = typer.Option(
        None, "--tokenizer", help="tokenizer folder: lengths in tokens (else characters)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON to stdout"),
) -> None:
    """Rows, lengths with percentiles, thinking/answer lengths, behaviour marker counts."""
    from rsft.data.io import read_sft
    from rsft.data.stats import data_stats

    tok = None
    if tokenizer:
        from transformers import AutoTokenizer

        from rsft._util.model_folder import TOKENIZER_FILES, looks_local

        if looks_local(tokenizer) and not any((Path(tokenizer) / f).is_file() for f in TOKENIZER_FILES):
            raise RsftError(
                f"no tokenizer files here (none of {', '.join(TOKENIZER_FILES)})",
                file=str(tokenizer),
                field="--tokenizer",
                fix="pass a model folder or hub id that holds a tokenizer",
            )
        tok = AutoTokenizer.from_pretrained(tokenizer)
    result = data_stats(read_sft(src, on_unclosed="keep"), tokenizer=tok)
    if as_json:
        typer.echo(json.dumps(result, indent=1))
        return
    _print_stats(src, result)


def _print_stats(src: Path, result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{esc(src)}: {result['rows']} rows, lengths in {result['unit']}")
    for col in ("part", "n", "mean", "min", "p50", "p90", "p99", "max"):
        table.add_column(col, justify="right" if col != "part" else "left")
    for part, s in result["lengths"].items():
        stats = (str(s.get(k, "")) for k in ("n", "mean", "min", "p50", "p90", "p99", "max"))
        table.add_row(esc(part), *stats)
    console.print(table)
    th = result["thinking"]
    console.print(f"thinking: {th['rows_with_thinking']} rows with a block, {th['unclosed']} unclosed")
    for cat, m in result["markers"].items():
        console.print(f"markers {cat}: {m['total']} total, {m['per_row']} per row, in {m['rows_with']} rows")


@app.command("fetch")
def fetch(
    names: list[str] = typer.Argument(None, help="benchmark names (default: every benchmark of --suite)"),
    suite: str = typer.Option(
        None, "--suite", help="suite name or file whose benchmarks to fetch (default: paper)"
    ),
) -> None:
    """Download the benchmarks' data from their default sources (each benchmark class's `sources`) into $RSFT_CACHE
    (default ~/.cache/rsft), checking each file's sha256; the suite's `data_pins` accept newer versions."""
    from rsft.bench.sources import benchmark_cache
    from rsft.bench.sources import fetch as fetch_all
    from rsft.eval.config import load_suite

    cfg = load_suite(suite or "paper") if (suite or not names) else None
    wanted = list(names or []) or [b.name for b in cfg.benchmarks]  # type: ignore[union-attr]
    pins = cfg.data_pins if cfg is not None else {}
    done = fetch_all(wanted, pins, say=lambda m: console.print(f"[yellow]note[/]: {esc(m)}", soft_wrap=True))
    for f in done:
        hashes = ", ".join(f"{p} {h[:12]}" for p, h in f.hashes.items()) or "present"
        where = esc(f.local.relative_to(benchmark_cache()))
        console.print(f"{f.status:>10}  {f.benchmark}: {where} ({hashes})")
    console.print(f"[green]done[/]: {len(done)} file(s) in {esc(benchmark_cache())}")
