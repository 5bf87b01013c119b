"""An independent reading of a report's first screen against its own analysis.json (used by the report and demo
tests): every verdict and plain-language sentence must be implied by the numbers it quotes."""

from __future__ import annotations

from rsft.report.findings import CROSS, data_kind, four_findings, headline


def _fc(c: dict) -> dict:
    return c.get("final_change") or c["detector"]["final_gain"]


def contradictions(a: dict) -> list[str]:
    """What the first screen says that its numbers do not back ([] when none)."""
    bad = []
    alpha = 1 - a["spec"]["level"]
    f = {x.key: x for x in four_findings(a)}
    curves = {(c["run"], c["domain"]): c for c in a["domain_curves"]}

    def cross(run: str) -> dict | None:
        return next((curves[(run, d)] for d in CROSS if (run, d) in curves), None)

    d = f["data"]
    cots = [r for r in d.runs if data_kind(a["runs"][r]) == "long-cot"]
    for run in cots:
        c = cross(run)
        g = _fc(c)
        n_tests = max(len(d.runs), 1)
        if d.verdict == "reproduced" and not g["lo"] > 0:
            bad.append(f"data reproduced but long-CoT {run} {c['domain']} gain {g} is not significantly > 0")
        if d.verdict != "not reproduced" and g["hi"] < 0 and g.get("p", 1) <= alpha / n_tests:
            bad.append(f"data {d.verdict} but long-CoT {run} falls out of domain: {g}")
        model = a["runs"][run].get("model")
        for b in a.get("between_runs", []):
            other = b["run"] if b["reference"] == run else b["reference"] if b["run"] == run else None
            if other is None or b["curve"] != f"[{c['domain']}]" or a["runs"][other].get("model") != model:
                continue
            diff = b["diff"] if b["reference"] == run else {"est": -b["diff"]["est"], "lo": -b["diff"]["hi"],
                                                            "hi": -b["diff"]["lo"], "p": b["diff"].get("p")}  # fmt: skip
            if d.verdict != "not reproduced" and diff["lo"] > 0 and (diff.get("p") or 1) <= alpha / n_tests:
                bad.append(f"data {d.verdict} but {other} ends significantly above long-CoT: {diff}")
            if d.verdict == "reproduced" and not diff["hi"] < 0:
                bad.append(f"data reproduced but {other} is not below long-CoT: {diff}")
    cap = f["capability"]
    if cap.verdict == "reproduced":
        strong = cap.runs[-1]
        if not _fc(cross(strong))["lo"] > 0:
            bad.append("capability reproduced without a significant strong gain")
        gd = [g for g in a.get("gain_differences", []) if {g["run"], g["reference"]} == set(cap.runs)]
        if not gd or not any((g["diff"]["lo"] > 0) == (g["run"] == strong) for g in gd):
            bad.append("capability reproduced without a significant difference of gains")
    s = f["safety"]
    if s.verdict == "reproduced" and not any(
        (run, "in-domain") in curves and _fc(curves[(run, "in-domain")])["lo"] > 0 and _fc(curves[(run, "safety")])["hi"] < 0
        for run in s.runs
    ):  # fmt: skip
        bad.append("safety reproduced without a run that both gains and loses safety significantly")
    dyn = f["dynamics"]
    if dyn.verdict == "reproduced" and not any(
        (c.get("study") or c["detector"])["class"] == "dip-and-recovery" for c in a["domain_curves"] if c["domain"] in CROSS
    ):  # fmt: skip
        bad.append("dynamics reproduced without a dip-and-recovery curve")
    lines = headline(a)
    for dom in ("in-domain", "out-of-domain", "general", "safety", "overrefusal"):
        line = next((x for x in lines if x.startswith(f"{dom[0].upper()}{dom[1:]}: ")), None)
        these = [c for c in a["domain_curves"] if c["domain"] == dom and len(c["curve"]["step"]) >= 2]
        if these and line is None:
            bad.append(f"no first-screen sentence for {dom}")
        if line is None:
            continue
        if "ends significantly below its base" in line and not all(_fc(c)["hi"] < 0 for c in these):
            bad.append(f"{dom}: 'below its base' but some run is not: {line}")
        if "ends significantly above its base" in line and not all(_fc(c)["lo"] > 0 for c in these):
            bad.append(f"{dom}: 'above its base' but some run is not: {line}")
        if "collapsed to ~0" in line and not all(c["curve"]["est"][-1] <= 0.05 for c in these):
            bad.append(f"{dom}: 'collapsed' but a final score is above 0.05")
    rec = next((x for x in lines if x.startswith("Recommend")), "")
    at_base = all(t["recommendation"]["step"] == t["step"][0] for t in a.get("tradeoff", []))
    if ("untrained base for every run" in rec) != (at_base and len(a.get("tradeoff", [])) > 1):
        bad.append(f"recommendation sentence does not match the recommendations: {rec}")
    return bad
