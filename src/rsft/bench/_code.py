"""Code benchmarks' shared parts: the last ```python block, one sandbox per process, a pass/fail record."""

from __future__ import annotations

import ast
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rsft.sandbox import ExecResult, Program, Sandbox, SandboxLimits
from rsft.tasks.base import ScoreRecord

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_PY_LANGS = {"python", "python3", "py", ""}

_sandboxes: dict[tuple, Sandbox] = {}
_lock = threading.Lock()


def last_python_block(text: str) -> str | None:
    """The body of the last fenced code block tagged python (or untagged); None when there is none.

    An unclosed final fence (the model stopped after opening it) is not a block.
    """
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    for lang, body in reversed(blocks):
        if lang in _PY_LANGS and body.strip():
            return body
    return None


def defines_function(code: str, name: str) -> bool:
    """Whether ``code`` parses on its own and defines a top-level function called exactly ``name`` (by the
    syntax tree: ``def count_up_to_2`` or a comment mentioning ``def count_up_to`` does not count)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name for n in tree.body)


def sandbox_for(options: dict[str, Any], *, wall_s: float, memory_mb: int = 2048) -> Sandbox:
    """One shared sandbox per (limits, workers): options ``workers``, ``timeout_s``, ``memory_mb``."""
    limits = SandboxLimits(
        wall_s=float(options.get("timeout_s", wall_s)),
        cpu_s=max(1, int(float(options.get("timeout_s", wall_s))) + 1),
        memory_mb=int(options.get("memory_mb", memory_mb)),
    )
    key = (limits.model_dump_json(), options.get("workers"))
    with _lock:
        if key not in _sandboxes:
            _sandboxes[key] = Sandbox(limits, workers=options.get("workers"))
        return _sandboxes[key]


def exec_record(result: ExecResult, code: str, **meta: Any) -> ScoreRecord:
    """1 when the program passed (tested mode: a signed verdict that every test ran and passed; plain mode:
    exit 0), else 0, with the status, the tests' verdict and the tail of stderr kept. A failed program whose
    stderr is empty (tested mode: the test process caught the error) gets the tests' failure reason there
    (``tests: IndentationError: ...``), so no failed row has an empty ``stderr_tail``. A sandbox that could not
    run the program (``sandbox_error``) grades nothing: unscored, i.e. an ``error`` row, never a failed program."""
    if result.status == "sandbox_error":
        return ScoreRecord.unscored("sandbox_error", status=result.status, stderr_tail=result.stderr[-500:])
    value = 1.0 if result.ok else 0.0
    reason = "passed" if result.ok else f"failed_{result.status}"
    stderr_tail = result.stderr[-500:]
    if result.tests is not None:
        meta = {"tests": result.tests, **meta}
        if not result.ok and not stderr_tail.strip() and result.tests.get("reason"):
            stderr_tail = f"tests: {result.tests['reason']}"[-500:]
    return ScoreRecord(
        value,
        code,
        reason,
        {
            "status": result.status,
            "returncode": result.returncode,
            "seconds": round(result.seconds, 4),
            "stderr_tail": stderr_tail,
            "isolation": result.isolation,
            **meta,
        },
    )


def run_programs(sandbox: Sandbox, programs: list[Program | None]) -> list[ExecResult | None]:
    """Run programs in parallel; ``None`` entries (no code found) stay None."""
    idx = [i for i, p in enumerate(programs) if p is not None]
    results = sandbox.run_many([programs[i] for i in idx])
    out: list[ExecResult | None] = [None] * len(programs)
    for i, r in zip(idx, results, strict=True):
        out[i] = r
    return out


def parallel_map(sandbox: Sandbox, fn, items: list) -> list:
    """``fn`` over items on the sandbox's worker count (each fn runs its own programs one after another)."""
    if sandbox.workers == 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(sandbox.workers) as pool:
        return list(pool.map(fn, items))


def score_programs(
    options: dict[str, Any], pairs: list[tuple[Any, str]], build_program, *, wall_s: float = 10.0
) -> list[ScoreRecord]:
    """Score responses whose last ```python block, made by ``build_program(sample, code)`` into a tested
    :class:`Program` (or a ``(Program, metadata)`` pair, the metadata kept on the row), must pass its tests in
    the sandbox (HumanEval, MBPP)."""
    sandbox = sandbox_for(options, wall_s=wall_s)
    codes = [last_python_block(t) for _, t in pairs]
    built = [None if c is None else build_program(s, c) for (s, _), c in zip(pairs, codes, strict=True)]
    programs = [b[0] if isinstance(b, tuple) else b for b in built]
    metas = [b[1] if isinstance(b, tuple) else {} for b in built]
    results = run_programs(sandbox, programs)
    return [
        ScoreRecord(0.0, None, "no_code_block") if r is None else exec_record(r, c, **m)
        for r, c, m in zip(results, codes, metas, strict=True)
    ]
