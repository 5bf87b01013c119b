"""Verifiable task plugins: Countdown and the toy domains of the embedded default."""

from rsft.tasks.base import Sample, ScoreRecord, Task
from rsft.tasks.registry import TASKS, get_task, task_names

__all__ = ["Sample", "ScoreRecord", "Task", "TASKS", "get_task", "task_names"]
