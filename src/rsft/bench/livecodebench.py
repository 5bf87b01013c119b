"""LiveCodeBench code generation (``code_generation_lite`` format), scored on its private tests in the sandbox.

Rows carry ``question_content``, ``starter_code``, ``public_test_cases`` and ``private_test_cases`` (JSON text; the
private ones are often ``base64(zlib(pickle(json text)))``), and ``metadata`` with ``func_name`` for LeetCode-style
("functional") problems. Stdin problems run the program once per test with the test input on stdin and compare
outputs line by line (numbers within 1e-6); functional problems call ``Solution().<func_name>(*args)`` with the
JSON arguments, one per line, and compare the JSON result. A problem passes when every test passes, each within
``timeout_s`` (6 s, the protocol); the first failing test stops it.

``prompt: paper`` uses the prompts of the paper's evalchemy fork (``LiveCodeBench/eval_instruct.py`` @4a20109): an
opening sentence, the question text glued on without a separator, and a stdin or functional closing (stdin when a
public test has ``testtype: stdin``); the starter code is not shown. The default is LiveCodeBench's own format.

The pickle layer is decoded with an unpickler that refuses every global, so a hostile row cannot run code here.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zlib
from typing import Any, ClassVar

from pydantic import Field

from rsft._util.errors import DataError
from rsft.bench._code import last_python_block, parallel_map, sandbox_for
from rsft.bench._loaders import read_records, require, resolve_path, subset
from rsft.bench.base import PAPER_SAMPLING, Benchmark, CodeOptions
from rsft.sandbox import Program, Sandbox
from rsft.tasks.base import Sample, ScoreRecord

HUB_ID = "livecodebench/code_generation_lite"
# release_vN = test.jsonl .. testN.jsonl (v2 = the paper's 511 problems)
RELEASE_FILES = {
    f"release_v{n}": ["test.jsonl"] + [f"test{i}.jsonl" for i in range(2, n + 1)] for n in range(1, 7)
}

STDIN_FORMAT = (
    "### Format: Read the inputs from stdin solve the problem and write the answer to stdout (do not directly "
    "test on the sample inputs). Enclose your code within delimiters as follows. Ensure that when the python "
    "program runs, it reads the inputs, runs the algorithm and writes output to STDOUT.\n"
    "```python\n# YOUR CODE HERE\n```\n\n"
)
STARTER_FORMAT = (
    "### Format: You will use the following starter code to write the solution to the problem and enclose your "
    "code within delimiters.\n```python\n{starter}\n```\n\n"
)
PROMPT_HEAD = (
    "You are an expert Python programmer. You will be given a question (problem specification) and will generate "
    "a correct Python program that matches the specification and passes all tests.\n\n"
    "### Question:\n{question}\n\n"
)
PROMPT_TAIL = "### Answer: (use the provided format with backticks)\n\n"
PAPER_OPENING = (
    "You are an expert Python programmer. You will be given a question (problem specification) and will generate "
    "a correct Python program that matches the specification and passes all tests."
)
PAPER_STDIN = (
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test on the "
    "sample inputs). Enclose your code within delimiters as follows: ```python\n# YOUR CODE HERE\n```. Ensure "
    "that when the python program runs, it reads the inputs, runs the algorithm and writes output to STDOUT."
)
PAPER_FUNCTIONAL = (
    "Do not directly test on the sample inputs. Enclose your code within delimiters as follows: ```python\n# YOUR "
    "CODE HERE\n```. Return the function body without invoking it at the final solution."
)


def paper_prompt(question: str, public_tests: list[dict[str, Any]]) -> str:
    """The fork's prompt; stdin when any public test is a stdin test (its ``has_test_type``)."""
    stdin = any(t.get("testtype") == "stdin" for t in public_tests)
    return PAPER_OPENING + question + (PAPER_STDIN if stdin else PAPER_FUNCTIONAL)


# what LeetCode solutions may assume is imported
FUNCTIONAL_HEADER = (
    "from typing import *\nfrom collections import *\nfrom functools import *\nfrom itertools import *\n"
    "from heapq import *\nfrom bisect import *\nfrom math import *\nimport collections, heapq, bisect, math, "
    "itertools, functools, string, re, sys\nsys.setrecursionlimit(100000)\n"
)
FUNCTIONAL_HARNESS = """
import json as _json
_args = [_json.loads(_l) for _l in open("input.txt").read().split("\\n") if _l.strip()]
_res = Solution().{func}(*_args)
print(_json.dumps(_res))
"""


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ARG002
        raise pickle.UnpicklingError(f"refusing global {module}.{name} in a test-case payload")


def decode_tests(raw: Any) -> list[dict[str, Any]]:
    """Test cases from a ``*_test_cases`` field: a list, JSON text, or base64(zlib(pickle(JSON text))).

    Raises:
        ValueError: the payload is none of these.
    """
    if isinstance(raw, list):
        return raw
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        pass
    blob = zlib.decompress(base64.b64decode(raw.encode("utf-8") if isinstance(raw, str) else raw))
    inner = _NoGlobals(io.BytesIO(blob)).load()
    return json.loads(inner) if isinstance(inner, (str, bytes)) else inner


def encode_private(tests: list[dict[str, Any]]) -> str:
    """The inverse of the compressed form (used by tests to build rows)."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def outputs_match(got: str, expected: str) -> bool:
    """Line-by-line comparison after stripping; tokens that are numbers compare within 1e-6."""
    g = [line.strip() for line in got.strip().splitlines()]
    e = [line.strip() for line in expected.strip().splitlines()]
    if g == e:
        return True
    if len(g) != len(e):
        return False
    for a, b in zip(g, e, strict=True):
        if a == b:
            continue
        ta, tb = a.split(), b.split()
        if len(ta) != len(tb):
            return False
        for x, y in zip(ta, tb, strict=True):
            if x == y:
                continue
            try:
                if abs(float(x) - float(y)) > 1e-6 * max(1.0, abs(float(y))):
                    return False
            except ValueError:
                return False
    return True


def _json_equal(got: str, expected: str) -> bool:
    try:
        g = json.loads(got.strip().splitlines()[-1]) if got.strip() else None
        e = json.loads(expected)
    except (json.JSONDecodeError, IndexError):
        return False
    if isinstance(g, float) or isinstance(e, float):
        try:
            return abs(float(g) - float(e)) <= 1e-6 * max(1.0, abs(float(e)))
        except (TypeError, ValueError):
            return False
    return g == e or (isinstance(g, list) and isinstance(e, list) and [*map(tuple_to_list, g)] == e)


def tuple_to_list(x: Any) -> Any:
    return list(x) if isinstance(x, tuple) else x


def run_tests(sandbox: Sandbox, sample: Sample, code: str, which: str = "private") -> ScoreRecord:
    """Run the code on the sample's tests (stop at the first failure)."""
    meta = sample.metadata
    tests = meta["private_tests"] if which == "private" else meta["public_tests"]
    if which == "private" and not tests:
        tests = meta["public_tests"]
    func = meta.get("func_name")
    for i, t in enumerate(tests):
        if t.get("testtype", "stdin") == "functional":
            src = FUNCTIONAL_HEADER + code + FUNCTIONAL_HARNESS.format(func=func)
            result = sandbox.run_program(Program(src, "", files={"input.txt": t["input"]}))
            ok = result.ok and _json_equal(result.stdout, t["output"])
        else:
            result = sandbox.run_program(Program(code, t["input"]))
            ok = result.ok and outputs_match(result.stdout, t["output"])
        if result.status == "sandbox_error":  # the program never ran: an error row, not a failed program
            return ScoreRecord.unscored("sandbox_error", failed_test=i, stderr_tail=result.stderr[-300:])
        if not ok:
            reason = "wrong_answer" if result.ok else f"failed_{result.status}"
            return ScoreRecord(
                0.0,
                code,
                reason,
                {
                    "failed_test": i,
                    "n_tests": len(tests),
                    "status": result.status,
                    "stderr_tail": result.stderr[-300:],
                },
            )
    return ScoreRecord(1.0, code, "passed", {"n_tests": len(tests)})


class LiveCodeBenchOptions(CodeOptions):
    release: str = Field("release_v2", description="the hub release file set (hub_id only)")
    tests: str = Field("private", description="private | public: which test cases score a program")
    prompt: str = Field("lcb", description="lcb | paper")


class LiveCodeBench(Benchmark):
    """LiveCodeBench; options: path (jsonl in code_generation_lite format) | hub_id (+revision, release),
    release (default release_v2), n_items, workers, timeout_s (default 6), tests ("private" | "public")."""

    name = "livecodebench"
    items = 511
    protocol = "avg@k"
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "livecodebench/test.jsonl",
            "repo": "livecodebench/code_generation_lite",
            "path": ["test.jsonl", "test2.jsonl"],
            "split": "test",
            "sha256": {"test.jsonl": None, "test2.jsonl": None},
        },
    ]
    version = 1
    group = "code"
    score_on = "answer"
    defaults: ClassVar[dict[str, Any]] = {"n": 3, **PAPER_SAMPLING}
    Options = LiveCodeBenchOptions

    def _rows(self) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
        release = self.opts.release
        if self.options.get("hub_id") and not self.options.get("path"):
            from rsft.bench._loaders import load_hub

            if release not in RELEASE_FILES:
                raise DataError(
                    f"unknown release '{release}'", field="release", fix=f"one of {list(RELEASE_FILES)}"
                )
            rows = load_hub(
                self.options["hub_id"],
                revision=self.options.get("revision"),
                split="train",
                data_files=RELEASE_FILES[release],
            )
            return f"{self.options['hub_id']}@{self.options['revision']}", list(enumerate(rows))
        path = resolve_path(self.options, "livecodebench", "test.jsonl")
        return str(path), list(read_records(path))

    def load(self) -> list[Sample]:
        source, rows = self._rows()
        out = []
        for i, row in rows:
            require(
                row, ["question_id", "question_content", "public_test_cases", "private_test_cases"], source, i
            )
            try:
                public = decode_tests(row["public_test_cases"])
                private = decode_tests(row["private_test_cases"]) if row["private_test_cases"] else []
            except Exception as e:  # noqa: BLE001 - any decoding failure is a data error for this row
                raise DataError(
                    f"cannot decode test cases: {e}", file=source, row=i, field="private_test_cases"
                ) from e
            meta_raw = row.get("metadata") or "{}"
            meta = json.loads(meta_raw) if isinstance(meta_raw, str) else dict(meta_raw)
            starter = row.get("starter_code") or ""
            style = self.opts.prompt
            if style not in ("lcb", "paper"):
                raise DataError(f"unknown prompt '{style}'", field="prompt", fix="lcb or paper")
            if style == "paper":
                prompt = paper_prompt(row["question_content"], public)
            else:
                prompt = PROMPT_HEAD.format(question=row["question_content"])
                prompt += STARTER_FORMAT.format(starter=starter) if starter else STDIN_FORMAT
                prompt += PROMPT_TAIL
            metadata = {
                "public_tests": public,
                "private_tests": private,
                "func_name": meta.get("func_name"),
                "platform": row.get("platform"),
                "difficulty": row.get("difficulty"),
                "contest_date": str(row.get("contest_date", "")),
            }
            out.append(Sample(str(row["question_id"]), prompt, "", metadata))
        return subset(out, self.options)

    def score(self, sample: Sample, text: str) -> ScoreRecord:
        return self.score_many([(sample, text)])[0]

    def score_many(self, pairs: list[tuple[Sample, str]]) -> list[ScoreRecord]:
        sandbox = sandbox_for(self.options, wall_s=6.0)
        which = self.opts.tests

        def one(pair: tuple[Sample, str]) -> ScoreRecord:
            code = last_python_block(pair[1])
            if code is None:
                return ScoreRecord(0.0, None, "no_code_block")
            return run_tests(sandbox, pair[0], code, which)

        return parallel_map(sandbox, one, pairs)
