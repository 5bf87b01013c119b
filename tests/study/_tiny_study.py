"""A tiny two-run study (one micro model, Countdown CoT and no-CoT data, 3 toy benchmarks x 8 items), written into a
folder, and the parts of its analysis and report that do not depend on where or when it ran: shared by the tests that
run the same study under different engines (one process, --jobs, a kill and resume, a Slurm array)."""

from __future__ import annotations

import json
from pathlib import Path

STUDY = """
study: {{name: tiny, output_dir: out, seed: 0}}
models:
  micro: {{path: {model}, capability: weak}}
datasets:
  cd-cot: {{build: {{task: countdown, n: 96, seed: 1, style: cot}}, quality: verified-long-cot}}
  cd-nocot: {{build: {{task: countdown, n: 96, seed: 1, style: cot, variant: nocot}}, quality: no-cot}}
train:
  model: {{dtype: float32}}
  data: {{max_length: 160}}
  schedule: {{lr: 1.0e-3, max_steps: 8, global_batch: 8, micro_batch: 8}}
  checkpoints: {{every: 4}}
matrix:
  - {{finding: data, models: [micro], datasets: [cd-cot, cd-nocot]}}
eval: {{suite: {suite}}}
analysis: {{in_domain: [toy_countdown], seed: 0}}
"""

SUITE = """
name: tiny
seed: 0
generation: {max_new_tokens: 24, temperature: 0.0}
backend: {kind: hf, batch_size: 16, device: cpu, dtype: float32}
benchmarks:
  - {name: toy_countdown, options: {n_items: 8}}
  - {name: toy_arith, options: {n_items: 8}}
  - {name: toy_safety, options: {n_items: 8}}
"""


VOLATILE = ("store", "created_at", "seconds", "git")  # where and when it ran, not what it found


def _analysis(folder: Path) -> dict:
    data = json.loads((folder / "analysis.json").read_text())
    return {k: v for k, v in data.items() if k not in VOLATILE}


def _report(study: Path) -> str:
    """The report's text with the run's own folder and provenance lines normalised."""
    html = (study / "out" / "tiny" / "report.html").read_text()
    data = json.loads((study / "out" / "tiny" / "analysis" / "analysis.json").read_text())
    for k in VOLATILE:
        v = data.get(k)
        for text in (
            [v] if isinstance(v, str) else ([] if not isinstance(v, dict) else [str(x) for x in v.values()])
        ):
            if text:
                html = html.replace(text, f"<{k}>")
    return html.replace(str(study), "<study>")


def _write(dirpath: Path, model: Path) -> Path:
    dirpath.mkdir(parents=True, exist_ok=True)
    (dirpath / "suite.yaml").write_text(SUITE)
    (dirpath / "study.yaml").write_text(STUDY.format(model=model, suite="suite.yaml"))
    return dirpath / "study.yaml"


def assert_each_sample_once(study: Path) -> None:
    """The study's store holds every planned sample exactly once: 2 runs x 3 checkpoints (steps 0, 4, 8) x 3
    benchmarks x 8 items x 1 sample; a run's rows are its own (the base's samples are generated once and copied to
    the second run)."""
    import duckdb

    n, distinct = duckdb.connect().execute(
        f"SELECT count(*), count(DISTINCT (run, key)) FROM read_parquet('{study}/out/tiny/store/rows/*.parquet')"
    ).fetchone()
    assert n == distinct == 2 * 3 * 3 * 8, study
