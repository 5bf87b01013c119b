"""`rsft demo --quick` end to end, as a user runs it: shipped bases → SFT → sweeps → analysis → report."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rsft.study.demo import BASES_DIR


def test_shipped_bases_load_offline():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for name in ("small", "large"):
        info = json.loads((BASES_DIR / name / "build.json").read_text())
        model = AutoModelForCausalLM.from_pretrained(BASES_DIR / name)
        tok = AutoTokenizer.from_pretrained(BASES_DIR / name)
        assert sum(p.numel() for p in model.parameters()) == info["parameters"]
        assert tok.chat_template and "<think>" in tok.get_vocab()


@pytest.mark.timeout(600)
def test_demo_quick_end_to_end(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "rsft.cli.main", "demo", "--quick", "--out", str(tmp_path), "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    study = tmp_path / "quick"
    report = study / "report.html"
    assert report.is_file() and report.stat().st_size > 10_000
    assert str(report) in r.stderr.replace("\n", "")
    analysis = json.loads((study / "analysis" / "analysis.json").read_text())
    runs = set(analysis["runs"])
    assert len(runs) == 2 and all(name.startswith("small_countdown-") for name in runs)
    benchmarks = {(b["run"], b["benchmark"]) for b in analysis["benchmarks"]}
    assert len(benchmarks) == 2 * 6
    for b in analysis["benchmarks"]:
        assert b["curve"]["step"] == [0, 5, 10, 20, 40, 60]
        assert b["stat"]["n_items"] == 40 and b["stat"]["seed"] == 0
    # the study file the demo ran is written beside it, and a rerun skips every finished stage
    assert (study / "study.yaml").is_file()
    r2 = subprocess.run(
        [sys.executable, "-m", "rsft.cli.main", "study", str(study / "study.yaml"), "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert "train skipped" in r2.stderr and "sweep skipped" in r2.stderr and "report skipped" in r2.stderr
