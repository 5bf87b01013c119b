"""HumanEval (Chen et al. 2021): 164 function-completion problems, scored by their unit tests in the sandbox.

The model's last ```python block is the program. When it does not define the entry point (a bare body), the
problem's prompt is put before it; the prompt's imports are always put first (models often drop them). The
problem's ``check(candidate)`` then runs on the entry point in a separate process (the sandbox's tested mode): a
pass means every assertion ran and held on plain values, whatever the program does to its own process.
"""

from __future__ import annotations

import ast
from typing import Any, ClassVar

from rsft.bench._code import score_programs
from rsft.bench._loaders import require, rows_for, subset
from rsft.bench.base import PAPER_SAMPLING, Benchmark, CodeOptions
from rsft.sandbox import Program
from rsft.tasks.base import Sample, ScoreRecord

PROMPT = (
    "Complete the following Python function. Write the complete function (with its imports) "
    "in a single ```python code block.\n\n```python\n{prompt}```"
)


def _imports(prompt: str) -> str:
    return "".join(
        line + "\n"
        for line in prompt.splitlines()
        if line.startswith(("import ", "from ")) and " import" in line
    )


def _helpers(prompt: str, entry: str) -> str:
    """The prompt's own top-level code except the function to write (e.g. ``encode_cyclic`` beside
    ``decode_cyclic``): the tests use these trusted copies, never the program's."""
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return ""
    keep = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name == entry)]
    return ast.unparse(ast.Module(body=keep, type_ignores=[])) + "\n"


def build_program(sample: Sample, code: str) -> Program:
    """The tested program for one completion: imports + code (or prompt + body). The tests, in their own
    process, take only the entry point from it: ``check(entry)`` with the prompt's helpers."""
    meta = sample.metadata
    entry = meta["entry_point"]
    body = code if f"def {entry}" in code else meta["prompt"] + code
    imports = _imports(meta["prompt"])
    tests = f"{imports}{_helpers(meta['prompt'], entry)}{meta['test']}\n\ncheck({entry})\n"
    return Program(f"{imports}{body}\n", tests=tests, exports=[entry])


class HumanEval(Benchmark):
    """HumanEval; options: path | hub_id (+revision), n_items, workers, timeout_s (default 10)."""

    name = "humaneval"
    version = 2  # 2: tests run in their own process on plain values (sys.exit(0) no longer passes)
    group = "code"
    score_on = "answer"
    defaults: ClassVar[dict[str, Any]] = {"n": 1, **PAPER_SAMPLING}
    Options = CodeOptions

    def load(self) -> list[Sample]:
        source, rows = rows_for(self.options, "humaneval", "HumanEval.jsonl")
        out = []
        for i, row in rows:
            require(row, ["task_id", "prompt", "entry_point", "canonical_solution", "test"], source, i)
            meta = {k: row[k] for k in ("prompt", "entry_point", "canonical_solution", "test")}
            out.append(
                Sample(row["task_id"], PROMPT.format(prompt=row["prompt"]), row["canonical_solution"], meta)
            )
        return subset(out, self.options)

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        return self.score_many([(sample, text)])[0]

    def score_many(self, pairs: list[tuple[Sample, str]]) -> list[ScoreRecord]:
        return score_programs(self.options, pairs, build_program)
