"""`rsft validate FILE [key=value ...]`: check a config file and report every problem at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rsft._util.errors import ConfigError, Problem
from rsft.cli._common import console, esc
from rsft.config import apply_overrides, read_yaml

# config kind -> keys whose presence identifies the kind (checked in this order)
CONFIG_KINDS: dict[str, tuple[str, ...]] = {
    "study": ("matrix", "runs", "study"),
    "suite": ("benchmarks",),
    "train": ("model", "data", "schedule"),
}


def detect_kind(data: dict) -> str | None:
    for kind, keys in CONFIG_KINDS.items():
        if any(k in data for k in keys):
            return kind
    return None


def check(file: Path, overrides: list[str] | None, kind: str) -> str:
    """Load ``file`` as ``kind`` the way its command would; return a one-line description."""
    if kind == "study":
        from rsft.study.config import load_study
        from rsft.study.matrix import resolve_runs

        cfg = load_study(file, overrides)
        runs = resolve_runs(cfg)  # every run's training config, all problems at once
        return f"study '{cfg.study.name}' with {len(runs)} runs"
    if kind == "suite":
        from rsft.eval.config import load_suite

        suite = load_suite(file, overrides)
        return f"suite '{suite.name}' with {len(suite.benchmarks)} benchmarks"
    from rsft.config import load_config
    from rsft.train.config import TrainConfig

    tc: Any = load_config(file, TrainConfig, overrides)
    # what `rsft train` would stop at first: a model folder or a data file that is not there
    from rsft._util.model_folder import check_model_folder

    check_model_folder(tc.model.path, field="model.path")
    text = f"training config for run '{tc.resolved_run_name()}'"
    data = Path(str(tc.data.path))
    if data.suffix.lower() in (".jsonl", ".json", ".parquet", ".csv") and not data.exists():
        # data is often made after the config is written: valid, but say so before `rsft train` stops on it
        text += f"; note: its data.path {data} does not exist yet (read from the current folder)"
    return text


def validate(
    file: str = typer.Argument(
        ..., help="config YAML (train, suite or study), or a packaged name (paper, train/toy)"
    ),
    overrides: list[str] = typer.Argument(None, help="dotted key=value overrides"),
    kind: str = typer.Option(None, help="train | suite | study (detected from the keys when omitted)"),
) -> None:
    """Validate a config file; print every problem at once."""
    from rsft.resources import find_packaged, resolve_config

    if kind is not None and kind not in CONFIG_KINDS:
        raise ConfigError([Problem("--kind", f"'{kind}' is not a kind (train | suite | study)")], file=file)
    if kind is None and not Path(file).is_file():
        # a packaged name can be a suite and a study at once (`paper`): check each kind the name has
        hits = {k: find_packaged(file, k) for k in ("study", "suite", "train")}
        hits = {k: p for k, p in hits.items() if p is not None}
        if len(hits) > 1:
            for k, p in hits.items():
                console.print(f"[green]ok[/]: {esc(p)} is a valid {esc(check(p, overrides, k))}")
            return
    path = resolve_config(file, {"suite": "suite", "study": "study", "train": "train"}.get(kind or "", "any"))
    data = apply_overrides(read_yaml(path), overrides)
    kind = kind or detect_kind(data)
    if kind not in CONFIG_KINDS:
        raise ConfigError(
            [Problem("<root>", "cannot tell which kind of config this is (pass --kind train|suite|study)")],
            file=str(path),
        )
    console.print(f"[green]ok[/]: {esc(path)} is a valid {esc(check(path, overrides, kind))}")
