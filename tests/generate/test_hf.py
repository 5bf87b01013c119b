"""The hf backend on a tiny random Qwen3 (CPU, fp32)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rsft._util.errors import MissingDependencyError, RsftError
from rsft.generate import GenerateConfig, Request, make_backend
from rsft.generate.hf import HFBackend

PROMPTS = [
    "Compute 12+34-5.",
    "Sort 5 3 9 1",
    "Hi",
    "Using the numbers [3, 5, 7], create an equation that equals 22.",
]


def _reqs():
    return [Request(messages=[{"role": "user", "content": p}], id=f"r{i}") for i, p in enumerate(PROMPTS)]


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    return HFBackend(tiny_model_dir, batch_size=8, device="cpu")


def _ids(out):
    return [[c.token_ids for c in cs] for cs in out]


def test_same_seed_same_samples_whatever_the_batch(backend, tiny_model_dir):
    cfg = GenerateConfig(temperature=1.0, top_p=0.95, top_k=50, max_new_tokens=12, n=3, seed=4)
    a = backend.generate(_reqs(), cfg)
    other = HFBackend(tiny_model_dir, batch_size=2, device="cpu")  # other batches, other order
    b = other.generate(_reqs()[::-1], cfg)[::-1]
    assert _ids(a) == _ids(b)
    assert len({tuple(c.token_ids) for c in a[0]}) == 3  # the n samples differ from each other
    assert _ids(backend.generate(_reqs(), cfg.model_copy(update={"seed": 5}))) != _ids(a)
    assert [c.seed for c in a[0]] == [c.seed for c in b[0]]


def test_greedy_equals_model_generate(backend, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from rsft.chat import render_prompt

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    out = backend.generate(_reqs(), GenerateConfig(max_new_tokens=10))
    for req, cs in zip(_reqs(), out, strict=True):
        enc = backend.tokenizer(
            render_prompt(backend.tokenizer, req.messages), return_tensors="pt", add_special_tokens=False
        )
        ref = model.generate(**enc, max_new_tokens=10, do_sample=False)[
            0, enc["input_ids"].shape[1] :
        ].tolist()
        assert cs[0].token_ids == ref


def test_logprobs_match_teacher_forced_forward(backend):
    import torch

    cfg = GenerateConfig(temperature=1.0, max_new_tokens=8, seed=1, logprobs=True)
    out = backend.generate(_reqs(), cfg)
    for req, cs in zip(_reqs(), out, strict=True):
        c = cs[0]
        prompt = backend.tokenizer(backend.render(req), add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt + c.token_ids])
        with torch.no_grad():
            logp = torch.log_softmax(backend.model(input_ids=ids).logits[0].float(), -1)
        pos = range(len(prompt) - 1, len(prompt) - 1 + len(c.token_ids))
        ref = [logp[p, t].item() for p, t in zip(pos, c.token_ids, strict=True)]
        ent = [-(logp[p].exp() * logp[p]).sum().item() for p in pos]
        assert c.logprobs == pytest.approx(ref, abs=1e-4)
        assert c.entropies == pytest.approx(ent, abs=1e-4) and c.entropy_kind == "full"


def test_stop_strings_and_length(backend):
    cfg = GenerateConfig(temperature=1.0, seed=3, max_new_tokens=16)
    full = backend.generate(_reqs()[:1], cfg)[0][0]
    assert full.finish_reason == "length" and len(full.token_ids) == 16 and len(full.text) > 8
    stop = full.text[5:7]
    cut = backend.generate(_reqs()[:1], cfg.model_copy(update={"stop": [stop]}))[0][0]
    assert cut.finish_reason == "stop" and cut.text == full.text[: full.text.find(stop)]
    assert len(cut.token_ids) < 16 and cut.token_ids == full.token_ids[: len(cut.token_ids)]
    by_id = cfg.model_copy(update={"stop_token_ids": [full.token_ids[2]]})
    eos = backend.generate(_reqs()[:1], by_id)[0][0]
    assert (
        eos.finish_reason == "stop"
        and eos.token_ids == full.token_ids[: full.token_ids.index(full.token_ids[2]) + 1]
    )


def test_switching_checkpoints_loads_in_place(tmp_path, tiny_tokenizer, tiny_model_dir):
    from rsft.toy import tiny_qwen3

    other = tmp_path / "other"
    tiny_qwen3(tiny_tokenizer, "micro", seed=9, out_dir=other)
    cfg = GenerateConfig(temperature=1.0, max_new_tokens=8, logprobs=True)
    be = HFBackend(tiny_model_dir, device="cpu")
    first = be.generate(_reqs(), cfg)
    model_obj = be.model
    be.load(other)
    switched = be.generate(_reqs(), cfg)
    assert be.model is model_obj and be.last_load["how"] == "in_place"
    fresh = HFBackend(other, device="cpu").generate(_reqs(), cfg)
    assert _ids(switched) == _ids(fresh)
    assert switched[0][0].logprobs == pytest.approx(fresh[0][0].logprobs, abs=1e-6)
    assert _ids(switched) != _ids(first)


def test_tokenizer_without_chat_template(tmp_path, tiny_tokenizer):
    from rsft.toy import tiny_qwen3

    d = tmp_path / "m"
    tiny_qwen3(tiny_tokenizer, "micro", out_dir=d)
    for f in d.glob("chat_template*"):
        f.unlink()
    import json

    cfg = json.loads((d / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    be = HFBackend(d, device="cpu")
    with pytest.raises(RsftError, match="no chat template"):
        be.generate(_reqs()[:1], GenerateConfig(max_new_tokens=2))
    assert be.generate([Request(prompt="raw text")], GenerateConfig(max_new_tokens=2))[0][0].token_ids


def test_registry_ids_and_lazy_imports(tiny_model_dir):
    be = make_backend(f"hf/{tiny_model_dir}", device="cpu")
    assert be.model_dir == tiny_model_dir
    with pytest.raises(RsftError, match="unknown backend"):
        make_backend("nope/x")
    code = "import rsft, rsft.generate, rsft.eval, sys; print('vllm' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_vllm_missing_says_how_to_install():
    try:
        import vllm  # noqa: F401

        pytest.skip("vllm is installed")
    except ImportError:
        pass
    with pytest.raises(MissingDependencyError, match=r"rsft\[vllm\]"):
        make_backend("vllm/some/model")
