"""Task registry: one line per task, ``name -> "module:Class"``, imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

from rsft._util.errors import RsftError

TASKS: dict[str, str] = {
    "countdown": "rsft.tasks.countdown:CountdownTask",
    "toy_arith": "rsft.tasks.arith:ArithTask",
    "toy_sort": "rsft.tasks.sorting:SortTask",
    "toy_mcq": "rsft.tasks.mcq:McqTask",
    "toy_instruct": "rsft.tasks.instruct:InstructTask",
    "toy_safety": "rsft.tasks.safety:SafetyTask",
}


def task_names() -> list[str]:
    return sorted(TASKS)


def get_task(name: str, **kwargs: Any) -> Any:
    """Instantiate a registered task by name."""
    if name not in TASKS:
        raise RsftError(
            f"unknown task '{name}'", field="task", fix=f"choose one of: {', '.join(task_names())}"
        )
    module, attr = TASKS[name].split(":")
    return getattr(importlib.import_module(module), attr)(**kwargs)
