"""``rsft eval summary``: each benchmark's standard metrics (:mod:`rsft.eval.metrics`) from stored rows, each with
a bootstrap confidence interval over items.

Benchmark-level values are means over items; the interval is the percentile bootstrap over items (``n_boot``
resamples of the items, drawn by :func:`rsft.analysis.stats.item_weights` from ``numpy.random.default_rng(seed)``,
percentiles by :func:`~rsft.analysis.stats.percentile_ci`: the analysis' own bootstrap, at its item stage). Only
scored rows (:data:`rsft.eval.schema.SCORED_SQL`) are read: ``error`` rows (backend, judge or scorer failures, not
model behaviour) are left out and counted in ``n_errors``; ``truncated`` and ``no_answer`` rows keep the score their
benchmark's policy gave them (``policy`` column) and are counted in ``n_truncated`` / ``n_no_answer``. Every output
row states ``n_items``, ``k``, ``n_samples``, ``seed`` and ``n_boot``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rsft.analysis.stats import item_weights, percentile_ci
from rsft.eval.metrics import DEFAULT_BY, item_values, vote_equivalence
from rsft.eval.schema import scored_mask


def bootstrap_ci(values: np.ndarray, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over items (NaN items dropped)."""
    v = values[~np.isnan(values)]
    if len(v) == 0:
        return (np.nan, np.nan)
    if len(v) == 1 or n_boot <= 0:
        return (float(v.mean()), float(v.mean()))
    means = item_weights(len(v), n_boot, np.random.default_rng(seed)) @ v / len(v)
    lo, hi = percentile_ci(means[:, None], level)
    return float(lo[0]), float(hi[0])


def summarize(
    frame: Any,
    *,
    k: int | None = None,
    by: tuple[str, ...] = DEFAULT_BY,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Any:
    """One row per (group, metric) with value, interval and counts.

    Args:
        frame: store rows (``Store.open(path).frame()``), possibly filtered.
        k: samples per item for @k metrics; None = the smallest number of samples any item of the group has.
        by: grouping columns (default: model × benchmark × sampling).
        n_boot: bootstrap resamples; seed: bootstrap seed; level: interval coverage.

    Returns:
        A pandas DataFrame with columns ``*by, metric, value, ci_low, ci_high, n_items, k, n_samples, n_errors,
        seed, n_boot``.
    """
    import pandas as pd

    records = []
    if len(frame) == 0:
        return pd.DataFrame(
            columns=[*by, "metric", "value", "ci_low", "ci_high", "n_items", "k", "n_samples", "n_errors"]
        )
    for keys, g in frame.groupby(list(by), dropna=False, sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        n_errors = int((g["outcome"] == "error").sum())
        scored = g[scored_mask(g)]
        if scored.empty:  # nothing but errors: still reported, so the errors are counted
            records.append(
                {**dict(zip(by, keys, strict=True)), "metric": "avg@k", "value": np.nan, "ci_low": np.nan}
                | {"ci_high": np.nan, "n_items": 0, "k": 0, "n_samples": 0, "n_errors": n_errors}
                | {"n_truncated": 0, "n_no_answer": 0, "seed": seed, "n_boot": n_boot}
            )
            continue
        kk = k or int(scored.groupby("item_id").size().min())
        bench = dict(zip(by, keys, strict=True)).get("benchmark")
        if bench is None and "benchmark" in scored and scored["benchmark"].nunique() == 1:
            bench = scored["benchmark"].iloc[0]
        values = item_values(scored, kk, vote_equivalence(str(bench)) if bench is not None else None)
        for m, v in values.items():
            lo, hi = bootstrap_ci(v, n_boot, seed, level)
            records.append(
                {
                    **dict(zip(by, keys, strict=True)),
                    "metric": m.replace("@k", f"@{kk}"),
                    "value": float(np.nanmean(v)) if np.any(~np.isnan(v)) else np.nan,
                    "ci_low": lo,
                    "ci_high": hi,
                    "n_items": int((~np.isnan(v)).sum()),
                    "k": kk,
                    "n_samples": len(scored),
                    "n_errors": n_errors,
                    "n_truncated": int((scored["outcome"] == "truncated").sum()),
                    "n_no_answer": int((scored["outcome"] == "no_answer").sum()),
                    "policy": ", ".join(sorted(set(map(str, g["policy"])))) if "policy" in g else "unknown",
                    "seed": seed,
                    "n_boot": n_boot,
                }
            )
    return pd.DataFrame.from_records(records)
