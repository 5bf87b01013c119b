"""A task's samples as SFT rows: one generated sample -> one row (prompt as a user turn, reference response)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rsft.core import Sample, SFTRow


def sample_row(task: Any, sample: Sample, **style: Any) -> SFTRow:
    """The SFT row of one sample; ``metadata`` carries the task name, its version and the sample (for verify)."""
    return SFTRow(
        messages=[{"role": "user", "content": sample.prompt}],
        response=task.response(sample, **style),
        id=sample.id,
        metadata={"task": task.name, "task_version": task.version, "sample": sample.to_dict()},
    )


def task_rows(
    task: Any,
    n: int,
    seed: int,
    *,
    settings: dict[str, Any] | None = None,
    style: dict[str, Any] | None = None,
    verify: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list[SFTRow]:
    """``n`` rows of ``task``, a pure function of (n, seed, settings, style).

    Args:
        task: a task object.
        n: rows.
        seed: generator seed.
        settings: generator settings.
        style: response style knobs (``style="cot"|"nocot"`` and task-specific ones).
        verify: score every reference response and fail when one is not correct (a bug in the task, not bad input).
        progress: called with the number of rows done since the last call.

    Raises:
        AssertionError: a reference response does not verify (a bug).
    """
    rows = []
    samples = task.generate(n, seed, **(settings or {}))
    for i, s in enumerate(samples):
        row = sample_row(task, s, **(style or {}))
        if verify:
            rec = task.score(s, row.response)
            if rec.value != 1.0:
                raise AssertionError(
                    f"reference response of {s.id} does not verify ({rec.reason}): {row.response!r}"
                )
        rows.append(row)
        if progress is not None and (i + 1) % 256 == 0:
            progress(256)
    if progress is not None and n % 256:
        progress(n % 256)
    return rows
