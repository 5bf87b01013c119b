"""CUDA-only checks of the fast paths (marked ``gpu``: deselected by default, skipped without CUDA).

Run on a GPU machine: ``pytest tests/gpu -m gpu``.
"""

from __future__ import annotations

import pytest
import torch

from rsft.generate.base import GenerateConfig
from rsft.generate.fast import FastGenerator

pytestmark = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _model(sharp_model_dir, dtype):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(sharp_model_dir), dtype=dtype).to("cuda").eval()


def _generate(model, prompts, n_new):
    out = []
    for p in prompts:
        ids = torch.tensor([p], device="cuda")
        g = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_new, min_new_tokens=n_new,
                           do_sample=False, pad_token_id=0)  # fmt: skip
        out.append(g[0, len(p) :].tolist())
    return out


@needs_cuda
def test_bf16_graphs_agree_with_generate_on_99_percent_of_positions(sharp_model_dir, prompts):
    model = _model(sharp_model_dir, torch.bfloat16)
    model.generation_config.eos_token_id = None
    want = _generate(model, prompts, 32)
    gen = FastGenerator(model, None, max_batch=3, cuda_graphs=True, bucket=16)
    got = [c[0].token_ids for c in gen.generate(prompts, GenerateConfig(max_new_tokens=32))]
    same = sum(a == b for w, g in zip(want, got, strict=True) for a, b in zip(w, g, strict=True))
    assert same / sum(len(w) for w in want) >= 0.99
    assert gen.stats["graphs"] > 0


@needs_cuda
@pytest.mark.parametrize("compile", [False, True])
def test_fp32_graph_path_equals_generate_and_eager(sharp_model_dir, prompts, compile):
    model = _model(sharp_model_dir, torch.float32)
    model.generation_config.eos_token_id = None
    want = _generate(model, prompts, 24)
    graphs = FastGenerator(model, None, max_batch=4, cuda_graphs=True, compile=compile, bucket=16)
    got = graphs.generate(prompts, GenerateConfig(max_new_tokens=24))
    assert [c[0].token_ids for c in got] == want
    sampling = GenerateConfig(max_new_tokens=24, temperature=1.0, top_p=0.9, seed=5, logprobs=True)
    eager = FastGenerator(model, None, max_batch=2, cuda_graphs=False).generate(prompts, sampling)
    graphed = graphs.generate(prompts, sampling)
    assert [c[0].token_ids for c in graphed] == [c[0].token_ids for c in eager]
    assert graphed[0][0].logprobs == pytest.approx(eager[0][0].logprobs, abs=1e-4)


@needs_cuda
def test_chunked_cross_entropy_under_bf16_autocast():
    from rsft.train.kernels import linear_cross_entropy

    g = torch.Generator(device="cuda").manual_seed(0)
    hidden = torch.randn(1000, 256, device="cuda", generator=g, requires_grad=True)
    weight = (torch.randn(5000, 256, device="cuda", generator=g) * 0.05).requires_grad_()
    target = torch.randint(0, 5000, (1000,), device="cuda", generator=g)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        want = torch.nn.functional.cross_entropy((hidden @ weight.t()).float(), target, reduction="sum")
        got, _ = linear_cross_entropy(hidden, weight, target, chunk=128)
    assert float(got) == pytest.approx(float(want), rel=2e-3)


@needs_cuda
def test_compiled_flex_attention_equals_per_row():
    from rsft.train.kernels import packed_attention

    lengths = [300, 500, 224]
    L = sum(lengths)
    pos = torch.cat([torch.arange(n) for n in lengths])[None].cuda()
    q, k, v = (torch.randn(1, h, L, 64, device="cuda", dtype=torch.bfloat16) for h in (8, 4, 4))
    out = packed_attention(q, k, v, pos, backend="flex")
    o = 0
    for n in lengths:
        sl = slice(o, o + n)
        alone = torch.nn.functional.scaled_dot_product_attention(
            q[:, :, sl], k[:, :, sl], v[:, :, sl], is_causal=True, enable_gqa=True
        )
        assert torch.allclose(out[:, :, sl].float(), alone.float(), atol=2e-2)
        o += n
