"""Rows -> token ids and loss targets -> micro-batches (padded or packed).

Tokenization is the train/eval contract: the prompt is :func:`rsft.chat.render_prompt` on the row's messages
(template with ``add_generation_prompt=True``, the model's :class:`~rsft.chat.PromptFormat`), tokenized without
extra special tokens (the template carries its own); the response is tokenized *without* special tokens and followed
by the tokenizer's EOS id (a base model's ``<|endoftext|>``, a chat model's end-of-turn token). When the prompt
already opened ``<think>`` (DeepSeek-R1 distills) the response's own opening tag is dropped
(:func:`rsft.chat.align_response`). Only response
tokens and that EOS are supervised. Prompt and response are tokenized separately, so a merge across their boundary
can never blur which tokens are supervised.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rsft._util.errors import DataError, RsftError
from rsft._util.hashing import canonical_json
from rsft.chat import PromptFormat, align_response, prompt_closes_thinking, render_prompt

IGNORE = -100


@dataclass
class Encoded:
    """One training row as token ids.

    Attributes:
        ids: prompt + response + EOS (right-truncated to max_length when ``overlong: truncate``).
        n_prompt: number of prompt tokens at the start of ``ids``; ``ids[n_prompt:]`` are supervised.
        weight: the row's weight (1.0 unless ``loss.weighting: weight``).
        source_row: index of the row in the data file.
    """

    ids: np.ndarray
    n_prompt: int
    weight: float
    source_row: int

    @property
    def n_supervised(self) -> int:
        return len(self.ids) - self.n_prompt


@dataclass
class EncodedData:
    rows: list[Encoded]
    n_source: int
    truncated: int = 0
    skipped: int = 0
    data_hash: str = ""
    notes: list[str] = field(default_factory=list)


def data_hash(rows: list[Any]) -> str:
    """Content hash of SFT rows (their on-disk records), independent of file format and path."""
    h = hashlib.sha256()
    for r in rows:
        h.update(canonical_json(r.to_record()).encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def encode_rows(
    tokenizer: Any,
    rows: list[Any],
    *,
    max_length: int,
    overlong: str,
    use_weights: bool,
    source: str = "<data>",
    fmt: PromptFormat | None = None,
) -> EncodedData:
    """Tokenize SFT rows into :class:`Encoded` rows.

    Args:
        tokenizer: the base model's tokenizer (with a chat template).
        rows: ``SFTRow`` objects.
        max_length: longest sequence (prompt + response + EOS) in tokens.
        overlong: "truncate" (cut on the right, counted) or "skip" (drop, counted).
        use_weights: keep each row's ``weight``; otherwise every row weighs 1.0.
        source: file name for error messages.
        fmt: system-prompt policy and template variables (default: the template as is).

    Raises:
        RsftError: no chat template, or no EOS token.
        DataError: a row has a non-finite weight; a response thinks although the prompt closed thinking
            (``enable_thinking: false``); or no row is left.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise RsftError(
            f"tokenizer '{getattr(tokenizer, 'name_or_path', '?')}' has no EOS token",
            field="model.path",
            fix="use a tokenizer with an eos_token (the response is followed by it)",
        )
    prompts = [render_prompt(tokenizer, r.messages, fmt) for r in rows]
    responses = [align_response(p, r.response) for p, r in zip(prompts, rows, strict=True)]
    for i, (p, resp) in enumerate(zip(prompts, responses, strict=True)):
        if prompt_closes_thinking(p) and "<think>" in resp:
            raise DataError(
                "the response opens <think> but the prompt already closed thinking (an empty thinking block)",
                file=source,
                row=i,
                field="response",
                fix="train long-CoT rows with thinking enabled (model.chat_template_kwargs.enable_thinking: true)",
            )
    p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"] if rows else []
    r_ids = tokenizer(responses, add_special_tokens=False)["input_ids"] if rows else []
    out = EncodedData(rows=[], n_source=len(rows), data_hash=data_hash(rows))
    prompt_too_long = 0
    for i, (row, p, r) in enumerate(zip(rows, p_ids, r_ids, strict=True)):
        weight = float(row.weight) if use_weights else 1.0
        if not math.isfinite(weight):
            raise DataError(
                f"weight is {row.weight}", file=source, row=i, field="weight", fix="use a finite number"
            )
        ids = [*p, *r, eos]
        if len(ids) > max_length:
            if overlong == "skip" or len(p) >= max_length:
                out.skipped += 1
                prompt_too_long += len(p) >= max_length and overlong != "skip"
                continue
            ids = ids[:max_length]
            out.truncated += 1
        out.rows.append(Encoded(np.asarray(ids, dtype=np.int64), len(p), weight, i))
    if prompt_too_long:
        out.notes.append(f"{prompt_too_long} rows skipped: their prompt alone fills data.max_length")
    if not out.rows:
        raise DataError(
            f"no training row left ({out.skipped} of {len(rows)} longer than max_length={max_length})",
            file=source,
            field="data.max_length",
            fix="raise data.max_length or use data.overlong=truncate",
        )
    return out


@dataclass
class MicroBatch:
    """Model inputs for one forward pass and the targets of its supervised positions.

    ``target[s, t]`` is the token to predict from position ``t`` (``IGNORE`` where nothing is supervised);
    ``seg[s, t]`` is the index (within ``weights``/``ntok``) of the row that position belongs to.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    attention_mask: torch.Tensor | None
    target: torch.Tensor
    seg: torch.Tensor
    weights: torch.Tensor
    ntok: torch.Tensor

    @property
    def n_tokens(self) -> int:
        return int(self.ntok.sum())

    def to(self, device: Any) -> MicroBatch:
        move = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        return MicroBatch(**move)


def _place(ids: np.ndarray, n_prompt: int, target: torch.Tensor, seg: torch.Tensor, s: int, o: int, r: int):
    """Write one row's next-token targets at offset ``o`` of sequence ``s``: position t predicts ids[t+1]."""
    n = len(ids)
    # positions n_prompt-1 .. n-2 predict the response tokens and EOS (ids[n_prompt:])
    target[s, o + n_prompt - 1 : o + n - 1] = torch.from_numpy(ids[n_prompt:])
    seg[s, o + n_prompt - 1 : o + n - 1] = r


def collate(rows: list[Encoded], *, pad_id: int, packing: bool = False, max_length: int = 0) -> MicroBatch:
    """Build one micro-batch.

    Unpacked: one row per sequence, right-padded. No attention mask is passed: with causal attention a real token
    never sees the padding after it, and padded positions carry no loss, so the result is exact and the fast
    causal kernel is used (``attention_mask`` is kept on the batch for other uses). Packed: rows placed first-fit
    (in order) into as few sequences of at most ``max_length`` tokens as possible; position ids restart at 0 for
    each row, so transformers derives a block-diagonal causal mask from them (variable-length flash attention on
    GPU, a masked sdpa/eager kernel on CPU). Tail padding also restarts its positions, so it forms its own block.
    """
    if packing:
        bins: list[list[int]] = []
        used: list[int] = []
        for i, row in enumerate(rows):
            n = len(row.ids)
            for b, u in enumerate(used):
                if u + n <= max_length:
                    bins[b].append(i)
                    used[b] += n
                    break
            else:
                bins.append([i])
                used.append(n)
    else:
        bins = [[i] for i in range(len(rows))]
        used = [len(r.ids) for r in rows]
    S, L = len(bins), max(used)
    input_ids = torch.full((S, L), pad_id, dtype=torch.long)
    position_ids = torch.zeros((S, L), dtype=torch.long)
    attention_mask = None if packing else torch.zeros((S, L), dtype=torch.long)
    target = torch.full((S, L), IGNORE, dtype=torch.long)
    seg = torch.full((S, L), -1, dtype=torch.long)
    for s, members in enumerate(bins):
        o = 0
        for r in members:
            ids = rows[r].ids
            n = len(ids)
            input_ids[s, o : o + n] = torch.from_numpy(ids)
            position_ids[s, o : o + n] = torch.arange(n)
            _place(ids, rows[r].n_prompt, target, seg, s, o, r)
            o += n
        if attention_mask is not None:
            attention_mask[s, :o] = 1
            position_ids[s, o:] = torch.arange(o, L)
        else:
            position_ids[s, o:] = torch.arange(L - o)
    weights = torch.tensor([r.weight for r in rows], dtype=torch.float32)
    ntok = torch.tensor([r.n_supervised for r in rows], dtype=torch.long)
    return MicroBatch(input_ids, position_ids, attention_mask, target, seg, weights, ntok)
