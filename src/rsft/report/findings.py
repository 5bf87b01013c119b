"""The four questions of the paper, answered in sentences from ``analysis.json`` (formatting, no statistics).

Ren et al. report four findings; the report's first screen (and ``rsft demo``'s terminal summary) says for each
whether this store reproduces it, quoting the analysis's own numbers with their intervals, n and k:

1. dynamics — cross-domain scores dip, then recover: some out-of-domain or general domain curve is classed
   ``dip-and-recovery`` by the detector (``dip-and-partial-recovery`` only: partly);
2. data — verified long-CoT transfers where no-CoT and low-quality data do not: on a base trained on several data
   kinds, every other kind ends significantly below the long-CoT run out of domain (paired final difference);
3. capability — the stronger base learns transferable procedure, the weaker one verbosity: the strong base's
   long-CoT run gains significantly out of domain and the weak base's does not;
4. safety — reasoning improves while safety degrades: some run gains significantly in domain while its safety
   score falls significantly.

"Significantly" always means the interval the analysis wrote excludes 0 (simultaneous over checkpoints for gains
over the base, pointwise for run-vs-run differences). Where a question cannot be asked of the store (one base,
one data kind, no safety benchmark, too few checkpoints) the answer is "not measurable here" with the reason.
Nothing here decides an outcome: the verdict is a reading of the intervals, and every number is quoted from the
analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CROSS = ("out-of-domain", "general")
REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_MEASURABLE = (
    "reproduced",
    "partly",
    "not reproduced",
    "not measurable here",
)


@dataclass
class Finding:
    """One of the four questions and its answer.

    Attributes:
        key: ``dynamics`` | ``data`` | ``capability`` | ``safety``.
        question: the question, as the report's heading.
        claim: the paper's finding, one line.
        verdict: reproduced | partly | not reproduced | not measurable here.
        text: the answer paragraph (plain text; numbers with intervals, n and k).
        figure: name of the headline figure drawn for it (None: no figure, the text says why).
        runs: runs the paragraph talks about (the figure shows these).
    """

    key: str
    question: str
    claim: str
    verdict: str
    text: str
    figure: str | None = None
    runs: list[str] = field(default_factory=list)


def fmt(x: float | None, signed: bool = True, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def fmt_iv(d: dict | None, signed: bool = True, digits: int = 2) -> str:
    """``+0.12 [+0.05, +0.19]`` from an interval dict."""
    if not d or d.get("est") is None:
        return "n/a"
    return f"{fmt(d['est'], signed, digits)} [{fmt(d.get('lo'), signed, digits)}, {fmt(d.get('hi'), signed, digits)}]"


def _nk(st: dict) -> str:
    return f"n={st.get('n_items')} items, k={st.get('k', 1):g}"


def data_kind(cond: dict) -> str | None:
    """long-cot | no-cot | low-quality | None, from a run's ``quality`` (or ``dataset``) condition."""
    text = f"{cond.get('quality') or ''} {cond.get('dataset') or ''}".lower().replace("_", "-")
    if "low" in text:
        return "low-quality"
    if "nocot" in text or "no-cot" in text:
        return "no-cot"
    if "cot" in text:
        return "long-cot"
    return None


def _sig(gain: dict | None) -> int:
    """+1 / -1 / 0: the interval lies above 0 / below 0 / covers 0."""
    if not gain or gain.get("lo") is None or gain.get("hi") is None:
        return 0
    return 1 if gain["lo"] > 0 else -1 if gain["hi"] < 0 else 0


class _Index:
    """Lookups over one analysis dict."""

    def __init__(self, a: dict):
        self.a = a
        self.runs: dict[str, dict] = a.get("runs") or {}
        self.curves = {(r["run"], r["domain"]): r for r in a.get("domain_curves", [])}
        self.between = a.get("between_runs") or []
        self.behaviour = {b["run"]: b for b in a.get("behaviour", [])}
        self.labels = run_labels(a)

    def curve(self, run: str, domain: str) -> dict | None:
        r = self.curves.get((run, domain))
        return r if r and len(r["curve"]["step"]) >= 2 else None

    def cross_domain(self, run: str) -> dict | None:
        """The run's first cross-domain curve (out-of-domain, else general)."""
        return next((c for d in CROSS if (c := self.curve(run, d))), None)

    def diff(self, run: str, ref: str, curve: str) -> dict | None:
        """Final score of ``run`` minus ``ref`` on ``curve`` from between_runs, in either direction."""
        for b in self.between:
            if b["curve"] != curve:
                continue
            if (b["run"], b["reference"]) == (run, ref):
                return b["diff"]
            if (b["run"], b["reference"]) == (ref, run):
                d = b["diff"]
                return {"est": -d["est"], "lo": -d["hi"], "hi": -d["lo"]}
        return None

    def label(self, run: str) -> str:
        return self.labels.get(run, run)


def run_labels(a: dict) -> dict[str, str]:
    """Short, stable run labels for figures and sentences: the varying conditions (model, data), else R1, R2..."""
    runs = sorted(a.get("runs") or {r["run"] for r in a.get("domain_curves", [])})
    conds = a.get("runs") or {}
    out = {}
    for i, run in enumerate(runs):
        c = conds.get(run) or {}
        kind = data_kind(c)
        parts = [str(c["model"])] if c.get("model") is not None and _varies(conds, "model") else []
        if kind and _varies(conds, "dataset", "quality"):
            parts.append(kind)
        label = " · ".join(parts)
        out[run] = label if label and len(label) <= 24 else f"R{i + 1}"
    if len(set(out.values())) < len(out):  # two runs share conditions: fall back to numbers for all
        out = {run: f"R{i + 1}" for i, run in enumerate(runs)}
    return out


def _varies(conds: dict, *keys: str) -> bool:
    return any(len({str((c or {}).get(k)) for c in conds.values()}) > 1 for k in keys) or len(conds) == 1


def four_findings(a: dict) -> list[Finding]:
    """The four findings of the paper, answered from ``a`` (an ``analysis.json`` dict)."""
    ix = _Index(a)
    return [_dynamics(ix), _data(ix), _capability(ix), _safety(ix)]


def _dynamics(ix: _Index) -> Finding:
    f = Finding(
        "dynamics",
        "Does cross-domain performance dip and recover?",
        "cross-domain scores first dip, then recover (early checkpoints underestimate generalization)",
        NOT_MEASURABLE,
        "",
    )
    curves = [c for c in ix.curves.values() if c["domain"] in CROSS and len(c["curve"]["step"]) >= 3]
    if not curves:
        f.text = (
            "No out-of-domain or general benchmark was evaluated on at least three checkpoints (base, one in "
            "between, final), so a dip followed by a recovery cannot be seen."
        )
        return f
    f.runs = sorted({c["run"] for c in curves})
    f.figure = "q_dynamics"
    dips = [c for c in curves if c["detector"]["class"] == "dip-and-recovery"]
    partial = [c for c in curves if c["detector"]["class"] == "dip-and-partial-recovery"]
    counts: dict[str, int] = {}
    for c in curves:
        counts[c["detector"]["class"]] = counts.get(c["detector"]["class"], 0) + 1
    tally = ", ".join(f"{n} {cls}" for cls, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    if dips or partial:
        f.verdict = REPRODUCED if dips else PARTLY
        best = max(dips or partial, key=lambda c: abs((c["detector"].get("depth") or {}).get("est") or 0))
        d = best["detector"]
        f.text = (
            f"{'Yes' if dips else 'Partly (the recovery is partial)'} in {len(dips or partial)} of {len(curves)} "
            f"cross-domain curves ({tally}). The deepest: "
            f"{ix.label(best['run'])}, {best['domain']}, fell by {fmt_iv(_magnitude(d.get('depth')), False)} at step "
            f"{d.get('dip_step')} "
            f"and recovered by step {d.get('recovery_step')}; final − base {fmt_iv(d.get('final_gain'))} "
            f"({_nk(best['stat'])})."
        )
    else:
        f.verdict = NOT_REPRODUCED
        f.text = f"No: none of the {len(curves)} cross-domain curves dips and recovers ({tally})."
    f.text += " " + _power_sentence(ix.a)
    warns = [w for w in ix.a.get("early_warnings", []) if w.get("name") in CROSS]
    if warns:
        f.text += f" In {len(warns)} cross-domain curve(s) an early checkpoint's verdict differs from the final one."
    return f


def _magnitude(d: dict | None) -> dict | None:
    """A drop written as a positive size (the analysis stores a dip's depth as a negative difference)."""
    if not d or d.get("est") is None or d["est"] >= 0:
        return d
    return {"est": -d["est"], "lo": -d["hi"], "hi": -d["lo"]}


def _power_sentence(a: dict) -> str:
    power = [p for p in a.get("power", []) if p.get("depth") and p.get("dip_detected") is not None]
    if not power:
        return "(No power simulation was run, so a missed dip cannot be told from no dip.)"
    p = min(power, key=lambda p: (abs(p["depth"] - 0.1), -p["depth"]))
    return (
        f"At this size (n={p['n']}, k={p['k']}, {p['steps']} checkpoints) the detector finds a {p['depth']:.2f}-deep "
        f"dip in {p['dip_detected']:.0%} ± {1.96 * p['mc_se']:.0%} of {p['sims']} simulated runs."
    )


def _data(ix: _Index) -> Finding:
    f = Finding(
        "data",
        "Which data transfers?",
        "verified long-CoT transfers; no-CoT and low-quality data do not",
        NOT_MEASURABLE,
        "",
    )
    by_model: dict[str, dict[str, str]] = {}
    for run, cond in ix.runs.items():
        kind = data_kind(cond)
        if kind:
            by_model.setdefault(str(cond.get("model")), {}).setdefault(kind, run)
    groups = {m: kinds for m, kinds in by_model.items() if "long-cot" in kinds and len(kinds) > 1}
    if not groups:
        f.text = (
            "No base was fine-tuned on both long-CoT data and another kind (no-CoT, low-quality) — the runs' "
            "quality/dataset conditions say which — so data kinds cannot be compared on the same base."
        )
        return f
    f.figure = "q_data"
    sentences, verdicts = [], []
    for model, kinds in sorted(groups.items()):
        cot = kinds["long-cot"]
        cc = ix.cross_domain(cot)
        if cc is None:
            continue
        dom = cc["domain"]
        f.runs += list(kinds.values())
        parts = [f"long-CoT {fmt_iv(cc['detector']['final_gain'])}"]
        below = []
        for kind, run in sorted(kinds.items()):
            if kind == "long-cot":
                continue
            oc = ix.curve(run, dom)
            d = ix.diff(run, cot, f"[{dom}]")
            if oc is None:
                continue
            parts.append(f"{kind} {fmt_iv(oc['detector']['final_gain'])}")
            below.append((kind, d))
        diffs = "; ".join(f"{k} − long-CoT {fmt_iv(d)}" for k, d in below if d)
        n_below = sum(1 for _, d in below if _sig(d) < 0)
        verdicts.append(
            REPRODUCED if below and n_below == len(below) else PARTLY if n_below else NOT_REPRODUCED
        )
        sentences.append(
            f"On base {model}, {dom} final − base: {', '.join(parts)}"
            + (f"; paired final differences: {diffs}" if diffs else "")
            + f" ({_nk(cc['stat'])})."
        )
    if not sentences:
        f.text = (
            "The long-CoT runs have no out-of-domain or general benchmark, so transfer cannot be compared."
        )
        f.figure = None
        return f
    f.verdict = REPRODUCED if REPRODUCED in verdicts else PARTLY if PARTLY in verdicts else NOT_REPRODUCED
    lead = {
        REPRODUCED: "Long-CoT transfers best: every other data kind ends significantly below it out of domain on "
        "at least one base.",
        PARTLY: "Partly: some, not all, other data kinds end significantly below long-CoT out of domain.",
        NOT_REPRODUCED: "No data kind ends significantly below long-CoT out of domain.",
    }[f.verdict]
    f.text = lead + " " + " ".join(sentences)
    return f


def _strength(cond: dict) -> tuple[int, float]:
    cap = str(cond.get("capability") or "").lower()
    rank = {"weak": 0, "strong": 2}.get(cap, 1)
    return rank, float(cond.get("params_b") or 0.0)


def _capability(ix: _Index) -> Finding:
    f = Finding(
        "capability",
        "Does the stronger base learn procedure or verbosity?",
        "strong bases learn transferable procedure; weak ones copy verbosity",
        NOT_MEASURABLE,
        "",
    )
    cot_runs = {}
    for run, cond in sorted(ix.runs.items()):
        if data_kind(cond) == "long-cot" and cond.get("model") is not None:
            cot_runs.setdefault(str(cond["model"]), run)
    if len(cot_runs) < 2:
        f.text = (
            "Fewer than two base models were fine-tuned on long-CoT data, so a stronger and a weaker base "
            "cannot be compared on the same data."
        )
        return f
    ranked = sorted(cot_runs.values(), key=lambda r: _strength(ix.runs[r]))
    weak, strong = ranked[0], ranked[-1]
    if _strength(ix.runs[weak]) == _strength(ix.runs[strong]):
        f.text = "The bases carry no capability or size condition, so which one is stronger is not known."
        return f
    cs, cw = ix.cross_domain(strong), ix.cross_domain(weak)
    if cs is None or cw is None or cs["domain"] != cw["domain"]:
        f.text = (
            "The long-CoT runs share no out-of-domain or general benchmark, so transfer cannot be compared."
        )
        return f
    f.runs, f.figure = [weak, strong], "q_capability"
    gs, gw = cs["detector"]["final_gain"], cw["detector"]["final_gain"]
    ss, sw = _sig(gs), _sig(gw)
    f.verdict = REPRODUCED if ss > 0 and sw <= 0 else PARTLY if ss > 0 else NOT_REPRODUCED
    head = {
        REPRODUCED: "Procedure on the stronger base only:",
        PARTLY: "Both bases gain out of domain, so the weak one learned more than verbosity:",
        NOT_REPRODUCED: "The stronger base shows no significant transfer:",
    }[f.verdict]
    f.text = (
        f"{head} after long-CoT SFT the stronger base ({ix.label(strong)}) {cs['domain']} final − base is "
        f"{fmt_iv(gs)}, the weaker ({ix.label(weak)}) {fmt_iv(gw)} ({_nk(cs['stat'])})."
        + _length_sentence(ix, strong, weak)
    )
    return f


def _length_sentence(ix: _Index, strong: str, weak: str) -> str:
    """Response length at the base and at the final checkpoint, per run (verbosity)."""
    parts = []
    for run in (strong, weak):
        b = ix.behaviour.get(run)
        if not b or len(b.get("step", [])) < 2:
            continue
        rt = b["response_tokens"]
        base = {"est": rt["est"][0], "lo": rt["lo"][0], "hi": rt["hi"][0]}
        last = {"est": rt["est"][-1], "lo": rt["lo"][-1], "hi": rt["hi"][-1]}
        grew = "grew" if last["lo"] > base["hi"] else "shrank" if last["hi"] < base["lo"] else "stayed"
        parts.append(f"{ix.label(run)} {grew} from {fmt_iv(base, False, 0)} to {fmt_iv(last, False, 0)}")
    if not parts:
        return ""
    return " Mean response length (tokens): " + "; ".join(parts) + "."


def _safety(ix: _Index) -> Finding:
    f = Finding(
        "safety",
        "What does it cost in safety?",
        "reasoning improves while safety degrades",
        NOT_MEASURABLE,
        "",
    )
    runs = sorted({r for r, d in ix.curves if d == "safety" and ix.curve(r, "safety")})
    if not runs:
        f.text = "No safety benchmark was evaluated on at least two checkpoints."
        return f
    f.runs, f.figure = runs, "q_safety"
    both, parts = [], []
    for run in runs:
        s = ix.curve(run, "safety")["detector"]["final_gain"]
        ind = ix.curve(run, "in-domain")
        g = ind["detector"]["final_gain"] if ind else None
        if _sig(g) > 0 and _sig(s) < 0:
            both.append(run)
        parts.append(f"{ix.label(run)} {fmt_iv(s)}" + (f" (in-domain {fmt_iv(g)})" if g else ""))
    st = ix.curve(runs[0], "safety")["stat"]
    n_down = sum(1 for r in runs if _sig(ix.curve(r, "safety")["detector"]["final_gain"]) < 0)
    f.verdict = REPRODUCED if both else NOT_REPRODUCED
    lead = (
        f"In {len(both)} of {len(runs)} runs in-domain accuracy rose significantly while safety fell significantly."
        if both
        else f"No run both gained in domain and lost safety significantly ({n_down} of {len(runs)} lost safety)."
    )
    f.text = f"{lead} Safety final − base: {'; '.join(parts)} ({_nk(st)})."
    return f
