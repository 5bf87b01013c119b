"""Several `rsft eval` processes on one store split the work through leases: each key is generated once, a killed
worker's unit is taken over after its lease expires, and nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from rsft.eval.lease import LeaseBook


def _eval_conftest():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_eval_conftest", Path(__file__).with_name("conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_conf = _eval_conftest()
SUITE, write_checkpoint = _conf.SUITE, _conf.write_checkpoint

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _worker(run: Path, suite: Path, store: Path, ttl: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "rsft.cli.main", "eval", "run", "--run", str(run), "--suite", str(suite)]
    cmd += ["--store", str(store), "--lease-ttl", str(ttl), "--no-progress"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _rows_by_pid(store: Path) -> tuple[Counter, dict[int, set[str]]]:
    keys: Counter = Counter()
    by_pid: dict[int, set[str]] = {}
    for part in (store / "rows").glob("*.parquet"):
        pid = int(part.name.split("-")[2])
        ks = pq.read_table(part, columns=["key"]).column("key").to_pylist()
        keys.update(ks)
        by_pid.setdefault(pid, set()).update(ks)
    return keys, by_pid


def test_three_workers_one_killed_no_key_twice_none_lost(tmp_path, tiny_tokenizer):
    run = tmp_path / "run"
    for i, step in enumerate((0, 10, 20, 30)):
        write_checkpoint(run, step, tiny_tokenizer, seed=i)
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    store = tmp_path / "store"
    ttl = 8.0
    workers = [_worker(run, suite, store, ttl) for _ in range(3)]
    victim = workers[0]
    deadline = time.time() + 240
    while time.time() < deadline:  # kill the first worker once it has written a part (mid-unit)
        if any(p.name.split("-")[2] == str(victim.pid) for p in (store / "rows").glob("*.parquet")):
            break
        if victim.poll() is not None:
            break
        time.sleep(0.05)
    killed = victim.poll() is None
    if killed:
        victim.send_signal(signal.SIGKILL)
    outs = [w.communicate(timeout=600)[0] for w in workers[1:]]
    victim.wait(timeout=60)
    for w, out in zip(workers[1:], outs, strict=True):
        assert w.returncode == 0, out
    expected = 4 * 2 * 3 * 4  # checkpoints x benchmarks x items x samples
    keys, by_pid = _rows_by_pid(store)
    assert len(keys) == expected  # none lost
    twice = {k for k, n in keys.items() if n > 1}
    # only the killed worker's unfinished unit may have been generated twice (the batch in flight is never written)
    detail = {k: sorted(p for p, ks in by_pid.items() if k in ks) for k in twice}
    assert twice <= by_pid.get(victim.pid, set()), (victim.pid, detail, outs)
    assert len(twice) <= 2 * 2  # at most one chunk (batch_size 2) per lost lease
    live = [pid for pid in by_pid if pid != victim.pid]
    assert len(live) >= 1 and sum(len(by_pid[p]) for p in by_pid) >= expected
    print(f"rows by worker: { {p: len(v) for p, v in by_pid.items()} }, killed={killed}, twice={len(twice)}")


def test_lease_exclusive_expiry_and_takeover(tmp_path):
    a, b = LeaseBook(tmp_path, ttl_s=0.5), LeaseBook(tmp_path, ttl_s=0.5)
    la = a.acquire("u1")
    assert la is not None and b.acquire("u1") is None and b.holder("u1") == a.owner
    assert la.renew()
    time.sleep(1.0)  # the heartbeat keeps a live holder's lease
    assert b.acquire("u1") is None
    la._stop.set()  # a stalls (no heartbeat) past its expiry: b takes over with the next generation
    time.sleep(0.6)
    la._stop.clear()
    lb = b.acquire("u1")
    assert lb is not None and lb.generation == la.generation + 1
    assert la.renew() is False  # a learns it lost the unit
    lb.release()
    assert a.holder("u1") is None and a.acquire("u1") is not None


def test_racing_acquires_have_one_winner(tmp_path):
    """Many processes race for one free unit: exactly one gets it."""
    code = (
        "import sys,time; from rsft.eval.lease import LeaseBook;"
        "b=LeaseBook(sys.argv[1], ttl_s=60); t=float(sys.argv[2]);"
        "time.sleep(max(0, t-time.time())); won = b.acquire('race') is not None;"
        "time.sleep(max(0, t + 15 - time.time()));"  # a winner stays alive: a dead local owner's lease is free
        "print('WIN' if won else 'LOSE')"
    )
    start = time.time() + 5.0
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(start)], env=env, stdout=subprocess.PIPE,
                         text=True)
        for _ in range(8)
    ]
    results = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert results.count("WIN") == 1, results


def test_a_dead_local_owner_is_not_waited_out(tmp_path):
    """A killed sweep's lease (same host, process gone) is taken over at once, not after its lifetime."""
    env = {**os.environ, "PYTHONPATH": SRC}
    code = "import sys; from rsft.eval.lease import LeaseBook; assert LeaseBook(sys.argv[1], ttl_s=3600).acquire('u')"
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, check=True, timeout=60)
    book = LeaseBook(tmp_path, ttl_s=3600)
    assert book.holder("u") is not None  # the dead owner's lease has not expired
    assert book.acquire("u") is not None


def test_a_unit_held_elsewhere_is_deferred_and_its_rows_copied_when_they_appear(tmp_path, tiny_tokenizer):
    """Two runs share a base checkpoint. While another worker holds the lease on the base's unit, this sweep does
    its other checkpoints first (not waiting); when the other worker has stored the base's rows under its own run,
    this sweep copies them under its run instead of generating them again."""
    import json
    import shutil
    import threading

    from rsft.eval.config import load_suite
    from rsft.eval.lease import unit_id
    from rsft.eval.plan import discover_checkpoints
    from rsft.eval.runner import build_backend, load_benchmarks, run_sweep
    from rsft.eval.store import Store

    base = write_checkpoint(tmp_path / "runA", 0, tiny_tokenizer, seed=0)
    run_b = tmp_path / "runB"
    (run_b / "checkpoints").mkdir(parents=True)
    shutil.copytree(base, run_b / "checkpoints" / "step_000000")  # the same weights: a shared base
    write_checkpoint(run_b, 10, tiny_tokenizer, seed=1)
    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text(SUITE)
    suite = load_suite(str(suite_path))
    suite.benchmarks = [b for b in suite.benchmarks if b.name == "toy_arith"]  # 3 items x 4 samples
    store = Store(tmp_path / "store")
    targets_a, _ = discover_checkpoints(tmp_path / "runA")
    targets_b, _ = discover_checkpoints(run_b)
    assert targets_a[0].weights_hash == targets_b[0].weights_hash
    # "another worker" (on another host, so never judged dead) holds the base's unit until it lets go (a minute at most)
    version = load_benchmarks(suite)[0].benchmark.version
    unit = unit_id(targets_b[0].weights_hash, "toy_arith", version)
    leases = tmp_path / "store" / "leases"
    leases.mkdir(parents=True, exist_ok=True)
    held = {"owner": "elsewhere:1:x", "unit": unit, "expires": time.time() + 60}
    (leases / f"{unit}.1").write_text(json.dumps(held))

    def other_worker() -> None:  # stores the base's rows under run A while holding the lease, then lets go
        time.sleep(1.0)
        run_sweep(suite, Store(tmp_path / "store"), targets=targets_a, lease_ttl_s=0)
        (leases / f"{unit}.1").write_text(json.dumps({**held, "expires": 0.0}))

    t = threading.Thread(target=other_worker)
    t.start()
    rep = run_sweep(suite, store, build_backend(suite.backend), targets=targets_b)
    t.join()
    rows = store.table().to_pylist()
    mine = sorted((r for r in rows if r["run"] == targets_b[0].run), key=lambda r: r["created_at"])
    assert [r["step"] for r in mine][:12] == [10] * 12  # its own checkpoint first, while the base was held
    assert sorted(r["step"] for r in mine) == [0] * 12 + [10] * 12  # and the base's rows, copied
    assert rep.generated == 12 and rep.reused == 12 and rep.planned == 24
