"""The Countdown solver: an exact depth-first search over positive integers with exact integer division.

Used by the task's generator (every generated instance is solvable; the nodes visited are its difficulty) and by the
long-CoT trace synthesizer (:mod:`rsft.tasks.countdown_trace`), which narrates the same search: :func:`moves` lists
the candidate combinations of a state and :func:`order_moves` puts them in search order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rsft._util.errors import RsftError


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


def moves(values: list[int] | tuple[int, ...], use_all: bool) -> list[tuple[int, int, str, int]]:
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


def order_moves(candidates: list, target: int, order: str, rng: Any) -> list:
    """``candidates`` (from :func:`moves`) in search order: ``given``, ``closest`` (result nearest the target
    first) or ``random`` (shuffled with ``rng``)."""
    if order == "closest":
        return sorted(candidates, key=lambda m: abs(m[3] - target))
    if order == "random":
        candidates = list(candidates)
        rng.shuffle(candidates)
        return candidates
    if order == "given":
        return candidates
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
    """The move combining the last two values into ``target`` (same op order as :func:`moves`), or None."""
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
        for i, j, op, r in order_moves(moves(values, use_all), target, order, rng):
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
