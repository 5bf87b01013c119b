"""Presence and frequency penalties (OpenAI / vLLM semantics) in the hf backend, and passed on by the openai one."""

from __future__ import annotations

import pytest
import torch

from rsft.generate import GenerateConfig, Request
from rsft.generate.base import apply_penalties
from rsft.generate.hf import HFBackend

MSGS = [[{"role": "user", "content": "Sort 5 3 9 1"}], [{"role": "user", "content": "Hi"}]]


def _reqs():
    return [Request(messages=m, id=f"p{i}") for i, m in enumerate(MSGS)]


def test_penalty_arithmetic():
    logits = torch.zeros(2, 5)
    cfg = GenerateConfig(presence_penalty=0.5, frequency_penalty=0.25)
    out = apply_penalties(logits, [[1, 1, 3], []], cfg)
    # token 1 twice: 0.5 + 2 * 0.25; token 3 once: 0.5 + 0.25; a row with nothing generated is untouched
    assert out[0].tolist() == [0.0, -1.0, 0.0, -0.75, 0.0]
    assert out[1].tolist() == [0.0] * 5
    assert apply_penalties(logits, [[1], [2]], GenerateConfig()) is logits


def _reference_greedy(model, ids, steps, presence, frequency):
    """Greedy decoding by full forward passes, penalising the generated tokens (the definition, written out)."""
    gen: list[int] = []
    for _ in range(steps):
        with torch.no_grad():
            logits = model(torch.tensor([ids + gen])).logits[0, -1].float()
        for t in set(gen):
            logits[t] -= presence + frequency * gen.count(t)
        gen.append(int(logits.argmax()))
    return gen


@pytest.mark.parametrize("presence,frequency", [(0.0, 2.0), (2.0, 0.0), (0.1, 0.1)])
def test_hf_greedy_with_penalties_matches_the_definition(tiny_model_dir, presence, frequency):
    from transformers import AutoModelForCausalLM

    from rsft.chat import render_prompt

    be = HFBackend(tiny_model_dir, device="cpu", fast=False)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    cfg = GenerateConfig(max_new_tokens=12, presence_penalty=presence, frequency_penalty=frequency)
    out = be.generate(_reqs(), cfg)
    for req, cs in zip(_reqs(), out, strict=True):
        ids = be.tokenizer(render_prompt(be.tokenizer, req.messages), add_special_tokens=False)["input_ids"]
        ref = _reference_greedy(model, ids, len(cs[0].token_ids), presence, frequency)
        assert cs[0].token_ids == ref
    plain = be.generate(_reqs(), GenerateConfig(max_new_tokens=12))
    if (presence, frequency) == (
        0.0,
        2.0,
    ):  # a strong penalty changes the greedy continuation of the toy model
        assert [c[0].token_ids for c in plain] != [c[0].token_ids for c in out]


def test_fast_path_is_not_used_with_penalties(tiny_model_dir):
    be = HFBackend(tiny_model_dir, device="cpu", fast=True)
    assert be._use_fast(GenerateConfig()) == be._use_fast()
    assert be._use_fast(GenerateConfig(presence_penalty=0.1)) is False


def test_serve_reads_penalties_from_the_request():
    from rsft.generate.server import ServerLimits, _config

    cfg = _config({"presence_penalty": 0.1, "frequency_penalty": 0.2, "max_tokens": 4}, 16, ServerLimits())
    assert (cfg.presence_penalty, cfg.frequency_penalty) == (0.1, 0.2)
    assert _config({}, 16, ServerLimits()).presence_penalty == 0.0


def test_openai_backend_sends_penalties():
    from rsft.generate.openai import OpenAIBackend

    be = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1")
    _, body = be._payload(_reqs()[0], GenerateConfig(presence_penalty=0.1, frequency_penalty=0.2), 0)
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.1, 0.2)
    _, plain = be._payload(_reqs()[0], GenerateConfig(), 0)
    assert "presence_penalty" not in plain and "frequency_penalty" not in plain
