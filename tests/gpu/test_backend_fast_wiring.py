"""The hf backend routes through the fast path when asked, with greedy output identical to the plain path."""

from __future__ import annotations

from rsft.eval.config import BackendSettings
from rsft.eval.runner import build_backend
from rsft.generate.base import GenerateConfig, Request


def test_fast_flag_reaches_the_backend_and_matches_greedy(tiny_model_dir):
    reqs = [Request(messages=[{"role": "user", "content": f"Compute {i}+{i}."}], id=str(i)) for i in range(5)]
    cfg = GenerateConfig(max_new_tokens=12, temperature=0.0)
    plain = build_backend(BackendSettings(fast=False, batch_size=2))
    fast = build_backend(BackendSettings(fast=True, batch_size=2))
    assert fast.fast is True and plain.fast is False
    plain.load(tiny_model_dir)
    fast.load(tiny_model_dir)
    a = plain.generate(reqs, cfg)
    b = fast.generate(reqs, cfg)
    assert getattr(fast, "_fast", None) is not None  # the fast generator really ran
    assert getattr(plain, "_fast", None) is None
    assert [[c.token_ids for c in r] for r in a] == [[c.token_ids for c in r] for r in b]
    assert [[c.finish_reason for c in r] for r in a] == [[c.finish_reason for c in r] for r in b]
