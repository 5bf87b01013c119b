"""The report: self-contained HTML rendered from analysis.json, checked in headless Chromium."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rsft.analysis import AnalyzeConfig, analyze_store, make_store
from rsft.cli.main import main
from rsft.report import render_report

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
]


def _truth(run: str, bench: str, step: int) -> float:
    if bench == "math":
        return 0.3 + 0.005 * step + (0.05 if "CoT" in run else 0.0)
    if bench == "gpqa":
        return 0.5 - 0.25 * math.sin(math.pi * step / 60)
    if bench == "ifeval":
        return 0.6
    return 0.92 - 0.004 * step


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    runs = ["Qwen3-4B_Math-CoT_lr5e-5_ep8_bs32", "Qwen3-1.7B_Math-NoCoT_lr5e-5_ep8_bs32"]
    benches = {"math": "math", "gpqa": "reasoning", "ifeval": "general", "hexphi": "safety"}
    store = make_store(
        root / "store", runs, list(range(0, 70, 10)), benches, items=80, samples=3, curve_fn=_truth
    )
    out = analyze_store(store, root / "analysis", config=AnalyzeConfig(B=300, power_sims=8))
    html = render_report(out, root / "site" / "report.html")
    return out, html


def _figure_names(html: Path) -> list[str]:
    return sorted(p.stem for p in (html.parent / f"{html.stem}_figures").glob("*.png"))


def test_self_contained_with_every_figure_embedded(report):
    _, html = report
    text = html.read_text()
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", text)
    names = _figure_names(html)
    assert {"domains", "behaviour", "marker_correctness", "token_level", "tradeoff", "power"} <= set(names)
    for name in names:
        m = re.search(rf"data-figure='{name}'><img alt='{name}' src='data:image/png;base64,([^']+)'", text)
        assert m, name
        assert (
            base64.b64decode(m.group(1))
            == (html.parent / f"{html.stem}_figures" / f"{name}.png").read_bytes()
        )
    order = [
        text.index(f"id='{s}'") for s in ("dynamics", "data", "capability", "behaviours", "safety", "methods")
    ]
    assert order == sorted(order)
    md = html.with_suffix(".md").read_text()
    assert "dip-and-recovery" in md and "B=300, seed=0" in md


def test_report_shows_what_the_analysis_says(report):
    out, html = report
    a = json.loads((out / "analysis.json").read_text())
    text = html.read_text()
    for rec in a["domain_curves"]:
        assert rec["detector"]["class"] in text
    for t in a["tradeoff"]:
        assert f"recommended checkpoint step {t['recommendation']['step']}" in text
    assert "Qwen3-4B" in text and "Qwen3-1.7B" in text  # capability section: two base models


def test_cli_report_from_store(tmp_path):
    store = make_store(tmp_path / "s", ["r"], [0, 10, 20], {"m": "math"}, items=20, samples=2)
    with pytest.raises(SystemExit) as e:
        main(["report", str(store), "--out", str(tmp_path / "r.html")])
    assert e.value.code == 0
    assert (tmp_path / "r.html").is_file() and (store / "analysis" / "analysis.json").is_file()
    assert "too few items or samples to conclude" in (tmp_path / "r.html").read_text()


def test_renders_in_headless_chromium(report, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium); the rendering check needs it")
    _, html = report
    shot = tmp_path / "report.png"
    base = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400"]
    res = subprocess.run(
        [*base, f"--screenshot={shot}", html.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert shot.is_file() and shot.stat().st_size > 50_000, res.stderr[-2000:]
    console = [
        ln for ln in res.stderr.splitlines() if "CONSOLE" in ln or "Refused to" in ln or "Uncaught" in ln
    ]
    assert not console, console
    dom = subprocess.run(
        [*base, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    for name in _figure_names(html):
        assert f'data-figure="{name}"' in dom, name
    keep = os.environ.get("RSFT_REPORT_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
