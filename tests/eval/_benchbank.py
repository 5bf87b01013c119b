"""Benchmarks defined for the engine tests (registered by the tests with monkeypatch)."""

from __future__ import annotations

import math

from rsft.bench.base import Benchmark, JudgedOptions
from rsft.tasks.base import Sample, ScoreRecord


class EchoBench(Benchmark):
    """Three items; a response scores 1 when it contains the letter in ``wanted`` (changeable by tests)."""

    name = "t_echo"
    version = 1
    group = "reasoning"
    wanted = "a"

    def load(self) -> list[Sample]:
        return [Sample(f"e{i}", f"Say something about {i}.", "a") for i in range(3)]

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        if "nan" in sample.prompt:
            return ScoreRecord(math.nan, None, "unscored")
        hit = self.wanted in text
        return ScoreRecord(float(hit), self.wanted if hit else None, "correct" if hit else "no_answer")


class FullBench(EchoBench):
    name = "t_full"
    score_on = "full"


class BrokenBench(EchoBench):
    name = "t_broken"

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        raise ValueError("scorer bug")


class BatchBench(EchoBench):
    """Scores through ``score_many`` (as judges do); item ``e1`` makes its scorer fail."""

    name = "t_batch"
    Options = JudgedOptions  # its scorer asks a judge: the judge's failure is an excluded row, never a 0
    calls: list[int] = []

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        if sample.id == "e1":
            raise RuntimeError("judge down for e1")
        return ScoreRecord(1.0, "x", "correct")

    def score_many(self, pairs):
        type(self).calls.append(len(pairs))
        return [self.score(s, t) for s, t in pairs]
