"""Sandbox per-program overhead: trivial programs one after another (1 worker), plain and tested mode.

Run: ``python benchmarks/sandbox_overhead.py [-n 20]``. Prints, per mode, the median wall time per program and
the CPU time per program (user + system of every process the sandbox started, from ``RUSAGE_CHILDREN``: on a
shared machine the CPU figure moves far less with the other load than the wall figure). To compare two versions,
run it under each one's ``PYTHONPATH`` alternately (A B A B ...) on the same machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

from rsft.sandbox import Program, Sandbox, SandboxLimits


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20, help="programs per mode")
    args = ap.parse_args()
    sb = Sandbox(SandboxLimits(wall_s=30), workers=1)
    sb.run("print(1)")  # warm-up: page cache, imports
    modes = {
        "plain": Program("print(1)"),
        "tested": Program("def f(x):\n    return x + 1\n", tests="assert f(1) == 2\n", exports=["f"]),
    }
    for name, prog in modes.items():
        walls, c0 = [], _cpu()
        for _ in range(args.n):
            t = time.perf_counter()
            r = sb.run_program(prog)
            walls.append(time.perf_counter() - t)
            if not r.ok:
                raise SystemExit(f"{name}: {r.status}: {r.stderr[-500:]}")
        cpu = (_cpu() - c0) / args.n
        print(
            f"{name}: n={args.n}, wall median {statistics.median(walls) * 1000:.0f} ms "
            f"(sd {statistics.stdev(walls) * 1000:.0f}), CPU {cpu * 1000:.0f} ms per program"
        )
    print(f"load average {os.getloadavg()[0]:.1f}; isolation {r.isolation}")


if __name__ == "__main__":
    main()
