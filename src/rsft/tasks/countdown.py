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

Expressions are parsed by this module's own recursive-descent parser; nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
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

TINYZERO_PROMPT = (
    "Using the numbers {numbers}, create an equation that equals {target}. You can use basic arithmetic "
    "operations (+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. "
    "And return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>."
)
SHORT_PROMPT = "Use {numbers} to make {target}."
PROMPTS = {"tinyzero": TINYZERO_PROMPT, "short": SHORT_PROMPT}

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


# ---------------------------------------------------------------- expression parser and verifier


class ExprError(ValueError):
    """An answer that does not parse or cannot be evaluated; ``reason`` is the scorer's reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_TOKEN_RE = re.compile(r"\s*(?:(\d+)|(.))")
_OPS = {"x": "*", "X": "*", "×": "*", "·": "*", "÷": "/", "−": "-", "–": "-", "[": "(", "]": ")"}


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for num, ch in _TOKEN_RE.findall(text):
        if num:
            tokens.append(num)
        elif ch.strip():
            ch = _OPS.get(ch, ch)
            if ch not in "+-*/()":
                raise ExprError("parse_error", f"unexpected character {ch!r}")
            tokens.append(ch)
    return tokens


@dataclass
class _Parser:
    tokens: list[str]
    integer_division: bool
    pos: int = 0
    numbers: list[int] = field(default_factory=list)

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ExprError("parse_error", "expression ends early")
        self.pos += 1
        return tok

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()
            rhs = self.unary()
            if op == "*":
                value = value * rhs
            elif rhs == 0:
                raise ExprError("division_by_zero", "division by zero")
            else:
                if self.integer_division and (value.denominator != 1 or value.numerator % rhs.numerator):
                    raise ExprError("non_integer_division", f"{value} / {rhs} is not an integer")
                value = value / rhs
        return value

    def unary(self) -> Fraction:
        if self.peek() == "-":
            self.take()
            return -self.unary()
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.atom()

    def atom(self) -> Fraction:
        tok = self.take()
        if tok == "(":
            value = self.expr()
            if self.take() != ")":
                raise ExprError("parse_error", "missing ')'")
            return value
        if tok.isdigit():
            self.numbers.append(int(tok))
            return Fraction(int(tok))
        raise ExprError("parse_error", f"unexpected {tok!r}")


_TRAILING_EQ = re.compile(r"=\s*-?\d+(?:\.\d+)?\s*$")


def evaluate(expression: str, *, integer_division: bool = False) -> tuple[Fraction, list[int]]:
    """Parse and evaluate an expression exactly.

    Args:
        expression: e.g. ``"(79 - 60) + 17"``; a trailing ``= N`` is dropped.
        integer_division: reject divisions whose result is not an integer.

    Returns:
        (value, the numbers used in order of appearance).

    Raises:
        ExprError: with ``reason`` in ``parse_error``, ``division_by_zero``, ``non_integer_division``.
    """
    text = _TRAILING_EQ.sub("", expression.strip())
    tokens = _tokenize(text)
    if not tokens:
        raise ExprError("parse_error", "empty expression")
    parser = _Parser(tokens, integer_division)
    value = parser.expr()
    if parser.pos != len(tokens):
        raise ExprError("parse_error", f"unexpected {tokens[parser.pos]!r} after a complete expression")
    return value, parser.numbers


def check_numbers(used: list[int], numbers: list[int], *, require_all: bool = False) -> str | None:
    """None when ``used`` is a sub-multiset of ``numbers``; else a scorer reason."""
    pool: dict[int, int] = {}
    for n in numbers:
        pool[n] = pool.get(n, 0) + 1
    for n in used:
        if n not in pool:
            return "numbers_not_from_set"
        if pool[n] == 0:
            return "number_reused"
        pool[n] -= 1
    if require_all and any(pool.values()):
        return "numbers_unused"
    return None


# ---------------------------------------------------------------- solver


@dataclass(frozen=True)
class Step:
    """One combination ``a op b = result`` and the expressions of its operands."""

    a: int
    op: str
    b: int
    result: int


@dataclass(frozen=True)
class Solution:
    """A solver result: the steps in order, the final expression, and the search nodes visited."""

    steps: tuple[Step, ...]
    expression: str
    nodes: int


# an item is (value, expression text, is_compound)
_Item = tuple[int, str, bool]


def _fmt(item: _Item) -> str:
    return f"({item[1]})" if item[2] else item[1]


def _moves(values: list[int] | tuple[int, ...], use_all: bool) -> list[tuple[int, int, str, int]]:
    """All distinct moves (i, j, op, result) over positive integers, larger operand first, exact division only.

    Moves that cannot help when numbers may be left unused (``x*1``, ``x/1``, ``a-a``) are kept only with
    ``use_all``, where the 1 or the pair must still be consumed.
    """
    out: list[tuple[int, int, str, int]] = []
    add = out.append
    n = len(values)
    for i in range(n):
        vi = values[i]
        for j in range(i + 1, n):
            vj = values[j]
            hi, lo, a, b = (i, j, vi, vj) if vi >= vj else (j, i, vj, vi)
            add((hi, lo, "+", a + b))
            if a != b or use_all:
                add((hi, lo, "-", a - b))
            if b != 1 or use_all:
                add((hi, lo, "*", a * b))
                if b and a % b == 0:
                    add((hi, lo, "/", a // b))
    return out


def _apply(items: list[_Item], move: tuple[int, int, str, int], spaced: bool) -> list[_Item]:
    i, j, op, result = move
    sep = f" {op} " if spaced else op
    new = (result, _fmt(items[i]) + sep + _fmt(items[j]), True)
    return [it for k, it in enumerate(items) if k != i and k != j] + [new]


def _order(moves: list, target: int, order: str, rng: Any) -> list:
    if order == "closest":
        return sorted(moves, key=lambda m: abs(m[3] - target))
    if order == "random":
        moves = list(moves)
        rng.shuffle(moves)
        return moves
    if order == "given":
        return moves
    raise RsftError(
        f"unknown search order '{order}'", field="search_order", fix="use given, closest or random"
    )


def expression_of(numbers: list[int], steps: tuple[Step, ...] | list[Step], *, spaced: bool = True) -> str:
    """The expression that performs ``steps`` on ``numbers`` (operands parenthesised when compound)."""
    items: list[_Item] = [(v, str(v), False) for v in numbers]
    for s in steps:
        i = next(k for k, it in enumerate(items) if it[0] == s.a)
        j = next(k for k, it in enumerate(items) if it[0] == s.b and k != i)
        items = _apply(items, (i, j, s.op, s.result), spaced)
    return items[-1][1]


def _last_step(x: int, y: int, target: int) -> Step | None:
    """The move combining the last two values into ``target`` (same op order as :func:`_moves`), or None."""
    a, b = (x, y) if x >= y else (y, x)
    if a + b == target:
        return Step(a, "+", b, target)
    if a - b == target:
        return Step(a, "-", b, target)
    if a * b == target:
        return Step(a, "*", b, target)
    if b and a == target * b:
        return Step(a, "/", b, target)
    return None


def solve(
    numbers: list[int],
    target: int,
    *,
    use_all: bool = True,
    order: str = "given",
    rng: Any = None,
    spaced: bool = True,
) -> Solution | None:
    """Exact depth-first solver over positive integers with exact integer division.

    The search runs on value tuples; failed states (the sorted multiset of remaining values) are memoised, so each
    multiset is expanded once. When numbers may be left unused the search deepens one step at a time, so the
    solution has the fewest steps. The expression is rebuilt from the winning steps.

    Args:
        numbers: the given numbers.
        target: the value to reach.
        use_all: every number must be used (else any subset, at least one step, may be used).
        order: move order: ``given`` (pairs in input order), ``closest`` (result nearest the target first), ``random``.
        rng: a ``random.Random`` for ``order="random"``.
        spaced: spaces around operators in the expression.

    Returns:
        The first solution in that order, or None when there is none.
    """
    failed: set[tuple[int, ...]] = set()
    nodes = 0

    def dfs(values: tuple[int, ...], path: tuple[Step, ...], limit: int) -> tuple[Step, ...] | None:
        """Depth-first from ``values``; ``limit`` is the most steps on a path."""
        nonlocal nodes
        if use_all and len(values) == 2:  # the leaves are most of the tree: check them without building moves
            nodes += 1
            step = _last_step(values[0], values[1], target)
            return None if step is None else (*path, step)
        key = tuple(sorted(values))
        if key in failed:
            return None
        deeper = len(path) + 1 < limit
        for i, j, op, r in _order(_moves(values, use_all), target, order, rng):
            nodes += 1
            step = Step(values[i], op, values[j], r)
            if r == target and (not use_all or len(values) == 2):
                return (*path, step)
            if deeper:
                rest = tuple(v for k, v in enumerate(values) if k != i and k != j) + (r,)
                found = dfs(rest, (*path, step), limit)
                if found:
                    return found
        failed.add(key)
        return None

    if use_all:
        steps = dfs(tuple(numbers), (), len(numbers) - 1)
    else:  # iterative deepening: the shortest solutions first (memo is per depth limit)
        steps = None
        for limit in range(1, len(numbers)):
            failed.clear()
            steps = dfs(tuple(numbers), (), limit)
            if steps is not None:
                break
    if steps is None:
        return None
    return Solution(steps, expression_of(numbers, steps, spaced=spaced), nodes)


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
        while True:
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
