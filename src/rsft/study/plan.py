"""``rsft study plan``: what a study will cost, before anything runs.

Per run: steps (the trainer's own step arithmetic), checkpoints (the trainer's own schedule), training tokens
(rows × epochs × mean tokens per row), generated tokens per sweep (items × samples × max_new_tokens × fill) and an
estimated GPU-hour budget from the configured throughput figures. The estimate is only as good as those figures:
the plan prints them beside the result.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rsft._util.errors import ConfigError, Problem
from rsft.study.config import StudyConfig
from rsft.study.matrix import ResolvedRun, resolve_runs

# Item counts of the registered benchmarks (protocol sizes; MMLU-Pro is the paper's 1k subset).
KNOWN_ITEMS: dict[str, int] = {
    "math500": 500, "aime24": 30, "aime25": 30, "gsm8k": 1319, "gpqa_diamond": 198, "mmlu_pro": 1000,
    "livecodebench": 511, "humaneval": 164, "mbpp": 500, "ifeval": 541, "truthfulqa": 817, "halueval": 10000,
    "alpaca_eval": 805, "hex_phi": 330, "harmbench": 320, "strongreject": 313, "advbench": 520, "xstest": 450,
}  # fmt: skip


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
    train_tokens: float
    gen_tokens_per_sweep: float
    train_gpu_hours: float
    eval_gpu_hours: float

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
        return json.dumps(asdict(self) | {"total_gpu_hours": self.total_gpu_hours}, indent=2)

    @property
    def total_gpu_hours(self) -> float:
        return sum(r.gpu_hours for r in self.runs)


def dataset_rows(cfg: StudyConfig, key: str) -> int:
    entry = cfg.datasets[key]
    if entry.rows is not None:
        return entry.rows
    if entry.build is not None:
        return entry.build.n
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
    """Generated tokens of one sweep of one checkpoint, per benchmark."""
    from rsft.bench.registry import BENCHMARKS
    from rsft.eval.config import load_suite

    suite = load_suite(cfg.eval.suite, cfg.eval.suite_overrides)
    out = []
    for spec in suite.benchmarks:
        module, attr = BENCHMARKS[spec.name].split(":")
        cls = getattr(importlib.import_module(module), attr)
        gen = suite.generation_for(spec, dict(getattr(cls, "defaults", {}) or {}))
        items = cfg.budget.items.get(spec.name) or spec.options.get("n_items") or KNOWN_ITEMS.get(spec.name)
        items = int(items or 100)
        tokens = items * gen.n * gen.max_new_tokens * cfg.budget.gen_fill
        out.append({"benchmark": spec.name, "items": items, "samples": gen.n, "max_new_tokens": gen.max_new_tokens,
                    "gen_tokens": tokens})  # fmt: skip
    return out


def plan_run(cfg: StudyConfig, run: ResolvedRun, gen_tokens: float) -> RunPlan:
    from rsft.train.schedule import checkpoint_steps, plan_schedule

    rows = dataset_rows(cfg, run.dataset)
    sched = plan_schedule(rows, run.train.schedule)
    ckpts = checkpoint_steps(run.train.checkpoints, sched.total_steps)
    if cfg.eval.steps != "all":
        ckpts = [s for s in ckpts if s in set(cfg.eval.steps)]
    mean_tokens = cfg.datasets[run.dataset].mean_tokens or cfg.budget.default_mean_tokens
    train_tokens = sched.total_steps * sched.global_batch * mean_tokens
    b = cfg.budget
    train_h = train_tokens / b.train_tokens_per_gpu_s / 3600
    eval_h = len(ckpts) * gen_tokens / b.gen_tokens_per_gpu_s / 3600
    return RunPlan(
        run.name, run.finding, run.model, run.dataset, rows, sched.total_steps, sched.warmup_steps, sched.epochs,
        len(ckpts), ckpts, train_tokens, gen_tokens, train_h, eval_h,
    )  # fmt: skip


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
