"""Shared CLI plumbing: a group whose default sub-command runs when none is named, and the console."""

from __future__ import annotations

import typer
from rich.console import Console
from typer.core import TyperGroup

console = Console(stderr=True, highlight=False)


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
    return typer.Typer(cls=DefaultCommandGroup, help=help_text, no_args_is_help=False, add_completion=False)
