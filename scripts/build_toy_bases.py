"""Build the two toy base models that ship with rsft (src/rsft/toy/bases/{small,large}).

Run from the repository root:  python scripts/build_toy_bases.py [--steps 1000] [--only small|large]

Probes (what `docs/performance.md` reports as tried and not shipped) write elsewhere with ``--out DIR`` and change the
mixture with ``--rows TASK=N`` (that task's row count; 0 drops it) and ``--setting TASK.KEY=VALUE`` (a task generator
setting, YAML-parsed), e.g. arithmetic alone on version 2's 1–2 digit terms:

    python scripts/build_toy_bases.py --only large --out /tmp/probe --rows toy_sort=0 --rows toy_mcq=0 \
        --rows toy_instruct=0 --rows toy_safety=0 --setting toy_arith.max_digits=2

What it does, reproducibly (seeds fixed, recorded in each base's build.json):
1. trains the toy tokenizer on ``rsft.tasks.toyworld.tokenizer_corpus(seed=0)`` (Countdown text included, so the
   vocabulary covers it; the tokenizer teaches no skill);
2. initialises two tiny Qwen3 models ("small" and "large": the weak and the strong base of the demo);
3. pretrains each with ``rsft train`` on the same toy mixture, for the same steps and batch (so the two bases differ
   in capacity only, not in what they were shown): arithmetic, sorting, multiple choice, instruction following,
   safety refusals and benign look-alikes (seen phrasings only). Countdown solving is NOT in the mixture: the
   demo's SFT is the first time a base sees it, so fine-tuning on traces has room to lift it;
4. copies the final checkpoint (weights, config, tokenizer) into the package with build.json, then measures each
   base on every toy domain (held-out items; safety on seen and held-out phrasings) and records it there.

The demo only reads the result. Step counts are fixed (not time-based) so the output is a pure function of the code
and seeds (on the same hardware and thread count: one intra-op thread per base, so the two can build in parallel).
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
from rsft.tasks.toyworld import TOY_TASKS, task_rows, tokenizer_corpus, toy_mixture
from rsft.toy import build_tokenizer, tiny_qwen3
from rsft.train.config import TrainConfig
from rsft.train.sft import train

BASE_TASKS = TOY_TASKS  # no Countdown: see the module docstring
OUT = Path(__file__).resolve().parents[1] / "src" / "rsft" / "toy" / "bases"
VOCAB = 512
LR = 2e-3
BATCH = 32
SHAPES = {
    "small": dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, intermediate_size=192),
    "large": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, intermediate_size=384),
}  # fmt: skip


def build(
    name: str,
    steps: int,
    n_per_task: int,
    work: Path,
    tok,
    data_path: Path,
    out: Path = OUT,
    mixture: dict | None = None,
) -> dict:
    init_dir = work / f"init-{name}"
    model = tiny_qwen3(tok, "micro", seed=0, out_dir=init_dir, **SHAPES[name])
    params = sum(p.numel() for p in model.parameters())
    cfg = TrainConfig.model_validate(
        {
            "model": {"path": str(init_dir), "dtype": "float32"},
            "data": {"path": str(data_path), "max_length": 256},
            "schedule": {"lr": LR, "scheduler": "cosine", "warmup_ratio": 0.05, "max_steps": steps,
                         "global_batch": BATCH, "micro_batch": BATCH, "shuffle": True, "seed": 0, "weight_decay": 0.1},
            "checkpoints": {"steps": [steps], "keep": 2},
            "packing": True,
            "output_dir": str(work / "runs"),
            "run_name": f"toybase-{name}",
        }
    )  # fmt: skip
    t0 = time.time()
    result = train(cfg, overwrite=True)
    seconds = time.time() - t0
    dest = out / name
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
                        "global_batch": BATCH, "packing": True,
                        "lr": LR, "scheduler": "cosine", "threads": 1, "final_loss": result.final_loss,
                        "tokens_seen": result.tokens_seen, "seconds": round(seconds, 1)},
        "weights_hash": result.weights_hash,
        "built_by": "scripts/build_toy_bases.py",
        "provenance": provenance(),
    }  # fmt: skip
    if mixture:  # a probe's --rows/--setting overrides
        info["pretraining"]["mixture"] = mixture
    (dest / "build.json").write_text(json.dumps(info, indent=2))
    return info


def evaluate_base(dest: Path, n_items: int = 100) -> dict:
    """Greedy accuracy of a built base on every toy domain (held-out items), recorded in its build.json."""
    from rsft.eval.config import SuiteConfig
    from rsft.eval.plan import model_target
    from rsft.eval.runner import run_sweep

    names = ["toy_countdown", "toy_arith", "toy_sort", "toy_mcq", "toy_instruct", "toy_safety"]
    settings = {"toy_safety": {"phrasings": "all"}}  # Countdown: the toy form, toy_countdown's default
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
                        **({"settings": settings[n]} if n in settings else {}),
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


def probe_mixture(n_per_task: int, rows: list[str], settings: list[str]) -> tuple[list, dict]:
    """The mixture with ``--rows``/``--setting`` overrides: per-task rows, interleaved round-robin like ``toy_mixture``."""
    import yaml

    counts = {t: n_per_task for t in BASE_TASKS}
    for item in rows:
        task, _, n = item.partition("=")
        if task not in counts or not n.isdigit():
            raise SystemExit(f"--rows {item!r}: expected TASK=N with TASK one of {', '.join(BASE_TASKS)}")
        counts[task] = int(n)
    per_settings: dict[str, dict] = {}
    for item in settings:
        key, _, value = item.partition("=")
        task, _, name = key.partition(".")
        if task not in counts or not name or not value:
            raise SystemExit(
                f"--setting {item!r}: expected TASK.KEY=VALUE with TASK one of {', '.join(BASE_TASKS)}"
            )
        per_settings.setdefault(task, {})[name] = yaml.safe_load(value)
    per_task = [task_rows(t, n, 0, style="cot", **per_settings.get(t, {})) for t, n in counts.items() if n]
    mixed = [r[i] for i in range(max(counts.values())) for r in per_task if i < len(r)]
    return mixed, {"rows": {t: n for t, n in counts.items()}, "settings": per_settings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=450, help="pretraining steps, the same for both bases")
    ap.add_argument("--rows-per-task", type=int, default=16000)
    ap.add_argument("--only", choices=["small", "large"], default=None)
    ap.add_argument("--eval-only", action="store_true", help="only (re)measure the built bases' accuracies")
    ap.add_argument(
        "--out", type=Path, default=OUT, help="where the bases go (default: the package's; probes elsewhere)"
    )
    ap.add_argument(
        "--rows", action="append", default=[], metavar="TASK=N", help="probe: one task's row count"
    )
    ap.add_argument(
        "--setting", action="append", default=[], metavar="TASK.KEY=VALUE", help="probe: a task setting"
    )
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.eval_only:
        for name in ("small", "large"):
            if args.only in (None, name):
                print(name, evaluate_base(args.out / name))
        return
    if (args.rows or args.setting) and args.out.resolve() == OUT.resolve():
        raise SystemExit(
            "--rows/--setting build a probe: give it --out DIR (the shipped bases use the plain mixture)"
        )
    work = Path(tempfile.mkdtemp(prefix="rsft-toybases-"))
    tok = build_tokenizer(tokenizer_corpus(seed=0), vocab_size=VOCAB)
    if args.rows or args.setting:
        rows, card = probe_mixture(args.rows_per_task, args.rows, args.setting)
    else:
        rows, card = toy_mixture(args.rows_per_task, seed=0, tasks=BASE_TASKS), {}
    data_path = work / "mixture.jsonl"
    write_sft(rows, data_path, card={"source": "rsft.tasks.toyworld.toy_mixture", "seed": 0, **card})
    for name in ("small", "large"):
        if args.only and name != args.only:
            continue
        info = build(name, args.steps, args.rows_per_task, work, tok, data_path, out=args.out, mixture=card)
        print(json.dumps(info["pretraining"]), evaluate_base(args.out / name))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
