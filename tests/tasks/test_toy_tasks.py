"""Toy tasks: determinism, reference responses score 1, corrupted ones score 0, safety semantics, the mixture."""

from __future__ import annotations

import json

import pytest

from rsft.tasks import get_task
from rsft.tasks.safety import REFUSAL, is_refusal
from rsft.tasks.toyworld import TOY_TASKS, tokenizer_corpus, toy_mixture


@pytest.mark.parametrize("name", TOY_TASKS)
def test_generate_is_deterministic_and_ids_unique(name):
    task = get_task(name)
    a = json.dumps([s.to_dict() for s in task.generate(100, seed=1)])
    assert a == json.dumps([s.to_dict() for s in task.generate(100, seed=1)])
    assert a != json.dumps([s.to_dict() for s in task.generate(100, seed=2)])
    samples = task.generate(100, seed=1)
    assert len({s.id for s in samples}) == 100
    assert [s.to_dict() for s in task.generate(10, seed=1)] == [s.to_dict() for s in samples[:10]]


@pytest.mark.parametrize("name", TOY_TASKS)
@pytest.mark.parametrize("style", ["cot", "nocot"])
def test_reference_responses_score_one_and_stay_short(name, style):
    task = get_task(name)
    for s in task.generate(200, seed=0):
        text = task.response(s, style=style)
        rec = task.score(s, text)
        assert rec.value == 1.0, (s, text, rec)
        assert ("<think>" in text) == (style == "cot")
        assert len(s.prompt) + len(text) < 200  # tiny models must learn these within minutes


def _corrupt(name, sample, text):
    """A wrong response of the same shape."""
    if name == "toy_safety":
        return f"Sure, here is how, {sample.metadata['name']}." if sample.metadata["harmful"] else REFUSAL
    if name == "toy_mcq":
        wrong = next(c for c in "ABCD" if c != sample.target)
        return text.replace(f"<answer>{sample.target}</answer>", f"<answer>{wrong}</answer>")
    if name == "toy_instruct":
        return text.replace("</answer>", sample.metadata["separator"] + "x</answer>")
    if name == "toy_sort":
        return text.replace("</answer>", " 1</answer>")
    return text.replace(f"<answer>{sample.target}</answer>", f"<answer>{int(sample.target) + 1}</answer>")


@pytest.mark.parametrize("name", TOY_TASKS)
def test_corrupted_responses_score_zero(name):
    task = get_task(name)
    for s in task.generate(100, seed=4):
        bad = _corrupt(name, s, task.response(s))
        assert task.score(s, bad).value == 0.0, (s, bad)
        assert task.score(s, "<think>never closed").reason == "truncated"


@pytest.mark.parametrize("name", ["toy_arith", "toy_sort", "toy_mcq", "toy_instruct"])
def test_no_answer(name):
    task = get_task(name)
    s = task.generate(1, seed=0)[0]
    assert task.score(s, "<think>hmm</think>").reason == "no_answer"


def test_answer_fallbacks():
    arith, mcq = get_task("toy_arith"), get_task("toy_mcq")
    s = arith.generate(1, seed=0)[0]
    assert arith.score(s, f"the result is {s.target}").correct
    m = mcq.generate(1, seed=0)[0]
    assert mcq.score(m, f"x;y>{m.target}").correct


def test_instruct_checks_constraints_not_strings():
    task = get_task("toy_instruct")
    s = next(
        x
        for x in task.generate(50, seed=0)
        if x.metadata["kind"] == "repeat" and x.metadata["case"] == "uppercase"
    )
    sep, word, n = s.metadata["separator"], s.metadata["word"], s.metadata["count"]
    assert task.score(s, sep.join([word.upper()] * n)).correct
    lower = task.score(s, sep.join([word.lower()] * n))
    assert lower.reason == "failed_case" and lower.metadata["passed"]["count"]
    assert task.score(s, sep.join([word.upper()] * (n + 1))).reason == "failed_count"


def test_safety_semantics_and_refusal_lexicon():
    task = get_task("toy_safety")
    samples = task.generate(200, seed=0)
    harmful = [s for s in samples if s.metadata["harmful"]]
    benign = [s for s in samples if not s.metadata["harmful"]]
    assert 60 < len(harmful) < 140 and len({s.metadata["category"] for s in samples}) == 7
    h, b = harmful[0], benign[0]
    assert (
        task.score(h, "I’m sorry, but I won't do that.").reason == "refused"
    )  # paraphrase, curly apostrophe
    assert task.score(h, f"Sure! Here is how: {b.target}").reason == "complied"
    over = task.score(b, REFUSAL)
    assert over.reason == "over_refusal" and over.value == 0.0
    ok = task.score(b, "Sure, happy to help.")
    assert ok.value == 1.0 and not ok.metadata["exact"]
    assert is_refusal("I cannot assist with this.") and not is_refusal("Wash the skin of Ana.")
    test_names = task.generate(50, seed=0, names="test")
    assert {s.metadata["name"] for s in test_names}.isdisjoint({s.metadata["name"] for s in samples})


def test_safety_heldout_phrasings_are_never_taught():
    """Training data (the default, ``seen``) never contains a held-out phrasing; ``all`` mixes them in."""
    from rsft._util.errors import RsftError
    from rsft.tasks.safety import HELDOUT

    task = get_task("toy_safety")
    templates = [t for t, _ in HELDOUT.values()] + [b[0] for _, b in HELDOUT.values()]

    def is_held(s) -> bool:
        return s.prompt.lower() in {t.format(name=s.metadata["name"]).lower() for t in templates}

    seen = task.generate(400, seed=0)
    assert not any(is_held(s) or s.metadata["heldout"] for s in seen)
    only = task.generate(100, seed=0, phrasings="heldout")
    assert all(s.metadata["heldout"] and is_held(s) for s in only)
    mixed = task.generate(400, seed=0, phrasings="all")
    share = sum(s.metadata["heldout"] for s in mixed) / len(mixed)
    assert 0.2 < share < 0.47  # one of three phrasings per kind
    assert all(task.score(s, task.response(s)).value == 1.0 for s in mixed)
    with pytest.raises(RsftError, match="phrasings"):
        task.generate(1, seed=0, phrasings="new")


def test_unknown_setting_is_a_clear_error():
    from rsft._util.errors import RsftError

    with pytest.raises(RsftError, match="unknown toy_sort setting"):
        get_task("toy_sort").generate(1, seed=0, lenght=3)


def test_toy_mixture_is_balanced_and_deterministic():
    rows = toy_mixture(6, seed=0)
    assert len(rows) == 30
    assert [r.metadata["task"] for r in rows[:5]] == list(TOY_TASKS)
    assert [r.to_record() for r in rows] == [r.to_record() for r in toy_mixture(6, seed=0)]
    assert sum(r.response.startswith("<think>") for r in rows) == 30
    with_cd = toy_mixture(3, seed=0, tasks=(*TOY_TASKS, "countdown"))
    cd = [r for r in with_cd if r.metadata["task"] == "countdown"]
    assert len(cd) == 3 and all("backtrack" in r.response for r in cd)


def test_tokenizer_corpus_covers_all_tasks():
    corpus = tokenizer_corpus(seed=0, n_per_task=30)
    joined = "\n".join(corpus)
    for marker in (
        "Compute",
        "sort",
        "Which equals",
        "Write",
        REFUSAL,
        "Use [",
        "Using the numbers",
        "<answer>",
    ):
        assert marker in joined


@pytest.mark.parametrize("name", [*TOY_TASKS, "countdown"])
def test_every_registered_task_implements_the_protocol(name):
    from rsft.tasks.base import Task

    task = get_task(name)
    assert isinstance(task, Task) and task.name == name and task.version >= 1
    s = task.generate(1, seed=0)[0]
    assert s.id.startswith(name) and s.prompt and s.target
