"""Countdown: generator determinism and solvability, the verifier's edge cases, the trace synthesizer."""

from __future__ import annotations

import json
import math

import pytest

from rsft.chat import split_thinking
from rsft.tasks import get_task
from rsft.tasks.base import Sample
from rsft.tasks.countdown import CountdownTask, evaluate, solve


@pytest.fixture(scope="module")
def task() -> CountdownTask:
    return CountdownTask()


@pytest.fixture(scope="module")
def samples(task):
    return task.generate(300, seed=3, min_numbers=3, max_numbers=5)


def _sample(numbers, target):
    return Sample("x", "", "", {"numbers": numbers, "target": target, "use_all": True})


def test_registry_returns_countdown():
    assert isinstance(get_task("countdown"), CountdownTask)


def test_generate_is_a_pure_function_of_n_seed_settings(task):
    a = [s.to_dict() for s in task.generate(50, seed=7)]
    b = [s.to_dict() for s in task.generate(50, seed=7)]
    c = [s.to_dict() for s in task.generate(80, seed=7)]
    assert json.dumps(a) == json.dumps(b)
    assert a == c[:50]  # a larger n extends the prefix
    assert a != [s.to_dict() for s in task.generate(50, seed=8)]
    assert task.generate(5, seed=7, num_max=20)[0].id != a[0]["id"]  # settings are part of the id


def test_generated_instances_respect_settings_and_are_solvable(task, samples):
    for s in samples:
        nums, target = s.metadata["numbers"], s.metadata["target"]
        assert 3 <= len(nums) <= 5 and all(1 <= n <= 99 for n in nums)
        assert 1 <= target <= 100 and target not in nums
        assert s.metadata["search_nodes"] >= 1
        assert solve(nums, target) is not None
        assert task.verify(s.target, nums, target).correct
    assert len({s.id for s in samples}) == len(samples)


def test_prompt_is_tinyzero_style(samples):
    p = samples[0].prompt
    assert p.startswith(f"Using the numbers {samples[0].metadata['numbers']}, create an equation that equals")
    assert "each number can only be used once" in p and "<answer> </answer>" in p


def test_sample_from_prompt_round_trips(task, samples):
    s = task.sample_from_prompt(samples[0].prompt)
    assert s.metadata == {"numbers": samples[0].metadata["numbers"], "target": samples[0].metadata["target"]}


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("<answer>(79 - 60) + 17</answer>", "correct"),
        ("<answer>79-60+17</answer>", "correct"),
        ("<answer>17 + 79 - 60 = 36</answer>", "correct"),  # a trailing "= N" is allowed
        ("<answer>[79 - 60] + 17</answer>", "correct"),
        ("<answer>-(60 - 79) + 17</answer>", "correct"),  # unary minus is an operator, not a new number
        ("<answer>79 - (60 + 17)</answer>", "wrong_value"),
        ("<answer>79 - 60 + 17 + 17</answer>", "number_reused"),
        ("<answer>79 - 60 + 18</answer>", "numbers_not_from_set"),
        ("<answer>79 + * 60</answer>", "parse_error"),
        ("<answer>(79 - 60 + 17</answer>", "parse_error"),
        ("<answer>79 - 60 + 17.5</answer>", "parse_error"),
        ("<answer>import os</answer>", "parse_error"),
        ("<answer></answer>", "parse_error"),
        ("the answer is thirty-six", "no_answer"),
        ("<think>79 - 60 = 19, 19 + 17 = 36", "truncated"),
    ],
)
def test_verifier_edge_cases(task, answer, reason):
    rec = task.score(_sample([79, 17, 60], 36), answer)
    assert rec.reason == reason, rec
    assert rec.value == (1.0 if reason == "correct" else 0.0)


def test_last_answer_tag_wins_and_boxed_fallback(task):
    s = _sample([79, 17, 60], 36)
    assert task.score(s, "<answer>1+1</answer> no wait <answer>79-60+17</answer>").correct
    assert task.score(s, "so \\boxed{79-60+17}").correct
    assert task.score(s, "<think>try <answer>1</answer></think>\n79 - 60 + 17").correct


def test_division_rules(task):
    assert task.score(_sample([5, 5, 3], 1), "<answer>3 / (5 - 5)</answer>").reason == "division_by_zero"
    s = _sample([7, 2, 2], 7)
    assert task.score(s, "<answer>(7 / 2) * 2</answer>").correct  # exact rationals by default
    strict = CountdownTask(integer_division=True)
    assert strict.score(s, "<answer>(7 / 2) * 2</answer>").reason == "non_integer_division"
    assert strict.score(_sample([8, 2, 3], 12), "<answer>8 / 2 * 3</answer>").correct


def test_require_all(task):
    s = _sample([10, 2, 5], 12)
    assert task.score(s, "<answer>10 + 2</answer>").correct
    assert CountdownTask(require_all=True).score(s, "<answer>10 + 2</answer>").reason == "numbers_unused"


def test_evaluate_never_uses_eval():
    value, used = evaluate("2*(3+4)-10/5")
    assert value == 12 and used == [2, 3, 4, 10, 5]
    with pytest.raises(ValueError):
        evaluate("__import__('os')")


def test_solver_exact_small_cases():
    assert solve([1, 2, 3], 7).expression  # 1 + 2 * 3 or (1 + 2) * ... found
    assert solve([2, 2], 5) is None
    assert (
        solve([5, 5, 5], 0, use_all=True) is not None
    )  # 5 - 5 = 0, 0 * 5 = 0 (zeros allowed when using all)
    sol = solve([3, 8, 100], 11, use_all=False)
    assert sol is not None and len(sol.steps) == 1


@pytest.mark.parametrize("verbosity", [0, 1, 2])
def test_traces_verify_and_backtrack(task, samples, verbosity):
    for s in samples[:100]:
        text = task.response(s, verbosity=verbosity, max_backtracks=2)
        split = split_thinking(text)
        assert split.has_thinking and not split.truncated
        assert task.score(s, text).correct, text
        assert split.thinking.count("backtrack") == 2 and "Wait" in split.thinking
        assert ("verify" in split.thinking) or ("Check:" in split.thinking)


def test_trace_knobs(task, samples):
    s = samples[0]
    assert "backtrack" not in task.response(s, max_backtracks=0)
    counts = {
        task.response(s, min_backtracks=0, max_backtracks=3, seed=k).count("backtrack") for k in range(12)
    }
    assert counts <= {0, 1, 2, 3} and len(counts) > 1
    by_order = {task.response(s, search_order=o, seed=1) for o in ("given", "closest", "random")}
    assert len(by_order) > 1
    nocot = task.response(s, style="nocot")
    assert nocot.startswith("<answer>") and "<think>" not in nocot and task.score(s, nocot).correct


def test_traces_are_byte_identical_per_seed(task, samples):
    a = [task.response(s, seed=5, search_order="random") for s in samples[:30]]
    b = [task.response(s, seed=5, search_order="random") for s in samples[:30]]
    assert a == b


def test_six_numbers(task):
    for s in task.generate(3, seed=0, min_numbers=6, max_numbers=6):
        assert task.score(s, task.response(s)).correct


def test_scorer_agrees_with_ground_truth_on_cd3(shared_benchmarks, task):
    """d1's 3-number test set: every instance is solvable using all numbers, and the solver's answer verifies."""
    path = shared_benchmarks / "countdown" / "countdown_cd3_test.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len(rows) == 256
    strict = CountdownTask(require_all=True, integer_division=True)
    for r in rows:
        numbers, target = [int(x) for x in r["input"].split(",")], int(r["output"])
        sol = solve(numbers, target, use_all=True)
        assert sol is not None, r
        s = _sample(numbers, target)
        assert strict.score(s, f"<answer>{sol.expression}</answer>").correct
        assert not math.isnan(task.score(s, "<answer>1</answer>").value)


def test_score_reads_the_instance_off_the_prompt_when_metadata_is_missing(task, samples):
    s = samples[0]
    bare = Sample("b", s.prompt, "", {})
    assert task.score(bare, f"<answer>{s.target}</answer>").correct
    rec = task.score(Sample("c", "no instance here", "", {}), "<answer>1+2</answer>")
    assert math.isnan(rec.value) and rec.reason == "no_instance"


def test_subset_mode_finds_shortest_solutions(task):
    for s in task.generate(100, seed=0, use_all=False, max_numbers=5):
        sol = solve(s.metadata["numbers"], s.metadata["target"], use_all=False)
        shorter = solve(s.metadata["numbers"], s.metadata["target"], use_all=False)  # deterministic
        assert sol == shorter and task.score(s, task.response(s)).correct
        if len(sol.steps) > 1:  # no single step reaches the target
            nums = s.metadata["numbers"]
            pairs = [(a, b) for i, a in enumerate(nums) for b in nums[i + 1 :]]
            assert all(s.metadata["target"] not in (a + b, abs(a - b), a * b) for a, b in pairs)
