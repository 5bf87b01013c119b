"""Training kernels: chunked cross-entropy vs the full computation, packed attention vs per-row, checkpointing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rsft.train.data import Encoded, collate
from rsft.train.kernels import (
    apply_checkpointing,
    checkpoint_plan,
    chunked_micro_batch_loss,
    cu_seqlens,
    document_ids,
    enable_chunked_loss,
    linear_cross_entropy,
    maybe_compile,
    packed_attention,
)
from rsft.train.loss import micro_batch_loss


@pytest.mark.parametrize("dft", [False, True])
@pytest.mark.parametrize("chunk", [5, 64])
def test_linear_cross_entropy_equals_full_logits(dft, chunk):
    g = torch.Generator().manual_seed(0)
    N, H, V = 37, 16, 50
    hidden = torch.randn(N, H, generator=g, requires_grad=True)
    weight = torch.randn(V, H, generator=g, requires_grad=True)
    bias = torch.randn(V, generator=g, requires_grad=True)
    target = torch.randint(0, V, (N,), generator=g)
    target[::4] = -100
    coef = torch.rand(N, generator=g)

    nll = F.cross_entropy(hidden @ weight.t() + bias, target, reduction="none")
    c = coef * (torch.exp(-nll).detach() if dft else 1.0)
    want = (c * nll).sum()
    want.backward()
    grads = [t.grad.clone() for t in (hidden, weight, bias)]
    for t in (hidden, weight, bias):
        t.grad = None

    got, got_nll = linear_cross_entropy(hidden, weight, target, coef=coef, bias=bias, dft=dft, chunk=chunk)
    (got * 3.0).backward()  # the upstream gradient must scale the stored one
    assert float(got.detach()) == pytest.approx(float(want), rel=1e-6, abs=1e-5)
    assert torch.allclose(got_nll, nll.detach(), rtol=1e-6, atol=1e-5) and float(got_nll[0]) == 0.0
    for t, w in zip((hidden, weight, bias), grads, strict=True):
        assert torch.allclose(t.grad, 3.0 * w, rtol=1e-5, atol=1e-5)


def _rows(n, seed=0, vocab=384):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length, prompt = int(rng.integers(6, 30)), int(rng.integers(2, 5))
        out.append(
            Encoded(rng.integers(5, vocab, length).astype(np.int64), prompt, float(rng.uniform(0.5, 2)), i)
        )
    return out


@pytest.fixture
def fresh_tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        str(tiny_model_dir), dtype=torch.float32, attn_implementation="sdpa"
    )


@pytest.mark.parametrize("packing", [False, True])
@pytest.mark.parametrize(
    ("reduction", "weighting"),
    [("token_mean", "none"), ("sequence_mean", "weight"), ("paper", "dft"), ("token_mean", "weight")],
)
def test_chunked_micro_batch_loss_equals_micro_batch_loss(fresh_tiny, packing, reduction, weighting):
    model = fresh_tiny
    head = enable_chunked_loss(model)
    assert head.weight is model.get_input_embeddings().weight  # tied weights stay tied
    rows = _rows(6)
    mb = collate(rows, pad_id=0, packing=packing, max_length=64)
    kw = dict(reduction=reduction, weighting=weighting, global_tokens=200, global_rows=9, processes=2)

    want = micro_batch_loss(model, mb, **kw)
    want.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    got = chunked_micro_batch_loss(model, mb, chunk=7, **kw)
    got.loss.backward()

    assert float(got.loss) == pytest.approx(float(want.loss), abs=1e-5)
    assert float(got.objective) == pytest.approx(float(want.objective), abs=1e-5)
    assert float(got.nll_sum) == pytest.approx(float(want.nll_sum), rel=1e-5)
    for n, p in model.named_parameters():
        assert torch.allclose(p.grad, grads[n], atol=1e-5), n


def test_loss_head_keeps_checkpoint_keys(fresh_tiny, tmp_path):
    keys = set(fresh_tiny.state_dict())
    enable_chunked_loss(fresh_tiny)
    assert set(fresh_tiny.state_dict()) == keys
    ids = torch.tensor([[5, 6, 7, 8]])
    assert fresh_tiny(ids).logits.shape[-1] == fresh_tiny.config.vocab_size  # a normal head unless asked


def test_document_ids_and_cu_seqlens():
    pos = torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3], [0, 1, 2, 3, 4, 0, 1, 0, 0]])
    assert document_ids(pos).tolist() == [[0, 0, 0, 1, 1, 2, 2, 2, 2], [0, 0, 0, 0, 0, 1, 1, 2, 3]]
    cu, longest = cu_seqlens(pos)
    assert cu.tolist() == [0, 3, 5, 9, 14, 16, 17, 18] and longest == 5 and cu.dtype == torch.int32


@pytest.mark.parametrize("backend", ["sdpa", "flex"])
def test_packed_attention_equals_per_row(backend):
    g = torch.Generator().manual_seed(1)
    lengths = [[5, 9, 2], [16]]
    L, H, KV, D = 16, 4, 2, 8
    pos = torch.zeros(2, L, dtype=torch.long)
    for b, ls in enumerate(lengths):
        pos[b] = torch.cat([torch.arange(n) for n in ls])
    q, k, v = (torch.randn(2, n, L, D, generator=g) for n in (H, KV, KV))
    out = packed_attention(q, k, v, pos, backend=backend)
    for b, ls in enumerate(lengths):
        o = 0
        for n in ls:
            sl = slice(o, o + n)
            alone = F.scaled_dot_product_attention(
                q[b : b + 1, :, sl], k[b : b + 1, :, sl], v[b : b + 1, :, sl], is_causal=True, enable_gqa=True
            )
            assert torch.allclose(out[b : b + 1, :, sl], alone, atol=1e-5)
            o += n


def test_packed_model_forward_equals_per_row(fresh_tiny):
    """The path the trainer takes (transformers sdpa + position ids restarting per row) keeps rows apart.

    transformers derives the block-diagonal mask from position ids only without a cache: ``use_cache=False``."""
    rows = _rows(5, seed=3)
    packed = collate(rows, pad_id=0, packing=True, max_length=64)
    assert packed.input_ids.shape[0] < len(rows)
    with torch.no_grad():
        logits = fresh_tiny(
            input_ids=packed.input_ids, position_ids=packed.position_ids, use_cache=False
        ).logits
        for i, r in enumerate(rows):
            s, t = torch.nonzero(packed.seg == i)[0].tolist()  # first supervised position of row i
            start = t - (r.n_prompt - 1)
            alone = fresh_tiny(input_ids=torch.from_numpy(r.ids)[None]).logits[0]
            assert torch.allclose(logits[s, start : start + len(r.ids)], alone, atol=1e-5)


def test_checkpoint_plan_fits_the_budget():
    from transformers import Qwen3Config

    cfg = Qwen3Config(hidden_size=2048, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                      intermediate_size=6144, head_dim=128)  # fmt: skip
    assert checkpoint_plan(cfg, 16384, None) == []
    full = checkpoint_plan(cfg, 16384, 1)
    assert full == list(range(28))
    half = checkpoint_plan(cfg, 16384, 20 * 2**30)
    assert 0 < len(half) < 28 and half == sorted(set(half))
    assert half[0] <= 28 // len(half) and half[-1] >= 28 - 28 // len(half) - 1  # spread over the depth


def test_apply_checkpointing_recomputes_only_chosen_layers(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    def grads_and_calls(layers):
        model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
        model.train()
        apply_checkpointing(model, layers)
        calls = [0] * len(model.model.layers)
        for i, layer in enumerate(
            model.model.layers
        ):  # module hooks do not fire in a recompute: wrap forward

            def counted(x, f=layer.mlp.forward, i=i):
                calls[i] += 1
                return f(x)

            layer.mlp.forward = counted
        ids = torch.tensor([[5, 9, 14, 3, 22, 7]])
        model(input_ids=ids, labels=ids).loss.backward()
        return {n: p.grad for n, p in model.named_parameters()}, calls

    base, calls0 = grads_and_calls([])
    ck, calls1 = grads_and_calls([1])
    assert calls0 == [1, 1] and calls1 == [1, 2]  # layer 1 ran again in backward
    for n, g in base.items():
        assert torch.allclose(ck[n], g, atol=1e-6), n


def test_maybe_compile_is_a_no_op_when_off_or_on_cpu(fresh_tiny):
    layer = fresh_tiny.model.layers[0]
    assert maybe_compile(fresh_tiny, False) is fresh_tiny and fresh_tiny.model.layers[0] is layer
    maybe_compile(fresh_tiny, True)  # CPU without allow_cpu: left eager
    assert getattr(layer, "_compiled_call_impl", None) is None


@pytest.mark.slow
def test_gpu_benchmark_smoke_runs_end_to_end(tmp_path):
    """benchmarks/gpu.py --smoke: every section of the GPU benchmark, tiny shape, on CPU (~30 s)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, str(script), "--smoke", "--out", str(out)], check=True, timeout=300)
    res = json.loads(out.read_text())
    assert all("fast_tok_s" in r and "generate_tok_s" in r for r in res["generation"]["rows"])
    assert res["generation"]["greedy_match"]["positions_same"] == 1.0  # fp32: identical
    assert res["training"]["rsft"]["tok_s"] > 0 and res["training"]["trl"]["tok_s"] > 0


def test_chunked_loss_through_a_lora_wrapper(fresh_tiny):
    from peft import LoraConfig, get_peft_model

    enable_chunked_loss(fresh_tiny)
    torch.manual_seed(0)
    model = get_peft_model(fresh_tiny, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    mb = collate(_rows(4, seed=5), pad_id=0, packing=True, max_length=64)
    kw = dict(reduction="token_mean", weighting="none", global_tokens=mb.n_tokens, global_rows=4)
    want = micro_batch_loss(model, mb, **kw)
    want.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad(set_to_none=True)
    got = chunked_micro_batch_loss(model, mb, **kw)
    got.loss.backward()
    assert float(got.objective) == pytest.approx(float(want.objective), rel=1e-6)
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert torch.allclose(p.grad, grads[n], atol=1e-6), n
