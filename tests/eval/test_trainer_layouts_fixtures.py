"""Layouts of trainers that do not install and run on this CPU box (verl needs ray and a GPU build, torchtune and
OpenRLHF likewise): fixtures written in the order each producer's own code writes them, from real tiny model
folders. The source files followed:

- verl: ``verl/trainer/fsdp_sft_trainer.py`` (``save_checkpoint``: ``global_step_N/``, then the tracker
  ``latest_checkpointed_iteration.txt`` by rename) and ``verl/utils/checkpoint/fsdp_checkpoint_manager.py``
  (``model_world_size_W_rank_R.pt`` shards, ``fsdp_config.json``, ``huggingface/`` with config and tokenizer, and
  the weights only with ``hf_model`` in ``save_contents``); merger: ``verl/model_merger/__main__.py``.
- torchtune: ``torchtune/training/checkpointing/_checkpointer.py`` (``FullModelHFCheckpointer.save_checkpoint``:
  ``epoch_N/model-0000K-of-0000M.safetensors``, then ``model.safetensors.index.json``, then the input folder's
  other files copied).
- OpenRLHF: ``openrlhf/trainer/sft_trainer.py`` (``save_logs_and_checkpoints`` with ``--save_hf_ckpt``:
  DeepSpeed ``global_stepN/`` and ``strategy.save_model`` into ``global_stepN_hf/``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from rsft._util.errors import RsftError
from rsft.eval.layouts import scan_run

TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def _model_files(src: Path, dest: Path, *, weights: bool = True, tokenizer: bool = True) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.suffix == ".safetensors" and not weights or f.name in TOKENIZER and not tokenizer:
            continue
        if f.is_file() and not f.name.startswith(".rsft"):
            shutil.copy2(f, dest / f.name)


def _verl_step(run: Path, step: int, base: Path, *, hf_weights: bool = True, ppo: bool = False) -> Path:
    d = run / f"global_step_{step}" / ("actor" if ppo else "")
    d.mkdir(parents=True, exist_ok=True)
    torch.save({"w": torch.zeros(2)}, d / "model_world_size_1_rank_0.pt")
    torch.save({}, d / "optim_world_size_1_rank_0.pt")
    _model_files(base, d / "huggingface", weights=hf_weights)
    (d / "fsdp_config.json").write_text(json.dumps({"FSDP_version": 1, "world_size": 1}))
    return d


def _verl_tracker(run: Path, step: int) -> None:
    tmp = run / "latest_checkpointed_iteration.txt.tmp"
    tmp.write_text(str(step))
    tmp.rename(run / "latest_checkpointed_iteration.txt")


def test_verl_steps_complete_by_tracker(tiny_model_dir, tmp_path):
    run = tmp_path / "verl_run"
    _verl_step(run, 2, tiny_model_dir)
    _verl_tracker(run, 2)
    _verl_step(run, 4, tiny_model_dir)  # saved, tracker not yet moved on: half-written
    listing = scan_run(run, base=str(tiny_model_dir))
    assert listing.layout == "verl" and [c.step for c in listing.complete] == [0, 2]
    assert listing.partial[0][0].name == "global_step_4" and "latest_checkpointed_iteration" in listing.partial[0][1]
    _verl_tracker(run, 4)
    assert [c.step for c in scan_run(run).complete] == [2, 4]
    ppo = tmp_path / "verl_ppo"
    _verl_step(ppo, 3, tiny_model_dir, ppo=True)
    _verl_tracker(ppo, 3)
    (c,) = scan_run(ppo).complete
    assert c.step == 3 and Path(c.source).parts[-2:] == ("actor", "huggingface")


def test_base_read_from_a_file_may_be_absent(tiny_model_dir, tmp_path):
    """verl's huggingface/config.json names the base by the path it had on the training machine: absent here, the
    checkpoints are swept without step 0 (a note says how to add it); a base the user names must be there."""
    run = tmp_path / "verl_run"
    d = _verl_step(run, 2, tiny_model_dir)
    cfg = json.loads((d / "huggingface" / "config.json").read_text())
    (d / "huggingface" / "config.json").write_text(json.dumps({**cfg, "_name_or_path": "/mnt/train/models/base"}))
    _verl_tracker(run, 2)
    listing = scan_run(run)
    assert [c.step for c in listing.complete] == [2] and "/mnt/train/models/base" in listing.notes[0]
    with pytest.raises(RsftError, match="base model is not there"):
        scan_run(run, base=str(tmp_path / "nowhere"))
    named = scan_run(run, base=str(tiny_model_dir))
    assert [c.step for c in named.complete] == [0, 2]


def test_verl_fsdp_shards_only_names_the_merger(tiny_model_dir, tmp_path):
    run = tmp_path / "verl_run"
    d = _verl_step(run, 2, tiny_model_dir, hf_weights=False)
    _verl_tracker(run, 2)
    with pytest.raises(RsftError) as e:
        scan_run(run)
    text = e.value.render()
    assert "FSDP shards" in text and f"python -m verl.model_merger merge --backend fsdp --local_dir {d}" in text
    assert len(text.splitlines()) == 2  # the problem, then the fix


def test_torchtune_epochs(tiny_model_dir, tmp_path):
    run = tmp_path / "tt"
    for epoch, finished in ((0, True), (1, False)):
        d = run / f"epoch_{epoch}"
        d.mkdir(parents=True)
        shutil.copy2(tiny_model_dir / "model.safetensors", d / "model-00001-of-00001.safetensors")
        if finished:  # the index, then the copied config and tokenizer
            names = {k: "model-00001-of-00001.safetensors" for k in _tensor_names(d)}
            (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": names}))
            _model_files(tiny_model_dir, d, weights=False)
    listing = scan_run(run)
    assert listing.layout == "torchtune" and [c.step for c in listing.complete] == [1]  # epoch_0 = 1 epoch done
    assert "index" in listing.partial[0][1]


def _tensor_names(d: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(d / "model-00001-of-00001.safetensors"), "pt") as f:
        return list(f.keys())


def test_openrlhf_hf_saves(tiny_model_dir, tiny_tokenizer, tmp_path):
    from rsft.eval.config import load_suite
    from rsft.eval.runner import watch_run
    from rsft.eval.store import Store
    from rsft.generate.hf import HFBackend

    run = tmp_path / "ckpt"
    (run / "global_step2").mkdir(parents=True)  # DeepSpeed resume state: not read
    _model_files(tiny_model_dir, run / "global_step2_hf")
    from rsft.toy import tiny_qwen3

    later = tmp_path / "later"  # other weights than step 2's (same weights in one run are one set of rows)
    tiny_qwen3(tiny_tokenizer, "micro", seed=1, out_dir=later)
    _model_files(later, run / "global_step4_hf", tokenizer=False)  # save_model writes the tokenizer last
    listing = scan_run(run)
    assert listing.layout == "openrlhf" and [c.step for c in listing.complete] == [2]
    assert listing.partial[0][0].name == "global_step4_hf"
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: t\nseed: 1\ngeneration: {temperature: 0.0, max_new_tokens: 4}\nbackend: {kind: hf, device: cpu}\n"
        "benchmarks:\n  - name: toy_arith\n    options: {n_items: 2}\n"
    )
    store, be, said = Store(tmp_path / "s"), HFBackend(batch_size=2, device="cpu"), []
    watch_run(load_suite(str(suite)), run, store, be, max_polls=1, say=said.append)
    assert any("global_step4_hf" in s and "tokenizer" in s for s in said)
    _model_files(later, run / "global_step4_hf")
    (run / "DONE").write_text("")
    watch_run(load_suite(str(suite)), run, store, be, poll_s=0.01, until_done=True, say=said.append)
    assert sorted(set(store.frame()["step"])) == [2, 4]


def test_mixed_trainer_layouts_are_one_error(tiny_model_dir, tmp_path):
    run = tmp_path / "mixed"
    _verl_step(run, 2, tiny_model_dir)
    _model_files(tiny_model_dir, run / "epoch_0")
    with pytest.raises(RsftError, match="mixes checkpoint layouts"):
        scan_run(run)
