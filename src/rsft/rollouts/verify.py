"""Verifiers used by rollouts and curation: one callable per task kind, returning a :class:`ScoreRecord`.

* ``countdown`` (and any other registered task): the task's own ``score`` on a :class:`Sample` rebuilt from the
  pool row (prompt, target, query metadata).
* ``math``: math-verify on the post-thinking answer against the target; its signal-based timeouts are disabled
  (``parsing_timeout=None``, ``timeout_seconds=None``) so it is safe in threads.
* ``code``: the last fenced code block of the answer, run in :mod:`rsft.sandbox` against the query's tests —
  ``tests``: a list of ``{"input", "output"}`` (stdin/stdout, compared stripped) or ``test``: assertion code
  appended to the program (``check(entry_point)`` is called when the test defines ``check``).
* ``none``: every response unscored.

An unclosed thinking block is ``truncated`` (never parsed as an answer) for every verifier.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from rsft._util.errors import RsftError
from rsft.chat import split_thinking
from rsft.tasks.base import Sample, ScoreRecord

Verifier = Callable[[str, str, str, dict[str, Any], str], ScoreRecord]
"""``verifier(query_id, prompt, target, query_meta, response_text) -> ScoreRecord``."""

BUILTIN = ("math", "code", "none")


def verified_flag(rec: ScoreRecord) -> bool | None:
    """The pool's ``verified`` column: True / False, or None when unscored."""
    return None if math.isnan(rec.value) else rec.value == 1.0


def _task_verifier(name: str) -> Verifier:
    from rsft.tasks.registry import get_task

    task = get_task(name)

    rebuild = getattr(task, "sample_from_prompt", None)

    def verify(query_id: str, prompt: str, target: str, meta: dict[str, Any], text: str) -> ScoreRecord:
        sample = Sample(query_id, prompt, target, dict(meta))
        try:
            return task.score(sample, text)
        except KeyError:
            if rebuild is None:
                raise
            # queries from a file may carry only the prompt: the task rebuilds what its scorer needs from it
            return task.score(rebuild(prompt, query_id), text)

    return verify


def _math_verify(query_id: str, prompt: str, target: str, meta: dict[str, Any], text: str) -> ScoreRecord:
    from math_verify import parse, verify

    split = split_thinking(text)
    if split.truncated:
        return ScoreRecord(0.0, None, "truncated")
    if not target:
        return ScoreRecord.unscored("no_target")
    gold_text = target if ("$" in target or "\\boxed" in target) else f"${target}$"
    gold = parse(gold_text, parsing_timeout=None)
    if not gold:
        return ScoreRecord.unscored("target_unparsable", target=target)
    pred = parse(split.answer, parsing_timeout=None)
    if not pred:
        return ScoreRecord(0.0, None, "no_answer")
    answer = str(pred[-1])
    ok = verify(gold, pred, timeout_seconds=None)
    return ScoreRecord(1.0 if ok else 0.0, answer, "correct" if ok else "wrong_answer")


_FENCE = re.compile(r"```[a-zA-Z0-9_+-]*\n(.*?)```", re.DOTALL)


def extract_code(answer: str) -> str | None:
    """The last fenced code block of ``answer``, or None."""
    blocks = _FENCE.findall(answer)
    return blocks[-1] if blocks else None


def _code_verifier() -> Verifier:
    try:
        from rsft.sandbox import Program, Sandbox
    except ImportError as e:  # the sandbox is part of rsft; an ImportError here is an install problem
        raise RsftError(f"the code sandbox could not be imported: {e}", fix="reinstall rsft") from None
    sandbox = Sandbox()

    def verify(query_id: str, prompt: str, target: str, meta: dict[str, Any], text: str) -> ScoreRecord:
        split = split_thinking(text)
        if split.truncated:
            return ScoreRecord(0.0, None, "truncated")
        code = extract_code(split.answer)
        if code is None:
            return ScoreRecord(0.0, None, "no_code")
        if meta.get("tests"):
            tests = meta["tests"]
            results = sandbox.run_many([Program(code, str(t.get("input", ""))) for t in tests])
            for t, r in zip(tests, results, strict=True):
                if not r.ok:
                    return ScoreRecord(0.0, code, f"test_{r.status}", {"stderr": r.stderr[-500:]})
                if r.stdout.strip() != str(t.get("output", "")).strip():
                    return ScoreRecord(0.0, code, "wrong_output")
            return ScoreRecord(1.0, code, "correct", {"tests": len(tests)})
        if meta.get("test"):
            test = str(meta["test"])
            if meta.get("entry_point") and "def check" in test:
                test += f"\ncheck({meta['entry_point']})\n"
            # tested mode: the tests run in their own process, so exiting 0 early does not pass
            exports = [meta["entry_point"]] if meta.get("entry_point") else None
            r = sandbox.run_program(Program(code, tests=test, exports=exports))
            if r.ok:
                return ScoreRecord(1.0, code, "correct")
            return ScoreRecord(0.0, code, f"test_{r.status}", {"stderr": r.stderr[-500:]})
        return ScoreRecord.unscored("no_tests")

    return verify


def _none(query_id: str, prompt: str, target: str, meta: dict[str, Any], text: str) -> ScoreRecord:
    return ScoreRecord.unscored("no_verifier")


def get_verifier(task: str) -> Verifier:
    """The verifier for ``task``: ``math``, ``code``, ``none`` or any registered task name (e.g. ``countdown``).

    Raises:
        RsftError: unknown task.
    """
    from rsft.tasks.registry import TASKS

    if task == "math":
        return _math_verify
    if task == "code":
        return _code_verifier()
    if task == "none":
        return _none
    if task in TASKS:
        return _task_verifier(task)
    raise RsftError(
        f"unknown verifier task '{task}'",
        field="task",
        fix=f"choose one of: {', '.join(sorted((*BUILTIN, *TASKS)))}",
    )
