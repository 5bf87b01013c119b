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


def _finish(rec: ScoreRecord, finish_reason: str) -> Scored:
    meta = json.dumps(rec.metadata, default=str, ensure_ascii=False) if rec.metadata else None
    if finish_reason == "length" and rec.answer is None:
        return Scored("truncated", 0.0, None, "truncated", meta)
    if rec.value is None or math.isnan(rec.value):
        return Scored("unscored", math.nan, rec.answer, rec.reason, meta)
    return Scored("ok", float(rec.value), rec.answer, rec.reason, meta)


def _scorer_error(e: Exception) -> Scored:
    return Scored("error", 0.0, None, "scorer_error", None, f"scorer: {type(e).__name__}: {e}")


def score_responses(benchmark: Any, items: list[tuple[Sample, str, str, str | None]]) -> list[Scored]:
    """Score many ``(sample, text, finish_reason, error)`` at once through ``benchmark.score_many`` (judges and
    sandboxes batch there). When the batch call raises, items are rescored one by one so that only the failing
    ones become ``error`` rows."""
    out: list[Scored | None] = [None] * len(items)
    todo: list[int] = []
    pairs: list[tuple[Sample, str]] = []
    for i, (sample, text, finish, error) in enumerate(items):
        if finish == "error":
            out[i] = Scored("error", 0.0, None, "backend_error", None, error or "unknown backend error")
            continue
        seen = text_to_score(benchmark, text)
        if seen is None:
            out[i] = Scored("truncated", 0.0, None, "truncated", None)
            continue
        todo.append(i)
        pairs.append((sample, seen))
    if pairs:
        try:
            recs = list(benchmark.score_many(pairs))
            if len(recs) != len(pairs):
                raise ValueError(f"score_many returned {len(recs)} records for {len(pairs)} responses")
            results = [_finish(r, items[i][2]) for i, r in zip(todo, recs, strict=True)]
        except Exception:  # noqa: BLE001 - isolate the failing items
            results = []
            for i, (sample, seen) in zip(todo, pairs, strict=True):
                try:
                    results.append(_finish(benchmark.score(sample, seen), items[i][2]))
                except Exception as e:  # noqa: BLE001 - a scorer failure becomes a row, not a crashed sweep
                    results.append(_scorer_error(e))
        for i, r in zip(todo, results, strict=True):
            out[i] = r
    return out  # type: ignore[return-value]


def score_response(
    benchmark: Any, sample: Sample, text: str, finish_reason: str, error: str | None = None
) -> Scored:
    """Score one response with ``benchmark`` (see the module docstring for the outcomes)."""
    return score_responses(benchmark, [(sample, text, finish_reason, error)])[0]


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
