"""`rsft validate FILE [key=value ...]`: check a config file and report every problem at once."""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

from rsft._util.errors import ConfigError, Problem
from rsft.cli._common import console
from rsft.config import apply_overrides, build_config, read_yaml

# config kind -> (model "module:Class", keys whose presence identifies the kind)
CONFIG_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "study": ("rsft.study.config:StudyConfig", ("matrix", "runs", "study")),
    "suite": ("rsft.eval.config:SuiteConfig", ("benchmarks",)),
    "train": ("rsft.train.config:TrainConfig", ("model", "data", "schedule")),
}


def detect_kind(data: dict) -> str | None:
    for kind, (_, keys) in CONFIG_KINDS.items():
        if any(k in data for k in keys):
            return kind
    return None


def load_model_class(kind: str):
    module, attr = CONFIG_KINDS[kind][0].split(":")
    return getattr(importlib.import_module(module), attr)


def validate(
    file: Path = typer.Argument(..., help="config YAML (train, suite or study)"),
    overrides: list[str] = typer.Argument(None, help="dotted key=value overrides"),
    kind: str = typer.Option(None, help="train | suite | study (detected from the keys when omitted)"),
) -> None:
    """Validate a config file; print every problem at once."""
    data = apply_overrides(read_yaml(file), overrides)
    kind = kind or detect_kind(data)
    if kind not in CONFIG_KINDS:
        raise ConfigError(
            [Problem("<root>", "cannot tell which kind of config this is")],
            file=str(file),
        )
    cfg = build_config(load_model_class(kind), data, source=str(file))
    console.print(f"[green]ok[/]: {file} is a valid {kind} config ({type(cfg).__name__})")
