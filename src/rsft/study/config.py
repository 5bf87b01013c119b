"""The study config: one YAML for a whole matrix of runs.

```yaml
study: {name: paper-capability, output_dir: studies/paper, seed: 0}
include: [common.yaml]                 # optional: merge models / datasets / runs / matrix of other files
models:
  qwen3-8b: {path: Qwen/Qwen3-8B-Base, revision: null, params_b: 8.19}
datasets:
  math-cot-20k: {path: jasonrqh/Math-CoT-20k, rows: 20480, mean_tokens: 5000}
train:                                 # TrainConfig keys shared by every run (model and data come per run)
  schedule: {lr: 5.0e-5, epochs: 8, global_batch: 256, micro_batch: 4}
  checkpoints: {every: 10}
runs:                                  # explicit runs ...
  - {model: qwen3-8b, dataset: math-cot-20k, finding: dynamics, overrides: {schedule.lr: 1.0e-5}}
matrix:                                # ... and/or cartesian products
  - {finding: capability, models: [qwen3-8b, qwen3-14b], datasets: [math-cot-20k]}
eval: {suite: paper, steps: all}
analysis: {in_domain: [math500, aime24]}
budget: {gpus_per_run: 8, train_tokens_per_gpu_s: 6000, gen_tokens_per_gpu_s: 30000}
```

Each run's training config is ``train`` + the model and dataset entries + the run's ``overrides`` (dotted keys),
validated as a :class:`rsft.train.config.TrainConfig`; every problem of every run is reported at once.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from rsft._util.errors import ConfigError, Problem
from rsft.config import (
    FolderName,
    StrictModel,
    apply_overrides,
    build_config,
    problems_from_validation,
    read_yaml,
)
from rsft.resources import resolve_config
from rsft.train.config import TrainConfig


class StudyMeta(StrictModel):
    name: FolderName
    output_dir: Path = Field(Path("studies"), description="the study folder is output_dir/name")
    seed: int = 0
    description: str = ""


class ModelEntry(StrictModel):
    path: str = Field(description="hub id or local folder")
    revision: str | None = Field(None, description="pin a commit for hub ids")
    params_b: float | None = Field(None, gt=0, description="parameters in billions (for the FLOP budget)")
    chat_template: Path | None = None
    trust_remote_code: bool = Field(False, description="run the model repo's own code (InternLM2.5 needs it)")
    capability: str | None = Field(
        None, description="label for comparisons, e.g. 'strong' / 'weak' or a size"
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="dotted TrainConfig keys for every run of this model (a run's own overrides win)",
    )


class DatasetBuild(StrictModel):
    """A dataset the study generates itself (the toy world): ``task`` rows, optionally turned into a variant."""

    task: str = Field(description="registered task, e.g. countdown")
    n: int = Field(ge=1)
    seed: int = 0
    style: str = "cot"
    settings: dict[str, Any] = Field(default_factory=dict, description="task generator settings")
    variant: Literal["nocot", "lowquality"] | None = None
    variant_options: dict[str, Any] = Field(default_factory=dict)


class DatasetSubset(StrictModel):
    """A dataset the study cuts from another one (``rsft data subset``), e.g. Math-CoT-2.5k."""

    of: str = Field(description="key of the parent dataset in this study")
    rows: int = Field(ge=1)
    rule: Literal["random", "first"] = "random"
    seed: int = 0


class DatasetEntry(StrictModel):
    path: str | None = Field(None, description="local file/folder or hub dataset id")
    revision: str | None = None
    build: DatasetBuild | None = None
    subset: DatasetSubset | None = None
    rows: int | None = Field(None, ge=1, description="row count (for planning without reading the data)")
    mean_tokens: float | None = Field(
        None, gt=0, description="mean prompt+response tokens per row (planning)"
    )
    quality: str | None = Field(None, description="label for comparisons, e.g. verified-cot / nocot / low")

    @model_validator(mode="after")
    def _source(self) -> DatasetEntry:
        if sum(x is not None for x in (self.path, self.build, self.subset)) != 1:
            raise ValueError("give exactly one of `path`, `build` or `subset`")
        return self


class RunSpec(StrictModel):
    model: str
    dataset: str
    name: FolderName | None = Field(None, description="default: the paper's naming from the training config")
    finding: str | None = Field(None, description="which finding the run tests (groups the plan and report)")
    overrides: dict[str, Any] = Field(default_factory=dict, description="dotted TrainConfig keys")


class ExistingRun(StrictModel):
    """A run trained elsewhere (any layout ``rsft eval --run`` reads: docs/trainers.md), swept and analysed with
    the study's own runs instead of being trained. A released run of the paper is one such entry."""

    path: str = Field(description="the run folder or run manifest (relative to the study file)")
    label: str | None = Field(None, description="the run's name in the store and report (default: folder name)")
    base: str | None = Field(None, description="the base model (step 0) when the run does not name it")
    model: str | None = Field(None, description="the base model's name: runs of one model are compared")
    data: str | None = Field(None, description="data kind, e.g. long-cot / no-cot / low-quality")
    lr: float | None = Field(None, gt=0, description="peak learning rate")
    finding: str | None = Field(None, description="which finding the run tests")
    conditions: dict[str, Any] = Field(default_factory=dict, description="further conditions for comparisons")

    def run_name(self) -> str:
        p = Path(self.path)
        return self.label or (p.parent.name if p.suffix in (".yaml", ".yml") else p.name)

    def run_conditions(self) -> dict[str, Any]:
        """The conditions the analysis compares (as :meth:`rsft.study.matrix.ResolvedRun.conditions`)."""
        own = {"model": self.model, "dataset": self.data, "quality": self.data, "lr": self.lr,
               "finding": self.finding, "trained_by": "existing run"}  # fmt: skip
        return {**{k: v for k, v in own.items() if v is not None}, **self.conditions}


class MatrixSpec(StrictModel):
    finding: str | None = None
    models: list[str] = Field(min_length=1)
    datasets: list[str] = Field(min_length=1)
    variants: list[dict[str, Any]] = Field(
        default_factory=lambda: [{}], description="one run per (model, dataset, variant); variant = overrides"
    )


class EvalSpec(StrictModel):
    suite: str = Field("toy", description="suite name or path (rsft eval --suite)")
    suite_overrides: list[str] = Field(default_factory=list)
    steps: Literal["all"] | list[int] = "all"
    store: Path | None = Field(None, description="default: STUDY_DIR/store")
    hub_runs: list[str] = Field(
        default_factory=list,
        description="released checkpoints to sweep as well (no training): hub:ORG/NAME@REVISION repos of stepN "
        "folders, or hub:ORG/NAME repos of stepN branches or tags, one checkpoint at a time (rsft.eval.hubrun)",
    )


class AnalysisSpec(StrictModel):
    in_domain: list[str] | None = Field(
        None, description="benchmarks counted as in-domain for the training data"
    )
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict, description="passed to the analysis")


class BudgetSpec(StrictModel):
    """Throughput figures that turn tokens into GPU-hours (configure them for your hardware)."""

    gpus_per_run: int = Field(8, ge=1)
    train_tokens_per_gpu_s: float = Field(6000.0, gt=0, description="training tokens/s per GPU")
    gen_tokens_per_gpu_s: float = Field(20000.0, gt=0, description="generated tokens/s per GPU (batched)")
    gen_fill: float = Field(
        0.35, gt=0, le=1, description="mean generated length as a share of max_new_tokens"
    )
    items: dict[str, int] = Field(default_factory=dict, description="benchmark item counts (override)")
    default_mean_tokens: float = Field(4000.0, gt=0)


class StudyConfig(StrictModel):
    study: StudyMeta
    include: list[str] = Field(default_factory=list)
    models: dict[str, ModelEntry] = Field(default_factory=dict)
    datasets: dict[str, DatasetEntry] = Field(default_factory=dict)
    train: dict[str, Any] = Field(
        default_factory=dict,
        description="TrainConfig keys shared by all runs (model and data paths come per run); validated as a "
        "TrainConfig when the study is loaded",
    )
    runs: list[RunSpec] = Field(default_factory=list)
    matrix: list[MatrixSpec] = Field(default_factory=list)
    existing_runs: list[ExistingRun] = Field(
        default_factory=list, description="runs trained elsewhere: swept, analysed and reported, not trained"
    )
    eval: EvalSpec = Field(default_factory=EvalSpec)
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    _cli_keys: list[str] = PrivateAttr(default_factory=list)

    @property
    def study_dir(self) -> Path:
        return Path(self.study.output_dir) / self.study.name

    def cli_keys(self) -> list[str]:
        """The dotted keys set by command-line overrides when the study was loaded (provenance tags)."""
        return list(self._cli_keys)

    @model_validator(mode="after")
    def _train_section(self) -> StudyConfig:
        """The shared ``train:`` keys must form a valid TrainConfig once a run adds its model and data paths, so a
        misspelled key is reported once, under ``train.``, when the study loads."""
        probe = copy.deepcopy(self.train)
        for part in ("model", "data"):
            if not isinstance(probe.get(part, {}), dict):
                continue
            probe.setdefault(part, {}).setdefault("path", "<per run>")
        try:
            TrainConfig.model_validate(probe)
        except ValidationError as e:
            raise ValueError(
                "; ".join(f"train.{p.key}: {p.message}" for p in problems_from_validation(e, TrainConfig))
            ) from None
        return self

    @model_validator(mode="after")
    def _references(self) -> StudyConfig:
        missing = []
        for i, r in enumerate(self.runs):
            missing += [f"runs.{i}.model: unknown model '{r.model}'"] * (r.model not in self.models)
            missing += [f"runs.{i}.dataset: unknown dataset '{r.dataset}'"] * (r.dataset not in self.datasets)
        for i, m in enumerate(self.matrix):
            missing += [f"matrix.{i}.models: unknown model '{x}'" for x in m.models if x not in self.models]
            missing += [
                f"matrix.{i}.datasets: unknown dataset '{x}'" for x in m.datasets if x not in self.datasets
            ]
        missing += [
            f"datasets.{k}.subset.of: unknown dataset '{d.subset.of}'"
            for k, d in self.datasets.items()
            if d.subset is not None and d.subset.of not in self.datasets
        ]
        if missing:
            raise ValueError("; ".join(missing))
        if not self.runs and not self.matrix and not self.eval.hub_runs and not self.existing_runs:
            raise ValueError("a study needs `runs`, `matrix`, `existing_runs` or `eval.hub_runs`")
        labels = [r.run_name() for r in self.existing_runs]
        twice = sorted({n for n in labels if labels.count(n) > 1})
        if twice:
            raise ValueError(f"existing_runs: two runs are labelled '{twice[0]}' (give each a label)")
        return self


_MERGED_MAPPINGS = ("models", "datasets")
_MERGED_LISTS = ("runs", "matrix", "existing_runs")


def _merge_includes(data: dict[str, Any], base: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Merge ``include:`` files (relative to the including file): mappings and lists are combined, the including
    file's own entries win; other keys come from the including file only."""
    merged: dict[str, Any] = {k: {} for k in _MERGED_MAPPINGS} | {k: [] for k in _MERGED_LISTS}
    for inc in data.get("include") or []:
        path = (base / inc).resolve()
        if path in seen:
            raise ConfigError([Problem("include", f"include cycle through {path}")], file=str(base))
        sub = _merge_includes(read_yaml(path), path.parent, (*seen, path))
        for k in _MERGED_MAPPINGS:
            merged[k].update(sub.get(k) or {})
        for k in _MERGED_LISTS:
            merged[k].extend(sub.get(k) or [])
        for k, v in sub.items():
            if k not in (*_MERGED_MAPPINGS, *_MERGED_LISTS, "include", "study"):
                merged.setdefault(k, v)
    for k in _MERGED_MAPPINGS:
        merged[k].update(data.get(k) or {})
    for k in _MERGED_LISTS:
        merged[k].extend(data.get(k) or [])
    for k, v in data.items():
        if k not in (*_MERGED_MAPPINGS, *_MERGED_LISTS):
            merged[k] = v
    return merged


def load_study(path: str | Path, overrides: list[str] | None = None) -> StudyConfig:
    """Load a study file or packaged study name (``paper``, ``paper/dynamics``) with its includes and dotted
    overrides; every problem at once."""
    p = resolve_config(path, "study")
    data = _merge_includes(read_yaml(p), p.resolve().parent, (p.resolve(),))
    data = apply_overrides(data, overrides)
    cfg = build_config(StudyConfig, data, source=str(p))
    cfg.eval.suite = _relative_to(cfg.eval.suite, p)
    for run in cfg.existing_runs:  # folders written relative to the study file
        run.path = _path_relative_to(run.path, p)
        if run.base is not None:
            run.base = _path_relative_to(run.base, p)
    cfg._cli_keys = [o.split("=", 1)[0].strip() for o in overrides or [] if "=" in o]
    return cfg


def _relative_to(ref: str, study_file: Path) -> str:
    """A suite path written relative to the study file, when it exists there; names stay names."""
    cand = study_file.resolve().parent / ref
    return str(cand) if cand.is_file() else ref


def _path_relative_to(ref: str, study_file: Path) -> str:
    """A path written relative to the study file, when it exists there; anything else (a hub id) as written."""
    cand = study_file.resolve().parent / ref
    return str(cand) if not Path(ref).is_absolute() and cand.exists() else ref
