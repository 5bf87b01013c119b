"""`rsft study --jobs N` (rsft.study.parallel): the hand-out order, and what a failing run does to the others.

Its results against one process, a kill and a resume are tested end to end in test_study_resume.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from rsft._util.errors import RsftError
from rsft.study.config import load_study
from rsft.study.matrix import resolve_runs
from rsft.study.parallel import run_order, train_and_sweep

STUDY = """
study: {{name: par, output_dir: {out}, seed: 0}}
models:
  big: {{path: {model}, params_b: 2.0}}
  tiny: {{path: {model}, params_b: 0.5}}
datasets:
  d1: {{build: {{task: countdown, n: 16, seed: 1, style: cot}}}}
  d2: {{build: {{task: countdown, n: 16, seed: 2, style: cot}}}}
train:
  schedule: {{lr: 1.0e-3, max_steps: 4, global_batch: 4, micro_batch: 4}}
matrix:
  - {{models: [tiny, big], datasets: [d1, d2]}}
eval: {{suite: toy}}
"""


def _study(tmp_path: Path, model: Path):
    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(out=tmp_path / "out", model=model))
    cfg = load_study(path)
    return cfg, resolve_runs(cfg)


def test_most_expensive_runs_are_handed_out_first(tmp_path, tiny_model_dir):
    cfg, runs = _study(tmp_path, tiny_model_dir)
    order = run_order(cfg, runs)
    assert sorted(order) == sorted(r.name for r in runs)
    assert [name.split("_")[0] for name in order] == ["big", "big", "tiny", "tiny"]
    # ties keep the study's order
    assert order[:2] == [r.name for r in runs if r.model == "big"]


def fake_run_study(cfg, *, say, progress, stop_after, only_runs):
    """Stands in for rsft.study.run.run_study in the workers (module level: spawned workers import it)."""
    (name,) = only_runs
    # a barrier: no run starts until both workers hold one, however slowly the second one spawns on a loaded box
    # (without it the first worker may take both big runs before the second has imported torch)
    out = Path(cfg.study.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while len(list(out.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    say(f"worker {os.getpid()} on {name}")
    progress(name, 1, 1, "")
    if "d2" in name and name.startswith("big"):
        raise RsftError(f"{name} cannot be trained", field="train")
    time.sleep(0.5)
    Path(cfg.study.output_dir, f"{name}.done").parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.study.output_dir, f"{name}.done").write_text(stop_after)
    return SimpleNamespace(stages={"data": "skipped", "train": "done", "sweep": "skipped"})


@pytest.mark.timeout(300)
def test_a_failed_run_is_named_and_stops_the_hand_out(tmp_path, tiny_model_dir):
    cfg, runs = _study(tmp_path, tiny_model_dir)
    said, bars = [], []
    with pytest.raises(RsftError) as err:
        train_and_sweep(
            fake_run_study, cfg, runs, 2, stop_after=None, say=said.append,
            progress=lambda *a: bars.append(a), threads=1,
        )  # fmt: skip
    text = str(err.value)
    assert "1 of 4 runs failed" in text and "big_d2" in text and "cannot be trained" in text
    assert "rerun the same command" in text
    # the workers' lines and progress reached the parent; the big run that did not fail finished
    assert said[0] == "4 runs in 2 worker processes (1 thread each)"
    assert any("on big_d1" in s for s in said) and len({s.split()[1] for s in said[1:]}) == 2  # two workers
    out = Path(cfg.study.output_dir)
    assert (out / f"{[r.name for r in runs if r.name.startswith('big_d1')][0]}.done").read_text() == "sweep"
    # the failure stopped the hand-out: of the two small runs at most the one taken meanwhile ran
    assert len(list(out.glob("tiny_*.done"))) <= 1


@pytest.mark.timeout(300)
def test_stages_are_combined_over_runs(tmp_path, tiny_model_dir):
    cfg, runs = _study(tmp_path, tiny_model_dir)
    ok = [r for r in runs if not (r.name.startswith("big") and "d2" in r.name)]
    stages = train_and_sweep(fake_run_study, cfg, ok, 2, stop_after="train", threads=1)
    assert stages == {"train": "done", "sweep": "skipped"}
    assert {p.read_text() for p in Path(cfg.study.output_dir).glob("*.done")} == {"train"}
