"""The SFT loss: per-token negative log-likelihood on supervised positions, weighted, then reduced.

Reductions (``loss.reduction``), for a global batch of R rows with N supervised tokens in total:

* ``token_mean`` (default): sum of token losses / N. Each micro-batch contributes ``sum(its token losses) / N``,
  with N counted over the *whole* global batch before the step, so the gradient does not depend on micro-batch
  size, accumulation or the number of processes.
* ``sequence_mean``: each row's token mean, averaged over the R rows.
* ``paper``: the token mean within each micro-batch, summed over accumulation steps (and averaged over processes,
  as data-parallel gradient averaging does) — the quirk of the paper's trainer, kept for reproduction.

Weighting (``loss.weighting``): ``weight`` multiplies a row's token losses by its weight (the paper's ``advantage``
column); ``dft`` multiplies each token loss by its (detached) probability, Dynamic Fine-Tuning (Wu et al., 2025).
Counts are not re-normalised by the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from rsft.train.data import IGNORE, MicroBatch


@dataclass
class LossParts:
    """``loss`` is what to backpropagate; ``objective`` its detached value for logging (before the process-count
    factor); ``nll_sum`` the unweighted NLL summed over this micro-batch's supervised tokens."""

    loss: torch.Tensor
    objective: torch.Tensor
    nll_sum: torch.Tensor


def forward_logits(model: Any, mb: MicroBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of supervised positions only (``logits_to_keep`` as a boolean mask: no full-vocabulary logits for
    prompt or padding positions) and the matching flat keep-mask."""
    keep = mb.target != IGNORE
    # right padding under causal attention needs no mask (see rsft.train.data.collate); packed rows are separated
    # by their restarting position ids
    inputs = dict(input_ids=mb.input_ids, attention_mask=None, position_ids=mb.position_ids)
    try:
        out = model(**inputs, logits_to_keep=keep, use_cache=False)
    except TypeError:  # an architecture without logits_to_keep: full logits, selected below
        out = model(**inputs, use_cache=False)
    logits = out.logits
    if logits.dim() == 3:  # older transformers ignore a boolean mask and return every position
        logits = logits[keep]
    return logits, keep


@dataclass
class Reduction:
    """How one micro-batch's token losses become its share of the global-batch objective: each token loss times its
    row's weight (when weighted), divided by its row's token count (``sequence_mean``), summed, divided by
    ``divisor`` (global tokens, global rows, or this micro-batch's tokens for ``paper``)."""

    row_weight: torch.Tensor | None
    row_tokens: torch.Tensor | None
    divisor: int


def reduction_of(
    mb: MicroBatch, keep: torch.Tensor, *, reduction: str, weighting: str, global_tokens: int, global_rows: int
) -> Reduction:
    """The one place the reduction and the row weighting are decided; the plain loss below and the chunked loss of
    :mod:`rsft.train.kernels` (through :func:`token_coefficients`) both follow it. ``dft`` is applied by each
    path on top, because it depends on the NLL."""
    seg = mb.seg[keep]
    weight = mb.weights.to(seg.device)[seg] if weighting == "weight" else None
    if reduction == "token_mean":
        return Reduction(weight, None, global_tokens)
    if reduction == "sequence_mean":
        return Reduction(weight, mb.ntok.to(seg.device)[seg], global_rows)
    if reduction == "paper":
        return Reduction(weight, None, max(int(keep.sum()), 1))
    raise ValueError(f"unknown reduction {reduction!r}")


def token_coefficients(
    mb: MicroBatch, keep: torch.Tensor, *, reduction: str, weighting: str, global_tokens: int, global_rows: int
) -> torch.Tensor:
    """Each supervised token's factor in the micro-batch's share of the objective (:func:`reduction_of` as one
    tensor, for losses computed chunk by chunk)."""
    r = reduction_of(
        mb, keep, reduction=reduction, weighting=weighting, global_tokens=global_tokens, global_rows=global_rows
    )
    seg = mb.seg[keep]
    w = r.row_weight if r.row_weight is not None else torch.ones(seg.shape, dtype=torch.float32, device=seg.device)
    if r.row_tokens is not None:
        return w / (r.row_tokens.float() * r.divisor)
    return w / r.divisor


def process_scale(reduction: str, processes: int) -> int:
    """Data-parallel gradients are averaged over processes; every reduction but ``paper`` scales its share back up
    so the objective does not depend on the process count (``paper`` keeps the average, as its trainer did)."""
    return 1 if reduction == "paper" else processes


def micro_batch_loss(
    model: Any,
    mb: MicroBatch,
    *,
    reduction: str,
    weighting: str,
    global_tokens: int,
    global_rows: int,
    processes: int = 1,
) -> LossParts:
    """Loss of one micro-batch as its share of the global-batch objective.

    Args:
        model: a causal LM (possibly wrapped by accelerate / peft).
        mb: the micro-batch.
        reduction: token_mean | sequence_mean | paper.
        weighting: none | weight | dft.
        global_tokens: supervised tokens in the whole global batch (all processes, all micro-batches).
        global_rows: rows in the whole global batch.
        processes: data-parallel processes; gradients are averaged over them, so shares are scaled back up.
    """
    logits, keep = forward_logits(model, mb)
    targets = mb.target[keep]
    nll = F.cross_entropy(logits.float(), targets, reduction="none")
    r = reduction_of(
        mb, keep, reduction=reduction, weighting=weighting, global_tokens=global_tokens, global_rows=global_rows
    )
    tok = nll
    if weighting == "dft":
        tok = tok * torch.exp(-nll).detach()
    elif r.row_weight is not None:
        tok = tok * r.row_weight.to(tok.device)
    if r.row_tokens is not None:
        tok = tok / r.row_tokens.to(tok.device)
    share = tok.sum() / r.divisor
    return LossParts(share * process_scale(reduction, processes), share.detach(), nll.detach().sum())
