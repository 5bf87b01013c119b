"""Curation on hand-built pools: verification, each selection rule, cut, variants on the same queries, report."""

from __future__ import annotations

import json

import pytest

from rsft._util.errors import RsftError
from rsft.data.io import read_sft
from rsft.rollouts.curate import CurateConfig, curate


def _resp(expr: str, think: str = "3*5=15, 15+7=22") -> str:
    return f"<think>\n{think}\n</think>\n<answer>{expr}</answer>"


def _pool_rows() -> list[dict]:
    """q0: 2 right (5 and 3 tokens) + 1 wrong; q1: 1 right + 1 cut by length; q2: all wrong; q3: right only;
    q4: 1 right + 1 wrong."""
    right, wrong = _resp("3*5+7"), _resp("3+5+7")
    return [
        {"query_id": "q0", "sample_idx": 0, "response": right, "token_ids": [1] * 5, "logprobs": [-0.1] * 5},
        {"query_id": "q0", "sample_idx": 1, "response": wrong, "token_ids": [1] * 4},
        {"query_id": "q0", "sample_idx": 2, "response": right, "token_ids": [1] * 3, "logprobs": [-0.9] * 3},
        {"query_id": "q1", "sample_idx": 0, "response": right},
        {"query_id": "q1", "sample_idx": 1, "response": "<think>\nstill going", "finish_reason": "length"},
        {"query_id": "q2", "sample_idx": 0, "response": wrong},
        {"query_id": "q2", "sample_idx": 1, "response": "no tags at all"},
        {"query_id": "q3", "sample_idx": 0, "response": right},
        {"query_id": "q4", "sample_idx": 0, "response": wrong},
        {"query_id": "q4", "sample_idx": 1, "response": right},
    ]


def _cfg(pool, tmp_path, **kw) -> CurateConfig:
    return CurateConfig(pool=str(pool), task="countdown", out=str(tmp_path / kw.pop("name", "out")), **kw)


def _sample_idx(rows) -> list[tuple[str, int]]:
    return [(r.id, r.metadata.get("sample_idx")) for r in rows]


def test_one_verified_variants_share_queries_and_report(write_pool, tmp_path):
    pool = write_pool(_pool_rows())
    rep = curate(_cfg(pool, tmp_path))
    out = tmp_path / "out"
    long, nocot, low = (read_sft(out / f"{v}.parquet") for v in ("long_cot", "no_cot", "low_quality"))
    # q2 has no verified response, q3 no unverified one, q1 only an unfinished one: q0 and q4 have every variant
    assert sorted(r.id for r in long) == ["q0", "q4"]
    assert [r.id for r in nocot] == [r.id for r in long] == [r.id for r in low]
    assert all(r.response == _resp("3*5+7") for r in long)
    assert all(r.response == "<answer>3*5+7</answer>" for r in nocot)
    assert all(r.response == _resp("3+5+7") for r in low)  # an unverified response of the same query
    assert rep["verdicts"] == {
        "verified": 5,
        "not_verified": 5,
        "unscored": 0,
        "source": "re-verified with countdown",
    }
    assert rep["status_counts"] == {"candidate": 5, "wrong_value": 3, "truncated": 1, "no_answer": 1}
    assert rep["verified_per_query"] == {"0": 1, "1": 3, "2": 1}
    md = (out / "report.md").read_text()
    assert "| wrong_value | 3 |" in md and "long_cot" in md
    assert json.loads((out / "report.json").read_text())["yield"]["selected_rows"] == len(long)


def test_selection_rules_and_seed(write_pool, tmp_path):
    pool = write_pool(_pool_rows())
    picks = {}
    for rule in ("shortest_verified", "longest_verified", "max_logprob_verified", "min_logprob_verified"):
        curate(_cfg(pool, tmp_path, select=rule, same_queries=False, name=rule))
        rows = read_sft(tmp_path / rule / "long_cot.parquet")
        picks[rule] = dict(_sample_idx(rows))["q0"]
    assert picks == {
        "shortest_verified": 2,  # 3 tokens
        "longest_verified": 0,  # 5 tokens
        "max_logprob_verified": 0,  # mean -0.1
        "min_logprob_verified": 2,  # mean -0.9
    }
    curate(_cfg(pool, tmp_path, select="all_verified", same_queries=False, name="all"))
    rows = read_sft(tmp_path / "all" / "long_cot.parquet")
    assert sorted(_sample_idx(rows)) == [("q0", 0), ("q0", 2), ("q1", 0), ("q3", 0), ("q4", 1)]
    low = read_sft(tmp_path / "all" / "low_quality.parquet")
    assert sorted(r.id for r in low) == ["q0", "q0", "q4"]  # q1 and q3 have no finished unverified response

    def once(seed: int, name: str) -> list:
        curate(_cfg(pool, tmp_path, seed=seed, same_queries=False, name=name))
        return _sample_idx(read_sft(tmp_path / name / "long_cot.parquet"))

    assert once(1, "s1") == once(1, "s1b")  # same seed, same rows in the same order
    draws = {tuple(once(s, f"s{s}x")) for s in range(2, 8)}
    assert len(draws) > 1  # the seed matters (q0 has two verified responses; the order is shuffled too)


def test_target_size_filters_and_stored_verdicts(write_pool, tmp_path):
    pool = write_pool(_pool_rows())
    rep = curate(_cfg(pool, tmp_path, same_queries=False, target_size=2, name="cut"))
    assert len(read_sft(tmp_path / "cut" / "long_cot.parquet")) == 2 and rep["yield"]["shortfall"] == 0
    rep = curate(_cfg(pool, tmp_path, same_queries=False, target_size=10, name="short"))
    assert rep["yield"]["selected_rows"] == 4 and rep["yield"]["shortfall"] == 6
    rep = curate(_cfg(pool, tmp_path, select="all_verified", same_queries=False, max_tokens=4, name="len"))
    assert rep["status_counts"]["too_long"] == 1  # q0 sample 0 has 5 tokens
    rep = curate(
        _cfg(pool, tmp_path, select="all_verified", same_queries=False, min_logprob_mean=-0.6, name="lp")
    )
    assert rep["status_counts"]["low_logprob"] == 1  # q0 sample 2, mean -0.9

    # trusting the pool's column instead of re-verifying: the pool says only q2/0 is verified
    rows = [{**r, "verified": (r["query_id"], r["sample_idx"]) == ("q2", 0)} for r in _pool_rows()]
    pool2 = write_pool(rows, name="pool2")
    rep = curate(_cfg(pool2, tmp_path, reverify=False, name="stored"))
    assert [r.id for r in read_sft(tmp_path / "stored" / "long_cot.parquet")] == ["q2"]
    assert rep["verdicts"]["source"] == "the pool's verified column"


def test_low_quality_from_a_query_column(write_pool, tmp_path):
    rows = _pool_rows()
    for r in rows:
        meta = {"numbers": [3, 5, 7], "target": 22}
        if r["query_id"] != "q3":
            meta["short_solution"] = f"short {r['query_id']}"
        r["query_meta"] = json.dumps(meta)
    pool = write_pool(rows)
    curate(_cfg(pool, tmp_path, low_quality="column:short_solution"))
    low = read_sft(tmp_path / "out" / "low_quality.parquet")
    assert sorted((r.id, r.response) for r in low) == [
        ("q0", "short q0"),
        ("q1", "short q1"),
        ("q4", "short q4"),
    ]


def test_nothing_selected_is_an_error_with_a_report(write_pool, tmp_path):
    pool = write_pool([r for r in _pool_rows() if r["query_id"] == "q2"])
    with pytest.raises(RsftError, match="no response passed selection"):
        curate(_cfg(pool, tmp_path))
    assert "wrong_value" in (tmp_path / "out" / "report.md").read_text()
    with pytest.raises(RsftError, match="bad low_quality"):
        curate(_cfg(pool, tmp_path, low_quality="column:"))


def test_math_and_code_verifiers():
    from rsft.rollouts.verify import get_verifier

    math = get_verifier("math")
    assert (
        math("q", "", "\\frac{1}{2}", {}, "<think>x</think> The answer is $\\boxed{0.5}$").reason == "correct"
    )
    assert math("q", "", "2", {}, "<think>x</think> $\\boxed{3}$").reason == "wrong_answer"
    assert math("q", "", "2", {}, "<think>never closed").reason == "truncated"

    code = get_verifier("code")
    meta = {"tests": [{"input": "2 3\n", "output": "5"}, {"input": "1 1\n", "output": "2"}]}
    good = "<think>add</think>\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    bad = good.replace("a + b", "a * b")
    assert code("q", "", "", meta, good).reason == "correct"
    assert code("q", "", "", meta, bad).reason == "wrong_output"
    assert code("q", "", "", meta, "<think>x</think> no code").reason == "no_code"
