"""``rsft demo``: the whole loop on a CPU in minutes — the embedded default.

Two tiny Qwen3 bases ship with rsft (``src/rsft/toy/bases``: a weak ~0.18M-parameter one and a strong ~0.85M one,
pretrained by ``scripts/build_toy_bases.py`` on the same toy mixture for the same steps — arithmetic, sorting,
multiple choice, instruction following, refusals of harmful toy requests — and never on Countdown solving; their
measured accuracies are in each ``build.json``). The demo fine-tunes the strong base on toy Countdown long-CoT, on
its no-CoT variant and on a low-quality variant (wrong answers, cut reasoning), and the weak base on long-CoT; it
sweeps every checkpoint on every toy domain of the packaged ``toy`` suite (in-domain Countdown, arithmetic,
sorting, multiple choice, instruction following, safety with seen and held-out phrasings), analyses the store
and writes the HTML report, whose first screen answers the paper's four questions. It is an ordinary study: the
study file it runs is written beside the results, and ``rsft study rsft-demo/full/study.yaml`` reruns (or
continues) it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rsft._util.progress import Progress, Say, quiet

BASES_DIR = Path(__file__).resolve().parents[1] / "toy" / "bases"

# (full, quick): the measurement sizes. Items per domain and checkpoints decide the intervals' width; see
# docs/performance.md for where the demo's time goes. Safety gets three times the items in the full demo: it is one
# benchmark (out of domain pools four), its answers are short (cheap to generate), and at 160 items its final − base
# interval was ±0.13, too wide for effects of 0.1.
ITEMS = {"full": 160, "quick": 64}
SAFETY_ITEMS = {"full": 480, "quick": 64}
STEPS = {"full": 150, "quick": 60}
CHECKPOINTS = {"full": [10, 25, 50, 100], "quick": [10, 20, 40]}
LR = 4e-4


def demo_study(out_dir: Path, *, quick: bool) -> dict[str, Any]:
    """The demo's study config as a dict (written to ``out_dir/study.yaml``).

    The matrix asks the four questions with as few runs as they need: the strong base on the three data kinds
    (which data transfers; safety), the weak base on long-CoT (procedure or verbosity). ``--quick`` runs the weak
    base on long-CoT and no-CoT only.
    """
    size = "quick" if quick else "full"
    items = ITEMS[size]
    n_rows = 2400
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
    if quick:
        matrix = [{"finding": "data", "models": ["small"], "datasets": ["countdown-cot", "countdown-nocot"]}]
    else:
        matrix = [
            {"finding": "data", "models": ["large"], "datasets": ["countdown-cot", "countdown-nocot", "countdown-lowq"]},
            {"finding": "capability", "models": ["small"], "datasets": ["countdown-cot"]},
        ]  # fmt: skip
    bases = sorted({m for entry in matrix for m in entry["models"]})
    used = sorted({d for entry in matrix for d in entry["datasets"]})
    # the packaged toy suite (rsft/suites/toy.yaml), sized for the demo; safety on seen and held-out phrasings
    sizes = {b: SAFETY_ITEMS[size] if b == "toy_safety" else items for b in TOY_BENCHMARKS}
    suite_overrides = [f"benchmarks.{b}.options.n_items={n}" for b, n in sizes.items()]
    suite_overrides += ["benchmarks.toy_safety.options.settings={phrasings: all}", "backend.batch_size=160"]
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "study": {"name": "study", "output_dir": str(out_dir.parent if out_dir.name == "study" else out_dir),
                  "seed": 0, "description": "rsft demo: toy Countdown SFT on tiny Qwen3 bases"},
        "models": {
            b: {"path": str(BASES_DIR / b), "capability": {"small": "weak", "large": "strong"}[b],
                "params_b": _params(b)}
            for b in bases
        },
        "datasets": {d: datasets[d] for d in used},
        "train": {
            "model": {"dtype": "float32"},
            "data": {"max_length": 320},
            "packing": True,
            "schedule": {"lr": LR, "scheduler": "cosine", "warmup_ratio": 0.1, "max_steps": STEPS[size],
                         "global_batch": 16, "micro_batch": 16, "shuffle": False, "seed": 0},
            "checkpoints": {"steps": CHECKPOINTS[size], "keep": "all"},
        },
        "matrix": matrix,
        "eval": {"suite": "toy", "suite_overrides": suite_overrides, "steps": "all"},
        "analysis": {"in_domain": ["toy_countdown"], "seed": 0},
        "budget": {"gpus_per_run": 1, "train_tokens_per_gpu_s": 5000, "gen_tokens_per_gpu_s": 5000},
    }  # fmt: skip


TOY_BENCHMARKS = ("toy_countdown", "toy_arith", "toy_sort", "toy_mcq", "toy_instruct", "toy_safety")


def _params(base: str) -> float | None:
    import json

    try:
        return json.loads((BASES_DIR / base / "build.json").read_text())["parameters"] / 1e9
    except (OSError, KeyError, ValueError):
        return None


def run_demo(
    out_dir: Path,
    *,
    quick: bool,
    say: Say | None = None,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> Any:
    """Write the demo study into ``out_dir/{quick,full}`` and run it stage by stage; returns the StudyResult.

    Training and sweeps run in ``jobs`` worker processes of one intra-op thread each (default: one per core, at
    most one per run; :mod:`rsft.study.parallel`; the results do not depend on it). Each stage is timed (wall, and
    CPU seconds of this process and its workers, which a busy machine inflates less) and the machine's load
    average is recorded before and after, in ``demo.json`` beside the study: where the demo's time goes, measured
    on every run.
    """
    import json
    import os
    import resource
    import time

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

    def cpu() -> float:  # this process and its finished workers
        return sum(
            r.ru_utime + r.ru_stime
            for r in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
        )

    marks: list[tuple[str, float, float]] = []
    say = say or quiet

    said_once: set[str] = set()

    def said(msg: str) -> None:
        if msg in ("analysing the store", "rendering the report"):
            marks.append((msg.split()[0], time.perf_counter(), cpu()))
        # each stage below reruns the study up to it, which re-reports the runs' workers and finished sweeps: the
        # demo says each of those once (the first time, with the counts that stage generated)
        key = msg.split(":", 1)[0] if msg.startswith("swept ") else msg if "worker processes" in msg else None
        if key is not None:
            if key in said_once:
                return
            said_once.add(key)
        say(msg)

    import torch

    from rsft.study.matrix import resolve_runs

    jobs = jobs or max(1, min(os.cpu_count() or 1, len(resolve_runs(cfg))))
    timing: dict[str, dict[str, float]] = {}
    load0 = os.getloadavg()[0]
    result = None
    # One intra-op thread: sub-million-parameter models gain nothing from a second one, and on a shared machine
    # two threads make every small op wait for a descheduled peer (20-70x slower; docs/performance.md, Threads).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for stage in ("data", "train", "sweep", None):
            t0, c0 = time.perf_counter(), cpu()
            # the last stage (analysis, report) only checks the finished sweeps: no workers to start
            result = run_study(cfg, say=said, progress=progress, stop_after=stage, jobs=jobs if stage else 1,
                               threads=1)  # fmt: skip
            timing[stage or "analysis+report"] = {"wall_s": time.perf_counter() - t0, "cpu_s": cpu() - c0}
    finally:
        torch.set_num_threads(threads)
    if len(marks) == 2:  # split the last stage at "rendering the report"
        (_, ta, ca), (_, tr, cr) = marks
        end = timing["analysis+report"]
        timing["analysis"] = {"wall_s": tr - ta, "cpu_s": cr - ca}
        timing["report"] = {"wall_s": end["wall_s"] - (tr - ta), "cpu_s": end["cpu_s"] - (cr - ca)}
        del timing["analysis+report"]
    info = {
        "mode": "quick" if quick else "full",
        "stages": {k: {m: round(x, 1) for m, x in v.items()} for k, v in timing.items()},
        "wall_s": round(sum(v["wall_s"] for v in timing.values()), 1),
        "cpu_s": round(sum(v["cpu_s"] for v in timing.values()), 1),
        "load_avg_1min": {"start": round(load0, 2), "end": round(os.getloadavg()[0], 2)},
        "cores": os.cpu_count(),
        "jobs": jobs,
    }
    (out_dir / "demo.json").write_text(json.dumps(info, indent=2))
    return result


def timing_lines(result: Any) -> list[str]:
    """Where the demo's time went (from ``demo.json``)."""
    import json

    path = Path(result.study_dir) / "demo.json"
    if not path.is_file():
        return []
    info = json.loads(path.read_text())
    parts = ", ".join(f"{k} {v['wall_s']:.0f} s" for k, v in info["stages"].items())
    load = info["load_avg_1min"]
    return [
        f"time: {info['wall_s']:.0f} s wall ({parts}); {info['cpu_s']:.0f} s CPU in this process and its "
        f"{info.get('jobs', 1)} worker{'s' * (info.get('jobs', 1) != 1)}; load average {load['start']:.1f} → "
        f"{load['end']:.1f} on {info['cores']} cores"
    ]


def findings_of(result: Any) -> list[Any]:
    """The four findings (:func:`rsft.report.findings.four_findings`) of a finished demo's analysis."""
    import json

    from rsft.report.findings import four_findings

    if result.analysis_dir is None:
        return []
    return four_findings(json.loads((Path(result.analysis_dir) / "analysis.json").read_text()))


def summary_lines(result: Any) -> list[str]:
    """The terminal summary: what happened to each domain and what is recommended (the report's first lines), then
    which of the paper's four findings this run reproduced, with its numbers."""
    import json

    from rsft.report.findings import headline

    out = []
    if result.analysis_dir is not None:
        lines = headline(json.loads((Path(result.analysis_dir) / "analysis.json").read_text()))
        out += ["what happened:"] + ["  " + s for s in lines[:-1]]
    out += ["the paper's four findings, as measured in this run (final − base, 95% intervals):"]
    for i, f in enumerate(findings_of(result), 1):
        out.append(f"  {i}. {f.question} {f.verdict}")
        out.append("     " + f.text)  # plain text: the CLI prints it as written
    return out


README_START = "<!-- rsft-demo-findings:start (written by scripts/update_readme_demo.py; do not edit) -->"
README_END = "<!-- rsft-demo-findings:end -->"


def findings_record(study_dir: Path) -> dict[str, Any]:
    """What a finished demo found, for the README: the four findings, the timing and where they came from."""
    import json
    from dataclasses import asdict

    from rsft.report.findings import four_findings

    study_dir = Path(study_dir)
    analysis = json.loads((study_dir / "analysis" / "analysis.json").read_text())
    timing = json.loads((study_dir / "demo.json").read_text())
    return {
        "findings": [asdict(f) for f in four_findings(analysis)],
        "timing": timing,
        "runs": sorted(analysis["runs"]),
        "spec": analysis["spec"],
        "created_at": analysis["created_at"],
        "git": analysis.get("git"),
        "rsft_version": analysis.get("rsft_version"),
    }


def readme_block(record: dict[str, Any]) -> str:
    """The README's demo-findings block (Markdown between the markers) from :func:`findings_record`."""
    t, spec = record["timing"], record["spec"]
    git = record.get("git") or {}
    commit = (git.get("commit") or "unknown")[:10] + (" + uncommitted changes" if git.get("dirty") else "")
    stages = ", ".join(f"{k} {v['wall_s']:.0f} s" for k, v in t["stages"].items())
    lines = [
        README_START,
        f"What the last full `rsft demo` measured ({len(record['runs'])} runs; analysis of {record['created_at']}, "
        f"commit `{commit}`; {t['wall_s']:.0f} s wall on {t['cores']} cores at load average "
        f"{t['load_avg_1min']['start']:.1f}–{t['load_avg_1min']['end']:.1f}: {stages}). Intervals: final − base, "
        f"{spec['level']:.0%} bootstrap (B={spec['B']}, seed={spec['seed']}); n items, k samples per item.",
        "",
        "| the paper's finding | this demo | as measured |",
        "|---|---|---|",
    ]
    for f in record["findings"]:
        lines.append(f"| {f['claim']} | **{f['verdict']}** | {f['text'].replace('|', '/')} |")
    lines.append(README_END)
    return "\n".join(lines)


def rewrite_readme(readme: Path, record: dict[str, Any]) -> str:
    """Replace the block between the markers in ``readme`` with :func:`readme_block`; returns the new text.

    Raises:
        RsftError: the README has no (or a broken) findings block.
    """
    from rsft._util.errors import RsftError

    text = Path(readme).read_text()
    if text.count(README_START) != 1 or text.count(README_END) != 1:
        raise RsftError(
            "the README has no demo findings block",
            file=str(readme),
            fix=f"add {README_START} ... {README_END}",
        )
    head, rest = text.split(README_START)
    _, tail = rest.split(README_END)
    new = head + readme_block(record) + tail
    Path(readme).write_text(new)
    return new
