"""A study through the Ray executor on a real local Ray cluster (``ray start --head``, 2 CPUs), with a worker killed
while it trains and sweeps a run: the same analysis and report as `rsft study` in one process, every sample once.

Skips with the reason where ``ray`` is not installed, unless ``RSFT_REQUIRE_RAY=1`` (set by ``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _tiny_study import _analysis, _report, _write, assert_each_sample_once

REQUIRED = os.environ.get("RSFT_REQUIRE_RAY") == "1"


def _ray_bin() -> str | None:
    here = Path(sys.executable).parent / "ray"
    return str(here) if here.is_file() else shutil.which("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    try:
        import ray  # noqa: F401
    except ImportError:
        if REQUIRED:
            pytest.fail("RSFT_REQUIRE_RAY=1 but ray is not installed")
        pytest.skip("ray is not installed (pip install 'rsft[ray]')")
    ray_bin = _ray_bin()
    port = _free_port()
    tmp = tmp_path_factory.mktemp("ray")
    # a pause after each training step (rsft._util.faults) keeps a run mid-training long enough for the kill test
    # on a quiet machine too; it changes no result
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1",
           "RSFT_FAULT_DELAY": "train:step=0.5"}  # fmt: skip
    r = subprocess.run(
        [ray_bin, "start", "--head", "--num-cpus", "2", "--num-gpus", "0", "--port", str(port),
         "--node-ip-address", "127.0.0.1", "--include-dashboard", "false", "--disable-usage-stats",
         "--temp-dir", str(tmp)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if r.returncode != 0:
        pytest.fail(f"ray start failed: {r.stderr[-2000:]}")
    yield f"127.0.0.1:{port}", env
    # stop this cluster only (`ray stop` would stop every Ray cluster on the machine, another test run's too):
    # its processes are the ones started with this temp dir
    mine = [pid for pid, cmd in _processes() if str(tmp) in cmd]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in mine:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        time.sleep(2)


def _processes() -> list[tuple[int, str]]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                out.append((int(d.name), (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")))
            except OSError:
                continue
    return out


def _task_workers() -> list[int]:
    """Pids of Ray worker processes running an rsft study unit (Ray titles them ``ray::_unit``)."""
    return [pid for pid, cmd in _processes() if cmd.startswith("ray::_unit")]


@pytest.mark.timeout(3000)
def test_ray_executor_gives_the_local_report_after_a_killed_worker(
    ray_cluster, tmp_path, tiny_model_dir, tiny_study_reference
):
    address, env = ray_cluster
    study = tmp_path / "ray"
    _write(study, tiny_model_dir)
    p = subprocess.Popen(
        [sys.executable, "-m", "rsft.cli.main", "study", "study.yaml", "--executor", "ray", "--address", address,
         "--no-progress"],
        cwd=study, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    runs = study / "out" / "tiny" / "runs"
    t0, killed = time.time(), None
    try:
        # kill a worker mid-unit: once a run has a checkpoint past the base and is not finished
        while killed is None:
            assert p.poll() is None, "the study finished before a worker could be killed"
            assert time.time() - t0 < 1500, "no run got past its base checkpoint"
            mid = [d for d in runs.glob("*") if (d / "checkpoints" / "step_000004" / "COMPLETE").is_file()
                   and not (d / "DONE").is_file()] if runs.is_dir() else []  # fmt: skip
            workers = _task_workers()
            if mid and workers:
                killed = workers[0]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.2)
        out, err = p.communicate(timeout=2400)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err[-3000:]
    assert "2 runs as Ray tasks" in err
    assert _analysis(study / "out" / "tiny" / "analysis") == _analysis(tiny_study_reference / "out" / "tiny" / "analysis")
    assert _report(study) == _report(tiny_study_reference)
    assert_each_sample_once(study)


def test_ray_executor_names_a_run_that_fails(ray_cluster, tmp_path, tiny_model_dir):
    """A run whose training raises is named with its error (not retried as a dead worker); exit 2."""
    address, env = ray_cluster
    study = tmp_path / "bad"
    _write(study, tiny_model_dir)
    # one run's data file does not exist: training that run raises inside its Ray task (the other run trains)
    text = (study / "study.yaml").read_text()
    nocot = "cd-nocot: {build: {task: countdown, n: 96, seed: 1, style: cot, variant: nocot}, quality: no-cot}"
    assert nocot in text
    (study / "study.yaml").write_text(text.replace(nocot, "cd-nocot: {path: missing/nocot.parquet, quality: no-cot}"))
    r = subprocess.run(
        [sys.executable, "-m", "rsft.cli.main", "study", "study.yaml", "--executor", "ray", "--address", address,
         "--no-progress"],
        cwd=study, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr[-3000:]
    assert "1 of 2 runs failed as Ray tasks" in r.stderr, r.stderr[-3000:]
    assert "micro_cd-nocot" in r.stderr and "missing/nocot.parquet" in r.stderr, r.stderr[-3000:]
    assert not (study / "out" / "tiny" / "report.html").exists()


@pytest.mark.timeout(2400)
def test_rsft_eval_on_ray_workers_stores_the_rows_of_a_local_sweep_once(ray_cluster, tmp_path, tiny_study_reference):
    """`rsft eval --run RUN --executor ray --workers 2`: the two Ray workers split the run's checkpoint x benchmark
    units through the store's leases; the store ends with exactly the rows the study's own sweep stored for that run
    (same keys, same responses), each once."""
    import duckdb

    address, env = ray_cluster
    ref = tiny_study_reference / "out" / "tiny"
    run = sorted((ref / "runs").iterdir())[0]
    store = tmp_path / "store"
    r = subprocess.run(
        [sys.executable, "-m", "rsft.cli.main", "eval", "--run", str(run), "--suite",
         str(tiny_study_reference / "suite.yaml"), "--store", str(store), "--executor", "ray", "--workers", "2",
         "--address", address, "--no-progress"],
        cwd=tiny_study_reference, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    con = duckdb.connect()
    got = con.execute(
        f"SELECT key, response FROM read_parquet('{store}/rows/*.parquet') ORDER BY key"
    ).fetchall()
    want = con.execute(
        f"SELECT key, response FROM read_parquet('{ref}/store/rows/*.parquet') WHERE run = '{run.name}' ORDER BY key"
    ).fetchall()
    assert len(got) == len({k for k, _ in got}) == 3 * 3 * 8  # 3 checkpoints x 3 benchmarks x 8 items, once each
    assert got == want
    assert "72 planned rows" in " ".join(r.stderr.split()) and "72 generated" in " ".join(r.stderr.split())
