"""The paper's training state: pure bf16 (weights and AdamW state, no fp32 copy) and optimizer state on its own
cadence while weights are saved at every checkpoint."""

from __future__ import annotations

import pytest
import torch

from rsft.train.config import CheckpointConfig
from rsft.train.schedule import state_steps
from rsft.train.sft import train


def test_state_cadence_is_separate_from_checkpoints():
    c = CheckpointConfig(every=10, state_every=80, state_at_checkpoints=False)
    assert state_steps(c, 640) == list(range(80, 641, 80))
    assert state_steps(CheckpointConfig(every=10), 40) == [10, 20, 30, 40]  # rsft's default: state at each
    assert state_steps(CheckpointConfig(every=10, state_at_checkpoints=False), 40) == []  # the paper: none


def test_weights_every_checkpoint_state_on_its_cadence(make_cfg):
    cfg = make_cfg(
        schedule={"global_batch": 4, "max_steps": 6},
        checkpoints={"every": 1, "state_every": 4, "state_at_checkpoints": False},
    )
    res = train(cfg, progress=False)
    assert [s for s, _ in res.checkpoints] == list(range(7))
    # only the newest state is kept; it is the step-4 one, not the last checkpoint's
    states = sorted(p.name for p in (res.run_dir / "train_state").iterdir() if not p.name.startswith("."))
    assert states == ["step_000004"]


def test_pure_bf16_keeps_weights_and_adam_state_in_bf16(make_cfg, monkeypatch):
    from rsft.train import sft

    seen = {}
    real = sft.build_optimizer

    def keep(cfg, model, plan, **kw):  # the real builder; keeps what it built for the checks below
        opt, sch = real(cfg, model, plan, **kw)
        seen["model"], seen["opt"] = model, opt
        return opt, sch

    monkeypatch.setattr(sft, "build_optimizer", keep)
    over = dict(schedule={"global_batch": 4, "max_steps": 3}, checkpoints={"every": 3})
    pure = train(
        make_cfg(**over, model={"dtype": "bfloat16", "precision": "pure"}, run_name="p"), progress=False
    )
    monkeypatch.setattr(sft, "build_optimizer", real)
    assert {p.dtype for p in seen["model"].parameters()} == {torch.bfloat16}
    moments = [
        v for st in seen["opt"].state.values() for k, v in st.items() if k in ("exp_avg", "exp_avg_sq")
    ]
    assert moments and {m.dtype for m in moments} == {torch.bfloat16}
    mixed = train(make_cfg(**over, model={"dtype": "bfloat16"}, run_name="m"), progress=False)
    assert pure.weights_hash != mixed.weights_hash  # a different arithmetic, not a relabelling
    assert pure.final_loss == pytest.approx(mixed.final_loss, abs=0.1)
