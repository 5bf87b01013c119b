"""The task plugin interface: a verifiable task generates samples, extracts answers and scores them.

A task is one file plus one line in :data:`rsft.tasks.registry.TASKS`. ``score`` returns a :class:`ScoreRecord`
(value, extracted answer, reason) — never a bare bool — and ``value`` is NaN for "unscored" (kept, but left out of
metrics: an evaluation row with outcome ``error``, counted), which is not the same as wrong.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


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


@runtime_checkable
class Task(Protocol):
    """A verifiable task (see module docstring)."""

    name: str
    version: int

    def generate(self, n: int, seed: int, **settings: Any) -> list[Sample]:
        """``n`` samples, a pure function of (n, seed, settings)."""
        ...

    def extract(self, answer_text: str) -> str | None:
        """The answer in a response's post-thinking text, or None."""
        ...

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        """Score a response text for ``sample``."""
        ...

    def response(self, sample: Sample, **style: Any) -> str:
        """A reference response in the SFT format (used to build training data and pretrain toy bases)."""
        ...
