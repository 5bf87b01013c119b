"""toy_sort: sort a list of digits, or give its minimum or maximum (the toy procedural, out-of-domain task).

Prompts ``sort 5 3 9 1`` / ``min 5 3 9 1`` / ``max 5 3 9 1``. The ``<think>`` trace is the procedure itself:
insertion sort, one partial list per line (``5`` / ``3 5`` / ``3 5 9`` / ``1 3 5 9``), or the running minimum or
maximum. Answers are space-separated digits; commas are accepted when scoring.
"""

from __future__ import annotations

import re
from typing import Any

from rsft.tasks._answer import ToyTask
from rsft.tasks.base import Sample, ScoreRecord


class SortTask(ToyTask):
    """Settings: ``ops`` (subset of sort/min/max), ``min_len``/``max_len`` of the list, ``max_digit``."""

    name = "toy_sort"
    version = 1
    defaults = {"ops": ("sort", "min", "max"), "min_len": 4, "max_len": 6, "max_digit": 9}

    def _make(self, rng: Any, s: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        op = rng.choice(list(s["ops"]))
        items = [rng.randint(0, s["max_digit"]) for _ in range(rng.randint(s["min_len"], s["max_len"]))]
        if op == "sort":
            target = " ".join(str(x) for x in sorted(items))
        else:
            target = str(min(items) if op == "min" else max(items))
        return f"{op} {' '.join(str(x) for x in items)}", target, {"op": op, "items": items}

    def _thinking(self, sample: Sample) -> str:
        op, items = sample.metadata["op"], sample.metadata["items"]
        lines: list[str] = []
        if op == "sort":
            done: list[int] = []
            for x in items:
                done = sorted([*done, x])
                lines.append(" ".join(str(v) for v in done))
        else:
            best = items[0]
            for x in items:
                best = min(best, x) if op == "min" else max(best, x)
                lines.append(f"{x}:{best}")
        return "\n".join(lines)

    def _fallback(self, text: str) -> str | None:
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else None

    def _check(self, sample: Sample, answer: str) -> ScoreRecord:
        parts = re.split(r"[\s,]+", answer.strip(" []"))
        if not all(p.isdigit() for p in parts):
            return ScoreRecord(0.0, answer, "parse_error")
        ok = [int(p) for p in parts] == [int(p) for p in sample.target.split()]
        return ScoreRecord(1.0 if ok else 0.0, answer, "correct" if ok else "wrong_value")
