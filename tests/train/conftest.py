"""Fixtures for training tests: a small arithmetic SFT file and a config factory around the tiny Qwen3."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import make_rows, write_jsonl


@pytest.fixture
def sft_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "toy.jsonl", make_rows(24))


@pytest.fixture
def make_cfg(tmp_path, tiny_model_dir, sft_file):
    """Build a TrainConfig for the tiny model; keyword overrides are merged section by section."""
    from rsft.train.config import TrainConfig

    def make(**over) -> TrainConfig:
        base = {
            "model": {"path": str(tiny_model_dir), "dtype": "float32"},
            "data": {"path": str(sft_file), "max_length": 96},
            "schedule": {"lr": 1e-3, "epochs": 2, "global_batch": 8, "micro_batch": 2, "warmup_ratio": 0.0},
            "checkpoints": {"every": 3},
            "output_dir": str(tmp_path / "runs"),
        }
        for k, v in over.items():
            if isinstance(v, dict) and isinstance(base.get(k), dict):
                base[k] = {**base[k], **v}
            else:
                base[k] = v
        return TrainConfig.model_validate(base)

    return make
