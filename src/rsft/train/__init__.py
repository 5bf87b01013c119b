"""SFT training engine.

Checkpoint layout (the contract with evaluation and studies):
    RUN_DIR/checkpoints/step_{step:06d}/   Hugging Face model + tokenizer files, loadable by from_pretrained as is
        meta.json       step, epoch, tokens_seen, loss, lr, config_hash, data_hash, weights_hash, rsft_version, git
        COMPLETE        written last: a folder without it is half-written and is skipped
    step_000000 is the base model.
"""

CHECKPOINT_GLOB = "checkpoints/step_*"
COMPLETE_MARKER = "COMPLETE"
