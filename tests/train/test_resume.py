"""Resume after a real SIGKILL gives bitwise the same weights as an uninterrupted run (CPU, fp32)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from rsft._util.hashing import weights_hash
from rsft.train.checkpoints import latest_state, list_checkpoints
from rsft.train.sft import train


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(path, cfg):
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return path


@pytest.mark.timeout(180)
def test_resume_after_kill_is_bitwise_identical(tmp_path, make_cfg):
    over = dict(
        schedule={"global_batch": 4, "micro_batch": 2, "epochs": 3, "shuffle": True}, checkpoints={"every": 4}
    )
    killed_cfg = make_cfg(**over, output_dir=str(tmp_path / "killed"))
    path = _write(tmp_path / "train.yaml", killed_cfg)
    run_dir = killed_cfg.run_dir()
    env = {**os.environ, "RSFT_TRAIN_SLEEP_PER_STEP": "0.15"}
    cmd = [sys.executable, "-m", "rsft.cli.main", "train", str(path), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while latest_state(run_dir) is None:  # wait until the first resume state (step 4) is complete
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline
            time.sleep(0.02)
        time.sleep(0.2)  # let it get into the next steps
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (run_dir / "DONE").exists(), "the run finished before it was killed"
    killed_at = latest_state(run_dir)[0]
    assert 4 <= killed_at < 18

    from rsft.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["train", str(path), "--resume", "--no-progress"])
    assert e.value.code == 0
    resumed = json.loads((run_dir / "DONE").read_text())

    clean = train(make_cfg(**over, output_dir=str(tmp_path / "clean")), progress=False)
    assert resumed["step"] == clean.final_step == 18
    assert resumed["weights_hash"] == clean.weights_hash
    # every checkpoint is identical too, and the metrics have one line per step
    for (s1, p1), (s2, p2) in zip(list_checkpoints(run_dir), clean.checkpoints, strict=True):
        assert s1 == s2 and weights_hash(p1) == weights_hash(p2)
    steps = [json.loads(x)["step"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 19))
    assert not list(run_dir.glob("**/.tmp-*"))


def test_resume_refuses_a_changed_config(make_cfg):
    cfg = make_cfg(schedule={"max_steps": 2}, checkpoints={"every": 1}, run_name="r")
    train(cfg, progress=False)
    (cfg.run_dir() / "DONE").unlink()
    from rsft._util.errors import RsftError

    with pytest.raises(RsftError, match="different config"):
        train(
            make_cfg(schedule={"max_steps": 2, "lr": 5e-3}, checkpoints={"every": 1}, run_name="r"),
            resume=True,
        )


@pytest.mark.slow  # two extra Python processes: ~20 s idle, a minute on a busy 2-core machine
@pytest.mark.timeout(240)
def test_two_processes_match_one(tmp_path, make_cfg):
    """token_mean over the global batch: 2 data-parallel processes (torchrun, gloo on CPU) = 1 process."""
    over = dict(schedule={"global_batch": 8, "micro_batch": 2, "max_steps": 3}, checkpoints={"every": 3})
    two = make_cfg(**over, output_dir=str(tmp_path / "two"))
    path = _write(tmp_path / "train.yaml", two)
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(_free_port()),
    ]
    out = subprocess.run(
        [*cmd, "-m", "rsft.cli.main", "train", str(path), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 processes" in out.stderr
    one = train(make_cfg(**over, output_dir=str(tmp_path / "one")), progress=False)
    from transformers import AutoModelForCausalLM

    a = AutoModelForCausalLM.from_pretrained(one.checkpoints[-1][1]).state_dict()
    b = AutoModelForCausalLM.from_pretrained(list_checkpoints(two.run_dir())[-1][1]).state_dict()
    for k, v in a.items():
        torch.testing.assert_close(b[k], v, rtol=0, atol=1e-6)


def test_a_refused_resume_writes_nothing(make_cfg):
    """The run's record stays as it was, so the error's own fix (resume with resolved_config.yaml) still works."""
    from rsft._util.errors import RsftError

    cfg = make_cfg(schedule={"max_steps": 2}, checkpoints={"every": 1}, run_name="rec")
    train(cfg, progress=False)
    (cfg.run_dir() / "DONE").unlink()
    files = {p: p.read_bytes() for p in cfg.run_dir().rglob("*") if p.is_file()}
    changed = make_cfg(schedule={"max_steps": 2, "lr": 5e-3}, checkpoints={"every": 1}, run_name="rec")
    with pytest.raises(RsftError, match="different config"):
        train(changed, resume=True, progress=False)
    after = {p: p.read_bytes() for p in cfg.run_dir().rglob("*") if p.is_file()}
    assert after == files


def test_a_failed_fresh_run_leaves_no_folder(make_cfg, tmp_path):
    from rsft._util.errors import RsftError

    cfg = make_cfg(model={"path": str(tmp_path / "no-such-model")}, run_name="gone")
    with pytest.raises(RsftError):
        train(cfg, progress=False)
    assert not cfg.run_dir().exists()
    # a folder that was there before the failed run is kept
    cfg.run_dir().mkdir(parents=True)
    with pytest.raises(RsftError):
        train(cfg, progress=False)
    assert cfg.run_dir().is_dir()
