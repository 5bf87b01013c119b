"""The benchmark interface: ``load()``, ``prompt(sample) -> messages``, ``score(sample, text) -> ScoreRecord``.

A benchmark is one file plus one line in :data:`rsft.bench.registry.BENCHMARKS`. Bump ``version`` whenever the
prompt or the scoring changes: stored samples are keyed by ``name@version``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from rsft._util.errors import RsftError
from rsft.tasks.base import Sample, ScoreRecord

# Domain groups used by the analysis (the paper's split of in-domain vs cross-domain).
Group = Literal["math", "reasoning", "code", "knowledge", "general", "safety", "overrefusal"]
# What a truncated response (cut by the length limit) scores — see rsft.eval.scoring:
#   "wrong": 0, the scorer never sees it; "paper": scored on whatever text there was (the paper's released code ran
#   math-verify on it); "judged": the visible answer is judged and the row stays flagged truncated (safety: a cut
#   response is never silently an attack success).
TruncatedPolicy = Literal["wrong", "paper", "judged"]
TRUNCATED_POLICIES = ("wrong", "paper", "judged")
# "unit": every score in [0, 1] (averaged into a domain); "reward": unbounded (never averaged as it is).
Scale = Literal["unit", "reward"]


class Benchmark:
    """Base class for benchmarks (subclass and set the class attributes).

    Attributes:
        name: registry name.
        version: bumped on any prompt or scoring change.
        group: domain group for the analysis.
        score_on: "answer" (post-thinking text only) or "full" (the whole response).
        defaults: default sampling for this benchmark (keys of GenerateConfig, e.g. n, temperature).
        higher_is_better: the score's direction (safety benchmarks score 1 = safe behaviour).
        truncated_policy: what a truncated response scores by default (``options.truncated`` overrides it).
        scale: "unit" (scores in [0, 1]) or "reward" (unbounded; see docs/analysis.md for how it is bounded).
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    group: ClassVar[Group] = "general"
    score_on: ClassVar[Literal["answer", "full"]] = "answer"
    defaults: ClassVar[dict[str, Any]] = {}
    higher_is_better: ClassVar[bool] = True
    truncated_policy: ClassVar[TruncatedPolicy] = "wrong"
    scale: ClassVar[Scale] = "unit"

    def __init__(self, **options: Any) -> None:
        self.options = options

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def outcome_policy(self) -> dict[str, str]:
        """What each non-``ok`` outcome scores (recorded on every row, stated by the analysis and the report).

        ``truncated`` is the class default or ``options.truncated``; ``no_answer`` (the response ended without an
        answer, e.g. inside its thinking block) follows it except that "wrong" leaves it to the scorer, which
        scores a missing answer 0; ``error`` rows are always excluded from means and counted.

        Raises:
            RsftError: an unknown policy, or "wrong" on a safety benchmark (a cut response would count as an
                attack success).
        """
        t = self.options.get("truncated", self.truncated_policy)
        if t not in TRUNCATED_POLICIES:
            raise RsftError(
                f"benchmark '{self.name}': unknown truncated policy '{t}'",
                field="options.truncated",
                fix=f"one of {', '.join(TRUNCATED_POLICIES)}",
            )
        if t == "wrong" and self.group in ("safety", "overrefusal"):
            raise RsftError(
                f"benchmark '{self.name}': truncated=wrong would count every cut response as unsafe",
                field="options.truncated",
                fix="use judged (the visible answer is judged, the row flagged truncated)",
            )
        return {"truncated": t, "no_answer": "scored" if t == "wrong" else t, "error": "excluded"}

    @property
    def policy_text(self) -> str:
        """The outcome policy as stored in the ``policy`` column: ``truncated=wrong;no_answer=scored;error=excluded``."""
        return ";".join(f"{k}={v}" for k, v in self.outcome_policy.items())

    @property
    def score_mode(self) -> str:
        """Which scorer mode scores this benchmark's rows (stored in ``score_mode``); "default" unless a benchmark
        has several (math: "protocol" / "strict")."""
        return "default"

    def load(self) -> list[Sample]:
        raise NotImplementedError

    def prompt(self, sample: Sample) -> list[dict[str, str]]:
        return [{"role": "user", "content": sample.prompt}]

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        raise NotImplementedError

    def score_many(self, pairs: list[tuple[Sample, str]]) -> list[ScoreRecord]:
        """Score many responses at once; override to batch (judges, sandboxes)."""
        return [self.score(s, t) for s, t in pairs]
