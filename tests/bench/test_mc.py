"""Multiple choice: stable shuffles, letter extraction that never reads a word, the last answer statement."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from rsft._util.errors import DataError
from rsft.bench._mc import boxed_letter, letter_from_box, stable_shuffle
from rsft.bench.gpqa import FIELDS, GpqaDiamond
from rsft.bench.mmlu_pro import (
    OFFICIAL_AGAIN,
    OFFICIAL_FINAL,
    OFFICIAL_FIRST,
    MmluPro,
    extract_answer,
    official_extract,
)
from rsft.tasks.base import Sample


@pytest.mark.parametrize(
    ("box", "letter"),
    [
        ("B", "B"),
        ("(C)", "C"),
        (r"\text{D}", "D"),
        (r"\textbf{(A)}", "A"),
        ("B) 42 kJ", "B"),
        ("Answer: C", "C"),
        ("$D$", "D"),
        ("Bromine", None),
        ("A cat", None),
        ("Carbon dioxide", None),
        ("E", None),  # not among four options
        ("42", None),
        ("", None),
    ],
)
def test_letter_from_box(box, letter):
    assert letter_from_box(box, 4) == letter


def test_boxed_letter_uses_the_last_box():
    assert boxed_letter(r"maybe \boxed{A} ... no, \boxed{C}") == "C"
    assert boxed_letter(r"\boxed{B} then \boxed{Boron}") is None
    assert boxed_letter("the answer is B") is None


def test_stable_shuffle_is_the_same_in_another_process():
    order = stable_shuffle(list("abcd"), 0, "recXYZ")
    code = (
        "from rsft.bench._mc import stable_shuffle; print(''.join(stable_shuffle(list('abcd'), 0, 'recXYZ')))"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "".join(order)
    assert (
        stable_shuffle(list("abcd"), 1, "recXYZ") != order
        or stable_shuffle(list("abcd"), 2, "recXYZ") != order
    )


def _gpqa_csv(path, n=12):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["Record ID", *FIELDS, "High-level domain"])
        w.writeheader()
        for i in range(n):
            w.writerow(
                {
                    "Record ID": f"rec{i}",
                    "Question": f"Q{i}?",
                    "Correct Answer": f"right{i}",
                    "Incorrect Answer 1": f"w1_{i}",
                    "Incorrect Answer 2": f"w2_{i}",
                    "Incorrect Answer 3": f"w3_{i}",
                    "High-level domain": "Physics",
                }
            )


def test_gpqa_local_csv_shuffle_and_scoring(tmp_path):
    path = tmp_path / "gpqa_diamond.csv"
    _gpqa_csv(path)
    bench = GpqaDiamond(path=str(path))
    samples = bench.load()
    assert len(samples) == 12 and samples == GpqaDiamond(path=str(path)).load()
    assert len({s.target for s in samples}) > 1  # the correct answer is not always in one place
    for s in samples:
        assert s.metadata["options"]["ABCD".index(s.target)] == f"right{s.id.split('rec')[1]}"
        assert f"{s.target}) right" in s.prompt
        assert bench.score(s, f"... \\boxed{{{s.target}}}").value == 1.0
    wrong = "A" if samples[0].target != "A" else "B"
    assert bench.score(samples[0], f"\\boxed{{{wrong}}}").reason == "wrong_choice"
    assert bench.score(samples[0], "\\boxed{Argon}").reason == "no_answer"


def test_gpqa_hub_needs_a_pinned_revision():
    with pytest.raises(DataError, match="pinned revision"):
        GpqaDiamond(hub_id="Idavidrein/gpqa").load()


def test_mmlu_pro_parses_every_row_and_subset_is_stable(shared_benchmarks):
    path = str(shared_benchmarks / "mmlu_pro/test.jsonl")
    everything = MmluPro(path=path, subset_size=None).load()
    assert len(everything) == 12032
    sub = MmluPro(path=path).load()
    assert len(sub) == 1000 and sub == MmluPro(path=path).load()
    assert [s.id for s in MmluPro(path=path, subset_seed=1).load()] != [s.id for s in sub]
    assert len({s.metadata["category"] for s in sub}) == 14
    s = sub[0]
    assert MmluPro().score(s, f"The answer is ({s.target}).").value == 1.0


def test_mmlu_pro_default_is_the_official_chain_without_random_fill():
    s = Sample("mmlu_pro/1", "", "D", {})
    # the counterexample: text after the answer must not override it (the `last` rule read "A")
    text = "The answer is (D). Here is a similar question. ... The answer is A."
    assert MmluPro().opts.extraction == "official" and MmluPro.version == 2
    assert MmluPro().score(s, text).value == 1.0
    assert MmluPro(extraction="last").score(s, text).answer == "A"
    assert official_extract("Answer: B\nAnswer: C") == "B"  # the first line holding one
    assert official_extract("Answer: B then Answer: C\nAnswer: D") == "C"  # its last on that line
    assert official_extract("I pick (E), not F") == "F"  # the last isolated letter
    assert official_extract("A cat is not an option") == "A"  # as the harness does: "A" is isolated
    assert official_extract("no letters here") is None
    rec = MmluPro().score(s, "no idea, sorry.")
    assert (rec.value, rec.reason) == (0.0, "no_answer")  # not a random letter


def _official_reference(text):
    """The official harness's three functions, regexes as they are (quadratic, fine on short strings)."""
    for pattern in (OFFICIAL_FIRST, OFFICIAL_AGAIN):
        m = pattern.search(text)
        if m:
            return m.group(1)
    m = OFFICIAL_FINAL.search(text)
    return m.group(0) if m else None


def test_official_chain_matches_the_harness_regexes_on_random_text():
    import random

    rng = random.Random(0)
    pieces = ["answer is (", "answer is ", "Answer:", "answer: ", "\n", " ", "A", "B", "J", "K", "x", "(", ")",
              "an", ".", "Answer:\n"]  # fmt: skip
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        assert official_extract(text) == _official_reference(text), text


def test_mmlu_pro_takes_the_last_statement_not_the_first():
    text = "Maybe the answer is (A). Let me check again... so the answer is (C)."
    assert extract_answer(text) == "C"
    assert extract_answer(r"The answer is (B). Final: \boxed{D}") == "D"
    assert extract_answer("The answer is Apple pie") is None
    assert extract_answer("Answer: J") == "J"
    assert extract_answer("no statement here, option A looks fine") is None
