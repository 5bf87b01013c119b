"""`rsft suites`: the suites and configs shipped with rsft, by name (usable anywhere a file path is)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from rsft.cli._common import esc


def _summary(path) -> str:  # noqa: ANN001 - a Path
    """The first comment line of a YAML file: each packaged file opens with one sentence saying what it is
    (``tests/test_packaging.py`` checks that it is a whole sentence)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def suites(
    path: str = typer.Option(None, "--path", help="print only the file of this name (e.g. accelerate/fsdp2)"),
) -> None:
    """List the packaged suites (`rsft eval --suite NAME`) and configs (`rsft study plan paper`,
    `rsft train train/toy`, `rsft validate NAME`)."""
    from rsft.resources import PACKAGE_DIR, packaged_configs, packaged_names, packaged_suites, resolve_config

    if path is not None:
        print(resolve_config(path))
        return
    out = Console(highlight=False)  # the listing is the command's output: stdout, not the log console
    table = Table("kind", "name", "what", show_lines=False)
    for name, p in packaged_suites().items():
        table.add_row("suite", esc(name), esc(_summary(p)))
    studies, train = set(packaged_names("study")), set(packaged_names("train"))
    for name, p in packaged_configs().items():
        kind = "study" if name in studies else "train" if name in train else name.split("/", 1)[0]
        table.add_row(esc(kind), esc(name), esc(_summary(p)))
    out.print(table)
    out.print(f"files under {esc(PACKAGE_DIR)}/suites and /configs; `rsft suites --path NAME` prints one")
