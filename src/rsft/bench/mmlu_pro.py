r"""MMLU-Pro (up to 10 options), a seeded 1k subset by default, greedy, the *last* answer statement.

The paper's regex took the first "answer is (X)" — often a guess inside the reasoning. Here the answer is whichever
comes last in the response: an "answer is (X)" / "Answer: X" statement or a ``\boxed{X}``. The subset is the
``subset_size`` questions with the smallest sha256(``subset_seed``, question_id): stable under any file order.

``extraction: paper`` reproduces the released scorer instead: the *first* match in the whole response (thinking
included) of ``(?:answer is \(?([ABCDEFGHIJ])\)?|\\boxed\{(?:\\text\{)?([A-Z])(?:\})?\})``, compared
case-insensitively. ``prompt: paper`` is the released prompt (``Question:\n...\nOptions:\nA. ...``, answer letter
in ``\boxed{}``). The paper's own 1k subset was not published; the seeded subset stands in for it.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field

from rsft._util.errors import DataError
from rsft.bench._loaders import require, rows_for
from rsft.bench._math import last_boxed
from rsft.bench._mc import LETTERS, letter_from_box, stable_order_key
from rsft.bench.base import GREEDY_SAMPLING, Benchmark, SourceOptions
from rsft.tasks.base import Sample, ScoreRecord

PROMPT = (
    "The following is a multiple choice question about {category}. Think step by step and then finish your "
    'answer with "the answer is (X)" where X is the correct letter choice.\n\nQuestion: {question}\nOptions:\n'
    "{options}"
)
_STATEMENT = re.compile(
    r"(?:answer\s+is|answer\s*:|answer\s+would\s+be)\s*[:\-]?\s*\**\s*\(?\s*([A-J])\s*\)?(?![A-Za-z])",
    re.IGNORECASE,
)
_BOXED = re.compile(r"\\boxed\s*\{")
PAPER_PROMPT_TAIL = (
    "Please reason step by step and return your final answer within \\boxed{}. Only include the letter choice "
    "(A, B, C, D, E, F, G, H, I or J) as your final answer."
)
# the released lm-eval filter: RegexFilter(group_select=0) then take_first -> the first match anywhere
PAPER_REGEX = re.compile(r"(?:answer is \(?([ABCDEFGHIJ])\)?|\\boxed\{(?:\\text\{)?([A-Z])(?:\})?\})")


def paper_extract(text: str) -> str | None:
    """The released extraction: the first regex match in the whole response (the pitfall: often inside the
    reasoning), the first non-empty group of that match."""
    m = PAPER_REGEX.search(text)
    if m is None:
        return None
    return next((g for g in m.groups() if g), None)


def paper_prompt(question: str, options: list[str]) -> str:
    listed = "".join(f"{LETTERS[j]}. {o}\n" for j, o in enumerate(options))
    return f"Question:\n{question}\nOptions:\n{listed}{PAPER_PROMPT_TAIL}"


def extract_answer(text: str) -> str | None:
    r"""The choice letter of the last answer statement or ``\boxed{}`` in ``text`` (by position), or None."""
    candidates: list[tuple[int, str]] = []
    for m in _STATEMENT.finditer(text):
        if m.group(1).isupper():
            candidates.append((m.start(), m.group(1)))
    for m in _BOXED.finditer(text):
        box = last_boxed(text[m.start() : m.start() + 400])
        letter = None if box is None else letter_from_box(box, 10)
        if letter:
            candidates.append((m.start(), letter))
    return max(candidates)[1] if candidates else None


class MmluProOptions(SourceOptions):
    subset_size: int | None = Field(1000, ge=1, description="a seeded subset of this many questions; None: all")
    subset_seed: int = 0
    prompt: str = Field("rsft", description="rsft | paper")
    extraction: str = Field("last", description="last | paper")


class MmluPro(Benchmark):
    """MMLU-Pro; options: path | hub_id (+revision), subset_size (1000; null = all 12,032), subset_seed (0),
    prompt (rsft | paper), extraction (last | paper), n_items."""

    name = "mmlu_pro"
    version = 1
    group = "knowledge"
    score_on = "answer"
    defaults: ClassVar[dict[str, Any]] = {"n": 1, **GREEDY_SAMPLING}
    Options = MmluProOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for key, allowed in (("prompt", ("rsft", "paper")), ("extraction", ("last", "paper"))):
            if getattr(self.opts, key) not in allowed:
                raise DataError(f"unknown {key} '{self.options[key]}'", field=key, fix=" or ".join(allowed))
        if self.options.get("extraction") == "paper":
            self.score_on = "full"  # the released filter read the whole response, thinking included

    def load(self) -> list[Sample]:
        source, rows = rows_for(self.options, "mmlu_pro", "test.jsonl")
        samples = []
        for i, row in rows:
            require(row, ["question_id", "question", "options", "answer"], source, i)
            # upstream pads to 10 options with "N/A"; the official harness drops them (they come last)
            opts = [str(o) for o in row["options"] if str(o).strip() != "N/A"]
            # the letter in `answer` is the key (in one row of the shared copy, 3983, answer_index disagrees)
            letter = str(row["answer"]).strip()
            if letter not in LETTERS[: len(row["options"])]:
                raise DataError(
                    f"answer '{letter}' is not an option letter", file=source, row=i, field="answer"
                )
            target = LETTERS[opts.index(str(row["options"][LETTERS.index(letter)]))]
            options = "\n".join(f"{LETTERS[j]}. {o}" for j, o in enumerate(opts))
            category = row.get("category") or "general knowledge"
            if self.options.get("prompt") == "paper":
                prompt = paper_prompt(row["question"], opts)
            else:
                prompt = PROMPT.format(category=category, question=row["question"], options=options)
            meta = {"category": category, "n_options": len(opts), "src": row.get("src")}
            samples.append(Sample(f"mmlu_pro/{row['question_id']}", prompt, target, meta))
        size = self.opts.subset_size
        if size is not None and size < len(samples):
            seed = self.opts.subset_seed
            samples = sorted(samples, key=lambda s: stable_order_key(seed, s.id))[: int(size)]
            samples.sort(key=lambda s: int(s.id.split("/")[1]))
        n = self.options.get("n_items")
        return samples if n is None else samples[: int(n)]

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        letter = paper_extract(text) if self.options.get("extraction") == "paper" else extract_answer(text)
        if letter is None:
            return ScoreRecord(0.0, None, "no_answer")
        ok = letter == sample.target
        return ScoreRecord(float(ok), letter, "correct" if ok else "wrong_choice")
