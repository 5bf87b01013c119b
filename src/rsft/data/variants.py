"""Data variants for the paper's data ablations: no-CoT and low-quality versions of a long-CoT dataset.

``nocot`` keeps the text after ``</think>`` (the final summary and answer) and drops the thinking. Rows whose thinking
never closes, or that have no thinking block, are *reported* by index; unclosed ones are always dropped (their answer
is unknown), rows without thinking are kept unchanged unless ``on_missing="drop"``.

``lowquality`` corrupts a seeded share of rows, each corruption with its own rate: ``wrong_rate`` replaces the final
answer with a wrong one (checked wrong by the row's task scorer when the row carries its sample),
``truncate_rate`` cuts the thinking short, ``shuffle_rate`` shuffles its lines (or sentences). Row ``i``'s choices
depend only on (seed, i), so the same input and seed give the same output.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

from rsft._util.errors import RsftError
from rsft._util.seeding import derive_seed
from rsft.chat import split_thinking
from rsft.core import Sample, SFTRow

KINDS = ("nocot", "lowquality")
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_INT = re.compile(r"-?\d+")


def make_variant(rows: list[SFTRow], kind: str = "nocot", **opts: Any) -> tuple[list[SFTRow], dict[str, Any]]:
    """A variant of ``rows`` and a report (counts, and the indices of rows with problems).

    Args:
        rows: input rows.
        kind: ``nocot`` or ``lowquality``.
        **opts: ``nocot``: ``on_missing`` (keep | drop). ``lowquality``: ``wrong_rate`` (0.5), ``truncate_rate``
            (0.0), ``shuffle_rate`` (0.0), ``seed`` (0).

    Raises:
        RsftError: unknown kind or option.
    """
    if kind == "nocot":
        return _nocot(rows, **opts)
    if kind == "lowquality":
        return _lowquality(rows, **opts)
    raise RsftError(f"unknown variant kind '{kind}'", field="kind", fix=f"use one of: {', '.join(KINDS)}")


def _variant_row(row: SFTRow, response: str, **meta: Any) -> SFTRow:
    return SFTRow(
        messages=row.messages,
        response=response,
        weight=row.weight,
        teacher_logprobs=None,  # per-token teacher log-probs no longer match the changed response
        id=row.id,
        metadata={**row.metadata, **meta},
    )


def _nocot(rows: list[SFTRow], on_missing: str = "keep") -> tuple[list[SFTRow], dict[str, Any]]:
    if on_missing not in ("keep", "drop"):
        raise RsftError("on_missing must be keep or drop", field="on_missing")
    out, unclosed, missing, empty = [], [], [], []
    for i, row in enumerate(rows):
        split = split_thinking(row.response)
        if split.truncated:
            unclosed.append(i)
            continue
        if not split.has_thinking:
            missing.append(i)
            if on_missing == "keep":
                out.append(_variant_row(row, row.response, variant="nocot"))
            continue
        if not split.answer:
            empty.append(i)
            continue
        out.append(_variant_row(row, split.answer, variant="nocot"))
    report = {
        "kind": "nocot",
        "rows_in": len(rows),
        "rows_out": len(out),
        "problems": {"unclosed_think": unclosed, "missing_think": missing, "empty_answer": empty},
        "dropped": len(unclosed) + len(empty) + (len(missing) if on_missing == "drop" else 0),
    }
    return out, report


def _lowquality(
    rows: list[SFTRow],
    wrong_rate: float = 0.5,
    truncate_rate: float = 0.0,
    shuffle_rate: float = 0.0,
    seed: int = 0,
) -> tuple[list[SFTRow], dict[str, Any]]:
    for name, rate in (
        ("wrong_rate", wrong_rate),
        ("truncate_rate", truncate_rate),
        ("shuffle_rate", shuffle_rate),
    ):
        if not 0.0 <= rate <= 1.0:
            raise RsftError(f"{name} must be in [0, 1]", field=name)
    counts: Counter[str] = Counter()
    failed: list[int] = []
    out = []
    for i, row in enumerate(rows):
        rng = random.Random(derive_seed("lowquality", seed, i))
        response, applied = row.response, []
        if rng.random() < truncate_rate and (cut := _truncate(response, rng)) is not None:
            response, applied = cut, [*applied, "truncated"]
        if rng.random() < shuffle_rate and (mixed := _shuffle(response, rng)) is not None:
            response, applied = mixed, [*applied, "shuffled"]
        if rng.random() < wrong_rate:
            wrong = _wrong_answer(row, response, rng)
            if wrong is None:
                failed.append(i)
            else:
                response, applied = wrong, [*applied, "wrong_answer"]
        counts.update(applied)
        counts["unchanged" if not applied else "corrupted"] += 1
        out.append(_variant_row(row, response, variant="lowquality", corruption=applied))
    report = {
        "kind": "lowquality",
        "rows_in": len(rows),
        "rows_out": len(out),
        "options": {
            "wrong_rate": wrong_rate,
            "truncate_rate": truncate_rate,
            "shuffle_rate": shuffle_rate,
            "seed": seed,
        },
        "counts": dict(sorted(counts.items())),
        "problems": {"could_not_corrupt_answer": failed},
    }
    return out, report


def _rebuild(split_thinking_text: str, answer: str) -> str:
    return f"<think>\n{split_thinking_text}\n</think>\n{answer}"


def _truncate(response: str, rng: random.Random) -> str | None:
    """Cut the thinking at a word boundary between 20% and 80% of its length (the answer is kept)."""
    split = split_thinking(response)
    if not split.has_thinking or split.truncated or len(split.thinking) < 10:
        return None
    cut = int(len(split.thinking) * rng.uniform(0.2, 0.8))
    space = split.thinking.rfind(" ", 0, cut)
    return _rebuild(split.thinking[: space if space > 0 else cut].rstrip(), split.answer)


def _shuffle(response: str, rng: random.Random) -> str | None:
    """Shuffle the thinking's lines (sentences when it is one line); None when there is nothing to shuffle."""
    split = split_thinking(response)
    if not split.has_thinking or split.truncated:
        return None
    parts = split.thinking.split("\n")
    joiner = "\n"
    if len(parts) < 2:
        parts, joiner = re.split(r"(?<=[.!?])\s+", split.thinking), " "
    if len(parts) < 2 or len(set(parts)) < 2:
        return None
    shuffled = parts[:]
    while shuffled == parts:
        rng.shuffle(shuffled)
    return _rebuild(joiner.join(shuffled), split.answer)


def _wrong_answer(row: SFTRow, response: str, rng: random.Random) -> str | None:
    """``response`` with its final answer replaced by a wrong one; None when no wrong answer could be made.

    When the row carries its task and sample and the task offers ``wrong_answer(sample, rng)`` (toy_instruct,
    toy_safety), that answer is used; otherwise the last ``<answer>`` content (or, without tags, the last integer
    after thinking) is perturbed: an integer is shifted, an expression gets one operator or number changed. With a
    known task, its scorer must give the new response 0, else another candidate is tried.
    """
    task, sample = _row_task(row)
    scorer = None if task is None else (lambda text: task.score(sample, text).value)
    for _ in range(8):
        wrong = task.wrong_answer(sample, rng) if hasattr(task, "wrong_answer") else None
        candidate = _replace_answer(response, wrong) if wrong is not None else _perturb(response, rng)
        if candidate is None:
            return None
        if scorer is None or scorer(candidate) == 0.0:
            return candidate
    return None


def _perturb(response: str, rng: random.Random) -> str | None:
    matches = list(_ANSWER.finditer(response))
    if matches:
        m = matches[-1]
        start, end, old = m.start(1), m.end(1), m.group(1)
    else:
        split = split_thinking(response)
        offset = response.rfind(split.answer) if split.answer else -1
        nums = list(_INT.finditer(split.answer))
        if not nums or offset < 0:
            return None
        start, end, old = offset + nums[-1].start(), offset + nums[-1].end(), nums[-1].group(0)
    new = _perturb_text(old.strip(), rng)
    return None if new is None else response[:start] + new + response[end:]


def _perturb_text(text: str, rng: random.Random) -> str | None:
    if _INT.fullmatch(text):
        return str(int(text) + rng.choice([-1, 1]) * rng.randint(1, 9))
    ops = [k for k, ch in enumerate(text) if ch in "+-*/"]
    if ops:
        k = rng.choice(ops)
        return text[:k] + rng.choice([o for o in "+-*/" if o != text[k]]) + text[k + 1 :]
    nums = list(_INT.finditer(text))
    if nums:
        m = rng.choice(nums)
        return text[: m.start()] + str(int(m.group(0)) + 1) + text[m.end() :]
    if len(text) == 1 and text in "ABCD":
        return rng.choice([c for c in "ABCD" if c != text])
    return None


def _row_task(row: SFTRow) -> tuple[Any, Sample | None]:
    """(task, sample) for rows that carry ``metadata["task"]`` and ``["sample"]``, else (None, None)."""
    name, sample = row.metadata.get("task"), row.metadata.get("sample")
    if not name or not isinstance(sample, dict):
        return None, None
    from rsft.tasks.registry import get_task

    return get_task(name), Sample(**sample)


def _replace_answer(response: str, new: str) -> str:
    """``response`` with its last ``<answer>`` content, or else its whole post-thinking text, replaced by ``new``."""
    matches = list(_ANSWER.finditer(response))
    if matches:
        m = matches[-1]
        return response[: m.start(1)] + new + response[m.end(1) :]
    close = response.rfind("</think>")
    return new if close == -1 else response[: close + len("</think>")] + "\n" + new
