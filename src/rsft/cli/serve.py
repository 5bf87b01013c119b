"""`rsft serve` — not implemented yet."""

from __future__ import annotations

import typer

from rsft._util.errors import NotImplementedStageError
from rsft.cli._common import stage_app

app = stage_app("serve stage (not implemented yet)")


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(ctx: typer.Context) -> None:
    """Not implemented yet: says so and exits non-zero."""
    raise NotImplementedStageError("`rsft serve` is not implemented yet in this version of rsft")
