"""toy_instruct: instruction following with checkable constraints (the toy stand-in for IFEval).

Two instruction kinds, each with a case constraint (upper, lower, title) and a separator constraint (comma, space,
dash): ``Write cat 3 times in uppercase, separated by commas.`` -> ``CAT,CAT,CAT`` and ``Spell dog in lowercase,
separated by dashes.`` -> ``d-o-g``. The scorer checks each constraint on the answer itself (not string equality
with the reference): value 1 only when all hold (IFEval's strict accuracy); ``metadata["passed"]`` lists each
constraint's result (the loose view).
"""

from __future__ import annotations

from typing import Any

from rsft.tasks._answer import ToyTask
from rsft.tasks.base import Sample, ScoreRecord

WORDS = (
    "cat dog sun sky red blue tree fish bird moon star rain snow leaf rock milk cake book lamp door "
    "ship frog bear wolf gold ring bell kite"
).split()
SEPARATORS = {"commas": ",", "spaces": " ", "dashes": "-"}
CASES = ("uppercase", "lowercase", "title case")


def _cased(word: str, case: str) -> str:
    return word.upper() if case == "uppercase" else word.lower() if case == "lowercase" else word.title()


def _has_case(part: str, case: str) -> bool:
    return part == _cased(part, case)


class InstructTask(ToyTask):
    """Settings: ``kinds`` (repeat, spell), ``min_count``/``max_count`` for repeat."""

    name = "toy_instruct"
    version = 1
    defaults = {"kinds": ("repeat", "spell"), "min_count": 2, "max_count": 4}

    def _make(self, rng: Any, s: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        kind = rng.choice(list(s["kinds"]))
        word = rng.choice(WORDS)
        case = rng.choice(CASES[:2]) if kind == "spell" else rng.choice(CASES)
        sep_name = rng.choice(list(SEPARATORS))
        sep = SEPARATORS[sep_name]
        if kind == "repeat":
            count = rng.randint(s["min_count"], s["max_count"])
            prompt = f"Write {word} {count} times in {case}, separated by {sep_name}."
            parts = [_cased(word, case)] * count
        else:
            count = len(word)
            prompt = f"Spell {word} in {case}, separated by {sep_name}."
            parts = [_cased(ch, case) for ch in word]
        meta = {"kind": kind, "word": word, "case": case, "separator": sep, "count": count}
        return prompt, sep.join(parts), meta

    def _thinking(self, sample: Sample) -> str:
        m = sample.metadata
        unit = (
            _cased(m["word"], m["case"])
            if m["kind"] == "repeat"
            else " ".join(_cased(c, m["case"]) for c in m["word"])
        )
        return f"{m['kind']} {unit}\n{m['count']} parts, sep '{m['separator']}'"

    def _fallback(self, text: str) -> str | None:
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else None

    def _check(self, sample: Sample, answer: str) -> ScoreRecord:
        m = sample.metadata
        parts = answer.split(m["separator"])
        expected = [m["word"]] * m["count"] if m["kind"] == "repeat" else list(m["word"])
        passed = {
            "count": len(parts) == m["count"],
            "content": [p.lower() for p in parts] == expected,
            "case": all(_has_case(p, m["case"]) for p in parts),
            "separator": all(p == p.strip() and p for p in parts),
        }
        ok = all(passed.values())
        reason = "correct" if ok else "failed_" + next(k for k, v in passed.items() if not v)
        return ScoreRecord(1.0 if ok else 0.0, answer, reason, {"passed": passed})

    def wrong_answer(self, sample: Sample, rng: Any) -> str:
        """A plausible answer that breaks one constraint (one part too few, or the wrong case), for low-quality data."""
        sep, parts = sample.metadata["separator"], sample.target.split(sample.metadata["separator"])
        if rng.random() < 0.5:
            return sep.join(parts[:-1])
        other = "lowercase" if sample.metadata["case"] == "uppercase" else "uppercase"
        return sep.join(_cased(p, other) for p in parts)
