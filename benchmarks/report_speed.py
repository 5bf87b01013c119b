"""`rsft analyze` + `rsft report` on a 2 M-row synthetic store: target < 30 s total and < 4 GB peak RSS.

Store: 1 run x 100 checkpoints x 10 benchmarks x 500 items x 4 samples (2,000,000 rows, ROW_SCHEMA). Both
commands run as child processes (the real CLI); their wall time and peak RSS are printed, with a baseline
measured in the same run: one DuckDB scan that aggregates every row (the least any analysis must do).

Run: ``python benchmarks/report_speed.py [--keep DIR] [--checkpoints 100 --items 500 ...]``.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rsft.analysis.synthetic import make_store

GROUPS = [
    "math",
    "math",
    "math",
    "reasoning",
    "reasoning",
    "code",
    "knowledge",
    "general",
    "safety",
    "overrefusal",
]


def curve(run: str, bench: str, step: int) -> float:
    i = int(bench.split("_")[1])
    return 0.45 + 0.1 * math.sin(step / 30 + i) - (0.1 if GROUPS[i] == "safety" else 0.0)


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in GB) of a child process.

    ``ru_maxrss`` of RUSAGE_CHILDREN is the largest child so far, so it bounds each command's peak from above.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    secs = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return secs, cpu, after.ru_maxrss / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", type=int, default=100)
    ap.add_argument("--benchmarks", type=int, default=10)
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--keep", type=Path, default=None, help="keep the store and outputs here")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="rsft_report_speed_"))
    store = root / "store"
    benches = {f"bench_{i}": GROUPS[i % len(GROUPS)] for i in range(args.benchmarks)}
    steps = [10 * s for s in range(args.checkpoints)]
    t = time.perf_counter()
    if not (store / "rows").is_dir():
        make_store(store, ["run"], steps, benches, args.items, args.samples, curve, seed=0, parts=8)
    rows = args.checkpoints * args.benchmarks * args.items * args.samples
    print(f"store: {rows:,} rows ({time.perf_counter() - t:.1f} s to write) in {store}")
    env_py = sys.executable
    scan = (
        "import duckdb,sys; duckdb.execute('SET enable_progress_bar=false'); duckdb.sql(\"SELECT run, step, benchmark, item_id, avg(score), sum(n_tokens), "
        'count(*) FROM read_parquet(\'" + sys.argv[1] + "/rows/*.parquet\') GROUP BY ALL").fetchall()'
    )
    load = os.getloadavg()[0]
    base_s, base_cpu, base_gb = timed([env_py, "-c", scan, str(store)])
    rsft = [env_py, "-m", "rsft.cli.main"]
    a_s, a_cpu, a_gb = timed([*rsft, "analyze", str(store), "--out", str(root / "analysis")])
    r_s, r_cpu, r_gb = timed([*rsft, "report", str(root / "analysis"), "--out", str(root / "report.html")])
    total = a_s + r_s
    print(
        f"baseline DuckDB aggregate scan: {base_s:.2f} s wall, {base_cpu:.2f} s CPU, peak RSS {base_gb:.2f} GB"
    )
    print(f"rsft analyze: {a_s:.2f} s wall ({a_s / base_s:.1f}x baseline), {a_cpu:.2f} s CPU")
    print(f"rsft report:  {r_s:.2f} s wall, {r_cpu:.2f} s CPU")
    print(
        f"total: {total:.2f} s wall (target < 30 s), {a_cpu + r_cpu:.2f} s CPU; peak RSS {max(a_gb, r_gb):.2f} GB"
    )
    print(f"cores: {os.cpu_count()}, load average at start {load:.1f} (others' work slows wall time)")
    print(f"report: {root / 'report.html'}")
    ok = total < 30 and max(a_gb, r_gb) < 4
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
