"""`rsft eval --run hub:ORG/NAME@REV`: a released-checkpoint repo (stepN folders) swept from a local hub stand-in.

The stand-in is a real HTTP server on 127.0.0.1 in the hub's URL layout (no network). Checked: every step is
downloaded once, evaluated, and its weights deleted before the next; rows carry the weights' content hash, so the same
checkpoints laid out as a local run reuse every row; a rerun downloads nothing; an interrupted sweep resumes.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from rsft._util.errors import RsftError
from rsft._util.hashing import WEIGHT_SUFFIXES, weights_hash
from rsft.eval import Store, discover_checkpoints, load_suite, run_sweep
from rsft.eval.hubrun import STEP_RECORD, parse_hub_run, sweep_hub_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _hub_standin import HubStandIn  # noqa: E402

TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")


@pytest.fixture
def hub_repo(tmp_path, run_dir, monkeypatch):
    """The local run's complete checkpoints (0 and 10) as a released repo: step0/ holds only weights and config
    (the tokenizer is at the repo root, as releases often do), step10/ is complete."""
    run = run_dir
    repo = tmp_path / "hub" / "models" / "org" / "Toy-Run"
    for step in (0, 10):
        shutil.copytree(run / "checkpoints" / f"step_{step:06d}", repo / f"step{step}")
    for name in TOKENIZER:
        if (repo / "step0" / name).exists():
            shutil.move(repo / "step0" / name, repo / name)
    for junk in ("COMPLETE", "meta.json"):
        for step in (0, 10):
            (repo / f"step{step}" / junk).unlink(missing_ok=True)
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # the session is offline; only the 127.0.0.1 stand-in is used
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    with HubStandIn(tmp_path / "hub") as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server, run, tmp_path


def _weights_left(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES]


def test_hub_sweep_downloads_one_at_a_time_and_matches_a_local_run(hub_repo, tmp_path, suite_file):
    server, local_run, _ = hub_repo
    suite = load_suite(suite_file)
    cache = tmp_path / "cache"
    store = Store(tmp_path / "store")
    held: list[int] = []

    def say(msg: str) -> None:  # before each download: nothing else is on disk
        held.append(len(_weights_left(cache)))

    rep = sweep_hub_run(suite, "hub:org/Toy-Run@main", store, cache_dir=cache, say=say)
    assert rep.downloads == 2 and held == [0, 0] and _weights_left(cache) == []
    assert rep.planned == rep.generated == 2 * 24 and rep.errors == 0
    frame = store.frame()
    assert set(frame["run"]) == {"Toy-Run"} and sorted(set(frame["step"])) == [0, 10]
    hashes = {s: weights_hash(local_run / "checkpoints" / f"step_{s:06d}") for s in (0, 10)}
    assert {int(s): h for s, h in zip(frame["step"], frame["weights_hash"], strict=True)} == hashes
    for s in (0, 10):
        assert (cache / "org--Toy-Run" / "main" / f"step{s}" / STEP_RECORD).is_file()
    # the tokenizer of step0 came from the repo root
    assert (cache / "org--Toy-Run" / "main" / "step0" / "tokenizer.json").is_file()

    # rerun: nothing downloaded, nothing generated
    n = len(server.downloads())
    again = sweep_hub_run(suite, "hub:org/Toy-Run@main", store, cache_dir=cache)
    assert again.downloads == 0 and again.generated == 0 and again.reused == again.planned == 48
    assert not [r for r in server.downloads()[n:] if r.endswith(".safetensors")]

    # the same checkpoints as a local run: the store key is the weights' hash, so every row is reused
    targets, _ = discover_checkpoints(local_run)
    local = run_sweep(suite, store, targets=targets)
    assert local.generated == 0 and local.reused == local.planned == 48


def test_hub_sweep_resumes_after_a_partial_sweep(hub_repo, tmp_path, suite_file):
    server, _, _ = hub_repo
    suite = load_suite(suite_file)
    cache, store = tmp_path / "cache", Store(tmp_path / "store")
    first = sweep_hub_run(suite, "hub:org/Toy-Run@main", store, steps=[10], cache_dir=cache)
    assert first.downloads == 1 and first.generated == 24
    rest = sweep_hub_run(suite, "hub:org/Toy-Run@main", store, cache_dir=cache)
    assert rest.downloads == 1 and rest.generated == 24 and rest.reused == 24
    weights = [r for r in server.downloads() if r.endswith(".safetensors")]
    assert len(weights) == 2  # each checkpoint's weights fetched exactly once


def test_bad_specs_and_the_cache_bound_are_clear_errors(hub_repo, tmp_path, suite_file):
    with pytest.raises(RsftError, match="hub:ORG/NAME@REVISION"):
        parse_hub_run("hub:Toy-Run@main")  # no org
    suite = load_suite(suite_file)
    with pytest.raises(RsftError, match="cache bound"):
        sweep_hub_run(
            suite, "hub:org/Toy-Run@main", Store(tmp_path / "s"), cache_dir=tmp_path / "c", max_bytes=10
        )


def test_a_study_sweeps_released_checkpoints_without_training(hub_repo, tmp_path, suite_file, monkeypatch):
    from rsft.study.config import load_study
    from rsft.study.plan import plan_study
    from rsft.study.run import run_study

    monkeypatch.setenv("RSFT_CACHE", str(tmp_path / "rsft-cache"))
    study = tmp_path / "release.yaml"
    study.write_text(
        f"study: {{name: release, output_dir: {tmp_path / 'studies'}}}\n"
        f"eval: {{suite: {suite_file}, hub_runs: ['hub:org/Toy-Run@main']}}\n"
    )
    cfg = load_study(study)
    assert plan_study(cfg).runs == []
    result = run_study(cfg, say=lambda _: None, progress=False)
    frame = Store(result.study_dir / "store").frame()
    assert set(frame["run"]) == {"Toy-Run"} and sorted(set(frame["step"])) == [0, 10] and len(frame) == 48
    assert _weights_left(tmp_path / "rsft-cache") == []
    assert result.report is not None and Path(result.report).is_file()  # analysed and reported, no training


def test_cli_sweeps_a_hub_run(hub_repo, tmp_path, suite_file):
    import os
    import subprocess

    env = {**os.environ, "RSFT_CACHE": str(tmp_path / "cli-cache")}
    cmd = [sys.executable, "-m", "rsft.cli.main", "eval", "run", "--run", "hub:org/Toy-Run@main", "--steps", "10",
           "--suite", str(suite_file), "--store", str(tmp_path / "cli-store"), "--no-progress"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stderr.split())
    assert "1 checkpoint(s) (1 downloaded)" in out and "24 planned rows" in out and "24 generated" in out
    assert _weights_left(tmp_path / "cli-cache") == []
    bad = [*cmd[:6], "hub:Toy-Run@main", *cmd[7:]]  # no org
    r = subprocess.run(bad, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "hub:ORG/NAME@REVISION" in r.stderr


def test_model_ids_carry_their_revision(hub_repo, tmp_path, monkeypatch):
    """`ORG/NAME@REVISION` (eval --model, judge ids) resolves to that revision's snapshot in the local hub cache."""
    import huggingface_hub.constants as hub_constants
    from huggingface_hub import snapshot_download

    from rsft._util.errors import OfflineError
    from rsft.generate.hf import resolve_model_dir, split_revision

    server, _, _ = hub_repo
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    assert split_revision("org/Toy-Run@main") == ("org/Toy-Run", "main")
    assert split_revision(str(tmp_path)) == (str(tmp_path), None)  # a local path is never split
    snapshot_download("org/Toy-Run", revision="main", cache_dir=tmp_path / "hf-cache", endpoint=server.url)
    got = resolve_model_dir("org/Toy-Run@main")
    assert (got / "step10" / "config.json").is_file()
    with pytest.raises(OfflineError, match="org/Toy-Run@v2"):
        resolve_model_dir("org/Toy-Run@v2")  # a revision not in the cache is not silently replaced
