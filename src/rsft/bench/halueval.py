"""HaluEval (general split, 4,507 ChatGPT responses to user queries, human-labelled for hallucination).

The model judges whether a response contains hallucinated information and answers Yes or No; the *last* Yes/No in
its answer counts (a model may weigh both before deciding). Accuracy against the human label.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from rsft._util.errors import DataError
from rsft.bench._loaders import require, rows_for, subset
from rsft.bench.base import Benchmark
from rsft.tasks.base import Sample, ScoreRecord

PROMPT = (
    "I want you to act as a response judge. Given a user query and a response, you need to determine whether the "
    'response contains non-factual or hallucinated information. If it does, answer "Yes"; otherwise answer '
    '"No". The answer you give MUST be "Yes" or "No".\n\n#User Query#: {query}\n#Response#: {response}\n'
    "#Your Judgement#:"
)
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def last_yes_no(text: str) -> str | None:
    """ "Yes" or "No": the last standalone yes/no word in the text (case-insensitive), or None."""
    hits = _YES_NO.findall(text)
    return hits[-1].capitalize() if hits else None


class HaluEval(Benchmark):
    """HaluEval general; options: path | hub_id (+revision), n_items."""

    name = "halueval"
    version = 1
    group = "knowledge"
    score_on = "answer"
    defaults: ClassVar[dict[str, Any]] = {"n": 1, "temperature": 0.6, "top_p": 0.95, "max_new_tokens": 32768}

    def load(self) -> list[Sample]:
        source, rows = rows_for(self.options, "halueval", "general_data.json", hub_split="data")
        out = []
        for i, row in rows:
            require(row, ["ID", "user_query", "chatgpt_response", "hallucination"], source, i)
            label = str(row["hallucination"]).strip().lower()
            if label not in ("yes", "no"):
                raise DataError(
                    f"hallucination label '{label}' is not yes/no", file=source, row=i, field="hallucination"
                )
            prompt = PROMPT.format(query=row["user_query"], response=row["chatgpt_response"])
            out.append(
                Sample(f"halueval/general/{row['ID']}", prompt, label.capitalize(), {"split": "general"})
            )
        return subset(out, self.options)

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        ans = last_yes_no(text)
        if ans is None:
            return ScoreRecord(0.0, None, "no_answer")
        ok = ans == sample.target
        return ScoreRecord(float(ok), ans, "correct" if ok else "wrong")
