"""Synthetic per-sample stores with a known truth, for tests, benchmarks and docs.

``make_store`` writes Parquet parts with exactly :data:`rsft.eval.schema.ROW_SCHEMA`, so everything downstream
(frames, analysis, report) runs on it as on a store written by the evaluation engine. The truth is set by
``curve_fn(run, benchmark, step) -> accuracy``: item ``i`` of a benchmark has success probability
``sigmoid(logit(curve) + u_i)`` with a fixed per-item offset ``u_i ~ N(0, item_sd)``, and each sample is a Bernoulli
draw. Responses are short template texts that carry behaviour markers ("wait", "let me verify", "first, ...").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rsft.eval.schema import ROW_SCHEMA, SCHEMA_VERSION

CurveFn = Callable[[str, str, int], float]

# Template responses: (text, has backtracking, is long). Tokens are counted as whitespace words.
_TEMPLATES = (
    "<think>First, compute the sum. Then check it. The result is 41.</think> The answer is 41.",
    "<think>Let me try 3+5=8. Wait, that is wrong. Alternatively, 3*5=15. Let me verify: 15+7=22.</think> 22",
    "<think>Step 1: split the problem. Step 2: solve each part. Let me double-check the parts.</think> Done.",
    "<think>Hmm, wait. Let me re-check. Actually the sign is wrong. Verify again: yes.</think> The answer is 7.",
    "The answer is 12.",
    "I can't help with that request.",
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def default_curve(run: str, benchmark: str, step: int) -> float:
    """A flat 50% curve."""
    return 0.5


def make_store(
    path: str | Path,
    runs: Sequence[str] = ("run",),
    steps: Sequence[int] = (0, 10, 20, 30),
    benchmarks: Mapping[str, str] | Sequence[str] = ("bench_a",),
    items: int = 50,
    samples: int = 4,
    curve_fn: CurveFn | None = None,
    seed: int = 0,
    *,
    item_sd: float = 1.0,
    runs_json: Mapping[str, Mapping] | None = None,
    parts: int = 1,
) -> Path:
    """Write a synthetic store folder and return its path.

    Args:
        path: the store folder (created; ``rows/part-*.parquet`` and ``store.json`` are written).
        runs: run names.
        steps: checkpoint steps (0 = base model).
        benchmarks: names, or a mapping name -> domain group (default group "math").
        items: items per benchmark.
        samples: samples per item and checkpoint.
        curve_fn: ``(run, benchmark, step) -> accuracy`` of the median item; default flat 0.5.
        seed: seed of every random draw (same arguments + seed -> identical files).
        item_sd: spread of item difficulty on the logit scale.
        runs_json: optional run -> conditions mapping written to ``STORE/runs.json``.
        parts: number of Parquet parts the rows are split into.

    Returns:
        The store folder.
    """
    curve_fn = curve_fn or default_curve
    bench_groups = dict(benchmarks) if isinstance(benchmarks, Mapping) else {b: "math" for b in benchmarks}
    out = Path(path)
    (out / "rows").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    offsets = {b: rng.normal(0.0, item_sd, size=items) for b in bench_groups}
    tables = []
    for run in runs:
        for bench, group in bench_groups.items():
            tables.append(_block(run, bench, group, list(steps), offsets[bench], samples, curve_fn, rng))
    table = pa.concat_tables(tables)
    bounds = np.linspace(0, table.num_rows, parts + 1).astype(int)
    for i in range(parts):
        pq.write_table(
            table.slice(bounds[i], bounds[i + 1] - bounds[i]), out / "rows" / f"part-{i:05d}.parquet"
        )
    (out / "store.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "created_by": "synthetic"}))
    if runs_json is not None:
        (out / "runs.json").write_text(json.dumps(dict(runs_json), indent=1))
    return out


def _block(
    run: str,
    bench: str,
    group: str,
    steps: list[int],
    offsets: np.ndarray,
    k: int,
    curve_fn: CurveFn,
    rng: np.random.Generator,
) -> pa.Table:
    """All rows of one (run, benchmark): steps x items x samples, vectorised."""
    n, s_count = len(offsets), len(steps)
    centre = np.array([_logit(curve_fn(run, bench, s)) for s in steps])
    p = _sigmoid(centre[:, None] + offsets[None, :])  # steps x items
    shape = (s_count, n, k)
    size = int(np.prod(shape))
    correct = rng.random(shape) < p[:, :, None]
    step_arr = np.repeat(np.asarray(steps, dtype=np.int64), n * k)
    item_arr = np.tile(np.repeat(np.arange(n), k), s_count)
    sample_arr = np.tile(np.arange(k, dtype=np.int32), s_count * n)
    # Longer, more marker-rich responses late in training and on correct answers.
    step_frac = (step_arr - step_arr.min()) / max(1, step_arr.max() - step_arr.min())
    tmpl = np.where(
        rng.random(size) < 0.3 + 0.4 * step_frac, rng.integers(1, 4, size), rng.integers(4, 6, size)
    )
    tmpl = np.where(correct.ravel() & (rng.random(size) < 0.3), 0, tmpl)
    n_answer = rng.integers(3, 20, size).astype(np.int32)
    n_think = np.where(tmpl < 4, rng.integers(20, 200, size) + (300 * step_frac).astype(int), 0).astype(
        np.int32
    )
    truncated = rng.random(size) < 0.02
    score = np.where(truncated, 0.0, correct.ravel().astype(float))
    outcome = np.where(truncated, "truncated", "ok")
    texts = np.asarray(_TEMPLATES, dtype=object)[tmpl]
    weights = pc.binary_join_element_wise(run, pa.array(step_arr).cast(pa.string()), "-")
    item_ids = pc.binary_join_element_wise(bench, pa.array(item_arr).cast(pa.string()), "-")
    cols = {
        "key": pc.binary_join_element_wise(weights, item_ids, pa.array(sample_arr).cast(pa.string()), "|"),
        "schema_version": pa.array(np.full(size, SCHEMA_VERSION, dtype=np.int32)),
        "weights_hash": weights,
        "benchmark": pa.array(np.full(size, bench)),
        "benchmark_version": pa.array(np.ones(size, dtype=np.int32)),
        "prompt_hash": pa.array(np.full(size, "p0")),
        "gen_hash": pa.array(np.full(size, "g0")),
        "item_id": item_ids,
        "sample_idx": pa.array(sample_arr),
        "run": pa.array(np.full(size, run)),
        "step": pa.array(step_arr),
        "group": pa.array(np.full(size, group)),
        "gen_config": pa.array(np.full(size, '{"temperature": 0.6}')),
        "seed": pa.array(sample_arr.astype(np.int64)),
        "response": pa.array(texts, type=pa.string()),
        "finish_reason": pa.array(np.where(truncated, "length", "stop")),
        "outcome": pa.array(outcome),
        "score": pa.array(score),
        "n_tokens": pa.array(n_think + n_answer),
        "n_thinking_tokens": pa.array(n_think),
        "n_answer_tokens": pa.array(n_answer),
        "logprob_mean": pa.array(-0.5 - 0.3 * step_frac + rng.normal(0, 0.05, size)),
        "entropy_mean": pa.array(0.8 - 0.2 * step_frac + rng.normal(0, 0.05, size)),
    }
    arrays = [cols[f.name] if f.name in cols else pa.nulls(size, f.type) for f in ROW_SCHEMA]
    arrays = [a.cast(f.type) for a, f in zip(arrays, ROW_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=ROW_SCHEMA)


# ---------------------------------------------------------------------------------------------------------------
# Known-truth curves for the detector: an item model and shapes (used by detector.simulate and its calibration).


def _shape_drop(x: np.ndarray) -> np.ndarray:
    return -np.minimum(1.0, x / 0.1)


def _shape_drop_gradual(x: np.ndarray) -> np.ndarray:
    return -np.minimum(1.0, x / 0.4)


def _shape_dip(x: np.ndarray) -> np.ndarray:
    down = -x / 0.25
    up = -(1.0 - (x - 0.25) / 0.5)
    return np.where(x <= 0.25, down, np.where(x <= 0.75, up, 0.0))


def _shape_partial(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.25, -x / 0.25, np.where(x <= 0.75, -(1.0 - 0.6 * (x - 0.25) / 0.5), -0.4))


SHAPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "flat": lambda x: np.zeros_like(x),
    "drop-and-stay": _shape_drop,  # the whole loss within the first 10% of training, then level
    "drop-and-stay gradual": _shape_drop_gradual,  # the whole loss spread over the first 40%, then level
    "steady decline": lambda x: -x,
    "steady rise": lambda x: x,
    "rise-then-plateau": lambda x: np.minimum(1.0, x / 0.3),  # the whole gain within the first 30%
    "dip-and-recovery": _shape_dip,  # deepest at 25% of training, back at the base by 75%, level after
    "dip-and-partial-recovery": _shape_partial,  # the same dip, back only to 40% of its depth below the base
}
"""Population-mean change in units of ``depth`` as a function of training progress ``x`` in [0, 1] (step based)."""


_F_DRIFT = 5.0  # ~99th percentile of F(2, 10+): the decay of item covariances with the lag must be clear


@dataclass(frozen=True)
class ItemModel:
    """Items of a benchmark: base accuracies ~ Beta with ``mean`` and ``sd``; per-checkpoint logit drift.

    Item ``i`` at checkpoint ``s`` succeeds with probability ``sigmoid(logit(p_i) + e_is + shift_s)``: ``p_i`` its
    base accuracy, ``e_is`` the item's drift, an AR(1) process over checkpoints (sd ``jitter_sd`` on the logit
    scale, correlation ``jitter_rho`` between consecutive checkpoints, persistent: an item that moved stays moved
    for a while; training moves items unevenly, so an item's results at two checkpoints are correlated below 1),
    ``shift_s`` the common shift that puts the population mean on the true curve.
    """

    mean: float
    sd: float
    jitter_sd: float = 0.0
    jitter_rho: float = 0.9
    source: str = "given"

    def ab(self) -> tuple[float, float]:
        """Beta parameters from mean and sd (method of moments)."""
        m = min(max(self.mean, 1e-3), 1 - 1e-3)
        var = min(max(self.sd**2, 1e-6), 0.95 * m * (1 - m))
        common = m * (1 - m) / var - 1.0
        return m * common, (1 - m) * common

    @classmethod
    def fit(cls, cnt: np.ndarray, s_sum: np.ndarray, max_lag: int = 32) -> ItemModel:
        """A smoothed model of a run's items with their drift (binary scores; ``cnt``/``s_sum``: (n, S)).

        Raw item means are 0 or 1 with k = 1, which would make items deterministic; instead the model is fitted to
        the covariances of item means between checkpoints ``L = 1, 2, ...`` apart (sampling noise is independent
        across checkpoints, so it drops out for any k). Their mean over checkpoint pairs, ``c(L)``, is fitted by
        weighted least squares as ``a + b rho^L``: ``a`` the persistent item variance (the Beta's variance), ``b``
        the drifting part (on the logit scale ``jitter_sd = sqrt(b) / E[p (1 - p)]``, correlation ``jitter_rho``
        between consecutive checkpoints), kept only when it beats a constant covariance by an F test at 1%
        (otherwise, and with fewer than 5 checkpoints, no drift: ``a`` = the mean covariance). Variances are
        kept within [1%, 95%] of the Bernoulli variance ``m (1 - m)`` (``m``: the base mean).
        """
        present = cnt > 0
        m_is = np.where(present, s_sum / np.maximum(cnt, 1), np.nan)
        base = m_is[:, 0]
        mean = float(np.nanmean(base)) if np.isfinite(base).any() else 0.5
        mean = min(max(mean, 0.01), 0.99)
        bern = mean * (1 - mean)
        S = m_is.shape[1]
        lags, covs, wts = [], [], []
        for L in range(1, min(S - 1, max_lag) + 1):
            cs = []
            for s in range(S - L):
                a, b = m_is[:, s], m_is[:, s + L]
                ok = np.isfinite(a) & np.isfinite(b)
                if ok.sum() >= 3:
                    cs.append(float(np.cov(a[ok], b[ok])[0, 1]))
            if cs:
                lags.append(L)
                covs.append(float(np.mean(cs)))
                wts.append(len(cs))
        if not covs:
            return cls(mean=mean, sd=float(np.sqrt(0.25 * bern)), source="default: no two checkpoints to fit")
        c, w, Ls = np.array(covs), np.sqrt(np.array(wts, dtype=float)), np.array(lags, dtype=float)
        a, b, rho = float(c[0]), 0.0, 0.9
        if len(c) >= 4:

            def sse(ab: tuple[float, float], g: np.ndarray) -> float:
                return float(np.sum(((ab[0] + ab[1] * g - c) * w) ** 2))

            best = np.inf
            for r in np.linspace(0.05, 0.995, 96):
                g = r**Ls
                X = np.stack([np.ones_like(g), g], axis=1) * w[:, None]
                coef = tuple(float(x) for x in np.linalg.lstsq(X, c * w, rcond=None)[0])
                if min(coef) < 0:  # non-negative parts: the better of the two boundary fits
                    only_a = (max(float(np.average(c, weights=w * w)), 0.0), 0.0)
                    only_b = (0.0, max(float(np.sum(g * c * w * w) / np.sum(g * g * w * w)), 0.0))
                    coef = min(only_a, only_b, key=lambda ab: sse(ab, g))
                if sse(coef, g) < best:
                    best, drift = sse(coef, g), (coef, float(r))
            # drift only where the data ask for it: an F test of the decay against a constant covariance
            flat = (max(float(np.average(c, weights=w * w)), 0.0), 0.0)
            s0, dof = sse(flat, np.ones_like(Ls)), len(c) - 3
            if dof > 0 and best > 0 and (s0 - best) / 2 / (best / dof) > _F_DRIFT:
                (a, b), rho = drift
            else:
                a, b = flat
        var = min(max(a, 0.01 * bern), 0.95 * bern)
        slope = max(bern - var, 0.05 * bern)  # E[p (1 - p)] of the items
        jitter = min(float(np.sqrt(max(b, 0.0))) / slope, 3.0)
        corr1 = (a + b * rho) / (a + b) if a + b > 0 else 1.0
        return cls(
            mean=mean,
            sd=float(np.sqrt(var)),
            jitter_sd=jitter,
            jitter_rho=rho,
            source=(
                "fit: base mean; item covariance between checkpoints L apart = a + b rho^L "
                f"(a={a:.4f}, b={b:.4f}, rho={rho:.3f}; item correlation between consecutive checkpoints "
                f"{corr1:.2f} of the persistent variance)"
            ),
        )

    def lag_correlation(self, lag: int = 1) -> float:
        """Share of the between-item variance (probability scale, first order) kept ``lag`` checkpoints apart."""
        bern = self.mean * (1 - self.mean)
        var = self.sd**2
        b = (self.jitter_sd * max(bern - var, 0.05 * bern)) ** 2
        return float((var + b * self.jitter_rho**lag) / (var + b)) if var + b > 0 else 1.0

    def describe(self) -> dict:
        a, b = self.ab()
        return {
            "mean": self.mean,
            "sd": self.sd,
            "beta_a": a,
            "beta_b": b,
            "jitter_sd": self.jitter_sd,
            "jitter_rho": self.jitter_rho,
            "lag1_item_correlation": self.lag_correlation(1),
            "source": self.source,
        }

    def prepare(self, n_ref: int = 4000) -> _Prepared:
        """Precompute the map from a target population mean to the common logit shift."""
        rng = np.random.default_rng(12345)
        a, b = self.ab()
        ref = _logit_arr(rng.beta(a, b, n_ref)) + rng.normal(0.0, self.jitter_sd, n_ref)
        grid = np.linspace(-12.0, 12.0, 2401)
        means = np.array([_sigmoid(ref + g).mean() for g in grid])
        base = float(np.interp(0.0, grid, means))
        return _Prepared(self, a, b, grid, means, base)


@dataclass(frozen=True)
class _Prepared:
    model: ItemModel
    a: float
    b: float
    grid: np.ndarray
    means: np.ndarray
    base: float

    def shift(self, target: np.ndarray) -> np.ndarray:
        t = np.clip(target, self.means[0] + 1e-9, self.means[-1] - 1e-9)
        return np.interp(t, self.means, self.grid)


def _logit_arr(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def true_curve(prep: _Prepared, steps: Sequence[int], shape: str, depth: float) -> np.ndarray:
    """(S,) population mean at each checkpoint: the base mean + depth * shape(progress), kept inside (0, 1)."""
    s = np.asarray(steps, dtype=float)
    x = (s - s[0]) / max(s[-1] - s[0], 1e-12)
    return np.clip(prep.base + depth * SHAPES[shape](x), 0.002, 0.998)


def simulate_counts(
    prep: _Prepared, n: int, k: int, steps: Sequence[int], shape: str, depth: float, rng: np.random.Generator
) -> np.ndarray:
    """(n, S) correct counts out of k for one simulated run: fresh items, common shift, jitter, Bernoulli draws."""
    m = prep.model
    S = len(steps)
    shift = prep.shift(true_curve(prep, steps, shape, depth))
    logit = _logit_arr(rng.beta(prep.a, prep.b, n))[:, None] + shift[None, :]
    if m.jitter_sd > 0:
        z = rng.standard_normal((n, S))
        e = np.empty((n, S))
        e[:, 0] = z[:, 0]
        c = np.sqrt(1 - m.jitter_rho**2)
        for s in range(1, S):
            e[:, s] = m.jitter_rho * e[:, s - 1] + c * z[:, s]
        logit = logit + m.jitter_sd * e
    return rng.binomial(k, _sigmoid(logit)).astype(np.float64)
