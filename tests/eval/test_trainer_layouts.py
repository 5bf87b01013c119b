"""Runs written by other trainers, swept as they are: a real TRL ``SFTTrainer`` run (Hugging Face Trainer layout,
``checkpoint-N/`` with ``trainer_state.json``) of a tiny Qwen3, swept, killed and resumed, analysed, and compared
row for row with the same weights copied into rsft's own layout (store keys are weights hashes)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rsft.eval.layouts import scan_run
from rsft.eval.store import Store

pytest.importorskip("trl")

SUITE = """
name: t
seed: 3
generation: {temperature: 1.0, max_new_tokens: 8, logprobs: true}
backend: {kind: hf, batch_size: 4, device: cpu}
benchmarks:
  - name: toy_arith
    options: {n_items: 3}
    generation: {n: 2}
  - name: toy_sort
    options: {n_items: 3}
    generation: {n: 2}
"""
ROWS_PER_CHECKPOINT = 2 * 3 * 2  # benchmarks x items x samples
CONTENT = ["key", "weights_hash", "benchmark", "item_id", "sample_idx", "step", "seed", "response", "score"]


def train_trl(out: Path, base: Path, *, max_steps: int = 4, save_steps: int = 2, lora: bool = False) -> Path:
    """A real TRL SFTTrainer run of the tiny base on a few chat rows, saving every ``save_steps`` steps."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    rows = [
        {"messages": [{"role": "user", "content": f"Compute {a}+{b}."},
                      {"role": "assistant", "content": f"<think>{a}+{b}={a + b}</think> {a + b}"}]}
        for a in range(4) for b in range(4)
    ]  # fmt: skip
    args = SFTConfig(
        output_dir=str(out), max_steps=max_steps, save_steps=save_steps, per_device_train_batch_size=4,
        learning_rate=5e-3, report_to=[], logging_steps=1, use_cpu=True, max_length=64, seed=0,
        dataloader_num_workers=0, disable_tqdm=True,
    )  # fmt: skip
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    model = AutoModelForCausalLM.from_pretrained(str(base))
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows),
        processing_class=AutoTokenizer.from_pretrained(str(base)), peft_config=peft_config,
    )  # fmt: skip
    trainer.train()
    return out


@pytest.fixture(scope="module")
def trl_run(tmp_path_factory, tiny_model_dir) -> Path:
    return train_trl(tmp_path_factory.mktemp("trl") / "out", tiny_model_dir)


@pytest.fixture(autouse=True)
def _views(tmp_path, monkeypatch):
    monkeypatch.setenv("RSFT_CACHE", str(tmp_path / "cache"))


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
            "RSFT_CACHE": str(tmp_path / "cache")}  # fmt: skip


def _eval(run: Path, store: Path, suite: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rsft.cli.main", "eval", "--run", str(run), "--suite", str(suite),
            "--store", str(store), "--no-progress", *extra]  # fmt: skip


def _raw_keys(store: Path) -> list[str]:
    return [k for p in sorted((store / "rows").glob("*.parquet")) for k in pq.read_table(p).column("key").to_pylist()]


def _content(store: Path):
    return Store(store).frame()[CONTENT].sort_values("key").reset_index(drop=True)


def as_rsft_run(trl_out: Path, base: Path, dest: Path) -> Path:
    """The same weights in rsft's layout: the base as step 0, each checkpoint-N's model files as step N."""
    cks = dest / "checkpoints"
    shutil.copytree(base, cks / "step_000000", ignore=shutil.ignore_patterns(".rsft_*"))
    for d in sorted(trl_out.glob("checkpoint-*")):
        step = json.loads((d / "trainer_state.json").read_text())["global_step"]
        out = cks / f"step_{step:06d}"
        out.mkdir(parents=True)
        for f in d.iterdir():
            if f.suffix in (".json", ".safetensors", ".jinja") and f.name != "trainer_state.json":
                shutil.copy2(f, out / f.name)
    for d in cks.iterdir():
        (d / "COMPLETE").write_text("")
    return dest


def test_trl_layout_is_detected_with_its_steps(trl_run, tiny_model_dir):
    listing = scan_run(trl_run)
    assert listing.layout == "hf_trainer" and listing.done  # checkpoint-4 is at max_steps
    assert [c.step for c in listing.complete] == [2, 4] and listing.partial == []
    assert listing.notes and "--base" in listing.notes[0]  # TRL records no base for a local model: named by hand
    assert all(c.files == ("model.safetensors",) for c in listing.complete)  # optimizer.pt etc. are not weights
    named = scan_run(trl_run, base=str(tiny_model_dir))
    assert [c.step for c in named.complete] == [0, 2, 4] and named.base_from == "--base"


def test_trl_run_rows_equal_rsft_layout_rows(trl_run, tiny_model_dir, tmp_path):
    """The same weights give the same rows (keys, responses, scores) in either layout (the cheap default test;
    the killed-and-resumed CLI version is marked slow)."""
    from rsft.eval import discover_checkpoints, load_suite, run_sweep
    from rsft.generate.hf import HFBackend

    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("n_items: 3", "n_items: 2"))
    cfg, be = load_suite(str(suite)), HFBackend(batch_size=4, device="cpu")
    ref_run = as_rsft_run(trl_run, tiny_model_dir, tmp_path / "rsft_run")
    run_sweep(cfg, Store(tmp_path / "ref"), be, targets=discover_checkpoints(ref_run)[0])
    run_sweep(cfg, Store(tmp_path / "trl"), be, targets=discover_checkpoints(trl_run, base=str(tiny_model_dir))[0])
    a, b = _content(tmp_path / "ref"), _content(tmp_path / "trl")
    assert len(a) == 3 * 2 * 2 * 2 and a.equals(b)


@pytest.mark.slow
def test_trl_run_swept_killed_resumed_equals_rsft_layout(trl_run, tiny_model_dir, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    planned = 3 * ROWS_PER_CHECKPOINT
    ref_run = as_rsft_run(trl_run, tiny_model_dir, tmp_path / "rsft_run")
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    r = subprocess.run(_eval(ref_run, ref, suite), env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr

    cmd = _eval(trl_run, killed, suite, "--base", str(tiny_model_dir))
    proc = subprocess.Popen(cmd, env=_env(tmp_path), stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list((killed / "rows").glob("*.parquet")):
        time.sleep(0.005)  # kill right after the first flushed batch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(_raw_keys(killed))
    assert 0 < before < planned, "the sweep must be killed midway"
    r = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"{before} reused" in r.stderr.replace("\n", " ")
    keys = _raw_keys(killed)
    assert len(keys) == planned == len(set(keys))
    a, b = _content(ref), _content(killed)
    assert a.equals(b)  # same keys (weights hashes), same responses and scores, whichever layout held them
    assert sorted(set(b["step"])) == [0, 2, 4]

    out = tmp_path / "analysis"
    r = subprocess.run([sys.executable, "-m", "rsft.cli.main", "analyze", "run", str(killed), "--out", str(out),
                        "--in-domain", "toy_arith", "--set", "B=200"],
                       env=_env(tmp_path), capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    curves = json.loads((out / "analysis.json").read_text())["domain_curves"]
    assert curves and {c["run"] for c in curves} == {"out"}


def test_trl_run_with_no_flag_and_nll(trl_run, tmp_path):
    """`rsft eval --run OUT --suite S --store S` with no other flag: the checkpoints, and a note on step 0."""
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("n_items: 3", "n_items: 1"))
    r = subprocess.run(_eval(trl_run, tmp_path / "s", suite), env=_env(tmp_path), capture_output=True,
                       text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "--base" in r.stderr  # says how to add step 0
    assert sorted(set(Store(tmp_path / "s").frame()["step"])) == [2, 4]

    from rsft.analysis.nll import nll_curve

    ref = tmp_path / "ref.jsonl"
    ref.write_text(json.dumps({"messages": [{"role": "user", "content": "Compute 1+2."}],
                               "response": "<think>1+2=3</think> 3"}) + "\n")  # fmt: skip
    res = nll_curve(trl_run, ref, B=100)
    assert res["step"] == [2, 4] and res["nll"]["est"][1] < res["nll"]["est"][0]  # it trained on such rows


def _half_written(trl_run: Path, dest: Path, step: int) -> Path:
    """A copy of the run with checkpoint-``step`` as the Trainer leaves it mid-save: weights written, the trainer
    state (which the Trainer writes last, transformers ``Trainer._save_checkpoint``) not yet."""
    run = dest / "out"
    shutil.copytree(trl_run, run)
    last = sorted(run.glob("checkpoint-*"))[-1]
    half = run / f"checkpoint-{step}"
    shutil.copytree(last, half)
    (half / "trainer_state.json").unlink()
    return run


def test_half_written_trainer_checkpoint_skipped_then_watched(trl_run, tiny_model_dir, tmp_path):
    from rsft.eval.config import load_suite
    from rsft.eval.runner import watch_run
    from rsft.generate.hf import HFBackend

    run = _half_written(trl_run, tmp_path, 6)
    listing = scan_run(run)
    assert [c.step for c in listing.complete] == [2, 4] and listing.partial[0][0].name == "checkpoint-6"
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("n_items: 3", "n_items: 1"))
    cfg, store, be, said = load_suite(str(suite)), Store(tmp_path / "w"), HFBackend(batch_size=4, device="cpu"), []
    rep = watch_run(cfg, run, store, be, max_polls=1, say=said.append)
    assert rep.planned == 2 * 4 and any("checkpoint-6" in s and "trainer_state" in s for s in said)
    # the Trainer finishes the save: its state names step 6 of 6, so the run says it is done
    state = json.loads((run / "checkpoint-4" / "trainer_state.json").read_text())
    state.update(global_step=6, max_steps=6)
    (run / "checkpoint-6" / "trainer_state.json").write_text(json.dumps(state))
    shutil.copy2(tiny_model_dir / "model.safetensors", run / "checkpoint-6" / "model.safetensors")
    rep = watch_run(cfg, run, store, be, poll_s=0.01, until_done=True, say=said.append)
    assert sorted(set(store.frame()["step"])) == [2, 4, 6] and rep.generated == 4  # only step 6 is new


def test_truncated_weights_are_half_written(trl_run, tmp_path):
    run = tmp_path / "out"
    shutil.copytree(trl_run, run)
    w = run / "checkpoint-4" / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    listing = scan_run(run)
    assert [c.step for c in listing.complete] == [2]
    assert "truncated" in listing.partial[0][1]


def test_tokenizer_in_run_folder_only(trl_run, tiny_model_dir, tmp_path):
    """A trainer that saves the tokenizer once, in the run folder: checkpoints are read through a view with the
    same weights hash as the producer's folder."""
    from rsft._util.hashing import weights_hash

    run = tmp_path / "out"
    shutil.copytree(trl_run, run)
    for d in run.glob("checkpoint-*"):
        for f in d.glob("tokenizer*"):
            shutil.move(f, run / f.name)
    listing = scan_run(run)
    c = listing.complete[-1]
    assert c.folder != c.source and (Path(c.folder) / "tokenizer.json").is_file()
    assert weights_hash(c.folder) == weights_hash(trl_run / "checkpoint-4")


def _bad(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    cmd = [*_eval(Path(args[0]), tmp_path / "bad_store", suite), *args[1:]]
    return subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=300)


def _one_clear_line(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert all(w in r.stderr for w in words), r.stderr


def test_bad_runs_one_line_nothing_stored(trl_run, tiny_model_dir, tiny_tokenizer, tmp_path):
    from rsft.toy import build_tokenizer, tiny_qwen3

    mixed = tmp_path / "mixed"
    shutil.copytree(trl_run, mixed)
    shutil.copytree(tiny_model_dir, mixed / "checkpoints" / "step_000000")
    _one_clear_line(_bad([str(mixed)], tmp_path), "mixes checkpoint layouts", "hf_trainer", "rsft")
    unknown = tmp_path / "unknown"
    (unknown / "weights").mkdir(parents=True)
    _one_clear_line(_bad([str(unknown)], tmp_path), "no known checkpoint layout")
    other = tmp_path / "other_base"
    tok = build_tokenizer(["a completely different corpus of words"] * 8, vocab_size=96, out_dir=tmp_path / "t2")
    tiny_qwen3(tok, "micro", seed=5, out_dir=other)
    _one_clear_line(_bad([str(trl_run), "--base", str(other)], tmp_path), "tokenizer disagrees")
    _one_clear_line(_bad([str(trl_run), "--base", str(tmp_path / "absent")], tmp_path), "base model is not there")
    assert not (tmp_path / "bad_store" / "rows").exists() or not _raw_keys(tmp_path / "bad_store")


# ------------------------------------------------------------------------------------------------ LoRA adapters


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_model_dir) -> Path:
    return train_trl(tmp_path_factory.mktemp("trl_lora") / "lora_out", tiny_model_dir, lora=True)


def _merged_copy(adapter: Path, base: Path, out: Path) -> Path:
    """What a user would otherwise write to disk: the adapter merged into its base by peft."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(adapter))
    model.merge_and_unload().save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(adapter)).save_pretrained(str(out))
    return out


def test_lora_run_base_from_adapter_and_in_memory_merge(lora_run, tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    from rsft.eval.plan import discover_run
    from rsft.generate.base import GenerateConfig, Request
    from rsft.generate.hf import HFBackend

    targets, listing = discover_run(lora_run)
    assert [t.step for t in targets] == [0, 2, 4] and listing.base_from.startswith("adapter_config.json")
    assert all(t.adapter_base == str(tiny_model_dir.resolve()) for t in targets[1:])
    assert len({t.weights_hash for t in targets}) == 3  # the key covers base and adapter
    name = "model.layers.0.self_attn.q_proj.weight"
    merged = {s: load_file(_merged_copy(lora_run / f"checkpoint-{s}", tiny_model_dir, tmp_path / f"m{s}")
                           / "model.safetensors") for s in (2, 4)}  # fmt: skip
    base_w = load_file(tiny_model_dir / "model.safetensors")[name]
    assert not torch.equal(merged[4][name], base_w)  # the adapter trained
    be = HFBackend(batch_size=2, device="cpu")
    req = [Request(messages=[{"role": "user", "content": "Compute 1+2."}], id="a")]
    gen = GenerateConfig(temperature=0.0, max_new_tokens=6)
    for step in (2, 4, 2):  # switching adapters restores the base first: deltas never pile up
        be.load(targets[[t.step for t in targets].index(step)].model)
        text = be.generate(req, gen)[0][0].text
        assert torch.allclose(dict(be.model.named_parameters())[name], merged[step][name], atol=1e-6)
        assert not list(lora_run.rglob("model*.safetensors"))  # no merged copy was written
    plain = HFBackend(batch_size=2, device="cpu", model=tmp_path / "m2")
    assert plain.generate(req, gen)[0][0].text == text


def test_lora_run_no_flag_cli_and_missing_base(lora_run, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("n_items: 3", "n_items: 1"))
    r = subprocess.run(_eval(lora_run, tmp_path / "s", suite), env=_env(tmp_path), capture_output=True,
                       text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    df = Store(tmp_path / "s").frame()
    assert sorted(set(df["step"])) == [0, 2, 4] and df["weights_hash"].nunique() == 3
    broken = tmp_path / "broken"
    shutil.copytree(lora_run, broken)
    for cfg in broken.glob("checkpoint-*/adapter_config.json"):
        data = json.loads(cfg.read_text())
        data["base_model_name_or_path"] = str(tmp_path / "gone")
        cfg.write_text(json.dumps(data))
    r = _bad([str(broken)], tmp_path)
    _one_clear_line(r, "LoRA adapters' base model is not there", "gone")
    assert len(r.stderr.strip().splitlines()) <= 3
    assert not (tmp_path / "bad_store" / "rows").exists() or not _raw_keys(tmp_path / "bad_store")


# ----------------------------------------------------------------------------------------------- run manifest


def test_manifest_lists_checkpoints_and_names_base(trl_run, tiny_model_dir, tmp_path):
    from rsft._util.errors import RsftError

    (tmp_path / "exports").mkdir()
    shutil.copytree(trl_run / "checkpoint-2", tmp_path / "exports" / "a")
    man = tmp_path / "rsft_run.yaml"
    man.write_text(f"base: {tiny_model_dir}\ncheckpoints:\n  20: exports/a\n  40: exports/b\n")
    listing = scan_run(tmp_path)  # the folder holding rsft_run.yaml
    assert listing.layout == "manifest" and [c.step for c in listing.complete] == [0, 20]
    assert listing.partial[0][0].name == "b" and not listing.done  # listed, not there yet: --watch retries it
    shutil.copytree(trl_run / "checkpoint-4", tmp_path / "exports" / "b")
    man.write_text(man.read_text() + "done: true\n")
    listing = scan_run(man)  # or the file itself
    assert [c.step for c in listing.complete] == [0, 20, 40] and listing.done
    man.write_text("checkpoints:\n  last: exports/a\n")
    with pytest.raises(RsftError, match="not an integer") as e:
        scan_run(tmp_path)
    assert e.value.field == "checkpoints.last"
    # a manifest with only base: names the base of a run in another layout
    run = tmp_path / "trl"
    shutil.copytree(trl_run, run)
    (run / "rsft_run.yaml").write_text(f"base: {tiny_model_dir}\n")
    named = scan_run(run)
    assert named.layout == "hf_trainer" and [c.step for c in named.complete] == [0, 2, 4]
    assert named.base_from == str(run / "rsft_run.yaml")


# ------------------------------------------------------------------------------------ bring-your-own study


def test_study_of_existing_runs_folders_to_report(trl_run, lora_run, tiny_model_dir, tmp_path):
    """`rsft study` on runs trained elsewhere (a TRL full run and a TRL LoRA run): swept, analysed, reported in
    one command, with each run's conditions and provenance (layout, files, the adapter's base) in the store."""
    (tmp_path / "suite.yaml").write_text(
        "name: t\nseed: 0\ngeneration: {max_new_tokens: 8, temperature: 0.0}\n"
        "backend: {kind: hf, batch_size: 8, device: cpu}\nbenchmarks:\n"
        "  - {name: toy_arith, options: {n_items: 4}}\n  - {name: toy_safety, options: {n_items: 4}}\n"
    )
    (tmp_path / "study.yaml").write_text(f"""
study: {{name: byo, output_dir: out}}
existing_runs:
  - {{path: {trl_run}, label: micro-full, base: {tiny_model_dir}, model: micro, data: long-cot, lr: 5.0e-3}}
  - {{path: {lora_run}, label: micro-lora, model: micro, data: low-quality, lr: 5.0e-3}}
eval: {{suite: suite.yaml}}
analysis: {{in_domain: [toy_arith], seed: 0}}
""")
    r = subprocess.run([sys.executable, "-m", "rsft.cli.main", "study", str(tmp_path / "study.yaml")],
                       cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr
    study = tmp_path / "out" / "byo"
    assert (study / "report.html").is_file()
    runs = json.loads((study / "store" / "runs.json").read_text())
    assert runs["micro-lora"]["quality"] == "low-quality" and runs["micro-full"]["layout"] == "hf_trainer"
    prov = json.loads((study / "store" / "provenance.json").read_text())
    assert prov["micro-lora"]["steps"]["4"]["adapter_base"] == str(tiny_model_dir.resolve())
    assert prov["micro-full"]["steps"]["2"]["files"] == ["model.safetensors"]
    assert prov["micro-full"]["base_from"] == "--base"
    curves = json.loads((study / "analysis" / "analysis.json").read_text())["domain_curves"]
    assert {c["run"] for c in curves} == {"micro-full", "micro-lora"}
    df = Store(study / "store").frame()
    assert sorted(set(df[df["run"] == "micro-lora"]["step"])) == [0, 2, 4]
