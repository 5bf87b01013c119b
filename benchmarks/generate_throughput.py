"""Throughput of rsft's hf backend against a plain one-prompt-at-a-time ``model.generate`` loop, in one run.

    python benchmarks/generate_throughput.py [--prompts 64] [--max-new-tokens 32] [--batch-size 32] [--threads 2]

Same tiny Qwen3 (~1 M parameters, size "1m", fp32, CPU), same prompts (toy benchmark items rendered with the chat
template), greedy decoding. Prints generated tokens/s of both, the ratio (target >= 3x), how many outputs agree
token for token, and the cost of switching checkpoints in the backend (weights loaded in place) against the time
to read the weights file (target < 2x). The model is randomly initialised with a wide ``initializer_range`` so that
greedy outputs vary between prompts instead of repeating one token (a fairer agreement check).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def build_models(root: Path) -> tuple[Path, Path]:
    from rsft.toy import build_tokenizer, tiny_qwen3

    corpus = [
        "Compute 12+34-5. 12+34=46; 46-5=41. Answer: 41",
        "Sort 5 3 9 1: 1 3 5 9",
        "<think>Let me try 3+5=8. Wait, backtrack.</think> The answer is <answer>3*5+7</answer>",
    ] * 8
    tok = build_tokenizer(corpus, vocab_size=512)
    a, b = root / "ckpt_a", root / "ckpt_b"
    tiny_qwen3(tok, "1m", seed=0, out_dir=a, initializer_range=0.3)
    tiny_qwen3(tok, "1m", seed=1, out_dir=b, initializer_range=0.3)
    return a, b


def prompts(n: int) -> list[list[dict[str, str]]]:
    from rsft.bench.registry import get_benchmark

    out = []
    for name in ("toy_arith", "toy_sort", "toy_countdown", "toy_safety"):
        bench = get_benchmark(name, n_items=n)
        out += [bench.prompt(s) for s in bench.load()]
    return out[:n]


def plain_loop(model_dir: Path, msgs: list, max_new: int) -> tuple[list[list[int]], float, float]:
    """The baseline: one prompt at a time, ``model.generate`` with its own KV cache, greedy."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rsft.chat import render_prompt

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    encs = [tok(render_prompt(tok, m), return_tensors="pt", add_special_tokens=False) for m in msgs]
    model.generate(**encs[0], max_new_tokens=4, do_sample=False)  # warm-up
    outs = []
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for enc in encs:
            g = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id)
            outs.append(g[0, enc["input_ids"].shape[1] :].tolist())
    return outs, time.perf_counter() - t0, time.process_time() - c0


def rsft_backend(
    model_dir: Path, msgs: list, max_new: int, batch_size: int
) -> tuple[list[list[int]], float, float]:
    from rsft.generate import GenerateConfig, Request
    from rsft.generate.hf import HFBackend

    be = HFBackend(
        model_dir, batch_size=batch_size, device="cpu", threads=None
    )  # same threads as the baseline
    cfg = GenerateConfig(max_new_tokens=max_new)
    be.generate([Request(messages=msgs[0])], cfg.model_copy(update={"max_new_tokens": 4}))  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    out = be.generate([Request(messages=m) for m in msgs], cfg)
    return [cs[0].token_ids for cs in out], time.perf_counter() - t0, time.process_time() - c0


def big_pair(root: Path) -> tuple[Path, Path]:
    """Two checkpoints of a ~25 M-parameter Qwen3 (about 100 MB of fp32 weights), where reading dominates."""
    from rsft.toy import build_tokenizer, tiny_qwen3

    tok = build_tokenizer(["big model"], vocab_size=512)
    shape = dict(
        hidden_size=512,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=4,
        intermediate_size=1536,
    )
    a, b = root / "big_a", root / "big_b"
    tiny_qwen3(tok, "1m", seed=0, out_dir=a, **shape)
    tiny_qwen3(tok, "1m", seed=1, out_dir=b, **shape)
    return a, b


def switch_cost(a: Path, b: Path, reps: int = 9) -> dict[str, float]:
    """Median seconds: reading the weights file; switching a loaded backend to another checkpoint in place
    (weights hashes already cached, as in a sweep, which hashes before loading); hashing a new file."""
    from rsft._util.hashing import hash_file, weights_hash
    from rsft.generate.hf import HFBackend

    weights = b / "model.safetensors"
    be = HFBackend(a, device="cpu", threads=None)
    be.ensure_weights()
    weights_hash(a), weights_hash(b)
    reads, switches, hashes = [], [], []
    for i in range(reps):
        t0 = time.perf_counter()
        weights.read_bytes()
        reads.append(time.perf_counter() - t0)
        target = b if i % 2 == 0 else a
        t0 = time.perf_counter()
        be.load(target)
        be.ensure_weights()
        switches.append(time.perf_counter() - t0)
        assert be.last_load["how"] == "in_place"
        t0 = time.perf_counter()
        hash_file(weights)
        hashes.append(time.perf_counter() - t0)
    return {
        "read_s": statistics.median(reads),
        "switch_s": statistics.median(switches),
        "hash_s": statistics.median(hashes),
        "mb": weights.stat().st_size / 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        a, b = build_models(Path(tmp))
        n_params = sum(
            p.numel() for p in __import__("transformers").AutoModelForCausalLM.from_pretrained(a).parameters()
        )
        msgs = prompts(args.prompts)
        base_out, base_s, base_cpu = plain_loop(a, msgs, args.max_new_tokens)
        rsft_out, rsft_s, rsft_cpu = rsft_backend(a, msgs, args.max_new_tokens, args.batch_size)
        sw = switch_cost(a, b)
        big = switch_cost(*big_pair(Path(tmp)))
    agree = sum(x == y for x, y in zip(base_out, rsft_out, strict=True))
    distinct = len({tuple(x) for x in rsft_out})
    base_tok, rsft_tok = sum(map(len, base_out)), sum(map(len, rsft_out))
    base_tps, rsft_tps = base_tok / base_s, rsft_tok / rsft_s
    print(f"model: tiny Qwen3 '1m' ({n_params / 1e6:.2f} M parameters, fp32, CPU, {args.threads} threads)")
    print(f"prompts: {len(msgs)} toy benchmark items, greedy, max_new_tokens={args.max_new_tokens}")
    print(
        f"plain model.generate loop: {base_tps:8.1f} tokens/s wall ({base_s:.2f} s), {base_tok / base_cpu:8.1f} per CPU-s"
    )
    print(
        f"rsft hf backend (batch {args.batch_size}): {rsft_tps:8.1f} tokens/s wall ({rsft_s:.2f} s), "
        f"{rsft_tok / rsft_cpu:8.1f} per CPU-s"
    )
    print(
        f"speed-up: {rsft_tps / base_tps:.2f}x wall, {(rsft_tok / rsft_cpu) / (base_tok / base_cpu):.2f}x per CPU-second"
        " (target >= 3x)"
    )
    print(f"greedy outputs identical: {agree}/{len(msgs)} ({distinct} distinct outputs)")
    for s in (sw, big):
        print(
            f"checkpoint switch (in place, {s['mb']:.1f} MB): {s['switch_s'] * 1e3:.2f} ms vs reading the weights "
            f"file {s['read_s'] * 1e3:.2f} ms = {s['switch_s'] / s['read_s']:.2f}x (target < 2x); "
            f"hashing a new weights file once: {s['hash_s'] * 1e3:.1f} ms (median of 9)"
        )


if __name__ == "__main__":
    main()
