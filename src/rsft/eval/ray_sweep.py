"""One sweep split over Ray workers (``rsft eval ... --executor ray --workers N [--address ADDR]``).

Each worker is a Ray task that runs the whole sweep (:func:`rsft.eval.runner.run_sweep`) against the same store; the
store's leases (:mod:`rsft.eval.lease`) hand each checkpoint x benchmark unit to one worker at a time, so the units
are split between the workers and every sample is generated once. Each worker keeps one generation engine for all
the checkpoints it sweeps and swaps their weights into it, as a local sweep does. A worker whose process or node dies
is retried by Ray (``max_retries``): its lease is taken over (at once on the same host, after ``lease_ttl_s``
elsewhere) and the retry, or another worker, generates only the rows that were not stored; rows are committed per
part and keyed by checkpoint hash, benchmark, item and sample, so nothing is lost and nothing is stored twice.

The workers and the driver must see the store and the checkpoints at the same paths (a shared filesystem;
``docs/scale-out.md`` says what the store needs of it).
"""

from __future__ import annotations

import os
from typing import Any

from rsft._util.errors import MissingDependencyError, RsftError


def ray_failure(e: BaseException) -> str:
    """One line for a failed Ray task: the error the task raised (its first line), or how its worker was lost."""
    import ray

    if isinstance(e, ray.exceptions.RayTaskError):
        cause = e.cause if isinstance(getattr(e, "cause", None), BaseException) else e
        text = str(cause).strip()
        return text.splitlines()[0] if text else repr(cause)
    return f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"


def _worker(cfg: Any, store_dir: str, targets: list[Any], cwd: str, threads: int, kw: dict) -> Any:
    import torch

    from rsft.eval.runner import run_sweep
    from rsft.eval.store import Store

    os.chdir(cwd)
    torch.set_num_threads(threads)
    return run_sweep(cfg, Store(store_dir), targets=targets, **kw)


def run_sweep_ray(
    cfg: Any,
    store_dir: str,
    targets: list[Any],
    *,
    workers: int,
    address: str | None = None,
    gpus: float = 0.0,
    threads: int = 1,
    max_retries: int = 3,
    **kw: Any,
) -> Any:
    """Sweep ``targets`` on ``workers`` Ray tasks sharing the store at ``store_dir``; returns the summed
    :class:`rsft.eval.runner.SweepReport` (``targets`` once). ``kw`` goes to ``run_sweep`` (``rescore``,
    ``lease_ttl_s``, ``max_error_rate``).

    Raises:
        RsftError: a worker failed (its error named), or the cluster has fewer GPUs than one worker asks for.
    """
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("the ray executor", "ray", extra="ray") from None
    from rsft.eval.runner import SweepReport

    if workers < 1:
        raise RsftError(f"--workers must be 1 or more (got {workers})", field="--workers")
    if kw.get("lease_ttl_s", 1) == 0:
        raise RsftError("several workers split a sweep through leases: --lease-ttl 0 turns them off",
                        field="--lease-ttl")  # fmt: skip
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, log_to_driver=False, include_dashboard=False, configure_logging=False)
    try:
        have = ray.cluster_resources().get("GPU", 0)
        if gpus > have:
            raise RsftError(f"each worker asks for {gpus:g} GPUs and the Ray cluster has {have:g}", field="--gpus")
        task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=max_retries, retry_exceptions=False)(_worker)
        refs = [task.remote(cfg, str(store_dir), targets, os.getcwd(), threads, kw) for _ in range(workers)]
        total, failed = SweepReport(), []
        for ref in refs:
            try:
                rep = ray.get(ref)
            except ray.exceptions.RayError as e:  # the task raised (not retried), or its worker was lost for good
                failed.append(ray_failure(e))
                continue
            targets_seen = total.targets
            total.add(rep)
            total.targets = targets_seen or rep.targets  # every worker plans the same targets
    finally:
        if started_here:
            ray.shutdown()
    if failed:
        raise RsftError(
            f"{len(failed)} of {workers} Ray workers failed: " + "; ".join(failed),
            fix="fix the cause and rerun the same command: stored rows are kept",
        )
    # every worker plans (and counts as reused) the rows the others generated: the plan is one sweep's
    total.planned = total.planned // workers if total.planned else 0
    total.reused = max(0, total.planned - total.generated - total.rescored - total.missing)
    return total
