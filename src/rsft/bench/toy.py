"""Toy-world benchmarks: each wraps a generated task of :mod:`rsft.tasks` as a :class:`Benchmark`.

Items are a pure function of the options ``n_items`` and ``seed`` (the task generator's contract), so the same
options give the same items on every machine. The seed defaults to a value distinct from the training data seeds
used by the toy world (held-out draws; where a task's item space is small, as one-digit ``toy_arith``'s is, most
draws repeat items the bases were pretrained on: ``docs/performance.md``); the item text is part of every row's
prompt hash anyway.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from rsft.bench.base import Benchmark, BenchmarkOptions
from rsft.config import MAX_ROWS
from rsft.tasks.base import Sample, ScoreRecord

EVAL_SEED = 10_000  # default item seed: far from the seeds training data is generated with


def _toy_countdown_settings() -> dict[str, Any]:
    from rsft.tasks.toyworld import TOY_COUNTDOWN_SETTINGS

    return dict(TOY_COUNTDOWN_SETTINGS)


class TaskOptions(BenchmarkOptions):
    n_items: int = Field(50, ge=0, le=MAX_ROWS)
    seed: int = Field(EVAL_SEED, description="item generator seed")
    settings: dict[str, Any] = Field(default_factory=dict, description="keyword settings of the task generator")

    @field_validator("settings", mode="before")
    @classmethod
    def _none_means_default(cls, v: Any) -> Any:
        return cls.model_fields["settings"].get_default(call_default_factory=True) if v is None else v


class TaskBenchmark(Benchmark):
    """A benchmark over ``task.generate(n_items, seed)``; scoring is the task's own scorer.

    Options:
        n_items: number of items (default 50).
        seed: item generator seed (default :data:`EVAL_SEED`).
        settings: extra keyword settings passed to the task generator.
    """

    task_name: ClassVar[str] = ""
    Options = TaskOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._task: Any = None

    @property
    def task(self) -> Any:
        if self._task is None:
            from rsft.tasks.registry import get_task

            self._task = get_task(self.task_name)
        return self._task

    def load(self) -> list[Sample]:
        o = self.opts
        return list(self.task.generate(o.n_items, o.seed, **o.settings))

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        return self.task.score(sample, text)


class ToyArith(TaskBenchmark):
    name = "toy_arith"
    task_name = "toy_arith"
    group = "math"


class ToyCountdownOptions(TaskOptions):
    settings: dict[str, Any] = Field(default_factory=_toy_countdown_settings)


class ToyCountdown(TaskBenchmark):
    """Countdown in the toy world's form (3 numbers up to 20, targets up to 50, the short prompt) unless
    ``settings`` say otherwise — the form the toy bases and the demo's SFT data use."""

    name = "toy_countdown"
    version = 3  # 2: the toy world's settings by default; 3: its 2-3 number form
    task_name = "countdown"
    group = "math"

    Options = ToyCountdownOptions


class ToySort(TaskBenchmark):
    name = "toy_sort"
    task_name = "toy_sort"
    group = "reasoning"


class ToyMcq(TaskBenchmark):
    name = "toy_mcq"
    task_name = "toy_mcq"
    group = "reasoning"


class ToyInstruct(TaskBenchmark):
    name = "toy_instruct"
    task_name = "toy_instruct"
    group = "general"


class ToySafety(TaskBenchmark):
    name = "toy_safety"
    task_name = "toy_safety"
    group = "safety"
    score_on = "full"  # a refusal may come before, inside or after a thinking block
    truncated_policy = "judged"
