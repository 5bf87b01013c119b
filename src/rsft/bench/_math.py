"""Math scoring: the paper's prompt and math-verify, usable from threads; a protocol mode and a strict mode.

Two modes (benchmark option ``mode``; every row records the one that scored it in ``score_mode``):

- ``protocol`` (default, the paper's): math-verify on the whole response, thinking included. math-verify takes a
  boxed answer first, else the last expression it can parse, so a boxed guess inside the thinking, or the gold
  number mentioned anywhere after the final answer, can count as correct.
- ``strict``: only the last ``\\boxed{}`` after the thinking block is read (math-verify then compares it with the
  gold answer); no boxed answer after the thinking = ``no_answer``.

False- and true-positive rates of both modes on GSM8K solutions with known correctness are in docs/analysis.md
(``scripts/measure_math_modes.py``).

math-verify's default timeouts use ``signal.alarm``, which only works in the main thread; rsft scores from worker
threads, so every call passes ``parsing_timeout=None`` / ``timeout_seconds=None`` (no timeout; math-verify's own
parsers are bounded on these inputs).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import Field

from rsft._util.errors import RsftError
from rsft.bench._loaders import require, rows_for, subset
from rsft.bench.base import Benchmark, SourceOptions
from rsft.tasks.base import Sample, ScoreRecord

MATH_PROMPT = "{problem}\n Please reason step by step, and put your final answer within \\boxed{{}}."


def last_boxed(text: str) -> str | None:
    r"""Content of the last ``\boxed{...}`` (or ``\fbox{...}``, or ``\boxed 5``) with nested braces; None if none."""
    idx = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if idx < 0:
        return None
    rest = text[idx:]
    m = re.match(r"\\(?:boxed|fbox)\s*", rest)
    rest = rest[m.end() :]
    if rest.startswith("{"):
        depth = 0
        for i, ch in enumerate(rest):
            depth += ch == "{"
            depth -= ch == "}"
            if depth == 0:
                return rest[1:i]
        return None
    m = re.match(r"([^\s$]+)", rest)
    return m.group(1) if m else None


def _configs():
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]


def parse_answer(text: str) -> list:
    """math-verify's parse of a response (boxed answers first), thread-safe (no signal timeout)."""
    from math_verify import parse

    return parse(text, extraction_config=_configs(), parsing_timeout=None)


@lru_cache(maxsize=8192)
def parse_gold(answer: str) -> tuple:
    r"""The gold answer parsed as if it were boxed (``\boxed{ANSWER}``); cached."""
    from math_verify import parse

    return tuple(parse(f"\\boxed{{{answer}}}", extraction_config=_configs(), parsing_timeout=None))


def verify_answer(gold: str, text: str) -> tuple[bool, str | None]:
    """(correct, extracted answer) for a response text against a gold answer string."""
    from math_verify import verify

    pred = parse_answer(text)
    if not pred:
        return False, None
    ok = bool(verify(list(parse_gold(gold)), pred, timeout_seconds=None))
    return ok, str(pred[-1])


MATH_MODES = ("protocol", "strict")


def score_math(gold: str, text: str) -> ScoreRecord:
    """Protocol mode: math-verify on the whole text."""
    ok, extracted = verify_answer(gold, text)
    meta = {"boxed": last_boxed(text), "mode": "protocol"}
    if extracted is None:
        return ScoreRecord(0.0, None, "no_answer", meta)
    return ScoreRecord(1.0 if ok else 0.0, extracted, "correct" if ok else "wrong_value", meta)


def score_math_strict(gold: str, answer: str) -> ScoreRecord:
    """Strict mode: the last ``\\boxed{}`` of the answer part (the text after the thinking), verified."""
    box = last_boxed(answer)
    meta = {"boxed": box, "mode": "strict"}
    if box is None or not box.strip():
        return ScoreRecord(0.0, None, "no_answer", meta)
    ok, extracted = verify_answer(gold, f"\\boxed{{{box}}}")
    if extracted is None:
        return ScoreRecord(0.0, box, "unparsed_answer", meta)
    return ScoreRecord(1.0 if ok else 0.0, extracted, "correct" if ok else "wrong_value", meta)


def score_math_mode(mode: str, gold: str, text: str) -> ScoreRecord:
    """Score ``text`` (the whole response for "protocol", the post-thinking answer for "strict")."""
    return score_math(gold, text) if mode == "protocol" else score_math_strict(gold, text)


class MathOptions(SourceOptions):
    file: str | None = Field(None, description="another file of the benchmark's data folder")
    mode: str = Field("protocol", description="protocol | strict (see the module docstring)")


class MathBenchmark(Benchmark):
    """Shared loader and scorer for the math benchmarks: subclasses set the file and field names.

    Options: ``mode`` ("protocol" default, or "strict"; see the module docstring), ``truncated`` ("wrong" default,
    or "paper": math-verify on whatever text a cut response had, as the paper's released code).
    """

    group = "math"
    Options = MathOptions
    # The protocol scores math-verify on the whole response (thinking included); strict mode the answer part.
    score_on = "full"
    subdir: ClassVar[str] = ""
    filename: ClassVar[str] = ""
    problem_field: ClassVar[str] = "problem"
    answer_field: ClassVar[str] = "answer"
    id_field: ClassVar[str | None] = None
    extra_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        mode = self.opts.mode
        if mode not in MATH_MODES:
            raise RsftError(
                f"benchmark '{self.name}': unknown math mode '{mode}'",
                field="options.mode",
                fix="protocol (math-verify on the whole response) or strict (last boxed answer after thinking)",
            )
        self.mode = mode
        self.score_on = "full" if mode == "protocol" else "answer"

    @property
    def score_mode(self) -> str:
        return self.mode

    def gold(self, row: dict[str, Any]) -> str:
        return str(row[self.answer_field]).strip()

    def load(self) -> list[Sample]:
        source, rows = rows_for(self.options, self.subdir, self.options.get("file", self.filename))
        out = []
        for i, row in rows:
            require(row, [self.problem_field, self.answer_field], source, i)
            sid = str(row[self.id_field]) if self.id_field and row.get(self.id_field) is not None else str(i)
            meta = {k: row[k] for k in self.extra_fields if k in row}
            out.append(Sample(f"{self.name}/{sid}", row[self.problem_field], self.gold(row), meta))
        return subset(out, self.options)

    def prompt(self, sample: Sample) -> list[dict[str, str]]:
        return [{"role": "user", "content": MATH_PROMPT.format(problem=sample.prompt)}]

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        return score_math_mode(self.mode, sample.target, text)
