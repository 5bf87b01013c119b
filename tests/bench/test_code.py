"""Code benchmarks: loaders parse every row, reference solutions pass in the sandbox, broken ones fail."""

from __future__ import annotations

import json

import pytest

from rsft.bench._code import defines_function, last_python_block
from rsft.bench.humaneval import HumanEval
from rsft.bench.livecodebench import LiveCodeBench, decode_tests, encode_private, outputs_match
from rsft.bench.mbpp import Mbpp

# Wraps the canonical solution so it returns a different value of the same kind: the tests must notice.
CORRUPT = """
_rsft_orig = {entry}
def {entry}(*a, **k):
    r = _rsft_orig(*a, **k)
    if isinstance(r, bool):
        return not r
    if isinstance(r, (int, float)):
        return r + 1.5
    if isinstance(r, str):
        return r + "x"
    if isinstance(r, (list, tuple)):
        return type(r)(list(r) + [None])
    if r is None:
        return 0
    return None
"""


def test_last_python_block_takes_the_last_closed_python_fence():
    text = "```python\nx = 1\n```\ntext\n```\ny = 2\n```\n```bash\nls\n```\n```python\nz = 3"
    assert last_python_block(text) == "y = 2\n"
    assert last_python_block("no code") is None
    assert last_python_block("```python\na = 1\n```\n```Python3\nb = 2\n```") == "b = 2\n"


def test_humaneval_canonical_pass_and_corrupted_fail(shared_benchmarks):
    bench = HumanEval(path=str(shared_benchmarks / "humaneval/HumanEval.jsonl"), workers=2)
    samples = bench.load()
    assert len(samples) == 164
    good = [(s, f"```python\n{s.metadata['prompt']}{s.metadata['canonical_solution']}\n```") for s in samples]
    bad = [
        (
            s,
            f"```python\n{s.metadata['prompt']}{s.metadata['canonical_solution']}\n"
            f"{CORRUPT.format(entry=s.metadata['entry_point'])}\n```",
        )
        for s in samples
    ]
    scores = bench.score_many(good + bad)
    passed = [s.id for (s, _), r in zip(good, scores[:164], strict=True) if r.value != 1.0]
    survived = [s.id for (s, _), r in zip(bad, scores[164:], strict=True) if r.value != 0.0]
    assert passed == [] and survived == []
    # a bare body (no def) is completed with the prompt
    s = samples[0]
    assert bench.score(s, f"```python\n{s.metadata['canonical_solution']}```").value == 1.0
    assert bench.score(s, "no code at all").reason == "no_code_block"


def test_humaneval_cheats_fail(shared_benchmarks):
    """Wrong solutions that end with status 0, fool ``==`` or replace the prompt's helper all score 0."""
    bench = HumanEval(path=str(shared_benchmarks / "humaneval/HumanEval.jsonl"), workers=2)
    by_id = {s.id: s for s in bench.load()}
    s0, s38 = by_id["HumanEval/0"], by_id["HumanEval/38"]
    exit0 = "```python\nimport sys\nsys.exit(0)\n```"
    always = (
        "```python\nclass A:\n    def __eq__(self, o):\n        return True\n"
        "def has_close_elements(numbers, threshold):\n    return A()\n```"
    )
    helper = (
        "```python\ndef encode_cyclic(s: str):\n    return s\ndef decode_cyclic(s: str):\n    return s\n```"
    )
    honest = f"```python\n{s38.metadata['prompt']}{s38.metadata['canonical_solution']}\n```"
    scores = bench.score_many([(s0, exit0), (s0, always), (s38, helper), (s38, honest)])
    assert [r.value for r in scores] == [0.0, 0.0, 0.0, 1.0], [r.metadata.get("tests") for r in scores]


def _mbpp_reference_failures(shared_benchmarks, split, keep=None):
    bench = Mbpp(path=str(shared_benchmarks / "mbpp/mbpp.jsonl"), split=split, workers=2, timeout_s=30)
    samples = [s for s in bench.load() if keep is None or keep(s)]
    scores = bench.score_many([(s, f"```python\n{s.target}\n```") for s in samples])
    return samples, [
        (s.id, r.reason, r.metadata.get("tests"), r.metadata.get("seconds"))
        for s, r in zip(samples, scores, strict=True)
        if r.value != 1.0
    ]


def test_mbpp_reference_code_passes(shared_benchmarks):
    """Every 5th test-split task plus the ones with set-up code or slow references (all 974: the slow test)."""
    special = {"mbpp/123", "mbpp/367", "mbpp/927", "mbpp/126", "mbpp/596", "mbpp/601", "mbpp/40", "mbpp/533"}
    samples, failed = _mbpp_reference_failures(
        shared_benchmarks,
        "all",
        keep=lambda s: (
            s.id in special or (int(s.id.split("/")[1]) % 5 == 0 and int(s.id.split("/")[1]) <= 510)
        ),
    )
    assert len(samples) >= 100 and failed == []
    assert len(Mbpp(path=str(shared_benchmarks / "mbpp/mbpp.jsonl")).load()) == 500
    bench = Mbpp(path=str(shared_benchmarks / "mbpp/mbpp.jsonl"), n_items=1)
    wrong = bench.score(bench.load()[0], "```python\ndef min_cost(*a):\n    return 0\n```")
    assert wrong.value == 0.0 and wrong.metadata["status"] == "error"


@pytest.mark.slow
def test_mbpp_all_reference_code_passes(shared_benchmarks):
    samples, failed = _mbpp_reference_failures(shared_benchmarks, "all")
    assert len(samples) == 974 and failed == []


def _lcb_rows() -> list[dict]:
    stdin_public = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    stdin_private = [
        {"input": f"{i} {i * 7}\n", "output": f"{i * 8}\n", "testtype": "stdin"} for i in range(5)
    ]
    fn_public = [{"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]", "testtype": "functional"}]
    fn_private = [{"input": "[3, 2, 4]\n6", "output": "[1, 2]", "testtype": "functional"}]
    return [
        {
            "question_title": "sum",
            "question_content": "Read a and b, print a+b.",
            "platform": "atcoder",
            "question_id": "abc000_a",
            "contest_id": "abc000",
            "contest_date": "2023-05-01T00:00:00",
            "starter_code": "",
            "difficulty": "easy",
            "public_test_cases": json.dumps(stdin_public),
            "private_test_cases": encode_private(stdin_private),
            "metadata": "{}",
        },
        {
            "question_title": "two-sum",
            "question_content": "Return indices of two numbers adding to target.",
            "platform": "leetcode",
            "question_id": "1",
            "contest_id": "w1",
            "contest_date": "2023-05-02T00:00:00",
            "starter_code": "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        ",
            "difficulty": "easy",
            "public_test_cases": json.dumps(fn_public),
            "private_test_cases": json.dumps(fn_private),
            "metadata": json.dumps({"func_name": "twoSum"}),
        },
    ]


def test_livecodebench_decodes_and_scores_synthetic_rows(tmp_path):
    path = tmp_path / "lcb.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _lcb_rows()))
    bench = LiveCodeBench(path=str(path), workers=2)
    stdin_s, fn_s = bench.load()
    assert (
        len(stdin_s.metadata["private_tests"]) == 5
        and stdin_s.metadata["private_tests"][4]["output"] == "32\n"
    )
    assert fn_s.metadata["func_name"] == "twoSum" and "starter code" in fn_s.prompt
    ok_stdin = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    bad_stdin = "```python\na, b = map(int, input().split())\nprint(a * b)\n```"
    ok_fn = (
        "```python\nclass Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
        "        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n"
        "                return [seen[target - x], i]\n            seen[x] = i\n```"
    )
    bad_fn = "```python\nclass Solution:\n    def twoSum(self, nums, target):\n        return [0, 1]\n```"
    res = bench.score_many([(stdin_s, ok_stdin), (stdin_s, bad_stdin), (fn_s, ok_fn), (fn_s, bad_fn)])
    assert [r.value for r in res] == [1.0, 0.0, 1.0, 0.0]
    assert res[1].reason == "wrong_answer" and res[0].metadata["n_tests"] == 5


def test_livecodebench_refuses_pickled_globals():
    import base64
    import os
    import pickle
    import zlib

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    payload = base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode()
    with pytest.raises(pickle.UnpicklingError):
        decode_tests(payload)


def test_outputs_match_tolerates_whitespace_and_float_noise():
    assert outputs_match("3 \n4\n\n", "3\n4")
    assert outputs_match("0.3333333", "0.33333333")
    assert not outputs_match("3\n5", "3\n4")
    assert not outputs_match("abc", "abd")


def test_defines_function_parses_instead_of_matching_substrings():
    assert defines_function("def count_up_to(n):\n    return []\n", "count_up_to")
    assert defines_function("async def f():\n    pass\n", "f")
    # the counterexample: a substring match took `def count_up_to_2` for the entry point
    assert not defines_function("def count_up_to_2(n):\n    return []\n", "count_up_to")
    assert not defines_function("# def count_up_to(n) is below\nx = 1\n", "count_up_to")
    assert not defines_function("class A:\n    def count_up_to(self):\n        pass\n", "count_up_to")
    assert not defines_function("    return [1]\n", "count_up_to")  # a body: does not compile alone


def test_humaneval_body_only_and_near_miss_names_are_graded_as_prompt_plus_completion(shared_benchmarks):
    """The official harness's program is prompt + completion: a body, or code whose only def is a near-miss
    name, is completed by the prompt; a failing row keeps a non-empty stderr."""
    bench = HumanEval(path=str(shared_benchmarks / "humaneval/HumanEval.jsonl"), workers=2)
    s = next(x for x in bench.load() if x.metadata["entry_point"] == "count_up_to")
    body = s.metadata["canonical_solution"]
    helper = "\n\ndef count_up_to_2(n):\n    return count_up_to(n)\n"
    rows = bench.score_many(
        [
            (s, f"```python\n{body}```"),  # the official sample format: the body only
            (s, f"```python\n{body}{helper}```"),  # body + a helper with a near-miss name
            (s, "```python\n    return [1]\n```"),  # a wrong body
            (s, f"```python\n{s.metadata['prompt']}{body}```"),  # the whole function
        ]
    )
    assert [r.value for r in rows] == [1.0, 1.0, 0.0, 1.0], [r.metadata.get("tests") for r in rows]
    assert [r.metadata["program"] for r in rows] == ["prompt+completion"] * 3 + ["completion"]
    assert "AssertionError" in rows[2].metadata["stderr_tail"]


def test_mbpp_records_missing_functions_by_parsing(shared_benchmarks):
    bench = Mbpp(path=str(shared_benchmarks / "mbpp/mbpp.jsonl"), n_items=1)
    s = bench.load()[0]
    assert s.id == "mbpp/11" and "def remove_Occ(" in s.target
    wrong = bench.score(s, "```python\ndef remove_Occ_2(*a):\n    return 0\n```")
    assert wrong.value == 0.0 and wrong.metadata["missing_functions"] == ["remove_Occ"]
    assert "NameError" in wrong.metadata["stderr_tail"]
    right = bench.score(s, f"```python\n{s.target}\n```")
    assert right.value == 1.0 and right.metadata["missing_functions"] == []
