"""Figures drawn from ``analysis.json`` with matplotlib's Agg backend (no display, no network).

Each function takes the analysis dict and returns ``{name: Figure}``; nothing here computes a statistic — every
plotted value and interval is read from the analysis.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rsft.analysis.detector import ShapeClass  # noqa: E402

MAX_PANELS = 12
_PALETTE = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
]  # fmt: skip
CLASS_COLOR: dict[ShapeClass, str] = {
    "improves": "#1b7837",
    "rise-then-plateau": "#5aae61",
    "dip-and-recovery": "#2166ac",
    "dip-and-partial-recovery": "#d6604d",
    "rise-and-fall": "#9970ab",
    "degrades": "#b2182b",
    "drop-and-stay": "#8c0d25",
    "flat within noise": "#777777",
    "inconclusive": "#999999",
}
"""One colour per detector class (every class of :data:`rsft.analysis.detector.ShapeClass`)."""


def _arr(xs) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in xs], dtype=float)


def run_colors(analysis: dict) -> dict[str, str]:
    """One colour per run, the same in every figure (runs sorted by name; the palette repeats past ten)."""
    runs = sorted(analysis.get("runs") or {r["run"] for r in analysis.get("domain_curves", [])})
    return {run: _PALETTE[i % len(_PALETTE)] for i, run in enumerate(runs)}


def _has_data(*series) -> bool:
    return any(np.isfinite(_arr(s)).any() for s in series)


def _legend_outside(fig: plt.Figure, axes, where: str = "right") -> None:
    """One legend for the whole figure outside the panels (never over a curve): at the right, or below."""
    handles, names = {}, []
    for ax in np.atleast_1d(axes):
        for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
            if n not in handles:
                handles[n] = h
                names.append(n)
    if not names:
        return
    w = fig.get_size_inches()[0]
    if where == "below":
        fig.legend([handles[n] for n in names], names, loc="lower center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(3, len(names)), fontsize=8, frameon=False)  # fmt: skip
    else:
        fig.legend([handles[n] for n in names], names, loc="center left", bbox_to_anchor=(1 - 1.9 / w, 0.5),
                   fontsize=8, frameon=False)  # fmt: skip


def _legend_rows(n: int) -> int:
    return math.ceil(n / 3)


def _grid(n: int, width: float = 3.2, height: float = 2.4):
    cols = min(4, max(1, n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _finish(fig: plt.Figure, title: bool = True, legend: bool = False, below: int = 0) -> None:
    """Fixed margins in inches (tight_layout draws every figure twice, which doubles the report's cost);
    ``legend`` leaves 2 inches on the right for a legend outside the panels, ``below`` that many legend rows
    under them."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(
        left=0.85 / w,
        right=1 - (2.0 if legend and not below else 0.15) / w,
        bottom=(0.6 + 0.22 * below) / h,
        top=1 - (0.85 if title else 0.45) / h,
        wspace=0.32,
        hspace=0.6,
    )


def _band(ax, x, est, lo, hi, label=None, color=None, bounds=None):
    """A curve with its interval band; ``bounds`` (lo, hi) clips a bounded metric's band to its range."""
    lo_, hi_ = _arr(lo), _arr(hi)
    if bounds is not None:
        lo_, hi_ = np.clip(lo_, *bounds), np.clip(hi_, *bounds)
    (line,) = ax.plot(x, _arr(est), marker="o", ms=2.5, lw=1.4, label=label, color=color)
    ax.fill_between(x, lo_, hi_, alpha=0.2, color=line.get_color(), lw=0)
    return line


def _mark_detector(ax, rec: dict, study: bool = False) -> None:
    """Dashed base line; ▼ at the dip and ▲ at the recovery step (``study``: as counted at the study level, Holm
    over the cross-domain curves, where the analysis has it)."""
    det, cur = (rec.get("study") if study and rec.get("study") else rec["detector"]), rec["curve"]
    steps = cur["step"]
    ax.axhline(cur["est"][0], color="#999", lw=0.8, ls="--")
    for key, color in (("dip_step", "#b2182b"), ("recovery_step", "#1b7837")):
        s = det.get(key)
        if s is not None:
            y = cur["est"][steps.index(s)]
            ax.plot([s], [y], marker="v" if key == "dip_step" else "^", ms=8, color=color, ls="none")


def dynamics_figures(analysis: dict) -> dict[str, plt.Figure]:
    """Per run: score vs step per benchmark with pointwise intervals, base line, dip and recovery marks."""
    figs = {}
    colors = run_colors(analysis)
    runs = sorted({r["run"] for r in analysis["benchmarks"]})
    for ri, run in enumerate(runs):
        recs = [r for r in analysis["benchmarks"] if r["run"] == run]
        for part in range(0, len(recs), MAX_PANELS):
            chunk = recs[part : part + MAX_PANELS]
            fig, axes = _grid(len(chunk))
            for ax, rec in zip(axes, chunk, strict=False):
                cur = rec["curve"]
                _band(ax, cur["step"], cur["est"], cur["lo"], cur["hi"], color=colors.get(run), bounds=(0, 1))
                _mark_detector(ax, rec)
                cls = rec["detector"]["class"]
                ax.set_title(f"{rec['benchmark']} ({rec['domain']})", fontsize=9)
                ax.text(0.02, 0.04, cls, transform=ax.transAxes, fontsize=8, color=CLASS_COLOR.get(cls, "k"))
                st = rec["stat"]
                ax.set_xlabel(f"step  (n={st['n_items']}, k={st['k']:g})", fontsize=8)
                ax.tick_params(labelsize=7)
            fig.suptitle(
                f"{run}: score vs step, {analysis['spec']['level']:.0%} bootstrap intervals", fontsize=10
            )
            _finish(fig, title=False)
            figs[f"dynamics_{ri}_{part // MAX_PANELS}"] = fig
    return figs


HEAD_W = 6.6  # inches: a headline figure is drawn at its card's width (≈ 640 px at 96 dpi), never scaled down
DOMAIN_ORDER = ("in-domain", "out-of-domain", "general", "safety", "overrefusal")


def _labels(analysis: dict) -> dict[str, str]:
    from rsft.report.findings import run_labels

    return run_labels(analysis)


def _domain_axis(ax, analysis: dict, dom: str, recs: list[dict], study: bool = False) -> None:
    colors, labels = run_colors(analysis), _labels(analysis)
    for rec in [r for r in recs if r["domain"] == dom]:
        cur = rec["curve"]
        _band(ax, cur["step"], cur["est"], cur["lo"], cur["hi"], label=labels.get(rec["run"], rec["run"]),
              color=colors.get(rec["run"]), bounds=(0, 1))  # fmt: skip
        _mark_detector(ax, rec, study)
    st = next(r["stat"] for r in recs if r["domain"] == dom)
    ax.set_title(dom, fontsize=11)
    ax.set_xlabel(f"step  (n={st['n_items']}, k={st['k']:g} per checkpoint)", fontsize=9)
    ax.set_ylabel("score", fontsize=9)
    ax.set_ylim(-0.03, 1.03)
    ax.tick_params(labelsize=8)


def _domain_panels(
    analysis: dict,
    domains,
    runs=None,
    title: str = "",
    size: tuple[float, float] = (4.6, 3.2),
    below: bool = False,
    extra=None,
    study: bool = False,
) -> plt.Figure | None:
    """One panel per domain (at most two per row), one coloured line per run: domain score vs step.

    Args:
        size: inches per panel; the legend adds 2 inches at the right, or rows underneath when ``below``.
        extra: a function drawing one more panel on a given axis (returns False when it had nothing to draw).
    """
    recs = [r for r in analysis["domain_curves"] if runs is None or r["run"] in runs]
    domains = [d for d in domains if any(r["domain"] == d and _has_data(r["curve"]["est"]) for r in recs)]
    if not domains:
        return None
    n = len(domains) + (extra is not None)
    cols = min(2, n)
    rows = math.ceil(n / cols)
    legend_rows = _legend_rows(len({r["run"] for r in recs})) if below else 0
    fig, axes = plt.subplots(
        rows, cols, figsize=(size[0] * cols + (0 if below else 2.0), size[1] * rows + 0.22 * legend_rows),
        squeeze=False,
    )  # fmt: skip
    axes = axes.ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax, dom in zip(axes, domains, strict=False):
        _domain_axis(ax, analysis, dom, recs, study)
    if extra is not None and not extra(axes[len(domains)]):
        axes[len(domains)].set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    _finish(fig, title=bool(title), legend=True, below=legend_rows)
    _legend_outside(fig, axes[:n], "below" if below else "right")
    return fig


def domain_figure(analysis: dict) -> dict[str, plt.Figure]:
    """One panel per domain, one line per run: the equal-weight domain score vs step."""
    fig = _domain_panels(
        analysis, DOMAIN_ORDER, title="Domain scores vs step (▼ dip, ▲ recovery; dashed: base)"
    )
    return {"domains": fig} if fig else {}


def _gain_dots(analysis: dict, runs: list[str], domains, title: str) -> plt.Figure | None:
    """Final − base with its own pointwise interval, one row per run, one panel per domain."""
    cells = {(row["run"], n): c for row in analysis["comparison"] for n, c in row["cells"].items()}
    domains = [d for d in domains if any((r, f"[{d}]") in cells for r in runs)]
    if not domains or not runs:
        return None
    colors, labels = run_colors(analysis), _labels(analysis)
    fig, axes = plt.subplots(1, len(domains), figsize=(HEAD_W, 0.32 * len(runs) + 1.3), squeeze=False,
                             sharey=True)  # fmt: skip
    axes = axes.ravel()
    for ax, dom in zip(axes, domains, strict=True):
        for i, run in enumerate(runs):
            c = cells.get((run, f"[{dom}]"))
            if not c or any(c["gain"].get(k) is None for k in ("est", "lo", "hi")):
                continue
            g = c["gain"]
            if g.get("lo") is None or g.get("hi") is None:  # no interval (too few items): the point alone
                ax.plot([g["est"]], [i], "o", color=colors[run], ms=5, mfc="none")
                continue
            lo, hi = max(g["lo"], -1.0), min(g["hi"], 1.0)
            ax.errorbar([g["est"]], [i], xerr=[[g["est"] - lo], [hi - g["est"]]], fmt="o", color=colors[run],
                        capsize=3, ms=5)  # fmt: skip
        ax.axvline(0, color="#999", lw=0.8, ls="--")
        ax.set_title(dom, fontsize=10)
        ax.set_xlabel("final − base", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0].set_yticks(range(len(runs)), [labels.get(r, r) for r in runs])
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=10)
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=1.45 / w, right=1 - 0.15 / w, bottom=0.55 / h, top=1 - 0.5 / h, wspace=0.12)
    return fig


def _length_panel(ax, analysis: dict, runs: list[str]) -> bool:
    colors, labels = run_colors(analysis), _labels(analysis)
    drawn = False
    for rec in analysis["behaviour"]:
        if rec["run"] in runs and _has_data(rec["response_tokens"]["est"]):
            s = rec["response_tokens"]
            _band(ax, rec["step"], s["est"], s["lo"], s["hi"], label=labels.get(rec["run"], rec["run"]),
                  color=colors.get(rec["run"]), bounds=(0, None))  # fmt: skip
            drawn = True
    ax.set_title("mean response length", fontsize=11)
    ax.set_xlabel("step", fontsize=9)
    ax.set_ylabel("tokens", fontsize=9)
    ax.tick_params(labelsize=8)
    return drawn


def question_figures(analysis: dict) -> dict[str, plt.Figure]:
    """The first screen's headline figures, one per question the findings could ask of this analysis."""
    from rsft.report.findings import CROSS, four_findings

    figs: dict[str, plt.Figure] = {}
    for f in four_findings(analysis):
        if not f.figure:
            continue
        fig = None
        if f.key == "dynamics":
            fig = _domain_panels(analysis, CROSS, f.runs, size=(HEAD_W / 2, 2.6), below=True, study=True)
        elif f.key == "data":
            level = (analysis.get("spec") or {}).get("level", 0.95)
            fig = _gain_dots(analysis, sorted(f.runs), ("in-domain", *CROSS),
                             f"Final − base by data kind (pointwise {level:.0%} intervals)")  # fmt: skip
        elif f.key == "capability":
            dom = next((d for d in CROSS if any(r["domain"] == d and r["run"] in f.runs
                                                for r in analysis["domain_curves"])), None)  # fmt: skip
            fig = _domain_panels(analysis, [dom] if dom else [], f.runs, size=(HEAD_W / 2, 2.6), below=True,
                                 extra=lambda ax, runs=f.runs: _length_panel(ax, analysis, runs))  # fmt: skip
        elif f.key == "safety":
            fig = _domain_panels(analysis, ["safety"], f.runs, size=(HEAD_W, 2.6), below=True)
        if fig is not None:
            figs[f.figure] = fig
    return figs


def _has_signal(*series) -> bool:
    """Some finite value other than 0 (a panel flat at zero for every run shows nothing)."""
    return any((np.nan_to_num(_arr(s)) != 0).any() for s in series)


def _behaviour_series(rec: dict, key: str) -> dict:
    return rec["markers_per_1k_tokens"][key.split(":")[1]] if key.startswith("markers:") else rec[key]


def behaviour_panels(analysis: dict) -> tuple[list[tuple[str, str]], list[str]]:
    """The behaviour figure's panels ``(key, title)``, and the titles of those left out: no run has a value
    other than 0 there (no data, or a marker no response used), so the report says so instead of drawing them."""
    beh = analysis["behaviour"]
    if not beh:
        return [], []
    panels = [("response_tokens", "response tokens"), ("thinking_tokens", "thinking tokens")]
    panels += [("truncation_rate", "truncation rate")]
    panels += [(f"markers:{c}", f"{c} per 1k tokens") for c in beh[0]["markers_per_1k_tokens"]]
    keep = [(k, t) for k, t in panels if any(_has_signal(_behaviour_series(rec, k)["est"]) for rec in beh)]
    return keep, [t for k, t in panels if (k, t) not in keep]


def behaviour_figure(analysis: dict) -> dict[str, plt.Figure]:
    """Lengths, truncation and marker rates per checkpoint, one line per run; panels without data are left out."""
    beh = analysis["behaviour"]
    if not beh:
        return {}
    colors, labels = run_colors(analysis), _labels(analysis)
    cats = list(beh[0]["markers_per_1k_tokens"])
    series = _behaviour_series
    panels, _ = behaviour_panels(analysis)
    figs: dict[str, plt.Figure] = {}
    if panels:
        fig, axes = _grid(len(panels), width=3.6, height=2.7)
        fig.set_size_inches(fig.get_size_inches()[0] + 2.0, fig.get_size_inches()[1])
        for ax, (key, title) in zip(axes, panels, strict=False):
            for rec in beh:
                s = series(rec, key)
                bounds = (0, 1) if key == "truncation_rate" else (0, None)
                _band(ax, rec["step"], s["est"], s["lo"], s["hi"], label=labels.get(rec["run"], rec["run"]),
                      color=colors.get(rec["run"]), bounds=bounds)  # fmt: skip
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
        fig.suptitle("Behaviour per checkpoint (items pooled over benchmarks)", fontsize=10)
        _finish(fig, legend=True)
        _legend_outside(fig, axes[: len(panels)])
        figs["behaviour"] = fig
    link_cats = [
        c for c in cats
        if any(rec["marker_correctness"].get(c) and _has_signal(rec["marker_correctness"][c]["diff"]) for rec in beh)
    ]  # fmt: skip
    if link_cats:
        fig2, axes2 = _grid(len(link_cats), width=3.6, height=2.7)
        fig2.set_size_inches(fig2.get_size_inches()[0] + 2.0, fig2.get_size_inches()[1])
        for ax, c in zip(axes2, link_cats, strict=False):
            for rec in beh:
                lk = rec["marker_correctness"].get(c)
                if lk and _has_data(lk["diff"]):
                    _band(ax, lk["step"], lk["diff"], lk["diff_lo"], lk["diff_hi"],
                          label=labels.get(rec["run"], rec["run"]), color=colors.get(rec["run"]), bounds=(-1, 1))  # fmt: skip
            ax.axhline(0, color="#999", lw=0.8, ls="--")
            ax.set_title(f"accuracy with − without {c}", fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
        _finish(fig2, title=False, legend=True)
        _legend_outside(fig2, axes2[: len(link_cats)])
        figs["marker_correctness"] = fig2
    keys = [k for k in ("logprob_mean", "entropy_mean") if any(_has_data(rec[k]["est"]) for rec in beh)]
    if keys:
        fig3, axes3 = _grid(len(keys), width=3.8, height=2.7)
        fig3.set_size_inches(fig3.get_size_inches()[0] + 2.0, fig3.get_size_inches()[1])
        # full and top-k entropies are different quantities: the kind goes in the title, or beside each run
        kinds = {rec.get("entropy_kind") or "kind unknown" for rec in beh}
        for ax, key in zip(axes3, keys, strict=False):
            for rec in beh:
                s = rec[key]
                label = labels.get(rec["run"], rec["run"])
                if key == "entropy_mean" and len(kinds) > 1:
                    label += f" [{rec.get('entropy_kind') or 'kind unknown'}]"
                _band(ax, rec["step"], s["est"], s["lo"], s["hi"], label=label, color=colors.get(rec["run"]))
            title = key.replace("_", " ") + " of generated tokens"
            if key == "entropy_mean" and len(kinds) == 1:
                title += f" ({next(iter(kinds))})"
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
        _finish(fig3, title=False, legend=True)
        _legend_outside(fig3, axes3[: len(keys)])
        figs["token_level"] = fig3
    return figs


def tradeoff_figure(analysis: dict) -> dict[str, plt.Figure]:
    """Reasoning gain vs safety change per checkpoint, recommended checkpoint circled."""
    trade = [t for t in analysis["tradeoff"] if "safety_change" in t and _has_data(t["safety_change"]["est"])]
    if not trade:
        return {}
    colors, labels = run_colors(analysis), _labels(analysis)
    fig, ax = plt.subplots(figsize=(8.4, 4.6))
    many = max(len(t["step"]) for t in trade) > 20
    for t in trade:
        g, s = t["reasoning_gain"], t["safety_change"]
        x, y = _arr(g["est"]), _arr(s["est"])
        color = colors.get(t["run"])
        label = labels.get(t["run"], t["run"])
        if many:  # error bars of 100 checkpoints hide each other: points coloured by step instead
            ax.plot(x, y, "-", lw=0.5, alpha=0.5, label=label, color=color)
            ax.scatter(x, y, c=t["step"], cmap="viridis", s=10, zorder=3)
        else:
            xerr = np.abs(np.vstack([x - np.clip(_arr(g["lo"]), -1, 1), np.clip(_arr(g["hi"]), -1, 1) - x]))
            yerr = np.abs(np.vstack([y - np.clip(_arr(s["lo"]), -1, 1), np.clip(_arr(s["hi"]), -1, 1) - y]))
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o-", ms=3, lw=0.8, elinewidth=0.5, label=label,
                        color=color)  # fmt: skip
        i = t["step"].index(t["recommendation"]["step"])
        ax.plot([x[i]], [y[i]], "o", ms=12, mfc="none", mec=color, mew=2)
    if many:
        ax.text(0.01, 0.01, "colour: step; intervals per checkpoint in tables/tradeoff.csv", transform=ax.transAxes,
                fontsize=7)  # fmt: skip
    ax.axhline(0, color="#999", lw=0.8, ls="--")
    ax.axvline(0, color="#999", lw=0.8, ls="--")
    ax.set_xlabel("reasoning gain vs base (weighted score)")
    ax.set_ylabel("safety change vs base (+ = safer)")
    ax.set_title("Reasoning vs safety per checkpoint (circle: recommended)", fontsize=10)
    _finish(fig, title=False, legend=True)
    _legend_outside(fig, [ax])
    return {"tradeoff": fig}


def power_figure(analysis: dict) -> dict[str, plt.Figure]:
    """Share of simulated runs in which the detector reports a dip, by dip depth."""
    power = analysis["power"]
    if not power:
        return {}
    fig, ax = plt.subplots(figsize=(7.6, 3.6))
    for like in sorted({p["like"] for p in power}):
        ps = [p for p in power if p["like"] == like]
        d = [p["depth"] for p in ps]
        y = np.array([p["dip_detected"] for p in ps])
        e = np.array([1.96 * p["mc_se"] for p in ps])
        lo, hi = np.clip(y - e, 0, 1), np.clip(y + e, 0, 1)
        line = ax.errorbar(d, y, yerr=[y - lo, hi - y], fmt="o-", capsize=3,
                           label=f"{like}: n={ps[0]['n']}, k={ps[0]['k']}, S={ps[0]['steps']}")  # fmt: skip
        if all(p.get("reference") is not None for p in ps):
            ax.plot(d, [p["reference"] for p in ps], ls=":", marker="x", color=line[0].get_color(),
                    label=f"{like}: reference max-t test")  # fmt: skip
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("true dip depth (score points)")
    ax.set_ylabel("share of runs with a detected dip")
    ax.set_title("Detector power by simulation (depth 0 = false positives; dotted: reference test)", fontsize=10)
    _finish(fig, title=False, legend=True)
    _legend_outside(fig, [ax])
    return {"power": fig}


def all_figures(analysis: dict) -> dict[str, plt.Figure]:
    figs = {}
    for fn in (
        question_figures,
        domain_figure,
        dynamics_figures,
        behaviour_figure,
        tradeoff_figure,
        power_figure,
    ):
        figs.update(fn(analysis))
    return figs


def nll_figure(nll: dict | None) -> dict[str, plt.Figure]:
    """Teacher-forced NLL of reference traces vs step (from ``nll.json`` written by ``rsft analyze nll``)."""
    if not nll:
        return {}
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    s = nll["nll"]
    _band(ax, nll["step"], s["est"], s["lo"], s["hi"])
    ax.set_xlabel("step")
    ax.set_ylabel("NLL (nats/token)")
    ax.set_title(f"Reference traces: {nll['rows']} rows, {nll['tokens']} tokens", fontsize=10)
    _finish(fig, title=False)
    return {"nll": fig}
