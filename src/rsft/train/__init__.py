"""SFT training engine.

Checkpoint layout (the contract with evaluation and studies):
    RUN_DIR/checkpoints/step_{step:06d}/   Hugging Face model + tokenizer files, loadable by from_pretrained as is
        meta.json       step, epoch, tokens_seen, loss, lr, config_hash, data_hash, weights_hash, rsft_version, git
        COMPLETE        written last: a folder without it is half-written and is skipped
    step_000000 is the base model.

Also in RUN_DIR (see :mod:`rsft.train.checkpoints`):
    resolved_config.yaml   the config as run (loadable by ``rsft train``), each value tagged default / file / cli / study
    metrics.jsonl          one JSON line per optimizer step (loss, nll, lr, grad_norm, skipped, tokens, tokens/s)
    train_state/step_*/    resume state: weights, optimizer, scheduler, RNG (accelerate) + position.json
    DONE                   json {step, weights_hash, config_hash, tokens_seen, loss}, written when training ends

LoRA runs save *merged* weights in every checkpoint (plain models, no merge step).

Public API (imported lazily, so ``import rsft.train`` stays cheap)::

    from rsft.train import TrainConfig, train, list_checkpoints
    result = train(cfg, resume=False, overwrite=False)                  # -> TrainResult (say=, progress= to report)
    list_checkpoints(run_dir)                                           # -> [(step, Path), ...] complete only
"""

from typing import Any

CHECKPOINT_GLOB = "checkpoints/step_*"
COMPLETE_MARKER = "COMPLETE"

_LAZY = {
    "TrainConfig": "rsft.train.config",
    "train": "rsft.train.sft",
    "TrainResult": "rsft.train.sft",
    "TrainingDiverged": "rsft.train.sft",
    "list_checkpoints": "rsft.train.checkpoints",
}

__all__ = ["CHECKPOINT_GLOB", "COMPLETE_MARKER", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rsft.train' has no attribute {name!r}")
