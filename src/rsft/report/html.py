"""The HTML and Markdown text of the report, built from ``analysis.json`` (formatting only, no statistics).

Sections follow the paper: dynamics / dip-and-recovery; data (condition comparisons); capability (base models);
behaviours; safety trade-off; methods with definitions. Every number is printed with its interval, and every
table says its n (items), k (samples per item), B, seed and level.
"""

from __future__ import annotations

import html
import math
import re

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1340px;margin:0 auto;padding:20px 28px;background:#fff;box-sizing:border-box}
p,li,.cap,.meta,figcaption,.warn,.note{overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px;margin-top:12px}
.card{border:1px solid #dde3ea;border-radius:6px;padding:10px 14px;min-width:0}
.card h2{font-size:16px;border:0;margin:2px 0 4px;padding:0} .card p{font-size:14px;line-height:1.4;margin:6px 0}
.card figure{margin:6px 0 2px} .card figure img{width:100%;height:auto} .claim{color:#666;font-size:12.5px!important}
.verdict{font-size:12px;font-weight:normal;padding:1px 7px;border-radius:9px;margin-left:6px;white-space:nowrap}
.v-reproduced{background:#d9f0d3;color:#1b5e20} .v-partly{background:#fff2cc;color:#7a5a00}
.v-not-reproduced{background:#f8d7d3;color:#8b1a10} .v-not-measurable-here{background:#e8e8e8;color:#444}
details.sec{border-top:1px solid #ddd;margin:4px 0} details.sec>summary{padding:4px 0}
details.sec>summary h2{display:inline;font-size:18px;border:0;color:#1a4f8a}
.tw th:first-child,.tw td:first-child{position:sticky;left:0;background:#fff;z-index:1} .tw th:first-child{background:#f0f4f8}
h1{font-size:26px;margin:0 0 4px} h2{font-size:20px;border-bottom:2px solid #2166ac;padding-bottom:4px;margin-top:36px}
h3{font-size:15px;margin-top:22px} .meta{color:#666;font-size:13px}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0 4px} th,td{border:1px solid #ddd;padding:3px 7px;text-align:left}
th{background:#f0f4f8} td.num{text-align:right;font-variant-numeric:tabular-nums}
th,td{overflow-wrap:break-word} .tw{overflow-x:auto;max-width:100%}
.cap{color:#555;font-size:12px;margin-bottom:14px} figure{margin:10px 0 18px} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:12px;color:#555} .up{color:#1b7837;font-weight:bold} .down{color:#b2182b;font-weight:bold}
.warn{background:#fff4e5;border-left:4px solid #e08214;padding:6px 10px;margin:6px 0;font-size:13.5px}
.note{background:#eef4fb;border-left:4px solid #2166ac;padding:6px 10px;margin:6px 0;font-size:13.5px}
pre{white-space:pre-wrap;font-size:12px;background:#f6f6f6;padding:10px;border-radius:4px}
ul.sum li{margin:3px 0} nav a{margin-right:12px;font-size:13px} dl.defs{font-size:13.5px} dl.defs dt{font-weight:bold;margin-top:6px}
.method p{font-size:13.5px;line-height:1.45;max-width:95ch}
details{margin:8px 0} summary{cursor:pointer;font-size:13.5px;color:#2166ac}
"""


def esc(x) -> str:
    return html.escape(str(x))


def num(x, digits: int = 3, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def iv(d: dict | None, signed: bool = True, digits: int = 3) -> str:
    """'est [lo, hi]' of an interval dict."""
    if not d:
        return "—"
    return f"{num(d['est'], digits, signed)} [{num(d['lo'], digits, signed)}, {num(d['hi'], digits, signed)}]"


def params(x) -> str:
    """A parameter count given in billions (``params_b``) in human units: 853k, 12.4M, 8.2B."""
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x) or x <= 0:
        return "" if x is None else str(x)
    n = x * 1e9
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            v = n / div
            return f"{v:.3g}{unit}" if v < 100 else f"{v:.0f}{unit}"
    return f"{n:.0f}"


COND_HEADERS = {"params_b": "parameters", "max_steps": "steps", "lr": "learning rate"}
"""Reader names of the run conditions the tables show (others keep their own name)."""


def cond_header(key: str) -> str:
    return COND_HEADERS.get(key, key.replace("_", " "))


def cond_value(key: str, value) -> str:
    """One run condition as a reader reads it (a parameter count in human units), HTML-escaped."""
    if value is None:
        return ""
    return esc(params(value)) if key == "params_b" else esc(value)


_ROLE = re.compile(r":(?:func|mod|data|class|meth|attr|obj|ref|doc):`~?([^`]+)`")


def plain(text: str) -> str:
    """reST markup out of a method text, for readers: ``:func:`x.y``` becomes ``y``, double backticks and
    ``**bold**``/``*italic*`` marks are dropped (the words stay)."""
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", text)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\1", text)


def spec_line(spec: dict, what: str = "pointwise") -> str:
    return (
        f"{spec['level']:.0%} {what} intervals; two-stage bootstrap over items and samples within items, "
        f"B={spec['B']}, seed={spec['seed']}"
    )


def breakable(cell: str) -> str:
    """An HTML cell's text may wrap after each underscore (run and benchmark names are long identifiers), so that
    a wide table wraps inside the page instead of hiding columns behind a scrollbar."""
    return _UNDERSCORE.sub("_<wbr>", cell)


_UNDERSCORE = re.compile(r"_(?![^<]*>)")  # an underscore in text, not inside a tag


def table(
    header: list[str],
    rows: list[list[str]],
    numeric_from: int = 1,
    text_cols: tuple[int, ...] = (),
    name_cols: tuple[int, ...] = (0,),
) -> str:
    """An HTML table; columns from ``numeric_from`` on are right-aligned numbers, except ``text_cols``. Header
    cells and the ``name_cols`` (identifiers such as run names) may wrap after an underscore."""
    head = "".join(f"<th>{breakable(esc(h))}</th>" for h in header)
    body = []
    for r in rows:
        cells = "".join(
            f"<td class='num'>{c}</td>"
            if i >= numeric_from and i not in text_cols
            else f"<td>{breakable(c) if i in name_cols else c}</td>"
            for i, c in enumerate(r)
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f"<div class='tw'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


WIDE_COLUMNS = 6
"""Curve columns per table: a runs x curves table with more is split into several, each repeating the run
columns, so that it wraps down the page instead of running off its right edge."""


def wide_table(
    header: list[str], rows: list[list[str]], fixed: int, name_cols: tuple[int, ...] = (0,), per: int = WIDE_COLUMNS
) -> str:
    """``table`` of ``fixed`` label columns then number columns, split every ``per`` number columns."""
    total = len(header) - fixed
    if total <= per:
        return table(header, rows, numeric_from=fixed, name_cols=name_cols)
    out = []
    for start in range(fixed, len(header), per):
        cols = [*range(fixed), *range(start, min(start + per, len(header)))]
        out.append(
            f"<p class='cap'>Columns {start - fixed + 1}–{min(start + per, len(header)) - fixed} of {total}:</p>"
            + table([header[i] for i in cols], [[r[i] for i in cols] for r in rows], fixed, name_cols=name_cols)
        )
    return "".join(out)


def details(key: str, title: str, body: str) -> str:
    """A section that stays collapsed until opened (everything below the first screen)."""
    return f"<details class='sec' id='{esc(key)}'><summary><h2>{esc(title)}</h2></summary>{body}</details>"


def figure(name: str, uri: str, caption: str) -> str:
    return (
        f"<figure id='fig-{esc(name)}' data-figure='{esc(name)}'><img alt='{esc(name)}' src='{uri}'>"
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def mark_html(mark: str) -> str:
    return {"▲": "<span class='up'>▲</span>", "▼": "<span class='down'>▼</span>"}.get(mark, "")


def detector_rows(recs: list[dict]) -> list[list[str]]:
    rows = []
    for r in recs:
        d = r["detector"]
        st = r["stat"]
        rows.append(
            [
                esc(r["run"]),
                esc(r.get("benchmark") or r["domain"]),
                esc(d["class"]),
                esc(d.get("dip_step") if d.get("dip_step") is not None else "—"),
                iv(d.get("depth")),
                esc(d.get("recovery_step") if d.get("recovery_step") is not None else "—"),
                iv(r.get("final_change") or d.get("final_gain")),
                f"{st['n_items']}",
                f"{st['k']:g}",
                esc("; ".join(d.get("notes", []))),
            ]
        )
    return rows


DETECTOR_HEADER = [
    "run",
    "curve",
    "class",
    "dip step",
    "depth",
    "recovery step",
    "final gain",
    "n",
    "k",
    "notes",
]


JUDGE_NAMES = {
    "refusal": "offline refusal detector (a lexicon of refusal acts; no model)",
    "refusal-detector": "offline refusal detector (a lexicon of refusal acts; no model)",
    "rubric": "1-5 harmfulness rubric judged by a model",
    "classifier:harmbench": "HarmBench classifier",
    "classifier:llamaguard3": "Llama Guard 3",
    "classifier:wildguard": "WildGuard",
    "rule": "the benchmark's own rule",
}


def judges_block(judges: dict) -> str:
    """Which judge scored each safety and over-refusal benchmark (rows per judge)."""
    if not judges:
        return ""
    rows = [
        [esc(b), esc("; ".join(f"{JUDGE_NAMES.get(j, j)} ({n:,} rows)" for j, n in sorted(per.items())))]
        for b, per in sorted(judges.items())
    ]
    return (
        "<h3>Safety judges</h3><p>Which judge scored each safety number. The offline refusal detector is a "
        "lexicon (agreement with human labels in docs/judges.md); on a GPU a model judge (Llama Guard 3, "
        "WildGuard, the HarmBench classifier) is the recommended one.</p>"
        + table(["benchmark", "judge (rows)"], rows, numeric_from=9)
    )


def symbols_block(spec: dict) -> str:
    """What n, k, B, the seed and the two kinds of interval mean, with this analysis's values."""
    defs = [
        ("n (items)", "the number of distinct questions of a benchmark scored at a checkpoint."),
        ("k (samples per item)", "how many responses were sampled for each question; an item's score is their mean."),
        ("B (bootstrap replicates)", f"how many times the items and responses were redrawn to measure the "
         f"uncertainty; here B = {spec.get('B')}."),
        ("seed", f"fixes those random redraws, so the same store gives the same intervals; here seed = "
         f"{spec.get('seed')}."),
        ("pointwise interval", f"a {spec.get('level', 0.95):.0%} interval for one number on its own (a "
         "checkpoint's score, or a contrast fixed in advance such as final minus base)."),
        ("simultaneous interval", f"{spec.get('level', 0.95):.0%} intervals that hold together over every "
         "checkpoint of a curve; used wherever a checkpoint was picked by looking at the data."),
        ("▲ / ▼", "the interval lies entirely above / below zero (a change the data shows)."),
    ]  # fmt: skip
    items = "".join(f"<dt>{esc(t)}</dt><dd>{esc(d)}</dd>" for t, d in defs)
    return f"<h3>What the symbols mean</h3><dl class='defs'>{items}</dl>"


def methods_section(analysis: dict) -> str:
    spec = analysis["spec"]
    lex = analysis["config"]["lexicon"]
    lex_rows = [[esc(c), esc(", ".join(t))] for c, t in lex.items()]
    prov = analysis.get("git") or {}
    return (
        f"<p class='cap'>Every interval: {esc(spec_line(spec))}. Store: {esc(analysis['store'])}. "
        f"rsft {esc(analysis['rsft_version'])}, commit {esc(prov.get('commit'))} (dirty: {esc(prov.get('dirty'))}), "
        f"analysis written {esc(analysis['created_at'])}.</p>"
        + symbols_block(spec)
        + "".join(
            f"<h3>{esc(title)}</h3><div class='method'><p>"
            f"{esc(plain(analysis.get('methods', {}).get(key, 'not recorded')))}</p></div>"
            for key, title in (
                ("outcomes", "Outcomes"),
                ("bootstrap", "Bootstrap"),
                ("detector", "Dip-and-recovery detector"),
                ("safety", "Safety trade-off and recommendation"),
            )
        )
        + outcomes_table(analysis)
        + "<h3>Domains</h3><p>In-domain benchmarks: "
        + esc(", ".join(sorted(b for b, d in analysis["domains"].items() if d == "in-domain")) or "none")
        + ". Domain curves are equal-weight means of their benchmarks' scores on common checkpoints.</p>"
        + judges_block(analysis.get("judges") or {})
        + "<h3>Behaviour markers</h3><p>Whole-word, case-insensitive phrases (inflections included), counted in "
        "the full response; rates are per 1,000 generated tokens.</p>"
        + table(["category", "phrases"], lex_rows, numeric_from=9)
        + (
            "<h3>Notes</h3><ul>" + "".join(f"<li>{esc(plain(n))}</li>" for n in analysis["notes"]) + "</ul>"
            if analysis["notes"]
            else ""
        )
    )


def outcomes_table(analysis: dict) -> str:
    """Per run and benchmark: how its rows were scored (policy, score mode, scale) and samples per outcome."""
    rows = []
    for rec in analysis["benchmarks"]:
        sc, oc = rec.get("scoring") or {}, rec.get("outcomes") or {}
        tot = oc.get("total") or {}
        rows.append(
            [esc(rec["run"]), esc(rec["benchmark"])]
            + [esc(", ".join(sc.get(k) or ["unknown"])) for k in ("policy", "score_mode")]
            + [esc(sc.get("scale", "unknown"))]
            + [esc(tot.get(k, "n/a")) for k in ("ok", "truncated", "no_answer", "error")]
        )
    if not rows:
        return ""
    head = [
        "run",
        "benchmark",
        "outcome policy",
        "score mode",
        "scale",
        "ok",
        "truncated",
        "no answer",
        "error",
    ]
    return (
        "<h3>Outcomes and scoring per benchmark</h3><p class='cap'>Samples per outcome over all checkpoints. "
        "Error rows are left out of every number above and counted here; a benchmark of scale 'reward' enters "
        "its domain only as a bounded score (see the notes).</p>" + table(head, rows, numeric_from=5)
    )
