"""Paths print as they are: rich reads ``[ab]`` as a markup tag and dropped it from every path printed through the
console (``runs[ab]/store`` showed as ``runs/store``). Each command below prints a path with brackets, in an error
line, a note and a success line, through the real CLI in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from rsft.cli._common import esc

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", "COLUMNS": "400"}


def _rsft(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "rsft.cli.main", *args]
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)


def test_esc_keeps_brackets_and_the_console_prints_them():
    from rich.console import Console

    con = Console(record=True, width=400)
    con.print(f"[yellow]note[/]: {esc('runs[ab]/store [bold] x')}")
    assert "runs[ab]/store [bold] x" in con.export_text()


def test_paths_with_brackets_survive_error_note_and_success_lines(tmp_path):
    odd = tmp_path / "runs[ab]"
    odd.mkdir()
    out = _rsft("eval", "summary", str(odd / "nostore"))  # an error line naming the file
    assert out.returncode == 2 and str(odd / "nostore") in out.stderr, out.stderr

    from rsft.eval.store import Store

    store = odd / "store"
    Store(store)
    (store / "rows" / "part-0.parquet").write_bytes(b"not parquet")
    out = _rsft("eval", "summary", str(store))  # the quarantine note names the damaged part
    assert str(store / "rows" / "part-0.parquet") in out.stderr, out.stderr

    from rsft.resources import PACKAGE_DIR

    suite = odd / "toy.yaml"
    shutil.copy(Path(PACKAGE_DIR) / "suites" / "toy.yaml", suite)
    out = _rsft("validate", str(suite))  # the success line
    assert out.returncode == 0 and f"{suite} is a valid" in out.stderr, (out.stdout, out.stderr)
