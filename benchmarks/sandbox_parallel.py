"""Sandbox throughput: HumanEval's 164 canonical solutions with 1 worker vs 2 workers (target >= 1.5x).

Run: ``python benchmarks/sandbox_parallel.py [--data ../shared/benchmarks/humaneval/HumanEval.jsonl]``.
Both runs happen in this process, one after the other, so the ratio compares like with like; a warm-up run
(not timed) comes first. Prints seconds per run and the speed-up; exits 1 when a solution fails.
"""

from __future__ import annotations

import argparse
import os
import time

from rsft.bench.humaneval import HumanEval, build_program
from rsft.sandbox import Sandbox, SandboxLimits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="HumanEval.jsonl (default: the shared benchmarks copy)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per worker count (best is kept)")
    args = ap.parse_args()
    opts = {"path": args.data} if args.data else {}
    samples = HumanEval(**opts).load()
    built = [build_program(s, s.metadata["prompt"] + s.metadata["canonical_solution"]) for s in samples]
    programs = [b[0] if isinstance(b, tuple) else b for b in built]  # humaneval v3: (program, how it was built)
    limits = SandboxLimits(wall_s=30)
    Sandbox(limits, workers=2).run_many(programs[:16])  # warm-up: page cache, imports
    best = {}
    for workers in (1, 2):
        sb = Sandbox(limits, workers=workers)
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            results = sb.run_many(programs)
            times.append(time.perf_counter() - t)
            failed = [s.id for s, r in zip(samples, results, strict=True) if not r.ok]
            if failed:
                raise SystemExit(f"{len(failed)} canonical solutions failed: {failed[:5]}")
        best[workers] = min(times)
        print(
            f"workers={workers}: {len(programs)} programs, best of {args.repeats}: {best[workers]:.2f} s "
            f"({len(programs) / best[workers]:.1f} programs/s)"
        )
    print(
        f"speed-up 2 vs 1 workers: {best[1] / best[2]:.2f}x (target >= 1.5x) on {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f}; isolation {results[0].isolation}"
    )


if __name__ == "__main__":
    main()
