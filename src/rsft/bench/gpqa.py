r"""GPQA-Diamond (198 graduate-level science questions), four options shuffled stably, letter in the last \boxed{}.

The options are ordered by a sha256 of (``shuffle_seed``, question id): the same in every run and process (the
paper's code used Python's salted ``hash()``). ``shuffle: paper`` reproduces the released order instead:
``random.Random(42 + hash(Question) % 10000)`` shuffling [correct, incorrect 1-3], with ``hash`` computed in a
subprocess under ``PYTHONHASHSEED=paper_hash_seed`` (default 0) — the order the released code gives when run with
that seed (without one, it changed from process to process). ``prompt: paper`` uses the released prompt
(``Problem: ...\nOptions: A) ..., B) ...``); the default prompt lists one option per line. No local copy ships (the upstream zip is password protected by
design); load from the hub — ``hub_id: Idavidrein/gpqa``, ``hub_config: gpqa_diamond``, a pinned ``revision``
(gated: accept the terms and set HF_TOKEN) — or from a local CSV with the upstream columns (``Question``,
``Correct Answer``, ``Incorrect Answer 1..3``, ``Record ID``).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from typing import Any, ClassVar

from pydantic import Field

from rsft._util.errors import DataError
from rsft.bench._loaders import read_records, require, resolve_path, subset
from rsft.bench._mc import LETTERS, boxed_letter, format_options, stable_shuffle
from rsft.bench.base import PAPER_SAMPLING, Benchmark, SourceOptions
from rsft.tasks.base import Sample, ScoreRecord

HUB_ID = "Idavidrein/gpqa"
HUB_CONFIG = "gpqa_diamond"
PROMPT = (
    "{question}\n\n{options}\n\nPlease reason step by step, and put the letter of your final answer "
    "(A, B, C or D) within \\boxed{{}}."
)
PAPER_PROMPT = (
    "Problem: {question}\nOptions: {options}\nPlease reason step by step and return your final answer within "
    "\\boxed{{}}. Only include the letter choice (A, B, C, or D) as your final answer."
)
FIELDS = ["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"]


def python_str_hashes(texts: list[str], hash_seed: int) -> list[int]:
    """``hash(text)`` for each text as a Python process started with ``PYTHONHASHSEED=hash_seed`` computes it
    (str hashing is salted per process; the seed fixes the salt)."""
    code = "import json,sys; print(json.dumps([hash(t) for t in json.load(sys.stdin)]))"
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(texts),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


class GpqaOptions(SourceOptions):
    shuffle_seed: int = 0
    shuffle: str = Field("stable", description="how options are ordered (see the class docstring)")
    prompt: str = Field("rsft", description="rsft | paper")
    paper_hash_seed: int = Field(0, description="PYTHONHASHSEED of the paper's hash shuffle")


class GpqaDiamond(Benchmark):
    """GPQA-Diamond; options: path (CSV) | hub_id + revision (+hub_config, token), shuffle_seed (0), shuffle
    (stable | paper), paper_hash_seed (0), prompt (rsft | paper), n_items."""

    name = "gpqa_diamond"
    items = 198
    protocol = "avg@k"
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "gpqa/gpqa_diamond.csv",
            "repo": "Idavidrein/gpqa",
            "path": ["gpqa_diamond.csv"],
            "split": "train",
            "gated": True,
            "get": (
                "https://huggingface.co/datasets/Idavidrein/gpqa (accept the terms; the file is "
                "gpqa_diamond.csv), or the password-protected zip linked from "
                "https://github.com/idavidrein/gpqa"
            ),
            "sha256": {"gpqa_diamond.csv": None},
        },
    ]
    version = 1
    group = "reasoning"
    score_on = "answer"
    defaults: ClassVar[dict[str, Any]] = {"n": 3, **PAPER_SAMPLING}
    Options = GpqaOptions

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
        o = self.opts
        seed, shuffle, style = o.shuffle_seed, o.shuffle, o.prompt
        for key, value, allowed in (
            ("shuffle", shuffle, ("stable", "paper")),
            ("prompt", style, ("rsft", "paper")),
        ):
            if value not in allowed:
                raise DataError(f"unknown {key} '{value}'", field=key, fix=" or ".join(allowed))
        for i, row in rows:
            require(row, FIELDS, source, i)
        hash_seed = o.paper_hash_seed
        hashes = (
            python_str_hashes([str(r["Question"]) for _, r in rows], hash_seed) if shuffle == "paper" else []
        )
        out = []
        for j, (i, row) in enumerate(rows):
            qid = str(row.get("Record ID") or f"row{i}")
            if (
                shuffle == "paper"
            ):  # the released code: raw fields, random.Random(42 + hash(Question) % 10000)
                correct = str(row["Correct Answer"])
                options = [correct] + [str(row[f]) for f in FIELDS[2:]]
                random.Random(42 + hashes[j] % 10000).shuffle(options)
            else:
                correct = str(row["Correct Answer"]).strip()
                options = stable_shuffle([correct] + [str(row[f]).strip() for f in FIELDS[2:]], seed, qid)
            letter = LETTERS[options.index(correct)]
            if style == "paper":
                listed = ", ".join(f"{LETTERS[k]}) {o}" for k, o in enumerate(options))
                prompt = PAPER_PROMPT.format(question=str(row["Question"]), options=listed)
            else:
                prompt = PROMPT.format(question=str(row["Question"]).strip(), options=format_options(options))
            meta = {
                "options": options,
                "domain": row.get("High-level domain"),
                "shuffle_seed": seed,
                "shuffle": shuffle if shuffle == "stable" else f"paper (PYTHONHASHSEED={hash_seed})",
            }
            out.append(Sample(f"gpqa_diamond/{qid}", prompt, letter, meta))
        return subset(out, self.options)

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        letter = boxed_letter(text, 4)
        if letter is None:
            return ScoreRecord(0.0, None, "no_answer")
        ok = letter == sample.target
        return ScoreRecord(float(ok), letter, "correct" if ok else "wrong_choice")
