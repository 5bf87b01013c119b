"""Study configs: includes, validation of every run at once, and the paper's 33 runs planned."""

from __future__ import annotations

import pytest

from rsft._util.errors import ConfigError
from rsft.resources import CONFIGS_DIR
from rsft.study.config import load_study
from rsft.study.matrix import resolve_runs
from rsft.study.plan import plan_study

PAPER = CONFIGS_DIR / "paper"


def test_paper_all_plans_33_runs_with_paper_schedules():
    cfg = load_study(PAPER / "all.yaml")
    plan = plan_study(cfg)
    assert len(plan.runs) == 33
    assert len({r.name for r in plan.runs}) == 33
    steps = {r.steps for r in plan.runs}
    assert steps == {80, 160, 640, 1280}
    main = next(r for r in plan.runs if r.name == "Qwen3-8B_Math-CoT-20k_lr5e-5_ep8_bs256")
    # 20,480 rows, batch 256, 8 epochs -> 640 steps, 64 warmup; checkpoints every 10 steps plus step 0
    assert (main.steps, main.warmup, main.checkpoints) == (640, 64, 65)
    assert main.checkpoint_steps[:3] == [0, 10, 20]
    exposure = [r for r in plan.runs if r.finding == "exposure"]
    assert {r.steps for r in exposure} == {640} and len(exposure) == 2
    assert plan.total_gpu_hours > 0
    assert {r.finding for r in plan.runs} == {"capability", "data", "dynamics", "overfitting", "exposure"}


@pytest.mark.parametrize("name", ["capability", "data", "dynamics", "exposure", "overfitting", "all"])
def test_each_paper_config_validates(name):
    cfg = load_study(PAPER / f"{name}.yaml")
    runs = resolve_runs(cfg)
    assert runs and all(r.train.schedule.shuffle is False for r in runs)


def test_study_reports_every_run_problem_at_once(tmp_path):
    (tmp_path / "s.yaml").write_text(
        """
study: {name: s, output_dir: out}
models: {m: {path: some/model}}
datasets: {d: {path: data.jsonl, rows: 100}}
train: {schedule: {global_batch: 8, micro_batch: 4}}
runs:
  - {model: m, dataset: d, overrides: {schedule.lr: -1}}
  - {model: m, dataset: d, overrides: {schedule.warmup_ratio: 2, checkpoints.evry: 3}}
"""
    )
    with pytest.raises(ConfigError) as ei:
        resolve_runs(load_study(tmp_path / "s.yaml"))
    keys = [p.key for p in ei.value.problems]
    assert any("run 0" in k and "schedule.lr" in k for k in keys)
    assert any("run 1" in k and "schedule.warmup_ratio" in k for k in keys)
    assert any("run 1" in k and "checkpoints.evry" in k for k in keys)


def test_unknown_model_reference_is_reported(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "study: {name: s}\nmodels: {m: {path: x}}\ndatasets: {d: {path: y}}\nruns: [{model: nope, dataset: d}]\n"
    )
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        load_study(tmp_path / "s.yaml")


def test_include_merges_and_own_entries_win(tmp_path):
    (tmp_path / "common.yaml").write_text(
        "study: {name: c}\nmodels: {m: {path: a}}\ndatasets: {d: {path: y, rows: 64}}\n"
        "train: {schedule: {global_batch: 8, micro_batch: 4, epochs: 2}}\n"
    )
    (tmp_path / "s.yaml").write_text(
        "study: {name: s}\ninclude: [common.yaml]\nmodels: {m: {path: b}}\nruns: [{model: m, dataset: d}]\n"
    )
    cfg = load_study(tmp_path / "s.yaml", ["eval.suite=toy"])
    assert cfg.models["m"].path == "b" and cfg.study.name == "s"
    (run,) = resolve_runs(cfg)
    assert run.train.schedule.epochs == 2 and run.train.data.path == "y"
    assert plan_study(cfg).runs[0].steps == 16
