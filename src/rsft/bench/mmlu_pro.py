r"""MMLU-Pro (up to 10 options), a seeded 1k subset by default, greedy, the official harness's extraction.

``extraction: official`` (default) is the chain of the official MMLU-Pro harness (TIGER-AI-Lab/MMLU-Pro,
``evaluate_from_api.py`` / ``compute_accuracy.py``), read on the post-thinking answer: the first
``answer is \(?([A-J])\)?``, else ``.*[aA]nswer:\s*([A-J])`` (the last "Answer: X" of the first line holding one),
else the last isolated letter ``\b[A-J]\b``. The harness then fills an unextracted answer with a random letter;
here it is ``no_answer`` (0, never a lucky guess). ``extraction: last`` takes whichever "answer is (X)" /
"Answer: X" statement or ``\boxed{X}`` comes last. The subset is the ``subset_size`` questions with the smallest
sha256(``subset_seed``, question_id): stable under any file order.

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


# the official MMLU-Pro harness (TIGER-AI-Lab/MMLU-Pro @ f418b11, evaluate_from_api.py: extract_answer,
# extract_again, extract_final), without its random fill
OFFICIAL_FIRST = re.compile(r"answer is \(?([A-J])\)?")
OFFICIAL_AGAIN = re.compile(r".*[aA]nswer:\s*([A-J])")
OFFICIAL_FINAL = re.compile(r"\b[A-J]\b(?!.*\b[A-J]\b)", re.DOTALL)
_ISOLATED = re.compile(r"\b[A-J]\b")
_ANSWER_COLON = re.compile(r"(?=[aA]nswer:\s*([A-J]))")  # zero-width: overlapping starts all count


def official_extract(text: str) -> str | None:
    """The official harness's chain: the first "answer is (X)", else "Answer: X", else the last isolated letter
    A-J; None where the harness would draw a random letter."""
    m = OFFICIAL_FIRST.search(text)
    if m:
        return m.group(1)
    # OFFICIAL_AGAIN's and OFFICIAL_FINAL's matches, found in linear time (both regexes are quadratic on long
    # responses). OFFICIAL_AGAIN's ``.*`` stops at a newline: its match is the last "Answer: X" starting on the
    # first line where one starts. Isolated letters cannot overlap: the one no other follows is the last.
    statements = list(_ANSWER_COLON.finditer(text))
    if statements:
        line_end = text.find("\n", statements[0].start())
        on_line = [s for s in statements if line_end < 0 or s.start() < line_end]
        return on_line[-1].group(1)
    letters = _ISOLATED.findall(text)
    return letters[-1] if letters else None


def extract_answer(text: str) -> str | None:
    r"""``extraction: last``: the choice letter of the last answer statement or ``\boxed{}`` in ``text`` (by
    position), or None."""
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


EXTRACTIONS = ("official", "last", "paper")


class MmluProOptions(SourceOptions):
    subset_size: int | None = Field(1000, ge=1, description="a seeded subset of this many questions; None: all")
    subset_seed: int = 0
    prompt: str = Field("rsft", description="rsft | paper")
    extraction: str = Field("official", description="official | last | paper")


class MmluPro(Benchmark):
    """MMLU-Pro; options: path | hub_id (+revision), subset_size (1000; null = all 12,032), subset_seed (0),
    prompt (rsft | paper), extraction (official | last | paper), n_items."""

    name = "mmlu_pro"
    items = 1000
    protocol = "exact_match"
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "mmlu_pro/test.jsonl",
            "repo": "TIGER-Lab/MMLU-Pro",
            "path": ["data/test-00000-of-00001.parquet"],
            "split": "test",
            "convert": "jsonl",
            "sha256": {"data/test-00000-of-00001.parquet": None},
        },
    ]
    version = 2  # 2: default extraction = the official harness's chain (was: the last statement)
    group = "knowledge"
    score_on = "answer"
    defaults: ClassVar[dict[str, Any]] = {"n": 1, **GREEDY_SAMPLING}
    Options = MmluProOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for key, allowed in (("prompt", ("rsft", "paper")), ("extraction", EXTRACTIONS)):
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
        extract = {"official": official_extract, "last": extract_answer, "paper": paper_extract}
        letter = extract[self.opts.extraction](text)
        if letter is None:
            return ScoreRecord(0.0, None, "no_answer")
        ok = letter == sample.target
        return ScoreRecord(float(ok), letter, "correct" if ok else "wrong_choice")
