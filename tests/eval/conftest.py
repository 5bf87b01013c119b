"""Fixtures for the evaluation engine: a training-run folder with real tiny checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def write_checkpoint(run_dir: Path, step: int, tokenizer, seed: int, complete: bool = True) -> Path:
    """Save a tiny random Qwen3 as RUN_DIR/checkpoints/step_NNNNNN with meta.json (+ COMPLETE, written last)."""
    from rsft._util.hashing import weights_hash
    from rsft.toy import tiny_qwen3

    d = run_dir / "checkpoints" / f"step_{step:06d}"
    d.mkdir(parents=True, exist_ok=True)
    tiny_qwen3(tokenizer, "micro", seed=seed, out_dir=d)
    (d / "meta.json").write_text(json.dumps({"step": step, "weights_hash": weights_hash(d)}))
    if complete:
        (d / "COMPLETE").write_text("")
    return d


@pytest.fixture()
def run_dir(tmp_path, tiny_tokenizer) -> Path:
    """A run with complete checkpoints at steps 0 and 10 (different weights) and a half-written step 20."""
    run = tmp_path / "run1"
    write_checkpoint(run, 0, tiny_tokenizer, seed=0)
    write_checkpoint(run, 10, tiny_tokenizer, seed=1)
    write_checkpoint(run, 20, tiny_tokenizer, seed=2, complete=False)
    return run


SUITE = """
name: t
seed: 3
generation: {temperature: 1.0, max_new_tokens: 12, logprobs: true}
backend: {kind: hf, batch_size: 2, device: cpu}
benchmarks:
  - name: toy_arith
    options: {n_items: 3}
    generation: {n: 4}
  - name: toy_sort
    options: {n_items: 3}
    generation: {n: 4}
"""


@pytest.fixture()
def suite_file(tmp_path) -> Path:
    p = tmp_path / "suite.yaml"
    p.write_text(SUITE)
    return p
