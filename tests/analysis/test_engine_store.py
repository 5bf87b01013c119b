"""A store written by the evaluation engine (`rsft eval`, tiny checkpoints, toy benchmarks) analyses and renders."""

from __future__ import annotations

import json

import pytest

from rsft.analysis import AnalyzeConfig, analyze_store
from rsft.report import render_report

SUITE = """
name: t
seed: 3
generation: {temperature: 1.0, max_new_tokens: 12, logprobs: true}
backend: {kind: hf, batch_size: 4, device: cpu}
benchmarks:
  - name: toy_arith
    options: {n_items: 4}
    generation: {n: 2}
  - name: toy_sort
    options: {n_items: 4}
    generation: {n: 2}
"""


def test_engine_store_end_to_end(tmp_path, tiny_tokenizer):
    pytest.importorskip("rsft.eval.runner")
    from rsft.cli.main import main
    from rsft.toy import tiny_qwen3

    run = tmp_path / "run1"
    for step, seed in ((0, 0), (10, 1), (20, 2)):
        d = run / "checkpoints" / f"step_{step:06d}"
        d.mkdir(parents=True)
        tiny_qwen3(tiny_tokenizer, "micro", seed=seed, out_dir=d)
        (d / "COMPLETE").write_text("")
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    store = tmp_path / "store"
    with pytest.raises(SystemExit) as e:
        main(["eval", "--run", str(run), "--suite", str(suite), "--store", str(store), "--no-progress"])
    assert e.value.code == 0
    out = analyze_store(store, tmp_path / "analysis", config=AnalyzeConfig(B=200, power_sims=0))
    a = json.loads((out / "analysis.json").read_text())
    curves = {(r["run"], r["benchmark"]): r for r in a["benchmarks"]}
    assert set(curves) == {("run1", "toy_arith"), ("run1", "toy_sort")}
    for rec in curves.values():
        assert rec["curve"]["step"] == [0, 10, 20]
        assert rec["stat"]["n_items"] == 4 and rec["stat"]["k"] == 2
        # 4 items x 2 samples cannot show anything: the report must say so rather than call noise a dip
        assert rec["detector"]["class"] == "inconclusive"
    html = render_report(out, tmp_path / "report.html").read_text()
    assert "too few items or samples to conclude" in html
