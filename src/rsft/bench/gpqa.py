r"""GPQA-Diamond (198 graduate-level science questions), four options shuffled stably, letter in the last \boxed{}.

The options are ordered by a sha256 of (``shuffle_seed``, question id): the same in every run and process (the
paper's code used Python's salted ``hash()``). No local copy ships (the upstream zip is password protected by
design); load from the hub — ``hub_id: Idavidrein/gpqa``, ``hub_config: gpqa_diamond``, a pinned ``revision``
(gated: accept the terms and set HF_TOKEN) — or from a local CSV with the upstream columns (``Question``,
``Correct Answer``, ``Incorrect Answer 1..3``, ``Record ID``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rsft.bench._loaders import read_records, require, resolve_path, subset
from rsft.bench._math import PAPER_SAMPLING
from rsft.bench._mc import LETTERS, boxed_letter, format_options, stable_shuffle
from rsft.bench.base import Benchmark
from rsft.tasks.base import Sample, ScoreRecord

HUB_ID = "Idavidrein/gpqa"
HUB_CONFIG = "gpqa_diamond"
PROMPT = (
    "{question}\n\n{options}\n\nPlease reason step by step, and put the letter of your final answer "
    "(A, B, C or D) within \\boxed{{}}."
)
FIELDS = ["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"]


class GpqaDiamond(Benchmark):
    """GPQA-Diamond; options: path (CSV) | hub_id + revision (+hub_config, token), shuffle_seed (0), n_items."""

    name = "gpqa_diamond"
    version = 1
    group = "reasoning"
    score_on = "answer"
    defaults: ClassVar[dict[str, Any]] = {"n": 3, **PAPER_SAMPLING}

    def _rows(self) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
        if self.options.get("hub_id") and not self.options.get("path"):
            from rsft.bench._loaders import load_hub

            rows = load_hub(
                self.options["hub_id"],
                revision=self.options.get("revision"),
                split="train",
                name=self.options.get("hub_config", HUB_CONFIG),
                token=self.options.get("token"),
            )
            return f"{self.options['hub_id']}@{self.options['revision']}", list(enumerate(rows))
        path = resolve_path(self.options, "gpqa", "gpqa_diamond.csv")
        return str(path), list(read_records(path))

    def load(self) -> list[Sample]:
        source, rows = self._rows()
        seed = self.options.get("shuffle_seed", 0)
        out = []
        for i, row in rows:
            require(row, FIELDS, source, i)
            qid = str(row.get("Record ID") or f"row{i}")
            correct = str(row["Correct Answer"]).strip()
            options = stable_shuffle([correct] + [str(row[f]).strip() for f in FIELDS[2:]], seed, qid)
            letter = LETTERS[options.index(correct)]
            prompt = PROMPT.format(question=str(row["Question"]).strip(), options=format_options(options))
            meta = {"options": options, "domain": row.get("High-level domain"), "shuffle_seed": seed}
            out.append(Sample(f"gpqa_diamond/{qid}", prompt, letter, meta))
        return subset(out, self.options)

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        letter = boxed_letter(text, 4)
        if letter is None:
            return ScoreRecord(0.0, None, "no_answer")
        ok = letter == sample.target
        return ScoreRecord(float(ok), letter, "correct" if ok else "wrong_choice")
