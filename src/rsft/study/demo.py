"""``rsft demo``: the whole loop on a CPU in minutes — the embedded default.

Two tiny Qwen3 bases ship with rsft (``src/rsft/toy/bases``: a weak ~0.18M-parameter one and a strong ~0.85M one,
pretrained by ``scripts/build_toy_bases.py`` on the toy domain mixture — refusals of harmful toy requests and a
share of toy Countdown included — so there is a base capability, an in-domain skill and a safety behaviour to
gain or lose; their measured accuracies are in each ``build.json``). The demo fine-tunes them on toy Countdown long-CoT,
on its no-CoT variant and on a low-quality variant (wrong answers, cut reasoning), sweeps every checkpoint on every
toy domain (in-domain Countdown, arithmetic, sorting, multiple choice, instruction following, safety), analyses
the store and writes the HTML report. It is an ordinary study: the study file it runs is written beside the
results, and ``rsft study rsft-demo/study.yaml`` reruns (or continues) it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rsft._util.progress import Progress, Say, quiet

BASES_DIR = Path(__file__).resolve().parents[1] / "toy" / "bases"


def toy_suite(items: int) -> dict[str, Any]:
    """The packaged toy suite (``rsft/suites/toy.yaml``, the one home of its benchmarks and sampling) with
    ``items`` items per benchmark, on the CPU in float32 (bitwise-reproducible)."""
    from rsft.config import read_yaml
    from rsft.eval.config import resolve_suite

    suite = read_yaml(resolve_suite("toy"))
    suite["name"] = "demo"
    for bench in suite["benchmarks"]:
        bench.setdefault("options", {})["n_items"] = items
    suite["backend"] = {**suite.get("backend", {}), "device": "cpu", "dtype": "float32"}
    return suite


def demo_study(out_dir: Path, *, quick: bool) -> dict[str, Any]:
    """The demo's study config as a dict (written to ``out_dir/study.yaml``)."""
    bases = ["small"] if quick else ["small", "large"]
    variants = ["cot", "nocot"] if quick else ["cot", "nocot", "lowq"]
    steps = 60 if quick else 120
    n_rows = 2000
    items = 40 if quick else 64
    datasets = {
        "countdown-cot": {"build": {"task": "countdown", "n": n_rows, "seed": 1, "style": "cot"},
                          "quality": "verified-long-cot"},
        "countdown-nocot": {"build": {"task": "countdown", "n": n_rows, "seed": 1, "style": "cot", "variant": "nocot"},
                            "quality": "no-cot"},
        "countdown-lowq": {"build": {"task": "countdown", "n": n_rows, "seed": 1, "style": "cot",
                                     "variant": "lowquality",
                                     "variant_options": {"wrong_rate": 0.5, "truncate_rate": 0.5}},
                           "quality": "low-quality"},
    }  # fmt: skip
    suite = toy_suite(items)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    return {
        "study": {"name": "study", "output_dir": str(out_dir.parent if out_dir.name == "study" else out_dir),
                  "seed": 0, "description": "rsft demo: toy Countdown SFT on tiny Qwen3 bases"},
        "models": {
            b: {"path": str(BASES_DIR / b), "capability": {"small": "weak", "large": "strong"}[b],
                "params_b": _params(b)}
            for b in bases
        },
        "datasets": {f"countdown-{v}": datasets[f"countdown-{v}"] for v in variants},
        "train": {
            "model": {"dtype": "float32"},
            "data": {"max_length": 256},
            "schedule": {"lr": 6e-4, "scheduler": "cosine", "warmup_ratio": 0.1, "max_steps": steps,
                         "global_batch": 16, "micro_batch": 16, "shuffle": False, "seed": 0},
            "checkpoints": {"steps": [5, 10, 20, 40, 80] if not quick else [5, 10, 20, 40], "keep": "all"},
        },
        "matrix": [{"finding": "data", "models": bases, "datasets": [f"countdown-{v}" for v in variants]}],
        "eval": {"suite": str(out_dir / "suite.yaml"), "steps": "all"},
        "analysis": {"in_domain": ["toy_countdown"], "seed": 0},
        "budget": {"gpus_per_run": 1, "train_tokens_per_gpu_s": 5000, "gen_tokens_per_gpu_s": 5000},
    }  # fmt: skip


def _params(base: str) -> float | None:
    import json

    try:
        return json.loads((BASES_DIR / base / "build.json").read_text())["parameters"] / 1e9
    except (OSError, KeyError, ValueError):
        return None


def run_demo(
    out_dir: Path, *, quick: bool, say: Say | None = None, progress: Progress | None = None
) -> Any:
    """Write the demo study (and its suite) into ``out_dir`` and run it; returns the StudyResult."""
    from rsft._util.errors import RsftError
    from rsft.config import build_config
    from rsft.study.config import StudyConfig
    from rsft.study.run import run_study

    missing = [b for b in ("small", "large") if not (BASES_DIR / b / "model.safetensors").is_file()]
    if missing:
        raise RsftError(
            f"the toy base models {missing} are missing from {BASES_DIR}",
            fix="rebuild them with `python scripts/build_toy_bases.py` from a source checkout",
        )
    out_dir = Path(out_dir) / ("quick" if quick else "full")
    data = demo_study(out_dir, quick=quick)
    data["study"]["output_dir"] = str(out_dir.parent)
    data["study"]["name"] = out_dir.name
    (out_dir / "study.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = build_config(StudyConfig, data, source=str(out_dir / "study.yaml"))
    return run_study(cfg, say=say or quiet, progress=progress)


def _fmt(iv: dict[str, Any] | None) -> str:
    if not iv or iv.get("est") is None:
        return "n/a"
    lo, hi = iv.get("lo"), iv.get("hi")
    ci = f" [{lo:+.2f}, {hi:+.2f}]" if lo is not None and hi is not None else ""
    return f"{iv['est']:+.2f}{ci}"


def summary_lines(result: Any) -> list[str]:
    """A few lines for the terminal, read from the analysis (the report has everything, with methods)."""
    import json

    if result.analysis_dir is None:
        return []
    a = json.loads((Path(result.analysis_dir) / "analysis.json").read_text())
    spec = a.get("spec", {})
    lines = [
        f"[bold]what happened[/] (final checkpoint − base, 95% interval; {spec.get('method', 'bootstrap')}, "
        f"B={spec.get('B')}, seed={spec.get('seed')}):"
    ]
    by_run: dict[str, dict[str, dict]] = {}
    for d in a.get("domain_curves", []):
        by_run.setdefault(d["run"], {})[d["domain"]] = d
    for run, domains in by_run.items():
        parts = []
        for name in ("in-domain", "out-of-domain", "general", "safety"):
            det = (domains.get(name) or {}).get("detector") or {}
            if det:
                parts.append(f"{name} {_fmt(det.get('final_gain'))} ({det.get('class')})")
        lines.append(f"  {run}: " + "; ".join(parts))
    for w in a.get("early_warnings", [])[:3]:
        if w.get("verdict") != w.get("final_verdict"):
            lines.append(f"  [yellow]early checkpoint[/] {w['run']} {w['name']}: {w['text']}")
    return lines
