"""Core contracts: errors, configs, the chat contract, the tiny model kit, the CLI skeleton."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rsft._util.errors import ConfigError, DataError
from rsft.chat import render_prompt, split_thinking
from rsft.config import StrictModel, load_config


class _Inner(StrictModel):
    lr: float = 1e-5
    epochs: int = 1


class _Cfg(StrictModel):
    name: str
    train: _Inner = _Inner()


def test_config_rejects_unknown_keys_and_reports_all(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  lr: fast\n  epochz: 3\nextra: 1\n")
    with pytest.raises(ConfigError) as ei:
        load_config(p, _Cfg)
    keys = {pr.key for pr in ei.value.problems}
    assert keys == {"name", "train.lr", "train.epochz", "extra"}
    assert str(p) in ei.value.render()


def test_config_dotted_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: a\n")
    cfg = load_config(p, _Cfg, ["train.lr=1e-4", "train.epochs=8", "name=b"])
    assert (cfg.name, cfg.train.lr, cfg.train.epochs) == ("b", 1e-4, 8)


def test_error_names_file_row_field():
    e = DataError("empty response", file="x.jsonl", row=3, field="response", fix="drop the row")
    assert e.render().startswith("file x.jsonl, row 3, field 'response': empty response")
    assert "fix: drop the row" in e.render()


@pytest.mark.parametrize(
    "text,thinking,answer,truncated",
    [
        ("<think>a</think> b", "a", "b", False),
        ("<think>a b c", "a b c", "", True),
        ("plain", "", "plain", False),
        ("pre-filled</think>ans", "pre-filled", "ans", False),
        ("<think>x </think> y </think> z", "x </think> y", "z", False),
    ],
)
def test_split_thinking(text, thinking, answer, truncated):
    s = split_thinking(text)
    assert (s.thinking, s.answer, s.truncated) == (thinking, answer, truncated)


def test_tiny_kit_roundtrip(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompt = render_prompt(tok, [{"role": "user", "content": "2+2?"}])
    assert prompt.endswith("<|im_start|>assistant\n")
    ids = tok(prompt + "<think>", add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids[-1]) == "<think>"
    assert model.config.vocab_size == len(tok)


def test_missing_chat_template_is_user_error(tiny_tokenizer):
    from rsft._util.errors import RsftError

    class NoTemplate:
        chat_template = None
        name_or_path = "base-model"

    with pytest.raises(RsftError, match="no chat template"):
        render_prompt(NoTemplate(), [{"role": "user", "content": "x"}])


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "missing.yaml"],
        ["study", "plan", "missing.yaml"],
        ["eval", "--model", "missing-dir", "--suite", "nope", "--store", "s"],
    ],
)
def test_cli_user_errors_exit_2_without_traceback(argv, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "rsft.cli.main", *argv], capture_output=True, text=True, cwd=tmp_path
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "error" in r.stderr.lower()
