"""`rsft suites`: the suites and configs shipped with rsft, by name (usable anywhere a file path is)."""

from __future__ import annotations

import typer
from rich.table import Table

from rsft.cli._common import console, esc


def _summary(path) -> str:  # noqa: ANN001 - a Path
    """The first comment line of a YAML file (each packaged file opens with what it is)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def suites(
    path: str = typer.Option(None, "--path", help="print only the file of this name (e.g. accelerate/fsdp2)"),
) -> None:
    """List the packaged suites (`rsft eval --suite NAME`) and configs (`rsft study plan paper`,
    `rsft train train/toy`, `rsft validate NAME`)."""
    from rsft.resources import PACKAGE_DIR, packaged_configs, packaged_suites, resolve_config

    if path is not None:
        print(resolve_config(path))
        return
    table = Table("kind", "name", "what", show_lines=False)
    for name, p in packaged_suites().items():
        table.add_row("suite", esc(name), esc(_summary(p)))
    for name, p in packaged_configs().items():
        kind = name.split("/", 1)[0] if "/" in name else "study"
        table.add_row(esc(kind), esc(name), esc(_summary(p)))
    console.print(table)
    console.print(f"files under {esc(PACKAGE_DIR)}/suites and /configs; `rsft suites --path NAME` prints one")
