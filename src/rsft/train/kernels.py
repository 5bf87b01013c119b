"""Training kernels: chunked linear cross-entropy, variable-length attention for packing, checkpointing, compile.

* :func:`linear_cross_entropy` computes the weighted NLL straight from final hidden states and the output-head
  weight, ``chunk`` tokens at a time: full-vocabulary logits exist for one chunk only, in the forward *and* the
  backward (the gradient of each chunk is formed right after its loss, Liger-style, and scaled by the upstream
  gradient later). :func:`chunked_micro_batch_loss` is a drop-in replacement for
  :func:`rsft.train.loss.micro_batch_loss` built on it (after :func:`enable_chunked_loss`). On CUDA, when
  ``liger-kernel`` is importable and every token weighs the same, Liger's fused Triton kernel is used instead.
* :func:`document_ids`, :func:`document_block_mask`, :func:`document_dense_mask`, :func:`cu_seqlens` and
  :func:`packed_attention` give attention *within* each packed row only (FlexAttention block mask, a dense SDPA
  mask from the same rule, or FlashAttention-2 varlen). :func:`packing_attn_implementation` picks the transformers
  attention implementation that honours packed position ids.
* :func:`checkpoint_plan` / :func:`apply_checkpointing` checkpoint only as many decoder layers as memory needs;
  :func:`maybe_compile` compiles decoder layers one by one (regional compilation).
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import torch
import torch.nn.functional as F

from rsft.train.data import IGNORE, MicroBatch
from rsft.train.loss import LossParts, process_scale, token_coefficients

# -- chunked cross-entropy ------------------------------------------------------------------------------------------


def _compute_dtype(hidden: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    dev = hidden.device.type
    if torch.is_autocast_enabled(dev):
        return torch.get_autocast_dtype(dev)
    return torch.promote_types(hidden.dtype, weight.dtype)


class _LinearCrossEntropy(torch.autograd.Function):
    """sum_t coef_t * nll_t over chunks of tokens; gradients are formed per chunk during the forward."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, target, coef, dft, ignore_index, chunk):  # noqa: ANN001
        dtype = _compute_dtype(hidden, weight)
        need_h, need_w = hidden.requires_grad, weight.requires_grad
        need_b = bias is not None and bias.requires_grad
        w = weight.to(dtype)
        b = bias.to(dtype) if bias is not None else None
        loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
        nll = torch.zeros(hidden.shape[0], dtype=torch.float32, device=hidden.device)
        grad_h = torch.zeros_like(hidden) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        grad_b = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) if need_b else None
        for s in range(0, hidden.shape[0], chunk):
            h = hidden[s : s + chunk].to(dtype)
            logits = F.linear(h, w, b).float()
            t = target[s : s + chunk]
            valid = t != ignore_index
            tt = t.clamp(min=0)
            lse = torch.logsumexp(logits, dim=-1)
            tok_nll = (lse - logits.gather(-1, tt[:, None])[:, 0]) * valid
            c = coef[s : s + chunk].float() * valid
            if dft:
                c = c * torch.exp(-tok_nll)  # the token's probability, a constant in the gradient
            nll[s : s + chunk] = tok_nll
            loss += (c * tok_nll).sum()
            if need_h or need_w or need_b:
                # d(nll)/d(logits) = softmax - onehot; reuse the logits buffer
                g = logits.sub_(lse[:, None]).exp_()
                g[torch.arange(len(tt), device=g.device), tt] -= 1.0
                g.mul_(c[:, None])
                if need_h:
                    grad_h[s : s + chunk] = (g.to(dtype) @ w).to(hidden.dtype)
                if need_w:
                    grad_w += g.t().to(dtype).matmul(h).float()
                if need_b:
                    grad_b += g.sum(0)
        ctx.save_for_backward(*(x if x is not None else torch.empty(0) for x in (grad_h, grad_w, grad_b)))
        ctx.flags = (need_h, need_w, need_b)
        ctx.mark_non_differentiable(nll)
        return loss, nll

    @staticmethod
    def backward(ctx, grad_loss, _grad_nll):  # noqa: ANN001
        grad_h, grad_w, grad_b = ctx.saved_tensors
        need_h, need_w, need_b = ctx.flags
        out_h = grad_h * grad_loss.to(grad_h.dtype) if need_h else None
        out_w = grad_w * grad_loss if need_w else None
        out_b = grad_b * grad_loss if need_b else None
        return out_h, out_w, out_b, None, None, None, None, None


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    *,
    coef: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    dft: bool = False,
    ignore_index: int = IGNORE,
    chunk: int = 2048,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted token NLL from hidden states and the output head, never holding more than one chunk of logits.

    ``loss = sum_t coef_t * nll_t`` over tokens whose target is not ``ignore_index``; with ``dft`` each term is also
    multiplied by the token's (detached) probability ``exp(-nll_t)`` (Dynamic Fine-Tuning).

    Args:
        hidden: ``[N, H]`` final hidden states (after the last norm).
        weight: ``[V, H]`` output-head weight; ``bias`` its optional ``[V]`` bias.
        target: ``[N]`` next-token ids.
        coef: ``[N]`` per-token weights (default 1).
        chunk: tokens per chunk; logits of one chunk take ``chunk * V * 4`` bytes.

    Returns:
        ``(loss, nll)``: the differentiable scalar and the per-token NLL (detached; 0 at ignored tokens).
    """
    if coef is None:
        coef = torch.ones(target.shape, dtype=torch.float32, device=target.device)
    return _LinearCrossEntropy.apply(hidden, weight, bias, target, coef, dft, ignore_index, chunk)


def _liger_sum(hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """Liger's fused linear cross-entropy (summed), when installed and on CUDA; None otherwise."""
    if hidden.device.type != "cuda" or importlib.util.find_spec("liger_kernel") is None:
        return None
    from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

    return liger_fused_linear_cross_entropy(hidden, weight, target, reduction="sum", ignore_index=IGNORE)


class LossHead(torch.nn.Linear):
    """An output head that can compute the loss itself: with a :attr:`request` set, its forward takes the final
    hidden states of the supervised positions and returns the chunked cross-entropy (a scalar) instead of logits.

    Computing inside the head's forward keeps the loss within the model's own forward, where accelerate / DDP /
    FSDP2 expect every use of a parameter (FSDP2 has the head's weight unsharded there). Parameter names are those
    of ``nn.Linear``, so state dicts and checkpoints are unchanged, and tied weights stay tied.
    """

    request: dict[str, Any] | None = None
    last_nll: torch.Tensor | None = None  # per-token NLL of the last request (None on the Liger path)
    last_nll_sum: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.request
        if r is None:
            return super().forward(x)
        if r["liger"] and self.bias is None:
            summed = _liger_sum(x, self.weight, r["target"])
            if summed is not None:
                self.last_nll = None
                self.last_nll_sum = summed.detach().float()
                return summed * r["coef"][0] if len(r["coef"]) else summed * 0.0
        loss, nll = linear_cross_entropy(
            x, self.weight, r["target"], coef=r["coef"], bias=self.bias, dft=r["dft"], chunk=r["chunk"]
        )
        self.last_nll, self.last_nll_sum = nll, nll.sum()
        return loss


def enable_chunked_loss(model: Any) -> LossHead:
    """Swap ``model``'s output head for a :class:`LossHead` sharing its parameters; returns it (idempotent).

    Call before wrapping the model (accelerate ``prepare``, peft, FSDP2); the head behaves as before until
    :func:`chunked_micro_batch_loss` sets a request.
    """
    head = model.get_output_embeddings()
    if isinstance(head, LossHead):
        return head
    new = LossHead.__new__(LossHead)
    torch.nn.Module.__init__(new)
    new.in_features, new.out_features = head.in_features, head.out_features
    new.weight, new.bias = head.weight, head.bias
    model.set_output_embeddings(new)
    return new


def _find_head(model: Any) -> LossHead:
    for m in model.modules():
        if isinstance(m, LossHead):
            return m
    raise RuntimeError("call rsft.train.kernels.enable_chunked_loss(model) before chunked_micro_batch_loss")


def chunked_micro_batch_loss(
    model: Any,
    mb: MicroBatch,
    *,
    reduction: str,
    weighting: str,
    global_tokens: int,
    global_rows: int,
    processes: int = 1,
    chunk: int = 2048,
) -> LossParts:
    """:func:`rsft.train.loss.micro_batch_loss` without full-vocabulary logits (same arguments, same result).

    The model runs through its own ``__call__`` (accelerate / DDP / FSDP2 wrappers see a normal forward); its
    :class:`LossHead` receives the hidden states of the supervised positions and returns the loss. Every reduction
    and weighting is a per-token coefficient on the NLL. On CUDA with ``liger-kernel`` installed, equal
    coefficients (``weighting: none`` with ``token_mean`` or ``paper``) use Liger's fused kernel.
    """
    head = _find_head(model)
    keep = mb.target != IGNORE
    coef = token_coefficients(mb, keep, reduction=reduction, weighting=weighting,
                              global_tokens=global_tokens, global_rows=global_rows)  # fmt: skip
    liger = weighting == "none" and reduction != "sequence_mean"
    head.request = {"target": mb.target[keep], "coef": coef, "dft": weighting == "dft", "chunk": chunk,
                    "liger": liger}  # fmt: skip
    try:
        out = model(
            input_ids=mb.input_ids,
            attention_mask=mb.attention_mask,
            position_ids=mb.position_ids,
            logits_to_keep=keep,
            use_cache=False,
        )
    finally:
        head.request = None
    share = out.logits.reshape(())
    return LossParts(share * process_scale(reduction, processes), share.detach(), head.last_nll_sum)


# -- variable-length attention for packed rows -----------------------------------------------------------------------


def document_ids(position_ids: torch.Tensor) -> torch.Tensor:
    """Per-token document index within each packed sequence: a new document starts where the position is 0."""
    return (position_ids == 0).long().cumsum(-1) - 1


def _doc_causal(doc: torch.Tensor):  # noqa: ANN202
    def mask_mod(b, h, q, k):  # noqa: ANN001, ANN202
        return (q >= k) & (doc[b, q] == doc[b, k])

    return mask_mod


def document_block_mask(doc: torch.Tensor, *, block_size: int = 128) -> Any:
    """A FlexAttention ``BlockMask``: causal attention inside each document of ``doc`` ``[B, L]`` only."""
    from torch.nn.attention.flex_attention import create_block_mask

    B, L = doc.shape
    return create_block_mask(_doc_causal(doc), B, None, L, L, device=doc.device, BLOCK_SIZE=block_size)


def document_dense_mask(doc: torch.Tensor) -> torch.Tensor:
    """The same rule as :func:`document_block_mask` as a dense boolean mask ``[B, 1, L, L]`` (for SDPA)."""
    from torch.nn.attention.flex_attention import create_mask

    B, L = doc.shape
    return create_mask(_doc_causal(doc), B, 1, L, L, device=doc.device)


def cu_seqlens(position_ids: torch.Tensor) -> tuple[torch.Tensor, int]:
    """FlashAttention varlen boundaries of the flattened packed rows: (int32 cumulative lengths, longest row)."""
    flat = position_ids.reshape(-1)
    starts = torch.nonzero(flat == 0)[:, 0]
    ends = torch.cat([starts[1:], torch.tensor([flat.numel()], device=flat.device)])
    cu = torch.cat([torch.zeros(1, dtype=torch.int32, device=flat.device), ends.to(torch.int32)])
    return cu, int((ends - starts).max())


def packed_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, position_ids: torch.Tensor, *, backend: str = "auto"
) -> torch.Tensor:
    """Causal attention of packed rows ``[B, heads, L, D]`` restricted to each row's own document.

    Args:
        position_ids: ``[B, L]``, restarting at 0 where a packed row begins (rsft's packed collate).
        backend: "flash" (FlashAttention-2 varlen, CUDA), "flex" (FlexAttention block mask), "sdpa" (dense mask)
            or "auto" (flash when importable on CUDA, else flex on CUDA, else sdpa).
    """
    if backend == "auto":
        on_cuda = q.device.type == "cuda"
        backend = "flash" if on_cuda and _has("flash_attn") else ("flex" if on_cuda else "sdpa")
    kv_groups = q.shape[1] // k.shape[1]
    if backend == "flash":
        from flash_attn import flash_attn_varlen_func

        B, H, L, D = q.shape
        cu, longest = cu_seqlens(position_ids)
        flat = lambda x: x.transpose(1, 2).reshape(B * L, x.shape[1], D)  # noqa: E731
        out = flash_attn_varlen_func(flat(q), flat(k), flat(v), cu, cu, longest, longest, causal=True)
        return out.reshape(B, L, H, D).transpose(1, 2)
    doc = document_ids(position_ids)
    if backend == "flex":
        from torch.nn.attention.flex_attention import flex_attention

        return flex_attention(q, k, v, block_mask=document_block_mask(doc), enable_gqa=kv_groups > 1)
    if backend == "sdpa":
        mask = document_dense_mask(doc)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=kv_groups > 1)
    raise ValueError(f"unknown attention backend {backend!r}")


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def packing_attn_implementation(device: str | torch.device) -> str:
    """The transformers ``attn_implementation`` for packed rows: flash_attention_2 when installed (varlen from
    position ids), else flex_attention on CUDA (document block mask), else sdpa (transformers derives the
    block-diagonal mask from the position ids)."""
    if torch.device(device).type != "cuda":
        return "sdpa"
    return "flash_attention_2" if _has("flash_attn") else "flex_attention"


# -- activation checkpointing and compilation ------------------------------------------------------------------------


def activation_bytes_per_layer(config: Any, tokens: int) -> int:
    """Bytes one transformers decoder layer keeps for backward over ``tokens`` tokens, under bf16 autocast with
    fp32 weights (the residual stream and the RMSNorm inputs stay fp32): per token ``12 H`` (two norms: fp32 input,
    bf16 output), ``8 q`` (fp32 q-norm input, rotated q, attention output), ``8 kv`` (k likewise, v) and ``8 I``
    (gate, up, activation, product). Flash / flex / memory-efficient attention keeps no score matrix."""
    h, i = config.hidden_size, config.intermediate_size
    head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
    q = config.num_attention_heads * head_dim
    kv = config.num_key_value_heads * head_dim
    return tokens * (12 * h + 8 * q + 8 * kv + 8 * i)


def checkpoint_plan(config: Any, tokens: int, budget_bytes: int | None) -> list[int]:
    """Which decoder layers to checkpoint so kept activations fit ``budget_bytes``, spread evenly over depth.

    A checkpointed layer keeps only its fp32 input (``4 * hidden * tokens`` bytes). ``None`` budget = none
    checkpointed (fastest: no recompute). Returns sorted layer indices.
    """
    n = config.num_hidden_layers
    full = activation_bytes_per_layer(config, tokens)
    small = 4 * config.hidden_size * tokens
    if budget_bytes is None or n * full <= budget_bytes:
        return []
    # k checkpointed layers: (n - k) * full + k * small <= budget
    k = min(max(math.ceil((n * full - budget_bytes) / (full - small)), 0), n)
    return sorted({round((j + 0.5) * n / k - 0.5) for j in range(k)}) if k else []


def apply_checkpointing(model: Any, layers: list[int]) -> None:
    """Checkpoint exactly the decoder ``layers`` (non-reentrant), leaving the others' activations in memory."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    if layers:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    chosen = set(layers)
    for i, layer in enumerate(decoder.layers):
        layer.gradient_checkpointing = i in chosen


def maybe_compile(model: Any, enabled: bool, *, allow_cpu: bool = False, **kwargs: Any) -> Any:
    """Compile each decoder layer in place (regional compilation: one graph reused by every layer, fast to
    compile, composes with checkpointing and FSDP2) when ``enabled`` and on CUDA (or ``allow_cpu``)."""
    if not enabled:
        return model
    device = next(model.parameters()).device
    if device.type != "cuda" and not allow_cpu:
        return model
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    for layer in decoder.layers:
        layer.compile(**kwargs)
    return model
