"""End to end through the CLI: two checkpoints × two toy benchmarks × k=4, killed mid-sweep and resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from rsft.eval.store import Store

CONTENT = [
    "key",
    "weights_hash",
    "benchmark",
    "item_id",
    "sample_idx",
    "step",
    "seed",
    "response",
    "score",
    "outcome",
    "n_tokens",
    "finish_reason",
]
PLANNED = 2 * 2 * 3 * 4  # checkpoints × benchmarks × items × samples


def _cmd(run_dir: Path, suite: Path, store: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rsft.cli.main",
        "eval",
        "--run",
        str(run_dir),
        "--suite",
        str(suite),
        "--store",
        str(store),
        "--no-progress",
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def _raw_keys(store: Path) -> list[str]:
    return [
        k
        for p in sorted((store / "rows").glob("*.parquet"))
        for k in pq.read_table(p).column("key").to_pylist()
    ]


def _content(store: Path):
    return Store(store).frame()[CONTENT].sort_values("key").reset_index(drop=True)


def test_kill_resume_matches_uninterrupted(run_dir, suite_file, tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    r = subprocess.run(
        _cmd(run_dir, suite_file, full), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert "step_000020" in r.stderr and "COMPLETE" in r.stderr  # half-written checkpoint: warned and skipped
    assert len(_raw_keys(full)) == PLANNED

    proc = subprocess.Popen(_cmd(run_dir, suite_file, killed), env=_env(), stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list((killed / "rows").glob("*.parquet")):
        time.sleep(0.005)  # kill right after the first flushed batch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(_raw_keys(killed))
    assert 0 < before < PLANNED, "the sweep must be killed midway"

    r = subprocess.run(
        _cmd(run_dir, suite_file, killed), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert f"{before} reused" in r.stderr.replace("\n", " ")
    keys = _raw_keys(killed)
    assert len(keys) == PLANNED == len(set(keys))  # nothing lost, nothing duplicated
    a, b = _content(full), _content(killed)
    assert a.equals(b)
    assert set(a["step"]) == {0, 10} and (a.groupby(["step", "benchmark", "item_id"]).size() == 4).all()


def test_steps_filter_and_rerun_reuses(run_dir, suite_file, tmp_path):
    store = tmp_path / "s"
    cmd = _cmd(run_dir, suite_file, store) + ["--steps", "10", "benchmarks.toy_sort.options.n_items=1"]
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    df = Store(store).frame()
    assert set(df["step"]) == {10} and len(df) == 3 * 4 + 1 * 4
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert "16 reused, 0 generated" in r.stderr.replace("\n", " ")


def test_cli_errors_are_plain(tmp_path, suite_file):
    r = subprocess.run(
        _cmd(tmp_path / "nope", suite_file, tmp_path / "s"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "no complete checkpoint" in r.stderr and "Traceback" not in r.stderr


def test_watch_until_done_then_rescore(run_dir, suite_file, tmp_path):
    store = tmp_path / "w"
    (run_dir / "DONE").write_text("")
    small = ["benchmarks.toy_arith.options.n_items=1", "benchmarks.toy_sort.options.n_items=1"]
    cmd = _cmd(run_dir, suite_file, store) + ["--watch-until-done", "--poll", "0.2", *small]
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "never completed" in r.stderr and "16 generated" in r.stderr
    r = subprocess.run(
        _cmd(run_dir, suite_file, store) + ["--rescore", *small],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0 and "0 generated, 16 rescored, 0 missing" in r.stderr, r.stderr
    assert len(Store(store).frame()) == 16
