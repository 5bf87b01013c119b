"""Expand a study into concrete training runs, each with a validated TrainConfig."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsft._util.errors import ConfigError, Problem
from rsft.config import apply_overrides, leaf_keys, problems_from_validation
from rsft.study.config import RunSpec, StudyConfig
from rsft.train.config import TrainConfig, run_name


@dataclass
class ResolvedRun:
    """One training run of a study."""

    name: str
    finding: str | None
    model: str
    dataset: str
    train: TrainConfig
    overrides: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)  # dotted TrainConfig key -> "file" | "cli" | "study"

    @property
    def run_dir(self) -> Path:
        return self.train.run_dir()

    def conditions(self, cfg: StudyConfig) -> dict[str, Any]:
        """The run's conditions for comparisons (written to the store's runs.json for the analysis)."""
        m, d, s = cfg.models[self.model], cfg.datasets[self.dataset], self.train.schedule
        return {
            "model": self.model,
            "dataset": self.dataset,
            "finding": self.finding,
            "params_b": m.params_b,
            "capability": m.capability,
            "quality": d.quality,
            "lr": s.lr,
            "epochs": s.epochs,
            "max_steps": s.max_steps,
            "global_batch": s.global_batch,
            "scheduler": s.scheduler,
        }


def dataset_path(cfg: StudyConfig, key: str) -> str:
    """Where a dataset is read from: its path, or the file the study builds for it."""
    entry = cfg.datasets[key]
    if entry.path is not None:
        return entry.path
    return str(cfg.study_dir / "data" / f"{key}.jsonl")  # built or cut by the study


def _run_specs(cfg: StudyConfig) -> list[RunSpec]:
    specs = list(cfg.runs)
    for m in cfg.matrix:
        for model in m.models:
            for ds in m.datasets:
                for variant in m.variants:
                    specs.append(RunSpec(model=model, dataset=ds, finding=m.finding, overrides=dict(variant)))
    return specs


def resolve_runs(cfg: StudyConfig) -> list[ResolvedRun]:
    """Every run of the study with its TrainConfig; all problems of all runs in one ConfigError.

    Each run's ``sources`` say where its values came from, for ``resolved_config.yaml``: ``file`` (the study
    file's ``train:`` section, its model and dataset entries, the run's overrides), ``cli`` (a ``train.*`` override
    on the study's command line, see :func:`rsft.study.config.load_study`) or ``study`` (derived by the study: the
    output folder, the run name, the path of a dataset it builds).

    Raises:
        ConfigError: a run's training config is invalid, or two runs share a name.
    """
    runs, problems = [], []
    for i, spec in enumerate(_run_specs(cfg)):
        m, d = cfg.models[spec.model], cfg.datasets[spec.dataset]
        data = copy.deepcopy(cfg.train)
        model = data.setdefault("model", {})
        model.update({"path": m.path, "revision": m.revision})
        if m.chat_template is not None:
            model["chat_template"] = str(m.chat_template)
        if m.trust_remote_code:
            model["trust_remote_code"] = True
        data.setdefault("data", {}).update({"path": dataset_path(cfg, spec.dataset), "revision": d.revision})
        data["output_dir"] = str(cfg.study_dir / "runs")
        if spec.name:
            data["run_name"] = spec.name
        overrides = {**m.overrides, **spec.overrides}  # the run's own overrides win over its model's
        apply_overrides(data, [f"{k}={_yaml_scalar(v)}" for k, v in overrides.items()])
        sources = _sources(cfg, spec, data, overrides)
        try:
            tc = TrainConfig.model_validate(data)
        except Exception as e:  # pydantic.ValidationError
            if not hasattr(e, "errors"):
                raise
            problems += [
                Problem(f"run {i} ({spec.model} × {spec.dataset}).{p.key}", p.message)
                for p in problems_from_validation(e, TrainConfig)
            ]
            continue
        if not spec.name:  # the paper's naming, with the study's short model and dataset keys
            tc.run_name = run_name(spec.model, spec.dataset, tc.schedule)
        runs.append(
            ResolvedRun(
                tc.resolved_run_name(), spec.finding, spec.model, spec.dataset, tc, spec.overrides, sources
            )
        )
    names = [r.name for r in runs]
    problems += [
        Problem("runs", f"two runs are named '{n}'") for n in sorted({n for n in names if names.count(n) > 1})
    ]
    if problems:
        raise ConfigError(problems, file=f"study {cfg.study.name}")
    return runs


def _sources(cfg: StudyConfig, spec: RunSpec, data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, str]:
    """Where each value of a run's training config (``data``, before validation) came from."""
    m, d = cfg.models[spec.model], cfg.datasets[spec.dataset]
    sources = dict.fromkeys(leaf_keys(data), "file")
    for key, value in (("model.revision", m.revision), ("data.revision", d.revision)):
        if value is None:
            sources.pop(key, None)  # the study did not set it: the default
    sources["output_dir"] = "study"
    sources["run_name"] = "file" if spec.name else "study"
    if d.path is None:
        sources["data.path"] = "study"  # a dataset the study builds
    sources.update({k.removeprefix("train."): "cli" for k in cfg.cli_keys() if k.startswith("train.")})
    sources.update(dict.fromkeys(overrides, "file"))
    return sources


def _yaml_scalar(v: Any) -> str:
    import yaml

    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("\n...").strip()
