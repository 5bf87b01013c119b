"""Step arithmetic, learning-rate schedules, data order and the checkpoint schedule — pure functions."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rsft._util.errors import ConfigError, Problem
from rsft.config import MAX_STEPS
from rsft.train.config import CheckpointConfig, ScheduleConfig


@dataclass(frozen=True)
class Plan:
    """How many optimizer steps a run makes and how each global batch is split.

    Attributes:
        rows: training rows after tokenization (skipped rows excluded).
        global_batch: rows per optimizer step over all processes.
        micro_batch: rows per forward pass per process.
        processes: data-parallel processes.
        accumulation: micro-batches per process per step.
        steps_per_epoch: full global batches in one pass over the rows (a last partial batch is dropped).
        total_steps: optimizer steps of the run.
        warmup_steps: ``int(warmup_ratio * total_steps)``, as the paper's trainer computes it.
        epochs: passes over the data (fractional with max_steps).
    """

    rows: int
    global_batch: int
    micro_batch: int
    processes: int
    accumulation: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    epochs: float

    @property
    def dropped_per_epoch(self) -> int:
        return self.rows - self.steps_per_epoch * self.global_batch

    def describe(self) -> str:
        """e.g. ``20,480 rows, global batch 256 (4 × 64 accumulation × 1 process), 8 epochs → 80 steps/epoch →
        640 steps, 64 warmup``."""
        proc = "process" if self.processes == 1 else "processes"
        text = (
            f"{self.rows:,} rows, global batch {self.global_batch} (micro-batch {self.micro_batch} × "
            f"{self.accumulation} accumulation × {self.processes} {proc}), {self.epochs:g} epochs → "
            f"{self.steps_per_epoch} steps/epoch → {self.total_steps} steps, {self.warmup_steps} warmup"
        )
        if self.dropped_per_epoch:
            text += f" ({self.dropped_per_epoch} rows per epoch left over, not trained on)"
        return text


def plan_schedule(rows: int, s: ScheduleConfig, processes: int = 1) -> Plan:
    """Compute the step arithmetic.

    Raises:
        ConfigError: global batch not divisible by micro-batch × processes, or larger than the data; more than
            ``rsft.config.MAX_STEPS`` steps.
    """
    per_step = s.micro_batch * processes
    if s.global_batch % per_step:
        raise ConfigError(
            [
                Problem(
                    "schedule.global_batch",
                    f"{s.global_batch} is not divisible by micro_batch × processes = {s.micro_batch} × "
                    f"{processes} = {per_step}; choose a global batch that is a multiple of {per_step} "
                    f"(e.g. {max(per_step, s.global_batch // per_step * per_step)}) or another micro_batch",
                )
            ]
        )
    steps_per_epoch = rows // s.global_batch
    if steps_per_epoch == 0:
        raise ConfigError(
            [Problem("schedule.global_batch", f"{s.global_batch} is larger than the {rows} training rows")]
        )
    if s.max_steps is not None:
        total = s.max_steps
        epochs = total / steps_per_epoch
    else:
        epochs = float(s.epochs or 1)
        total = steps_per_epoch * int(epochs)
    if total > MAX_STEPS:
        raise ConfigError(
            [
                Problem(
                    "schedule.epochs" if s.max_steps is None else "schedule.max_steps",
                    f"{total:,} optimizer steps ({steps_per_epoch:,} per epoch) is more than the {MAX_STEPS:,} "
                    "a run may make: check the value (a typo such as 1e12 for 1e2?)",
                )
            ]
        )
    return Plan(
        rows=rows,
        global_batch=s.global_batch,
        micro_batch=s.micro_batch,
        processes=processes,
        accumulation=s.global_batch // per_step,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        warmup_steps=int(s.warmup_ratio * total),
        epochs=round(epochs, 4),
    )


def lr_lambda(kind: str, warmup: int, total: int) -> Callable[[int], float]:
    """LR multiplier after ``step`` scheduler steps (Hugging Face's formulas: linear warmup from 0, then cosine or
    linear decay to 0, or constant). The first optimizer step uses ``lambda(0)``."""

    def f(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        if kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))

    return f


def epoch_order(rows: int, epoch: int, *, shuffle: bool, seed: int) -> np.ndarray:
    """Row order of one epoch: fixed, or a permutation that depends only on (seed, epoch)."""
    if not shuffle:
        return np.arange(rows)
    return np.random.default_rng([seed, epoch]).permutation(rows)


def batch_rows(step: int, plan: Plan, *, shuffle: bool, seed: int) -> np.ndarray:
    """Row indices of the global batch of optimizer step ``step`` (1-based): a pure function of the step, which is
    what makes resuming exact."""
    epoch, k = divmod(step - 1, plan.steps_per_epoch)
    order = epoch_order(plan.rows, epoch, shuffle=shuffle, seed=seed)
    return order[k * plan.global_batch : (k + 1) * plan.global_batch]


def checkpoint_steps(c: CheckpointConfig, total: int) -> list[int]:
    """Steps that get a checkpoint: 0 (the base model), the chosen schedule, and always the last step."""
    steps = {0, total}
    if c.every:
        steps.update(range(c.every, total + 1, c.every))
    if c.steps:
        steps.update(s for s in c.steps if 0 <= s <= total)
    if c.log_spaced and total >= 1:
        steps.update(int(round(x)) for x in np.geomspace(1, total, c.log_spaced))
    return sorted(steps)


def wants_state(c: CheckpointConfig, step: int, checkpoint_at: set[int]) -> bool:
    """Whether resume state (weights, optimizer, scheduler, RNG) is written after ``step``: at checkpoints unless
    ``state_at_checkpoints`` is off, and every ``state_every`` steps."""
    if c.state_at_checkpoints and step in checkpoint_at:
        return True
    return bool(c.state_every) and step % c.state_every == 0


def state_steps(c: CheckpointConfig, total: int) -> list[int]:
    """Steps after which resume state is written (step 0 never: the base model needs none)."""
    at = set(checkpoint_steps(c, total))
    return [s for s in range(1, total + 1) if wants_state(c, s, at)]
