"""The SFT row schema.

A row is ``messages`` (the chat turns before the response; the paper's column is ``message``; a plain ``prompt``
string is accepted and becomes one user turn), ``response`` (the assistant text to learn, thinking included),
``weight`` (float, default 1.0; the paper's column is ``advantage``) and optional ``teacher_logprobs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
