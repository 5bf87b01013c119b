"""Math benchmarks: loaders, the paper's prompt, and math-verify graders measured against references."""

from __future__ import annotations

import json
import threading

import pytest

from rsft.bench._math import MATH_PROMPT, last_boxed, score_math
from rsft.bench.aime import Aime24, Aime25
from rsft.bench.gsm8k import Gsm8k, grade
from rsft.bench.math500 import Math500


def test_last_boxed_handles_nesting_and_bare_forms():
    assert last_boxed(r"so \boxed{1} then \boxed{\frac{1}{2}}.") == r"\frac{1}{2}"
    assert last_boxed(r"\boxed 5$") == "5"
    assert last_boxed(r"\fbox{x^{2}}") == "x^{2}"
    assert last_boxed("none") is None
    assert last_boxed(r"\boxed{unclosed") is None


def test_math500_gold_verifies_against_own_solution(shared_benchmarks):
    bench = Math500(path=str(shared_benchmarks / "math500/test.jsonl"))
    samples = bench.load()
    assert len(samples) == 500 and samples[0].id.startswith("math500/test/")
    assert bench.prompt(samples[0])[0]["content"] == MATH_PROMPT.format(problem=samples[0].prompt)
    assert bench.prompt(samples[0])[0]["content"].endswith(
        "\n Please reason step by step, and put your final answer within \\boxed{}."
    )
    exceptions = []
    for s in samples:
        boxed = last_boxed(s.metadata["solution"])
        if score_math(s.target, f"The answer is \\boxed{{{boxed}}}.").value != 1.0:
            exceptions.append((s.id, s.target, boxed))
    print(
        f"MATH-500: {500 - len(exceptions)}/500 gold answers verify against their solution; exceptions: {exceptions}"
    )
    assert len(exceptions) <= 5


def test_math_scoring_is_thread_safe_and_rejects_wrong():
    results = {}

    def work(i):
        results[i] = score_math("\\frac{1}{2}", "thinking... \\boxed{0.5}").value

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results.values()) == {1.0}
    assert score_math("3", "\\boxed{4}").reason == "wrong_value"
    assert score_math("3", "no answer here").reason == "no_answer"


def test_aime_loaders_parse_every_row(shared_benchmarks):
    a24 = Aime24(path=str(shared_benchmarks / "aime_2024/aime_2024_matharena.jsonl")).load()
    a24q = Aime24(path=str(shared_benchmarks / "aime_2024/aime24_qwen25math.jsonl")).load()
    a25 = Aime25(path=str(shared_benchmarks / "aime_2025/aime_2025_matharena.jsonl")).load()
    assert len(a24) == len(a24q) == len(a25) == 30
    assert Aime24.defaults["n"] == 10 and Math500.defaults["n"] == 3
    assert sorted(s.target for s in a24) == sorted(s.target for s in a24q)
    assert Aime25().score(a25[0], f"\\boxed{{{a25[0].target}}}").value == 1.0


def test_gsm8k_grader_agrees_with_openai_labels(shared_benchmarks):
    gold = Gsm8k(path=str(shared_benchmarks / "gsm8k/test.jsonl")).load()
    assert len(gold) == 1319
    assert len(Gsm8k(path=str(shared_benchmarks / "gsm8k/test_socratic.jsonl")).load()) == 1319
    rows = [json.loads(x) for x in open(shared_benchmarks / "gsm8k/example_model_solutions.jsonl")]
    for key in ("175b_finetuning", "175b_verification"):
        agree = 0
        for s, row in zip(gold, rows, strict=True):
            assert row["question"] == s.prompt
            agree += (grade(s.target, row[key]["solution"]).value == 1.0) == row[key]["is_correct"]
        print(f"GSM8K {key}: grader agrees with is_correct on {agree}/{len(rows)} = {agree / len(rows):.4f}")
        assert agree / len(rows) >= 0.99


def test_gsm8k_grader_forms():
    assert grade("1000", "so she pays $1,000.\nThe answer is $1,000").value == 1.0
    assert grade("18", "... \\boxed{18}").value == 1.0
    assert grade("18", "#### 19").value == 0.0
    assert grade("18", "I don't know").reason == "no_answer"


def test_hub_loading_offline_names_the_id(monkeypatch):
    from rsft._util.errors import DataError, OfflineError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(OfflineError, match="HuggingFaceH4/MATH-500"):
        Math500(hub_id="HuggingFaceH4/MATH-500", revision="0123456789abcdef0123456789abcdef01234567").load()
    with pytest.raises(DataError, match="pinned revision"):
        Math500(hub_id="HuggingFaceH4/MATH-500").load()


def test_missing_local_file_lists_where_it_looked(tmp_path, monkeypatch):
    from rsft._util.errors import DataError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RSFT_DATA_DIR", str(tmp_path / "nothing"))
    with pytest.raises(DataError, match="looked in"):
        Math500().load()
