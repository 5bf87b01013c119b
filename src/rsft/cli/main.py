"""Entry point: ``rsft data|train|eval|analyze|report|study|demo|rollouts|curate|validate``.

User-fixable problems (:class:`rsft.RsftError`) print as plain messages and exit 2; Ctrl-C exits 130 and says how to
resume; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

try:  # recent typer vendors click as typer._click; older releases raise click's own exceptions
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import ClickException

from rsft._util.errors import RsftError
from rsft.cli._common import console

app = typer.Typer(
    help="rsft: does long chain-of-thought SFT generalize beyond its training domain, when, and at what safety cost?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# stage name -> module exposing a typer app named `app` (one line per stage)
STAGES = {
    "data": "rsft.cli.data",
    "train": "rsft.cli.train",
    "eval": "rsft.cli.eval",
    "analyze": "rsft.cli.analyze",
    "report": "rsft.cli.report",
    "study": "rsft.cli.study",
    "rollouts": "rsft.cli.rollouts",
    "curate": "rsft.cli.curate",
    "serve": "rsft.cli.serve",
}
# top-level single commands: name -> "module:function"
COMMANDS = {
    "demo": "rsft.cli.demo:demo",
    "validate": "rsft.cli.validate:validate",
    "suites": "rsft.cli.suites:suites",
}

for _name, _module in STAGES.items():
    _sub = importlib.import_module(_module).app
    app.add_typer(_sub, name=_name, help=_sub.info.help)
for _name, _target in COMMANDS.items():
    _mod, _fn = _target.split(":")
    app.command(_name)(getattr(importlib.import_module(_mod), _fn))


def main(argv: list[str] | None = None) -> None:
    try:
        rv = app(args=argv, prog_name="rsft", standalone_mode=False)
    except RsftError as e:
        console.print(f"[bold red]error:[/] {e.render()}", markup=True, soft_wrap=True)
        sys.exit(e.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        console.print("[yellow]interrupted[/]: finished work is saved; rerun the same command to resume")
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
