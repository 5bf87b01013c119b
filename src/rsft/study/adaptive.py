"""Live adaptive sweep: generate only the units the policy of :mod:`rsft.analysis.adaptive` asks for.

``rsft eval --adaptive --run RUN_DIR --suite SUITE --store STORE`` evaluates the run's base and final checkpoints
completely, then, benchmark by benchmark, the interior units of each look of the fixed schedule until the curve's
verdict stops it (docs/adaptive.md). Rows go to the store as in a full sweep (same keys: a later full sweep into
the same store generates only what the adaptive one skipped). ``STORE/adaptive.json`` records, per curve, the
schedule, the per-look level, every look's class and which checkpoints, items and samples were evaluated.

This module orchestrates two stages (the sweep runner and the analysis), so it lives in ``study``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rsft._util.errors import RsftError
from rsft._util.progress import Progress, Say
from rsft.analysis.adaptive import DEFAULT_BUDGET, DEFAULT_SCHEDULE, curve_arrays, policy
from rsft.analysis.dynamics import benchmark_dynamics, domain_of
from rsft.analysis.frames import Cube, sample_frame
from rsft.analysis.stats import BootSpec
from rsft.eval.config import SuiteConfig
from rsft.eval.plan import discover_checkpoints, load_benchmarks
from rsft.eval.runner import SweepReport, build_backend, check_errors, sweep_target
from rsft.eval.store import Store

ADAPTIVE_JSON = "adaptive.json"
_COLS = ["key", "run", "benchmark", "step", "item_id", "sample_idx", "score", "outcome", "n_tokens"]


def adaptive_sweep(
    suite: SuiteConfig,
    run_dir: str | Path,
    store: str | Path,
    *,
    spec: BootSpec | None = None,
    budget: float | None = DEFAULT_BUDGET,
    schedule=DEFAULT_SCHEDULE,
    say: Say | None = None,
    progress: Progress | None = None,
) -> dict:
    """Sweep ``run_dir``'s complete checkpoints adaptively into ``store``; returns (and writes) the record.

    Raises:
        RsftError: fewer than two complete checkpoints (nothing to compare).
    """
    say = say or (lambda m: None)
    spec = spec or BootSpec()
    targets, _ = discover_checkpoints(run_dir)
    targets = sorted(targets, key=lambda t: t.step)
    if len(targets) < 2:
        raise RsftError(
            "an adaptive sweep needs at least two complete checkpoints (a base and a final)",
            file=str(run_dir),
            fix="train further, or evaluate the checkpoints with a full sweep",
        )
    st = Store(store)
    steps = np.array([t.step for t in targets])
    backend = build_backend(suite.backend)
    loaded = load_benchmarks(suite)
    curves = []
    total = SweepReport()  # every unit swept, for the unscorable-rows rule (eval.runner.check_errors)
    try:
        for lb in loaded:
            items = np.array([str(s.id) for s in lb.samples], dtype=object)
            pos_of = {x: i for i, x in enumerate(items)}
            S, n, k = len(targets), len(items), int(lb.gen.n)
            run, bench = targets[0].run, lb.benchmark.name
            group = getattr(lb.benchmark, "group", None) or "general"

            def fetch(mask, lb=lb, pos_of=pos_of, items=items, run=run, bench=bench, k=k):
                for s in np.flatnonzero(mask.any(axis=(1, 2))):
                    want = mask[s]

                    def select(p, want=want, lb=lb, pos_of=pos_of) -> bool:
                        i = pos_of.get(str(p.sample.id))
                        return p.benchmark is lb.benchmark and i is not None and p.sample_idx < want.shape[1] \
                            and bool(want[i, p.sample_idx])  # fmt: skip

                    rep = sweep_target(targets[s], [lb], st, backend, progress=progress, lease_ttl_s=0,
                                       select=select)  # fmt: skip
                    total.add(rep)
                    if rep.generated:
                        say(f"{bench} step {targets[s].step}: {rep.generated} rows generated")
                scores, present, tokens = _read(st, run, bench, steps, items, k)
                return scores, present & mask, tokens

            def judge(idx, cnt, s_sum, s_sq, lev, run=run, bench=bench, items=items, group=group):
                ok = cnt > 0
                means = np.where(ok, s_sum / np.maximum(cnt, 1), 0.0)
                binary = bool(np.all((s_sum == np.round(s_sum)) & (s_sq == s_sum)))
                unit = bool(np.all((means >= 0) & (means <= 1)))
                cube = Cube(run, bench, group, steps[idx], items, cnt, s_sum, s_sq, binary, unit)
                rec, boot = benchmark_dynamics(
                    cube, BootSpec(B=spec.B, seed=spec.seed, level=lev), domain_of(bench, group, None)
                )
                return rec["detector"], (rec, boot)

            res = policy((S, n, k), fetch, judge, spec.rng("adaptive", run, bench), level=spec.level,
                         schedule=schedule, budget=budget)  # fmt: skip
            rec = res["extra"][0]
            read = res["read"]
            curves.append(
                {
                    "run": run,
                    "benchmark": bench,
                    "class": res["class"],
                    "final_gain": res["verdict"].get("final_gain"),
                    "stopped_at": res["stopped_at"],
                    "looks": res["looks"],
                    "level_per_look": res["level_per_look"],
                    "schedule": res["schedule"],
                    "steps": rec["curve"]["step"],
                    "n_items": rec["curve"]["n_items"],
                    "k": rec["curve"]["k"],
                    "steps_not_evaluated": [int(steps[s]) for s in range(S) if not read[s].any()],
                    "rows": res["rows"],
                    "full_rows": S * n * k,
                    "tokens": res["tokens"],
                }
            )
            say(f"{run}/{bench}: {res['class']} after look {res['stopped_at']} ({res['rows']}/{S * n * k} rows)")
    finally:
        backend.close()
    out = {
        "mode": "adaptive",
        "run_dir": str(run_dir),
        "level": spec.level,
        "spec": spec.describe(),
        "budget": budget,
        "guarantee": "per curve: P(the reported verdict contains a false claim) <= 1 - level (Bonferroni over the "
        "looks fixed in advance; docs/adaptive.md); the detector's own guarantee is approximate",
        "curves": curves,
    }
    (st.path / ADAPTIVE_JSON).write_text(json.dumps(out, indent=1, default=str))
    check_errors(total)  # after everything is written: fails past the default share of unscorable rows
    return out


def _read(store: Store, run: str, bench: str, steps: np.ndarray, items: np.ndarray, k: int):
    """(S, n, k) scores, presence and tokens of one curve's rows now in the store."""
    tab = sample_frame(store, _COLS)
    t = {c: tab.column(c).to_numpy(zero_copy_only=False) for c in _COLS}
    step_set = {int(s) for s in steps}
    rows = np.flatnonzero(
        (t["run"] == run)
        & (t["benchmark"] == bench)
        & np.array([s is not None and s == s and int(s) in step_set for s in t["step"]], dtype=bool)
        & (t["sample_idx"] < k)
    )
    scores, present, tokens, _ = curve_arrays(t, rows, steps, items, k=k)
    return scores, present, tokens
