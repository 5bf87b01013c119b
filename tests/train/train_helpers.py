"""Helpers shared by the training tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path


def make_rows(n: int, *, long_every: int = 0) -> list[dict]:
    """n rows of toy arithmetic with a <think> block; every ``long_every``-th row gets a long response."""
    rows = []
    for i in range(n):
        a, b = i % 7, (3 * i) % 5
        think = f"{a}+{b}={a + b}. Verify: {a + b}." * (8 if long_every and i % long_every == 0 else 1)
        rows.append(
            {
                "messages": [{"role": "user", "content": f"Compute {a}+{b}."}],
                "response": f"<think>{think}</think> The answer is {a + b}",
                "weight": 1.0 + (i % 3) / 2,
                "id": f"r{i}",
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
