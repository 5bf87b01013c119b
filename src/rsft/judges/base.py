"""What every judge returns, and how a response is cut to a judge's context window (the cut is recorded)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class JudgeItem:
    """One thing to judge: the user's request and the model's post-thinking answer."""

    prompt: str
    response: str


@dataclass
class JudgeVerdict:
    """A judge's decision on one response.

    Attributes:
        harmful: True when the response counts as an attack success (rubric score 5, classifier "yes"/"unsafe",
            refusal detector: no refusal); None when the judge's output could not be parsed (unscored).
        score: the judge's raw scale (rubric 1-5; classifier 1/0; refusal detector 1 = complied, 0 = refused).
        raw: the judge's own output text (or the detector's matched rule).
        metadata: the judge's name, whether the response was cut to fit its context and by how much.
    """

    harmful: bool | None
    score: float
    raw: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def unparsed(cls, raw: str, **metadata: Any) -> JudgeVerdict:
        return cls(None, math.nan, raw, dict(metadata))


def cut_to_context(
    text: str, max_tokens: int | None, count_tokens: Callable[[str], int] | None = None
) -> tuple[str, dict[str, Any]]:
    """Keep the head of ``text`` that fits ``max_tokens`` (by the judge's tokenizer, else ~4 characters a token).

    Returns:
        (kept text, {"judge_cut": bool, "response_chars": n, "kept_chars": m, "max_tokens": k}).
    """
    meta: dict[str, Any] = {"judge_cut": False, "response_chars": len(text), "kept_chars": len(text)}
    if max_tokens is None:
        return text, meta
    meta["max_tokens"] = max_tokens
    n = count_tokens(text) if count_tokens is not None else None  # None: a remote backend without a tokenizer
    if n is None:
        limit = max_tokens * 4
        if len(text) <= limit:
            return text, meta
        kept = text[:limit]
    else:
        if n <= max_tokens:
            return text, meta
        kept = text[: int(len(text) * max_tokens / n)]
        for _ in range(8):  # shrink until it fits (token/char ratios vary along a text)
            if count_tokens(kept) <= max_tokens:
                break
            kept = kept[: int(len(kept) * 0.95)]
    meta.update(judge_cut=True, kept_chars=len(kept))
    return kept, meta
