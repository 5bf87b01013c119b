"""A study as a Slurm job array, on a real single-node Slurm (Debian's slurm-wlm and munge, started here).

The cluster is started by the ``slurm`` fixture (slurmctld and slurmd on free loopback ports, state in a temporary
folder; a private munged with its own key and socket there too, so a system munged that is down, stale or
shared with another test run does not matter). Without the binaries or root it skips with the reason, unless
``RSFT_REQUIRE_SLURM=1`` (set by ``.ci/run``, which installs them) turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _tiny_study import _analysis, _report, _write, assert_each_sample_once

REQUIRED = os.environ.get("RSFT_REQUIRE_SLURM") == "1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "a single-node Slurm needs root here (slurmd runs the jobs as their user)"
    for tool in ("munged", "munge", "unmunge", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).is_file():
            return f"'{tool}' is not installed (Debian: apt-get install slurm-wlm munge)"
    return None


def _bin(tool: str) -> str:
    return shutil.which(tool) or str(Path("/usr/sbin", tool))


def _start_munged(d: Path) -> int:
    """A munged of the test's own: key, socket, pid, log and seed files under ``d`` (the cluster's slurm.conf
    names the socket through AuthInfo), checked with a round trip before Slurm starts."""
    d.mkdir(mode=0o700)
    key = d / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = d / "munge.socket"
    r = subprocess.run(
        [_bin("munged"), "--force", f"--socket={sock}", f"--key-file={key}", f"--pid-file={d / 'munged.pid'}",
         f"--log-file={d / 'munged.log'}", f"--seed-file={d / 'munged.seed'}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if r.returncode != 0:
        pytest.fail(f"the test's munged did not start: {r.stderr}")
    t0 = time.time()
    while True:
        cred = subprocess.run([_bin("munge"), "-n", "-S", str(sock)], capture_output=True, timeout=60)
        ok = cred.returncode == 0 and subprocess.run(
            [_bin("unmunge"), "-S", str(sock)], input=cred.stdout, capture_output=True, timeout=60
        ).returncode == 0
        if ok:
            return int((d / "munged.pid").read_text())
        if time.time() - t0 > 60:
            log = (d / "munged.log").read_text() if (d / "munged.log").exists() else ""
            pytest.fail(f"the test's munged does not answer: {cred.stderr!r} {log[-2000:]}")
        time.sleep(0.5)


class Slurm:
    def __init__(self, root: Path):
        self.root = root
        self.conf = root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def __call__(self, *args: str, check: bool = True) -> str:
        r = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed: {r.stderr}")
        return r.stdout

    def jobs(self) -> list[str]:
        return [x for x in self("squeue", "-h", "-o", "%i %T").splitlines() if x.strip()]

    def wait_idle(self, timeout: float) -> None:
        t0 = time.time()
        while self.jobs():
            assert time.time() - t0 < timeout, f"jobs still queued after {timeout:.0f} s: {self.jobs()}"
            time.sleep(1)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    why = _missing()
    if why:
        if REQUIRED:
            pytest.fail(f"RSFT_REQUIRE_SLURM=1 but {why}")
        pytest.skip(why)
    root = tmp_path_factory.mktemp("slurm")
    for d in ("state", "spool", "log"):
        (root / d).mkdir()
    host = socket.gethostname()
    ctl, node = _free_port(), _free_port()
    (root / "slurm.conf").write_text(
        f"""ClusterName=rsfttest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldPort={ctl}
SlurmdPort={node}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobRequeue=1
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs={max(2, os.cpu_count() or 2)} RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
"""
    )
    munge_pid = _start_munged(root / "munge")
    s = Slurm(root)
    subprocess.run([_bin("slurmctld"), "-f", str(s.conf)], env=s.env, check=True, timeout=60)
    subprocess.run([_bin("slurmd"), "-f", str(s.conf)], env=s.env, check=True, timeout=60)
    t0 = time.time()
    while "idle" not in s("sinfo", "-h", "-o", "%T", check=False):
        if time.time() - t0 > 180:
            pytest.fail("the test Slurm did not come up: " + (root / "log" / "slurmctld.log").read_text()[-2000:])
        time.sleep(0.5)
    yield s
    for pid_file in ("slurmd.pid", "slurmctld.pid"):
        try:
            os.kill(int((root / pid_file).read_text()), 15)
        except (OSError, ValueError):
            pass
    try:
        os.kill(munge_pid, 15)
    except OSError:
        pass


def _rsft() -> str:
    return f"{sys.executable} -m rsft.cli.main"


def _plan_slurm(study: Path, out: Path, *setup: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "rsft.cli.main", "study", "plan", "study.yaml", "--slurm", str(out), "--gpus", "0"]
    # the jobs run the `rsft` of the interpreter running this test (as a user's --setup activates their venv)
    path = f"export PATH={Path(sys.executable).parent}:$PATH"
    for line in ("export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1", path, *setup):
        args += ["--setup", line]
    return subprocess.run(args, cwd=study, capture_output=True, text=True, timeout=300)


def test_written_array_has_one_task_per_run_and_a_dependent_final_job(tmp_path, tiny_model_dir):
    """The scripts alone (no cluster needed): bash parses them, one array task per run, --requeue, the final job
    depends on the array with afterany, the shard count is written in (a resubmitted single task keeps its run)."""
    study = tmp_path / "study"
    _write(study, tiny_model_dir)
    r = _plan_slurm(study, tmp_path / "slurm")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "slurm"
    array, report, submit = ((out / f).read_text() for f in ("array.sbatch", "report.sbatch", "submit.sh"))
    for f in ("array.sbatch", "report.sbatch", "submit.sh"):
        assert subprocess.run(["bash", "-n", str(out / f)], capture_output=True).returncode == 0, f
    manifest = json.loads((out / "tasks.json").read_text())
    assert manifest["tasks"] == len(manifest["runs"]) == 2
    assert "#SBATCH --array=0-1" in array and "#SBATCH --requeue" in array
    assert '--shard "${SLURM_ARRAY_TASK_ID}/2"' in array and "SLURM_ARRAY_TASK_COUNT" not in array
    assert "--gres" not in array  # --gpus 0
    assert "--dependency=afterany:" in submit
    assert "study tasks" in report and "--shard" not in report
    # with GPUs: the request is in the script
    r = subprocess.run(
        [sys.executable, "-m", "rsft.cli.main", "study", "plan", "study.yaml", "--slurm", str(tmp_path / "g"),
         "--gpus", "4", "--partition", "gpu", "--time", "02:00:00"],
        cwd=study, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    g = (tmp_path / "g" / "array.sbatch").read_text()
    assert "#SBATCH --gres=gpu:4" in g and "#SBATCH --partition=gpu" in g and "#SBATCH --time=02:00:00" in g


@pytest.mark.timeout(3000)
def test_array_on_slurm_gives_the_local_report_with_a_requeued_task(
    slurm, tmp_path, tiny_model_dir, tiny_study_reference
):
    """The tiny study through a real Slurm array (task 1 requeued while it runs, as a preemption does) ends in the
    analysis and report of `rsft study` on one machine, with every sample stored once; a failed task is named by
    the final job, which then does not analyse."""
    local, cluster = tiny_study_reference, tmp_path / "cluster"
    _write(cluster, tiny_model_dir)

    out = cluster / "slurm"
    # a pause after each training step (rsft._util.faults) keeps task 1 training while it is requeued, on a quiet
    # machine too; it changes no result
    r = _plan_slurm(cluster, out, f"export PYTHONPATH={os.environ.get('PYTHONPATH', '')}",
                    "export RSFT_FAULT_DELAY=train:step=0.5")
    assert r.returncode == 0, r.stderr
    sub = slurm("bash", str(out / "submit.sh"))
    array_id = sub.split("submitted array ")[1].split()[0]
    # requeue task 1 once it is running and has started training (a preemption), then let it start again at once
    runs = cluster / "out" / "tiny" / "runs"
    t0 = time.time()
    while not (runs.is_dir() and any(runs.glob("*/checkpoints/step_000000/COMPLETE"))):
        assert time.time() - t0 < 1200, f"no run started training; queue: {slurm.jobs()}"
        ended = sorted((out / "status").glob("task_*.json")) if (out / "status").is_dir() else []
        if ended and not slurm.jobs():  # every task ended before training started: say why at once
            logs = "".join(p.read_text()[-1500:] for p in sorted((out / "logs").glob("*.out")))
            pytest.fail(f"the array ended before any run trained: {[p.read_text() for p in ended]}\n{logs}")
        time.sleep(0.5)
    slurm("scontrol", "requeue", f"{array_id}_1")
    time.sleep(1)
    slurm("scontrol", "update", f"jobid={array_id}_1", "StartTime=now", check=False)
    slurm.wait_idle(2400)

    log = (out / "logs" / "report.out").read_text()
    status = {i: json.loads((out / "status" / f"task_{i}.json").read_text()) for i in (0, 1)}
    assert status[0]["rc"] == 0 and status[1]["rc"] == 0, (status, log[-3000:])
    assert status[1]["restarts"] >= 1, status  # task 1 ran again after the requeue
    assert "all 2 tasks finished" in log, log[-3000:]
    assert _analysis(cluster / "out" / "tiny" / "analysis") == _analysis(local / "out" / "tiny" / "analysis")
    assert _report(cluster) == _report(local)
    assert_each_sample_once(cluster)

    # a task that fails: the final job names it (and its run) and stops before analysing
    (out / "status" / "task_1.json").unlink()
    (cluster / "out" / "tiny" / "report.html").unlink()
    r = _plan_slurm(cluster, out, 'if [ "${SLURM_ARRAY_TASK_ID:-}" = 1 ]; then exit 3; fi')
    assert r.returncode == 0, r.stderr
    (out / "logs" / "report.out").unlink()
    slurm("bash", str(out / "submit.sh"))
    slurm.wait_idle(1200)
    log = (out / "logs" / "report.out").read_text()
    failed_run = json.loads((out / "tasks.json").read_text())["runs"][1]
    assert f"task 1 ({failed_run}): exit 3" in log and "1 of 2 tasks did not finish: 1" in log, log
    assert not (cluster / "out" / "tiny" / "report.html").exists()
