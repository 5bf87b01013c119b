"""toy_mcq: which of four options equals an expression (the toy stand-in for multiple-choice knowledge).

Prompt ``Which equals 4+8? A)2 B)6 C)12 D)20``. A bare letter is not learnable by a 1M-parameter model (see
``shared/notes/toy-world.md``), so the reference ``<think>`` trace computes the value and walks the options in order
until one matches (``4+8=12;A)2;B)6;C)12``); the answer is the letter, ``<answer>C</answer>``.
"""

from __future__ import annotations

import re
from typing import Any

from rsft.tasks._answer import ToyTask
from rsft.tasks.base import Sample, ScoreRecord

LETTERS = "ABCD"


class McqTask(ToyTask):
    """Settings: ``max_operand`` (one-digit operands by default) and ``ops`` (``+``, ``-``, ``*``).

    Version 2: one-digit operands. Version 1's operands up to 30 left the toy bases at chance (0.25): they could not
    compute the value the walk over the options needs (see :class:`rsft.tasks.arith.ArithTask`). The walk itself is
    still hard for them in the mixture (0.35 on the strong base; ``docs/performance.md``).
    """

    name = "toy_mcq"
    version = 2
    defaults = {"max_operand": 9, "ops": ("+", "-", "*")}

    def _make(self, rng: Any, s: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        op = rng.choice(list(s["ops"]))
        a = rng.randint(2, s["max_operand"])
        b = rng.randint(2, 9 if op == "*" else s["max_operand"])
        if op == "-" and b > a:
            a, b = b, a
        value = a + b if op == "+" else a - b if op == "-" else a * b
        options = {value}
        while len(options) < 4:
            cand = value + rng.choice([-1, 1]) * rng.randint(1, 10)
            if cand >= 0:
                options.add(cand)
        values = sorted(options)
        rng.shuffle(values)
        letter = LETTERS[values.index(value)]
        opts = " ".join(f"{L}){v}" for L, v in zip(LETTERS, values, strict=True))
        meta = {"expression": f"{a}{op}{b}", "value": value, "options": values}
        return f"Which equals {a}{op}{b}? {opts}", letter, meta

    def _thinking(self, sample: Sample) -> str:
        m = sample.metadata
        walk = []
        for L, v in zip(LETTERS, m["options"], strict=True):
            walk.append(f"{L}){v}")
            if v == m["value"]:
                break
        return f"{m['expression']}={m['value']};" + ";".join(walk)

    def _fallback(self, text: str) -> str | None:
        found = re.findall(r"(?<![A-Za-z])([ABCD])(?![A-Za-z])", text)
        return found[-1] if found else None

    def _check(self, sample: Sample, answer: str) -> ScoreRecord:
        letter = answer.strip().strip("().>").upper()
        if letter not in LETTERS:
            return ScoreRecord(0.0, answer, "parse_error")
        ok = letter == sample.target
        return ScoreRecord(1.0 if ok else 0.0, letter, "correct" if ok else "wrong_value")
