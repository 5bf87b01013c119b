"""The fast decode path against transformers' ``generate`` and the ``hf`` backend (fp32, CPU)."""

from __future__ import annotations

import pytest
import torch

from rsft._util.errors import RsftError
from rsft.generate.base import GenerateConfig, Request
from rsft.generate.fast import FastGenerator, draw_uniform, fast_generate, sample_tokens

N_NEW = 24


def reference(model, tok, prompt, n_new, stop_ids):
    """Greedy ``generate`` on one unpadded row: the ground truth."""
    out = model.generate(
        torch.tensor([prompt]),
        attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
        max_new_tokens=n_new,
        do_sample=False,
        eos_token_id=[tok.eos_token_id, *stop_ids],
        pad_token_id=tok.pad_token_id,
    )
    return out[0, len(prompt) :].tolist()


@pytest.fixture(scope="module")
def early_stop_ids(tiny_lm, prompts):
    """Two tokens that greedy decoding emits mid-sequence, so some rows finish early and others run to length."""
    model, tok = tiny_lm
    seen: dict[int, int] = {}
    for p in prompts:
        for i, t in enumerate(reference(model, tok, p, N_NEW, [])):
            if 3 <= i < N_NEW - 3:
                seen[t] = seen.get(t, 0) + 1
    rare = sorted(t for t, c in seen.items() if c == 1)
    return rare[:2]


@pytest.mark.parametrize(("max_batch", "check_every"), [(3, 1), (2, 5), (16, 4)])
def test_greedy_equals_generate_with_refill_and_early_stops(
    tiny_lm, prompts, early_stop_ids, max_batch, check_every
):
    model, tok = tiny_lm
    expected = [reference(model, tok, p, N_NEW, early_stop_ids) for p in prompts]
    lengths = {len(e) for e in expected}
    assert len(lengths) > 1 and N_NEW in lengths, "the case must mix early stops and full-length rows"
    gen = FastGenerator(model, tok, max_batch=max_batch, check_every=check_every, bucket=8)
    config = GenerateConfig(max_new_tokens=N_NEW, stop_token_ids=early_stop_ids)
    got = gen.generate(prompts, config)
    assert [c[0].token_ids for c in got] == expected
    for c, e in zip(got, expected, strict=True):
        assert c[0].finish_reason == ("length" if len(e) == N_NEW and e[-1] not in early_stop_ids else "stop")
    if max_batch < len(prompts):
        assert gen.stats["prefills"] > 1  # rows were refilled into freed slots


def test_matches_hf_backend_texts_stop_strings_and_logprobs(sharp_model_dir):
    from rsft.generate.hf import HFBackend

    backend = HFBackend(str(sharp_model_dir), batch_size=3, device="cpu")
    requests = [
        Request(prompt=t, id=f"r{i}") for i, t in enumerate(["Sort 5 3 9 1:", "Compute 12+34-5.", "42"])
    ]
    base = GenerateConfig(max_new_tokens=20, logprobs=True, top_logprobs=2)
    plain = backend.generate(requests, base)
    # a stop string taken from the middle of one greedy text: that row must stop there, the others not
    text = plain[1][0].text
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    config = base.model_copy(update={"stop": [stop]})
    want = backend.generate(requests, config)
    got = fast_generate(backend, requests, config, max_batch=2, bucket=8)
    for w, g in zip(want, got, strict=True):
        w, g = w[0], g[0]
        assert (g.text, g.token_ids, g.finish_reason, g.seed) == (
            w.text,
            w.token_ids,
            w.finish_reason,
            w.seed,
        )
        assert g.logprobs == pytest.approx(w.logprobs, abs=1e-4)
        assert g.entropies == pytest.approx(w.entropies, abs=1e-4)
        assert g.entropy_kind == "full" and list(g.top_logprobs[0]) == list(w.top_logprobs[0])
    assert got[1][0].finish_reason == "stop" and stop not in got[1][0].text


def test_logprobs_and_entropy_equal_a_teacher_forced_pass(tiny_lm, prompts):
    model, tok = tiny_lm
    config = GenerateConfig(max_new_tokens=12, temperature=0.9, top_p=0.95, logprobs=True, seed=3)
    got = FastGenerator(model, tok, max_batch=3, bucket=8).generate(prompts, config)
    for p, (c,) in zip(prompts, got, strict=True):
        ids = torch.tensor([p + c.token_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0].float(), -1)[len(p) - 1 : -1]
        chosen = logp.gather(-1, torch.tensor(c.token_ids)[:, None])[:, 0]
        entropy = -(logp.exp() * logp).sum(-1)
        assert c.logprobs == pytest.approx(chosen.tolist(), abs=1e-4)
        assert c.entropies == pytest.approx(entropy.tolist(), abs=1e-4)


def test_sampling_depends_on_seed_only_not_on_batch(tiny_lm, prompts):
    model, tok = tiny_lm
    config = GenerateConfig(max_new_tokens=16, temperature=1.0, top_k=50, top_p=0.9, n=2, seed=7)
    wide = FastGenerator(model, tok, max_batch=14, bucket=8).generate(prompts, config)
    narrow = FastGenerator(model, tok, max_batch=3, check_every=2, bucket=8).generate(prompts, config)
    ids = lambda res: [[c.token_ids for c in row] for row in res]  # noqa: E731
    assert ids(wide) == ids(narrow)
    assert all(row[0].token_ids != row[1].token_ids for row in wide)  # the n samples differ
    other = FastGenerator(model, tok, max_batch=3, bucket=8).generate(
        prompts, config.model_copy(update={"seed": 8})
    )
    assert ids(other) != ids(wide)
    # one prompt alone draws exactly what it drew among the others
    alone = FastGenerator(model, tok, max_batch=1).generate(
        [prompts[2]], config, seeds=[[c.seed for c in wide[2]]]
    )
    assert ids(alone) == [ids(wide)[2]]


def test_sampler_follows_the_filtered_distribution():
    torch.manual_seed(0)
    logits = torch.randn(1, 12) * 2
    n = 40_000
    u = draw_uniform(torch.arange(n, dtype=torch.long) * 7919 + 11, torch.full((n,), 3, dtype=torch.long))
    assert 0.0 < float(u.min()) and float(u.max()) < 1.0 and abs(float(u.mean()) - 0.5) < 0.01
    for top_k, top_p in [(0, 1.0), (5, 1.0), (0, 0.8), (6, 0.7)]:
        draws = sample_tokens(logits.expand(n, -1), u, temperature=0.7, top_k=top_k, top_p=top_p)
        scores = logits[0] / 0.7
        keep = torch.ones(12, dtype=torch.bool)
        if top_k:
            keep &= scores >= scores.topk(top_k).values[-1]
        p = torch.softmax(scores.masked_fill(~keep, float("-inf")), -1)
        order = p.argsort(descending=True)
        drop = (p[order].cumsum(0) - p[order]) >= top_p
        p[order[drop]] = 0.0
        p = p / p.sum()
        freq = torch.bincount(draws, minlength=12).float() / n
        assert torch.all(freq[p == 0] == 0), (top_k, top_p)
        assert float((freq - p).abs().max()) < 0.012, (top_k, top_p, freq, p)


def test_unsupported_model_and_too_long_prompt(tiny_lm, prompts):
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=40, n_positions=32))
    with pytest.raises(RsftError, match="gpt2"):
        FastGenerator(gpt2)
    model, tok = tiny_lm
    with pytest.raises(RsftError, match="exceeds the cache length"):
        FastGenerator(model, tok, max_len=16).generate(prompts, GenerateConfig(max_new_tokens=8))


@pytest.mark.slow
def test_compiled_step_gives_the_same_greedy_tokens(tiny_lm, prompts):
    model, tok = tiny_lm
    config = GenerateConfig(max_new_tokens=10)
    eager = FastGenerator(model, tok, max_batch=3, bucket=16).generate(prompts, config)
    compiled = FastGenerator(model, tok, max_batch=3, bucket=16, compile=True, cuda_graphs=False)
    got = compiled.generate(prompts, config)
    assert [c[0].token_ids for c in got] == [c[0].token_ids for c in eager]


class _AfterPolls:
    """An Event-like flag that reads as set from its n-th poll on: a client leaving mid-decode, without timing."""

    def __init__(self, n: int) -> None:
        self.n = n

    def is_set(self) -> bool:
        self.n -= 1
        return self.n < 0


def test_a_cancelled_prompt_is_never_prefilled_and_a_cancelled_row_leaves_the_batch(tiny_lm, prompts):
    """`rsft serve` on CUDA decodes on this path: a client that left must free its slot, as on the plain loop."""
    import threading

    model, tok = tiny_lm
    config = GenerateConfig(max_new_tokens=64)
    plain = FastGenerator(model, tok, max_batch=2, check_every=4, bucket=8).generate(prompts[:3], config)
    assert len(plain[1][0].token_ids) > 24  # the premise: this row decodes well past the cancel point
    before = threading.Event()
    before.set()  # the client left while its request waited
    gen = FastGenerator(model, tok, max_batch=2, check_every=4, bucket=8)
    got = gen.generate(prompts[:3], config, cancels=[before, _AfterPolls(2), None])
    assert got[0][0].token_ids == [] and got[0][0].finish_reason == "length"  # never prefilled
    assert 0 < len(got[1][0].token_ids) <= 16  # left at the check after the cancel (checks every 4 steps)
    assert got[2][0].token_ids == plain[2][0].token_ids  # the others are untouched
