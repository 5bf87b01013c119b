"""The four questions of the paper, answered in sentences from ``analysis.json`` (formatting, no statistics).

Ren et al. report four findings; the report's first screen (and ``rsft demo``'s terminal summary) says for each
whether this store reproduces it, quoting the analysis's own numbers with their intervals, n and k. Each verdict
follows a stated rule applied to the tests the analysis wrote; ``tests/report/test_findings.py`` feeds every card
numbers that contradict it and checks the verdict and its sentence.

"Significant" means: the test's p-value, Holm-adjusted over the card's own family of tests, is <= alpha
(``1 - level``, 5% by default), with the estimate's sign as the direction. The tests are pre-specified
contrasts with their own pointwise intervals (final − base of a curve, the final difference of two runs, the
difference of two runs' gains; :func:`rsft.analysis.stats.contrast`), so each card's family-wise error is
<= alpha. The dynamics card reads the detector's verdicts re-run at Holm's step-down level over every
cross-domain curve (:mod:`rsft.analysis.multiplicity`). The rules:

1. dynamics — cross-domain scores dip, then recover: **reproduced** when, at the study-level (Holm) detector
   level, some out-of-domain or general curve dips and recovers; **partly** when the only dips recover partly;
   **not reproduced** otherwise.
2. data — verified long-CoT transfers where no-CoT and low-quality data do not. Per base trained on long-CoT and
   another kind, on the long-CoT run's cross-domain curve (out-of-domain, else general): **reproduced** when
   long-CoT's own final − base is significantly > 0 and every other kind ends significantly below long-CoT;
   **partly** when long-CoT's final − base is not significantly < 0, no kind ends significantly above it and some,
   not all, end significantly below it (or all do, but long-CoT's own gain is not significant); **not reproduced**
   when long-CoT's own final − base is significantly < 0 (it does not transfer), a kind ends significantly above
   it, or none ends below it. Over several bases: reproduced when every base is, partly when any base is at least
   partly, else not reproduced.
3. capability — the stronger base learns transferable procedure, the weaker one verbosity: **reproduced** when
   the strong base's long-CoT gain is significantly > 0 and the difference of the gains (strong − weak) is
   significantly > 0; **partly** when the strong gain is significantly > 0 but the difference is not significant;
   **not reproduced** when the strong gain is not significantly > 0 or the difference is significantly < 0.
4. safety — reasoning improves while safety degrades: **reproduced** when some run's in-domain final − base is
   significantly > 0 *and* its safety final − base significantly < 0 (an intersection-union test per run, p =
   the larger of the two p-values; Holm over runs); **not reproduced** otherwise.

Where a question cannot be asked of the store (one base, one data kind, no safety benchmark, too few checkpoints)
the answer is "not measurable here" with the reason. :func:`headline` is the first screen's plain-language
summary: what happened to each domain across runs, and which checkpoint is recommended.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rsft.analysis.multiplicity import CROSS
from rsft.analysis.stats import holm

FULL_DIP = "dip-and-recovery"
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


def gain(curve: dict) -> dict | None:
    """A curve's final − base with its own pointwise interval (``final_change``; the detector's ``final_gain``
    for an analysis written before final_change existed)."""
    return curve.get("final_change") or curve["detector"].get("final_gain")


def p_value(d: dict | None) -> float:
    """The contrast's two-sided p-value as the analysis wrote it; for an interval without one, the normal p-value
    its half-width implies (``se = (hi - lo) / 3.92``). NaN: no test."""
    if not d or d.get("est") is None:
        return math.nan
    if d.get("p") is not None:
        return float(d["p"])
    if d.get("lo") is None or d.get("hi") is None:
        return math.nan
    se = (d["hi"] - d["lo"]) / (2 * 1.959964)
    if se <= 0:
        return 1.0 if d["est"] == 0 else 0.0
    return math.erfc(abs(d["est"]) / se / math.sqrt(2))


def fmt_p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"


class Tests:
    """One card's family of tests, Holm-adjusted together (see the module docstring)."""

    def __init__(self, alpha: float):
        self.alpha = alpha
        self._p: list[float] = []
        self._sign: list[int] = []
        self._adj = None

    def add(self, d: dict | None) -> int:
        """A contrast: its p-value, and the sign of its estimate as the direction."""
        est = (d or {}).get("est")
        return self.add_p(p_value(d), 0 if est is None else (1 if est > 0 else -1 if est < 0 else 0))

    def add_p(self, p: float, sign: int) -> int:
        self._p.append(p)
        self._sign.append(sign)
        self._adj = None
        return len(self._p) - 1

    @property
    def size(self) -> int:
        return sum(math.isfinite(p) for p in self._p)

    def adjusted(self, i: int) -> float:
        if self._adj is None:
            self._adj = holm(self._p)
        return float(self._adj[i])

    def sig(self, i: int) -> int:
        """+1 / -1: significantly above / below 0 after Holm; 0: not significant (or no test)."""
        p = self.adjusted(i)
        return self._sign[i] if math.isfinite(p) and p <= self.alpha else 0

    def quote(self, i: int, d: dict | None) -> str:
        """``+0.12 [+0.05, +0.19], Holm p 0.004``."""
        return f"{fmt_iv(d)}, Holm p {fmt_p(self.adjusted(i))}"

    def describe(self) -> str:
        return f"Holm-corrected over this card's {self.size} test(s) at {self.alpha:.0%} family-wise"


def _alpha(a: dict) -> float:
    return 1.0 - float((a.get("spec") or {}).get("level", 0.95))


class _Index:
    """Lookups over one analysis dict."""

    def __init__(self, a: dict):
        self.a = a
        self.runs: dict[str, dict] = a.get("runs") or {}
        self.curves = {(r["run"], r["domain"]): r for r in a.get("domain_curves", [])}
        self.between = a.get("between_runs") or []
        self.gain_diffs = a.get("gain_differences") or []
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
        return _lookup(self.between, run, ref, curve)

    def gain_diff(self, run: str, ref: str, curve: str) -> dict | None:
        """(final − base of ``run``) − (final − base of ``ref``) on ``curve``, in either direction."""
        return _lookup(self.gain_diffs, run, ref, curve)

    def label(self, run: str) -> str:
        return self.labels.get(run, run)


def _lookup(rows: list[dict], run: str, ref: str, curve: str) -> dict | None:
    for b in rows:
        if b["curve"] != curve:
            continue
        if (b["run"], b["reference"]) == (run, ref):
            return b["diff"]
        if (b["run"], b["reference"]) == (ref, run):
            d = b["diff"]
            return {**d, "est": -d["est"], "lo": -d["hi"], "hi": -d["lo"]}
    return None


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


def _is_partial(cls: str) -> bool:
    return cls != FULL_DIP and cls.startswith("dip")


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
    alpha = _alpha(ix.a)
    study = (ix.a.get("study") or {}).get("dynamics")
    corrected = bool(study) and all(c.get("study") for c in curves)

    def det(c: dict) -> dict:
        return c["study"] if corrected else c["detector"]

    dips = [c for c in curves if det(c)["class"] == FULL_DIP]
    partial = [c for c in curves if _is_partial(det(c)["class"])]
    counts: dict[str, int] = {}
    for c in curves:
        counts[c["detector"]["class"]] = counts.get(c["detector"]["class"], 0) + 1
    tally = ", ".join(f"{n} {cls}" for cls, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    m = len(curves)
    if corrected:
        how = (
            f"counted at Holm's step-down over the {m} cross-domain curves (detector level "
            f"{study['final_level']:.2%}; the chance that any counted dip is false is <= {alpha:.0%})"
        )
    else:
        how = f"each curve at its own {alpha:.0%} false-verdict rate, not corrected across the {m} curves"
    if dips or partial:
        f.verdict = REPRODUCED if dips else PARTLY
        best = max(dips or partial, key=lambda c: abs((det(c).get("depth") or {}).get("est") or 0))
        d = det(best)
        mg = d.get("recovery_margin")
        within = f" (within {mg:.2f})" if mg is not None else ""
        f.text = (
            f"{'Yes' if dips else 'Partly (the recovery is partial)'} in {len(dips or partial)} of {m} "
            f"cross-domain curves, {how}. The deepest: "
            f"{ix.label(best['run'])}, {best['domain']}, fell by {fmt_iv(_magnitude(d.get('depth')), False)} at step "
            f"{d.get('dip_step')} "
            + (
                f"and recovered{within} by the end (it rose from the dip by step {d.get('recovery_step')}); "
                if dips
                else f"and rose again by step {d.get('recovery_step')}, but the final checkpoint is not shown to be "
                f"back{within} at the base; "
            )
            + f"final − base {fmt_iv(gain(best))} ({_nk(best['stat'])}). Per-curve verdicts: {tally}."
        )
    else:
        f.verdict = NOT_REPRODUCED
        f.text = f"No: none of the {m} cross-domain curves dips and recovers, {how}. Per-curve verdicts: {tally}."
    f.text += " " + _power_sentence(ix.a)
    warns = [w for w in ix.a.get("early_warnings", []) if w.get("name") in CROSS]
    if warns:
        f.text += (
            f" In {len(warns)} cross-domain curve(s) an early checkpoint's verdict is contradicted by the final one "
            "(see the early-checkpoint warnings)."
        )
    return f


def _magnitude(d: dict | None) -> dict | None:
    """A drop written as a positive size (the analysis stores a dip's depth as a negative difference)."""
    if not d or d.get("est") is None or d["est"] >= 0:
        return d
    return {"est": -d["est"], "lo": -d["hi"], "hi": -d["lo"]}


def _power_sentence(a: dict) -> str:
    """The detector's simulated power, for the curve it was simulated for (cross-domain benchmarks first)."""
    power = [p for p in a.get("power", []) if p.get("depth") and p.get("dip_detected") is not None]
    if not power:
        return "(No power simulation was run, so a missed dip cannot be told from no dip.)"
    p = min(power, key=lambda p: (p.get("domain") not in CROSS, abs(p["depth"] - 0.1), -p["depth"]))
    where = p.get("benchmark") or p.get("like") or "this run's benchmarks"
    run = f" of run {p['run']}" if p.get("run") else ""
    dom = f", {p['domain']}" if p.get("domain") else ""
    ref = (
        f" (the reference max-t test of a dip alone: {p['reference']:.0%})" if p.get("reference") is not None else ""
    )
    return (
        f"At the size of {where}{run}{dom} (n={p['n']}, k={p['k']}, {p['steps']} checkpoints, item drift as fitted) "
        f"the detector finds a {p['depth']:.2f}-deep dip in {p['dip_detected']:.0%} ± {1.96 * p['mc_se']:.0%} "
        f"of {p['sims']} simulated runs{ref}."
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
    tests = Tests(_alpha(ix.a))
    plans = []  # (model, long-CoT curve, its test, [(kind, other curve, diff, its test)])
    for model, kinds in sorted(groups.items()):
        cot = kinds["long-cot"]
        cc = ix.cross_domain(cot)
        if cc is None:
            continue
        dom = cc["domain"]
        others = []
        for kind, run in sorted(kinds.items()):
            if kind == "long-cot":
                continue
            oc, d = ix.curve(run, dom), ix.diff(run, cot, f"[{dom}]")
            if oc is not None and d is not None:
                others.append((kind, oc, d, tests.add(d)))
        if others:
            f.runs += [cot] + [oc["run"] for _, oc, _, _ in others]
            plans.append((model, cc, tests.add(gain(cc)), others))
    if not plans:
        f.text = (
            "The long-CoT runs share no out-of-domain or general benchmark with another data kind on the same "
            "base, so transfer cannot be compared."
        )
        return f
    f.figure = "q_data"
    sentences, verdicts = [], []
    for model, cc, ti, others in plans:
        s_cot = tests.sig(ti)
        above = [kind for kind, _, _, t in others if tests.sig(t) > 0]
        below = [kind for kind, _, _, t in others if tests.sig(t) < 0]
        fails = ["long-CoT itself does not transfer: it ends significantly below its base"] if s_cot < 0 else []
        fails += [f"{' and '.join(above)} ends significantly above long-CoT"] if above else []
        if fails:
            v, why = NOT_REPRODUCED, "; ".join(fails)
        elif not below:
            v, why = NOT_REPRODUCED, "no other data kind ends significantly below long-CoT"
        elif s_cot > 0 and len(below) == len(others):
            v, why = REPRODUCED, "long-CoT gains significantly and every other data kind ends significantly below it"
        elif len(below) == len(others):
            v, why = PARTLY, (
                "every other data kind ends significantly below long-CoT, but long-CoT's own gain is not significant"
            )
        else:
            v, why = PARTLY, f"{' and '.join(below)} ends significantly below long-CoT, not every other kind"
        verdicts.append(v)
        dom = cc["domain"]
        parts = [f"long-CoT {tests.quote(ti, gain(cc))}"] + [f"{k} {fmt_iv(gain(oc))}" for k, oc, _, _ in others]
        diffs = "; ".join(f"{k} − long-CoT {tests.quote(t, d)}" for k, _, d, t in others)
        sentences.append(
            f"On base {model}, {why}. {dom} final − base: {', '.join(parts)}; paired final differences: {diffs} "
            f"({_nk(cc['stat'])})."
        )
    if all(v == REPRODUCED for v in verdicts):
        f.verdict = REPRODUCED
    elif any(v in (REPRODUCED, PARTLY) for v in verdicts):
        f.verdict = PARTLY
    else:
        f.verdict = NOT_REPRODUCED
    lead = {
        REPRODUCED: "Yes: long-CoT transfers and the other data kinds do not.",
        PARTLY: "Partly.",
        NOT_REPRODUCED: "No.",
    }[f.verdict]
    f.text = f"{lead} {' '.join(sentences)} ({tests.describe()}.)"
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
    gs, gw = gain(cs), gain(cw)
    dd = ix.gain_diff(strong, weak, f"[{cs['domain']}]")
    tests = Tests(_alpha(ix.a))
    ts = tests.add(gs)
    td = tests.add(dd) if dd else None
    ss, sd = tests.sig(ts), (tests.sig(td) if td is not None else 0)
    if ss > 0 and sd > 0:
        f.verdict, head = REPRODUCED, "Yes: the stronger base gains significantly more out of domain than the weaker."
    elif ss > 0 and sd < 0:
        f.verdict, head = NOT_REPRODUCED, "No: the weaker base gains significantly more than the stronger."
    elif ss > 0:
        f.verdict, head = PARTLY, (
            "Partly: the stronger base gains significantly, but its gain is not significantly larger than the "
            "weaker base's."
            if td is not None
            else "Partly: the stronger base gains significantly; the difference of gains was not computed."
        )
    else:
        f.verdict, head = NOT_REPRODUCED, "No: the stronger base shows no significant gain out of domain."
    diff = f"; strong − weak {tests.quote(td, dd)}" if td is not None else ""
    f.text = (
        f"{head} After long-CoT SFT, {cs['domain']} final − base: the stronger base ({ix.label(strong)}) "
        f"{tests.quote(ts, gs)}, the weaker ({ix.label(weak)}) {fmt_iv(gw)}{diff} ({_nk(cs['stat'])}; "
        f"{tests.describe()})."
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
    tests = Tests(_alpha(ix.a))
    per = []
    for run in runs:
        s = gain(ix.curve(run, "safety"))
        ind = ix.curve(run, "in-domain")
        g = gain(ind) if ind else None
        # intersection-union test: "gain > 0 and safety < 0" holds at alpha when both one-sided tests do
        ok = bool(g) and (g.get("est") or 0) > 0 and (s.get("est") or 0) < 0
        p = max(p_value(g), p_value(s)) if ok else (1.0 if g else math.nan)
        per.append((run, s, g, tests.add_p(p, 1 if ok else 0)))
    both = [run for run, _, _, t in per if tests.sig(t) > 0]
    st = ix.curve(runs[0], "safety")["stat"]
    down = Tests(_alpha(ix.a))  # how many lost safety: its own Holm family over the runs
    idx = {run: down.add(s) for run, s, _, _ in per}
    n_down = sum(1 for run in idx if down.sig(idx[run]) < 0)
    f.verdict = REPRODUCED if both else NOT_REPRODUCED
    lead = (
        f"Yes: in {len(both)} of {len(runs)} runs in-domain accuracy rose significantly while safety fell "
        "significantly."
        if both
        else f"No: no run both gained in domain and lost safety significantly ({n_down} of {len(runs)} lost "
        "safety significantly)."
    )
    parts = [
        f"{ix.label(run)} {fmt_iv(s)}" + (f" (in-domain {fmt_iv(g)}; both: Holm p {fmt_p(tests.adjusted(t))})"
                                         if g else "")
        for run, s, g, t in per
    ]  # fmt: skip
    f.text = (
        f"{lead} Safety final − base: {'; '.join(parts)} ({_nk(st)}; a run counts when both its in-domain gain "
        f"and its safety loss are significant, the larger p-value of the two Holm-corrected over the "
        f"{tests.size} run(s) at {tests.alpha:.0%} family-wise)."
    )
    return f


DOMAIN_ORDER = ("in-domain", "out-of-domain", "general", "safety", "overrefusal")
COLLAPSED = 0.05  # a final score at or below this is said to have collapsed to ~0


def headline(a: dict) -> list[str]:
    """The first screen in plain words: what happened to each domain over the runs, the recommendation, the marks.

    One sentence per domain: how many runs end significantly above / below their base (final − base, its own
    pointwise interval: the same reading as the tables' ▲/▼ marks, not corrected across curves — the cards below
    are, so a card may call a change that is significant here alone not significant), the range of their final scores
    (said to have collapsed to ~0 when every final score is <= 0.05) and of final − base. One sentence on the
    recommended checkpoints (the untrained base, named as such when it is recommended for every run). One sentence
    on the study's multiplicity (curves, per-curve error rate, the correction the cards use) and one on the marks.
    """
    alpha = _alpha(a)
    curves = [c for c in a.get("domain_curves", []) if len(c["curve"]["step"]) >= 2 and gain(c)]
    out = []
    for dom in DOMAIN_ORDER:
        these = [c for c in curves if c["domain"] == dom]
        if not these:
            continue
        n = len(these)
        up = sum((gain(c).get("lo") or 0) > 0 for c in these)
        down = sum((gain(c).get("hi") or 0) < 0 for c in these)
        finals = [c["curve"]["est"][-1] for c in these]
        gains = [gain(c)["est"] for c in these]
        who = "the run" if n == 1 else "every run"
        if down == n:
            what = f"{who} ends significantly below its base"
        elif up == n:
            what = f"{who} ends significantly above its base"
        elif up == down == 0:
            what = "the run does not change significantly" if n == 1 else "no run changes significantly"
        else:
            what = (
                f"{down} of {n} runs end significantly below their base, {up} above, {n - up - down} not "
                "significantly changed"
            )
        span = f"{min(finals):.2f}" + (f"–{max(finals):.2f}" if f"{max(finals):.2f}" != f"{min(finals):.2f}" else "")
        gspan = fmt(min(gains)) + (f" to {fmt(max(gains))}" if fmt(max(gains)) != fmt(min(gains)) else "")
        collapsed = " — collapsed to ~0" if max(finals) <= COLLAPSED else ""
        out.append(
            f"{dom[0].upper()}{dom[1:]}: {what}; final score{'s' * (n > 1)} {span}{collapsed} (final − base {gspan})."
        )
    if curves:
        out.append(
            f"(Significant here: final − base with its own {1 - alpha:.0%} interval, as the tables' ▲/▼; not "
            "corrected across curves, unlike the cards.)"
        )
    out += _recommendation_sentence(a)
    study = a.get("study") or {}
    if study.get("curves"):
        m, e = study["curves"], study.get("per_curve_error_rate", alpha)
        out.append(
            f"This analysis has {m} curves (run × benchmark and run × domain); each curve's detector verdict has a "
            f"false-verdict rate of at most {e:.0%}, so up to {m * e:.1f} of them could be wrong by chance. The four "
            "cards below therefore correct across curves with Holm's step-down (each card's family-wise error "
            f"<= {alpha:.0%})."
        )
    out.append(
        "How to read the figures: lines are scores per checkpoint with shaded pointwise "
        f"{1 - alpha:.0%} intervals; the dashed horizontal line is the run's base model (step 0); a red ▼ marks a "
        "dip and a green ▲ the recovery from it (on card 1's figure as counted at the study level, elsewhere as the "
        "detector names them for that one curve); in the gain plots the dashed line is no change. In tables, ▲/▼ after a number mean final − base is significantly above/below 0 "
        f"(its own pointwise {1 - alpha:.0%} interval)."
    )
    return out


def _recommendation_sentence(a: dict) -> list[str]:
    trade = a.get("tradeoff") or []
    if not trade:
        return []
    labels = run_labels(a)
    at_base = [t for t in trade if t["recommendation"]["step"] == t["step"][0]]
    safety = any("safety_change" in t for t in trade)
    rule = "raised the weighted reasoning score" + (
        f" while losing at most {trade[0]['tolerance']:g} safety points" if safety else ""
    )
    if len(at_base) == len(trade):
        who = "the run" if len(trade) == 1 else "every run"
        return [f"Recommendation: the untrained base for {who} — no fine-tuned checkpoint {rule}."]
    parts = []
    for t in trade:
        rc = t["recommendation"]
        if t in at_base:
            parts.append(f"{labels.get(t['run'], t['run'])}: the untrained base")
        else:
            parts.append(
                f"{labels.get(t['run'], t['run'])}: step {rc['step']} (reasoning gain {fmt_iv(rc['reasoning_gain'])}, "
                "simultaneous over its checkpoints since it was chosen as the best)"
            )
    return ["Recommended checkpoint (the best that " + rule + "): " + "; ".join(parts) + "."]
