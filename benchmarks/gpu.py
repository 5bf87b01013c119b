"""rsft vs baseline on one GPU, Qwen3-1.7B shape (random weights): generation and training, side by side.

Run on a CUDA machine: ``python benchmarks/gpu.py [--out PATH] [--budget-s 450]`` (about 5-7 minutes).
Smoke test anywhere (same code paths, tiny shape, CPU, < 1 minute): ``python benchmarks/gpu.py --smoke``.

Measured in one process, same model shape for both sides (throughput does not depend on the weights):

* **Generation** at batch 64 and 256, 256-token random prompts, 512 new tokens (EOS disabled so every row runs to
  length), sampling T=0.6, top-p 0.95, top-k 20 (Qwen3's thinking defaults), bf16: rsft's fast path
  (:class:`rsft.generate.fast.FastGenerator`, CUDA graphs) vs ``model.generate`` (transformers, sdpa, dynamic
  cache). Each side gets one warm-up run at the same shapes, then one timed run. tokens/s = rows x 512 / seconds.
  The **bandwidth bound** is the rate at which every decode step reads the weights once plus the KV cache at the
  mean context (256 + 512/2 = 512 tokens): ``rows / ((weight_bytes + rows * 512 * kv_bytes_per_token) / BW)``,
  with the card's nominal bandwidth from :data:`CARDS`.
* **Greedy match** (bf16): 16 prompts x 128 new tokens, fast path vs ``generate``; fraction of positions with the
  same token (target >= 0.99).
* **Training**: the same rows (a long-CoT length distribution: prompts 64-512 tokens, responses log-normal with a
  median of ~3k tokens, clipped to 15k) for both sides, packed into 16k-token sequences, one sequence per step,
  bf16 autocast over fp32 master weights, AdamW. rsft = ``rsft.train.data.collate`` packing + FlashAttention-2
  varlen (flex attention when flash-attn is absent) + chunked cross-entropy + a memory-sized checkpoint plan +
  per-layer ``torch.compile`` (``rsft.train.kernels``); baseline = TRL ``SFTTrainer`` (packing, sdpa, gradient
  checkpointing, bf16) — the issue's "5.6k tokens/s packed" set-up. tokens/s counts real (non-pad) tokens over the
  timed steps (after warm-up steps); MFU = 6 * N * tokens/s / peak bf16 dense FLOP/s, N = all unique parameters
  (tied head counted once; attention score FLOPs not counted).

Prints a table with ratios and the card's name; writes JSON to ``--out`` (default ``$OUT/gpu_bench.json`` when
``$OUT`` is set, else ``benchmarks/out/gpu_bench.json``, a git-ignored folder). Each section is independent: a failure is recorded and the rest runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

# card name fragment -> (memory bandwidth bytes/s, bf16 dense peak FLOP/s), nominal datasheet values; first match
CARDS: list[tuple[str, float, float]] = [
    ("GH200", 4.0e12, 989e12),
    ("H200", 4.8e12, 989e12),
    ("H100 NVL", 3.9e12, 835e12),
    ("H100 PCIe", 2.0e12, 756e12),
    ("H100", 3.35e12, 989e12),  # SXM ("NVIDIA H100 80GB HBM3")
    ("A100-SXM4-80GB", 2.039e12, 312e12),
    ("A100 80GB PCIe", 1.935e12, 312e12),
    ("A100", 1.555e12, 312e12),  # 40 GB parts
    ("L40S", 0.864e12, 362e12),
]

FULL = dict(
    shape=dict(hidden_size=2048, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
               intermediate_size=6144, vocab_size=151936, head_dim=128),
    batches=[64, 256], prompt=256, new=512, match_prompts=16, match_new=128,
    pack=16384, train_rows=160, warm_steps=2, timed_steps=6, max_response=15000,
)  # fmt: skip
SMOKE = dict(
    shape=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
               intermediate_size=128, vocab_size=512, head_dim=16),
    batches=[4, 8], prompt=16, new=16, match_prompts=4, match_new=12,
    pack=512, train_rows=24, warm_steps=1, timed_steps=2, max_response=400,
)  # fmt: skip
SAMPLING = dict(temperature=0.6, top_p=0.95, top_k=20)


def card_specs(name: str) -> tuple[float, float] | None:
    for frag, bw, flops in CARDS:
        if frag in name:
            return bw, flops
    return None


def build_model(shape: dict[str, int], device: Any, dtype: Any, attn: str = "sdpa") -> Any:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    cfg = Qwen3Config(**shape, tie_word_embeddings=True, max_position_embeddings=40960, rope_theta=1e6,
                      attn_implementation=attn)  # fmt: skip
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen3ForCausalLM(cfg)
    model.generation_config.eos_token_id = None  # random weights: run every row to length
    model.generation_config.pad_token_id = 0
    return model.to(dtype)


def sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- generation --------------------------------------------------------------------------------------------------


def decode_bound(model: Any, rows: int, ctx: float, bandwidth: float) -> dict[str, float]:
    """tokens/s if each decode step only read the weights once and the KV cache at mean context ``ctx``."""
    cfg = model.config
    emb = model.get_input_embeddings().weight
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    # the input embedding is gathered (a few rows), not read; with tied weights the head reads the same matrix
    if not cfg.tie_word_embeddings:
        weight_bytes -= emb.numel() * emb.element_size()
    kv_per_token = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * cfg.head_dim * emb.element_size()
    step_bytes = weight_bytes + rows * ctx * kv_per_token
    return {"weight_bytes": weight_bytes, "kv_bytes_per_token": kv_per_token, "step_bytes": step_bytes,
            "bound_tok_s": rows / (step_bytes / bandwidth)}  # fmt: skip


def time_generate(model: Any, prompts: Any, new: int, device: Any, **sampling: Any) -> float:
    import torch

    ones = torch.ones_like(prompts)
    kw = dict(max_new_tokens=new, min_new_tokens=new, pad_token_id=0, **sampling)
    with torch.inference_mode():
        model.generate(
            prompts, attention_mask=ones, **{**kw, "max_new_tokens": 8, "min_new_tokens": 8}
        )  # warm-up
        sync(device)
        t0 = time.perf_counter()
        out = model.generate(prompts, attention_mask=ones, **kw)
        sync(device)
    assert out.shape[1] == prompts.shape[1] + new
    return time.perf_counter() - t0


def time_fast(gen: Any, prompts: list[list[int]], config: Any, device: Any) -> tuple[float, dict]:
    gen.generate(prompts, config)  # warm-up at the same shapes: captures every CUDA graph the timed run needs
    sync(device)
    t0 = time.perf_counter()
    out = gen.generate(prompts, config)
    sync(device)
    seconds = time.perf_counter() - t0
    assert all(len(c[0].token_ids) == config.max_new_tokens for c in out)
    return seconds, dict(gen.stats)


def bench_generation(p: dict, device: Any, dtype: Any, specs: tuple | None, compile_step: bool) -> dict:
    import torch

    from rsft.generate.base import GenerateConfig
    from rsft.generate.fast import FastGenerator

    model = build_model(p["shape"], device, dtype).eval()
    vocab = p["shape"]["vocab_size"]
    g = torch.Generator().manual_seed(1)
    out: dict[str, Any] = {"rows": []}
    for rows in p["batches"]:
        prompts = torch.randint(0, vocab, (rows, p["prompt"]), generator=g)
        row: dict[str, Any] = {"batch": rows, "prompt": p["prompt"], "new": p["new"]}
        try:
            base_s = time_generate(model, prompts.to(device), p["new"], device, do_sample=True, **SAMPLING)
            row["generate_tok_s"] = rows * p["new"] / base_s
        except Exception as e:  # noqa: BLE001 - recorded, the other measurements still run
            row["generate_error"] = f"{type(e).__name__}: {e}"
        cfg = GenerateConfig(max_new_tokens=p["new"], seed=0, **SAMPLING)
        for graphs in (True, False) if device.type == "cuda" else (False,):
            try:
                gen = FastGenerator(model, None, max_batch=rows, compile=compile_step, cuda_graphs=graphs,
                                    device=device)  # fmt: skip
                fast_s, stats = time_fast(gen, prompts.tolist(), cfg, device)
                row["fast_tok_s"], row["fast_stats"] = rows * p["new"] / fast_s, stats
                row["fast_cuda_graphs"] = graphs
                del gen
                break
            except Exception as e:  # noqa: BLE001 - recorded; without graphs next
                row.setdefault("fast_error", "")
                row["fast_error"] += f"[cuda_graphs={graphs}] {type(e).__name__}: {e} "
                traceback.print_exc()
        if specs is not None:
            row.update(decode_bound(model, rows, p["prompt"] + p["new"] / 2, specs[0]))
        out["rows"].append(row)
        gc.collect()
        torch.cuda.empty_cache() if device.type == "cuda" else None
    out["greedy_match"] = greedy_match(model, p, device)
    del model
    return out


def greedy_match(model: Any, p: dict, device: Any) -> dict:
    import torch

    from rsft.generate.base import GenerateConfig
    from rsft.generate.fast import FastGenerator

    g = torch.Generator().manual_seed(2)
    n, new = p["match_prompts"], p["match_new"]
    prompts = torch.randint(0, p["shape"]["vocab_size"], (n, p["prompt"]), generator=g)
    with torch.inference_mode():
        ref = model.generate(prompts.to(device), attention_mask=torch.ones_like(prompts).to(device),
                             do_sample=False, max_new_tokens=new, min_new_tokens=new, pad_token_id=0)  # fmt: skip
    ref = ref[:, p["prompt"] :].cpu()
    fast = FastGenerator(model, None, max_batch=n, device=device).generate(
        prompts.tolist(), GenerateConfig(max_new_tokens=new)
    )
    got = torch.tensor([c[0].token_ids for c in fast])
    same = (got == ref).float()
    first = [int((row == 0).nonzero()[0]) if (row == 0).any() else new for row in same]
    return {"positions_same": float(same.mean()), "rows_identical": int((same.min(1).values == 1).sum()),
            "rows": n, "new": new, "mean_first_divergence": sum(first) / n}  # fmt: skip


# -- training ----------------------------------------------------------------------------------------------------


def long_cot_rows(p: dict, seed: int = 3) -> list[Any]:
    """Encoded rows with a long-CoT length mix: prompt U[64, 512], response log-normal (median 3k) clipped."""
    import numpy as np

    from rsft.train.data import Encoded

    rng = np.random.default_rng(seed)
    vocab, scale = p["shape"]["vocab_size"], p["pack"] / 16384
    rows = []
    for i in range(p["train_rows"]):
        n_prompt = max(2, int(rng.integers(64, 513) * scale))
        n_resp = int(np.clip(rng.lognormal(math.log(3000), 0.8) * scale, 16 * scale + 1, p["max_response"]))
        n_resp = min(n_resp, p["pack"] - n_prompt)
        ids = rng.integers(10, vocab, n_prompt + n_resp).astype(np.int64)
        rows.append(Encoded(ids, n_prompt, 1.0, i))
    return rows


def pack_bins(rows: list[Any], pack: int) -> list[list[Any]]:
    bins: list[list[Any]] = []
    used: list[int] = []
    for r in rows:
        for b, u in enumerate(used):
            if u + len(r.ids) <= pack:
                bins[b].append(r)
                used[b] += len(r.ids)
                break
        else:
            bins.append([r])
            used.append(len(r.ids))
    return bins


def pad_to(mb: Any, width: int) -> Any:
    """Right-pad a packed micro-batch to ``width`` (one static shape: ``torch.compile`` compiles once). The tail
    restarts its positions, so it is its own block (never attended to) and has no targets."""
    import torch

    from rsft.train.data import IGNORE, MicroBatch

    S, L = mb.input_ids.shape
    if L >= width:
        return mb
    extra = width - L

    def grow(t: torch.Tensor, fill: Any) -> torch.Tensor:
        return torch.cat([t, torch.full((S, extra), fill, dtype=t.dtype)], dim=1)

    pos = torch.cat([mb.position_ids, torch.arange(extra).expand(S, extra)], dim=1)
    return MicroBatch(
        grow(mb.input_ids, 0), pos, None, grow(mb.target, IGNORE), grow(mb.seg, -1), mb.weights, mb.ntok
    )


def bench_rsft_training(
    p: dict, device: Any, rows: list[Any], attn: str | None, compile_layers: bool
) -> dict:
    import torch

    from rsft.train.data import collate
    from rsft.train.kernels import (
        apply_checkpointing,
        checkpoint_plan,
        chunked_micro_batch_loss,
        enable_chunked_loss,
        maybe_compile,
        packing_attn_implementation,
    )

    attn = attn or packing_attn_implementation(device)
    model = build_model(p["shape"], device, torch.float32, attn=attn)
    model.config.use_cache = False
    model.train()
    n_params = sum(q.numel() for q in model.parameters())
    budget = None
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # fp32 grads + Adam states (12 B/param), bf16 weight copies under autocast (2 B/param), 8 GiB head-room
        budget = int(free - 14 * n_params - 8 * 2**30)
    plan = checkpoint_plan(model.config, p["pack"], budget)
    enable_chunked_loss(model)
    apply_checkpointing(model, plan)
    maybe_compile(model, compile_layers and device.type == "cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device.type == "cuda")
    bins = pack_bins(rows, p["pack"])
    steps = p["warm_steps"] + p["timed_steps"]
    tokens, t0 = 0, None
    for step, members in enumerate(bins[:steps]):
        if step == p["warm_steps"]:
            sync(device)
            t0 = time.perf_counter()
        mb = pad_to(collate(members, pad_id=0, packing=True, max_length=p["pack"]), p["pack"]).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            parts = chunked_micro_batch_loss(model, mb, reduction="token_mean", weighting="none",
                                             global_tokens=mb.n_tokens, global_rows=len(members))  # fmt: skip
        parts.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step >= p["warm_steps"]:
            tokens += sum(len(r.ids) for r in members)
    sync(device)
    seconds = time.perf_counter() - t0
    out = {"tok_s": tokens / seconds, "tokens": tokens, "seconds": seconds, "steps": p["timed_steps"],
           "params": n_params, "attn": attn, "compiled": compile_layers, "checkpointed_layers": len(plan),
           "loss": float(parts.objective)}  # fmt: skip
    if device.type == "cuda":
        out["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    del model, opt
    return out


def bench_trl_training(p: dict, device: Any, rows: list[Any], out_dir: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    model = build_model(p["shape"], device, torch.float32, attn="sdpa")
    n_params = sum(q.numel() for q in model.parameters())
    data = Dataset.from_dict({
        "input_ids": [r.ids.tolist() for r in rows],
        "completion_mask": [[0] * r.n_prompt + [1] * (len(r.ids) - r.n_prompt) for r in rows],
    })  # fmt: skip
    steps = p["warm_steps"] + p["timed_steps"]
    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001, ANN201
            sync(device)
            marks.append(time.perf_counter())

    cfg = SFTConfig(
        output_dir=str(out_dir), max_steps=steps, per_device_train_batch_size=1, gradient_accumulation_steps=1,
        max_length=p["pack"], packing=True, gradient_checkpointing=device.type == "cuda",
        bf16=device.type == "cuda", use_cpu=device.type != "cuda", learning_rate=1e-5, logging_steps=1,
        report_to=[], save_strategy="no", completion_only_loss=True, dataloader_num_workers=0, seed=0,
    )  # fmt: skip
    from rsft.toy import build_tokenizer

    # the data is already token ids; TRL still wants a tokenizer (pad id, saving): any small one does
    tok = build_tokenizer(vocab_size=300)
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok, callbacks=[Clock()])
    packed = [len(x) for x in trainer.train_dataset["input_ids"]]
    sync(device)
    start = time.perf_counter()
    trainer.train()
    marks.insert(0, start)
    seconds = marks[-1] - marks[p["warm_steps"]]
    mean_tokens = sum(packed) / len(packed)
    tokens = mean_tokens * p["timed_steps"]
    out = {"tok_s": tokens / seconds, "tokens": tokens, "seconds": seconds, "steps": p["timed_steps"],
           "params": n_params, "packed_sequences": len(packed), "mean_packed_tokens": mean_tokens}  # fmt: skip
    del trainer, model
    return out


def rsft_with_fallbacks(p: dict, device: Any, rows: list[Any], over: Any) -> dict:
    """The fastest set-up first; if it fails (an attention or compile problem on this card/stack), the next one,
    with the earlier errors recorded."""
    import torch

    errors = []
    for attn, comp in ((None, True), ("sdpa", True), ("sdpa", False)):
        if errors and over():
            break
        try:
            t = bench_rsft_training(p, device, rows, attn, comp)
            return {**t, "failed_setups": errors} if errors else t
        except Exception as e:  # noqa: BLE001
            errors.append(f"attn={attn or 'auto'} compile={comp}: {type(e).__name__}: {e}")
            traceback.print_exc()
            gc.collect()
            torch.cuda.empty_cache() if device.type == "cuda" else None
    raise RuntimeError("; ".join(errors))


# -- report ------------------------------------------------------------------------------------------------------


def fmt(x: Any, spec: str = ",.0f") -> str:
    return format(x, spec) if isinstance(x, (int, float)) else "-"


def report(res: dict) -> str:
    lines = [f"device: {res['device']}  ({res['mode']})"]
    gen = res.get("generation", {})
    if gen:
        lines.append("generation (tokens/s)   batch | generate | rsft fast | ratio | bound | fast/bound")
        for r in gen.get("rows", []):
            ratio = r.get("fast_tok_s", 0) / r["generate_tok_s"] if r.get("generate_tok_s") else None
            share = r.get("fast_tok_s", 0) / r["bound_tok_s"] if r.get("bound_tok_s") else None
            lines.append(f"  {r['batch']:>28} | {fmt(r.get('generate_tok_s')):>8} | {fmt(r.get('fast_tok_s')):>9} | "
                         f"{fmt(ratio, '.2f'):>5}x | {fmt(r.get('bound_tok_s')):>6} | {fmt(share, '.1%')}")  # fmt: skip
            for k in ("generate_error", "fast_error"):
                if k in r:
                    lines.append(f"    {k}: {r[k]}")
        m = gen.get("greedy_match", {})
        if m:
            lines.append(f"greedy match: {m['positions_same']:.2%} of positions, {m['rows_identical']}/{m['rows']} "
                         f"rows identical ({m['new']} new tokens)")  # fmt: skip
    tr = res.get("training", {})
    if tr:
        lines.append("training              tokens/s |   MFU")
        for side in ("trl", "rsft"):
            t = tr.get(side, {})
            lines.append(f"  {side:>8} {fmt(t.get('tok_s')):>20} | {fmt(t.get('mfu'), '.1%'):>6}"
                         + (f"   error: {t['error']}" if "error" in t else ""))  # fmt: skip
        if tr.get("rsft", {}).get("tok_s") and tr.get("trl", {}).get("tok_s"):
            lines.append(f"  ratio rsft/trl: {tr['rsft']['tok_s'] / tr['trl']['tok_s']:.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--smoke", action="store_true", help="tiny shape on CPU (< 1 minute): checks the code paths"
    )
    ap.add_argument("--out", default=None, help="JSON path (default $OUT/gpu_bench.json, else benchmarks/out/gpu_bench.json, git-ignored)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["generation", "training", "trl"])
    ap.add_argument(
        "--compile-decode", action="store_true", help="torch.compile the decode step before capture"
    )
    ap.add_argument("--budget-s", type=float, default=450.0, help="skip sections not yet started after this")
    args = ap.parse_args(argv)

    import torch

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not args.smoke and not torch.cuda.is_available():
        print("benchmarks/gpu.py: CUDA is not available here; nothing measured. "
              "Run it on a GPU machine, or use --smoke to check the code paths on CPU.")  # fmt: skip
        return 0
    p = SMOKE if args.smoke else FULL
    device = torch.device("cpu" if args.smoke else "cuda")
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({platform.processor() or 'cpu'})"
    )
    specs = card_specs(name) if device.type == "cuda" else None
    dtype = torch.float32 if args.smoke else torch.bfloat16
    res: dict[str, Any] = {"device": name, "mode": "smoke" if args.smoke else "full", "torch": torch.__version__,
                           "card_specs": {"bandwidth_bytes_s": specs[0], "bf16_flops": specs[1]} if specs else None,
                           "params": {k: v for k, v in p.items()}, "sampling": SAMPLING}  # fmt: skip
    start = time.perf_counter()
    default_dir = Path(os.environ["OUT"]) if os.environ.get("OUT") else Path(__file__).resolve().parent / "out"
    out_path = Path(args.out) if args.out else default_dir / "gpu_bench.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)

    def over() -> bool:
        return time.perf_counter() - start > args.budget_s

    if "generation" not in args.skip:
        try:
            res["generation"] = bench_generation(p, device, dtype, specs, args.compile_decode)
        except Exception as e:  # noqa: BLE001
            res["generation"] = {"error": f"{type(e).__name__}: {e}"}
            traceback.print_exc()
    if "training" not in args.skip:
        rows = long_cot_rows(p)
        res["training"] = {"rows": len(rows), "row_tokens": sum(len(r.ids) for r in rows)}
        for side in ("rsft", "trl"):
            if side in args.skip:
                continue
            if over():
                res["training"][side] = {"error": "skipped: time budget spent"}
                continue
            try:
                if side == "rsft":
                    t = rsft_with_fallbacks(p, device, rows, over)
                else:
                    t = bench_trl_training(p, device, rows, out_path.parent / "trl_tmp")
                if specs is not None:
                    t["mfu"] = 6 * t["params"] * t["tok_s"] / specs[1]
                res["training"][side] = t
            except Exception as e:  # noqa: BLE001
                res["training"][side] = {"error": f"{type(e).__name__}: {e}"}
                traceback.print_exc()
            gc.collect()
            torch.cuda.empty_cache() if device.type == "cuda" else None
    res["seconds"] = time.perf_counter() - start
    print(report(res))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(res, indent=2, default=str))
    print(f"wrote {out_path} ({res['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
