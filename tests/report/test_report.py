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
  const clipped = [...document.querySelectorAll('main table')]
    .filter(t => t.getBoundingClientRect().width > t.parentElement.clientWidth + 1)
    .map(t => t.querySelector('th') ? t.querySelector('th').textContent : '?');
  document.body.setAttribute('data-layout', JSON.stringify(
    {width: w, scroll: document.documentElement.scrollWidth, wide: wide, bad: bad, images: document.images.length,
     clipped: clipped, tables: document.querySelectorAll('main table').length}));
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
    assert got["width"] == 1400 and got["scroll"] <= 1400 and not got["wide"] and not got["clipped"], got
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


# a store whose tables are wide: four runs with long names, ten benchmarks, a model size in runs.json
WIDE_RUNS = [f"toy-{m}_countdown-{d}-highquality_lr2e-4" for m in ("small", "large") for d in ("longcot", "nocot")]


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    root = tmp_path_factory.mktemp("wide")
    benches = {f"benchmark_with_a_long_name_{i}": d for i, d in enumerate(["math"] * 3 + ["reasoning"] * 4 + ["general"] * 3)}
    conds = {r: {"model": r.split("_")[0], "dataset": r.split("_")[1], "params_b": 0.000853 if "small" in r else 8.19}
             for r in WIDE_RUNS}  # fmt: skip
    store = make_store(root / "store", WIDE_RUNS, [0, 10, 20], benches, items=20, samples=2, runs_json=conds)
    out = analyze_store(store, root / "analysis", config=AnalyzeConfig(B=100, power_sims=4))
    a = json.loads((out / "analysis.json").read_text())
    for rec in a["behaviour"]:  # a marker no response used: its panel would be flat at zero
        rec["markers_per_1k_tokens"]["decomposition"] = {k: [0.0] * len(rec["step"]) for k in ("est", "lo", "hi")}
    (out / "analysis.json").write_text(json.dumps(a))
    return a, render_report(out, root / "site" / "report.html")


def test_expanded_report_reads_for_readers(report, wide):
    """Human units, Methods in plain sentences, and no reST markup anywhere in the page."""
    from rsft.analysis import detector, safety, stats
    from rsft.report.html import esc

    a, html = wide
    text = html.read_text()
    assert "params_b" not in text and "0.000853" not in text
    assert "<th>parameters</th>" in text and "<td>853k</td>" in text and "<td>8.19B</td>" in text
    methods = text[text.index("id='methods'") :]
    for mod in (stats, detector, safety):
        assert esc(mod.READER_METHOD) in methods  # the one home of each method's reader text
    for symbol in ("n (items)", "k (samples per item)", "B (bootstrap replicates)", "seed", "pointwise interval",
                   "simultaneous interval"):  # fmt: skip
        assert f"<dt>{symbol}</dt>" in methods, symbol
    assert f"here B = {a['spec']['B']}" in methods and f"here seed = {a['spec']['seed']}" in methods
    for page in (text, report[1].read_text()):
        assert "``" not in page and "<pre>" not in page
        assert not re.search(r":(func|mod|data|class|meth|attr):`", page)


def test_reader_helpers():
    from rsft.report import html as H

    assert [H.params(x) for x in (0.000853, 0.0124, 0.5, 8.19, 14.8, 235.0)] == [
        "853k", "12.4M", "500M", "8.19B", "14.8B", "235B"
    ]  # fmt: skip
    assert H.cond_value("params_b", None) == "" and H.cond_value("model", "a<b") == "a&lt;b"
    assert H.plain("``mu_s`` by :func:`rsft.analysis.stats.holm`, **dip** *claim*; 2 * 3") == "mu_s by holm, dip claim; 2 * 3"
    # a runs x 14 curves table is split into tables of at most WIDE_COLUMNS curves, each repeating the run column
    t = H.wide_table(["run", *map(str, range(14))], [["r_1", *["x"] * 14]], fixed=1)
    assert t.count("<table>") == 3 and t.count("<th>run</th>") == 3 and "Columns 13–14 of 14" in t
    assert "r_<wbr>1" in t


def test_no_figure_panel_without_data(report, wide):
    """Every drawn panel has a value other than 0; a panel left out is named in the report."""
    import numpy as np

    from rsft.report.figures import all_figures, behaviour_panels

    a, html = wide
    kept, left = behaviour_panels(a)
    assert left == ["decomposition per 1k tokens"] and kept
    assert "Not drawn: decomposition per 1k tokens: 0 (or no data)" in html.read_text()
    for analysis in (a, json.loads((report[0] / "analysis.json").read_text())):
        figs = all_figures(analysis)
        try:
            for name, fig in figs.items():
                for ax in fig.axes:
                    if not ax.get_visible() or not (ax.get_lines() or ax.collections):
                        continue
                    ys = [np.asarray(ln.get_ydata(), float) for ln in ax.get_lines()]
                    ys += [np.asarray(c.get_offsets(), float)[:, 1:] for c in ax.collections if len(c.get_offsets())]
                    assert any(np.nan_to_num(y).any() for y in ys), (name, ax.get_title())
        finally:
            import matplotlib.pyplot as plt

            for fig in figs.values():
                plt.close(fig)


def test_wide_tables_wrap_at_1400px_in_headless_chromium(wide, tmp_path):
    """Ten benchmarks and long run names: every table fits its container (no column behind a scrollbar)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium); the layout check needs it")
    text = wide[1].read_text()
    got = _layout(exe, text, tmp_path)
    assert got["tables"] >= 8 and not got["clipped"] and got["scroll"] <= 1400 and not got["wide"], got
    # the check can fail: a table whose cell cannot wrap is caught
    cell = "<div class='tw'><table><tr><th>too wide</th><td style='white-space:nowrap'>" + "x " * 1500 + "</td></tr></table></div>"
    bad = _layout(exe, text.replace("<main>", "<main>" + cell, 1), tmp_path)
    assert bad["clipped"] == ["too wide"], bad
