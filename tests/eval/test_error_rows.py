"""Errors cannot raise a score: what a scorer's failure scores, and the sweep's ``max_error_rate`` rule."""

from __future__ import annotations

import math

import pytest

from rsft._util.errors import RsftError
from rsft.bench.base import Benchmark
from rsft.eval.runner import SweepReport, check_errors
from rsft.eval.scoring import score_responses
from rsft.tasks.base import Sample, ScoreRecord


class _Picky(Benchmark):
    """Scores "a" as right; raises on a response containing "boom" (as a parser might), OSError on "disk"."""

    name = "picky"

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        if "boom" in text:
            raise RecursionError("maximum recursion depth exceeded")
        if "disk" in text:
            raise OSError(28, "No space left on device")
        return ScoreRecord(1.0 if text.strip() == "a" else 0.0, text.strip(), "scored")


class _Reward(_Picky):
    name = "picky_reward"
    scale = "reward"


def test_a_response_that_breaks_the_scorer_scores_zero_and_the_environment_is_excluded():
    s = Sample("x", "p", "a")
    right, broke, disk = score_responses(_Picky(), [(s, "a", "stop", None), (s, "boom", "stop", None),
                                                    (s, "disk", "stop", None)])  # fmt: skip
    assert (right.outcome, right.score) == ("ok", 1.0)
    assert (broke.outcome, broke.score, broke.reason) == ("ok", 0.0, "scorer_error")
    assert "RecursionError" in broke.error
    assert disk.outcome == "error" and math.isnan(disk.score)  # infrastructure: excluded, counted
    # the mean over the three: 1 of 2 scored, never 1 of 1 (the broken one dropped)
    scores = [r.score for r in (right, broke, disk) if r.outcome != "error"]
    assert sum(scores) / len(scores) == 0.5


def test_judged_safety_and_reward_benchmarks_keep_a_scorer_exception_excluded():
    from rsft.bench.safety import HarmBench

    class Crashing(HarmBench):
        def score_many(self, pairs):
            raise RuntimeError("judge down")

        def score(self, sample, text):
            raise RuntimeError("judge down")

    s = Sample("x", "p", "a")
    for bench in (_Reward(), Crashing()):  # 0 is not a reward's worst; on HarmBench 0 would mean "harmful"
        assert bench.scorer_failure == "excluded"
        broke = score_responses(bench, [(s, "boom", "stop", None)])[0]
        assert broke.outcome == "error" and math.isnan(broke.score)
    assert _Picky().scorer_failure == "wrong"


def test_max_error_rate_fails_loudly_naming_the_rows():
    ok = SweepReport(generated=100, errors=3, scorer_errors=2, flagged=["picky item x sample 0 (m): boom"])
    check_errors(ok, 0.05)  # 5 of 100: at the threshold, not past it
    bad = SweepReport(generated=100, errors=4, scorer_errors=2, flagged=["picky item x sample 0 (m): boom"])
    with pytest.raises(RsftError, match=r"6 of 100 new rows could not be scored") as e:
        check_errors(bad, 0.05)
    assert "picky item x sample 0" in e.value.message
    check_errors(bad, None)  # off
    check_errors(SweepReport(), 0.0)  # nothing new: nothing to judge
    with pytest.raises(RsftError):
        check_errors(SweepReport(rescored=10, errors=1), 0.0)


def test_reports_add_up_their_flags():
    a = SweepReport(generated=2, scorer_errors=1, flagged=["r1"])
    a.add(SweepReport(generated=3, errors=2, flagged=["r2", "r3"]))
    assert (a.generated, a.errors, a.scorer_errors, a.flagged) == (5, 2, 1, ["r1", "r2", "r3"])
