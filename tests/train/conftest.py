"""Fixtures for training tests: a small arithmetic SFT file and a config factory around the tiny Qwen3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def make_rows(n: int, *, long_every: int = 0) -> list[dict]:
    """n rows of toy arithmetic with a <think> block; every ``long_every``-th row gets a long response."""
    rows = []
    for i in range(n):
        a, b = i % 7, (3 * i) % 5
        think = f"{a}+{b}={a + b}. Verify: {a + b}." * (8 if long_every and i % long_every == 0 else 1)
        rows.append(
            {
                "messages": [{"role": "user", "content": f"Compute {a}+{b}."}],
                "response": f"<think>{think}</think> The answer is {a + b}",
                "weight": 1.0 + (i % 3) / 2,
                "id": f"r{i}",
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


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
