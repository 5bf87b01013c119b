"""Dataset statistics: rows, lengths with percentiles, thinking/answer lengths, behaviour markers.

Lengths are in tokens when a tokenizer is given, else in characters (the report says which). Percentiles use the
nearest-rank method on the sorted lengths (p50 of [1, 2, 3, 4] is 2), so every reported value is an observed one.
"""

from __future__ import annotations

import math
from typing import Any

from rsft.chat import split_thinking
from rsft.data.markers import MARKER_LEXICON, count_markers
from rsft.data.schemas import SFTRow

PERCENTILES = (50, 90, 99)


def summarize(values: list[int]) -> dict[str, float]:
    """n, mean, min, nearest-rank percentiles and max of ``values`` (empty -> n 0 only)."""
    if not values:
        return {"n": 0}
    s = sorted(values)
    out: dict[str, float] = {"n": len(s), "mean": round(sum(s) / len(s), 2), "min": s[0]}
    for p in PERCENTILES:
        out[f"p{p}"] = s[max(math.ceil(p / 100 * len(s)) - 1, 0)]
    out["max"] = s[-1]
    return out


def data_stats(rows: list[SFTRow], tokenizer: Any = None) -> dict[str, Any]:
    """Statistics of SFT rows (see the module docstring).

    Args:
        rows: the rows.
        tokenizer: a Hugging Face tokenizer; lengths are then token counts (no special tokens added).

    Returns:
        ``rows``, ``unit``, ``lengths`` (prompt, response, thinking, answer: summaries), ``thinking`` (rows with a
        block, unclosed), ``markers`` (per category: total, mean per row, share of rows with one), ``weight_sum``.
    """

    def length(text: str) -> int:
        if tokenizer is None:
            return len(text)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    prompt, response, thinking, answer = [], [], [], []
    has_thinking = unclosed = 0
    marker_totals = {cat: 0 for cat in MARKER_LEXICON}
    marker_rows = {cat: 0 for cat in MARKER_LEXICON}
    for row in rows:
        prompt.append(length("\n".join(m["content"] for m in row.messages)))
        response.append(length(row.response))
        split = split_thinking(row.response)
        if split.has_thinking:
            has_thinking += 1
            unclosed += split.truncated
            thinking.append(length(split.thinking))
        answer.append(length(split.answer))
        for cat, c in count_markers(split.thinking or row.response).items():
            marker_totals[cat] += c
            marker_rows[cat] += c > 0
    n = len(rows)
    return {
        "rows": n,
        "unit": "tokens" if tokenizer is not None else "chars",
        "lengths": {
            "prompt": summarize(prompt),
            "response": summarize(response),
            "thinking": summarize(thinking),
            "answer": summarize(answer),
        },
        "thinking": {"rows_with_thinking": has_thinking, "unclosed": unclosed},
        "markers": {
            cat: {
                "total": marker_totals[cat],
                "per_row": round(marker_totals[cat] / n, 3) if n else 0.0,
                "rows_with": marker_rows[cat],
            }
            for cat in MARKER_LEXICON
        },
        "weight_sum": round(sum(r.weight for r in rows), 6),
    }
