"""A fast decode path for transformers causal LMs (Qwen3, Qwen2, Llama): slots, a static KV cache, CUDA graphs.

The model's own modules are called in a short hand-written forward (embedding, decoder layers, norm, head) over a
cache this module owns: per layer ``K, V`` of shape ``[slots, kv_heads, max_len, head_dim]`` plus per-slot lengths.
Owning the cache is what makes *continuous refill* simple: when a row finishes, the next prompt is prefilled into its
slot (its stale keys lie beyond the new row's length and are masked) while the other rows keep decoding.

* **Decode step** (one token for every slot): fixed shapes for a given attention width ``Lb`` (the live context,
  rounded up to ``bucket``), so on CUDA each width is captured once as a CUDA graph and replayed (launch overhead
  gone); optionally ``torch.compile`` fuses its elementwise work first. Attention reads ``K[:, :, :Lb]`` only and
  folds grouped-query heads into the query-length axis (no repeated K/V). On CPU the same step runs eagerly.
* **Prefill**: admitted prompts are right-padded into one batch (prompts are sorted by length, so a batch holds
  similar lengths) and run with causal SDPA; right padding never changes a real position's attention.
* **Sampling** (:func:`sample_tokens`): temperature, top-k and top-p in one function, then one inverse-CDF draw per
  row. The uniform of a draw is a counter-based hash of (row seed, token index): a sample depends on its seed and on
  nothing else in the batch, and the draw needs no ``torch.Generator`` state, so it can live inside a CUDA graph.
  Its random stream differs from the ``hf`` backend's per-row ``torch.Generator`` (same distribution, other draws).
* Log-probabilities and entropies are those of the untempered distribution over the whole vocabulary, as in the
  ``hf`` backend (``entropy_kind="full"``).

Greedy decoding in fp32 gives the same tokens as ``model.generate`` (tested on CPU with a tiny Qwen3).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rsft._util.errors import RsftError
from rsft._util.seeding import derive_seed
from rsft.generate.base import (
    Completion,
    GenerateConfig,
    Request,
    row_completion,
    sample_seed,
    temperature_scores,
)

SUPPORTED_MODEL_TYPES = ("qwen3", "qwen2", "llama")
_M32 = 0xFFFFFFFF


# -- sampling -------------------------------------------------------------------------------------------------------


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``x * c mod 2**32`` for ``0 <= x < 2**32`` in int64 without signed overflow (16-bit halves of ``c``)."""
    lo = x * (c & 0xFFFF)
    hi = ((x * (c >> 16)) & 0xFFFF) << 16
    return (lo + hi) & _M32


def _fmix32(x: torch.Tensor) -> torch.Tensor:
    """MurmurHash3's 32-bit finaliser: a bijection with full avalanche."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x85EBCA6B)
    x = x ^ (x >> 13)
    x = _mul32(x, 0xC2B2AE35)
    return x ^ (x >> 16)


def draw_uniform(seeds: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """One uniform in (0, 1) per row, a pure function of (seed, step): the same on any device and in any batch.

    Args:
        seeds: int64 ``[rows]`` (non-negative, up to 63 bits).
        steps: int64 ``[rows]``, the index of the token being drawn.
    """
    lo, hi = seeds & _M32, (seeds >> 32) & _M32
    x = _fmix32(_fmix32(_fmix32(steps & _M32) ^ hi) ^ lo)
    x = _fmix32(x ^ 0x9E3779B9)
    return ((x >> 8).to(torch.float32) + 0.5) * (1.0 / (1 << 24))


def sample_tokens(
    logits: torch.Tensor, uniform: torch.Tensor, *, temperature: float, top_k: int = 0, top_p: float = 1.0
) -> torch.Tensor:
    """Greedy, or one draw per row after temperature, top-k, then top-p (the ``hf`` backend's semantics).

    Top-p keeps the smallest prefix (by probability) whose mass reaches ``top_p`` after top-k renormalisation; the
    draw inverts the cumulative distribution at ``uniform`` times the kept mass.

    Args:
        logits: ``[rows, vocab]``.
        uniform: ``[rows]`` in (0, 1), e.g. from :func:`draw_uniform`.
        temperature: 0 = greedy (``argmax``, the uniform is unused).
        top_k: keep the k most likely tokens (0 = off).
        top_p: nucleus mass (1.0 = off).

    Returns:
        int64 ``[rows]`` token ids.
    """
    if temperature == 0.0:
        return logits.argmax(-1)
    scores = temperature_scores(logits, temperature)
    ids = None
    if top_k > 0:
        scores, ids = torch.topk(scores, min(top_k, scores.shape[-1]), dim=-1)
    elif top_p < 1.0:
        scores, ids = scores.sort(dim=-1, descending=True)
    probs = torch.softmax(scores, dim=-1)
    if top_p < 1.0:
        drop = (probs.cumsum(-1) - probs) >= top_p
        drop[..., 0] = False  # the most likely token always stays (a top_p of 1e-300 rounds to a float32 0)
        probs = probs.masked_fill(drop, 0.0)
    cum = probs.cumsum(-1)
    x = uniform[:, None].to(cum.dtype) * cum[:, -1:]
    j = torch.searchsorted(cum, x, right=True)
    # rounding can put x at the total mass: fall back to the last token with non-zero probability
    last = (probs > 0).long().cumsum(-1).argmax(-1, keepdim=True)
    j = torch.minimum(j, last)
    return (ids.gather(-1, j) if ids is not None else j)[:, 0]


def token_stats(logits: torch.Tensor, tokens: torch.Tensor, n_top: int = 0) -> tuple[torch.Tensor, ...]:
    """Chosen-token log-prob and full-vocabulary entropy of the untempered distribution (plus top-``n_top``)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    chosen = logp.gather(-1, tokens[:, None])[:, 0]
    ent = -(logp.exp() * logp).nan_to_num().sum(-1)
    if n_top:
        tv, ti = torch.topk(logp, min(n_top, logp.shape[-1]), dim=-1)
        return chosen, ent, ti, tv
    return chosen, ent


# -- the model's forward over an owned cache ----------------------------------------------------------------------


def unsupported_reason(model: Any) -> str | None:
    """Why the fast path cannot run ``model`` (None when it can)."""
    cfg = getattr(model, "config", None)
    kind = getattr(cfg, "model_type", None)
    if kind not in SUPPORTED_MODEL_TYPES:
        return f"model type {kind!r} is not one of {', '.join(SUPPORTED_MODEL_TYPES)}"
    if any(t != "full_attention" for t in (getattr(cfg, "layer_types", None) or [])):
        return "sliding-window layers are not supported"
    if getattr(cfg, "use_sliding_window", False):
        return "sliding-window attention is not supported"
    return None


class _Forward:
    """The decoder's forward, written against an external slot cache (module weights are the model's own)."""

    def __init__(self, model: Any) -> None:
        base = model.get_decoder() if hasattr(model, "get_decoder") else model.model
        self.embed, self.layers, self.norm = base.embed_tokens, list(base.layers), base.norm
        self.rotary, self.head = base.rotary_emb, model.get_output_embeddings()
        attn = self.layers[0].self_attn
        self.rope = sys.modules[type(attn).__module__].apply_rotary_pos_emb
        cfg = model.config
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.n_heads, self.n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.scaling = attn.scaling

    def _qkv(
        self, layer: Any, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        a = layer.self_attn
        shape = (*x.shape[:-1], -1, self.head_dim)
        q, k = a.q_proj(x).view(shape), a.k_proj(x).view(shape)
        if getattr(a, "q_norm", None) is not None:
            q, k = a.q_norm(q), a.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), a.v_proj(x).view(shape).transpose(1, 2)
        q, k = self.rope(q, k, cos, sin)
        return q, k, v

    def _finish_layer(self, layer: Any, h: torch.Tensor, attn_out: torch.Tensor) -> torch.Tensor:
        h = h + layer.self_attn.o_proj(attn_out)
        return h + layer.mlp(layer.post_attention_layernorm(h))

    def prefill(
        self,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        slots: torch.Tensor,
        cache: list[tuple[torch.Tensor, ...]],
    ) -> torch.Tensor:
        """Run right-padded prompts ``[n, L]``, write their K/V into ``slots``; logits at each last real token."""
        n, L = ids.shape
        pos = torch.arange(L, device=ids.device).expand(n, L)
        h = self.embed(ids)
        cos, sin = self.rotary(h, pos)
        for layer, (kc, vc) in zip(self.layers, cache, strict=True):
            q, k, v = self._qkv(layer, layer.input_layernorm(h), cos, sin)
            kc[slots, :, :L] = k.to(kc.dtype)
            vc[slots, :, :L] = v.to(vc.dtype)
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scaling, enable_gqa=True)
            h = self._finish_layer(layer, h, o.transpose(1, 2).reshape(n, L, -1))
        last = h[torch.arange(n, device=h.device), lengths - 1]
        return self.head(self.norm(last))

    def decode(
        self, tok: torch.Tensor, pos: torch.Tensor, width: int, cache: list[tuple[torch.Tensor, ...]]
    ) -> torch.Tensor:
        """One token per slot at ``pos``; attention over the first ``width`` cache positions; logits ``[S, V]``."""
        S = tok.shape[0]
        rows = torch.arange(S, device=tok.device)
        h = self.embed(tok[:, None])
        cos, sin = self.rotary(h, pos[:, None])
        keep = (torch.arange(width, device=tok.device)[None, :] <= pos[:, None])[:, None, None, :]
        groups = self.n_heads // self.n_kv
        for layer, (kc, vc) in zip(self.layers, cache, strict=True):
            q, k, v = self._qkv(layer, layer.input_layernorm(h), cos, sin)
            kc[rows, :, pos] = k[:, :, 0].to(kc.dtype)
            vc[rows, :, pos] = v[:, :, 0].to(vc.dtype)
            # grouped-query attention: the query heads sharing a KV head become that head's query rows
            qg = q.reshape(S, self.n_kv, groups, self.head_dim)
            o = F.scaled_dot_product_attention(
                qg, kc[:, :, :width], vc[:, :, :width], attn_mask=keep, scale=self.scaling
            )
            h = self._finish_layer(layer, h, o.reshape(S, 1, -1))
        return self.head(self.norm(h))[:, 0]


# -- the generator --------------------------------------------------------------------------------------------------


@dataclass
class _Row:
    ids: list[int]
    seed: int
    out: tuple[int, int]
    gen: list[int] = field(default_factory=list)
    finish: str | None = None
    text_end: int | None = None
    checked: int = 0  # tokens already scanned for stop strings
    logprobs: list[float] | None = None
    entropies: list[float] | None = None
    tops: list[dict[int, float]] | None = None
    cancel: Any = None  # an Event set when nobody waits for this row any more (rsft serve: the client left)

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


@dataclass(frozen=True)
class _Plan:
    """What a captured step depends on besides the attention width."""

    temperature: float
    top_k: int
    top_p: float
    logprobs: bool
    n_top: int
    max_new: int
    stop_ids: tuple[int, ...]


class FastGenerator:
    """Slot-based batched generation with a static KV cache (CUDA graphs on CUDA, eager elsewhere).

    Args:
        model: a transformers causal LM of a supported type (see :func:`unsupported_reason`), in eval mode.
        tokenizer: for decoding text and stop strings; None returns empty texts (token ids only).
        max_batch: decode slots (rows decoded together).
        max_len: cache length per slot (prompt + new tokens); None sizes it for each call.
        device: where to run; defaults to the model's device.
        compile: ``torch.compile`` the decode step (before graph capture on CUDA).
        cuda_graphs: capture the decode step per attention width; default: on when on CUDA.
        bucket: attention widths are rounded up to a multiple of this (one graph per width).
        check_every: decode steps between host checks for finished rows (refill happens at checks).
        prefill_tokens: most prompt tokens (padded) per prefill batch.

    Raises:
        RsftError: unsupported architecture.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        max_batch: int = 64,
        max_len: int | None = None,
        device: Any = None,
        compile: bool = False,
        cuda_graphs: bool | None = None,
        bucket: int = 128,
        check_every: int = 8,
        prefill_tokens: int = 16384,
    ) -> None:
        if (why := unsupported_reason(model)) is not None:
            raise RsftError(
                f"the fast generation path cannot run this model: {why}", fix="use the hf backend"
            )
        self.model, self.tokenizer = model, tokenizer
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.max_batch, self.max_len = max_batch, max_len
        self.cuda_graphs = self.device.type == "cuda" if cuda_graphs is None else cuda_graphs
        self.bucket, self.check_every, self.prefill_tokens = bucket, check_every, prefill_tokens
        self.fwd = _Forward(model)
        self._step_fn = self._step
        if compile:
            import torch._dynamo as dynamo

            for name in ("recompile_limit", "cache_size_limit"):
                if hasattr(dynamo.config, name):
                    setattr(dynamo.config, name, max(getattr(dynamo.config, name), 256))
            self._step_fn = torch.compile(self._step, dynamic=False)
        self._shape: tuple[int, int, int] | None = None
        self._graphs: dict[tuple[int, _Plan], Any] = {}
        self._pool: Any = None
        self.stats: dict[str, float] = {}

    # -- state --------------------------------------------------------------------------------------------------

    def _allocate(self, slots: int, max_len: int, n_cols: int, n_top: int) -> None:
        shape = (slots, max_len, n_cols * 1000 + n_top)
        if self._shape == shape:
            return
        dev, kv = self.device, (slots, self.fwd.n_kv, max_len, self.fwd.head_dim)
        self.cache = [
            (torch.zeros(kv, dtype=self.dtype, device=dev), torch.zeros(kv, dtype=self.dtype, device=dev))
            for _ in self.fwd.layers
        ]
        z = dict(dtype=torch.long, device=dev)
        self.tok, self.pos, self.nstep = (torch.zeros(slots, **z) for _ in range(3))
        self.seed = torch.zeros(slots, **z)
        self.done = torch.ones(slots, dtype=torch.bool, device=dev)
        # one spare column: finished rows write their (ignored) step output there
        self.out_tok = torch.zeros((slots, n_cols + 1), **z)
        self.out_lp = torch.zeros((slots, n_cols + 1), dtype=torch.float32, device=dev)
        self.out_ent = torch.zeros_like(self.out_lp)
        self.out_top_i = torch.zeros((slots, n_cols + 1, max(n_top, 1)), **z)
        self.out_top_v = torch.zeros((slots, n_cols + 1, max(n_top, 1)), dtype=torch.float32, device=dev)
        self._shape, self._graphs = shape, {}

    def _pick(self, logits: torch.Tensor, seeds: torch.Tensor, steps: torch.Tensor, plan: _Plan) -> tuple:
        u = draw_uniform(seeds, steps)
        nxt = sample_tokens(logits, u, temperature=plan.temperature, top_k=plan.top_k, top_p=plan.top_p)
        stats = token_stats(logits, nxt, plan.n_top) if plan.logprobs else ()
        return nxt, stats

    def _write(self, idx: torch.Tensor, col: torch.Tensor, nxt: torch.Tensor, stats: tuple) -> None:
        """Write step outputs of rows ``idx`` at columns ``col``."""
        self.out_tok[idx, col] = nxt
        if stats:
            self.out_lp[idx, col], self.out_ent[idx, col] = stats[0], stats[1]
            if len(stats) == 4:
                self.out_top_i[idx, col], self.out_top_v[idx, col] = stats[2], stats[3]

    def _step(self, width: int, plan: _Plan) -> None:
        """One decode step for every slot; finished or empty slots compute but change nothing that is read."""
        logits = self.fwd.decode(self.tok, self.pos, width, self.cache)
        nxt, stats = self._pick(logits, self.seed, self.nstep, plan)
        live = ~self.done
        rows = torch.arange(self.tok.shape[0], device=self.tok.device)
        self._write(rows, torch.where(live, self.nstep, plan.max_new), nxt, stats)
        step = live.long()
        self.tok.copy_(torch.where(live, nxt, self.tok))
        self.pos.add_(step)
        self.nstep.add_(step)
        stop = torch.zeros_like(live)
        for t in plan.stop_ids:
            stop = stop | (nxt == t)
        self.done.copy_(self.done | (live & (stop | (self.nstep >= plan.max_new))))

    def _run_step(self, width: int, plan: _Plan) -> None:
        if not self.cuda_graphs:
            self._step_fn(width, plan)
            return
        graph = self._graphs.get((width, plan))
        if graph is None:
            graph = self._graphs[(width, plan)] = self._capture(width, plan)
        graph.replay()

    def _capture(self, width: int, plan: _Plan) -> Any:
        """Capture one step; warm-up runs are undone (their cache/output writes equal the next real step's)."""
        state = [t.clone() for t in (self.tok, self.pos, self.nstep, self.done)]

        def restore() -> None:
            for t, s in zip((self.tok, self.pos, self.nstep, self.done), state, strict=True):
                t.copy_(s)

        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(2):
                self._step_fn(width, plan)
                restore()
        torch.cuda.current_stream(self.device).wait_stream(side)
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            self._step_fn(width, plan)
        return graph

    # -- public -------------------------------------------------------------------------------------------------

    def stop_ids(self, config: GenerateConfig) -> tuple[int, ...]:
        """``config.stop_token_ids`` plus the tokenizer's and the generation config's EOS ids."""
        ids = set(config.stop_token_ids)
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for e in (getattr(self.tokenizer, "eos_token_id", None), gen_eos):
            ids.update([e] if isinstance(e, int) else (e or []))
        return tuple(sorted(ids))

    def generate(
        self,
        prompt_ids: list[list[int]],
        config: GenerateConfig,
        *,
        seeds: list[list[int]] | None = None,
        cancels: list[Any] | None = None,
    ) -> list[list[Completion]]:
        """``config.n`` completions per prompt, in order.

        Args:
            prompt_ids: token ids of each prompt (already rendered and tokenized).
            config: sampling settings.
            seeds: ``seeds[i][j]`` is the seed of sample j of prompt i; default: derived from ``config.seed``, i, j.
            cancels: per prompt, None or an Event: once set, the prompt's rows are not prefilled, or leave the
                batch at the next check (their results are cut short and meant to be discarded).

        Raises:
            RsftError: an empty prompt, or a prompt plus ``max_new_tokens`` longer than ``max_len``.
        """
        rows = []
        for i, ids in enumerate(prompt_ids):
            if not ids:
                raise RsftError(f"prompt {i} is empty", field="prompt_ids")
            for j in range(config.n):
                s = seeds[i][j] if seeds is not None else derive_seed(config.seed, i, j)
                rows.append(_Row(ids=list(ids), seed=s, out=(i, j), cancel=cancels[i] if cancels else None))
        t0 = time.perf_counter()
        with torch.inference_mode():
            self._generate_rows(rows, config)
        per = (time.perf_counter() - t0) / max(len(rows), 1)
        results: list[list[Completion | None]] = [[None] * config.n for _ in prompt_ids]
        for r in rows:
            results[r.out[0]][r.out[1]] = self._completion(r, config, per)
        return results  # type: ignore[return-value]

    def _generate_rows(self, rows: list[_Row], config: GenerateConfig) -> None:
        longest = max(len(r.ids) for r in rows)
        need = longest + config.max_new_tokens
        max_len = self.max_len or -(-need // self.bucket) * self.bucket
        if need > max_len:
            raise RsftError(
                f"a prompt of {longest} tokens plus max_new_tokens={config.max_new_tokens} exceeds the cache "
                f"length {max_len}",
                field="max_len",
                fix="raise max_len or lower max_new_tokens",
            )
        n_top = config.top_logprobs
        plan = _Plan(
            config.temperature, config.top_k, config.top_p, config.logprobs or n_top > 0, n_top,
            config.max_new_tokens, self.stop_ids(config),
        )  # fmt: skip
        slots = min(self.max_batch, len(rows))
        self._allocate(slots, max_len, config.max_new_tokens, n_top)
        self.done.fill_(True)
        # longest first: similar lengths are prefilled together and memory problems show up at once
        pending = sorted(range(len(rows)), key=lambda r: (-len(rows[r].ids), r))
        owner: list[int | None] = [None] * slots
        hpos = np.zeros(slots, dtype=np.int64)  # host-side bound of each slot's position (no device sync)
        cap = np.zeros(slots, dtype=np.int64)
        self.stats = {"steps": 0, "prefills": 0, "graphs": 0}
        while pending or any(o is not None for o in owner):
            for r in pending:
                if rows[r].cancelled():
                    rows[r].finish = "length"  # never prefilled
            pending = [r for r in pending if rows[r].finish is None]
            if not pending and all(o is None for o in owner):
                break
            free = [s for s in range(slots) if owner[s] is None]
            if pending and free:
                take, pending = pending[: len(free)], pending[len(free) :]
                self._admit([rows[r] for r in take], free[: len(take)], plan)
                for s, r in zip(free, take, strict=False):
                    owner[s], hpos[s] = r, len(rows[r].ids)
                    cap[s] = len(rows[r].ids) + plan.max_new - 1
            busy = np.array([o is not None for o in owner])
            for _ in range(self.check_every):
                width = int(hpos[busy].max()) + 1
                if self.cuda_graphs:
                    width = min(-(-width // self.bucket) * self.bucket, max_len)
                self._run_step(width, plan)
                self.stats["steps"] += 1
                hpos = np.where(busy, np.minimum(hpos + 1, cap), hpos)
            self._harvest(rows, owner, config, plan)
        self.stats["graphs"] = len(self._graphs)

    def _admit(self, batch: list[_Row], slots: list[int], plan: _Plan) -> None:
        """Prefill prompts into ``slots`` and draw each one's first token."""
        start = 0
        while start < len(batch):
            width, end = len(batch[start].ids), start
            while end < len(batch) and (end - start + 1) * width <= max(self.prefill_tokens, width):
                end += 1
            part, where = batch[start:end], slots[start:end]
            ids = torch.zeros((len(part), width), dtype=torch.long)
            for b, r in enumerate(part):
                ids[b, : len(r.ids)] = torch.tensor(r.ids)
            dev = self.device
            lengths = torch.tensor([len(r.ids) for r in part], device=dev)
            idx = torch.tensor(where, device=dev)
            logits = self.fwd.prefill(ids.to(dev), lengths, idx, self.cache)
            seeds = torch.tensor([r.seed for r in part], dtype=torch.long, device=dev)
            zero = torch.zeros_like(seeds)
            nxt, stats = self._pick(logits, seeds, zero, plan)
            self._write(idx, zero, nxt, stats)
            self.tok[idx], self.pos[idx], self.seed[idx] = nxt, lengths, seeds
            self.nstep[idx] = 1
            stop = torch.tensor([t in plan.stop_ids for t in nxt.tolist()], device=dev)
            self.done[idx] = stop | (plan.max_new <= 1)
            self.stats["prefills"] += 1
            start = end

    def _harvest(
        self, rows: list[_Row], owner: list[int | None], config: GenerateConfig, plan: _Plan
    ) -> None:
        """Collect finished rows (and rows that hit a stop string) and free their slots."""
        done, nstep = self.done.tolist(), self.nstep.tolist()
        toks = self.out_tok.tolist() if config.stop else None
        for s, r in enumerate(owner):
            if r is None:
                continue
            row = rows[r]
            if toks is not None and self._hit_stop(row, toks[s][: nstep[s]], config.stop):
                nstep[s], done[s] = len(row.gen), True
                self.done[s] = True
            elif not done[s] and row.cancelled():
                row.finish, done[s] = "length", True  # the client left: free the slot now
                self.done[s] = True
            if done[s]:
                self._collect(row, s, nstep[s], plan)
                owner[s] = None
                self.pos[s] = 0  # keep a freed slot's (ignored) attention row non-empty

    def _collect(self, row: _Row, s: int, n: int, plan: _Plan) -> None:
        row.gen = self.out_tok[s, :n].tolist()
        last = row.gen[-1] if row.gen else None
        if row.finish is None:
            row.finish = "stop" if last in plan.stop_ids else "length"
        if plan.logprobs:
            row.logprobs = self.out_lp[s, :n].tolist()
            row.entropies = self.out_ent[s, :n].tolist()
            if plan.n_top:
                ti, tv = self.out_top_i[s, :n].tolist(), self.out_top_v[s, :n].tolist()
                row.tops = [dict(zip(a, b, strict=True)) for a, b in zip(ti, tv, strict=True)]

    def _hit_stop(self, row: _Row, gen: list[int], stops: list[str]) -> bool:
        """Scan the newly generated tokens; on a stop string keep tokens up to the one completing it."""
        window = max(len(s) for s in stops) + 8
        for j in range(row.checked, len(gen)):
            tail = self._text(gen[max(0, j + 1 - window) : j + 1])
            if any(s in tail for s in stops):
                text = self._text(gen[: j + 1])
                row.text_end = min(p for s in stops if (p := text.find(s)) != -1)
                row.gen, row.finish = gen[: j + 1], "stop"
                return True
        row.checked = len(gen)
        return False

    def _text(self, ids: list[int]) -> str:
        if self.tokenizer is None:
            return ""
        skip = set(self.tokenizer.all_special_ids)
        return self.tokenizer.decode([t for t in ids if t not in skip], skip_special_tokens=False)

    def _completion(self, row: _Row, config: GenerateConfig, seconds: float) -> Completion:
        stop_tok = row.finish == "stop" and row.text_end is None and row.gen
        text = self._text(row.gen[:-1] if stop_tok else row.gen)
        return row_completion(row, text, config, seconds)


def fast_generate(backend: Any, requests: list[Request], config: GenerateConfig, **options: Any) -> list:
    """Run an ``HFBackend``'s requests through a (cached) :class:`FastGenerator` with the backend's seeds.

    The backend's prompt rendering, tokenizer and :func:`~rsft.generate.base.sample_seed` are used, so only the
    decode loop changes. ``options`` go to :class:`FastGenerator` (``max_batch`` defaults to the backend's
    ``batch_size``).
    """
    backend.ensure_weights()
    gen = getattr(backend, "_fast", None)
    if gen is None or gen.model is not backend.model:
        options.setdefault("max_batch", backend.batch_size)
        gen = backend._fast = FastGenerator(backend.model, backend.tokenizer, **options)
    ids = getattr(backend, "_ids", None) or (lambda t: backend.tokenizer(t, add_special_tokens=False)["input_ids"])
    prompts = [list(ids(backend.render(r))) for r in requests]
    seeds = [[sample_seed(config, r, j) for j in range(config.n)] for r in requests]
    cancels = [r.metadata.get("cancel") for r in requests]
    return gen.generate(prompts, config, seeds=seeds, cancels=cancels if any(cancels) else None)
