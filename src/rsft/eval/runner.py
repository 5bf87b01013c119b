"""The sweep runner: generate and score every planned row that is not yet in the store.

Resume is by key (see :mod:`rsft.eval.plan`): rows already stored are skipped, so an interrupted sweep rerun with
the same command generates only what is missing. Rows are written every ``backend.batch_size`` samples, so a
``kill -9`` loses at most the batch in flight.

``rescore=True`` generates nothing: every planned row is rebuilt from a stored row with the same identity apart from
the benchmark *version* (same weights, prompt text, sampling, item and sample) — the latest such row — and scored
with the current scorer. The result is written as a new part under the current key; when the version is unchanged
the key is the same and the new row wins over the old one (last part wins). Planned rows with no stored response are
counted as ``missing``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rsft._util.errors import RsftError
from rsft._util.progress import Counter, Progress, Say
from rsft._util.provenance import git_revision
from rsft.eval.config import BackendSettings, SuiteConfig
from rsft.eval.lease import DEFAULT_TTL_S, LeaseBook, unit_id
from rsft.eval.plan import (
    LoadedBenchmark,
    PlannedRow,
    Target,
    discover_run,
    expand,
    load_benchmarks,
    row_key,
)
from rsft.eval.schema import SCHEMA_VERSION
from rsft.eval.scoring import DEFAULT_MAX_ERROR_RATE, Scored, score_responses, token_split
from rsft.eval.store import Store
from rsft.generate.base import Backend, Completion

log = logging.getLogger("rsft.eval")

_NAMED_ROWS = 10  # rows named in the failure message (all are counted)

def build_backend(settings: BackendSettings, kind: str | None = None) -> Backend:
    """A backend (no model loaded yet) from a suite's backend settings: each setting that names a keyword of the
    backend class's constructor is passed to it, the others do not apply to that kind."""
    import inspect

    from rsft.generate.registry import backend_class, make_backend

    kind = kind or settings.kind
    accepted = inspect.signature(backend_class(kind)).parameters
    opts = {k: getattr(settings, k) for k in type(settings).model_fields if k != "kind" and k in accepted}
    return make_backend(kind, **opts)


@dataclass
class Plan:
    """A suite and the models to evaluate with it."""

    suite: SuiteConfig
    targets: list[Target]


@dataclass
class SweepReport:
    """What a sweep did. ``planned`` = ``reused`` + ``generated`` (+ ``rescored`` + ``missing`` in rescore mode)."""

    planned: int = 0
    reused: int = 0
    generated: int = 0
    rescored: int = 0
    missing: int = 0
    errors: int = 0
    targets: list[str] = field(default_factory=list)
    seconds: float = 0.0
    deferred: int = 0  # units left to another process's lease (sweep_target(defer=True)); not summed
    scorer_errors: int = 0  # rows whose scorer the response broke: scored 0, not excluded
    flagged: list[str] = field(default_factory=list)  # the first error / scorer-error rows, named

    def add(self, other: SweepReport) -> None:
        for f in ("planned", "reused", "generated", "rescored", "missing", "errors", "seconds", "scorer_errors"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.targets += other.targets
        self.flagged = (self.flagged + other.flagged)[:_NAMED_ROWS]


def _flag(p: PlannedRow, s: Scored) -> str | None:
    """How a row is named in :func:`check_errors`' message, when it is an error or a scorer-error row."""
    if s.outcome != "error" and s.reason != "scorer_error":
        return None
    where = f"{p.benchmark.name} item {p.sample.id} sample {p.sample_idx} ({p.target.run}"
    where += f"@{p.target.step})" if p.target.step is not None else ")"
    return f"{where}: {(s.error or s.reason)[:160]}"


def check_errors(report: SweepReport, max_error_rate: float | None = DEFAULT_MAX_ERROR_RATE) -> None:
    """Fail loudly when too many of a sweep's new rows could not be scored (inspect_ai's ``fail_on_error``).

    Counted: excluded ``error`` rows (backend, judge or sandbox failures) and rows whose scorer the response
    broke (scored 0), over the rows generated or rescored by this sweep. Everything is already stored when this
    raises; ``None`` turns the check off.

    Raises:
        RsftError: more than ``max_error_rate`` of the new rows were flagged; the message names the first ones.
    """
    if max_error_rate is None:
        return
    done = report.generated + report.rescored
    bad = report.errors + report.scorer_errors
    if done and bad > max_error_rate * done:
        named = "; ".join(report.flagged)
        raise RsftError(
            f"{bad} of {done} new rows could not be scored ({report.errors} excluded errors, "
            f"{report.scorer_errors} broken scorers scored 0: {bad / done:.1%} > {max_error_rate:.1%}); "
            f"the rows are stored. First: {named}",
            field="max_error_rate",
            fix="see the rows' `error` column; fix the backend / judge / scorer and rerun with --rescore, or "
            "accept them with --max-error-rate",
        )


def _mean(xs: list[float] | None) -> float | None:
    xs = [x for x in xs or [] if x is not None and math.isfinite(x)]
    return sum(xs) / len(xs) if xs else None


def _provenance() -> dict[str, Any]:
    from rsft._version import __version__

    git = git_revision()
    commit = git.get("commit")
    if commit and git.get("dirty"):
        commit = f"{commit}-dirty"
    return {"rsft_version": __version__, "git_commit": commit}


def build_row(
    p: PlannedRow, c: Completion, s: Scored, count: Callable[[str], int | None] | None
) -> dict[str, Any]:
    """One store row (ROW_SCHEMA) from a planned row, its completion and its score."""
    t, b = p.target, p.benchmark
    n_tokens = len(c.token_ids) or (getattr(c, "completion_tokens", None) or 0)
    if not n_tokens and c.text and count is not None:
        n_tokens = count(c.text) or 0
    thinking, answer = token_split(c.text, n_tokens, count, p.prompt_text)
    return {
        "key": p.key,
        "schema_version": SCHEMA_VERSION,
        "weights_hash": t.weights_hash,
        "benchmark": b.name,
        "benchmark_version": b.version,
        "prompt_hash": p.prompt_hash,
        "gen_hash": p.gen_hash,
        "item_id": p.sample.id,
        "sample_idx": p.sample_idx,
        "run": t.run,
        "step": t.step,
        "model_path": t.model,
        "group": b.group,
        "gen_config": json.dumps(p.gen.model_copy(update={"n": 1, "seed": p.seed}).model_dump(mode="json")),
        "seed": p.seed,
        "prompt": p.prompt_text,
        "response": c.text,
        "finish_reason": c.finish_reason,
        "outcome": s.outcome,
        "extracted": s.extracted,
        "score": s.score,
        "score_reason": s.reason,
        "score_meta": s.meta,
        "n_tokens": n_tokens,
        "n_thinking_tokens": thinking,
        "n_answer_tokens": answer,
        "prompt_tokens": c.prompt_tokens,
        "logprob_mean": _mean(c.logprobs),
        "entropy_mean": _mean(c.entropies),
        "entropy_kind": c.entropy_kind,
        "error": s.error if s.error is not None else c.error,
        "seconds": c.seconds,
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        **_provenance(),
        **_policy(b),
    }


def _policy(bench: Any) -> dict[str, str]:
    """The schema-2 columns saying how a benchmark's rows were scored."""
    return {"policy": bench.policy_text, "score_mode": bench.score_mode, "score_scale": bench.scale}


def _generate_rows(
    rows: list[PlannedRow],
    backend: Backend,
    store: Store,
    chunk: int,
    counter: Counter,
    renew: Callable[[], bool] | None = None,
) -> tuple[int, int]:
    """Generate, score and store ``rows`` (all of one benchmark) in chunks; returns (rows written, error rows,
    scorer-error rows, the first flagged rows named).

    ``renew`` is called after each chunk is stored; when it returns False (the unit's lease was taken over) the
    rest is left to the new holder."""
    errors = written = broken = 0
    flagged: list[str] = []
    count = backend.count_tokens
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        config = part[0].gen.model_copy(update={"n": 1})
        completions = backend.generate([p.request() for p in part], config)
        comps = [cs[0] for cs in completions]
        scored = score_responses(
            part[0].benchmark,
            [
                (p.sample, c.text, c.finish_reason, c.error, p.prompt_text)
                for p, c in zip(part, comps, strict=True)
            ],
        )
        out = []
        for p, c, s in zip(part, comps, scored, strict=True):
            errors += s.outcome == "error"
            broken += s.outcome != "error" and s.reason == "scorer_error"
            if len(flagged) < _NAMED_ROWS and (name := _flag(p, s)) is not None:
                flagged.append(name)
            out.append(build_row(p, c, s, count))
        store.append(out)
        written += len(out)
        counter.advance(len(part))
        if renew is not None and not renew():
            log.warning("lost the lease on a unit (another worker took it over after expiry); leaving it")
            break
    return written, errors, broken, flagged


def _rescore_rows(rows: list[PlannedRow], store: Store, rep: SweepReport | None = None) -> tuple[int, int]:
    """Rebuild planned rows from stored responses with the current scorer; returns (rescored, missing). Error and
    scorer-error rows are counted on ``rep``."""
    if not rows:
        return 0, 0
    names = sorted({p.benchmark.name for p in rows})
    hashes = sorted({p.target.weights_hash for p in rows})
    quoted = lambda xs: ", ".join("'" + x.replace("'", "''") + "'" for x in xs)  # noqa: E731
    stored = store.table(f"benchmark IN ({quoted(names)}) AND weights_hash IN ({quoted(hashes)})").to_pylist()
    latest: dict[tuple, dict[str, Any]] = {}
    for rec in sorted(stored, key=lambda r: r["created_at"] or ""):
        ident = (rec["weights_hash"], rec["benchmark"], rec["prompt_hash"], rec["gen_hash"], rec["item_id"])
        latest[ident + (int(rec["sample_idx"]),)] = rec
    found = [(p, latest.get(p.identity(with_version=False))) for p in rows]
    missing = sum(old is None for _, old in found)
    triples: list[tuple[PlannedRow, dict[str, Any], Scored]] = []
    for bench in {id(p.benchmark): p.benchmark for p, _ in found}.values():
        mine = [(p, o) for p, o in found if o is not None and p.benchmark is bench]
        scored = score_responses(
            bench,
            [(p.sample, o["response"], o["finish_reason"], o["error"], o["prompt"]) for p, o in mine],
        )
        triples += [(p, o, s) for (p, o), s in zip(mine, scored, strict=True)]
    out = []
    for p, old, s in triples:
        if rep is not None:
            rep.errors += s.outcome == "error"
            rep.scorer_errors += s.outcome != "error" and s.reason == "scorer_error"
            if len(rep.flagged) < _NAMED_ROWS and (name := _flag(p, s)) is not None:
                rep.flagged.append(name)
        new = dict(old)
        new.update(
            key=row_key(*p.identity()),
            run=p.target.run,
            step=p.target.step,
            model_path=p.target.model,
            benchmark_version=p.benchmark.version,
            outcome=s.outcome,
            extracted=s.extracted,
            score=s.score,
            score_reason=s.reason,
            score_meta=s.meta,
            error=s.error,  # a backend error is passed through score_responses; a fixed scorer clears its error
            created_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            schema_version=SCHEMA_VERSION,
            **_provenance(),
            **_policy(p.benchmark),
        )
        out.append(new)
    for start in range(0, len(out), 1000):
        store.append(out[start : start + 1000])
    return len(out), missing


def _copy_for_run(target: Target, rows: list[PlannedRow], store: Store) -> None:
    """Rows computed for another run with the same weights (a shared base checkpoint) are copied, not regenerated,
    under this target's run, step and path, so every run's trajectory is complete."""
    if not rows:
        return
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    copies = [
        {**r, "run": target.run, "step": target.step, "model_path": target.model, "created_at": stamp}
        for r in store.rows_for({p.key for p in rows})
    ]
    for start in range(0, len(copies), 1000):
        store.append(copies[start : start + 1000])


def sweep_target(
    target: Target,
    loaded: list[LoadedBenchmark],
    store: Store,
    backend: Backend,
    *,
    rescore: bool = False,
    progress: Progress | None = None,
    lease_ttl_s: float = DEFAULT_TTL_S,
    defer: bool = False,
    select: Callable[[PlannedRow], bool] | None = None,
) -> SweepReport:
    """Evaluate one target on the loaded benchmarks (see the module docstring).

    Work is claimed per checkpoint x benchmark through leases in the store (:mod:`rsft.eval.lease`), so several
    processes sweeping one store generate each row once; ``lease_ttl_s=0`` turns leases off. A unit another
    process holds is waited for, or with ``defer`` left for later (``report.deferred`` counts such units: sweep the
    target again after the others). Rows another process generated for the same weights under another run are
    copied to this target's run, whenever they appear. ``select`` keeps only the planned rows it accepts (an
    adaptive sweep's design: :mod:`rsft.study.adaptive`)."""
    rep = SweepReport(targets=[f"{target.run}@{target.step}" if target.step is not None else target.run])
    t0 = time.perf_counter()
    backend.load(target.model)
    planned = [p for p in expand(target, loaded, backend.render) if select is None or select(p)]
    if lease_ttl_s:
        store.refresh()  # rows other workers stored since this process last looked
    have, mine = store.keys(), store.keys(target.run)
    todo = [p for p in planned if p.key not in have]
    rep.planned, rep.reused = len(planned), len(planned) - len(todo)
    _copy_for_run(target, [p for p in planned if p.key in have and p.key not in mine], store)
    if rescore:
        rep.reused = 0
        rep.rescored, rep.missing = _rescore_rows(planned, store, rep)
    elif todo:
        counter = Counter(progress, rep.targets[0], len(todo))
        chunk = max(1, int(backend.batch_size))
        by_bench = {id(lb.benchmark): [p for p in todo if p.benchmark is lb.benchmark] for lb in loaded}
        pending = [lb for lb in loaded if by_bench[id(lb.benchmark)]]
        book = LeaseBook(store.path, lease_ttl_s) if lease_ttl_s else None
        while pending:
            waiting = []
            for lb in pending:
                rows = by_bench[id(lb.benchmark)]
                lease = None
                if book is not None:
                    lease = book.acquire(unit_id(target.weights_hash, lb.benchmark.name, lb.benchmark.version))
                    if lease is None:  # another worker is on it: come back when it is done or its lease expired
                        waiting.append(lb)
                        continue
                    store.refresh()
                    have = store.keys()
                    rows = [p for p in rows if p.key not in have]
                try:
                    written, errors, broken, flagged = _generate_rows(
                        rows, backend, store, chunk, counter, lease.renew if lease else None
                    )
                finally:
                    if lease is not None:
                        lease.release()
                rep.generated += written
                rep.errors += errors
                rep.scorer_errors += broken
                rep.flagged = (rep.flagged + flagged)[:_NAMED_ROWS]
            pending = []
            if waiting and defer:
                rep.deferred = len(waiting)
                break
            if waiting:
                store.refresh()
                have = store.keys()
                pending = [lb for lb in waiting if any(p.key not in have for p in by_bench[id(lb.benchmark)])]
                if pending:
                    time.sleep(min(5.0, max(0.2, lease_ttl_s / 4)))
        rep.reused = rep.planned - rep.generated  # rows other workers generated count as reused
        if book is not None:  # rows of shared weights that other workers stored under their run meanwhile
            store.refresh()
            have, mine = store.keys(), store.keys(target.run)
            _copy_for_run(target, [p for p in planned if p.key in have and p.key not in mine], store)
    rep.seconds = time.perf_counter() - t0
    return rep


def run_sweep(
    plan: Plan | SuiteConfig,
    store: Store | str | Path,
    backend: Backend | None = None,
    *,
    targets: list[Target] | None = None,
    rescore: bool = False,
    progress: Progress | None = None,
    lease_ttl_s: float = DEFAULT_TTL_S,
    max_error_rate: float | None = DEFAULT_MAX_ERROR_RATE,
) -> SweepReport:
    """Evaluate every target on every benchmark of the suite; resumable (keys already stored are skipped).

    Args:
        plan: a :class:`Plan`, or a suite config together with ``targets``.
        store: a :class:`Store` or its folder.
        backend: a backend with ``load``/``render``/``generate``; built from the suite's settings when None (and
            closed at the end).
        targets: the models to evaluate, when ``plan`` is a suite config.
        rescore: rescore stored responses instead of generating (see the module docstring).
        progress: receives (target, rows done, rows to generate) as rows are stored.
        lease_ttl_s: lease lifetime for splitting work with other processes on the same store (0 = no leases).
        max_error_rate: fail (after storing everything) when more of the new rows than this could not be scored
            (:func:`check_errors`); None = never.

    Returns:
        A :class:`SweepReport` with counts of planned, reused, generated, rescored, missing and error rows.

    Raises:
        RsftError: too many rows could not be scored (see ``max_error_rate``).
    """
    if isinstance(plan, SuiteConfig):
        if targets is None:
            raise RsftError("run_sweep needs targets with a suite config", field="targets")
        plan = Plan(plan, targets)
    store = store if isinstance(store, Store) else Store(store)
    own = backend is None
    backend = backend or build_backend(plan.suite.backend)
    loaded = load_benchmarks(plan.suite)
    report = SweepReport()
    later: list[tuple[Target, SweepReport]] = []
    try:
        for target in plan.targets:
            # a unit another process holds (a base checkpoint several runs share) is left until the other
            # targets are done, instead of waiting for it
            rep = sweep_target(
                target, loaded, store, backend, rescore=rescore, progress=progress, lease_ttl_s=lease_ttl_s,
                defer=len(plan.targets) > 1,
            )  # fmt: skip
            if rep.deferred:
                later.append((target, rep))
            else:
                report.add(rep)
        for target, first in later:
            rep = sweep_target(
                target, loaded, store, backend, rescore=rescore, progress=progress, lease_ttl_s=lease_ttl_s
            )
            rep.generated += first.generated
            rep.errors += first.errors
            rep.scorer_errors += first.scorer_errors
            rep.flagged = (first.flagged + rep.flagged)[:_NAMED_ROWS]
            rep.seconds += first.seconds
            rep.reused = rep.planned - rep.generated
            report.add(rep)
    finally:
        if own:
            backend.close()
    check_errors(report, max_error_rate)
    return report


def watch_run(
    suite: SuiteConfig,
    run_dir: str | Path,
    store: Store | str | Path,
    backend: Backend | None = None,
    *,
    steps: list[int] | None = None,
    poll_s: float = 30.0,
    until_done: bool = False,
    max_polls: int | None = None,
    progress: Progress | None = None,
    say: Say = log.warning,
    lease_ttl_s: float = DEFAULT_TTL_S,
    max_error_rate: float | None = DEFAULT_MAX_ERROR_RATE,
    base: str | None = None,
) -> SweepReport:
    """Evaluate a training run's checkpoints as they appear (complete ones only, under the run's layout's rule;
    half-written ones later). The run may be any trainer's (:mod:`rsft.eval.layouts`), written by another
    machine into a shared folder.

    Args:
        until_done: return once the run says it is done (``RUN_DIR/DONE``; a Hugging Face Trainer checkpoint at
            its ``max_steps``; ``done: true`` in a run manifest) and every complete checkpoint is evaluated.
        base: the base model evaluated as step 0 when the run's layout does not hold it.
        max_polls: stop after this many polls (tests); None = until interrupted or done.
        max_error_rate: as for :func:`run_sweep`, checked after each checkpoint.
    """
    run_dir = Path(run_dir)
    store = store if isinstance(store, Store) else Store(store)
    own = backend is None
    backend = backend or build_backend(suite.backend)
    loaded = load_benchmarks(suite)
    report, done_hashes, polls = SweepReport(), set(), 0
    warned: set[Path | str] = set()
    try:
        while True:
            complete, listing = discover_run(run_dir, base=base, empty_ok=True)
            finished = listing.done  # read before listing: no checkpoint can follow it
            partial = [d for d, _ in listing.partial]
            for note in listing.notes:
                if note not in warned:
                    say(note)
                    warned.add(note)
            for d, why in listing.partial:
                if d not in warned:
                    say(f"checkpoint {d} is not complete yet ({why}): will retry")
                    warned.add(d)
            for t in complete:
                if steps is not None and t.step not in steps:
                    continue
                if (t.step, t.weights_hash) in done_hashes:
                    continue
                report.add(sweep_target(t, loaded, store, backend, progress=progress, lease_ttl_s=lease_ttl_s))
                done_hashes.add((t.step, t.weights_hash))
                check_errors(report, max_error_rate)
            polls += 1
            if until_done and finished:
                for d in partial:
                    say(f"run is DONE but checkpoint {d} never completed: skipped")
                break
            if max_polls is not None and polls >= max_polls:
                break
            time.sleep(poll_s)
    finally:
        if own:
            backend.close()
    return report
