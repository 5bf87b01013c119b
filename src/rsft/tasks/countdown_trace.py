"""The Countdown long-CoT trace synthesizer: a depth-first search narrated in natural language.

The narration is: ``b`` dead ends (a first move the search order offers, followed down to a single number that is
not the target; each ends with an explicit "Wait, ... backtrack"), then the solution path the solver found, then a
verification of the final expression re-computed by the scorer's own parser, then the answer. Everything is a pure
function of (sample, style knobs, seed): the same inputs give byte-identical text.
"""

from __future__ import annotations

import random

from rsft._util.errors import RsftError
from rsft._util.seeding import derive_seed
from rsft.tasks._answer import wrap
from rsft.tasks.base import Sample
from rsft.tasks.countdown_expr import evaluate
from rsft.tasks.countdown_solver import Step, moves, order_moves, solve


def _dead_ends(
    numbers: list[int], target: int, first: Step, count: int, order: str, rng: random.Random, use_all: bool
) -> list[list[Step]]:
    """Up to ``count`` dead-end paths, each from a different first move than the solution's ``first``."""
    paths: list[list[Step]] = []
    for i, j, op, r in order_moves(moves(numbers, use_all), target, order, rng):
        if len(paths) == count:
            break
        step = Step(numbers[i], op, numbers[j], r)
        if step == first or r == target:
            continue
        values, path = _rest(numbers, i, j, r), [step]
        while len(values) > 1:
            options = [m for m in order_moves(moves(values, use_all), target, order, rng) if m[3] != target]
            if not options:
                break
            a, b, o, res = options[0]
            path.append(Step(values[a], o, values[b], res))
            values = _rest(values, a, b, res)
        if path[-1].result != target:
            paths.append(path)
    return paths


def _rest(values: list[int], i: int, j: int, result: int) -> list[int]:
    return [v for k, v in enumerate(values) if k != i and k != j] + [result]


def _step_text(s: Step, spaced: bool) -> str:
    return f"{s.a} {s.op} {s.b} = {s.result}" if spaced else f"{s.a}{s.op}{s.b}={s.result}"


def _narrate_path(path: list[Step], target: int, verbosity: int) -> str:
    if verbosity == 0:
        return ", ".join(_step_text(s, False) for s in path)
    parts = []
    for k, s in enumerate(path):
        lead = "Let me try" if k == 0 else "Then"
        text = f"{lead} {_step_text(s, True)}."
        if verbosity >= 2 and s.result != target:
            gap = abs(s.result - target)
            text += f" That is {gap} {'above' if s.result > target else 'below'} {target}."
        parts.append(text)
    return " ".join(parts)


def _dead_end_text(path: list[Step], target: int, verbosity: int) -> str:
    body = _narrate_path(path, target, verbosity)
    if verbosity == 0:
        return f"{body}, not {target}. Wait, backtrack."
    return (
        f"{body} {path[-1].result} is not {target}. Wait, that doesn't work. "
        "Let me backtrack and try a different combination."
    )


def _verify_text(
    expression: str, numbers: list[int], target: int, steps: tuple[Step, ...], verbosity: int
) -> str:
    value, used = evaluate(expression, integer_division=True)
    if value != target:  # the solver and the parser disagree: a bug, never a user error
        raise AssertionError(f"synthesized expression {expression} = {value}, not {target}")
    used_text = ", ".join(str(u) for u in used)
    if verbosity == 0:
        return f"Check: {expression}={target}, uses {used_text} once each. Correct."
    calc = ", ".join(_step_text(s, True) for s in steps)
    return (
        f"Let me verify: {calc}. The numbers used are {used_text}, each once, "
        f"from {_list(numbers)}. The result is {target}. Correct."
    )


def _list(numbers: list[int]) -> str:
    return "[" + ", ".join(str(n) for n in numbers) + "]"


def synthesize(
    sample: Sample,
    *,
    cot: bool = True,
    search_order: str = "closest",
    verbosity: int = 1,
    max_backtracks: int = 2,
    min_backtracks: int | None = None,
    seed: int = 0,
) -> str:
    """The reference response for a Countdown sample (see the module docstring).

    Args:
        sample: a Countdown sample (``metadata`` holds ``numbers``, ``target`` and ``use_all``).
        cot: narrate the search in ``<think>`` (else the answer only).
        search_order: ``given``, ``closest`` or ``random`` move order, for the solver and the dead ends.
        verbosity: 0 terse (toy models), 1 normal, 2 with commentary on the distance to the target.
        max_backtracks: most dead ends narrated.
        min_backtracks: fewest dead ends; the count is drawn in ``[min, max]`` (default: exactly ``max``).
        seed: varies the random choices for the same sample.

    Raises:
        RsftError: the sample has no solution or a knob is out of range.
    """
    if verbosity not in (0, 1, 2) or max_backtracks < 0:
        raise RsftError("verbosity must be 0, 1 or 2 and max_backtracks >= 0", field="verbosity")
    numbers, target = list(sample.metadata["numbers"]), int(sample.metadata["target"])
    use_all = bool(sample.metadata.get("use_all", True))
    rng = random.Random(
        derive_seed("countdown-trace", sample.id, seed, search_order, verbosity, max_backtracks)
    )
    sol = solve(numbers, target, use_all=use_all, order=search_order, rng=rng, spaced=verbosity > 0)
    if sol is None:
        raise RsftError(f"Countdown sample {sample.id} has no solution", field="target")
    answer = f"<answer>{sol.expression}</answer>"
    if not cot:
        return answer
    lo = max_backtracks if min_backtracks is None else min(min_backtracks, max_backtracks)
    count = rng.randint(lo, max_backtracks)
    dead = _dead_ends(numbers, target, sol.steps[0], count, search_order, rng, use_all)
    lines = []
    if verbosity >= 2:
        rule = "all of them, each once" if use_all else "each at most once"
        lines.append(f"I need to make {target} from {_list(numbers)}, using {rule}.")
    lines += [_dead_end_text(p, target, verbosity) for p in dead]
    found = _narrate_path(list(sol.steps), target, verbosity)
    lines.append(f"{found}, got {target}!" if verbosity == 0 else f"{found} That's {target}, the target!")
    lines.append(_verify_text(sol.expression, numbers, target, sol.steps, verbosity))
    tail = answer if verbosity == 0 else f"So {sol.expression} = {target}.\n{answer}"
    return wrap("\n".join(lines), tail)
