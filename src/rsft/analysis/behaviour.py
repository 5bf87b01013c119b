"""Behaviour per checkpoint: lengths, truncation, marker rates, and whether markers go with correct answers.

Markers and their counters live in :mod:`rsft.analysis.markers` (re-exported here); the counts reach this module
through the item frame (:func:`rsft.analysis.frames.item_frame`).

Every statistic is a ratio of sums over items (e.g. markers per 1,000 tokens = 1000 x markers / tokens), with a
bootstrap over items (one item draw shared by all checkpoints of a run); within-item samples are not re-drawn for
these ratios (the store's item aggregates do not keep per-sample values), which the ``stat`` entries say.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rsft.analysis.frames import ItemFrame, pivot, segments
from rsft.analysis.markers import (
    count_markers_text,
    default_lexicon,
    duckdb_marker_count,
    duckdb_text,
    dump_lexicon,
    load_lexicon,
)
from rsft.analysis.stats import BootSpec, item_weights, percentile_ci

__all__ = [
    "NON_SAFETY",
    "behaviour_metrics",
    "count_markers_text",
    "default_lexicon",
    "duckdb_marker_count",
    "duckdb_text",
    "dump_lexicon",
    "load_lexicon",
]

NON_SAFETY = ("in-domain", "out-of-domain", "general")


def _ratio(num: np.ndarray, den: np.ndarray, W: np.ndarray, spec: BootSpec, scale: float = 1.0) -> dict:
    """Ratio of sums per checkpoint (columns), with bootstrap intervals from item draws ``W``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        est = scale * num.sum(axis=0) / den.sum(axis=0)
        boot = scale * (W @ num) / (W @ den)
    lo, hi = percentile_ci(boot, spec.level)
    return {"est": est.tolist(), "lo": lo.tolist(), "hi": hi.tolist()}


def _entropy_kind(cols: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, Any]:
    """The run's entropy kind ("full" or "topk:K", never a mix) and how many responses of another kind were left
    out of ``entropy_mean``."""
    kinds = {str(k) for k in cols["ent_kind"][rows] if k is not None and k == k}
    other = int(np.sum(cols["ent_other"][rows]))
    out: dict[str, Any] = {"entropy_kind": kinds.pop() if len(kinds) == 1 else None}
    if other:
        out["entropy_note"] = (
            f"{other} responses with entropies of another kind than {out['entropy_kind']} were left out "
            "(full and top-k entropies are never averaged together; `rsft rollouts score` recomputes full ones)"
        )
    return out


def behaviour_metrics(frame: ItemFrame, spec: BootSpec, domains: dict[str, str]) -> list[dict]:
    """Per run: lengths, truncation, marker rates, marker-correctness links, log-prob and entropy per checkpoint.

    Items are pooled over the run's benchmarks (each item is a (benchmark, item) pair). Correctness links use only
    benchmarks with binary scores in the in-domain, out-of-domain and general domains.
    """
    out = []
    cols = frame.cols
    linked = [b for b in frame.binary if frame.binary[b] and domains.get(b, "general") in NON_SAFETY]
    link_rows = (
        np.isin(cols["benchmark"], np.array(linked, dtype=object)) if linked else np.zeros(len(frame), bool)
    )
    value_cols = ["n_rows", "n_scored", "s_sum", "n_trunc", "tok_sum", "think_sum", "ans_sum"]
    value_cols += ["lp_sum", "lp_n", "ent_sum", "ent_n"]
    for c in frame.categories:
        value_cols += [f"m_{c}", f"w_{c}", f"wc_{c}"]
    for (run,), rows in segments(frame, ("run",)):
        mask = np.zeros(len(frame), dtype=bool)
        mask[rows] = True
        steps, items, m = pivot(frame, rows, value_cols, "run_item_code")
        W = item_weights(len(items), spec.B, spec.rng("behaviour", run))
        rec = {
            "run": run,
            "step": steps.tolist(),
            "stat": {
                "n_items": len(items),
                **spec.describe(),
                "method": "ratio of sums over items; bootstrap over items (samples within items not re-drawn)",
            },
            "response_tokens": _ratio(m["tok_sum"], m["n_rows"], W, spec),
            "thinking_tokens": _ratio(m["think_sum"], m["n_rows"], W, spec),
            "answer_tokens": _ratio(m["ans_sum"], m["n_rows"], W, spec),
            "truncation_rate": _ratio(m["n_trunc"], m["n_rows"], W, spec),
            "logprob_mean": _ratio(m["lp_sum"], m["lp_n"], W, spec),
            "entropy_mean": _ratio(m["ent_sum"], m["ent_n"], W, spec),
            **_entropy_kind(cols, rows),
            "markers_per_1k_tokens": {
                c: _ratio(m[f"m_{c}"], m["tok_sum"], W, spec, scale=1000.0) for c in frame.categories
            },
        }
        steps_l, items_l, ml = pivot(
            frame,
            mask & link_rows,
            [
                "n_scored",
                "s_sum",
                *[f"w_{c}" for c in frame.categories],
                *[f"wc_{c}" for c in frame.categories],
            ],
        )
        rec["marker_correctness"] = (
            _links(frame.categories, steps, steps_l, ml, spec, run) if len(items_l) else {}
        )
        rec["marker_correctness_items"] = len(items_l)
        out.append(rec)
    return out


def _links(
    cats: tuple[str, ...], steps: np.ndarray, steps_l: np.ndarray, m: dict, spec: BootSpec, run: str
) -> dict:
    """Accuracy of responses with vs without each marker category, per checkpoint, and their difference."""
    W = item_weights(m["n_scored"].shape[0], spec.B, spec.rng("links", run))
    res = {}
    for c in cats:
        n_w, c_w = m[f"w_{c}"], m[f"wc_{c}"]
        n_o, c_o = m["n_scored"] - n_w, m["s_sum"] - c_w
        with np.errstate(invalid="ignore", divide="ignore"):
            acc_w = c_w.sum(0) / n_w.sum(0)
            acc_o = c_o.sum(0) / n_o.sum(0)
            bw = (W @ c_w) / (W @ n_w)
            bo = (W @ c_o) / (W @ n_o)
        d = acc_w - acc_o
        lo, hi = percentile_ci(bw - bo, spec.level)
        res[c] = {
            "step": steps_l.tolist(),
            "acc_with": acc_w.tolist(),
            "acc_without": acc_o.tolist(),
            "n_with": n_w.sum(0).astype(int).tolist(),
            "n_without": n_o.sum(0).astype(int).tolist(),
            "diff": d.tolist(),
            "diff_lo": lo.tolist(),
            "diff_hi": hi.tolist(),
        }
    return res
