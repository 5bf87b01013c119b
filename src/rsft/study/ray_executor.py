"""Train and sweep a study's runs as Ray tasks (``rsft study STUDY --executor ray [--address ADDR]``).

Each run is one Ray task with a resource request (``num_gpus``, ``num_cpus``): the task trains the run, then sweeps
its checkpoints, exactly as :func:`rsft.study.run.run_study` does for one run (``only_runs``). Inside the task the
sweep keeps one generation engine and swaps checkpoints into it, as a local sweep does. Every task writes to the
study's store on the shared filesystem; the driver (the process that ran ``rsft study``) analyses and reports once
every task has ended, as a local run does.

A task whose worker process or node dies is retried by Ray (``max_retries``): the retry resumes training from the
run's last resume state and the sweep from the rows already stored, so a killed worker loses nothing and stores
nothing twice (rows are committed per part, keyed by checkpoint hash, benchmark, item and sample; a checkpoint that
several runs share is split between tasks by the store's leases). A task that raises (a bad config, a bug) is not
retried: it is named with its error, and the other tasks' finished work is kept.

What the cluster must give: every node sees the study folder, the store and the model and data paths at the same
paths (a shared filesystem; ``docs/scale-out.md`` says what the store needs of it), and the nodes run the same rsft.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from rsft._util.errors import MissingDependencyError, RsftError
from rsft._util.progress import Say, quiet


def _unit(run_study: Callable[..., Any], cfg: Any, name: str, stop_after: str, cwd: str, threads: int) -> dict:
    """One run, trained and swept on a Ray worker; returns its stages and the lines it said."""
    import torch

    os.chdir(cwd)  # the study's relative paths are the driver's (a shared filesystem)
    torch.set_num_threads(threads)
    lines: list[str] = []
    t0 = time.time()
    result = run_study(cfg, say=lines.append, stop_after=stop_after, only_runs={name})
    return {"stages": dict(result.stages), "lines": lines, "seconds": time.time() - t0, "pid": os.getpid()}


def train_and_sweep_ray(
    run_study: Callable[..., Any],
    cfg: Any,
    runs: list[Any],
    *,
    address: str | None,
    stop_after: str | None,
    say: Say = quiet,
    gpus: float | None = None,
    cpus: float = 1,
    threads: int = 1,
    max_retries: int = 3,
) -> dict[str, str]:
    """Train (and, unless ``stop_after == "train"``, sweep) ``runs`` as Ray tasks.

    Args:
        run_study: :func:`rsft.study.run.run_study` (passed in, so this module does not import its caller).
        address: the Ray cluster (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``); None starts a local one.
        gpus: GPUs per run (default: the study's ``budget.gpus_per_run`` where the cluster has GPUs, else 0).
        cpus: CPU cores per run; threads: torch intra-op threads in each task.
        max_retries: how often Ray reruns a task whose worker died (each rerun resumes).

    Returns:
        The stages' outcome over all runs: {"train": "done" | "skipped", "sweep": ...}.

    Raises:
        RsftError: a run failed (named, with its error), or a run needs more GPUs than the cluster has.
    """
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("the ray executor", "ray", extra="ray") from None
    from rsft.eval.ray_sweep import ray_failure
    from rsft.study.parallel import run_order

    names = run_order(cfg, runs)
    cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"hub_runs": []}), "existing_runs": []})  # the driver sweeps those
    last = "train" if stop_after == "train" else "sweep"
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, log_to_driver=False, include_dashboard=False, configure_logging=False)
    try:
        have = ray.cluster_resources()
        if gpus is None:
            gpus = float(cfg.budget.gpus_per_run) if have.get("GPU", 0) > 0 else 0.0
        if gpus > have.get("GPU", 0):
            raise RsftError(
                f"each run asks for {gpus:g} GPUs and the Ray cluster has {have.get('GPU', 0):g}",
                field="--gpus",
                fix="pass --gpus with what one run may use, or add GPU nodes",
            )
        unit = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=max_retries, retry_exceptions=False)(_unit)
        cwd = os.getcwd()
        say(f"{len(names)} runs as Ray tasks ({gpus:g} GPU, {cpus:g} CPU each) on {address or 'a local Ray'}")
        pending = {unit.remote(run_study, cfg, n, last, cwd, threads): n for n in names}
        stages: dict[str, set[str]] = {}
        failed: list[tuple[str, str]] = []
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            name = pending.pop(ref)
            try:
                out = ray.get(ref)
            except ray.exceptions.RayError as e:  # the run raised (not retried), or its worker died too often
                failed.append((name, ray_failure(e)))
                continue
            for line in out["lines"]:
                say(f"{name}: {line}")
            for stage, outcome in out["stages"].items():
                stages.setdefault(stage, set()).add(outcome)
            say(f"{name}: finished in {out['seconds']:.0f} s")
    finally:
        if started_here:
            ray.shutdown()
    if failed:
        text = "\n".join(f"  {n}: {msg}" for n, msg in failed)
        raise RsftError(
            f"{len(failed)} of {len(names)} runs failed as Ray tasks:\n{text}",
            fix="fix the cause and rerun the same command: finished runs and stored samples are kept",
        )
    return {k: "done" if "done" in v else "skipped" for k, v in stages.items() if k in ("train", "sweep")}
