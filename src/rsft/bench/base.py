"""The benchmark interface: ``load()``, ``prompt(sample) -> messages``, ``score(sample, text) -> ScoreRecord``.

A benchmark is one file plus one line in :data:`rsft.bench.registry.BENCHMARKS`. Bump ``version`` whenever the
prompt or the scoring changes: stored samples are keyed by ``name@version``.

Options are typed: each benchmark names a pydantic ``Options`` model (a family's table below, or its own subclass
of one with the keys only it reads, defaults included). A misspelled key is an error naming the closest valid one,
a wrong type names what it got; ``self.opts`` is the validated model and ``self.options`` the same as a dict
(unset keys left out).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError

from rsft._util.errors import ConfigError, Problem, RsftError
from rsft.config import MAX_ROWS, StrictModel, problems_from_validation
from rsft.tasks.base import Sample, ScoreRecord

# The sampling tables (PROTOCOL.md "Evaluation"): a benchmark's ``defaults`` is ``{"n": K, **TABLE}``.
PAPER_SAMPLING: dict[str, Any] = {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 32768}
GREEDY_SAMPLING: dict[str, Any] = {**PAPER_SAMPLING, "temperature": 0.0, "top_p": 1.0}
SAFETY_SAMPLING: dict[str, Any] = {**PAPER_SAMPLING, "max_new_tokens": 16384}


class BenchmarkOptions(StrictModel):
    """Options every benchmark takes."""

    n_items: int | None = Field(
        None, ge=0, le=MAX_ROWS, description="keep the first N items (quick suites use fixed leading subsets); None: all"
    )
    truncated: str | None = Field(
        None, description="what a truncated response scores: wrong | paper | judged (default: the benchmark's)"
    )


class SourceOptions(BenchmarkOptions):
    """Where a file- or hub-backed benchmark reads its rows (:mod:`rsft.bench._loaders`): ``path``, else
    ``hub_id`` at a pinned ``revision``, else ``$RSFT_DATA_DIR`` / ``../shared/benchmarks``."""

    path: str | None = Field(None, description="a local file (or the folder, for benchmarks reading several)")
    hub_id: str | None = Field(None, description="a Hugging Face dataset id (needs `revision`)")
    revision: str | None = Field(None, description="the dataset commit to load")
    hub_config: str | None = Field(None, description="the dataset config (default: the benchmark's)")
    split: str | None = Field(None, description="the split (default: the benchmark's)")
    token: bool | str | None = Field(None, description="hub token; True: the logged-in one (gated sets)")


class JudgedOptions(SourceOptions):
    """A benchmark scored by a judge of :mod:`rsft.judges` (``make_judge(judge, backend=judge_backend, ...)``)."""

    judge: str | None = Field(None, description="refusal | rubric | harmbench | llamaguard3 (default: the benchmark's)")
    judge_backend: Any = Field(None, description="a model judge's backend: an id such as hf/PATH, or a backend object")
    judge_options: dict[str, Any] | None = Field(None, description="further keyword options of the judge")


class CodeOptions(SourceOptions):
    """A benchmark whose programs run in :mod:`rsft.sandbox`."""

    workers: int | None = Field(None, ge=1, description="programs run at once (default: the sandbox's)")
    timeout_s: float | None = Field(None, gt=0, description="wall-clock limit per program")
    memory_mb: int | None = Field(None, ge=16, description="memory limit per program")


def parse_options(bench: type[Benchmark], options: dict[str, Any]) -> BenchmarkOptions:
    """``options`` validated by ``bench.Options``.

    Raises:
        ConfigError: unknown keys (each with the closest valid key) and wrong types, all at once.
    """
    try:
        return bench.Options.model_validate(options)
    except ValidationError as e:
        problems = problems_from_validation(e, bench.Options)
        raise ConfigError(
            [Problem(f"benchmark {bench.name}: options.{p.key}", p.message) for p in problems]
        ) from None

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
        Options: the pydantic model of its options (see the module docstring).
        items: the protocol's item count (``rsft study plan`` costs a sweep with it; None: unknown, the plan
            assumes 100). A count that depends on the options: override :meth:`item_count`.
        protocol: the family of the paper's protocol metrics it reports (a key of
            ``rsft.eval.protocol.PROTOCOL``: avg@k, exact_match, ifeval, truthfulqa, halueval, alpaca_eval,
            safety); None: only rsft's standard ``avg@k`` summary.
        sources: its default data source, the entries ``rsft data fetch`` downloads (fields of
            ``rsft.bench.sources.SourceFile``); None: none (generated or local only).
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    group: ClassVar[Group] = "general"
    score_on: ClassVar[Literal["answer", "full"]] = "answer"
    defaults: ClassVar[dict[str, Any]] = {}
    higher_is_better: ClassVar[bool] = True
    truncated_policy: ClassVar[TruncatedPolicy] = "wrong"
    scale: ClassVar[Scale] = "unit"
    Options: ClassVar[type[BenchmarkOptions]] = BenchmarkOptions
    items: ClassVar[int | None] = None
    protocol: ClassVar[str | None] = None
    sources: ClassVar[list[dict[str, Any]] | None] = None

    @classmethod
    def item_count(cls, options: dict[str, Any]) -> int | None:
        """Items of one sweep under these suite options, before ``n_items`` (default: :attr:`items`)."""
        return cls.items

    def __init__(self, **options: Any) -> None:
        self.opts = parse_options(type(self), options)
        self.options: dict[str, Any] = self.opts.model_dump(exclude_none=True)

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
    def scorer_failure(self) -> Literal["wrong", "excluded"]:
        """What an exception in this benchmark's scorer scores (:mod:`rsft.eval.scoring`).

        "wrong" (0, the exception kept on the row) when the scorer reads only the response — math, multiple
        choice, code, instructions: nothing else varies, so the response broke it, and dropping the row would
        raise the mean. "excluded" (an ``error`` row) when the scorer asks a judge (a ``judge`` option: the
        judge's failure is infrastructure), on safety and over-refusal benchmarks (a 0 there claims harm or
        over-refusal) and where 0 is not the worst score (a reward scale)."""
        judged = "judge" in type(self.opts).model_fields or self.group in ("safety", "overrefusal")
        return "excluded" if judged or self.scale != "unit" or not self.higher_is_better else "wrong"

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
