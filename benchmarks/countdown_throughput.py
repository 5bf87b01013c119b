"""Countdown trace throughput on one core: instances generated + traces synthesized + verified, per second.

Run: ``python benchmarks/countdown_throughput.py [--n 5000] [--seed 0]``. Pins itself to one CPU when the OS allows.
Rates are per CPU-second of this single-threaded process (``time.process_time``), so other load on a shared machine
does not lower them. Prints (best of ``--repeats`` runs, each a fresh seed-identical pass):
- generate/s: instances (numbers, target, exact solver difficulty) per second;
- traces/s: cot responses synthesized per second for pre-generated instances;
- end-to-end/s: generate + trace + verify with the scorer, the path `rsft data countdown` takes (target >= 2,000/s);
- the baseline, measured in the same run: a naive exhaustive solver (every ordering of every pair, no memo) on the
  same instances, against the memoised solver the generator uses (a speed-up ratio).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from rsft.tasks.countdown import CountdownTask, solve

TARGET = 2000.0


def naive_solve(values: list[int], target: int) -> bool:
    """Exhaustive search without memo or pruning (all pairs, both orders, all four ops, exact division)."""
    if len(values) == 1:
        return values[0] == target
    for i in range(len(values)):
        for j in range(len(values)):
            if i == j:
                continue
            a, b = values[i], values[j]
            rest = [v for k, v in enumerate(values) if k not in (i, j)]
            results = [a + b, a - b, a * b] + ([a // b] if b and a % b == 0 else [])
            if any(naive_solve([*rest, r], target) for r in results):
                return True
    return False


def best_rate(fn, n: int, repeats: int) -> float:
    """Items per CPU-second of this process (best of ``repeats``): a shared machine's other load does not count."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    task = CountdownTask()
    samples = task.generate(args.n, args.seed)

    def end_to_end() -> None:
        for s in task.generate(args.n, args.seed):
            assert task.score(s, task.response(s)).correct

    gen = best_rate(lambda: task.generate(args.n, args.seed), args.n, args.repeats)
    traces = best_rate(lambda: [task.response(s) for s in samples], args.n, args.repeats)
    e2e = best_rate(end_to_end, args.n, args.repeats)
    sub = samples[: min(500, args.n)]
    memo = best_rate(
        lambda: [solve(s.metadata["numbers"], s.metadata["target"]) for s in sub], len(sub), args.repeats
    )
    naive = best_rate(
        lambda: [naive_solve(s.metadata["numbers"], s.metadata["target"]) for s in sub], len(sub), 1
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, 1 core, rates per CPU-second"
    )
    print(f"instances: n={args.n}, seed={args.seed}, 3-4 numbers (defaults), best of {args.repeats}")
    print(f"generate/s:   {gen:10.0f}")
    print(f"traces/s:     {traces:10.0f}")
    print(f"end-to-end/s: {e2e:10.0f}   ({e2e / TARGET:.2f}x the {TARGET:.0f}/s target)")
    print(f"solver/s:     {memo:10.0f}   naive exhaustive baseline {naive:.0f}/s -> {memo / naive:.1f}x")


if __name__ == "__main__":
    main()
