"""End-to-end: `rsft train` writes loadable checkpoints with metadata, metrics and DONE; occupied folders refused."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from rsft._util.errors import RsftError
from rsft._util.hashing import weights_hash
from rsft.train import COMPLETE_MARKER
from rsft.train.checkpoints import list_checkpoints
from rsft.train.sft import train


def test_cli_train_writes_checkpoints_that_load(tmp_path, make_cfg, tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rsft.cli.main import main

    cfg = make_cfg()
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_defaults=True)))
    with pytest.raises(SystemExit) as e:
        main(["train", str(path), "schedule.lr=2e-3", "--no-progress"])
    assert e.value.code == 0
    run_dir = make_cfg(schedule={"lr": 2e-3}).run_dir()
    assert run_dir.name == f"{tiny_model_dir.name}_toy_lr2e-3_ep2_bs8"
    cks = list_checkpoints(run_dir)
    assert [s for s, _ in cks] == [0, 3, 6]  # 24 rows / 8 = 3 steps per epoch, 2 epochs; step 0 = base model
    for step, ck in cks:
        meta = json.loads((ck / "meta.json").read_text())
        assert meta["step"] == step and (ck / COMPLETE_MARKER).is_file()
        assert meta["weights_hash"] == weights_hash(ck)
        assert {
            "epoch",
            "tokens_seen",
            "loss",
            "lr",
            "config_hash",
            "data_hash",
            "rsft_version",
            "git",
        } <= set(meta)
    # step 0 is the base model, bit for bit
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    m0 = AutoModelForCausalLM.from_pretrained(cks[0][1])
    m6 = AutoModelForCausalLM.from_pretrained(cks[-1][1])
    assert all(
        torch.equal(a, b) for a, b in zip(base.state_dict().values(), m0.state_dict().values(), strict=True)
    )
    assert not torch.equal(base.model.embed_tokens.weight, m6.model.embed_tokens.weight)
    tok = AutoTokenizer.from_pretrained(cks[-1][1])
    assert tok.chat_template and tok.eos_token_id is not None
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3, 4, 5, 6]
    done = json.loads((run_dir / "DONE").read_text())
    assert done["step"] == 6 and done["weights_hash"] == weights_hash(cks[-1][1])
    resolved = (run_dir / "resolved_config.yaml").read_text()
    assert (
        "lr: 0.002  # cli" in resolved
        and "micro_batch: 2  # file" in resolved
        and "shuffle: false  # default" in resolved
    )


def test_occupied_output_folder_refused_unless_resume_or_overwrite(make_cfg):
    cfg = make_cfg(schedule={"max_steps": 1}, checkpoints={"every": 1})
    first = train(cfg, progress=False)
    with pytest.raises(RsftError, match="already holds another training run") as e:
        train(cfg, progress=False)
    assert "--resume" in e.value.render() and "--overwrite" in e.value.render()
    again = train(cfg, resume=True, progress=False)  # a finished run is returned as is
    assert again.weights_hash == first.weights_hash and again.final_loss is None
    over = train(cfg, overwrite=True, progress=False)
    assert over.weights_hash == first.weights_hash  # same config and seed -> same weights


def test_overwrite_refuses_a_folder_that_is_not_a_run(make_cfg):
    cfg = make_cfg()
    cfg.run_dir().mkdir(parents=True)
    (cfg.run_dir() / "precious.txt").write_text("x")
    with pytest.raises(RsftError, match="does not hold an rsft run"):
        train(cfg, overwrite=True, progress=False)
    with pytest.raises(RsftError, match="other files"):
        train(cfg, progress=False)


def test_lora_checkpoints_hold_merged_weights(make_cfg, tiny_model_dir):
    """LoRA checkpoints load as plain models and equal peft's own merge of the trained adapter."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    cfg = make_cfg(model={"lora": {"r": 4, "alpha": 8}}, schedule={"max_steps": 2}, checkpoints={"every": 1})
    res = train(cfg, progress=False)
    final = AutoModelForCausalLM.from_pretrained(res.checkpoints[-1][1])
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    state = torch.load(next(res.run_dir.glob("train_state/step_*/pytorch_model.bin")))
    peft_model.load_state_dict(state)
    merged = peft_model.merge_and_unload().state_dict()
    got = final.state_dict()
    assert set(got) == set(merged)
    for k, v in merged.items():
        torch.testing.assert_close(got[k], v, rtol=1e-6, atol=1e-7)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(got[q], AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()[q])


def test_trainer_is_invariant_to_micro_batch_and_packing(make_cfg):
    """Whole training runs: micro-batch 1 x 4 accumulation, 4 x 1, and packed, give the same weights."""
    from transformers import AutoModelForCausalLM

    finals = []
    for i, (micro, packing) in enumerate([(4, False), (1, False), (4, True)]):
        cfg = make_cfg(
            schedule={"global_batch": 4, "micro_batch": micro, "max_steps": 3},
            checkpoints={"every": 3},
            packing=packing,
            run_name=f"r{i}",
        )
        finals.append(
            AutoModelForCausalLM.from_pretrained(train(cfg, progress=False).checkpoints[-1][1]).state_dict()
        )
    for other in finals[1:]:
        for k, v in finals[0].items():
            torch.testing.assert_close(other[k], v, rtol=0, atol=2e-5)


def test_keep_policy_gradient_checkpointing_and_bf16(make_cfg):
    from safetensors import safe_open

    over = dict(schedule={"global_batch": 4, "max_steps": 4}, checkpoints={"every": 1, "keep": 2})
    plain = train(make_cfg(**over, run_name="plain"), progress=False)
    assert [s for s, _ in plain.checkpoints] == [0, 3, 4]  # the base model is always kept
    gc = train(make_cfg(**over, model={"gradient_checkpointing": True}, run_name="gc"), progress=False)
    assert gc.weights_hash == plain.weights_hash  # recomputing activations changes nothing in fp32
    bf = train(make_cfg(**over, model={"dtype": "bfloat16"}, run_name="bf"), progress=False)
    with safe_open(bf.checkpoints[-1][1] / "model.safetensors", "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    assert bf.final_loss == pytest.approx(plain.final_loss, abs=0.05)


def test_missing_tracker_package_is_named(make_cfg):
    import importlib.util

    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed")
    with pytest.raises(RsftError, match="pip install wandb"):
        train(make_cfg(logging={"wandb": True}), progress=False)


def test_chunked_loss_trains_the_same_weights(make_cfg):
    """loss.chunked (rsft.train.kernels: CE from hidden states, chunk by chunk) changes memory, not the result."""
    from transformers import AutoModelForCausalLM

    over = dict(schedule={"global_batch": 4, "max_steps": 2}, checkpoints={"every": 2})
    plain = train(make_cfg(**over, run_name="plain"), progress=False)
    chunked = train(
        make_cfg(**over, loss={"chunked": True, "weighting": "weight"}, run_name="c"), progress=False
    )
    weighted = train(make_cfg(**over, loss={"weighting": "weight"}, run_name="w"), progress=False)
    assert chunked.final_loss == pytest.approx(weighted.final_loss, rel=1e-5)
    assert weighted.final_loss != pytest.approx(plain.final_loss, rel=1e-3)
    a = AutoModelForCausalLM.from_pretrained(weighted.checkpoints[-1][1]).state_dict()
    b = AutoModelForCausalLM.from_pretrained(chunked.checkpoints[-1][1]).state_dict()
    assert set(a) == set(b)
    for k, v in a.items():
        torch.testing.assert_close(b[k], v, rtol=0, atol=1e-5)
