"""From a response to a row's outcome and score: thinking split, truncation, scorer failures.

Outcomes (see :data:`rsft.eval.schema.OUTCOMES`):
- ``error``: the backend failed (``finish_reason == "error"``) or the scorer raised; score 0, error kept.
- ``truncated``: an unclosed thinking block, or ``max_new_tokens`` reached with no answer found; score 0, and the
  scorer never sees a thinking block that did not close.
- ``unscored``: the scorer returned NaN (kept, left out of metrics).
- ``ok``: scored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from rsft.chat import split_thinking
from rsft.tasks.base import Sample, ScoreRecord


@dataclass
class Scored:
    outcome: str
    score: float
    extracted: str | None
    reason: str
    meta: str | None
    error: str | None = None


def text_to_score(benchmark: Any, text: str) -> str | None:
    """The text the benchmark's scorer sees, or None when the thinking block never closed."""
    split = split_thinking(text)
    if split.truncated:
        return None
    return text if benchmark.score_on == "full" else split.answer


def score_response(
    benchmark: Any, sample: Sample, text: str, finish_reason: str, error: str | None = None
) -> Scored:
    """Score one response with ``benchmark`` (see the module docstring for the outcomes)."""
    if finish_reason == "error":
        return Scored("error", 0.0, None, "backend_error", None, error or "unknown backend error")
    seen = text_to_score(benchmark, text)
    if seen is None:
        return Scored("truncated", 0.0, None, "truncated", None)
    try:
        rec: ScoreRecord = benchmark.score(sample, seen)
    except Exception as e:  # noqa: BLE001 - a scorer failure becomes a row, not a crashed sweep
        return Scored("error", 0.0, None, "scorer_error", None, f"scorer: {type(e).__name__}: {e}")
    meta = json.dumps(rec.metadata, default=str, ensure_ascii=False) if rec.metadata else None
    if finish_reason == "length" and rec.answer is None:
        return Scored("truncated", 0.0, None, "truncated", meta)
    if rec.value is None or math.isnan(rec.value):
        return Scored("unscored", math.nan, rec.answer, rec.reason, meta)
    return Scored("ok", float(rec.value), rec.answer, rec.reason, meta)


def token_split(text: str, n_tokens: int, count: Any = None) -> tuple[int, int]:
    """(thinking tokens, answer tokens) of a response of ``n_tokens`` tokens.

    With a tokenizer-backed ``count`` the thinking part is tokenized; otherwise (remote backends without a
    tokenizer) tokens are split in proportion to characters — an estimate, stated in the docs.
    """
    split = split_thinking(text)
    if not split.has_thinking:
        return 0, n_tokens
    if split.truncated:
        return n_tokens, 0
    end = text.rfind("</think>") + len("</think>")
    if count is not None:
        thinking = min(count(text[:end]), n_tokens)
    else:
        thinking = round(n_tokens * end / max(len(text), 1))
    return thinking, n_tokens - thinking
