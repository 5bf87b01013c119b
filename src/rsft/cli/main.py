"""Entry point: ``rsft data|train|eval|analyze|report|study|demo|rollouts|curate|validate``.

User-fixable problems (:class:`rsft.RsftError`, and OS errors a user causes: a read-only or full disk, no permission,
a file where a folder is expected) print as one line naming the path and exit 2; Ctrl-C exits 130 and says how to
resume; anything else is a bug and keeps its traceback. `--debug` (or RSFT_DEBUG=1) keeps every traceback.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys

import typer

try:  # recent typer vendors click as typer._click; older releases raise click's own exceptions
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import ClickException

from rsft._util.errors import RsftError
from rsft.cli._common import console, esc

app = typer.Typer(
    help="rsft: does long chain-of-thought SFT generalize beyond its training domain, when, and at what safety cost?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text is plain text: "[min, max]" is shown, not read as a markup tag
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


_OS_FIXES = {
    errno.EROFS: "the file system is read-only: choose an output folder on a writable disk",
    errno.EACCES: "no permission: choose a folder you can write to, or fix its permissions",
    errno.EPERM: "not permitted: choose a folder you can write to, or fix its permissions",
    errno.ENOSPC: "the disk is full: free space or choose another output folder; rerun to resume",
    errno.EDQUOT: "the disk quota is exceeded: free space or choose another output folder; rerun to resume",
    errno.ENOENT: "check the path",
    errno.EISDIR: "a folder was given where a file is expected",
    errno.ENOTDIR: "a file was given where a folder is expected (or a parent of the path is a file)",
    errno.EEXIST: "the path exists already: choose another one",
}


def os_error(e: OSError) -> RsftError:
    """A user-caused OS error (read-only or full disk, permissions, a file where a folder is expected) as one
    line naming the path and what to do."""
    path = e.filename if e.filename is not None else None
    what = e.strerror or type(e).__name__
    return RsftError(what, file=None if path is None else str(path), fix=_OS_FIXES.get(e.errno, "check the path"))


def command() -> typer.core.TyperGroup:
    """The click command tree of ``app``, with help that reads as it is written: a flag (it takes no value) shows
    no ``<bool>`` type beside it."""
    root = typer.main.get_command(app)

    def walk(cmd) -> None:  # noqa: ANN001 - a click command
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)
        for p in getattr(cmd, "params", []):
            if getattr(p, "is_flag", False) and not getattr(p, "count", False):
                p.metavar = ""

    walk(root)
    return root


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("RSFT_DEBUG", "") not in ("", "0") or "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        rv = command().main(args=args, prog_name="rsft", standalone_mode=False)
    except OSError as e:
        if debug or e.errno not in _OS_FIXES:
            raise
        err = os_error(e)
        console.print(f"[bold red]error:[/] {esc(err.render())}", markup=True, soft_wrap=True)
        sys.exit(err.exit_code)
    except RsftError as e:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {esc(e.render())}", markup=True, soft_wrap=True)
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
