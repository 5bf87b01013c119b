"""A tiny study killed during training, during a sweep and during analysis ends with the same report as an
uninterrupted run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _tiny_study import _analysis, _report, _write, assert_each_sample_once


def _cmd(*extra: str) -> list[str]:
    return [sys.executable, "-m", "rsft.cli.main", "study", "study.yaml", "--no-progress", *extra]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **extra}


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(*args), cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=1800)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(d.name))
    return out


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan's parent may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _kill_when(cwd: Path, ready, *args: str, timeout: float = 1200) -> list[int]:
    """Start the study, SIGKILL it once ``ready()``; returns the pids of its child processes at that moment."""
    p = subprocess.Popen(_cmd(*args), cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    try:
        while not ready():
            assert p.poll() is None, "the study finished before the kill point"
            assert time.time() - t0 < timeout
            time.sleep(0.02)
        children = _children(p.pid)
        p.send_signal(signal.SIGKILL)
    finally:
        p.wait()
    return children


# the slow marker: the cheaper sequential crash test below stays in the default suite (issue 27: the default suite
# ran past this test's subprocess timeout on a loaded 2-core machine)
@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_killed_parallel_study_resumes_to_the_same_report(tmp_path, tiny_model_dir, tiny_study_reference):
    ref, par = tiny_study_reference, tmp_path / "par"
    _write(par, tiny_model_dir)
    # two worker processes (rsft.study.parallel), killed while training, resumed: the same analysis and report,
    # every sample generated once
    par_runs = par / "out" / "tiny" / "runs"
    workers = _kill_when(par, lambda: any(par_runs.glob("*/checkpoints/step_000004/COMPLETE")), "--jobs", "2")
    assert workers, "no worker processes"
    t0 = time.time()  # the workers notice that their parent died and exit
    while any(_running(w) for w in workers) and time.time() - t0 < 60:
        time.sleep(0.2)
    assert not [w for w in workers if _running(w)], "orphaned workers still running a minute after the kill"
    # they stopped at once, not after finishing their runs (the kill came halfway through both)
    assert not all((d / "DONE").is_file() for d in par_runs.iterdir())
    import duckdb

    before = 0  # samples a worker stored before the kill (keys: copies of the shared base's rows count once)
    if list((par / "out" / "tiny" / "store" / "rows").glob("*.parquet")):
        rows_glob = f"{par}/out/tiny/store/rows/*.parquet"
        sql = f"SELECT count(DISTINCT key) FROM read_parquet('{rows_glob}')"
        before = duckdb.connect().execute(sql).fetchone()[0]
    r = _run(par, "--jobs", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 runs in 2 worker processes" in r.stderr
    generated = [int(g) for g in re.findall(r"(\d+) generated", r.stderr.replace("\n", " "))]
    # 5 distinct checkpoints (the base is shared) x 3 benchmarks x 8 items: the base's samples once, not per worker
    assert sum(generated) == 5 * 3 * 8 - before, r.stderr
    assert _analysis(par / "out" / "tiny" / "analysis") == _analysis(ref / "out" / "tiny" / "analysis")
    assert _report(par) == _report(ref)
    assert_each_sample_once(par)


@pytest.mark.timeout(3600)
def test_killed_study_resumes_to_the_same_report(tmp_path, tiny_model_dir, tiny_study_reference):
    ref, crash = tiny_study_reference, tmp_path / "crash"
    _write(crash, tiny_model_dir)
    runs = crash / "out" / "tiny" / "runs"
    # 1. during training: the first run has a checkpoint past the base but is not finished
    _kill_when(crash, lambda: any(runs.glob("*/checkpoints/step_000004/COMPLETE")))
    assert not all((d / "DONE").is_file() for d in runs.iterdir())
    # 2. during the sweep: some rows are stored, not all
    rows = crash / "out" / "tiny" / "store" / "rows"
    _kill_when(crash, lambda: rows.is_dir() and any(rows.glob("*.parquet")))
    # 3. during analysis: results computed, not yet published
    r = _run(crash, RSFT_FAULT="study:analysis")
    assert r.returncode == -signal.SIGKILL
    assert not (crash / "out" / "tiny" / "report.html").exists()
    # resume to the end
    r = _run(crash)
    assert r.returncode == 0, r.stderr[-3000:]

    a_ref, a_crash = (_analysis(d / "out" / "tiny" / "analysis") for d in (ref, crash))
    assert a_crash == a_ref
    assert _report(crash) == _report(ref)

    assert_each_sample_once(crash)
    # a rerun of a finished study skips every stage
    r = _run(crash)
    assert r.returncode == 0 and "train skipped" in r.stderr and "analysis skipped" in r.stderr, r.stderr
