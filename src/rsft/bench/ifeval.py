"""IFEval (541 prompts, 25 verifiable instruction types), scored on the post-thinking answer.

A record's value is prompt-level strict accuracy (1 when every instruction is followed); its metadata holds the
per-instruction strict and loose results, from which :func:`ifeval_metrics` derives the four numbers the paper
reports (prompt/instruction x strict/loose). ``prompt: paper`` wraps each prompt as the paper's lm-eval fork did,
``Question: {prompt}\nAnswer:`` inside the chat template; the default sends the prompt as is.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from rsft._util.errors import DataError
from rsft.bench._ifeval_checkers import CHECKERS, check
from rsft.bench._loaders import require, rows_for, subset
from rsft.bench.base import PAPER_SAMPLING, Benchmark, SourceOptions
from rsft.tasks.base import Sample, ScoreRecord


def ifeval_metrics(records: list[ScoreRecord]) -> dict[str, float]:
    """Prompt- and instruction-level strict and loose accuracy over IFEval score records (NaN-free)."""
    strict = [r.metadata["strict"] for r in records]
    loose = [r.metadata["loose"] for r in records]
    n_inst = sum(len(s) for s in strict)
    return {
        "prompt_strict": sum(all(s) for s in strict) / len(strict),
        "instruction_strict": sum(sum(s) for s in strict) / n_inst,
        "prompt_loose": sum(all(s) for s in loose) / len(loose),
        "instruction_loose": sum(sum(s) for s in loose) / n_inst,
    }


class IFEvalOptions(SourceOptions):
    prompt: str = Field("plain", description="plain | paper")


class IFEval(Benchmark):
    """IFEval; options: path | hub_id (google/IFEval) + revision, prompt (plain | paper), n_items."""

    name = "ifeval"
    items = 541
    protocol = "ifeval"
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "ifeval/input_data.jsonl",
            "repo": "google/IFEval",
            "path": ["ifeval_input_data.jsonl"],
            "split": "train",
            "sha256": {
                "ifeval_input_data.jsonl": "67ffeee0fcb87c317c5b08a2de85557b4a7e96ada6178aa645b4954fe4b53d49",
            },
            "sha256_from": (
                "shared/benchmarks/ifeval/input_data.jsonl (google-research "
                "instruction_following_eval/data/input_data.jsonl, assumed to be the hub's upload)"
            ),
        },
    ]
    version = 1
    group = "general"
    score_on = "answer"
    defaults: ClassVar[dict[str, Any]] = {"n": 1, **PAPER_SAMPLING}
    Options = IFEvalOptions

    def load(self) -> list[Sample]:
        source, rows = rows_for(self.options, "ifeval", "input_data.jsonl", hub_split="train")
        out = []
        for i, row in rows:
            require(row, ["key", "prompt", "instruction_id_list", "kwargs"], source, i)
            ids, kwargs = list(row["instruction_id_list"]), list(row["kwargs"])
            unknown = [x for x in ids if x not in CHECKERS]
            if unknown or len(ids) != len(kwargs):
                raise DataError(
                    f"unknown instructions {unknown}"
                    if unknown
                    else "instruction_id_list and kwargs differ in length",
                    file=source,
                    row=i,
                    field="instruction_id_list",
                )
            kwargs = [{k: v for k, v in (kw or {}).items() if v is not None} for kw in kwargs]
            meta = {"instruction_id_list": ids, "kwargs": kwargs}
            text = row["prompt"]
            if self.opts.prompt == "paper":
                text = f"Question: {text}\nAnswer:"
            elif self.opts.prompt != "plain":
                raise DataError(
                    f"unknown prompt '{self.options['prompt']}'", field="prompt", fix="plain or paper"
                )
            out.append(Sample(f"ifeval/{row['key']}", text, "", meta))
        return subset(out, self.options)

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        ids, kwargs = sample.metadata["instruction_id_list"], sample.metadata["kwargs"]
        strict = [check(i, text, kw) for i, kw in zip(ids, kwargs, strict=True)]
        loose = [check(i, text, kw, loose=True) for i, kw in zip(ids, kwargs, strict=True)]
        followed = all(strict)
        meta = {"strict": strict, "loose": loose, "instruction_id_list": ids}
        return ScoreRecord(float(followed), None, "followed" if followed else "not_followed", meta)
