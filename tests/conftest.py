"""Shared fixtures: a tiny randomly initialised Qwen3 and a locally trained tokenizer, built once per session.

Nothing is downloaded: ``HF_HUB_OFFLINE=1`` is set for the whole test session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_BENCHMARKS = Path(os.environ.get("RSFT_SHARED_BENCHMARKS", SHARED / "benchmarks"))

TOKENIZER_CORPUS = [
    "Using the numbers [3, 5, 7], create an equation that equals 22. 3*5+7=22",
    "<think>Let me try 3+5=8. 8*7=56, too big. Wait, backtrack. 3*5=15, 15+7=22. Verify: 22.</think>"
    " The answer is <answer>3*5+7</answer>",
    "Compute 12+34-5. 12+34=46; 46-5=41. Answer: 41",
    "Sort 5 3 9 1: 1 3 5 9",
    "I can't help with that. Sure, here is how to bake bread.",
] * 4


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    from rsft.toy import build_tokenizer

    out = tmp_path_factory.mktemp("tok")
    return build_tokenizer(TOKENIZER_CORPUS, vocab_size=384, out_dir=out)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """A folder holding a tiny random Qwen3 (~30k parameters) and its tokenizer, loadable by from_pretrained."""
    from rsft.toy import tiny_qwen3

    out = tmp_path_factory.mktemp("tiny_qwen3")
    tiny_qwen3(tiny_tokenizer, "micro", seed=0, out_dir=out)
    return out


@pytest.fixture(scope="session")
def shared_benchmarks() -> Path:
    if not SHARED_BENCHMARKS.is_dir():
        pytest.skip(f"../shared/benchmarks not found at {SHARED_BENCHMARKS}: real benchmark files are needed")
    return SHARED_BENCHMARKS
