"""toy_arith: multi-step addition and subtraction of one-digit numbers (the toy stand-in for math).

Prompt ``Compute 7+5-3.``; reference ``<think>`` trace: one line per step (``7+5=12``, ``12-3=9``); answer
``<answer>9</answer>``. Running values never go below zero, so every step is a plain non-negative sum or
difference. Scored by exact integer match.
"""

from __future__ import annotations

import re
from typing import Any

from rsft.tasks._answer import ToyTask
from rsft.tasks.base import Sample, ScoreRecord

_INT = re.compile(r"-?\d+")


class ArithTask(ToyTask):
    """Add/subtract chains; settings ``min_terms``/``max_terms`` (1–2 steps by default) and ``min_digits``/``max_digits``.

    Version 3: one-digit terms, 2–3 terms. Version 1 (three 2–3 digit terms) left sub-million-parameter toy bases at
    0% after pretraining, version 2 (1–2 digit terms) at about 5%: writing a multi-digit sum most significant digit
    first is out of their reach in a short pretraining (0.14 after 450 steps of arithmetic alone), while chains of
    one-digit terms are learnable (0.94 on the same budget; ``docs/performance.md``), so the domain starts off its floor.
    """

    name = "toy_arith"
    version = 3
    defaults = {"min_terms": 2, "max_terms": 3, "min_digits": 1, "max_digits": 1}

    def _make(self, rng: Any, s: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        def term() -> int:
            d = rng.randint(s["min_digits"], s["max_digits"])
            return rng.randint(10 ** (d - 1), 10**d - 1)

        k = rng.randint(s["min_terms"], s["max_terms"])
        terms, ops = [term()], []
        value = terms[0]
        for _ in range(k - 1):
            t = term()
            op = rng.choice("+-")
            if op == "-" and t > value:
                op = "+"
            value = value + t if op == "+" else value - t
            terms.append(t)
            ops.append(op)
        expr = str(terms[0]) + "".join(f"{o}{t}" for o, t in zip(ops, terms[1:], strict=True))
        return f"Compute {expr}.", str(value), {"terms": terms, "ops": ops, "steps": k - 1}

    def _thinking(self, sample: Sample) -> str:
        terms, ops = sample.metadata["terms"], sample.metadata["ops"]
        lines, value = [], terms[0]
        for o, t in zip(ops, terms[1:], strict=True):
            new = value + t if o == "+" else value - t
            lines.append(f"{value}{o}{t}={new}")
            value = new
        return "\n".join(lines)

    def _fallback(self, text: str) -> str | None:
        found = _INT.findall(text)
        return found[-1] if found else None

    def _check(self, sample: Sample, answer: str) -> ScoreRecord:
        if not _INT.fullmatch(answer.replace(",", "")):
            return ScoreRecord(0.0, answer, "parse_error")
        ok = int(answer.replace(",", "")) == int(sample.target)
        return ScoreRecord(1.0 if ok else 0.0, answer, "correct" if ok else "wrong_value")
