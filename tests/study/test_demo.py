"""`rsft demo --quick` end to end, as a user runs it: shipped bases → SFT → sweeps → analysis → report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rsft.study.demo import BASES_DIR, CHECKPOINTS, ITEMS, README_END, README_START, STEPS, readme_block

ROOT = Path(__file__).resolve().parents[2]


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
        timeout=1800,  # ~1 minute on a quiet 2-core machine; far longer beside other jobs
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
        assert b["curve"]["step"] == [0, *CHECKPOINTS["quick"], STEPS["quick"]]
        assert b["stat"]["n_items"] == ITEMS["quick"] and b["stat"]["seed"] == 0
    # the terminal summary answers the four questions with the analysis's own verdicts and numbers
    out = r.stdout + r.stderr
    for q in ("dip and recover", "Which data transfers", "procedure or verbosity", "cost in safety"):
        assert q in out
    assert re.search(r"(reproduced|partly|not reproduced|not measurable here)", out)
    # each thing once: a run's sweep and the worker line are not repeated by the later stages
    swept = re.findall(r"swept (\S+?):", out)
    assert sorted(swept) == sorted(runs), swept
    assert out.count("worker processes") <= 1
    # ... and every verdict and first-screen sentence is backed by the analysis's own numbers
    sys.path.insert(0, str(ROOT / "tests" / "report"))
    from _first_screen import contradictions

    assert contradictions(analysis) == []
    assert "what happened:" in out  # the summary's markup (bold, verdict colours) is rendered, not printed
    assert not re.search(r"\?\s*\[(green|yellow|red|dim)\]", out)
    timing = json.loads((study / "demo.json").read_text())
    assert set(timing["stages"]) == {"data", "train", "sweep", "analysis", "report"} and timing["wall_s"] > 0
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


def test_readme_block_is_the_rendering_of_the_recorded_run():
    """The README's findings block is written by scripts/update_readme_demo.py from docs/demo-findings.json."""
    record = json.loads((ROOT / "docs" / "demo-findings.json").read_text())
    text = (ROOT / "README.md").read_text()
    block = text[text.index(README_START) : text.index(README_END) + len(README_END)]
    assert block == readme_block(record)
    assert [f["key"] for f in record["findings"]] == ["dynamics", "data", "capability", "safety"]
