"""The task plugin interface: a verifiable task generates samples, extracts answers and scores them.

A task is one file plus one line in :data:`rsft.tasks.registry.TASKS`. ``score`` returns a :class:`ScoreRecord`
(value, extracted answer, reason) — never a bare bool — and ``value`` is NaN for "unscored" (kept, but left out of
metrics: an evaluation row with outcome ``error``, counted), which is not the same as wrong.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from rsft.core import Sample, ScoreRecord

__all__ = ["Sample", "ScoreRecord", "Task"]


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
