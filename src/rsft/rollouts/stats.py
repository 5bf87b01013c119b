"""Small distribution summaries used by the data card and the curation report."""

from __future__ import annotations

from typing import Any

import numpy as np

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def describe(values: Any) -> dict[str, Any]:
    """n, mean, std, min, quantiles (5/25/50/75/95, linear interpolation) and max of the finite values.

    NaNs (e.g. responses without log-probabilities) are left out and counted in ``missing``.
    """
    a = np.asarray(values, dtype=np.float64)
    finite = a[np.isfinite(a)]
    out: dict[str, Any] = {"n": int(finite.size), "missing": int(a.size - finite.size)}
    if finite.size == 0:
        return out
    qs = np.quantile(finite, QUANTILES)
    out.update(
        mean=float(finite.mean()),
        std=float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
        min=float(finite.min()),
        **{f"p{int(q * 100)}": float(v) for q, v in zip(QUANTILES, qs, strict=True)},
        max=float(finite.max()),
    )
    return out


def fmt_describe(d: dict[str, Any], digits: int = 1) -> str:
    """One Markdown-friendly line: ``n=… mean=… p5/p50/p95=…/…/… max=…``."""
    if not d.get("n"):
        return f"n=0 (missing {d.get('missing', 0)})"
    f = f"{{:.{digits}f}}"
    return (
        f"n={d['n']:,} mean={f.format(d['mean'])} p5/p50/p95={f.format(d['p5'])}/{f.format(d['p50'])}/"
        f"{f.format(d['p95'])} min={f.format(d['min'])} max={f.format(d['max'])}"
        + (f" (missing {d['missing']:,})" if d["missing"] else "")
    )
