"""From a response to a row's outcome and score: thinking split, truncation, scorer failures.

One outcome per response (:data:`rsft.eval.schema.OUTCOMES`):

- ``error``: an infrastructure failure: the backend failed (``finish_reason == "error"``), the scorer said it
  could not score (NaN: a judge whose output could not be read, a judge backend that failed, a sandbox that could
  not start the program) or raised an ``OSError`` (disk, network). Score NaN, the error kept on the row; left out
  of every mean and counted, and a sweep with more than ``max_error_rate`` of such rows fails
  (:func:`rsft.eval.runner.check_errors`).
- A scorer that reads only the response (``Benchmark.scorer_failure == "wrong"``: math, multiple choice, code,
  instructions) and raises anything else was broken by that response (its only input that varies): the row keeps
  its outcome and scores **0** (``score_reason = "scorer_error"``, the exception in ``error``), so a response
  cannot raise a mean by breaking its scorer. Such rows count towards the same threshold, so a scorer bug cannot
  hide as zeros either. Judged, safety and reward-scale benchmarks keep a scorer's exception as an ``error`` row
  (the judge failed, or 0 would claim harm).
- ``truncated``: the response was cut by the length limit (``finish_reason == "length"``) — decided by the finish
  reason, never by the text. Its score follows the benchmark's ``truncated`` policy
  (:attr:`rsft.bench.base.Benchmark.outcome_policy`): ``wrong`` = 0 without calling the scorer; ``paper`` = the
  scorer sees whatever text there was (the whole response, as the paper's released code ran math-verify on it);
  ``judged`` = the scorer judges the visible answer and the row stays flagged ``truncated``.
- ``no_answer``: the response ended without an answer: it stopped inside its thinking block, or the scorer found no
  answer (``reason == "no_answer"``). Under the ``wrong`` policy the scorer's 0 stands (a thinking block that never
  closed is never parsed as an answer); ``paper`` and ``judged`` score it as for ``truncated``.
- ``ok``: an answer was found and scored.

Where the thinking block starts matters: a chat template may open ``<think>`` in the prompt (DeepSeek-R1 distills
do), so the response starts *inside* thinking and holds at most ``</think>``. :func:`prompt_opens_thinking` reads
that from the rendered prompt; without it a response that never closed its thinking would be taken for an answer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from rsft.chat import THINK_CLOSE, THINK_OPEN, ThinkSplit, prompt_opens_thinking, split_thinking
from rsft.tasks.base import Sample, ScoreRecord

DEFAULT_MAX_ERROR_RATE = 0.05  # a sweep whose error + scorer-error rows pass 5% of its new rows fails


@dataclass
class Scored:
    outcome: str
    score: float
    extracted: str | None
    reason: str
    meta: str | None
    error: str | None = None


def response_split(text: str, prompt: str | None = None) -> ThinkSplit:
    """:func:`rsft.chat.split_thinking` of a response, starting inside thinking when the prompt opened it."""
    if prompt_opens_thinking(prompt) and not text.lstrip().startswith(THINK_OPEN):
        return split_thinking(THINK_OPEN + text)
    return split_thinking(text)


def _plan(benchmark: Any, text: str, finish: str, prompt: str | None) -> tuple[str, str | None]:
    """(base outcome, text the scorer sees or None for "do not call the scorer") of one finished response."""
    policy = benchmark.outcome_policy
    split = response_split(text, prompt)
    visible = text if benchmark.score_on == "full" else split.answer
    if finish == "length":
        outcome, rule = "truncated", policy["truncated"]
    elif split.truncated:
        outcome, rule = "no_answer", policy["no_answer"]
    else:
        return "ok", visible
    if rule == "paper":
        return outcome, text
    if rule == "judged":
        return outcome, visible
    return outcome, None


def _finish(rec: ScoreRecord, outcome: str) -> Scored:
    meta = json.dumps(rec.metadata, default=str, ensure_ascii=False) if rec.metadata else None
    if rec.value is None or math.isnan(rec.value):
        why = rec.metadata.get("judge_error") if rec.metadata else None
        error = f"unscored: {rec.reason}" + (f" (judge backend: {why})" if why else "")
        return Scored("error", math.nan, rec.answer, rec.reason, meta, error)
    if outcome == "ok" and rec.reason == "no_answer":
        outcome = "no_answer"
    return Scored(outcome, float(rec.value), rec.answer, rec.reason, meta)


def _scorer_error(benchmark: Any, e: Exception, outcome: str) -> Scored:
    """An exception from the scorer: the environment's (``OSError``) or a judge's (the benchmark's
    ``scorer_failure`` is "excluded") is an excluded error row; otherwise the response broke the scorer: 0, the
    exception kept."""
    text = f"scorer: {type(e).__name__}: {str(e)[:500]}"
    if isinstance(e, OSError) or getattr(benchmark, "scorer_failure", "excluded") != "wrong":
        return Scored("error", math.nan, None, "scorer_error", None, text)
    return Scored(outcome, 0.0, None, "scorer_error", None, text)


def score_responses(benchmark: Any, items: list[tuple]) -> list[Scored]:
    """Score many ``(sample, text, finish_reason, error[, prompt])`` at once through ``benchmark.score_many``
    (judges and sandboxes batch there). ``prompt`` is the rendered prompt (None: it opened no thinking block).
    When the batch call raises, items are rescored one by one so that only the failing ones are marked (see the
    module docstring for what a scorer's exception scores)."""
    out: list[Scored | None] = [None] * len(items)
    todo: list[tuple[int, str]] = []
    pairs: list[tuple[Sample, str]] = []
    for i, (sample, text, finish, error, *rest) in enumerate(items):
        if finish == "error":
            out[i] = Scored("error", math.nan, None, "backend_error", None, error or "unknown backend error")
            continue
        outcome, seen = _plan(benchmark, text or "", finish, rest[0] if rest else None)
        if seen is None:
            out[i] = Scored(outcome, 0.0, None, outcome, None)
            continue
        todo.append((i, outcome))
        pairs.append((sample, seen))
    if pairs:
        try:
            recs = list(benchmark.score_many(pairs))
            if len(recs) != len(pairs):
                raise ValueError(f"score_many returned {len(recs)} records for {len(pairs)} responses")
            results = [_finish(r, o) for (_, o), r in zip(todo, recs, strict=True)]
        except Exception:  # noqa: BLE001 - isolate the failing items
            results = []
            for (_, o), (sample, seen) in zip(todo, pairs, strict=True):
                try:
                    results.append(_finish(benchmark.score(sample, seen), o))
                except Exception as e:  # noqa: BLE001 - a scorer failure becomes a row, not a crashed sweep
                    results.append(_scorer_error(benchmark, e, o))
        for (i, _), r in zip(todo, results, strict=True):
            out[i] = r
    return out  # type: ignore[return-value]


def score_response(
    benchmark: Any,
    sample: Sample,
    text: str,
    finish_reason: str,
    error: str | None = None,
    prompt: str | None = None,
) -> Scored:
    """Score one response with ``benchmark`` (see the module docstring for the outcomes).

    Args:
        benchmark: the benchmark (its scorer and outcome policy).
        sample: the item.
        text: the response as generated.
        finish_reason: "stop", "length" (cut by the length limit) or "error".
        error: the backend's error text for ``finish_reason == "error"``.
        prompt: the rendered prompt; when it ends inside an open thinking block, so does the response's start.
    """
    return score_responses(benchmark, [(sample, text, finish_reason, error, prompt)])[0]


def token_split(text: str, n_tokens: int, count: Any = None, prompt: str | None = None) -> tuple[int, int]:
    """(thinking tokens, answer tokens) of a response of ``n_tokens`` tokens.

    With a tokenizer-backed ``count`` the thinking part is tokenized; otherwise (remote backends without a
    tokenizer) tokens are split in proportion to characters — an estimate, stated in the docs. A response to a
    prompt that opened the thinking block starts inside it.
    """
    split = response_split(text, prompt)
    if not split.has_thinking:
        return 0, n_tokens
    if split.truncated:
        return n_tokens, 0
    end = text.rfind(THINK_CLOSE) + len(THINK_CLOSE)
    counted = count(text[:end]) if count is not None else None  # None: a backend without a tokenizer
    if counted is not None:
        thinking = min(counted, n_tokens)
    else:
        thinking = round(n_tokens * end / max(len(text), 1))
    return thinking, n_tokens - thinking
