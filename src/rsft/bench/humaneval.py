"""HumanEval (Chen et al. 2021): 164 function-completion problems, scored by their unit tests in the sandbox.

The model's last ```python block is the program. When it defines the entry point (a top-level ``def`` of exactly
that name, found by parsing it), it is the program, with the prompt's imports put first (models often drop them).
Otherwise (a bare body, code that does not compile alone, or no such ``def``) the program is the prompt followed by
the block, exactly as the official harness builds it (``prompt + completion``); the row's ``program`` says which
(``completion`` or ``prompt+completion``). The
problem's ``check(candidate)`` then runs on the entry point in a separate process (the sandbox's tested mode): a
pass means every assertion ran and held on plain values, whatever the program does to its own process.
"""

from __future__ import annotations

import ast
from typing import Any, ClassVar

from rsft.bench._code import defines_function, score_programs
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


def build_program(sample: Sample, code: str) -> tuple[Program, dict[str, str]]:
    """The tested program for one completion: imports + code when the code defines the entry point, else the
    official harness's prompt + completion. The tests, in their own process, take only the entry point from it:
    ``check(entry)`` with the prompt's helpers."""
    meta = sample.metadata
    entry = meta["entry_point"]
    imports = _imports(meta["prompt"])
    if defines_function(code, entry):
        source, how = f"{imports}{code}\n", "completion"
    else:
        source, how = f"{meta['prompt']}{code}\n", "prompt+completion"
    tests = f"{imports}{_helpers(meta['prompt'], entry)}{meta['test']}\n\ncheck({entry})\n"
    return Program(source, tests=tests, exports=[entry]), {"program": how}


class HumanEval(Benchmark):
    """HumanEval; options: path | hub_id (+revision), n_items, workers, timeout_s (default 10)."""

    name = "humaneval"
    items = 164
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "humaneval/HumanEval.jsonl",
            "repo": "openai/openai_humaneval",
            "path": ["openai_humaneval/test-00000-of-00001.parquet"],
            "split": "test",
            "convert": "jsonl",
            "sha256": {"openai_humaneval/test-00000-of-00001.parquet": None},
        },
    ]
    # 2: tests run in their own process on plain values (sys.exit(0) no longer passes); 3: the entry point is
    # found by parsing, and anything else is graded as prompt + completion (the official harness's program)
    version = 3
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
