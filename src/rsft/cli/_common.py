"""Shared CLI plumbing: a group whose default sub-command runs when none is named, the console, progress bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from rsft._util.progress import Progress

console = Console(stderr=True, highlight=False)


def esc(value: object) -> str:
    """``value`` as text for a rich string: a path, a name or a message printed as it is (rich reads ``[ab]`` in
    ``runs[ab]/store`` as a markup tag and drops it). Every value the CLI interpolates into markup goes through
    this one helper; ``tests/test_cli_markup.py`` checks a path with brackets survives each printing command."""
    return escape(str(value))


def say(message: str) -> None:
    """The ``say`` callback stage code takes: one message, printed as written."""
    console.print(esc(message), soft_wrap=True)


class DefaultCommandGroup(TyperGroup):
    """``rsft train CONFIG`` means ``rsft train run CONFIG``; named sub-commands (``rsft study plan``) still work."""

    default_command = "run"

    def parse_args(self, ctx, args):  # noqa: ANN001 - click's signature
        if (
            self.default_command in self.commands
            and (not args or args[0] not in self.commands)
            and not (args and args[0] in ("--help", "-h"))
        ):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def stage_app(help_text: str) -> typer.Typer:
    """A sub-application for one stage, with ``run`` as its default command."""
    return typer.Typer(
        cls=DefaultCommandGroup, help=help_text, no_args_is_help=False, add_completion=False, rich_markup_mode=None
    )


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Progress | None]:
    """A live rich display on stderr for the duration of a command: one bar per label a stage reports.

    Yields the ``progress`` callback stage code takes (see ``rsft._util.progress``), or None when disabled.
    """
    if not enabled:
        yield None
        return
    from rich import progress as rp

    bars = rp.Progress(
        rp.TextColumn("[bold]{task.description}[/]"),
        rp.BarColumn(),
        rp.MofNCompleteColumn(),
        rp.TextColumn("{task.fields[info]}"),
        rp.TimeElapsedColumn(),
        rp.TextColumn("ETA"),
        rp.TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, object] = {}

    def update(label: str, done: int, total: int, info: str = "") -> None:
        if label not in tasks:
            tasks[label] = bars.add_task(esc(label), total=total, completed=done, info=esc(info))
        else:
            bars.update(tasks[label], completed=done, total=total, info=esc(info))

    with bars:
        yield update
