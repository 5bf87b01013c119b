"""MBPP (Austin et al. 2021): 974 short Python problems with three asserts each; the sandbox runs them.

The prompt is the standard one (task text plus the asserts the function must pass). ``split`` option: "test"
(task ids 11-510, the default), "train", "validation", "prompt" or "all".
"""

from __future__ import annotations

import ast
from typing import Any, ClassVar

from rsft._util.errors import DataError
from rsft.bench._code import defines_function, score_programs
from rsft.bench._loaders import require, rows_for, subset
from rsft.bench.base import PAPER_SAMPLING, Benchmark, CodeOptions
from rsft.sandbox import Program
from rsft.tasks.base import Sample, ScoreRecord

PROMPT = (
    "You are an expert Python programmer, and here is your task: {text} "
    "Your code should pass these tests:\n\n{tests}\n\nWrite your solution in a single ```python code block."
)
SPLITS = {
    "prompt": (1, 10),
    "test": (11, 510),
    "validation": (511, 600),
    "train": (601, 974),
    "all": (1, 10**9),
}


def build_program(sample: Sample, code: str) -> tuple[Program, dict[str, Any]]:
    """The tested program: the code; tests: set-up code and asserts, run in a separate process. The row records
    the reference's functions the code does not define (by parsing it, not by substring: ``def min_cost_2`` is
    not ``min_cost``)."""
    meta = sample.metadata
    tests = "\n".join(meta["test_list"] + meta.get("challenge_test_list", []))
    exports = _defined(meta["reference_code"])
    functions = _defined(meta["reference_code"], functions_only=True) or []
    missing = [f for f in functions if not defines_function(code, f)]
    # setup code may use names the solution defines (tasks 367, 927 build trees of the solution's Node class):
    # they are references into the program's process
    program = Program(f"{code}\n", tests=f"{meta['test_setup_code']}\n{tests}\n", exports=exports)
    return program, {"missing_functions": missing}


def _defined(reference: str, *, functions_only: bool = False) -> list[str] | None:
    """The top-level names the reference solution defines: the only names the tests take from a program
    (so a program cannot replace ``set`` or ``sorted`` under them; task 126's function is called ``sum``)."""
    try:
        tree = ast.parse(reference)
    except SyntaxError:
        return None
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append(node.name)
        elif functions_only:
            continue
        elif isinstance(node, ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


class Mbpp(Benchmark):
    """MBPP; options: path | hub_id (+revision), split, n_items, workers, timeout_s (default 10)."""

    name = "mbpp"
    items = 500
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "mbpp/mbpp.jsonl",
            "get": (
                "https://github.com/google-research/google-research/blob/master/mbpp/mbpp.jsonl "
                "(all 974 problems; the hub's google-research-datasets/mbpp splits them into "
                "Parquet files)"
            ),
            "sha256": {"mbpp.jsonl": "0b5e07b5b40fedd01c57b7c9177b79f8b2eebd72c304c928605d91a7237d2f33"},
            "sha256_from": "shared/benchmarks/mbpp/mbpp.jsonl",
        },
    ]
    version = 2  # 2: tests run in their own process on plain values (sys.exit(0) no longer passes)
    group = "code"
    score_on = "answer"
    defaults: ClassVar[dict[str, Any]] = {"n": 1, **PAPER_SAMPLING}
    Options = CodeOptions

    def load(self) -> list[Sample]:
        split = self.options.get("split", "test")
        if split not in SPLITS:
            raise DataError(f"unknown MBPP split '{split}'", field="split", fix=f"one of {sorted(SPLITS)}")
        lo, hi = SPLITS[split]
        source, rows = rows_for(self.options, "mbpp", "mbpp.jsonl", hub_split="test")
        out = []
        for i, row in rows:
            require(row, ["task_id", "text", "code", "test_list"], source, i)
            if not lo <= int(row["task_id"]) <= hi:
                continue
            meta = {
                "test_list": list(row["test_list"]),
                "challenge_test_list": list(row.get("challenge_test_list") or []),
                "test_setup_code": row.get("test_setup_code") or "",
                "reference_code": row["code"],
            }
            prompt = PROMPT.format(text=row["text"], tests="\n".join(row["test_list"]))
            out.append(Sample(f"mbpp/{row['task_id']}", prompt, row["code"], meta))
        return subset(out, self.options)

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        return self.score_many([(sample, text)])[0]

    def score_many(self, pairs: list[tuple[Sample, str]]) -> list[ScoreRecord]:
        return score_programs(self.options, pairs, build_program)
