"""Harmful-request benchmarks: HEx-PHI, HarmBench, StrongREJECT, AdvBench, judged on the post-thinking answer.

Score 1 = safe (the judge did not count the response as an attack success), 0 = harmful, NaN = the judge's
output could not be read (an ``error`` row: left out of ASR and counted). A response cut by the length limit is
judged on its visible answer and flagged ``truncated`` — never counted as an attack success for being cut. ASR is 1 - mean score; every record keeps ``attack_success``, the judge's raw scale
(``harm_score``: rubric 1-5, classifier 1/0, refusal detector 1 = complied) and whether the response was cut.

Options (all benchmarks): ``judge``: "refusal" (default; offline detector), "rubric" (Qi et al. 1-5, ASR = share
scored 5), "harmbench", "llamaguard3" or "wildguard" (classifiers; recommended on a GPU, docs/judges.md); ``judge_backend``: a backend id (``hf/PATH``,
``openai/MODEL@URL``) or backend object for model judges; ``judge_options``: extra judge arguments;
``n_items``; ``path`` / ``hub_id`` + ``revision``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from rsft._util.errors import DataError
from rsft.bench._loaders import data_dirs, load_hub, require, rows_for, subset
from rsft.bench.base import SAFETY_SAMPLING, Benchmark, JudgedOptions
from rsft.judges import JudgeItem, make_judge
from rsft.tasks.base import Sample, ScoreRecord


class SafetyBenchmark(Benchmark):
    """Shared judging for harmful-request benchmarks (subclasses implement ``load``)."""

    group = "safety"
    score_on = "answer"
    higher_is_better = True
    truncated_policy = "judged"  # a cut response: its visible answer is judged, the row flagged truncated
    defaults: ClassVar[dict[str, Any]] = {"n": 1, **SAFETY_SAMPLING}
    Options = JudgedOptions
    protocol = "safety"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._judge: Any = None

    @property
    def judge(self) -> Any:
        if self._judge is None:
            self._judge = make_judge(
                self.options.get("judge", "refusal"),
                backend=self.options.get("judge_backend"),
                **dict(self.options.get("judge_options") or {}),
            )
        return self._judge

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        return self.score_many([(sample, text)])[0]

    def score_many(self, pairs: list[tuple[Sample, str]]) -> list[ScoreRecord]:
        judge = getattr(self.judge, "name", type(self.judge).__name__)
        try:
            verdicts = self.judge.judge(
                [JudgeItem(s.metadata.get("judge_prompt", s.prompt), t) for s, t in pairs]
            )
        except Exception as e:  # the judge's backend failed (e.g. its server is unreachable): error rows naming it
            why = f"{type(e).__name__}: {e}"
            return [ScoreRecord(math.nan, None, "judge_error", {"judge": judge, "judge_error": why}) for _ in pairs]
        out = []
        for v in verdicts:
            meta = {"judge": judge, **v.metadata, "harm_score": v.score, "judge_output": v.raw[-1000:]}
            if v.harmful is None:
                out.append(ScoreRecord(math.nan, None, "judge_unparsed", {**meta, "attack_success": None}))
            else:
                meta["attack_success"] = v.harmful
                out.append(
                    ScoreRecord(0.0 if v.harmful else 1.0, None, "harmful" if v.harmful else "safe", meta)
                )
        return out


class HexPhi(SafetyBenchmark):
    """HEx-PHI (Qi et al.): 330 harmful instructions in 11 categories (the paper's safety benchmark).

    Gated on the hub (LLM-Tuning-Safety/HEx-PHI): accept its terms, then pass ``path`` (a folder of
    ``category_N.csv`` files, or one CSV) or ``hub_id`` + ``revision`` with HF_TOKEN set.
    """

    name = "hex_phi"
    items = 330
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "hex_phi/category_N.csv",
            "repo": "LLM-Tuning-Safety/HEx-PHI",
            "path": ["category_1.csv", "category_2.csv", "category_3.csv", "category_4.csv", "category_5.csv", "category_6.csv", "category_7.csv", "category_8.csv", "category_9.csv", "category_10.csv", "category_11.csv"],
            "split": "train",
            "gated": True,
            "each": True,
            "get": (
                "https://huggingface.co/datasets/LLM-Tuning-Safety/HEx-PHI (accept the terms; 11 "
                "files category_1.csv .. category_11.csv)"
            ),
            "sha256": {},
        },
    ]
    version = 1

    def _local(self) -> Path | None:
        if self.options.get("path"):
            p = Path(self.options["path"]).expanduser()
            if not p.exists():
                raise DataError(
                    "HEx-PHI path not found", file=str(p), fix="point options.path at the CSV folder"
                )
            return p
        for base in data_dirs():
            if (base / "hex_phi").is_dir():
                return base / "hex_phi"
        return None

    def load(self) -> list[Sample]:
        if self.options.get("hub_id") and not self.options.get("path"):
            if not self.options.get("revision"):
                raise DataError(
                    "HEx-PHI from the hub needs a pinned revision",
                    field="revision",
                    fix="pass options.revision",
                )
            rows = load_hub(
                self.options["hub_id"], revision=self.options["revision"], split="train", token=True
            )
            texts = [(str(r.get("category", "")), next(iter(r.values()))) for r in rows]
            return subset(
                [Sample(f"hex_phi/{i}", str(t), "", {"category": c}) for i, (c, t) in enumerate(texts)],
                self.options,
            )
        local = self._local()
        if local is None:
            raise DataError(
                "HEx-PHI is gated and no local copy was found",
                file="LLM-Tuning-Safety/HEx-PHI",
                fix="accept the dataset terms on the Hugging Face hub, download category_1.csv .. category_11.csv "
                "into a folder and pass options.path=FOLDER (or set RSFT_DATA_DIR with a hex_phi/ folder), or pass "
                "options.hub_id=LLM-Tuning-Safety/HEx-PHI with options.revision and HF_TOKEN set",
            )
        files = sorted(
            local.glob("category_*.csv"), key=lambda p: int("".join(filter(str.isdigit, p.stem)) or 0)
        )
        files = files or ([local] if local.is_file() else sorted(local.glob("*.csv")))
        out = []
        for f in files:
            cat = f.stem
            with open(f, encoding="utf-8", newline="") as fh:
                for i, row in enumerate(csv.reader(fh)):
                    if not row or not row[0].strip():
                        continue
                    if i == 0 and row[0].strip().lower() in {"instruction", "prompt", "text"}:
                        continue
                    out.append(Sample(f"hex_phi/{cat}/{i}", row[0].strip(), "", {"category": cat}))
        if not out:
            raise DataError("no HEx-PHI prompts found", file=str(local), fix="expected category_N.csv files")
        return subset(out, self.options)


class HarmBenchOptions(JudgedOptions):
    file: str = "harmbench_behaviors_text_test.csv"
    functional: str = Field("standard+contextual", description="standard+contextual | all | a category list")


class HarmBench(SafetyBenchmark):
    """HarmBench text behaviours; options: file (default harmbench_behaviors_text_test.csv: 320 rows),
    functional ("standard+contextual" default; "all" keeps copyright behaviours, which need HarmBench's hash
    judge to score properly)."""

    name = "harmbench"
    items = 320
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "harmbench/harmbench_behaviors_text_test.csv",
            "get": (
                "https://github.com/centerforaisafety/HarmBench/blob/main/data/behavior_datasets/ha"
                "rmbench_behaviors_text_test.csv"
            ),
            "sha256": {
                "harmbench_behaviors_text_test.csv": "75d257b3e7428c52eb7b0154318f455af3e01b09a3794b5e2f3d36054f3c0e29",
            },
            "sha256_from": "shared/benchmarks/harmbench/harmbench_behaviors_text_test.csv",
        },
    ]
    version = 1
    Options = HarmBenchOptions

    def load(self) -> list[Sample]:
        fname = self.opts.file
        source, rows = rows_for(self.options, "harmbench", fname, hub_split="train")
        keep = self.opts.functional
        out = []
        for i, row in rows:
            require(row, ["Behavior", "BehaviorID", "FunctionalCategory"], source, i)
            cat = row["FunctionalCategory"]
            if keep != "all" and cat not in keep.split("+"):
                continue
            context = (row.get("ContextString") or "").strip()
            prompt = f"{context}\n\n---\n\n{row['Behavior']}" if context else row["Behavior"]
            meta = {
                "functional": cat,
                "semantic": row.get("SemanticCategory"),
                "judge_prompt": row["Behavior"],
            }
            out.append(Sample(f"harmbench/{row['BehaviorID']}", prompt, "", meta))
        return subset(out, self.options)


class StrongReject(SafetyBenchmark):
    """StrongREJECT: 313 forbidden prompts in 6 categories."""

    name = "strongreject"
    items = 313
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "strongreject/strongreject_dataset.csv",
            "get": (
                "https://github.com/alexandrasouly/strongreject/blob/main/strongreject_dataset/stro"
                "ngreject_dataset.csv"
            ),
            "sha256": {
                "strongreject_dataset.csv": "4dd70357e4ff8b5d0ba5ebafecab5d6dd5633ce8046e3dd1c8bd93e64de44381",
            },
            "sha256_from": "shared/benchmarks/strongreject/strongreject_dataset.csv",
        },
    ]
    version = 1

    def load(self) -> list[Sample]:
        source, rows = rows_for(self.options, "strongreject", "strongreject_dataset.csv", hub_split="train")
        out = []
        for i, row in rows:
            require(row, ["forbidden_prompt"], source, i)
            meta = {"category": row.get("category"), "source": row.get("source")}
            out.append(Sample(f"strongreject/{i}", row["forbidden_prompt"], "", meta))
        return subset(out, self.options)


class AdvBench(SafetyBenchmark):
    """AdvBench harmful behaviours: 520 instructions (``target`` kept in metadata)."""

    name = "advbench"
    items = 520
    version = 1

    def load(self) -> list[Sample]:
        source, rows = rows_for(self.options, "advbench", "harmful_behaviors.csv", hub_split="train")
        out = []
        for i, row in rows:
            require(row, ["goal"], source, i)
            out.append(Sample(f"advbench/{i}", row["goal"], "", {"target": row.get("target")}))
        return subset(out, self.options)


__all__ = ["AdvBench", "HarmBench", "HexPhi", "SafetyBenchmark", "StrongReject"]
