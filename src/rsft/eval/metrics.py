"""Per-item metrics of stored rows (the definitions); :func:`rsft.analysis.summary.summarize` gives their
benchmark-level values with a bootstrap interval over items (``rsft eval summary``).

Per item (with ``k`` samples, ``c`` of them correct):
- ``avg@k``: mean score of the first k samples.
- ``pass@k``: the unbiased estimator ``1 - C(n-c, k) / C(n, k)`` over all ``n`` scored samples (Chen et al.,
  2021); with ``n == k`` it is "any of the k correct".
- ``maj@k``: the most voted extracted answer among the first k samples (ties: the answer seen first) is correct;
  on math-verify-scored benchmarks answers that math-verify finds equivalent are one vote (``x=\\frac{1}{2}`` and
  ``\\frac12``), elsewhere equal strings are.
- ``truncation``: share of truncated samples; ``response_tokens`` / ``thinking_tokens``: mean token counts.

Benchmark-level values are means over items. Only scored rows (:data:`rsft.eval.schema.SCORED_SQL`) are read:
``error`` rows (backend, judge or scorer failures, not model behaviour) are left out and counted in ``n_errors``; ``truncated`` and ``no_answer`` rows keep the score their
benchmark's policy gave them (``policy`` column; math / code / multiple choice: 0 by default) and are counted in
``n_truncated`` / ``n_no_answer``. Every output row states ``n_items``, ``k``, ``n_samples``, ``seed`` and ``n_boot``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from math import comb
from typing import Any

import numpy as np

METRICS = ("avg@k", "pass@k", "maj@k", "truncation", "response_tokens", "thinking_tokens")
DEFAULT_BY = ("run", "step", "weights_hash", "benchmark", "benchmark_version", "gen_hash")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples with ``c`` correct (requires ``n >= k``)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def majority_correct(
    answers: list[str | None], scores: list[float], same: Callable[[str, str], bool] | None = None
) -> float:
    """1.0 when the most voted non-empty answer (first seen wins ties) scored 1 on a sample that gave it.

    Args:
        answers: extracted answers of the k samples (None / NaN / "" = no vote).
        scores: their scores.
        same: whether two answers are one vote (default: equal strings); a group's votes are every answer
            ``same`` as the group's first answer, so ``x=\\frac{1}{2}`` and ``\\frac12`` count together under
            :func:`math_equivalent`.
    """
    # pandas gives NaN for a missing answer: only non-empty strings vote
    seen = [(a, s) for a, s in zip(answers, scores, strict=True) if isinstance(a, str) and a != ""]
    if not seen:
        return 0.0
    groups: list[list[tuple[str, float]]] = []
    for a, s in seen:
        for g in groups:
            if a == g[0][0] or (same is not None and same(g[0][0], a)):
                g.append((a, s))
                break
        else:
            groups.append([(a, s)])
    best = max(len(g) for g in groups)
    top = next(g for g in groups if len(g) == best)
    return float(max(s for _, s in top) >= 1.0)


@lru_cache(maxsize=65536)
def math_equivalent(a: str, b: str) -> bool:
    """Whether two extracted math answers are the same answer for math-verify (either order)."""
    from math_verify import verify

    from rsft.bench._math import parse_gold

    pa, pb = list(parse_gold(a)), list(parse_gold(b))
    if not pa or not pb:
        return False
    return bool(verify(pa, pb, timeout_seconds=None) or verify(pb, pa, timeout_seconds=None))


@lru_cache(maxsize=256)
def vote_equivalence(benchmark: str) -> Callable[[str, str], bool] | None:
    """How maj@k groups votes for a benchmark: math-verify equivalence for math-verify-scored benchmarks
    (:class:`rsft.bench._math.MathBenchmark` subclasses), string equality (None) otherwise."""
    import importlib

    from rsft.bench._math import MathBenchmark
    from rsft.bench.registry import BENCHMARKS

    if benchmark not in BENCHMARKS:
        return None
    module, attr = BENCHMARKS[benchmark].split(":")
    cls = getattr(importlib.import_module(module), attr)
    return math_equivalent if issubclass(cls, MathBenchmark) else None


def item_values(rows: Any, k: int, same: Callable[[str, str], bool] | None = None) -> dict[str, np.ndarray]:
    """Per-item metric values for one benchmark × model group (a DataFrame of store rows); ``same`` groups
    maj@k votes (see :func:`majority_correct`)."""
    out: dict[str, list[float]] = {m: [] for m in METRICS}
    for _, g in rows.groupby("item_id", sort=True):
        g = g.sort_values("sample_idx")
        first = g[g["sample_idx"] < k]
        scores = first["score"].astype(float).tolist()
        correct = int((g["score"].astype(float) >= 1.0).sum())
        out["avg@k"].append(float(np.mean(scores)) if scores else np.nan)
        out["pass@k"].append(pass_at_k(len(g), correct, k) if len(g) >= k else np.nan)
        answers = [
            a if o == "ok" else None for a, o in zip(first["extracted"], first["outcome"], strict=True)
        ]
        out["maj@k"].append(majority_correct(answers, scores, same) if scores else np.nan)
        out["truncation"].append(float((first["outcome"] == "truncated").mean()))
        out["response_tokens"].append(float(first["n_tokens"].mean()))
        out["thinking_tokens"].append(float(first["n_thinking_tokens"].mean()))
    return {m: np.asarray(v, dtype=float) for m, v in out.items()}
