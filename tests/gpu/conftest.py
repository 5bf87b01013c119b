"""Fixtures for the fast-path tests.

The session's tiny Qwen3 has ~0.02-scale random weights, so greedy decoding repeats one token forever; a test of
"identical to generate" on it could pass with a broken cache. ``sharp_model_dir`` redraws its matrices at scale 0.3
(seeded), which gives varied token sequences, and saves it with the tokenizer.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def sharp_model_dir(tiny_model_dir, tmp_path_factory):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3, generator=gen)
    out = tmp_path_factory.mktemp("sharp_qwen3")
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_lm(sharp_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(sharp_model_dir), dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(str(sharp_model_dir))


TEXTS = [
    "Sort 5 3 9 1:",
    "Using the numbers [3, 5, 7], create an equation that equals 22.",
    "Compute 12+34-5.",
    "<think>Let me try 3+5=8.",
    "I can't",
    "Sure, here is how to bake bread. Let me think step by step. Wait, let me re-check the answer now.",
    "42",
]


@pytest.fixture(scope="session")
def prompts(tiny_lm):
    """Seven prompts of different lengths (so slots hold different contexts)."""
    _, tok = tiny_lm
    return [tok(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
