"""``rsft study plan``: what a study will cost, before anything runs.

Per run: steps (the trainer's own step arithmetic), checkpoints (the trainer's own schedule), training tokens
(rows × epochs × mean tokens per row), generated tokens per sweep (items × samples × max_new_tokens × fill) and an
estimated GPU-hour budget from the configured throughput figures. The estimate is only as good as those figures:
the plan prints them beside the result.

Disk per run (needs the model's ``params_b``; full fine-tuning): every kept checkpoint holds the weights in the
saved dtype (2 bytes a parameter for bfloat16, 4 for float32); resume state (weights in the training dtype plus
AdamW's two moments: 12 bytes a parameter with fp32 master weights, 6 under pure bf16) is written on its own
cadence and only the newest is kept, but a new one is complete before the old one is deleted, so two count.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rsft._util.errors import ConfigError, Problem
from rsft.study.config import StudyConfig
from rsft.study.matrix import ResolvedRun, resolve_runs


@dataclass
class RunPlan:
    name: str
    finding: str | None
    model: str
    dataset: str
    rows: int
    steps: int
    warmup: int
    epochs: float
    checkpoints: int
    checkpoint_steps: list[int]
    schedule: str
    train_tokens: float
    gen_tokens_per_sweep: float
    train_gpu_hours: float
    eval_gpu_hours: float
    state_saves: int = 0
    checkpoint_gb: float | None = None
    state_gb: float | None = None

    @property
    def disk_gb(self) -> float | None:
        """Peak disk of the run folder: kept checkpoints plus two resume states (None without ``params_b``)."""
        if self.checkpoint_gb is None or self.state_gb is None:
            return None
        return self.checkpoint_gb + self.state_gb

    @property
    def gpu_hours(self) -> float:
        return self.train_gpu_hours + self.eval_gpu_hours


@dataclass
class StudyPlan:
    study: str
    runs: list[RunPlan]
    sweep: list[dict[str, Any]]
    budget: dict[str, Any]
    warnings: list[str]

    def to_json(self) -> str:
        data = asdict(self) | {"total_gpu_hours": self.total_gpu_hours, "total_disk_gb": self.total_disk_gb}
        data["runs"] = [asdict(r) | {"disk_gb": r.disk_gb} for r in self.runs]
        return json.dumps(data, indent=2)

    @property
    def total_disk_gb(self) -> float | None:
        disks = [r.disk_gb for r in self.runs]
        return None if any(d is None for d in disks) else round(sum(disks), 1)  # type: ignore[misc]

    @property
    def total_gpu_hours(self) -> float:
        return sum(r.gpu_hours for r in self.runs)


def dataset_rows(cfg: StudyConfig, key: str) -> int:
    entry = cfg.datasets[key]
    if entry.rows is not None:
        return entry.rows
    if entry.build is not None:
        return entry.build.n
    if entry.subset is not None:
        return entry.subset.rows
    p = Path(entry.path or "")
    if p.suffix == ".jsonl" and p.is_file():
        with open(p, "rb") as f:
            return sum(1 for line in f if line.strip())
    if p.suffix == ".parquet" and p.is_file():
        import pyarrow.parquet as pq

        return pq.ParquetFile(p).metadata.num_rows
    raise ConfigError(
        [Problem(f"datasets.{key}.rows", "unknown row count: give `rows` (planning does not download data)")]
    )


def sweep_cost(cfg: StudyConfig) -> list[dict[str, Any]]:
    """Generated tokens of one sweep of one checkpoint, per benchmark (items: the budget's, else the suite's
    ``n_items``, else the benchmark class's :meth:`~rsft.bench.base.Benchmark.item_count`, else 100)."""
    from rsft.bench.registry import benchmark_class
    from rsft.eval.config import load_suite

    suite = load_suite(cfg.eval.suite, cfg.eval.suite_overrides)
    out = []
    for spec in suite.benchmarks:
        cls = benchmark_class(spec.name)
        gen = suite.generation_for(spec, dict(getattr(cls, "defaults", {}) or {}))
        known = cls.item_count(spec.options)
        items = cfg.budget.items.get(spec.name) or spec.options.get("n_items") or known
        items = int(items or 100)
        tokens = items * gen.n * gen.max_new_tokens * cfg.budget.gen_fill
        out.append({"benchmark": spec.name, "items": items, "samples": gen.n, "max_new_tokens": gen.max_new_tokens,
                    "gen_tokens": tokens})  # fmt: skip
    return out


def plan_run(cfg: StudyConfig, run: ResolvedRun, gen_tokens: float) -> RunPlan:
    from rsft.train.schedule import checkpoint_steps, plan_schedule, state_steps

    rows = dataset_rows(cfg, run.dataset)
    sched = plan_schedule(rows, run.train.schedule)
    ckpts = checkpoint_steps(run.train.checkpoints, sched.total_steps)
    saves = len(state_steps(run.train.checkpoints, sched.total_steps))
    ckpt_gb, state_gb = run_disk_gb(run.train, cfg.models[run.model].params_b, len(ckpts), saves)
    if cfg.eval.steps != "all":
        ckpts = [s for s in ckpts if s in set(cfg.eval.steps)]
    mean_tokens = cfg.datasets[run.dataset].mean_tokens or cfg.budget.default_mean_tokens
    train_tokens = sched.total_steps * sched.global_batch * mean_tokens
    b = cfg.budget
    train_h = train_tokens / b.train_tokens_per_gpu_s / 3600
    eval_h = len(ckpts) * gen_tokens / b.gen_tokens_per_gpu_s / 3600
    return RunPlan(
        run.name, run.finding, run.model, run.dataset, rows, sched.total_steps, sched.warmup_steps, sched.epochs,
        len(ckpts), ckpts, schedule_text(run.train.schedule, sched), train_tokens, gen_tokens, train_h, eval_h, saves, ckpt_gb, state_gb,
    )  # fmt: skip


def schedule_text(s: Any, sched: Any) -> str:
    """``lr 5e-5 cosine, 8 ep x 80 steps, batch 256/4``: the schedule in one cell."""
    from rsft.train.config import short_number

    return (f"lr {short_number(s.lr)} {s.scheduler}, {sched.epochs:g} ep x {sched.steps_per_epoch}, "
            f"batch {s.global_batch}/{s.micro_batch}")  # fmt: skip


def run_disk_gb(
    train: Any, params_b: float | None, checkpoints: int, state_saves: int
) -> tuple[float | None, float | None]:
    """(checkpoint GB, resume-state GB) of one run; see the module docstring. None without ``params_b``."""
    if params_b is None:
        return None, None
    m, keep = train.model, train.checkpoints.keep
    kept = checkpoints if keep == "all" else min(checkpoints, int(keep) + 1)  # + step 0, never pruned
    saved_bytes = 2 if m.dtype == "bfloat16" else 4
    state_bytes = 6 if (m.dtype == "bfloat16" and m.precision == "pure") else 12
    ckpt = kept * params_b * saved_bytes
    state = min(state_saves, 2) * params_b * state_bytes
    return round(ckpt, 1), round(state, 1)


def plan_study(cfg: StudyConfig) -> StudyPlan:
    runs = resolve_runs(cfg)
    sweep = sweep_cost(cfg)
    gen_tokens = sum(s["gen_tokens"] for s in sweep)
    warnings = [
        f"model '{k}' ({m.path}) has no pinned revision: results may change when the hub repository does"
        for k, m in cfg.models.items()
        if m.revision is None and not Path(m.path).exists()
    ]
    warnings += [
        f"dataset '{k}' ({d.path}) has no pinned revision"
        for k, d in cfg.datasets.items()
        if d.path and d.revision is None and not Path(d.path).exists()
    ]
    plans = [plan_run(cfg, r, gen_tokens) for r in runs]
    return StudyPlan(cfg.study.name, plans, sweep, cfg.budget.model_dump(), warnings)
