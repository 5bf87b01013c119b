"""Fixtures shared by the vLLM test modules: one engine for the whole session (a start costs 20 s or more)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _vllm_support import drifted_checkpoints, require_vllm  # noqa: E402


@pytest.fixture(scope="session")
def vllm_run(tmp_path_factory) -> list[Path]:
    """Six checkpoints of a toy run (step 0 = the large toy base)."""
    require_vllm()
    return drifted_checkpoints(tmp_path_factory.mktemp("run"), 6)


@pytest.fixture(scope="session")
def engine(vllm_run):
    """One vLLM engine for the session, started on step 0."""
    require_vllm()
    from rsft.generate.vllm import VLLMBackend

    be = VLLMBackend(vllm_run[0], dtype="float32", max_model_len=512, max_logprobs=-1, batch_size=64)
    yield be
    be.close()


@pytest.fixture(scope="session")
def hf(vllm_run):
    from rsft.generate.hf import HFBackend

    return HFBackend(vllm_run[0], device="cpu", dtype="float32")


@pytest.fixture()
def on_base(engine, hf, vllm_run):
    engine.load(vllm_run[0])
    hf.load(vllm_run[0])
