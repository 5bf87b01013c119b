"""Benchmark scripts write where they are told, and by default under their own git-ignored ``benchmarks/out/``:
never into the folder they are started from (a repository root, for the usual ``python benchmarks/X.py``)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))
OUTPUT_OPTIONS = {"--out", "--json", "--keep"}  # the options that name where a script writes


def _output_defaults(path: Path) -> list[tuple[str, ast.expr | None]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            names = {a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
            for name in names & OUTPUT_OPTIONS:
                default = next((k.value for k in node.keywords if k.arg == "default"), None)
                out.append((name, default))
    return out


def _relative_literal(node: ast.expr | None) -> str | None:
    """A relative path written as a literal (``"x.json"``, ``Path("results/x")``): resolved against the working
    folder, so a script started from the repository root writes into it."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Path" and node.args:
        node = node.args[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and not node.value.startswith("/"):
        return node.value
    return None


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_no_output_option_defaults_to_a_path_relative_to_the_working_folder(script):
    for name, default in _output_defaults(script):
        assert _relative_literal(default) is None, (
            f"{script.name} {name} defaults to {_relative_literal(default)!r}, relative to wherever it is run: "
            "default to None (a temporary folder) or to Path(__file__).parent / 'out' (git-ignored)"
        )


def test_benchmarks_out_is_git_ignored():
    r = subprocess.run(["git", "check-ignore", "-q", "benchmarks/out/x.json"], cwd=ROOT, timeout=60)
    assert r.returncode == 0, "benchmarks/out/ is not in .gitignore"


# the scripts cheap enough to run here, each at its smallest size (every one under ~5 s on a loaded 2-core box)
CHEAP = {
    "detector_calibration.py": ["run", "--configs", "AIME", "--shapes", "flat", "--chunks", "0", "--sims", "2",
                                "--B", "20"],
    "gpu.py": ["--smoke", "--skip", "generation", "training"],
    "countdown_throughput.py": ["--n", "20", "--repeats", "1"],
    "sandbox_overhead.py": ["-n", "2"],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_a_run_with_the_defaults_writes_nothing_into_the_folder_it_is_started_from(tmp_path, name):
    """The script is copied into a stand-in checkout and started from a stand-in repository root: the root stays
    empty, and whatever it writes by default lands in the script's own ``out/``."""
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    shutil.copy(ROOT / "benchmarks" / name, bench / name)
    start = tmp_path / "root"
    start.mkdir()
    path = os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH", "")])])
    env = {k: v for k, v in os.environ.items() if k != "OUT"}  # gpu.py writes to $OUT when it is set
    env.update(PYTHONPATH=path, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    r = subprocess.run([sys.executable, str(bench / name), *CHEAP[name]], cwd=start, env=env,
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in start.iterdir()) == [], f"{name} wrote into the folder it was started from"
    assert {p.name for p in bench.iterdir()} <= {name, "out", "__pycache__"}
