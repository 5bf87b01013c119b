"""HaluEval: does a text contain hallucinated information? The model answers Yes or No.

Subsets (option ``subsets``, default ``[general]``):
- ``general`` — 4,507 ChatGPT responses to user queries, human-labelled (``general_data.json``).
- ``qa``, ``dialogue``, ``summarization`` — the paper's three subsets: HaluEval's ``*_samples`` sets (fields
  ``knowledge``/``question``/``answer``, ``knowledge``/``dialogue_history``/``response``, ``document``/``summary``,
  and ``hallucination`` yes/no), with the judge instructions of the paper's lm-eval fork
  (``tasks/halueval/utils.py`` @4a20109). Local files ``halueval/{subset}_samples.{json,jsonl,parquet}`` (or
  ``paths: {qa: FILE, ...}``), or the hub (``hub_id: pminervini/HaluEval`` + ``revision``; config
  ``{subset}_samples``, split ``data``). The sizes of the paper's sampled subsets were not published.

Scoring: the *last* standalone Yes/No of the post-thinking answer counts (a model may weigh both before deciding);
accuracy against the label. ``extraction: paper`` reproduces the fork exactly: its think-stripping regexes on the
whole response, the last Yes/No word, else the first line of the raw response, where a line holding both "yes" and
"no" (or neither) as substrings is wrong.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field

from rsft._util.errors import DataError
from rsft.bench._loaders import data_dirs, load_hub, read_records, require, rows_for, subset
from rsft.bench.base import PAPER_SAMPLING, Benchmark, SourceOptions
from rsft.tasks.base import Sample, ScoreRecord

PROMPT = (
    "I want you to act as a response judge. Given a user query and a response, you need to determine whether the "
    'response contains non-factual or hallucinated information. If it does, answer "Yes"; otherwise answer '
    '"No". The answer you give MUST be "Yes" or "No".\n\n#User Query#: {query}\n#Response#: {response}\n'
    "#Your Judgement#:"
)
_JUDGE = (
    "I want you act as {role} judge. Given {given}, your objective is to determine if the provided {what} contains "
    "non-factual or hallucinated information. You SHOULD give your judgement based on the following hallucination "
    "types and the world knowledge.\nYou should try your best to determine if the {what} contains non-factual or "
    'hallucinated information. The answer you give MUST be "Yes" or "No"".'
)  # the trailing "". is the fork's own text
INSTRUCTIONS = {
    "qa": _JUDGE.format(role="an answer", given="a question and an answer", what="answer"),
    "dialogue": _JUDGE.format(role="a response", given="a dialogue history and a response", what="response"),
    "summarization": _JUDGE.format(role="a summary", given="a document and a summary", what="summary"),
}
FIELDS = {
    "qa": ["knowledge", "question", "answer", "hallucination"],
    "dialogue": ["knowledge", "dialogue_history", "response", "hallucination"],
    "summarization": ["document", "summary", "hallucination"],
}
SUBSETS = ("general", *INSTRUCTIONS)
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def subset_prompt(name: str, row: dict[str, Any]) -> str:
    """The fork's ``doc_to_text_{qa,dialogue,summarization}``."""
    head = INSTRUCTIONS[name] + "\n\n"
    if name == "qa":
        body = f"#Knowledge: {row['knowledge']}\n#Question#: {row['question']}\n#Answer#: {row['answer']}"
    elif name == "dialogue":
        body = (
            f"#Knowledge: {row['knowledge']}\n#Dialogue History#: {row['dialogue_history']}\n"
            f"#Response#: {row['response']}"
        )
    else:
        body = f"#Document#: {row['document']}\n#Summary#: {row['summary']}"
    return head + body + "\n#Your Judgement#:"


def last_yes_no(text: str) -> str | None:
    """ "Yes" or "No": the last standalone yes/no word in the text (case-insensitive), or None."""
    hits = _YES_NO.findall(text)
    return hits[-1].capitalize() if hits else None


def paper_prediction(response: str) -> str | None:
    """The fork's ``process_results`` + ``compute_metrics``: "yes", "no", or None (counted wrong)."""
    clean = re.sub(r"<think>.*?</think>\s*", "", response, flags=re.DOTALL).strip()
    clean = re.sub(r"^.*</think>", "", clean, flags=re.DOTALL).lstrip()
    clean = re.sub(r"<think>.*?<\|/think\|>\s*", "", clean, flags=re.DOTALL).strip()
    clean = re.sub(r"^.*<\|/think\|>", "", clean, flags=re.DOTALL).lstrip().strip()
    hits = re.findall(r"\b(Yes|No)\b", clean, re.IGNORECASE)
    pred = hits[-1].lower() if hits else response.strip().split("\n")[0].lower()
    if ("yes" in pred) == ("no" in pred):
        return None
    return "yes" if "yes" in pred else "no"


class HaluEvalOptions(SourceOptions):
    subsets: list[str] | None = Field(None, description="general and/or the instruction subsets (default: general)")
    extraction: str = Field("last", description="last | paper")
    paths: dict[str, str] | None = Field(None, description="subset -> local file")


class HaluEval(Benchmark):
    """HaluEval; options: subsets ([general] | any of general, qa, dialogue, summarization), path (general),
    paths ({subset: file}), hub_id (+revision), extraction (last | paper), n_items (per subset)."""

    name = "halueval"
    items = 4507
    protocol = "halueval"
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "halueval/general_data.json",
            "repo": "pminervini/HaluEval",
            "path": ["general/data-00000-of-00001.parquet"],
            "split": "data",
            "convert": "jsonl",
            "sha256": {"general/data-00000-of-00001.parquet": None},
        },
    ]
    version = 1
    group = "knowledge"
    score_on = "answer"
    defaults: ClassVar[dict[str, Any]] = {"n": 1, **PAPER_SAMPLING}
    Options = HaluEvalOptions
    # per subset: general_data.json, and the *_samples sets of the paper's subsets (its own sizes unknown)
    subset_items: ClassVar[dict[str, int]] = {"general": 4507, "qa": 10000, "dialogue": 10000, "summarization": 10000}

    @classmethod
    def item_count(cls, options: dict[str, Any]) -> int | None:
        return sum(cls.subset_items[s] for s in options.get("subsets") or ["general"])

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        wanted = list(self.options.get("subsets") or ["general"])
        unknown = [s for s in wanted if s not in SUBSETS]
        if unknown or not wanted:
            raise DataError(f"unknown HaluEval subsets {unknown}", field="subsets", fix=", ".join(SUBSETS))
        self.subsets = wanted
        if self.opts.extraction not in ("last", "paper"):
            raise DataError(f"unknown extraction '{self.options['extraction']}'", field="extraction",
                            fix="last or paper")  # fmt: skip
        if self.options.get("extraction") == "paper":
            self.score_on = "full"  # the fork stripped thinking itself, with its own fallbacks

    def load(self) -> list[Sample]:
        out: list[Sample] = []
        for name in self.subsets:
            out += subset(
                self._load_general() if name == "general" else self._load_subset(name), self.options
            )
        return out

    def _load_general(self) -> list[Sample]:
        source, rows = rows_for(self.options, "halueval", "general_data.json", hub_split="data")
        out = []
        for i, row in rows:
            require(row, ["ID", "user_query", "chatgpt_response", "hallucination"], source, i)
            label = _label(row, source, i)
            prompt = PROMPT.format(query=row["user_query"], response=row["chatgpt_response"])
            out.append(Sample(f"halueval/general/{row['ID']}", prompt, label, {"split": "general"}))
        return out

    def _rows(self, name: str) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
        paths = self.options.get("paths") or {}
        if name in paths:
            return str(paths[name]), list(read_records(_existing(paths[name])))
        if self.options.get("hub_id"):
            revision = self.options.get("revision")
            rows = load_hub(self.options["hub_id"], revision=revision, split="data", name=f"{name}_samples")
            return f"{self.options['hub_id']}/{name}_samples@{revision}", list(enumerate(rows))
        tried = []
        for base in data_dirs():
            for ext in ("json", "jsonl", "parquet"):
                p = base / "halueval" / f"{name}_samples.{ext}"
                tried.append(str(p))
                if p.is_file():
                    return str(p), list(read_records(p))
        raise DataError(
            f"no local copy of HaluEval {name}_samples (looked in: {', '.join(tried[::3])} and .jsonl/.parquet)",
            fix=f"pass options.paths.{name}=FILE, or options.hub_id=pminervini/HaluEval with options.revision",
        )

    def _load_subset(self, name: str) -> list[Sample]:
        source, rows = self._rows(name)
        out = []
        for i, row in rows:
            require(row, FIELDS[name], source, i)
            label = _label(row, source, i)
            out.append(Sample(f"halueval/{name}/{i}", subset_prompt(name, row), label, {"split": name}))
        return out

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        if self.options.get("extraction") == "paper":
            pred = paper_prediction(text)
            ans = None if pred is None else pred.capitalize()
        else:
            ans = last_yes_no(text)
        if ans is None:
            return ScoreRecord(0.0, None, "no_answer", {"split": sample.metadata.get("split")})
        ok = ans == sample.target
        return ScoreRecord(
            float(ok), ans, "correct" if ok else "wrong", {"split": sample.metadata.get("split")}
        )


def _label(row: dict[str, Any], source: str, i: int) -> str:
    label = str(row["hallucination"]).strip().lower()
    if label not in ("yes", "no"):
        raise DataError(
            f"hallucination label '{label}' is not yes/no", file=source, row=i, field="hallucination"
        )
    return label.capitalize()


def _existing(path: Any) -> Any:
    from pathlib import Path

    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError("HaluEval file not found", file=str(p), fix="check options.paths")
    return p
