"""GSM8K test (1,319 grade-school problems): the paper's math prompt, math-verify with a numeric fallback.

The gold answer is the number after ``####``. A response is graded on its last ``\\boxed{}`` by math-verify; without
one, on its last answer statement ("answer is X", "#### X", "A: X"), else its last number (so answers written the
GSM8K way are graded too), compared as numbers. That is the ``protocol`` mode; ``mode: strict`` reads only the last
``\\boxed{}`` after the thinking, as for every math benchmark (:mod:`rsft.bench._math`).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from rsft.bench._loaders import require, rows_for, subset
from rsft.bench._math import MathBenchmark, last_boxed, score_math_strict, verify_answer
from rsft.bench.base import PAPER_SAMPLING
from rsft.tasks.base import Sample, ScoreRecord

_NUM = r"-?\$?\s*\d[\d,]*(?:\.\d+)?"
_STATEMENTS = [
    re.compile(rf"####\s*({_NUM})"),
    re.compile(rf"answer is[:\s]*\$?\\?\(?\s*({_NUM})", re.IGNORECASE),
    re.compile(rf"(?:^|\n)\s*A:\s*({_NUM})"),
]
_ANY_NUM = re.compile(_NUM)


def gold_from_solution(solution: str) -> str:
    return solution.split("####")[-1].strip().replace(",", "")


def _to_float(s: str) -> float | None:
    try:
        return float(s.replace(",", "").replace("$", "").strip())
    except ValueError:
        return None


def extract_number(text: str) -> str | None:
    """The last answer statement's number, else the last number in the text."""
    for pat in _STATEMENTS:
        hits = pat.findall(text)
        if hits:
            return hits[-1].replace(",", "").replace("$", "").strip()
    hits = _ANY_NUM.findall(text)
    return hits[-1].replace(",", "").replace("$", "").strip() if hits else None


def grade(gold: str, text: str) -> ScoreRecord:
    if last_boxed(text) is not None:
        ok, extracted = verify_answer(gold, text)
        return ScoreRecord(float(ok), extracted, "correct" if ok else "wrong_value", {"via": "math_verify"})
    extracted = extract_number(text)
    if extracted is None:
        return ScoreRecord(0.0, None, "no_answer", {"via": "number"})
    g, p = _to_float(gold), _to_float(extracted)
    ok = g is not None and p is not None and abs(g - p) <= 1e-6 * max(1.0, abs(g))
    return ScoreRecord(float(ok), extracted, "correct" if ok else "wrong_value", {"via": "number"})


class Gsm8k(MathBenchmark):
    """GSM8K; options: path | file (test_socratic.jsonl) | hub_id (+revision, hub_config "main"), n_items."""

    name = "gsm8k"
    items = 1319
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "gsm8k/test.jsonl",
            "repo": "openai/gsm8k",
            "path": ["main/test-00000-of-00001.parquet"],
            "split": "test",
            "convert": "jsonl",
            "sha256": {"main/test-00000-of-00001.parquet": None},
        },
    ]
    version = 1
    defaults: ClassVar[dict[str, Any]] = {"n": 1, **PAPER_SAMPLING}

    def load(self) -> list[Sample]:
        source, rows = rows_for(
            self.options, "gsm8k", self.options.get("file", "test.jsonl"), hub_name="main"
        )
        out = []
        for i, row in rows:
            require(row, ["question", "answer"], source, i)
            out.append(Sample(f"gsm8k/{i}", row["question"], gold_from_solution(row["answer"]), {}))
        return subset(out, self.options)

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        if self.mode == "strict":
            return score_math_strict(sample.target, text)
        return grade(sample.target, text)
