"""Build the two toy base models that ship with rsft (src/rsft/toy/bases/{small,large}).

Run from the repository root:  python scripts/build_toy_bases.py [--minutes-small 5 --minutes-large 9]

What it does, reproducibly (seeds fixed, recorded in each base's build.json):
1. trains the toy tokenizer on ``rsft.tasks.toyworld.tokenizer_corpus(seed=0)``;
2. initialises two tiny Qwen3 models ("small" and "large": the weak and the strong base of the demo);
3. pretrains each with ``rsft train`` on the toy mixture (arithmetic, sorting, multiple choice, instruction
   following, safety refusals and benign look-alikes, and a share of toy Countdown with its short search trace, so
   the bases have some in-domain skill for SFT to build on, as real base models have some math), lr 1e-3 cosine;
4. copies the final checkpoint (weights, config, tokenizer) into the package with build.json.

The demo only reads the result, so a laptop run takes minutes instead of the ~15 minutes this script takes on
2 CPU cores. The step counts are fixed (not time-based) so the output is a pure function of the code and seeds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from rsft._util.provenance import provenance
from rsft.data.io import write_sft
from rsft.tasks.toyworld import TOY_TASKS, tokenizer_corpus, toy_mixture
from rsft.toy import build_tokenizer, tiny_qwen3
from rsft.train.config import TrainConfig
from rsft.train.sft import train

BASE_TASKS = (*TOY_TASKS, "countdown")
OUT = Path(__file__).resolve().parents[1] / "src" / "rsft" / "toy" / "bases"
VOCAB = 512
SHAPES = {
    "small": dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, intermediate_size=192),
    "large": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, intermediate_size=384),
}  # fmt: skip


def build(name: str, steps: int, n_per_task: int, work: Path, tok, data_path: Path) -> dict:
    init_dir = work / f"init-{name}"
    model = tiny_qwen3(tok, "micro", seed=0, out_dir=init_dir, **SHAPES[name])
    params = sum(p.numel() for p in model.parameters())
    cfg = TrainConfig.model_validate(
        {
            "model": {"path": str(init_dir), "dtype": "float32"},
            "data": {"path": str(data_path), "max_length": 256},
            "schedule": {"lr": 1e-3, "scheduler": "cosine", "warmup_ratio": 0.05, "max_steps": steps,
                         "global_batch": 32, "micro_batch": 32, "shuffle": True, "seed": 0, "weight_decay": 0.1},
            "checkpoints": {"steps": [steps], "keep": 2},
            "output_dir": str(work / "runs"),
            "run_name": f"toybase-{name}",
        }
    )  # fmt: skip
    t0 = time.time()
    result = train(cfg, overwrite=True)
    seconds = time.time() - t0
    dest = OUT / name
    if dest.exists():
        shutil.rmtree(dest)
    final = result.checkpoints[-1][1]
    shutil.copytree(final, dest, ignore=shutil.ignore_patterns("COMPLETE", "meta.json", ".rsft_*"))
    info = {
        "name": name,
        "parameters": params,
        "shape": SHAPES[name],
        "vocab_size": len(tok),
        "pretraining": {"tasks": list(BASE_TASKS), "rows_per_task": n_per_task, "data_seed": 0, "steps": steps,
                        "global_batch": 32, "lr": 1e-3, "scheduler": "cosine", "final_loss": result.final_loss,
                        "tokens_seen": result.tokens_seen, "seconds": round(seconds, 1)},
        "weights_hash": result.weights_hash,
        "built_by": "scripts/build_toy_bases.py",
        "provenance": provenance(),
    }  # fmt: skip
    (dest / "build.json").write_text(json.dumps(info, indent=2))
    return info


def evaluate_base(dest: Path, n_items: int = 100) -> dict:
    """Greedy accuracy of a built base on every toy domain (held-out items), recorded in its build.json."""
    from rsft.eval.config import SuiteConfig
    from rsft.eval.plan import model_target
    from rsft.eval.runner import run_sweep
    from rsft.study.demo import TOY_COUNTDOWN_EVAL

    names = ["toy_countdown", "toy_arith", "toy_sort", "toy_mcq", "toy_instruct", "toy_safety"]
    suite = SuiteConfig.model_validate(
        {
            "name": "base-check",
            "generation": {"temperature": 0.0, "max_new_tokens": 160},
            "backend": {"kind": "hf", "batch_size": 64, "device": "cpu", "dtype": "float32"},
            "benchmarks": [
                {
                    "name": n,
                    "options": {
                        "n_items": n_items,
                        **({"settings": TOY_COUNTDOWN_EVAL} if n == "toy_countdown" else {}),
                    },
                }
                for n in names
            ],
        }
    )
    with tempfile.TemporaryDirectory() as store:
        from rsft.eval.store import Store

        run_sweep(suite, store, targets=[model_target(str(dest), dest)])
        frame = Store(store).frame()
    acc = {b: round(float(g["score"].mean()), 3) for b, g in frame.groupby("benchmark")}
    info = json.loads((dest / "build.json").read_text())
    info["accuracy"] = {"greedy": acc, "n_items": n_items, "item_seed": "benchmark default (held out)"}
    (dest / "build.json").write_text(json.dumps(info, indent=2))
    return acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps-small", type=int, default=2500)
    ap.add_argument("--steps-large", type=int, default=1500)
    ap.add_argument("--rows-per-task", type=int, default=16000)
    ap.add_argument("--only", choices=["small", "large"], default=None)
    ap.add_argument("--eval-only", action="store_true", help="only (re)measure the built bases' accuracies")
    args = ap.parse_args()
    if args.eval_only:
        for name in ("small", "large"):
            if args.only in (None, name):
                print(name, evaluate_base(OUT / name))
        return
    work = Path(tempfile.mkdtemp(prefix="rsft-toybases-"))
    tok = build_tokenizer(tokenizer_corpus(seed=0), vocab_size=VOCAB)
    rows = toy_mixture(args.rows_per_task, seed=0, tasks=BASE_TASKS)
    data_path = work / "mixture.jsonl"
    write_sft(rows, data_path, card={"source": "rsft.tasks.toyworld.toy_mixture", "seed": 0})
    for name in ("small", "large"):
        if args.only and name != args.only:
            continue
        steps = args.steps_small if name == "small" else args.steps_large
        info = build(name, steps, args.rows_per_task, work, tok, data_path)
        print(json.dumps(info["pretraining"]), evaluate_base(OUT / name))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
