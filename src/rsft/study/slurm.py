"""A study as a Slurm job array: ``rsft study plan STUDY --slurm DIR`` writes the scripts, ``DIR/submit.sh`` submits.

What is written:

* ``DIR/array.sbatch``: one array task per training run of the study. Task ``i`` runs
  ``rsft study run STUDY --shard i/N`` (``N`` written into the script, not read from ``SLURM_ARRAY_TASK_COUNT``, so a
  resubmission of one task, ``sbatch --array=3 array.sbatch``, still sweeps run 3). A task trains its run, then
  sweeps that run's checkpoints into the study's store: sweeps follow training inside the task, and every task appends
  to one store (a checkpoint that several runs share, such as the base, is generated once: the store's leases).
  ``--requeue``: a preempted or requeued task starts again and resumes where it stopped (training from its last
  resume state, the sweep from the rows already stored), because every stage of ``rsft study`` is resumable and
  skipped when done. Each task writes ``DIR/status/task_<i>.json`` (exit code, restart count, run) when it ends.
* ``DIR/report.sbatch``: the final job, started after every array task has ended (``--dependency=afterany``). It
  reads the task statuses (``rsft study tasks DIR``): a task that failed, or that never wrote a status (cancelled,
  killed, out of time), is named with its run and the job stops before analysing, so a report is never made from a
  partial store. Otherwise it runs ``rsft study run STUDY``, which skips the finished training and sweeps and writes
  the analysis and the report, the same as on one machine.
* ``DIR/submit.sh``: submits the array, then the final job depending on it, and prints both job ids.

GPU requests come from the study's ``budget.gpus_per_run`` unless given; the time limit is the longest run's
planned hours (its training plus one sweep, from ``rsft study plan``) with a margin, unless given.
"""

from __future__ import annotations

import json
import math
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsft._util.errors import RsftError

STATUS_DIR = "status"
MANIFEST = "tasks.json"


@dataclass
class SlurmOptions:
    """What the scripts ask of the cluster (``None``: left to the cluster's defaults, or derived from the plan)."""

    partition: str | None = None
    account: str | None = None
    gpus: int | None = None  # per array task; None: the study's budget.gpus_per_run
    cpus: int | None = None  # per array task
    mem: str | None = None  # e.g. "64G"
    time: str | None = None  # e.g. "12:00:00"; None: from the plan
    setup: list[str] = field(default_factory=list)  # shell lines run before rsft (module load, venv activation)
    rsft: str = "rsft"  # the command that runs rsft on the nodes
    extra: list[str] = field(default_factory=list)  # further #SBATCH lines, without the prefix


def _slurm_time(hours: float) -> str:
    """Hours as Slurm's D-HH:MM:SS."""
    total = max(60, int(math.ceil(hours * 3600)))
    d, rem = divmod(total, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"{d}-{h:02d}:{m:02d}:{s:02d}" if d else f"{h:02d}:{m:02d}:{s:02d}"


def _header(name: str, opts: SlurmOptions, *, log: Path, gpus: int, time: str | None) -> list[str]:
    lines = ["#!/bin/bash", f"#SBATCH --job-name={name}", f"#SBATCH --output={log}", "#SBATCH --open-mode=append"]
    if opts.partition:
        lines.append(f"#SBATCH --partition={opts.partition}")
    if opts.account:
        lines.append(f"#SBATCH --account={opts.account}")
    if gpus > 0:
        lines.append(f"#SBATCH --gres=gpu:{gpus}")
    if opts.cpus:
        lines.append(f"#SBATCH --cpus-per-task={opts.cpus}")
    if opts.mem:
        lines.append(f"#SBATCH --mem={opts.mem}")
    if time:
        lines.append(f"#SBATCH --time={time}")
    lines += [f"#SBATCH {x}" for x in opts.extra]
    return lines


def write_slurm(
    cfg: Any,
    study_arg: str,
    overrides: list[str],
    out: Path,
    opts: SlurmOptions,
    *,
    workdir: Path | None = None,
) -> dict[str, Path]:
    """Write ``array.sbatch``, ``report.sbatch``, ``submit.sh`` and ``tasks.json`` for a study into ``out``.

    Args:
        cfg: the loaded :class:`rsft.study.config.StudyConfig`.
        study_arg: the study as the nodes should name it: a packaged name, or a file path (made absolute).
        overrides: the dotted ``key=value`` overrides the study was loaded with (passed on unchanged).
        workdir: the folder the study's relative paths are relative to (default: the current folder).

    Returns:
        The written files by role (``array``, ``report``, ``submit``, ``manifest``).

    Raises:
        RsftError: the study has no run to train (nothing to put in an array).
    """
    from rsft.study.matrix import resolve_runs
    from rsft.study.plan import plan_study

    runs = resolve_runs(cfg)
    if not runs:
        raise RsftError("the study has no run to train: nothing to submit as an array", field="matrix")
    plan = plan_study(cfg)
    hours = {r.name: r.gpu_hours for r in plan.runs}
    n = len(runs)
    out = Path(out).resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / STATUS_DIR).mkdir(exist_ok=True)
    workdir = Path(workdir or Path.cwd()).resolve()
    if Path(study_arg).is_file():
        study_arg = str(Path(study_arg).resolve())
    gpus = cfg.budget.gpus_per_run if opts.gpus is None else opts.gpus
    if opts.time:
        time = opts.time
    else:  # wall hours of the longest run on its GPUs, x1.5 and at least an hour (the plan is an estimate)
        longest = max(hours.values(), default=0.0) / max(1, gpus)
        time = _slurm_time(max(1.0, 1.5 * longest))
    study_cmd = [opts.rsft, "study", "run", study_arg, *overrides, "--no-progress"]
    setup = "\n".join(opts.setup)
    name = f"rsft-{cfg.study.name}"

    manifest = {"study": cfg.study.name, "study_arg": study_arg, "overrides": overrides, "tasks": n,
                "runs": [r.name for r in runs], "workdir": str(workdir)}  # fmt: skip
    files = {"manifest": out / MANIFEST, "array": out / "array.sbatch", "report": out / "report.sbatch",
             "submit": out / "submit.sh"}  # fmt: skip
    files["manifest"].write_text(json.dumps(manifest, indent=2) + "\n")

    array = _header(name, opts, log=out / "logs" / "task_%a.out", gpus=gpus, time=time)
    array += [f"#SBATCH --array=0-{n - 1}", "#SBATCH --requeue", ""]
    array += [f"# task {i}: {r.name}" for i, r in enumerate(runs)]
    array += [
        "",
        "set -uo pipefail",
        f"cd {shlex.quote(str(workdir))}",
        f"status={shlex.quote(str(out / STATUS_DIR))}/task_${{SLURM_ARRAY_TASK_ID}}.json",
        # the status of this attempt, written however the task ends (except SIGKILL: then there is none)
        "finish() {",
        "  rc=$?",
        '  printf \'{"task": %s, "rc": %s, "restarts": %s, "job": "%s", "host": "%s"}\\n\' '
        '"$SLURM_ARRAY_TASK_ID" "$rc" "${SLURM_RESTART_COUNT:-0}" "${SLURM_ARRAY_JOB_ID:-}" "$(hostname)" '
        '> "$status.tmp" && mv "$status.tmp" "$status"',
        "}",
        "trap finish EXIT",
        'rm -f "$status"',
        setup,
        " ".join(shlex.quote(x) for x in study_cmd) + f' --shard "${{SLURM_ARRAY_TASK_ID}}/{n}"',
    ]
    files["array"].write_text("\n".join(array) + "\n")

    report = _header(f"{name}-report", opts, log=out / "logs" / "report.out", gpus=0, time=None)
    report += [
        "",
        "set -euo pipefail",
        f"cd {shlex.quote(str(workdir))}",
        setup,
        f"{shlex.quote(opts.rsft)} study tasks {shlex.quote(str(out))}",
        " ".join(shlex.quote(x) for x in study_cmd),
    ]
    files["report"].write_text("\n".join(report) + "\n")

    submit = [
        "#!/bin/bash",
        "# Submit the study's array, then the final analysis/report job after every task has ended.",
        "set -euo pipefail",
        'here="$(cd "$(dirname "$0")" && pwd)"',
        'array=$(sbatch --parsable "$here/array.sbatch")',
        'array=${array%%;*}',
        'final=$(sbatch --parsable --dependency=afterany:"$array" "$here/report.sbatch")',
        'final=${final%%;*}',
        f'echo "submitted array $array ({n} tasks) and final job $final"',
    ]
    files["submit"].write_text("\n".join(submit) + "\n")
    for k in ("array", "report", "submit"):
        os.chmod(files[k], 0o755)
    return files


@dataclass
class TaskStatus:
    task: int
    run: str
    rc: int | None  # None: no status written (cancelled, killed, out of time, never started)
    restarts: int = 0

    @property
    def ok(self) -> bool:
        return self.rc == 0


def read_tasks(out: Path) -> list[TaskStatus]:
    """Every array task's last status, in task order.

    Raises:
        RsftError: ``out`` holds no ``tasks.json`` (not a folder written by ``--slurm``), or a status file is
            unreadable.
    """
    out = Path(out)
    mf = out / MANIFEST
    if not mf.is_file():
        raise RsftError("not a folder written by `rsft study plan --slurm` (no tasks.json)", file=str(out))
    manifest = json.loads(mf.read_text())
    statuses = []
    for i, run in enumerate(manifest["runs"]):
        p = out / STATUS_DIR / f"task_{i}.json"
        if not p.is_file():
            statuses.append(TaskStatus(i, run, None))
            continue
        try:
            doc = json.loads(p.read_text())
            statuses.append(TaskStatus(i, run, int(doc["rc"]), int(doc.get("restarts") or 0)))
        except (ValueError, KeyError, TypeError) as e:
            raise RsftError(f"unreadable task status ({e})", file=str(p)) from None
    return statuses
