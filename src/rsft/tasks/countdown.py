"""Countdown: reach a target from given numbers with + - * /, each number at most once.

Rules (the scorer's, stated once):

- An answer is an arithmetic expression over the given numbers with ``+ - * /``, parentheses and unary minus
  (``x`` and ``×`` are read as ``*``, ``÷`` as ``/``, ``−`` as ``-``). A trailing ``= N`` is ignored.
- Each given number may be used **at most once** (a multiset: ``[5, 5, 3]`` allows two 5s). With
  ``CountdownTask(require_all=True)`` every number must be used, as in TinyZero's reward.
- **Division**: the scorer evaluates with exact rational arithmetic (``fractions.Fraction``), the semantics of the
  TinyZero reward that evaluates the expression, so ``(7 / 2) * 2`` equals 7; division by zero is an error. With
  ``CountdownTask(integer_division=True)`` every division must be exact in the integers (``non_integer_division``).
- The generator, solver and trace synthesizer work over positive integers and exact integer division only, a
  subset of what the scorer accepts, so every reference answer verifies under both rules.

Expressions are parsed by rsft's own recursive-descent parser (:mod:`rsft.tasks.countdown_expr`); nothing is ever
passed to ``eval``. The solver is :mod:`rsft.tasks.countdown_solver`, the trace synthesizer
:mod:`rsft.tasks.countdown_trace`.
"""

from __future__ import annotations

import re
from typing import Any

from rsft._util.errors import RsftError
from rsft.tasks._answer import (
    answer_tag,
    boxed,
    check_style,
    post_thinking,
    sample_id,
    sample_rng,
    settings_key,
)
from rsft.tasks.base import Sample, ScoreRecord
from rsft.tasks.countdown_expr import ExprError, check_numbers, evaluate
from rsft.tasks.countdown_solver import Solution, Step, expression_of, solve

__all__ = [
    "CountdownTask",
    "ExprError",
    "PROMPTS",
    "Solution",
    "Step",
    "check_numbers",
    "evaluate",
    "expression_of",
    "solve",
]

TINYZERO_PROMPT = (
    "Using the numbers {numbers}, create an equation that equals {target}. You can use basic arithmetic "
    "operations (+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. "
    "And return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>."
)
SHORT_PROMPT = "Use {numbers} to make {target}."
PROMPTS = {"tinyzero": TINYZERO_PROMPT, "short": SHORT_PROMPT}
MAX_DRAWS = 10_000  # number draws per instance before the settings are called unsatisfiable (defaults need ~1-3)

DEFAULTS: dict[str, Any] = {
    "min_numbers": 3,
    "max_numbers": 4,
    "num_min": 1,
    "num_max": 99,
    "target_min": 1,
    "target_max": 100,
    "use_all": True,
    "prompt_style": "tinyzero",
}


# ---------------------------------------------------------------- the task


def _numbers_text(numbers: list[int]) -> str:
    return "[" + ", ".join(str(n) for n in numbers) + "]"


_PROMPT_NUMBERS = re.compile(r"\[([\d,\s]+)\]")
_PROMPT_TARGET = re.compile(r"(?:equals|make|target)\s+(-?\d+)")


class CountdownTask:
    """The Countdown game as a verifiable task (rules in the module docstring).

    Args:
        require_all: the scorer requires every number to be used.
        integer_division: the scorer requires every division to be exact in the integers.
    """

    name = "countdown"
    version = 1

    def __init__(self, *, require_all: bool = False, integer_division: bool = False) -> None:
        self.require_all = require_all
        self.integer_division = integer_division

    # -- generation

    def resolve(self, **settings: Any) -> dict[str, Any]:
        unknown = set(settings) - set(DEFAULTS)
        if unknown:
            raise RsftError(
                f"unknown Countdown setting(s): {', '.join(sorted(unknown))}",
                field=sorted(unknown)[0],
                fix=f"use: {', '.join(DEFAULTS)}",
            )
        s = {**DEFAULTS, **settings}
        if not 2 <= s["min_numbers"] <= s["max_numbers"] <= 6:
            raise RsftError("need 2 <= min_numbers <= max_numbers <= 6", field="min_numbers")
        if not 1 <= s["num_min"] <= s["num_max"] or not s["target_min"] <= s["target_max"]:
            raise RsftError("need 1 <= num_min <= num_max and target_min <= target_max", field="num_min")
        if s["prompt_style"] not in PROMPTS:
            raise RsftError(
                "unknown prompt_style", field="prompt_style", fix=f"use one of: {', '.join(PROMPTS)}"
            )
        return s

    def generate(self, n: int, seed: int, **settings: Any) -> list[Sample]:
        """``n`` solvable instances, a pure function of (n, seed, settings); sample ``i`` does not depend on ``n``.

        Numbers are drawn uniformly from ``[num_min, num_max]``; the target is the value of a random combination of
        the numbers (all of them when ``use_all``), kept when it lies in ``[target_min, target_max]`` and is not one
        of the numbers, so every instance is solvable by construction. ``metadata["search_nodes"]`` (nodes the
        ``given``-order solver visits) is the difficulty.
        """
        s = self.resolve(**settings)
        key = settings_key(s)
        return [self._one(s, key, seed, i) for i in range(n)]

    def _one(self, s: dict[str, Any], key: str, seed: int, i: int) -> Sample:
        rng = sample_rng(self.name, self.version, seed, key, i)
        for _ in range(MAX_DRAWS):
            k = rng.randint(s["min_numbers"], s["max_numbers"])
            numbers = [rng.randint(s["num_min"], s["num_max"]) for _ in range(k)]
            for _ in range(20):
                target = self._random_value(numbers, s["use_all"], rng)
                if s["target_min"] <= target <= s["target_max"] and target not in numbers:
                    break
            else:
                continue
            sol = solve(numbers, target, use_all=s["use_all"])
            if sol is not None:  # always true by construction; the check guards the construction itself
                break
        else:  # settings whose targets (almost) never land in range: an error, not an endless loop
            raise RsftError(
                f"no instance found in {MAX_DRAWS:,} draws: numbers in [{s['num_min']}, {s['num_max']}] rarely "
                f"combine to a target in [{s['target_min']}, {s['target_max']}]",
                field="target_min",
                fix="widen the target range or narrow the number range",
            )
        prompt = PROMPTS[s["prompt_style"]].format(numbers=_numbers_text(numbers), target=target)
        meta = {
            "numbers": numbers,
            "target": target,
            "use_all": s["use_all"],
            "search_nodes": sol.nodes,
            "n_numbers": len(numbers),
            "prompt_style": s["prompt_style"],
        }
        return Sample(sample_id(self.name, seed, key, i), prompt, sol.expression, meta)

    @staticmethod
    def _random_value(numbers: list[int], use_all: bool, rng: Any) -> int:
        values = list(numbers)
        steps = len(numbers) - 1 if use_all else rng.randint(1, len(numbers) - 1)
        for _ in range(steps):
            i, j = rng.sample(range(len(values)), 2)
            a, b = max(values[i], values[j]), min(values[i], values[j])
            op = rng.choice("+-*/" if b and a % b == 0 else "+-*")
            r = a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a // b
            values = [v for k, v in enumerate(values) if k != i and k != j] + [r]
        return values[-1]

    def sample_from_prompt(self, prompt: str, sample_id: str = "") -> Sample:
        """Rebuild a sample from a Countdown prompt text (TinyZero or short style), for data not generated here.

        Raises:
            RsftError: the prompt names no numbers list or no target.
        """
        nums, tgt = _PROMPT_NUMBERS.search(prompt), _PROMPT_TARGET.search(prompt)
        if not nums or not tgt:
            raise RsftError("not a Countdown prompt (no [numbers] or target found)", field="prompt")
        numbers = [int(x) for x in nums.group(1).replace(",", " ").split()]
        target = int(tgt.group(1))
        return Sample(sample_id, prompt, "", {"numbers": numbers, "target": target})

    # -- scoring

    def extract(self, answer_text: str) -> str | None:
        """The last ``<answer>`` tag; else the last ``\\boxed{}``; else a last line that is a bare expression."""
        found = answer_tag(answer_text)
        if found is None:
            found = boxed(answer_text)
        if found is None:
            lines = [ln.strip() for ln in answer_text.strip().splitlines() if ln.strip()]
            if (
                lines
                and re.fullmatch(r"[\d\s+\-*/×÷()=.]+", lines[-1])
                and re.search(r"\d\s*[+\-*/×÷]", lines[-1])
            ):
                found = lines[-1]
        return found

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        """1.0 when the extracted expression uses the sample's numbers (rules above) and equals its target.

        Reasons: ``correct``, ``truncated`` (thinking never closed), ``no_answer``, ``parse_error``,
        ``division_by_zero``, ``non_integer_division``, ``numbers_not_from_set``, ``number_reused``,
        ``numbers_unused`` (``require_all`` only), ``wrong_value``; unscored (NaN) ``no_instance`` when the sample has
        no ``numbers``/``target`` metadata and its prompt names none.
        """
        answer_part, truncated = post_thinking(text)
        if truncated:
            return ScoreRecord(0.0, None, "truncated")
        expr = self.extract(answer_part)
        if expr is None:
            return ScoreRecord(0.0, None, "no_answer")
        meta = sample.metadata
        if (
            "numbers" not in meta or "target" not in meta
        ):  # a sample from elsewhere: read the instance off its prompt
            try:
                meta = self.sample_from_prompt(sample.prompt).metadata
            except RsftError:
                return ScoreRecord.unscored("no_instance", answer=expr)
        return self.verify(expr, meta["numbers"], meta["target"])

    def verify(self, expr: str, numbers: list[int], target: int) -> ScoreRecord:
        """Score one expression against (numbers, target)."""
        try:
            value, used = evaluate(expr, integer_division=self.integer_division)
        except ExprError as e:
            return ScoreRecord(0.0, expr, e.reason, {"error": str(e)})
        meta = {"value": str(value), "numbers_used": used}
        bad = check_numbers(used, numbers, require_all=self.require_all)
        if bad:
            return ScoreRecord(0.0, expr, bad, meta)
        if value != target:
            return ScoreRecord(0.0, expr, "wrong_value", meta)
        return ScoreRecord(1.0, expr, "correct", meta)

    # -- reference responses

    def response(self, sample: Sample, **style: Any) -> str:
        """A reference response: a narrated depth-first search (``style="cot"``) or the answer only (``"nocot"``).

        Style knobs: ``search_order`` (given | closest | random), ``verbosity`` (0 terse, 1 normal, 2 chatty),
        ``max_backtracks`` / ``min_backtracks`` (dead ends narrated before the solution; fewer only when the
        instance has fewer), ``seed`` (with the sample id, seeds the choices). See :mod:`rsft.tasks.countdown_trace`.
        """
        from rsft.tasks.countdown_trace import synthesize

        kind = check_style(style.pop("style", "cot"))
        return synthesize(sample, cot=kind == "cot", **style)
