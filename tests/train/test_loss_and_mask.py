"""The prompt/response mask, the loss by hand, token_mean invariance, and packed = unpacked."""

from __future__ import annotations

import math

import pytest
import torch

from rsft.chat import render_prompt
from rsft.data.schemas import SFTRow
from rsft.train.data import IGNORE, collate, encode_rows
from rsft.train.loss import micro_batch_loss


def _rows() -> list[SFTRow]:
    return [
        SFTRow(
            [{"role": "user", "content": "Compute 3+5."}],
            "<think>3+5=8. Verify: 8.</think> The answer is 8",
            2.0,
        ),
        SFTRow([{"role": "user", "content": "Sort 5 3 9 1"}], "<think>1 3 5 9</think> 1 3 5 9", 0.5),
        SFTRow([{"role": "user", "content": "Compute 12+34-5."}], "12+34=46; 46-5=41. Answer: 41", 1.0),
        SFTRow([{"role": "user", "content": "Hi"}], "", 1.0),  # empty response: only EOS is learned
    ]


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)


def test_mask_covers_exactly_the_response_and_eos(tiny_tokenizer):
    tok = tiny_tokenizer
    rows = _rows()
    enc = encode_rows(tok, rows, max_length=512, overlong="truncate", use_weights=False)
    for row, e in zip(rows, enc.rows, strict=True):
        prompt = render_prompt(tok, row.messages)
        assert prompt.endswith("<|im_start|>assistant\n")
        assert tok.decode(e.ids[: e.n_prompt]) == prompt
        assert tok.decode(e.ids[e.n_prompt :]) == row.response + "<|im_end|>"
        assert e.ids[-1] == tok.eos_token_id
        mb = collate([e], pad_id=tok.pad_token_id)
        supervised = mb.target[0][mb.target[0] != IGNORE].tolist()
        assert supervised == e.ids[e.n_prompt :].tolist()
        # the template's own {% generation %} markers agree: the assistant turn is the response plus <|im_end|>
        full = tok.apply_chat_template(
            [*row.messages, {"role": "assistant", "content": row.response}],
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        ids = full["input_ids"]
        assistant = [t for t, m in zip(ids, full["assistant_masks"], strict=True) if m]
        assert assistant == supervised
    assert tok.convert_tokens_to_ids("<think>") in enc.rows[0].ids[enc.rows[0].n_prompt :]


def _by_hand(model, rows, kind: str, weighting: str = "none") -> float:
    """Token losses from each row's own unpadded forward pass, reduced with Python floats."""
    per_row = []
    for r in rows:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([r.ids.tolist()])).logits[0].double()
        losses = []
        for t in range(r.n_prompt - 1, len(r.ids) - 1):
            row_logits = logits[t].tolist()
            m = max(row_logits)
            logz = m + math.log(sum(math.exp(x - m) for x in row_logits))
            nll = logz - row_logits[int(r.ids[t + 1])]
            w = {"none": 1.0, "weight": r.weight, "dft": math.exp(-nll)}[weighting]
            losses.append(w * nll)
        per_row.append(losses)
    if kind == "token_mean":
        return sum(map(sum, per_row)) / sum(map(len, per_row))
    return sum(sum(x) / len(x) for x in per_row) / len(per_row)


@pytest.mark.parametrize(
    ("reduction", "weighting"),
    [("token_mean", "none"), ("sequence_mean", "none"), ("token_mean", "weight"), ("token_mean", "dft")],
)
def test_two_row_loss_equals_hand_computation(tiny_tokenizer, model, reduction, weighting):
    enc = encode_rows(tiny_tokenizer, _rows()[:2], max_length=512, overlong="truncate", use_weights=True)
    rows = enc.rows
    assert len(rows[0].ids) != len(rows[1].ids)  # padding is exercised
    mb = collate(rows, pad_id=tiny_tokenizer.pad_token_id)
    n = sum(r.n_supervised for r in rows)
    got = micro_batch_loss(
        model, mb, reduction=reduction, weighting=weighting, global_tokens=n, global_rows=2
    )
    assert float(got.loss.detach()) == pytest.approx(_by_hand(model, rows, reduction, weighting), rel=1e-5)


def _grads(model, tok, rows, micro: int, reduction: str, *, packing: bool = False, max_length: int = 0):
    model.zero_grad(set_to_none=True)
    n = sum(r.n_supervised for r in rows)
    total = 0.0
    for i in range(0, len(rows), micro):
        mb = collate(rows[i : i + micro], pad_id=tok.pad_token_id, packing=packing, max_length=max_length)
        parts = micro_batch_loss(
            model, mb, reduction=reduction, weighting="none", global_tokens=n, global_rows=len(rows)
        )
        parts.loss.backward()
        total += float(parts.objective)
    return total, [p.grad.clone() for p in model.parameters()]


def test_token_mean_is_invariant_to_micro_batch_and_accumulation(tiny_tokenizer, model):
    rows = encode_rows(tiny_tokenizer, _rows(), max_length=512, overlong="truncate", use_weights=False).rows
    ref_loss, ref = _grads(model, tiny_tokenizer, rows, 4, "token_mean")
    for micro in (1, 2):
        loss, grads = _grads(model, tiny_tokenizer, rows, micro, "token_mean")
        assert loss == pytest.approx(ref_loss, rel=1e-6)
        for a, b in zip(grads, ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    # the paper's reduction is not invariant (it sums micro-batch means): the comparison above can fail
    p4, _ = _grads(model, tiny_tokenizer, rows, 4, "paper")
    p1, _ = _grads(model, tiny_tokenizer, rows, 1, "paper")
    assert p4 == pytest.approx(ref_loss, rel=1e-6) and p1 > 3 * p4


@pytest.mark.parametrize("reduction", ["token_mean", "sequence_mean"])
def test_packed_batch_equals_unpacked(tiny_tokenizer, model, reduction):
    rows = encode_rows(tiny_tokenizer, _rows(), max_length=512, overlong="truncate", use_weights=False).rows
    longest = max(len(r.ids) for r in rows)
    packed = collate(rows, pad_id=tiny_tokenizer.pad_token_id, packing=True, max_length=longest + 12)
    assert packed.input_ids.shape[0] < len(rows)  # several rows really share a sequence
    loss_u, grads_u = _grads(model, tiny_tokenizer, rows, 4, reduction)
    loss_p, grads_p = _grads(model, tiny_tokenizer, rows, 4, reduction, packing=True, max_length=longest + 12)
    assert loss_p == pytest.approx(loss_u, abs=1e-5)
    for a, b in zip(grads_p, grads_u, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_packing_without_position_restart_would_differ(tiny_tokenizer, model):
    """Guard: if rows could attend across their boundary the loss would change, so the equality above means
    something."""
    rows = encode_rows(
        tiny_tokenizer, _rows()[:2], max_length=512, overlong="truncate", use_weights=False
    ).rows
    mb = collate(rows, pad_id=tiny_tokenizer.pad_token_id, packing=True, max_length=1024)
    assert mb.input_ids.shape[0] == 1
    n = sum(r.n_supervised for r in rows)
    ok = micro_batch_loss(model, mb, reduction="token_mean", weighting="none", global_tokens=n, global_rows=2)
    mb.position_ids = torch.arange(mb.input_ids.shape[1]).unsqueeze(
        0
    )  # one long sequence: cross-row attention
    leak = micro_batch_loss(
        model, mb, reduction="token_mean", weighting="none", global_tokens=n, global_rows=2
    )
    assert abs(float(ok.objective) - float(leak.objective)) > 1e-4
