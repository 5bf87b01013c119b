"""False- and true-positive rates of the math scoring modes on GSM8K solutions whose correctness is known.

Run: ``python scripts/measure_math_modes.py [--rows N] [--json OUT.json]`` (reads
``../shared/benchmarks/gsm8k/{test,example_model_solutions}.jsonl``, or ``--data DIR``).

``example_model_solutions.jsonl`` holds, for each of the 1,319 GSM8K test questions, four GPT-3 solutions (6B / 175B,
fine-tuned / with a verifier) and ``is_correct`` (OpenAI's automatic check of the final answer). Each solution is
scored as a response, through rsft's own path (:func:`rsft.eval.scoring.score_response`: thinking split, then the
benchmark's scorer), under four renderings:

- ``as written``: the solution text, final line ``A: X``.
- ``boxed``: that final line written as the math prompt asks, ``The answer is \\boxed{X}.``
- ``thinking + boxed answer``: ``<think>`` another model's solution to the same question (boxed) ``</think>`` then
  this solution (boxed) — a long-CoT response whose thinking tried an answer and whose final answer is this one.
- ``thinking + unboxed answer``: the same thinking, then this solution as written (final answer not boxed).

A response is known-wrong when this solution's ``is_correct`` is false (its final answer is wrong, whatever the
thinking held). Scorers: ``math-verify (protocol)`` — math-verify on the whole response, as the paper scored
MATH-500 / AIME (rsft's ``math500`` in protocol mode); ``gsm8k protocol`` — rsft's GSM8K grader (math-verify on a
boxed answer, else the last answer statement, else the last number) on the whole response; ``strict`` — the last
``\\boxed{}`` after the thinking (rsft's ``mode: strict``). FP = share of known-wrong responses scored correct;
TP = share of known-right ones scored correct; both with exact (Clopper-Pearson) 95% intervals.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path

MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
RENDERINGS = ("as written", "boxed", "thinking + boxed answer", "thinking + unboxed answer")
_FINAL = re.compile(r"\nA:\s*([^\n]*?)\s*$")


def boxed(solution: str) -> str:
    """The solution with its final ``A: X`` line written as ``The answer is \\boxed{X}.`` (unchanged without one)."""
    m = _FINAL.search(solution)
    if m is None:
        return solution
    return solution[: m.start()] + f"\nThe answer is \\boxed{{{m.group(1)}}}."


def render(kind: str, this: str, other: str) -> str:
    if kind == "as written":
        return this
    if kind == "boxed":
        return boxed(this)
    final = boxed(this) if kind == "thinking + boxed answer" else this
    return f"<think>\n{boxed(other)}\n</think>\n\n{final}"


def cases(data: Path, n_rows: int | None) -> list[tuple[str, str, bool, str]]:
    """(gold, response rendering kind, known correct, response) for every row, model and rendering."""
    sols = [json.loads(line) for line in (data / "example_model_solutions.jsonl").open()]
    test = [json.loads(line) for line in (data / "test.jsonl").open()]
    out = []
    for r, t in list(zip(sols, test, strict=True))[:n_rows]:
        if r["question"] != t["question"]:
            raise SystemExit("example_model_solutions.jsonl and test.jsonl are not in the same order")
        gold = t["answer"].split("####")[-1].strip().replace(",", "")
        for i, m in enumerate(MODELS):
            this, other = r[m]["solution"], r[MODELS[(i + 1) % len(MODELS)]]["solution"]
            for kind in RENDERINGS:
                out.append((gold, kind, bool(r[m]["is_correct"]), render(kind, this, other)))
    return out


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
        for i in range(k + 1)
    ]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def _solve(f, target: float) -> float:
    """p in [0, 1] with f(p) = target for a decreasing f (bisection)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) > target else (lo, mid)
    return (lo + hi) / 2


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided interval of a binomial proportion k / n."""
    if n == 0:
        return (math.nan, math.nan)
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else _solve(lambda p: _binom_cdf(k - 1, n, p), 1 - a)
    hi = 1.0 if k == n else _solve(lambda p: _binom_cdf(k, n, p), a)
    return lo, hi


def scorers() -> dict:
    from rsft.bench.gsm8k import Gsm8k
    from rsft.bench.math500 import Math500

    return {"math-verify (protocol)": Math500(), "gsm8k protocol": Gsm8k(), "strict": Math500(mode="strict")}


def measure(data: Path, n_rows: int | None = None) -> dict:
    """{scorer: {rendering: {"fp": .., "fp_ci": .., "n_wrong": .., "tp": .., "tp_ci": .., "n_right": ..}}}."""
    from rsft.eval.scoring import score_response
    from rsft.tasks.base import Sample

    rows = cases(data, n_rows)
    out: dict = {}
    for name, bench in scorers().items():
        counts: dict[str, list[int]] = {k: [0, 0, 0, 0] for k in RENDERINGS}  # fp, n_wrong, tp, n_right
        for gold, kind, correct, text in rows:
            hit = score_response(bench, Sample("gsm8k/x", "", gold), text, "stop").score == 1.0
            c = counts[kind]
            if correct:
                c[2] += hit
                c[3] += 1
            else:
                c[0] += hit
                c[1] += 1
        out[name] = {
            kind: {
                "fp": fp / max(nw, 1),
                "fp_ci": clopper_pearson(fp, nw),
                "n_wrong": nw,
                "tp": tp / max(nr, 1),
                "tp_ci": clopper_pearson(tp, nr),
                "n_right": nr,
            }
            for kind, (fp, nw, tp, nr) in counts.items()
        }
    return out


def markdown(res: dict) -> str:
    lines = ["| scorer | rendering | FP (known-wrong scored correct) | TP (known-right scored correct) |"]
    lines.append("|---|---|---|---|")
    for name, by in res.items():
        for kind, r in by.items():
            fp = f"{r['fp']:.4f} [{r['fp_ci'][0]:.4f}, {r['fp_ci'][1]:.4f}] of {r['n_wrong']}"
            tp = f"{r['tp']:.4f} [{r['tp_ci'][0]:.4f}, {r['tp_ci'][1]:.4f}] of {r['n_right']}"
            lines.append(f"| {name} | {kind} | {fp} | {tp} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "gsm8k"
    ap.add_argument("--data", type=Path, default=here)
    ap.add_argument("--rows", type=int, default=None, help="first N questions only (default all 1,319)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = measure(args.data, args.rows)
    print(markdown(res))
    print(
        f"\n{args.rows or 'all'} questions x {len(MODELS)} solutions, {time.perf_counter() - t0:.0f}s",
        file=sys.stderr,
    )
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
