"""Variants (nocot, lowquality), verification against the task scorer, statistics and the marker lexicon."""

from __future__ import annotations

import pytest

from rsft._util.errors import RsftError
from rsft.chat import split_thinking
from rsft.data import MARKER_LEXICON, SFTRow, count_markers, data_stats, make_variant, verify_rows
from rsft.tasks.toyworld import task_rows


@pytest.fixture(scope="module")
def cd_rows():
    return task_rows("countdown", 40, seed=0)


def _row(response: str) -> SFTRow:
    return SFTRow([{"role": "user", "content": "q"}], response)


def test_nocot_keeps_answer_and_reports_bad_rows():
    rows = [
        _row("<think>t</think>\nSo 1.\n<answer>1</answer>"),
        _row("<think>never"),
        _row("plain"),
        _row("<think>x</think>"),
    ]
    out, report = make_variant(rows, "nocot")
    assert out[0].response == "So 1.\n<answer>1</answer>" and out[0].metadata["variant"] == "nocot"
    assert report["problems"] == {"unclosed_think": [1], "missing_think": [2], "empty_answer": [3]}
    assert [r.response for r in out] == ["So 1.\n<answer>1</answer>", "plain"]
    out2, report2 = make_variant(rows, "nocot", on_missing="drop")
    assert len(out2) == 1 and report2["dropped"] == 3


def test_nocot_of_countdown_still_verifies(cd_rows):
    out, report = make_variant(cd_rows, "nocot")
    assert report["rows_out"] == 40
    kept, vreport = verify_rows(out, "countdown")
    assert vreport["kept"] == 40 and all("<think>" not in r.response for r in out)


def test_lowquality_wrong_answers_are_wrong_and_seeded(cd_rows):
    out, report = make_variant(cd_rows, "lowquality", wrong_rate=0.5, seed=1)
    n_wrong = report["counts"].get("wrong_answer", 0)
    assert 10 <= n_wrong <= 30 and not report["problems"]["could_not_corrupt_answer"]
    kept, vreport = verify_rows(out, "countdown")
    assert vreport["kept"] == 40 - n_wrong  # every corrupted answer is rejected by the task scorer
    again, _ = make_variant(cd_rows, "lowquality", wrong_rate=0.5, seed=1)
    assert [r.response for r in again] == [r.response for r in out]
    other, _ = make_variant(cd_rows, "lowquality", wrong_rate=0.5, seed=2)
    assert [r.response for r in other] != [r.response for r in out]


def test_lowquality_truncate_and_shuffle(cd_rows):
    out, report = make_variant(cd_rows, "lowquality", wrong_rate=0.0, truncate_rate=1.0, shuffle_rate=1.0)
    assert report["counts"]["truncated"] == 40 and report["counts"]["shuffled"] >= 35
    for before, after in zip(cd_rows, out, strict=True):
        a, b = split_thinking(before.response), split_thinking(after.response)
        assert b.answer == a.answer and len(b.thinking) < len(a.thinking)
    with pytest.raises(RsftError, match="wrong_rate"):
        make_variant(cd_rows, "lowquality", wrong_rate=2)
    with pytest.raises(RsftError, match="unknown variant kind"):
        make_variant(cd_rows, "fancy")


@pytest.mark.parametrize("name", ["toy_arith", "toy_mcq", "toy_sort", "toy_instruct", "toy_safety"])
def test_lowquality_uses_the_task_for_toy_rows(name):
    rows = task_rows(name, 30, seed=0)
    out, report = make_variant(rows, "lowquality", wrong_rate=1.0)
    kept, _ = verify_rows(out, name)
    assert len(kept) == len(report["problems"]["could_not_corrupt_answer"]) == 0


def test_verify_reasons_and_prompt_fallback(cd_rows):
    rows = [
        SFTRow(r.messages, r.response) for r in cd_rows[:5]
    ]  # no metadata: the sample is parsed from the prompt
    rows.append(SFTRow(rows[0].messages, "<answer>1 + 1</answer>"))
    rows.append(SFTRow(rows[0].messages, "no answer here"))
    rows.append(SFTRow([{"role": "user", "content": "not countdown"}], "<answer>1</answer>"))
    kept, report = verify_rows(rows, "countdown")
    assert len(kept) == 5
    assert report["reasons"] == {"correct": 5, "no_answer": 1, "no_sample": 1, "numbers_not_from_set": 1}
    assert report["dropped_examples"]["no_sample"] == [7] and report["task"] == "countdown@1"


def test_markers_lexicon():
    assert set(MARKER_LEXICON) >= {"backtracking", "verification"}
    c = count_markers(
        "Wait, that doesn't work. Let me backtrack. Alternatively... Let me verify and double-check."
    )
    assert c == {"backtracking": 4, "verification": 2}
    assert count_markers("awaiting checkered unverified") == {"backtracking": 0, "verification": 0}


def test_data_stats_chars_and_tokens(cd_rows, tiny_tokenizer):
    stats = data_stats(cd_rows)
    assert stats["rows"] == 40 and stats["unit"] == "chars"
    assert stats["thinking"] == {"rows_with_thinking": 40, "unclosed": 0}
    lens = stats["lengths"]["response"]
    assert lens["min"] <= lens["p50"] <= lens["p90"] <= lens["max"]
    assert stats["markers"]["backtracking"]["rows_with"] == 40  # toy countdown narrates one backtrack
    tok = data_stats(cd_rows, tokenizer=tiny_tokenizer)
    assert tok["unit"] == "tokens" and tok["lengths"]["response"]["max"] < lens["max"]


def test_summarize_nearest_rank():
    from rsft.data.stats import summarize

    assert summarize([4, 1, 3, 2]) == {"n": 4, "mean": 2.5, "min": 1, "p50": 2, "p90": 4, "p99": 4, "max": 4}
    assert summarize([]) == {"n": 0}
