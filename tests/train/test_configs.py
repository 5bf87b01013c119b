"""Every shipped training and accelerate config is valid."""

from __future__ import annotations

import pytest

from rsft.config import load_config
from rsft.resources import CONFIGS_DIR
from rsft.train.config import TrainConfig
from rsft.train.schedule import plan_schedule

CONFIGS = CONFIGS_DIR


@pytest.mark.parametrize("path", sorted((CONFIGS / "train").glob("*.yaml")), ids=lambda p: p.name)
def test_train_configs_validate(path):
    cfg = load_config(path, TrainConfig)
    assert cfg.resolved_run_name()


def test_paper_config_gives_the_paper_schedule():
    cfg = load_config(CONFIGS / "train" / "paper_qwen3_8b_math_cot.yaml", TrainConfig)
    plan = plan_schedule(20_480, cfg.schedule, processes=8)
    assert (plan.total_steps, plan.warmup_steps) == (640, 64)
    assert cfg.resolved_run_name() == "Qwen3-8B-Base_Math-CoT-20k_lr5e-5_ep8_bs256"


@pytest.mark.parametrize("path", sorted((CONFIGS / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_configs_load(path):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(path))
    assert cfg.num_processes >= 1 and cfg.distributed_type is not None
