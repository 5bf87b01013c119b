"""The benchmark interface: ``load()``, ``prompt(sample) -> messages``, ``score(sample, text) -> ScoreRecord``.

A benchmark is one file plus one line in :data:`rsft.bench.registry.BENCHMARKS`. Bump ``version`` whenever the
prompt or the scoring changes: stored samples are keyed by ``name@version``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from rsft.tasks.base import Sample, ScoreRecord

# Domain groups used by the analysis (the paper's split of in-domain vs cross-domain).
Group = Literal["math", "reasoning", "code", "knowledge", "general", "safety", "overrefusal"]


class Benchmark:
    """Base class for benchmarks (subclass and set the class attributes).

    Attributes:
        name: registry name.
        version: bumped on any prompt or scoring change.
        group: domain group for the analysis.
        score_on: "answer" (post-thinking text only) or "full" (the whole response).
        defaults: default sampling for this benchmark (keys of GenerateConfig, e.g. n, temperature).
        higher_is_better: the score's direction (safety benchmarks score 1 = safe behaviour).
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    group: ClassVar[Group] = "general"
    score_on: ClassVar[Literal["answer", "full"]] = "answer"
    defaults: ClassVar[dict[str, Any]] = {}
    higher_is_better: ClassVar[bool] = True

    def __init__(self, **options: Any) -> None:
        self.options = options

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    def load(self) -> list[Sample]:
        raise NotImplementedError

    def prompt(self, sample: Sample) -> list[dict[str, str]]:
        return [{"role": "user", "content": sample.prompt}]

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        raise NotImplementedError

    def score_many(self, pairs: list[tuple[Sample, str]]) -> list[ScoreRecord]:
        """Score many responses at once; override to batch (judges, sandboxes)."""
        return [self.score(s, t) for s, t in pairs]
