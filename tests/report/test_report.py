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
from _first_screen import contradictions  # noqa: I001  (tests/report/_first_screen.py)

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
    assert {"q_dynamics", "q_safety"} <= set(names)  # the first screen's headline figures
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
    # gpqa dips and returns exactly to the base: 80 items cannot show it back within the 0.02 margin, so either
    # dip class is right
    assert ("dip-and-recovery" in md or "dip-and-partial-recovery" in md) and "B=300, seed=0" in md
    assert md.index("Does cross-domain performance dip and recover?") < md.index("## Every curve")


def test_first_screen_answers_the_four_questions_before_anything_else(report):
    out, html = report
    a = json.loads((out / "analysis.json").read_text())
    text = html.read_text()
    first = text[: text.index("<details")]  # everything after the first screen is collapsed
    cards = re.findall(r"<section class='card' id='q-(\w+)'>(.*?)</section>", first, re.S)
    assert [k for k, _ in cards] == ["dynamics", "data", "capability", "safety"]
    for key, card in cards:
        verdict = re.search(r"class='verdict v-[\w-]+'>([^<]+)<", card).group(1)
        if verdict == "not measurable here":  # the reason is given instead of a figure
            assert "<img" not in card and len(re.sub("<[^>]+>", "", card)) > 120, key
        else:  # a headline figure, and every claim with its interval and n, k
            assert "<img" in card and re.search(r"[+-]\d\.\d\d \[[+-]\d\.\d\d, [+-]\d\.\d\d\]", card), key
            assert re.search(r"n=\d+ items, k=\d", card), key
    # the fixture's two runs are different models with one data kind each: data and capability are not measurable
    assert dict((k, re.search(r"v-([\w-]+)'", c).group(1)) for k, c in cards)["data"] == "not-measurable-here"
    # numbers come from the analysis: the safety card quotes each run's safety gain, with its own pointwise
    # interval (a pre-specified contrast), which is narrower than the detector's simultaneous one
    for r in a["domain_curves"]:
        if r["domain"] == "safety":
            g, sim = r["final_change"], r["detector"]["final_gain"]
            assert g["interval"] == "pointwise" and g["hi"] - g["lo"] < sim["hi"] - sim["lo"]
            assert f"{g['est']:+.2f} [{g['lo']:+.2f}, {g['hi']:+.2f}]" in dict(cards)["safety"]
    # the first screen says what happened to each domain and what is recommended, and explains its marks
    lead = re.search(r"<div class='note' id='headline'>(.*?)</div>", first, re.S).group(1)
    for dom in {r["domain"] for r in a["domain_curves"]}:
        assert f"<p>{dom[0].upper()}{dom[1:]}: " in lead, dom
    assert "Recommend" in lead and "dashed horizontal line" in lead and "▲/▼" in lead
    assert f"This analysis has {len(a['benchmarks']) + len(a['domain_curves'])} curves" in lead
    assert "simultaneous" not in re.search(r"<p class='meta'>(.*?)</p>", text, re.S).group(1)
    assert contradictions(a) == []  # an independent reading: every verdict and sentence is backed by its numbers


def test_report_shows_what_the_analysis_says(report):
    out, html = report
    a = json.loads((out / "analysis.json").read_text())
    text = html.read_text()
    for rec in a["domain_curves"]:
        assert rec["detector"]["class"] in text
    for t in a["tradeoff"]:
        assert f"recommended checkpoint step {t['recommendation']['step']}" in text
    # the dynamics section states the study-level multiplicity: curves, per-curve rate, what survives Holm
    st = a["study"]
    assert f"this analysis has {st['curves']} curves" in text and "Holm&#x27;s step-down" in text
    assert st["dynamics"]["curves"] == sum(
        r["domain"] in ("out-of-domain", "general") and len(r["curve"]["step"]) >= 3 for r in a["domain_curves"]
    )
    assert "Qwen3-4B" in text and "Qwen3-1.7B" in text  # capability section: two base models
    # how each benchmark was scored, and its samples per outcome (truncated rows of the synthetic store)
    assert "Outcomes and scoring per benchmark" in text and "no answer" in text
    rec = a["benchmarks"][0]
    assert rec["outcomes"]["total"]["truncated"] > 0
    assert f"<td class='num'>{rec['outcomes']['total']['truncated']}</td>" in text
    md = html.with_suffix(".md").read_text()
    assert f"{rec['run']} · {rec['benchmark']}: ok {rec['outcomes']['total']['ok']}, truncated" in md


def test_cli_report_from_store(tmp_path):
    store = make_store(tmp_path / "s", ["r"], [0, 10, 20], {"m": "math"}, items=20, samples=2)
    with pytest.raises(SystemExit) as e:
        main(["report", str(store), "--out", str(tmp_path / "r.html")])
    assert e.value.code == 0
    assert (tmp_path / "r.html").is_file() and (store / "analysis" / "analysis.json").is_file()
    assert "too few items or samples to conclude" in (tmp_path / "r.html").read_text()


LAYOUT_JS = """<script>window.addEventListener('load', () => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const w = window.innerWidth;
  const wide = [...document.querySelectorAll('main *')]
    .filter(e => !e.closest('.tw') && e.getBoundingClientRect().right > w + 1)
    .map(e => e.tagName + '.' + e.className).slice(0, 10);
  const bad = [...document.images]
    .filter(i => !i.getAttribute('src').startsWith('data:image/png;base64,') || !i.complete
                 || i.naturalWidth < 50 || i.naturalHeight < 50)
    .map(i => i.alt);
  document.body.setAttribute('data-layout', JSON.stringify(
    {width: w, scroll: document.documentElement.scrollWidth, wide: wide, bad: bad, images: document.images.length}));
});</script>"""


def _layout(exe: str, html_text: str, tmp_path: Path, width: int = 1400) -> dict:
    """Open a copy of the page (CSP dropped, a measuring script added) at ``width`` px with every section open."""
    page = re.sub(r"<meta http-equiv='Content-Security-Policy'[^>]*>", "", html_text)
    copy = tmp_path / "layout.html"
    copy.write_text(page.replace("</body>", LAYOUT_JS + "</body>"))
    res = subprocess.run(
        [exe, *CHROMIUM_FLAGS, "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
         f"--window-size={width},1000", "--virtual-time-budget=10000", "--dump-dom", copy.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    m = re.search(r'data-layout="([^"]*)"', res.stdout)
    assert m, res.stderr[-2000:]
    return json.loads(m.group(1).replace("&quot;", '"'))


def test_layout_at_1400px_in_headless_chromium(report, tmp_path):
    """At 1,400 px, with every collapsed section opened: no horizontal overflow and no image without data."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium); the layout check needs it")
    _, html = report
    text = html.read_text()
    got = _layout(exe, text, tmp_path)
    assert got["width"] == 1400 and got["scroll"] <= 1400 and not got["wide"], got
    assert got["images"] == len(_figure_names(html)) and not got["bad"], got
    # the check can fail: a 2,000 px wide block and an empty image are both caught
    broken = text.replace("<main>", "<main><div style='width:2000px'>x</div><img alt='empty' src=''>", 1)
    bad = _layout(exe, broken, tmp_path)
    assert bad["scroll"] > 1400 and bad["wide"] and bad["bad"] == ["empty"], bad


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


def test_every_detector_class_has_a_colour():
    # the report reads the detector's one list of classes (a new class cannot be drawn in the default colour)
    from rsft.analysis.detector import CLASSES
    from rsft.report.figures import CLASS_COLOR

    assert set(CLASS_COLOR) == set(CLASSES)
