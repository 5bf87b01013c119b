"""``rsft study STUDY.yaml``: datasets → training runs → checkpoint sweeps → analysis → report.

Every stage is skipped when its outputs exist with the same identity and redone when they differ:

* a built dataset: the hash of its build spec (recorded in its data card);
* a training run: the trainer's config hash plus the data file's content hash (``STUDY/state/train-RUN.json``);
  the same identity resumes an interrupted run, a different one retrains it from scratch;
* a sweep: the evaluation store's per-sample keys (weights hash × benchmark@version × prompt × sampling × item ×
  sample) — only missing samples are generated; rows of a run's replaced weights are dropped from the store;
* analysis and report: the hash of the store's rows, the run conditions and the analysis options.

Interrupt anywhere (Ctrl-C or ``kill -9``) and rerun the same command to continue.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsft._util.faults import fault_point
from rsft._util.hashing import hash_file, hash_obj
from rsft._util.progress import Progress, Say, quiet
from rsft.study.config import DatasetBuild, StudyConfig
from rsft.study.matrix import ResolvedRun, dataset_path, resolve_runs


@dataclass
class StudyResult:
    study_dir: Path
    report: Path | None
    analysis_dir: Path | None
    runs: list[str] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)  # stage -> "done" | "skipped"


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")  # concurrent shards
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------------------------------- datasets


def build_dataset(spec: DatasetBuild, out: Path) -> bool:
    """Generate a task dataset (and its variant) unless ``out`` already holds one with the same identity.

    Returns:
        True when the file was (re)built.
    """
    from rsft.data.io import read_card, write_sft
    from rsft.tasks.toyworld import task_rows

    identity = hash_obj(spec.model_dump(mode="json"))
    card = read_card(out) if out.is_file() else None
    if card and card.get("build_identity") == identity:
        return False
    rows = task_rows(spec.task, spec.n, spec.seed, style=spec.style, **spec.settings)
    variant_report: dict[str, Any] | None = None
    if spec.variant:
        from rsft.data.variants import make_variant

        opts = dict(spec.variant_options)
        if spec.variant == "lowquality":
            opts.setdefault("seed", spec.seed)
        rows, variant_report = make_variant(rows, kind=spec.variant, **opts)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_sft(
        rows,
        out,
        card={
            "source": f"rsft.tasks:{spec.task}",
            "generator": "rsft study",
            "seed": spec.seed,
            "build": spec.model_dump(mode="json"),
            "build_identity": identity,
            "variant_report": variant_report,
        },
    )
    return True


def cut_subset(cfg: Any, key: str, out: Path) -> bool:
    """Cut a ``subset`` dataset from its parent (:mod:`rsft.data.subset`) unless ``out`` already holds the same cut.

    Returns:
        True when the file was (re)written.
    """
    from rsft.data.io import read_card
    from rsft.data.subset import write_subset
    from rsft.study.matrix import dataset_path

    spec, parent = cfg.datasets[key].subset, cfg.datasets[cfg.datasets[key].subset.of]
    source = dataset_path(cfg, spec.of)
    want = {
        "source": source,
        "revision": parent.revision,
        "rule": spec.rule,
        "seed": spec.seed,
        "rows": spec.rows,
    }
    card = read_card(out) if out.is_file() else None
    if card and all(card.get(k) == v for k, v in want.items()):
        return False
    write_subset(source, out, spec.rows, rule=spec.rule, seed=spec.seed, revision=parent.revision)
    return True


# ----------------------------------------------------------------------------------------------------- training


def _data_identity(path: str, revision: str | None) -> str:
    p = Path(path)
    if p.is_file():
        return hash_file(p)[:16]
    if p.is_dir():
        return hash_obj(sorted((f.name, f.stat().st_size) for f in p.rglob("*") if f.is_file()))
    return f"hub:{path}@{revision}"


def train_run(cfg: StudyConfig, run: ResolvedRun, say: Say, progress: Progress | None) -> str:
    """Train (or resume, or skip) one run. Returns "skipped", "resumed", "trained" or "retrained"."""
    from rsft.train.sft import config_hash, train

    tc = run.train
    identity = hash_obj({"config": config_hash(tc), "data": _data_identity(tc.data.path, tc.data.revision)})
    state_path = cfg.study_dir / "state" / f"train-{run.name}.json"
    state = _read_json(state_path)
    run_dir = tc.run_dir()
    if state and state.get("identity") == identity:
        if state.get("status") == "done" and (run_dir / "DONE").is_file():
            return "skipped"
        say(f"training {run.name}: resuming")
        train(tc, resume=True, progress=progress, say=say, sources=run.sources)
        outcome = "resumed"
    else:
        outcome = "retrained" if run_dir.exists() else "trained"
        _write_json(state_path, {"identity": identity, "status": "started"})
        say(f"training {run.name}" + (" (identity changed: from scratch)" if outcome == "retrained" else ""))
        train(tc, overwrite=run_dir.exists(), progress=progress, say=say, sources=run.sources)
    _write_json(state_path, {"identity": identity, "status": "done", "finished": time.time()})
    return outcome


# ----------------------------------------------------------------------------------------------------- sweeps


def sweep_runs(
    cfg: StudyConfig, runs: list[ResolvedRun], store_dir: Path, say: Say, progress: Progress | None
) -> dict:
    """Evaluate every complete checkpoint of every run on the study's suite into one store."""
    from rsft.eval.config import load_suite
    from rsft.eval.plan import discover_checkpoints
    from rsft.eval.runner import build_backend, run_sweep
    from rsft.eval.store import Store

    suite = load_suite(cfg.eval.suite, cfg.eval.suite_overrides)
    store = Store(store_dir)
    backend = build_backend(suite.backend)
    totals = {"planned": 0, "generated": 0, "reused": 0, "errors": 0}
    try:
        for run in runs:
            targets, _half = discover_checkpoints(run.run_dir)
            if cfg.eval.steps != "all":
                targets = [t for t in targets if t.step in set(cfg.eval.steps)]
            dropped = store.drop_replaced(run.name, {t.weights_hash for t in targets})
            if dropped:
                say(f"{run.name}: dropped {dropped} stored samples of replaced weights")
            rep = run_sweep(suite, store, backend, targets=targets, progress=progress)
            for k in totals:
                totals[k] += getattr(rep, k, 0) or 0
            say(
                f"swept {run.name}: {len(targets)} checkpoints, {rep.generated} generated, {rep.reused} reused"
            )
        for ext in cfg.existing_runs:  # runs trained elsewhere, in any layout rsft eval --run reads
            from rsft.eval.layouts import provenance, write_provenance
            from rsft.eval.plan import discover_run

            name = ext.run_name()
            targets, listing = discover_run(ext.path, base=ext.base)
            for t in targets:
                t.run = name
            for note in listing.notes:
                say(f"{name}: {note}")
            for d, why in listing.partial:
                say(f"{name}: {d} is half-written ({why}): skipped")
            if cfg.eval.steps != "all":
                targets = [t for t in targets if t.step in set(cfg.eval.steps)]
            if not targets:
                from rsft._util.errors import RsftError

                raise RsftError(
                    f"existing run '{name}' has no complete checkpoint (layout: {listing.layout})",
                    file=ext.path, field="existing_runs",
                )  # fmt: skip
            dropped = store.drop_replaced(name, {t.weights_hash for t in targets})
            if dropped:
                say(f"{name}: dropped {dropped} stored samples of replaced weights")
            rep = run_sweep(suite, store, backend, targets=targets, progress=progress)
            write_provenance(store_dir, name, provenance(listing, targets))
            for k in totals:
                totals[k] += getattr(rep, k, 0) or 0
            say(
                f"swept {name} ({listing.layout}): {len(targets)} checkpoints, {rep.generated} generated, "
                f"{rep.reused} reused"
            )
        for spec in cfg.eval.hub_runs:  # released checkpoints, one download at a time
            from rsft.bench.sources import cache_root
            from rsft.eval.hubrun import sweep_hub_run

            steps = None if cfg.eval.steps == "all" else list(cfg.eval.steps)
            rep = sweep_hub_run(suite, spec, store, steps=steps, cache_dir=cache_root() / "checkpoints",
                                backend=backend, say=say, progress=progress)  # fmt: skip
            for k in totals:
                totals[k] += getattr(rep, k, 0) or 0
            say(
                f"swept {spec}: {len(rep.targets)} checkpoints, {rep.generated} generated, {rep.reused} reused"
            )
    finally:
        backend.close()
    return totals


# ----------------------------------------------------------------------------------------------------- analysis


def write_runs_json(cfg: StudyConfig, runs: list[ResolvedRun], store_dir: Path) -> dict[str, Any]:
    """STORE/runs.json: run name -> conditions (model, dataset, lr, ...), read by the analysis; the study's own
    runs and its existing runs (``existing_runs``, with their layout)."""
    data = {r.name: r.conditions(cfg) for r in runs}
    prov = _read_json(store_dir / "provenance.json") or {}
    for ext in cfg.existing_runs:
        layout = (prov.get(ext.run_name()) or {}).get("layout")
        data[ext.run_name()] = {**ext.run_conditions(), **({"layout": layout} if layout else {})}
    _write_json(store_dir / "runs.json", data)
    return data


def _store_identity(store_dir: Path) -> str:
    from rsft.eval.store import Store

    con = Store.open(store_dir).connect()
    try:
        rows = con.execute(
            "SELECT md5(string_agg(key || ':' || coalesce(CAST(score AS VARCHAR), 'nan'), ',' ORDER BY key)) FROM rows"
        ).fetchone()[0]
    finally:
        con.close()
    return str(rows)


def analyze_and_report(
    cfg: StudyConfig, runs: list[ResolvedRun], store_dir: Path, say: Say
) -> tuple[Path, Path, dict[str, str]]:
    from rsft.analysis import analyze_store
    from rsft.report import render_report

    study_dir = cfg.study_dir
    conditions = write_runs_json(cfg, runs, store_dir)
    identity = hash_obj(
        {
            "store": _store_identity(store_dir),
            "runs": conditions,
            "analysis": cfg.analysis.model_dump(mode="json"),
        }
    )
    analysis_dir = study_dir / "analysis"
    report = study_dir / "report.html"
    stages = {}
    mark = _read_json(study_dir / "state" / "analysis.json")
    if mark and mark.get("identity") == identity and (analysis_dir / "analysis.json").is_file():
        stages["analysis"] = "skipped"
    else:
        say("analysing the store")
        tmp = study_dir / ".tmp-analysis"
        if tmp.exists():
            shutil.rmtree(tmp)
        analyze_store(
            store_dir, tmp, in_domain=cfg.analysis.in_domain, seed=cfg.analysis.seed, **cfg.analysis.options
        )
        fault_point("study:analysis")
        if analysis_dir.exists():
            shutil.rmtree(analysis_dir)
        os.replace(tmp, analysis_dir)
        _write_json(study_dir / "state" / "analysis.json", {"identity": identity})
        stages["analysis"] = "done"
    rep_identity = hash_file(analysis_dir / "analysis.json")
    mark = _read_json(study_dir / "state" / "report.json")
    if mark and mark.get("identity") == rep_identity and report.is_file():
        stages["report"] = "skipped"
    else:
        say("rendering the report")
        render_report(analysis_dir, report)
        _write_json(study_dir / "state" / "report.json", {"identity": rep_identity})
        stages["report"] = "done"
    return analysis_dir, report, stages


# ----------------------------------------------------------------------------------------------------- the study


def run_study(
    cfg: StudyConfig,
    *,
    say: Say = quiet,
    progress: Progress | None = None,
    stop_after: str | None = None,
    only_runs: set[str] | None = None,
    jobs: int = 1,
    threads: int | None = None,
    executor: str = "local",
    address: str | None = None,
    gpus: float | None = None,
) -> StudyResult:
    """Run (or continue) a whole study.

    Args:
        say: receives one-line notes from every stage (the CLI prints them).
        progress: receives the training and sweep progress (see ``rsft._util.progress``).
        stop_after: "data", "train" or "sweep" stops after that stage.
        only_runs: train and sweep only these runs (a shard of the study); analysis needs all runs.
        jobs: train and sweep the runs in this many worker processes (:mod:`rsft.study.parallel`); the results
            are the same as with one.
        threads: torch intra-op threads per worker when ``jobs > 1`` (default: the cores divided among them).
        executor: "local" (this process, or ``jobs`` worker processes) or "ray": every run is a Ray task on the
            cluster at ``address`` (:mod:`rsft.study.ray_executor`), asking for ``gpus`` GPUs; the results are the
            same.
    """
    study_dir = cfg.study_dir
    study_dir.mkdir(parents=True, exist_ok=True)
    result = StudyResult(study_dir, None, None)
    runs = resolve_runs(cfg)
    if only_runs is not None:
        runs = [r for r in runs if r.name in only_runs]
    result.runs = [r.name for r in runs]
    built = 0
    for key, entry in cfg.datasets.items():
        if entry.build is not None and any(r.dataset == key for r in runs):
            built += build_dataset(entry.build, Path(dataset_path(cfg, key)))
    for key, entry in cfg.datasets.items():
        if entry.subset is not None and any(r.dataset == key for r in runs):
            built += cut_subset(cfg, key, Path(dataset_path(cfg, key)))
    result.stages["data"] = "done" if built else "skipped"
    if stop_after == "data":
        return result
    store_dir = Path(cfg.eval.store or study_dir / "store")
    if executor == "ray" and runs:
        from rsft.study.ray_executor import train_and_sweep_ray

        stages = train_and_sweep_ray(
            run_study, cfg, runs, address=address, stop_after=stop_after, say=say, gpus=gpus, threads=threads or 1
        )
        result.stages.update(stages)
        if (cfg.eval.hub_runs or cfg.existing_runs) and stop_after != "train":  # swept here, as with --jobs
            totals = sweep_runs(cfg, [], store_dir, say, progress)
            if totals["generated"]:
                result.stages["sweep"] = "done"
    elif jobs > 1 and len(runs) > 1:
        from rsft.study.parallel import train_and_sweep

        stages = train_and_sweep(
            run_study, cfg, runs, jobs, stop_after=stop_after, say=say, progress=progress, threads=threads
        )
        result.stages.update(stages)
        if (cfg.eval.hub_runs or cfg.existing_runs) and stop_after != "train":  # hub and existing runs: here
            totals = sweep_runs(cfg, [], store_dir, say, progress)
            if totals["generated"]:
                result.stages["sweep"] = "done"
    else:
        outcomes = [train_run(cfg, r, say, progress) for r in runs]
        result.stages["train"] = "skipped" if all(o == "skipped" for o in outcomes) else "done"
        if stop_after != "train":
            totals = sweep_runs(cfg, runs, store_dir, say, progress)
            result.stages["sweep"] = "done" if totals["generated"] else "skipped"
    if stop_after in ("train", "sweep"):
        return result
    result.analysis_dir, result.report, stages = analyze_and_report(cfg, runs, store_dir, say)
    result.stages.update(stages)
    return result
