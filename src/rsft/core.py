"""The record types every stage shares: a task ``Sample``, its ``ScoreRecord`` and an ``SFTRow``.

They sit below every package so that ``tasks`` (which makes samples and scores them), ``data`` (which turns samples
into SFT rows, varies and verifies them), ``bench``, ``eval`` and ``rollouts`` agree on them without importing each
other. Plain dataclasses: no dependency beyond the standard library.

``SFTRow``: ``messages`` (the chat turns before the response; the paper's column is ``message``; a plain ``prompt``
string is accepted on read and becomes one user turn), ``response`` (the assistant text to learn, thinking
included), ``weight`` (float, default 1.0; the paper's column is ``advantage``) and optional ``teacher_logprobs``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Sample:
    """One task instance.

    Attributes:
        id: stable id (a pure function of the generator's seed and settings, or the source row's id).
        prompt: the user turn.
        target: the reference answer (string form).
        metadata: anything the scorer or the analysis needs (difficulty, category, options ...).
    """

    id: str
    prompt: str
    target: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScoreRecord:
    """The result of scoring one response.

    Attributes:
        value: score in [0, 1] (1 = correct / desired behaviour); NaN = unscored.
        answer: the extracted answer, or None when none was found.
        reason: short machine-friendly reason ("correct", "no_answer", "wrong_value", "truncated", ...).
        metadata: extra detail (parsed expression, judge output ...).
    """

    value: float
    answer: str | None
    reason: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def unscored(cls, reason: str, **metadata: Any) -> ScoreRecord:
        return cls(math.nan, None, reason, dict(metadata))

    @property
    def correct(self) -> bool:
        return self.value == 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)



ROLES = ("system", "user", "assistant", "tool")


@dataclass
class SFTRow:
    messages: list[dict[str, str]]
    response: str
    weight: float = 1.0
    teacher_logprobs: list[float] | None = None
    id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """The on-disk form (paper-compatible column names are accepted on read, these are written)."""
        rec: dict[str, Any] = {"messages": self.messages, "response": self.response, "weight": self.weight}
        if self.teacher_logprobs is not None:
            rec["teacher_logprobs"] = self.teacher_logprobs
        if self.id is not None:
            rec["id"] = self.id
        if self.metadata:
            rec["metadata"] = self.metadata
        return rec
