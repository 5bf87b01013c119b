"""Keep the rows a task's verifier accepts, and say why the others were dropped."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rsft._util.errors import RsftError
from rsft.core import Sample, SFTRow


def row_sample(row: SFTRow, task: Any) -> Sample | None:
    """The task sample a row answers: ``metadata["sample"]`` when present, else parsed from the last user turn by
    the task's ``sample_from_prompt`` (Countdown has one), else None."""
    meta = row.metadata.get("sample")
    if isinstance(meta, dict):
        return Sample(**meta)
    users = [m["content"] for m in row.messages if m["role"] == "user"]
    if users and hasattr(task, "sample_from_prompt"):
        try:
            return task.sample_from_prompt(users[-1], row.id or "")
        except RsftError:
            return None
    return None


def verify_rows(rows: list[SFTRow], task: Any) -> tuple[list[SFTRow], dict[str, Any]]:
    """Score every row's response with ``task`` and keep those scoring 1.

    Args:
        rows: SFT rows.
        task: a task object or a registered task name.

    Returns:
        (kept rows, report): the report has ``rows``, ``kept``, ``dropped``, ``reasons`` (count per score reason,
        ``no_sample`` when a row's sample could not be recovered) and the first dropped row indices per reason.
    """
    if isinstance(task, str):
        from rsft.tasks.registry import get_task

        task = get_task(task)
    kept: list[SFTRow] = []
    reasons: Counter[str] = Counter()
    examples: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        sample = row_sample(row, task)
        reason = "no_sample" if sample is None else None
        if sample is not None:
            rec = task.score(sample, row.response)
            reason = rec.reason
            if rec.value == 1.0:
                kept.append(row)
        reasons[reason] += 1
        if reason != "correct" and len(examples.setdefault(reason, [])) < 10:
            examples[reason].append(i)
    report = {
        "task": f"{task.name}@{task.version}",
        "rows": len(rows),
        "kept": len(kept),
        "dropped": len(rows) - len(kept),
        "reasons": dict(sorted(reasons.items())),
        "dropped_examples": examples,
    }
    return kept, report
