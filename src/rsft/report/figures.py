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

MAX_PANELS = 12
_CLASS_COLOR = {
    "improves": "#1b7837",
    "dip-and-recovery": "#2166ac",
    "dip without recovery": "#d6604d",
    "degrades": "#b2182b",
    "flat within noise": "#777777",
}


def _arr(xs) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in xs], dtype=float)


def _grid(n: int, width: float = 3.2, height: float = 2.4):
    cols = min(4, max(1, n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _finish(fig: plt.Figure, title: bool = True) -> None:
    """Fixed margins in inches (tight_layout draws every figure twice, which doubles the report's cost)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(
        left=0.85 / w,
        right=1 - 0.15 / w,
        bottom=0.6 / h,
        top=1 - (0.85 if title else 0.45) / h,
        wspace=0.32,
        hspace=0.6,
    )


def _band(ax, x, est, lo, hi, label=None, color=None):
    (line,) = ax.plot(x, _arr(est), marker="o", ms=2.5, lw=1.4, label=label, color=color)
    ax.fill_between(x, _arr(lo), _arr(hi), alpha=0.2, color=line.get_color(), lw=0)
    return line


def _mark_detector(ax, rec: dict) -> None:
    det, cur = rec["detector"], rec["curve"]
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
    runs = sorted({r["run"] for r in analysis["benchmarks"]})
    for ri, run in enumerate(runs):
        recs = [r for r in analysis["benchmarks"] if r["run"] == run]
        for part in range(0, len(recs), MAX_PANELS):
            chunk = recs[part : part + MAX_PANELS]
            fig, axes = _grid(len(chunk))
            for ax, rec in zip(axes, chunk, strict=False):
                cur = rec["curve"]
                _band(ax, cur["step"], cur["est"], cur["lo"], cur["hi"])
                _mark_detector(ax, rec)
                cls = rec["detector"]["class"]
                ax.set_title(f"{rec['benchmark']} ({rec['domain']})", fontsize=9)
                ax.text(0.02, 0.04, cls, transform=ax.transAxes, fontsize=8, color=_CLASS_COLOR.get(cls, "k"))
                st = rec["stat"]
                ax.set_xlabel(f"step  (n={st['n_items']}, k={st['k']:g})", fontsize=8)
                ax.tick_params(labelsize=7)
            fig.suptitle(
                f"{run}: score vs step, {analysis['spec']['level']:.0%} bootstrap intervals", fontsize=10
            )
            _finish(fig, title=False)
            figs[f"dynamics_{ri}_{part // MAX_PANELS}"] = fig
    return figs


def domain_figure(analysis: dict) -> dict[str, plt.Figure]:
    """One panel per domain, one line per run: the equal-weight domain score vs step."""
    recs = analysis["domain_curves"]
    domains = [
        d
        for d in ("in-domain", "out-of-domain", "general", "safety", "overrefusal")
        if any(r["domain"] == d for r in recs)
    ]
    if not domains:
        return {}
    fig, axes = _grid(len(domains), width=3.8, height=2.8)
    for ax, dom in zip(axes, domains, strict=False):
        for rec in [r for r in recs if r["domain"] == dom]:
            cur = rec["curve"]
            _band(ax, cur["step"], cur["est"], cur["lo"], cur["hi"], label=_short(rec["run"]))
            _mark_detector(ax, rec)
        ax.set_title(dom, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("Domain scores vs step (▼ dip, ▲ recovery; dashed: base)", fontsize=10)
    _finish(fig)
    return {"domains": fig}


def _short(run: str, width: int = 28) -> str:
    return run if len(run) <= width else run[: width - 1] + "…"


def behaviour_figure(analysis: dict) -> dict[str, plt.Figure]:
    """Lengths, truncation and marker rates per checkpoint, one line per run."""
    beh = analysis["behaviour"]
    if not beh:
        return {}
    cats = list(beh[0]["markers_per_1k_tokens"])
    panels = [("response_tokens", "response tokens"), ("thinking_tokens", "thinking tokens")]
    panels += [("truncation_rate", "truncation rate")]
    panels += [(f"markers:{c}", f"{c} per 1k tokens") for c in cats]
    fig, axes = _grid(len(panels), width=3.4, height=2.5)
    for ax, (key, title) in zip(axes, panels, strict=False):
        for rec in beh:
            s = rec["markers_per_1k_tokens"][key.split(":")[1]] if key.startswith("markers:") else rec[key]
            _band(ax, rec["step"], s["est"], s["lo"], s["hi"], label=_short(rec["run"]))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.suptitle("Behaviour per checkpoint (items pooled over benchmarks)", fontsize=10)
    _finish(fig)
    figs = {"behaviour": fig}
    link_cats = [c for c in cats if any(rec["marker_correctness"].get(c) for rec in beh)]
    if link_cats:
        fig2, axes2 = _grid(len(link_cats), width=3.6, height=2.6)
        for ax, c in zip(axes2, link_cats, strict=False):
            for rec in beh:
                lk = rec["marker_correctness"].get(c)
                if lk:
                    _band(ax, lk["step"], lk["diff"], lk["diff_lo"], lk["diff_hi"], label=_short(rec["run"]))
            ax.axhline(0, color="#999", lw=0.8, ls="--")
            ax.set_title(f"accuracy with − without {c}", fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
        axes2[0].legend(fontsize=7)
        _finish(fig2, title=False)
        figs["marker_correctness"] = fig2
    fig3, axes3 = _grid(2, width=3.8, height=2.6)
    for ax, key in zip(axes3, ("logprob_mean", "entropy_mean"), strict=False):
        for rec in beh:
            s = rec[key]
            _band(ax, rec["step"], s["est"], s["lo"], s["hi"], label=_short(rec["run"]))
        ax.set_title(key.replace("_", " ") + " of generated tokens", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes3[0].legend(fontsize=7)
    _finish(fig3, title=False)
    figs["token_level"] = fig3
    return figs


def tradeoff_figure(analysis: dict) -> dict[str, plt.Figure]:
    """Reasoning gain vs safety change per checkpoint, recommended checkpoint circled."""
    trade = [t for t in analysis["tradeoff"] if "safety_change" in t]
    if not trade:
        return {}
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    many = max(len(t["step"]) for t in trade) > 20
    for t in trade:
        g, s = t["reasoning_gain"], t["safety_change"]
        x, y = _arr(g["est"]), _arr(s["est"])
        if many:  # error bars of 100 checkpoints hide each other: points coloured by step instead
            (line,) = ax.plot(x, y, "-", lw=0.5, alpha=0.5, label=_short(t["run"]))
            ax.scatter(x, y, c=t["step"], cmap="viridis", s=10, zorder=3)
            color = line.get_color()
        else:
            xerr = np.abs(np.vstack([x - _arr(g["lo"]), _arr(g["hi"]) - x]))
            yerr = np.abs(np.vstack([y - _arr(s["lo"]), _arr(s["hi"]) - y]))
            cont = ax.errorbar(
                x, y, xerr=xerr, yerr=yerr, fmt="o-", ms=3, lw=0.8, elinewidth=0.5, label=_short(t["run"])
            )
            color = cont[0].get_color()
        i = t["step"].index(t["recommendation"]["step"])
        ax.plot([x[i]], [y[i]], "o", ms=12, mfc="none", mec=color, mew=2)
    if many:
        ax.text(
            0.01,
            0.01,
            "colour: step; intervals per checkpoint in tables/tradeoff.csv",
            transform=ax.transAxes,
            fontsize=7,
        )
    ax.axhline(0, color="#999", lw=0.8, ls="--")
    ax.axvline(0, color="#999", lw=0.8, ls="--")
    ax.set_xlabel("reasoning gain vs base (weighted score)")
    ax.set_ylabel("safety change vs base (+ = safer)")
    ax.set_title("Reasoning vs safety per checkpoint (circle: recommended)", fontsize=10)
    ax.legend(fontsize=7)
    _finish(fig, title=False)
    return {"tradeoff": fig}


def power_figure(analysis: dict) -> dict[str, plt.Figure]:
    """Share of simulated runs in which the detector reports a dip, by dip depth."""
    power = analysis["power"]
    if not power:
        return {}
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    for like in sorted({p["like"] for p in power}):
        ps = [p for p in power if p["like"] == like]
        d = [p["depth"] for p in ps]
        y = np.array([p["dip_detected"] for p in ps])
        e = np.array([1.96 * p["mc_se"] for p in ps])
        ax.errorbar(
            d, y, yerr=e, fmt="o-", capsize=3, label=f"n={ps[0]['n']}, k={ps[0]['k']}, S={ps[0]['steps']}"
        )
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("true dip depth (score points)")
    ax.set_ylabel("share of runs with a detected dip")
    ax.set_title("Detector power by simulation (depth 0 = false positives)", fontsize=10)
    ax.legend(fontsize=7)
    _finish(fig, title=False)
    return {"power": fig}


def all_figures(analysis: dict) -> dict[str, plt.Figure]:
    figs = {}
    for fn in (domain_figure, dynamics_figures, behaviour_figure, tradeoff_figure, power_figure):
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
