"""The Countdown scorer's expression parser: exact rational arithmetic by recursive descent, never ``eval``.

The rules it implements are stated once, in :mod:`rsft.tasks.countdown`. The task scores with it and the trace
synthesizer (:mod:`rsft.tasks.countdown_trace`) re-computes its final expression with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction


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
