"""``render_report``: ``analysis.json`` in, one self-contained HTML file + PNG figures + a Markdown summary out.

Run: ``rsft report ANALYSIS_DIR --out report.html``. Figures are embedded as base64 PNG; the page loads
nothing from the network and runs no script. The report computes nothing: it formats what the analysis wrote.

Layout: the first screen answers the paper's four questions (:mod:`rsft.report.findings`), one paragraph and one
headline figure each, with a key of the short run labels every figure uses; everything else (dynamics, data,
capability, behaviours, safety, warnings, methods) sits below in sections that stay collapsed until opened. A
figure with no data or a table whose every cell is n/a is left out, with one line saying why.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import matplotlib.pyplot as plt

from rsft._util.errors import DataError
from rsft.report import html as H
from rsft.report.figures import all_figures, behaviour_panels, nll_figure
from rsft.report.findings import four_findings, gain, headline, run_labels

_SECTIONS = [
    ("dynamics", "1. Dynamics and dip-and-recovery"),
    ("data", "2. Data: condition comparisons"),
    ("capability", "3. Capability: base models"),
    ("behaviours", "4. Behaviours and token level"),
    ("safety", "5. Safety trade-off"),
    ("methods", "6. Methods"),
]


def load_analysis(path: str | Path) -> tuple[dict, Path]:
    """Read ``analysis.json`` from an analysis folder (or the file itself). The report never analyses: a store is
    analysed first by ``rsft analyze`` (``rsft report STORE`` does both).

    Raises:
        DataError: the path holds no ``analysis.json``, or one that is not valid JSON or not of this rsft's layout
            (``analysis_version`` and the top-level keys the report reads).
    """
    p = Path(path)
    if p.is_file() and p.name == "analysis.json":
        p = p.parent
    if not (p / "analysis.json").is_file():
        store = (p / "rows").is_dir()
        raise DataError(
            "a store, not an analysis folder (no analysis.json)" if store else "not an analysis folder (no analysis.json)",
            file=str(p),
            fix="analyse it first with `rsft analyze STORE --out DIR` (or run `rsft report STORE`)"
            if store
            else "pass the folder written by `rsft analyze`",
        )
    try:
        a = json.loads((p / "analysis.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"analysis.json is not valid JSON: {e}", file=str(p / "analysis.json")) from None
    _check_layout(a, p / "analysis.json")
    return a, p


# the top-level keys of analysis.json the report reads, and their JSON types
LAYOUT: dict[str, type] = {
    "spec": dict, "config": dict, "domains": dict, "runs": dict, "condition_keys": list, "benchmarks": list,
    "domain_curves": list, "comparison": list, "between_runs": list, "behaviour": list, "tradeoff": list,
    "power": list, "early_warnings": list, "notes": list,
}  # fmt: skip


def _check_layout(a: object, file: Path) -> None:
    """``a`` is an analysis of this rsft's layout (``analysis_version`` and the keys the report reads), so that a
    hand-made or older file is one line, not a KeyError mid-render with half the figures written."""
    from rsft.analysis.analyze import ANALYSIS_VERSION

    fix = "analyse the store again with `rsft analyze STORE --out DIR`"
    if not isinstance(a, dict):
        raise DataError(f"analysis.json holds a {type(a).__name__}, not an analysis (an object)", file=str(file), fix=fix)
    if a.get("analysis_version") != ANALYSIS_VERSION:
        raise DataError(
            f"analysis.json has analysis_version {a.get('analysis_version')!r}; this rsft reads version "
            f"{ANALYSIS_VERSION}",
            file=str(file),
            field="analysis_version",
            fix=fix,
        )
    for key, kind in LAYOUT.items():
        if not isinstance(a.get(key), kind):
            got = "missing" if key not in a else f"a {type(a[key]).__name__}"
            raise DataError(
                f"analysis.json: '{key}' is {got}, not a JSON {'object' if kind is dict else 'array'}",
                file=str(file),
                field=key,
                fix=fix,
            )


def _png(fig: plt.Figure, path: Path, svg: bool = False) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96)
    if svg:  # vector copy for papers; no date in the metadata, so the file depends only on the analysis
        with plt.rc_context({"svg.hashsalt": "rsft"}):  # stable element ids
            fig.savefig(path.with_suffix(".svg"), format="svg", metadata={"Date": None})
    plt.close(fig)
    data = buf.getvalue()
    path.write_bytes(data)
    return "data:image/png;base64," + base64.b64encode(data).decode()


def render_report(analysis_dir: str | Path, out_html: str | Path, *, svg: bool = False) -> Path:
    """Render the report.

    Args:
        analysis_dir: folder with ``analysis.json`` (written by ``rsft.analysis.analyze_store``).
        out_html: the HTML file to write; figures go to ``<stem>_figures/`` beside it and the Markdown summary
            to ``<stem>.md``.
        svg: also write each figure as SVG beside its PNG.

    Returns:
        The HTML path.

    Raises:
        DataError: see :func:`load_analysis`.
    """
    analysis, folder = load_analysis(analysis_dir)
    nll_file = folder / "nll.json"
    nll = json.loads(nll_file.read_text()) if nll_file.is_file() else None
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig_dir = out.parent / f"{out.stem}_figures"
    fig_dir.mkdir(exist_ok=True)
    figs = {**all_figures(analysis), **nll_figure(nll)}
    uris = {name: _png(fig, fig_dir / f"{name}.png", svg) for name, fig in figs.items()}
    body = [
        _header(analysis),
        _first_screen(analysis, uris),
        H.details("dynamics", _SECTIONS[0][1], _dynamics(analysis, uris)),
        H.details("data", _SECTIONS[1][1], _data(analysis)),
        H.details("capability", _SECTIONS[2][1], _capability(analysis)),
        H.details("behaviours", _SECTIONS[3][1], _behaviours(analysis, uris, nll)),
        H.details("safety", _SECTIONS[4][1], _safety(analysis, uris)),
        H.details("protocol", "Each benchmark's own metrics (the paper's protocol)", _protocol(analysis)),
        H.details("curves", "Every curve in one line, and early-checkpoint warnings", _summary(analysis)),
        H.details("methods", _SECTIONS[5][1], H.methods_section(analysis)),
    ]
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
        f"<title>rsft report</title><style>{H.CSS}</style></head><body><main>{''.join(body)}</main></body></html>"
    )
    out.write_text(page, encoding="utf-8")
    out.with_suffix(".md").write_text(markdown_summary(analysis), encoding="utf-8")
    return out


def _header(a: dict) -> str:
    return (
        "<h1>rsft report: does this reasoning SFT generalize, when, and at what safety cost?</h1>"
        f"<p class='meta'>{len(a['runs'])} runs · {len(a['benchmarks'])} run × benchmark curves · "
        f"{H.esc(H.spec_line(a['spec']))}. Gains are final − base with their own pointwise "
        f"{a['spec']['level']:.0%} intervals; n = items, k = samples per item.</p>"
    )


def _first_screen(a: dict, uris: dict[str, str]) -> str:
    """What happened, in plain words (:func:`rsft.report.findings.headline`), then the four questions: one card
    each (verdict, paragraph, headline figure), then the run key."""
    lead = "".join(f"<p>{H.esc(s)}</p>" for s in headline(a))
    cards = []
    for i, f in enumerate(four_findings(a), 1):
        fig = (
            H.figure(f.figure, uris[f.figure], f"Headline figure for question {i}; {H.spec_line(a['spec'])}")
            if f.figure and f.figure in uris
            else "<p class='cap'>No figure: nothing to plot for this question (see the text).</p>"
        )
        cls = f.verdict.replace(" ", "-")
        cards.append(
            f"<section class='card' id='q-{f.key}'><h2>{i}. {H.esc(f.question)} "
            f"<span class='verdict v-{cls}'>{H.esc(f.verdict)}</span></h2>"
            f"<p class='claim'>Paper: {H.esc(f.claim)}.</p><p>{H.esc(f.text)}</p>{fig}</section>"
        )
    return f"<div class='note' id='headline'>{lead}</div><div class='cards'>{''.join(cards)}</div>" + _run_key(a)


def _run_key(a: dict) -> str:
    labels = run_labels(a)
    keys = [
        k
        for k in a["condition_keys"]
        if k in ("model", "dataset", "quality", "capability", "lr", "max_steps")
    ]
    rows = [
        [H.esc(labels[r]), H.esc(r), *[H.cond_value(k, a["runs"][r].get(k)) for k in keys]] for r in sorted(labels)
    ]
    return "<h3>Run key</h3>" + H.table(["label", "run", *map(H.cond_header, keys)], rows, numeric_from=99)


def _statements(a: dict) -> list[str]:
    out = []
    for r in a["domain_curves"]:
        d = r["detector"]
        st = r["stat"]
        s = (
            f"{r['run']} · {r['domain']}: {d['class']}; final gain {H.iv(gain(r))} "
            f"(step {d['base_step']}→{d['final_step']}, n={st['n_items']} items, k={st['k']:g})"
        )
        if d.get("dip_step") is not None:
            s += f"; dip at step {d['dip_step']} of {H.iv(d.get('depth'))}"
        if d.get("recovery_step") is not None:
            s += f", rose from it by step {d['recovery_step']}"
            if d["class"] == "dip-and-partial-recovery":
                s += f", not shown back within {d.get('recovery_margin', 0.02):.2f} of the base at the end"
            elif d["class"] == "dip-and-recovery":
                s += f", back within {d.get('recovery_margin', 0.02):.2f} of the base at the end"
        out.append(s + ("; " + "; ".join(d["notes"]) if d.get("notes") else ""))
    for t in a["tradeoff"]:
        rc = t["recommendation"]
        s = f"{t['run']}: recommended checkpoint step {rc['step']} (weighted score {H.iv(rc['weighted_score'], False)}"
        if "safety_change" in rc:
            s += f", safety change {H.iv(rc['safety_change'])}"
        s += f"; best in {rc['prob_best']:.0%} of replicates; {rc.get('interval', 'pointwise intervals')})"
        out.append(s + ("; " + "; ".join(t["notes"]) if t.get("notes") else ""))
    return out


def _summary(a: dict) -> str:
    items = "".join(f"<li>{H.esc(s)}</li>" for s in _statements(a))
    domains = set(a["domains"].values())

    def warn(w: dict) -> str:
        return f"<div class='warn'>{H.esc(w['run'])} · {H.esc(w['name'])}: {H.esc(w['text'])}</div>"

    dom = "".join(warn(w) for w in a["early_warnings"] if w["name"] in domains)
    bench = [warn(w) for w in a["early_warnings"] if w["name"] not in domains]
    out = f"<ul class='sum'>{items}</ul><h3>Early-checkpoint warnings</h3>"
    out += dom or "<p>No early domain checkpoint's verdict is contradicted by the final one.</p>"
    if bench:
        out += f"<details><summary>{len(bench)} per-benchmark warnings</summary>{''.join(bench)}</details>"
    return out


def _dynamics(a: dict, uris: dict[str, str]) -> str:
    parts = []
    if "domains" in uris:
        parts.append(
            H.figure("domains", uris["domains"], "Domain scores vs step; bands: " + H.spec_line(a["spec"]))
        )
    parts.append("<h3>Detector verdicts</h3>")
    parts.append(_study_level(a))
    parts.append(
        H.table(
            H.DETECTOR_HEADER,
            H.detector_rows([*a["domain_curves"], *a["benchmarks"]]),
            numeric_from=3,
            text_cols=(len(H.DETECTOR_HEADER) - 1,),
        )
    )
    fam = next((r["detector"].get("families", {}).get("vs_base", {}).get("level") for r in a["domain_curves"]), None)
    fam_txt = f" at the detector's family level {fam:.1%}" if fam else ""
    parts.append(
        f"<p class='cap'>Depth: the dip's difference vs the base with its simultaneous interval{fam_txt} (max-|t| over "
        f"all checkpoints: the dip step is chosen from the data); final gain: final − base with its own pointwise "
        f"{a['spec']['level']:.0%} interval (a pre-specified contrast); B={a['spec']['B']}, seed={a['spec']['seed']}; "
        "n items, k samples per item.</p>"
    )
    for name in sorted(k for k in uris if k.startswith("dynamics_")):
        parts.append(
            H.figure(
                name,
                uris[name],
                "Score vs step per benchmark; dashed: base; ▼ dip, ▲ recovery. " + H.spec_line(a["spec"]),
            )
        )
    return "".join(parts)


def _study_level(a: dict) -> str:
    """One paragraph: how many curves, each one's error rate, and what survives Holm's step-down over curves."""
    study = a.get("study") or {}
    dyn = study.get("dynamics") or {}
    if not study.get("curves"):
        return ""
    text = (
        f"Each verdict below holds at its curve's own false-verdict rate (≤ {study['per_curve_error_rate']:.0%}); "
        f"this analysis has {study['curves']} curves, so up to {study['curves'] * study['per_curve_error_rate']:.1f} "
        "verdicts could be wrong by chance."
    )
    if dyn.get("curves"):
        counted = [
            f"{r['run']} · {r['domain']}"
            for r in a["domain_curves"]
            if (r.get("study") or {}).get("dip")
        ]
        text += (
            f" The first screen's dynamics question reads the {dyn['curves']} cross-domain curves with Holm's "
            f"step-down (detector re-run at level {dyn['final_level']:.2%}): "
            + (f"{len(counted)} show a dip and a significant rise from it ({'; '.join(counted)})." if counted
               else "none shows a dip and a significant rise from it.")
        )  # fmt: skip
    return f"<p class='note'>{H.esc(text)}</p>"


def _comparison_table(a: dict, rows: list[dict], domains: bool = True) -> str:
    """Runs x curves; ``domains`` picks the domain columns ("[in-domain]", ...) or the benchmark columns."""
    keys = a["condition_keys"]
    names = []
    for row in rows:
        for n in row["cells"]:
            if n not in names and n.startswith("[") == domains:
                names.append(n)
    names.sort()
    header = ["run", *map(H.cond_header, keys), *names]
    body = []
    for row in rows:
        cells = [H.esc(row["run"]), *[H.cond_value(k, row["conditions"].get(k)) for k in keys]]
        for n in names:
            c = row["cells"].get(n)
            cells.append(
                "—"
                if not c
                else f"{H.num(c['final'])} ({H.iv(c['gain'])}{H.mark_html(c['mark'])})"
                f"<br><small>n={c['n_items']} k={c['k']:g}</small>"
            )
        body.append(cells)
    if not names:
        return "<p>No curve has two or more checkpoints: nothing to compare.</p>"
    return H.wide_table(header, body, fixed=1 + len(keys))


def _between_table(a: dict) -> str:
    rows = a.get("between_runs") or []
    if not rows:
        return "<p>One run per base model: no run-vs-run comparison.</p>"
    names = sorted({r["curve"] for r in rows}, key=lambda n: (not n.startswith("["), n))
    pairs = sorted({(r["run"], r["reference"]) for r in rows})
    cell = {(r["run"], r["curve"]): r for r in rows}
    body = []
    for run, ref in pairs:
        cells = [H.esc(run), H.esc(ref)]
        for n in names:
            c = cell.get((run, n))
            cells.append(
                "—"
                if not c
                else f"{H.iv(c['diff'])}{H.mark_html(c['mark'])}"
                + ("" if c["paired"] else "<br><small>unpaired</small>")
            )
        body.append(cells)
    cap = (
        f"Final score of the run minus the reference run's, {a['spec']['level']:.0%} pointwise intervals "
        f"(paired on items where both runs saw the same items); ▲/▼: the interval excludes 0; "
        f"B={a['spec']['B']}, seed={a['spec']['seed']}."
    )
    return H.wide_table(["run", "reference", *names], body, fixed=2, name_cols=(0, 1)) + f"<p class='cap'>{H.esc(cap)}</p>"


def _data(a: dict) -> str:
    cap = (
        f"Final score (gain over the base [its own pointwise {a['spec']['level']:.0%} interval]); ▲/▼: that interval "
        f"lies above/below 0; B={a['spec']['B']}, seed={a['spec']['seed']}. Conditions from runs.json or run names."
    )
    return (
        "<h3>Domains</h3>"
        + _comparison_table(a, a["comparison"])
        + f"<p class='cap'>{H.esc(cap)}</p><h3>Benchmarks</h3>"
        + _comparison_table(a, a["comparison"], domains=False)
        + f"<p class='cap'>{H.esc(cap)}</p><h3>Run vs reference run (same base model)</h3>"
        + _between_table(a)
    )


def _capability(a: dict) -> str:
    head = ""
    models = sorted({str(c.get("model")) for c in a["runs"].values() if c.get("model") is not None})
    if len(models) < 2:
        return (
            head
            + "<p>One base model in this store (or none named): no capability comparison is possible.</p>"
        )
    parts = [head]
    for m in models:
        rows = [r for r in a["comparison"] if str(r["conditions"].get("model")) == m]
        parts.append(f"<h3>{H.esc(m)}</h3>" + _comparison_table(a, rows))
    return "".join(parts)


def _nll(nll: dict | None, uris: dict[str, str]) -> str:
    if not nll:
        return (
            "<p>No teacher-forced NLL of reference traces: run "
            "<code>rsft analyze nll --run RUN_DIR --data REF.jsonl --out ANALYSIS_DIR/nll.json</code>.</p>"
        )
    st = nll["stat"]
    rows = [
        [str(s), H.iv({"est": e, "lo": lo, "hi": hi}, signed=False, digits=4)]
        for s, e, lo, hi in zip(
            nll["step"], nll["nll"]["est"], nll["nll"]["lo"], nll["nll"]["hi"], strict=True
        )
    ]
    cap = f"{st['method']}; {nll['rows']} rows, {nll['tokens']} tokens, B={st['B']}, seed={st['seed']}, {st['level']:.0%}"
    return (
        "<h3>Teacher-forced NLL of reference traces</h3>"
        + (H.figure("nll", uris["nll"], cap) if "nll" in uris else "")
        + H.table(["step", "NLL (nats/token)"], rows)
        + f"<p class='cap'>{H.esc(cap)}; data {H.esc(nll['data'])}.</p>"
    )


def _behaviours(a: dict, uris: dict[str, str], nll: dict | None = None) -> str:
    parts = [""]
    if not a["behaviour"]:
        return parts[0] + "<p>No behaviour data.</p>"
    st = a["behaviour"][0]["stat"]
    cap = f"{a['spec']['level']:.0%} intervals; {st['method']}; B={st['B']}, seed={st['seed']}"
    for name, text in (
        ("behaviour", "Lengths, truncation and marker rates"),
        (
            "marker_correctness",
            "Accuracy of responses with vs without markers (binary-scored non-safety benchmarks)",
        ),
        ("token_level", "Mean log-probability and entropy of generated tokens"),
    ):
        if name in uris:
            parts.append(H.figure(name, uris[name], f"{text}; {cap}"))
        if name == "behaviour" and (left := behaviour_panels(a)[1]):
            parts.append(
                f"<p class='cap'>Not drawn: {H.esc(', '.join(left))}: 0 (or no data) at every checkpoint of "
                "every run.</p>"
            )
    rows = []
    for rec in a["behaviour"]:
        last = -1
        for c, lk in rec["marker_correctness"].items():
            rows.append(
                [
                    H.esc(rec["run"]),
                    H.esc(c),
                    str(lk["step"][last]),
                    f"{H.num(lk['acc_with'][last])} (n={lk['n_with'][last]})",
                    f"{H.num(lk['acc_without'][last])} (n={lk['n_without'][last]})",
                    H.iv({"est": lk["diff"][last], "lo": lk["diff_lo"][last], "hi": lk["diff_hi"][last]}),
                ]
            )
    if rows and all(r[5].startswith("n/a") for r in rows):
        parts.append(
            "<p>Does the marker pay off? Left out: no final checkpoint has responses both with and without a "
            "marker on a binary-scored benchmark, so every difference is n/a.</p>"
        )
        rows = []
    if rows:
        parts.append("<h3>Does the marker pay off? (final checkpoint)</h3>")
        parts.append(
            H.table(
                ["run", "marker", "step", "accuracy with", "accuracy without", "difference"],
                rows,
                numeric_from=2,
            )
        )
        parts.append(f"<p class='cap'>n = responses; {H.esc(cap)}.</p>")
    parts.append(_nll(nll, uris))
    return "".join(parts)


def _safety(a: dict, uris: dict[str, str]) -> str:
    parts = [""]
    if "tradeoff" in uris:
        parts.append(
            H.figure(
                "tradeoff",
                uris["tradeoff"],
                "Reasoning gain vs safety change per checkpoint; " + H.spec_line(a["spec"]),
            )
        )
    if not a["tradeoff"]:
        return parts[0] + "<p>No reasoning benchmark: no trade-off to show.</p>"
    rows = []
    for t in a["tradeoff"]:
        rc = t["recommendation"]
        rows.append(
            [
                H.esc(t["run"]),
                str(rc["step"]),
                H.iv(rc["weighted_score"], signed=False),
                H.iv(rc["reasoning_gain"]),
                H.iv(rc.get("safety_change")),
                f"{rc['prob_best']:.0%}",
                H.esc("; ".join(t["notes"])),
            ]
        )
    parts.append(
        H.table(
            [
                "run",
                "recommended step",
                "weighted score",
                "reasoning gain",
                "safety change",
                "best in replicates",
                "notes",
            ],
            rows,
            numeric_from=1,
        )
    )
    if all(t["recommendation"]["step"] == t["step"][0] for t in a["tradeoff"]):
        parts.append(
            "<p>Every run's recommended checkpoint is its base: no fine-tuned checkpoint raised the weighted score "
            "while keeping the safety change within the tolerance.</p>"
        )
    parts.append(
        f"<p class='cap'>Constraint: simultaneous lower bound of the safety change ≥ −{a['tradeoff'][0]['tolerance']}; "
        "the recommended checkpoint's reasoning gain and safety change carry simultaneous intervals over the "
        "checkpoints (it was chosen as the best, so a pointwise interval would be too narrow); "
        f"weights {H.esc(a['tradeoff'][0]['weights'])}; {H.esc(H.spec_line(a['spec']))}.</p>"
    )
    if a["power"]:
        prow = [
            [
                H.esc(p["like"] + (f" ({p['domain']})" if p.get("domain") else "")),
                str(p["n"]),
                str(p["k"]),
                str(p["steps"]),
                H.num(p["depth"], 2),
                f"{p['dip_detected']:.0%} ± {1.96 * p['mc_se']:.0%}",
                "—" if p.get("reference") is None else f"{p['reference']:.0%} ± {1.96 * p['reference_se']:.0%}",
                f"{p['non_flat']:.0%}",
                str(p["sims"]),
                f"B={p['B']}, seed={p['seed']}",
            ]
            for p in a["power"]
        ]
        parts.append("<h3>How much dip could this run see? (detector power)</h3>")
        if "power" in uris:
            parts.append(
                H.figure(
                    "power",
                    uris["power"],
                    "Share of simulated runs (this run's n, k, steps, base item accuracies) with a detected dip",
                )
            )
        parts.append(
            H.table(
                [
                    "like",
                    "n",
                    "k",
                    "steps",
                    "depth",
                    "dip detected",
                    "reference test",
                    "any non-flat verdict",
                    "sims",
                    "bootstrap",
                ],
                prow,
                numeric_from=1,
            )
        )
    return "".join(parts)


def _protocol(a: dict) -> str:
    """The paper's per-benchmark metrics at each run's last evaluated step, beside rsft's standard score there."""
    recs = a.get("protocol_metrics") or []
    if not recs:
        return "<p>No benchmark of the paper's protocol in this store.</p>"
    last: dict[str, int] = {}
    for r in recs:
        if r["step"] is not None:
            last[r["run"]] = max(last.get(r["run"], r["step"]), r["step"])
    std = {}
    for b in a.get("benchmarks", []):
        c = b["curve"]
        for i, step in enumerate(c["step"]):
            std[(b["run"], b["benchmark"], step)] = (c["est"][i], c["lo"][i], c["hi"][i])
    rows = []
    for r in recs:
        if r["step"] is not None and r["step"] != last.get(r["run"]):
            continue
        est, lo, hi = std.get((r["run"], r["benchmark"], r["step"]), (None, None, None))
        score = f"{H.num(est)} [{H.num(lo)}, {H.num(hi)}]" if est is not None else "n/a"
        step = "" if r["step"] is None else str(r["step"])
        rows.append([r["run"], step, r["benchmark"], r["metric"], H.num(r["value"]), str(r["n"]), score,
                     r["definition"]])  # fmt: skip
    header = ["run", "step", "benchmark", "protocol metric", "value", "n", "rsft score [CI]", "how"]
    note = (
        "<p>Each benchmark's own metrics as the paper's protocol defines them (rsft.eval.protocol), at each run's "
        "last evaluated step; every step is in tables/protocol_metrics.csv. The rsft score is the item-mean score "
        f"with its {a['spec'].get('level', 0.95):.0%} bootstrap interval (B = {a['spec'].get('B')}, seed "
        f"{a['spec'].get('seed')}).</p>"
    )
    return note + H.table(header, rows, numeric_from=4, text_cols=(6, 7))


def markdown_summary(a: dict) -> str:
    """The report's summary and detector table as Markdown."""
    lines = ["# rsft report summary", "", H.spec_line(a["spec"]), "", *headline(a), "", "## The four questions", ""]
    for i, f in enumerate(four_findings(a), 1):
        lines += [f"{i}. **{f.question}** ({f.verdict}; paper: {f.claim}) {f.text}", ""]
    lines += ["## Every curve", ""]
    lines += [f"- {s}" for s in _statements(a)]
    if a["early_warnings"]:
        lines += ["", "## Early-checkpoint warnings", ""]
        lines += [f"- {w['run']} · {w['name']}: {w['text']}" for w in a["early_warnings"]]
    lines += [
        "",
        "## Detector",
        "",
        "| " + " | ".join(H.DETECTOR_HEADER) + " |",
        "|" + "---|" * len(H.DETECTOR_HEADER),
    ]
    for r in H.detector_rows([*a["domain_curves"], *a["benchmarks"]]):
        lines.append("| " + " | ".join(x.replace("|", "/") for x in r) + " |")
    lines += ["", "## Outcomes and scoring", ""] + [f"- {s}" for s in _outcome_lines(a)]
    return "\n".join(lines) + "\n"


def _outcome_lines(a: dict) -> list[str]:
    """One line per run x benchmark: its policy, score mode and scale, and samples per outcome."""
    out = []
    for rec in a["benchmarks"]:
        sc, tot = rec.get("scoring") or {}, (rec.get("outcomes") or {}).get("total") or {}
        counts = ", ".join(f"{k} {tot.get(k, 'n/a')}" for k in ("ok", "truncated", "no_answer", "error"))
        out.append(
            f"{rec['run']} · {rec['benchmark']}: {counts} (errors left out of every number); policy "
            f"{', '.join(sc.get('policy') or ['unknown'])}; mode {', '.join(sc.get('score_mode') or ['unknown'])}; "
            f"scale {sc.get('scale', 'unknown')}"
        )
    return out
