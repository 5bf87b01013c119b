"""``analyze_store``: the store in, tables and ``analysis.json`` (everything the report renders) out.

Run: ``rsft analyze STORE [--out DIR] [--in-domain a,b] [--seed 0]`` or
``rsft.analysis.analyze_store(store, out)`` from Python.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import Field
from threadpoolctl import threadpool_limits

from rsft._util.errors import DataError
from rsft._util.hashing import hash_obj
from rsft._util.provenance import git_revision
from rsft._version import __version__
from rsft.analysis import detector as detector_mod
from rsft.analysis import safety as safety_mod
from rsft.analysis import stats as stats_mod
from rsft.analysis.behaviour import behaviour_metrics, default_lexicon
from rsft.analysis.conditions import comparison_rows, condition_keys, load_conditions
from rsft.analysis.detector import CLASSES, simulate
from rsft.analysis.dynamics import (
    benchmark_dynamics,
    between_runs,
    borrow_base,
    domain_dynamics,
    domain_of,
    gain_differences,
)
from rsft.analysis.frames import cubes, item_frame, judges_used, outcome_counts, reader
from rsft.analysis.multiplicity import CROSS, holm_dynamics
from rsft.analysis.safety import tradeoff
from rsft.analysis.stats import BootSpec
from rsft.analysis.synthetic import ItemModel
from rsft.config import MAX_BOOT, MAX_SAMPLES, StrictModel, did_you_mean
from rsft.eval.protocol import protocol_records

ANALYSIS_VERSION = 1

OUTCOMES_METHOD = (
    "Every response has one outcome: ok (an answer was found and scored), truncated (cut by the length limit, "
    "from the backend's finish reason), no_answer (the response ended without an answer, e.g. inside a thinking "
    "block that the rendered prompt or the response opened), error (backend, judge or scorer failure). Error rows "
    "are left out of every mean, interval and domain curve and counted per benchmark and step. Truncated and "
    "no_answer rows score as their benchmark's policy says (stated per benchmark): 'wrong' scores 0; 'paper' scores "
    "whatever text there was (the paper's released code ran math-verify on it); 'judged' judges the visible answer "
    "and keeps the row flagged truncated (safety: a cut response is never an attack success for being cut)."
)


class AnalyzeConfig(StrictModel):
    """Options of ``rsft analyze`` (defaults are the documented ones)."""

    B: int = Field(1000, ge=50, le=MAX_BOOT, description="bootstrap replicates")
    level: float = Field(
        0.95, gt=0.5, lt=1.0, description="interval level (joint level for simultaneous ones)"
    )
    lexicon: dict[str, list[str]] | None = Field(
        None, description="marker category -> phrases (default shared)"
    )
    weights: dict[str, float] | None = Field(
        None, description="domain -> weight of the recommendation's score"
    )
    safety_tolerance: float = Field(0.05, ge=0.0, description="largest tolerated safety loss (score points)")
    power_depths: list[float] = Field(
        [0.0, 0.05, 0.10], description="simulated dip depths (0 = false positives)"
    )
    power_sims: int = Field(
        200, ge=0, le=MAX_SAMPLES, description="simulated runs per depth (0 = skip the power table)"
    )
    power_B: int = Field(400, ge=50, le=MAX_BOOT, description="bootstrap replicates inside the power simulation")
    behaviour_B: int = Field(
        400, ge=50, le=MAX_BOOT, description="bootstrap replicates of behaviour and token-level ratios"
    )
    threads: int | None = Field(None, description="DuckDB threads (default all cores)")
    reference_run: str | None = Field(
        None, description="run the others are compared with (default: per model)"
    )


def _clean(obj):
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return round(obj, 6) if math.isfinite(obj) else None
    return obj


def _power(cube_list, spec: BootSpec, cfg: AnalyzeConfig, domains: Mapping[str, str] | None = None) -> list[dict]:
    """Detector verdicts on simulated runs shaped like the run's benchmarks (up to 3 distinct n, k, steps).

    Items come from a smoothed model of the benchmark's items with their drift (:meth:`ItemModel.fit`: a beta with
    the base mean and the persistent between-item variance, and an AR(1) item drift fitted to the covariances of
    item means between checkpoints), not from the raw item means, which are 0 or 1 with k = 1 and would make items
    deterministic. Depth 0 is a flat truth (its non-flat share is the false-verdict rate); depth > 0 an early dip
    of that many score points that recovers by 75% of training (``SHAPES["dip-and-recovery"]``). Benchmarks of the
    out-of-domain and general domains come first (the dip is asked of them). Every row names the run, benchmark and
    domain it is for, and carries the reference test's power on the same simulated runs.
    """
    if cfg.power_sims <= 0:
        return []
    domains = domains or {}
    seen, out = set(), []
    pspec = BootSpec(B=min(cfg.power_B, spec.B), seed=spec.seed, level=spec.level)
    order = sorted(cube_list, key=lambda c: domains.get(c.benchmark) not in ("out-of-domain", "general"))
    for cube in order:
        n, S = cube.cnt.shape
        k = max(1, int(round(float(np.median(cube.cnt[cube.cnt > 0])))) if (cube.cnt > 0).any() else 1)
        if (n, k, S) in seen or S < 3 or not cube.binary or len(seen) >= 3:
            continue
        seen.add((n, k, S))
        model = ItemModel.fit(cube.cnt, cube.s_sum)
        im = model.describe()
        for depth in cfg.power_depths:
            shape = "dip-and-recovery" if depth > 0 else "flat"
            res = simulate(model, n, k, cube.steps, shape, depth, cfg.power_sims, pspec)
            res.update({"like": f"{cube.run}/{cube.benchmark}", **pspec.describe()})
            res.update({"run": cube.run, "benchmark": cube.benchmark, "domain": domains.get(cube.benchmark)})
            res["method"] = (
                f"{cfg.power_sims} simulated runs of {n} fresh items x {k} samples x {S} checkpoints shaped like "
                f"{cube.benchmark} in run {cube.run}; items from Beta(a={im['beta_a']:.2f}, b={im['beta_b']:.2f}) "
                f"with an AR(1) logit drift (sd {im['jitter_sd']:.2f}, correlation {im['jitter_rho']:.2f} between "
                f"consecutive checkpoints; item correlation {im['lag1_item_correlation']:.3f}) fitted to the "
                "benchmark's item covariances between checkpoints; true curve "
                + ("flat" if depth == 0 else f"an early dip of {depth:.2f} recovering by 75% of training")
                + "; mc_se = Monte-Carlo standard error of the share; reference = the plain max-t test over the "
                "dip-vs-base and later-vs-dip contrasts at the whole error rate"
            )
            out.append(res)
    return out


def analyze_store(
    store_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    in_domain: list[str] | None = None,
    seed: int = 0,
    config: AnalyzeConfig | None = None,
    conditions: Mapping[str, Mapping] | None = None,
    progress=None,
) -> Path:
    """Analyse a per-sample store and write ``analysis.json`` plus CSV/Markdown tables.

    Args:
        store_dir: the store folder (``rows/*.parquet``).
        out_dir: output folder (default ``STORE/analysis``).
        in_domain: benchmarks the training data targets (default: every benchmark of group "math").
        seed: seed of every bootstrap and simulation (same store + seed -> same numbers).
        config: further options (:class:`AnalyzeConfig`).
        conditions: run -> conditions (default ``STORE/runs.json`` or the run names).
        progress: optional callable(str) told about each phase.

    Returns:
        The output folder.

    Raises:
        DataError: the store is missing, empty or malformed.
    """
    out = Path(out_dir) if out_dir is not None else Path(store_dir) / "analysis"
    fresh = not out.exists()
    try:
        # The bootstrap is many small matrix products: BLAS threads only spin against DuckDB and each other.
        with threadpool_limits(1):
            return _analyze(Path(store_dir), out, in_domain, seed, config or AnalyzeConfig(), conditions, progress)
    except BaseException:
        if fresh and out.is_dir() and not any(out.iterdir()):  # a failed analysis leaves no empty folder
            out.rmdir()
        raise


def _check_in_domain(in_domain: list[str] | None, benchmarks: set[str], store: Path) -> None:
    """Every in-domain name is a benchmark of the store: a misspelt one would silently move the benchmark it
    meant to the out-of-domain curves."""
    for name in in_domain or []:
        if name not in benchmarks:
            raise DataError(
                f"in-domain benchmark '{name}' is not in the store" + did_you_mean(name, sorted(benchmarks)),
                file=str(store),
                field="in_domain",
                fix=f"name benchmarks the store holds: {', '.join(sorted(benchmarks))}",
            )


def _analyze(store, out, in_domain, seed, cfg, conditions, progress) -> Path:
    say = progress or (lambda msg: None)
    st = reader(store)  # opened once, to read: nothing in it is created or moved (a missing one is named)
    out.mkdir(parents=True, exist_ok=True)
    spec = BootSpec(B=cfg.B, seed=seed, level=cfg.level)
    lexicon = cfg.lexicon or default_lexicon()
    t0 = time.perf_counter()
    say("reading the store")
    frame = item_frame(st, lexicon, threads=cfg.threads)
    cube_list = cubes(frame)
    runs = sorted({c.run for c in cube_list})
    conds = load_conditions(store, runs, conditions)
    cube_list, notes = borrow_base(cube_list, conds)
    notes = frame.notes + notes
    if (store / "adaptive.json").is_file():  # written by rsft.study.adaptive (rsft eval --adaptive)
        notes.append(
            "this store was written by an adaptive sweep: only some checkpoints, items and samples were "
            "evaluated (each curve's n_items and k per step say which); checkpoints never evaluated are absent, "
            "not measured. The intervals here treat that design as fixed; the verdicts with the adaptive "
            "guarantee (error spent over looks) are in adaptive.json (docs/adaptive.md)"
        )
    _check_in_domain(in_domain, {c.benchmark for c in cube_list}, store)
    domains = {c.benchmark: domain_of(c.benchmark, c.group, in_domain) for c in cube_list}
    if in_domain is None:  # the default is a guess about the training data: say what it made of this store
        guessed = sorted({b for b, d in domains.items() if d == "in-domain"})
        notes.append(
            f"in-domain benchmarks not given: every math-group benchmark is counted as in-domain "
            f"({', '.join(guessed) or 'none here'}); name the ones the training data targets with --in-domain "
            "(a study's analysis.in_domain)"
        )
    counts = outcome_counts(frame)
    say(f"dynamics of {len(cube_list)} run x benchmark curves")
    bench_recs, per_domain, finals = [], defaultdict(list), {}
    for cube in cube_list:
        rec, boot = benchmark_dynamics(cube, spec, domains[cube.benchmark])
        rec["outcomes"] = counts.get((cube.run, cube.benchmark))
        rec["scoring"] = frame.scoring.get(cube.benchmark)
        bench_recs.append(rec)
        sig = hash_obj([cube.benchmark, *map(str, cube.items)])
        finals[(cube.run, cube.benchmark)] = (boot.est[-1], boot.boot[:, -1], int(boot.n_items[-1]), sig)
        if not cube.unit:  # a domain score averages only scores on the same [0, 1] scale
            notes.append(
                f"run {cube.run}, {cube.benchmark}: scores outside [0, 1]; shown alone, not averaged into "
                f"the {domains[cube.benchmark]} domain"
            )
            continue
        per_domain[(cube.run, domains[cube.benchmark])].append((cube.benchmark, cube.steps, boot))
    dom_recs, dom_curves = [], defaultdict(dict)
    for (run, dom), parts in sorted(per_domain.items()):
        res = domain_dynamics(run, dom, parts, spec)
        if res is not None:
            dom_recs.append(res[0])
            dom_curves[run][dom] = (res[1], res[2])
            sig = hash_obj(sorted(finals[(run, b)][3] for b in res[0]["benchmarks"]))
            finals[(run, f"[{dom}]")] = (res[2].est[-1], res[2].boot[:, -1], int(res[2].n_items[-1]), sig)
    cross = [
        (rec, *dom_curves[rec["run"]][rec["domain"]])
        for rec in dom_recs
        if rec["domain"] in CROSS and len(rec["curve"]["step"]) >= 3
    ]
    say(f"study-level correction over {len(cross)} cross-domain curves")
    study = {
        "curves": len(bench_recs) + len(dom_recs),
        "per_curve_error_rate": 1.0 - spec.level,
        "dynamics": holm_dynamics(cross, spec.level),
        "cards": "Holm step-down over each card's own tests (family-wise error <= 1 - level per card)",
    }
    say("behaviour and token level")
    behaviour = behaviour_metrics(
        frame, BootSpec(B=min(cfg.behaviour_B, spec.B), seed=seed, level=cfg.level), domains
    )
    notes += [f"{b['run']}: {b['entropy_note']}" for b in behaviour if b.get("entropy_note")]
    say("safety trade-off")
    trade = [
        t
        for run in runs
        if (t := tradeoff(run, dom_curves[run], spec, weights=cfg.weights, tolerance=cfg.safety_tolerance))
    ]
    say("detector power by simulation")
    power = _power(cube_list, spec, cfg, domains)
    analysis = {
        "analysis_version": ANALYSIS_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rsft_version": __version__,
        "git": git_revision(),
        "store": str(store.resolve()),
        "spec": spec.describe(),
        "config": cfg.model_dump(mode="json") | {"lexicon": lexicon},
        "in_domain": in_domain,
        "domains": domains,
        "runs": conds,
        "condition_keys": condition_keys(conds),
        "benchmarks": bench_recs,
        "domain_curves": dom_recs,
        "comparison": comparison_rows(bench_recs, dom_recs, conds),
        "between_runs": between_runs(finals, conds, spec, cfg.reference_run),
        "gain_differences": gain_differences(dom_curves, conds, spec),
        "study": study,
        "behaviour": behaviour,
        "tradeoff": trade,
        "judges": judges_used(st),
        "protocol_metrics": protocol_records(st),  # each benchmark's own metrics (rsft.eval.protocol)
        "power": power,
        "early_warnings": [
            {"run": r["run"], "name": r.get("benchmark") or r["domain"], **r["early_warning"]}
            for r in [*dom_recs, *bench_recs]
            if r.get("early_warning")
        ],
        "classes": list(CLASSES),
        "scoring": frame.scoring,
        "methods": {
            "outcomes": OUTCOMES_METHOD,
            "bootstrap": stats_mod.READER_METHOD,
            "detector": detector_mod.READER_METHOD,
            "safety": safety_mod.READER_METHOD,
        },
        "notes": notes,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (out / "analysis.json").write_text(json.dumps(_clean(analysis), separators=(",", ":")))
    write_tables(analysis, out)
    return out


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def write_tables(analysis: dict, out: Path) -> None:
    """CSV and Markdown tables next to analysis.json."""
    tables = out / "tables"
    tables.mkdir(exist_ok=True)
    spec = analysis["spec"]
    rows = []
    for rec in [*analysis["benchmarks"], *analysis["domain_curves"]]:
        c = rec["curve"]
        name = rec.get("benchmark") or f"[{rec['domain']}]"
        for i, step in enumerate(c["step"]):
            rows.append(
                [rec["run"], name, step, c["est"][i], c["lo"][i], c["hi"][i], c["diff_base"][i]]
                + [c["diff_base_sim_lo"][i], c["diff_base_sim_hi"][i], c["n_items"][i], c["k"][i]]
                + [spec["B"], spec["seed"], spec["level"]]
            )
    header = ["run", "curve", "step", "score", "lo", "hi", "diff_vs_base", "diff_sim_lo", "diff_sim_hi"]
    _csv(tables / "dynamics.csv", header + ["n_items", "k", "B", "seed", "level"], rows)
    pm = analysis.get("protocol_metrics") or []
    _csv(tables / "protocol_metrics.csv", ["run", "step", "benchmark", "metric", "value", "n", "definition"],
         [[r[k] for k in ("run", "step", "benchmark", "metric", "value", "n", "definition")] for r in pm])  # fmt: skip
    det_rows = []
    for rec in [*analysis["domain_curves"], *analysis["benchmarks"]]:
        d = rec["detector"]
        g = rec.get("final_change") or d.get("final_gain") or {}
        dep = d.get("depth") or {}
        det_rows.append(
            [rec["run"], rec.get("benchmark") or f"[{rec['domain']}]", d["class"], d.get("dip_step")]
            + [dep.get("est"), dep.get("lo"), dep.get("hi"), d.get("recovery_step")]
            + [g.get("est"), g.get("lo"), g.get("hi"), rec["stat"]["n_items"], rec["stat"]["k"]]
        )
    dh = ["run", "curve", "class", "dip_step", "depth", "depth_lo", "depth_hi", "recovery_step"]
    dh += ["final_gain", "gain_lo", "gain_hi", "n_items", "k"]
    _csv(tables / "detector.csv", dh, det_rows)
    md = [f"| {' | '.join(dh)} |", "|" + "---|" * len(dh)]
    md += ["| " + " | ".join(_fmt(v) if isinstance(v, float) else str(v) for v in r) + " |" for r in det_rows]
    (tables / "detector.md").write_text(
        f"Detector (B={spec['B']}, seed={spec['seed']}; depth: the detector's simultaneous intervals at its family "
        f"level; final_gain: final − base with its own pointwise {spec['level']:.0%} interval)\n\n"
        + "\n".join(md)
        + "\n"
    )
    comp = []
    for row in analysis["comparison"]:
        for name, cell in row["cells"].items():
            g = cell["gain"]
            comp.append(
                [row["run"], name, cell["base"], cell["final"], g["est"], g["lo"], g["hi"], cell["mark"]]
            )
    _csv(
        tables / "comparison.csv",
        ["run", "curve", "base", "final", "gain", "gain_lo", "gain_hi", "mark"],
        comp,
    )
    _csv(
        tables / "power.csv",
        ["like", "n", "k", "steps", "depth", "sims", "dip_detected", "mc_se", "B", "seed", "level", "shape"]
        + ["false_verdict", "correct", "recovered", "reference", "reference_se", "benchmark", "domain"],
        [
            [
                p[k]
                for k in (
                    "like",
                    "n",
                    "k",
                    "steps",
                    "depth",
                    "sims",
                    "dip_detected",
                    "mc_se",
                    "B",
                    "seed",
                    "level",
                    "shape",
                    "false_verdict",
                    "correct",
                    "recovered",
                    "reference",
                    "reference_se",
                    "benchmark",
                    "domain",
                )
            ]
            for p in analysis["power"]
        ],
    )

    _tradeoff_tables(analysis, tables)


def _tradeoff_tables(analysis: dict, tables: Path) -> None:
    """tradeoff.csv (every checkpoint) and recommendation.md (one line per run)."""
    rows, md = (
        [],
        [
            "| run | step | weighted score | reasoning gain | safety change | best in replicates |",
            "|---|---|---|---|---|---|",
        ],
    )
    for t in analysis["tradeoff"]:
        sc = t.get("safety_change") or {}
        for i, step in enumerate(t["step"]):
            w, g = t["weighted_score"], t["reasoning_gain"]
            rows.append(
                [t["run"], step, w["est"][i], w["lo"][i], w["hi"][i], g["est"][i], g["lo"][i], g["hi"][i]]
                + [(sc.get(k) or [None] * len(t["step"]))[i] for k in ("est", "lo", "hi", "sim_lo")]
                + [t["eligible"][i]]
            )
        rc = t["recommendation"]

        def f(d):
            return "—" if not d else f"{_fmt(d['est'])} [{_fmt(d['lo'])}, {_fmt(d['hi'])}]"

        md.append(
            f"| {t['run']} | {rc['step']} | {f(rc['weighted_score'])} | {f(rc['reasoning_gain'])} | "
            f"{f(rc.get('safety_change'))} | {rc['prob_best']:.0%} |"
        )
    head = ["run", "step", "weighted", "weighted_lo", "weighted_hi", "gain", "gain_lo", "gain_hi"]
    head += ["safety_change", "safety_lo", "safety_hi", "safety_sim_lo", "eligible"]
    _csv(tables / "tradeoff.csv", head, rows)
    spec = analysis["spec"]
    (tables / "recommendation.md").write_text(
        f"Recommended checkpoints (B={spec['B']}, seed={spec['seed']}, {spec['level']:.0%} intervals)\n\n"
        + "\n".join(md)
        + "\n"
    )


def _csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
