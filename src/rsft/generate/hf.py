"""The ``hf`` backend: in-process transformers generation, CPU or GPU.

Requests are expanded into one row per sample, sorted by prompt length and decoded in left-padded batches with a
KV cache. Each row samples from its own ``torch.Generator`` seeded with :func:`~rsft.generate.base.sample_seed`, so a
sample depends on (config, request, sample index) and not on which other rows share its batch (up to float noise
of padded matmuls). Log-probabilities and entropies are those of the model's *untempered* next-token distribution
over the whole vocabulary (``entropy_kind="full"``).

Switching checkpoints of one architecture loads the new weights in place (``load_state_dict`` from safetensors)
instead of rebuilding the model.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsft._util.errors import OfflineError, RsftError
from rsft._util.hashing import hash_file, weights_hash
from rsft._util.model_folder import (
    TOKENIZER_FILES,
    adapter_base_of,
    check_finite_weights,
    check_model_folder,
    is_adapter_folder,
)
from rsft.chat import PromptFormat, render_prompt, resolve_format
from rsft.generate.base import (
    Completion,
    GenerateConfig,
    Request,
    apply_penalties,
    row_completion,
    sample_seed,
    temperature_scores,
)

# config.json keys that do not change the computation graph (ignored when deciding to reload in place)
# rendered prompts (and their token ids) kept per tokenizer before the cache starts over
_CACHE_ROWS = 200_000
# prompt positions per prefill forward when a row can be cancelled (rsft serve): between chunks the batch is dropped
# once every row's client has left. Rows nobody can cancel (rsft eval) are prefilled in one forward, as before.
PREFILL_CHUNK = 512
_CONFIG_NOISE = {"_name_or_path", "transformers_version", "torch_dtype", "dtype", "architectures"}
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
)


@dataclass
class _Row:
    """One sample to generate: the prompt's token ids, its seed and where the result goes."""

    ids: list[int]
    seed: int
    out: tuple[int, int]  # (request index, sample index)
    gen: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    tops: list[dict[int, float]] = field(default_factory=list)
    finish: str | None = None
    text_end: int | None = None  # cut position in the decoded text for a stop string
    by_stop_id: bool = False  # ended by a stop/EOS token id (left out of the text)
    cancel: Any = None  # an Event set when nobody waits for this row any more (rsft serve: the client left)


def _cache_arg_name(model: Any) -> str:
    """Recent transformers renamed the forward argument ``past_key_values`` to ``cache``."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _cache_of(out: Any) -> Any:
    return getattr(out, "cache", None) if hasattr(out, "cache") else out.past_key_values


def split_revision(model: str | Path) -> tuple[str, str | None]:
    """``ORG/NAME@REVISION`` -> ``(ORG/NAME, REVISION)``; a local path or an id without ``@`` has no revision."""
    text = str(model)
    if Path(text).exists() or "@" not in text:
        return text, None
    name, _, rev = text.rpartition("@")
    return name, rev or None


def resolve_model_dir(model: str | Path, revision: str | None = None) -> Path:
    """A local folder for ``model``: the path itself, or the local hub snapshot of a hub id (no download).
    A hub id may carry its revision (``ORG/NAME@REVISION``), or pass ``revision``; ``rsft:toy/large`` and
    ``rsft:toy/small`` name the tiny bases shipped in the package.

    Raises:
        OfflineError: not a local folder and not in the local hub cache.
        RsftError: an ``rsft:`` name the package does not ship.
    """
    from rsft.resources import packaged_model

    p = Path(packaged_model(str(model)))
    if p.is_dir():
        return p
    name, rev = split_revision(model)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, revision=revision or rev, local_files_only=True))
    except Exception as e:  # noqa: BLE001 - any hub failure means "not available offline"
        raise OfflineError(
            f"model '{model}' is neither a local folder nor in the local Hugging Face cache ({type(e).__name__})",
            file=str(model),
            fix="pass a local model folder, or download it first with `huggingface-cli download ID`",
        ) from None


_ST_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}


def read_safetensors(path: Path) -> dict[str, Any]:
    """Tensors of a safetensors file, read in one go into memory and viewed without a per-tensor copy.

    The tensors alias one in-memory buffer (never the file: a checkpoint rewritten at the same path cannot change
    them). Files with dtypes not listed here, or misaligned tensors, go through ``safetensors.torch.load``.
    """
    import struct

    import torch

    raw = torch.empty(path.stat().st_size, dtype=torch.uint8)  # uninitialised: no zero-fill before the read
    with open(path, "rb") as f:
        f.readinto(raw.numpy())  # one read straight into the tensor's memory
    (n,) = struct.unpack("<Q", raw[:8].numpy().tobytes())
    header = json.loads(raw[8 : 8 + n].numpy().tobytes())
    header.pop("__metadata__", None)
    base = 8 + n
    if any(
        v["dtype"] not in _ST_DTYPES
        or (base + v["data_offsets"][0]) % getattr(torch, _ST_DTYPES[v["dtype"]]).itemsize
        for v in header.values()
    ):
        from safetensors.torch import load

        return load(raw.numpy().tobytes())
    out = {}
    for name, v in header.items():
        start, end = v["data_offsets"]
        out[name] = (
            raw[base + start : base + end].view(getattr(torch, _ST_DTYPES[v["dtype"]])).view(v["shape"])
        )
    return out


def _arch_signature(model_dir: Path) -> dict[str, Any]:
    cfg = json.loads((model_dir / "config.json").read_text())
    return {k: v for k, v in cfg.items() if k not in _CONFIG_NOISE}


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def _tokenizer_signature(model_dir: Path) -> list[str]:
    """Content hashes of the tokenizer files (each hashed once per size and mtime): the tokenizer is reloaded only
    when they differ, which the checkpoints of one run never do."""
    out = []
    for f in _TOKENIZER_FILES:
        p = model_dir / f
        if p.is_file():
            st = p.stat()
            stamp = (str(p), st.st_size, st.st_mtime_ns)
            if stamp not in _FILE_HASHES:
                _FILE_HASHES[stamp] = hash_file(p)
            out.append(_FILE_HASHES[stamp])
    return out


class HFBackend:
    """In-process transformers generation.

    Args:
        model: model folder or hub id (loaded lazily; switch with :meth:`load`).
        batch_size: rows decoded together.
        device: "auto" (CUDA when available), "cpu", "cuda", "cuda:1" ...
        dtype: "auto" (fp32 on CPU, bf16 on CUDA), "float32", "bfloat16", "float16".
        chat_template: optional path to a Jinja chat template, for tokenizers without one.
        system_prompt: none | model_default | the system text (:class:`rsft.chat.PromptFormat`); None = what the
            checkpoint was trained with (its ``rsft_prompt.json``), else model_default.
        chat_template_kwargs: template variables (e.g. ``{"enable_thinking": False}``); None = as trained.
        trust_remote_code: let transformers run the model repo's own code (e.g. InternLM2.5).
        threads: CPU intra-op threads while generating (restored afterwards): an int, None (leave torch's
            setting), or "auto" — 1 thread for models under 20 M parameters on CPU, whose matmuls are too small to
            split: measured 35-70x faster than 2 threads on a shared 2-core box (docs/performance.md).
        fast: decode through :mod:`rsft.generate.fast` (static per-slot KV cache, continuous refill, CUDA graphs on
            CUDA). "auto" = on CUDA for supported architectures; True = also on CPU (greedy output is identical to
            ``generate``; sampled tokens use the fast path's counter-based sampler, so they differ from the plain
            path's for the same seed — same distribution); False = never.
    """

    name = "hf"

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        batch_size: int = 32,
        device: str = "auto",
        dtype: str = "auto",
        chat_template: str | None = None,
        threads: int | str | None = "auto",
        fast: bool | str = "auto",
        system_prompt: str | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        self.batch_size = batch_size
        self.prefill_cancelled = 0  # prefills stopped part-way because every row's client left
        self.system_prompt, self.template_kwargs = system_prompt, chat_template_kwargs
        self.trust_remote_code = trust_remote_code
        self.prompt_format = PromptFormat()
        self.fast = fast
        self.threads = threads
        self.device_name = device
        self.dtype_name = dtype
        self.chat_template = Path(chat_template).read_text() if chat_template else None
        self.model: Any = None
        self.tokenizer: Any = None
        self.model_dir: Path | None = None
        self.base_dir: Path | None = None  # the base model of an adapter folder
        self._loaded_weights: str | None = None  # weights hash of the model in memory
        self._arch: dict[str, Any] | None = None
        self._tok_sig: list[str] | None = None
        self.last_load: dict[str, Any] = {}
        self._names: tuple[dict[str, Any], dict[str, Any]] | None = None  # parameters and buffers by name
        # rendered prompts and prompt token ids of the current tokenizer and prompt format: a sweep renders the
        # same items for every checkpoint of a run (cleared when either changes)
        self._rendered: dict[str, str] = {}
        self._prompt_ids: dict[str, list[int]] = {}
        if model is not None:
            self.load(model)

    # -- model management -------------------------------------------------------------------------------------

    def load(self, model: str | Path) -> None:
        """Point the backend at ``model``: the tokenizer now, the weights at the first :meth:`generate`.

        A PEFT adapter folder (``adapter_config.json``) is evaluated on its base model
        (:func:`rsft._util.model_folder.adapter_base_of`): the base's weights with the adapter merged in memory,
        no merged copy written. Its tokenizer is the adapter folder's, else the base's.
        """
        model_dir = resolve_model_dir(model)
        base_dir = None
        if is_adapter_folder(model_dir):
            base_dir = resolve_model_dir(adapter_base_of(model_dir))
            check_model_folder(base_dir, weights=False, field="adapter base")
            tok_dir = model_dir if any((model_dir / f).is_file() for f in TOKENIZER_FILES) else base_dir
        else:
            check_model_folder(model_dir, weights=False)  # the weights are checked when they are loaded
            tok_dir = model_dir
        sig = _tokenizer_signature(tok_dir)
        if self.tokenizer is None or sig != self._tok_sig:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), trust_remote_code=self.trust_remote_code)
            if self.chat_template:
                self.tokenizer.chat_template = self.chat_template
            self._tok_sig = sig
            self._rendered, self._prompt_ids = {}, {}
        fmt = resolve_format(tok_dir, self.system_prompt, self.template_kwargs)
        if fmt != self.prompt_format:
            self._rendered = {}
        self.prompt_format = fmt
        self.model_dir = model_dir
        self.base_dir = base_dir

    def _device(self) -> Any:
        import torch

        if self.device_name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device_name)

    def _dtype(self, device: Any) -> Any:
        import torch

        if self.dtype_name == "auto":
            return torch.bfloat16 if device.type == "cuda" else torch.float32
        return getattr(torch, self.dtype_name)

    def ensure_weights(self) -> None:
        """Load the weights of the current model folder, in place when the architecture matches; an adapter is
        merged into its base's weights in memory."""
        if self.model_dir is None:
            raise RsftError("no model loaded", fix="call load(MODEL_DIR) first")
        weights_dir = self.base_dir or self.model_dir
        check_model_folder(weights_dir, tokenizer=False)
        # identity by content, not path: new weights written at the same path are loaded
        ident = weights_hash(weights_dir)
        if self.base_dir is not None:
            ident = f"{ident}+{weights_hash(self.model_dir)}"
        if self._loaded_weights == ident:
            return
        t0 = time.perf_counter()
        arch = _arch_signature(weights_dir)
        shards = sorted(weights_dir.glob("*.safetensors"))
        how = "in_place"
        if self.model is not None and arch == self._arch and shards:
            self._load_in_place(shards, weights_dir)
        else:
            self._load_fresh(weights_dir)
            how = "fresh"
        if self.base_dir is not None:
            self._merge_adapter(self.model_dir)
            how += "+adapter"
        self._loaded_weights = None  # until the values are known to be finite
        check_finite_weights(self.model, self.model_dir)
        self._arch = arch
        self._loaded_weights = ident
        self.last_load = {"how": how, "seconds": time.perf_counter() - t0, "path": str(self.model_dir)}

    def _merge_adapter(self, adapter_dir: Path) -> None:
        """Apply a PEFT adapter to the loaded base weights and merge it, in memory (the module objects stay)."""
        from peft import PeftModel

        self._loaded_weights = None  # the weights are neither the base's nor merged until this returns
        peft_model = PeftModel.from_pretrained(self.model, str(adapter_dir), is_trainable=False)
        self.model = peft_model.merge_and_unload().eval()
        self._names = None

    def _load_fresh(self, folder: Path | None = None) -> None:
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        device = self._device()
        model = AutoModelForCausalLM.from_pretrained(
            str(folder or self.model_dir), dtype=self._dtype(device), trust_remote_code=self.trust_remote_code
        )
        self.model = model.to(device).eval()
        self._names = None

    def _load_in_place(self, shards: list[Path], folder: Path | None = None) -> None:
        """Swap the new tensors into the loaded model's parameters (no model rebuild, no element-wise copy).

        Each shard is read whole into memory first: parameters never alias a memory-mapped file, which a later
        checkpoint written at the same path could change underneath. Tied parameters are one object, so updating
        the embedding updates the output layer too. Anything unexpected (a name or shape the model does not
        have, a parameter left without new values) falls back to a fresh load.
        """
        if self._names is None:
            self._names = (
                dict(self.model.named_parameters(remove_duplicate=False)),
                dict(self.model.named_buffers(remove_duplicate=False)),
            )
        params, buffers = self._names
        staged: dict[str, Any] = {}
        for shard in shards:
            staged.update(read_safetensors(shard))
        updated = set()
        for name, t in staged.items():
            target = params.get(name, buffers.get(name))
            if target is None or tuple(target.shape) != tuple(t.shape):
                self._load_fresh(folder)
                return
            updated.add(id(target))
        if any(id(p) not in updated for p in params.values()):
            self._load_fresh(folder)
            return
        for name, t in staged.items():
            target = params.get(name, buffers.get(name))
            target.data = t.to(device=target.device, dtype=target.dtype)

    def close(self) -> None:
        self.model = None
        self._loaded_weights = None
        self._names = None

    # -- prompts ----------------------------------------------------------------------------------------------

    def render(self, request: Request) -> str:
        """The exact prompt text the model continues (chat template via :func:`rsft.chat.render_prompt`)."""
        if request.prompt is not None:
            return request.prompt
        if request.messages is None:
            raise RsftError("a request needs messages or prompt", field="request")
        key = json.dumps(request.messages, sort_keys=True)
        text = self._rendered.get(key)
        if text is None:
            if len(self._rendered) >= _CACHE_ROWS:
                self._rendered.clear()
            text = self._rendered[key] = render_prompt(self.tokenizer, request.messages, self.prompt_format)
        return text

    def _ids(self, text: str) -> list[int]:
        """The prompt's token ids (cached per tokenizer: the same prompts recur at every checkpoint)."""
        ids = self._prompt_ids.get(text)
        if ids is None:
            if len(self._prompt_ids) >= _CACHE_ROWS:
                self._prompt_ids.clear()
            ids = self._prompt_ids[text] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        ids = self._prompt_ids.get(text)
        if ids is None:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return len(ids)

    # -- generation -------------------------------------------------------------------------------------------

    def generate(self, requests: list[Request], config: GenerateConfig) -> list[list[Completion]]:
        """``config.n`` completions per request, in order (see module docstring for seeding)."""
        self.ensure_weights()
        import torch

        want = self._threads()
        before = torch.get_num_threads()
        if want and want != before:
            torch.set_num_threads(want)
        try:
            if self._use_fast(config):
                from rsft.generate.fast import fast_generate

                return fast_generate(self, requests, config)
            return self._generate(requests, config)
        finally:
            if want and want != before:
                torch.set_num_threads(before)

    def _use_fast(self, config: GenerateConfig | None = None) -> bool:
        if self.fast is False or self.fast == "off":
            return False
        if config is not None and (config.presence_penalty or config.frequency_penalty):
            return False  # the fast path's sampler has no penalties; the plain decode loop applies them
        from rsft.generate.fast import unsupported_reason

        if unsupported_reason(self.model) is not None:
            return False
        return self.fast is True or self.fast == "on" or self.model.device.type == "cuda"

    def _threads(self) -> int | None:
        if self.threads is None or self.model.device.type != "cpu":
            return None
        if self.threads == "auto":
            return 1 if sum(p.numel() for p in self.model.parameters()) < 20_000_000 else None
        return int(self.threads)

    def _generate(self, requests: list[Request], config: GenerateConfig) -> list[list[Completion]]:
        rows: list[_Row] = []
        for i, req in enumerate(requests):
            ids = self._ids(self.render(req))
            for j in range(config.n):
                rows.append(
                    _Row(
                        ids=list(ids),
                        seed=sample_seed(config, req, j),
                        out=(i, j),
                        cancel=req.metadata.get("cancel"),
                    )
                )
        # longest first: the first batch shows memory problems early; equal lengths waste no padding
        order = sorted(range(len(rows)), key=lambda r: (-len(rows[r].ids), r))
        results: list[list[Completion | None]] = [[None] * config.n for _ in requests]
        for start in range(0, len(order), self.batch_size):
            batch = [rows[r] for r in order[start : start + self.batch_size]]
            t0 = time.perf_counter()
            live = [r for r in batch if r.cancel is None or not r.cancel.is_set()]
            for row in batch:
                if row.cancel is not None and row.cancel.is_set():
                    row.finish = "length"  # cancelled before its prefill: never computed, result discarded
            if live:
                self._decode(live, config)
            per = (time.perf_counter() - t0) / len(batch)
            for row in batch:
                i, j = row.out
                results[i][j] = self._completion(row, config, per)
        return results  # type: ignore[return-value]

    def _stop_ids(self, config: GenerateConfig) -> set[int]:
        ids = set(config.stop_token_ids)
        eos = self.tokenizer.eos_token_id
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for e in (eos, gen_eos):
            if isinstance(e, int):
                ids.add(e)
            elif isinstance(e, list):
                ids.update(e)
        return ids

    def _decode(self, batch: list[_Row], config: GenerateConfig) -> None:
        import torch

        model, device = self.model, self.model.device
        cache_arg = _cache_arg_name(model)
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else (self.tokenizer.eos_token_id or 0)
        stop_ids = self._stop_ids(config)
        width = max(len(r.ids) for r in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attn = torch.zeros((len(batch), width), dtype=torch.long)
        for b, r in enumerate(batch):
            input_ids[b, width - len(r.ids) :] = torch.tensor(r.ids)
            attn[b, width - len(r.ids) :] = 1
        input_ids, attn = input_ids.to(device), attn.to(device)
        # positions count real tokens only, so a left-padded row sees the same positions as when alone
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        gens = [torch.Generator(device=device).manual_seed(r.seed) for r in batch]
        live = list(range(len(batch)))  # batch rows still decoding, in cache order
        cancellable = all(r.cancel is not None for r in batch)
        chunk = PREFILL_CHUNK if cancellable else width
        with torch.inference_mode():
            cache = None
            for a in range(0, width, chunk):
                b = min(width, a + chunk)
                out = model(
                    input_ids=input_ids[:, a:b], attention_mask=attn[:, :b], position_ids=pos[:, a:b],
                    use_cache=True, logits_to_keep=1, **({cache_arg: cache} if cache is not None else {}),
                )  # fmt: skip
                cache = _cache_of(out)
                if b < width and cancellable and all(r.cancel.is_set() for r in batch):
                    for r in batch:
                        r.finish = "length"  # every client left during the prefill: stop it here
                    self.prefill_cancelled += 1
                    return
            logits, next_pos = out.logits[:, -1, :], pos[:, -1] + 1
            for step in range(config.max_new_tokens):
                picked = apply_penalties(logits, [batch[b].gen for b in live], config)
                tokens = self._pick(picked, [gens[b] for b in live], config)
                self._record(batch, live, logits, tokens, config)
                for k, b in enumerate(live):
                    row = batch[b]
                    if tokens[k] in stop_ids:
                        row.finish, row.by_stop_id = "stop", True
                    elif config.stop and self._hit_stop(row, config.stop):
                        row.finish = "stop"
                    elif step + 1 == config.max_new_tokens:
                        row.finish = "length"
                    elif row.cancel is not None and row.cancel.is_set():
                        row.finish = "length"  # cancelled: the row leaves the batch, its result is discarded
                keep = [k for k, b in enumerate(live) if batch[b].finish is None]
                if not keep:
                    break
                sel = torch.tensor(keep, device=device)
                if len(keep) < len(live):
                    cache.batch_select_indices(sel)
                    attn, next_pos = attn[sel], next_pos[sel]
                    live = [live[k] for k in keep]
                step_ids = torch.tensor([[tokens[k]] for k in keep], device=device)
                attn = torch.cat([attn, attn.new_ones((len(live), 1))], dim=1)
                out = model(
                    input_ids=step_ids,
                    attention_mask=attn,
                    position_ids=next_pos[:, None],
                    use_cache=True,
                    **{cache_arg: cache},
                )
                cache, logits, next_pos = _cache_of(out), out.logits[:, -1, :], next_pos + 1

    @staticmethod
    def _pick(logits: Any, gens: list[Any], config: GenerateConfig) -> list[int]:
        """Greedy, or one draw per row from its own generator after temperature, top-k and top-p."""
        import torch

        if config.temperature == 0.0:
            return logits.argmax(-1).tolist()
        scores = temperature_scores(logits, config.temperature)
        if config.top_k > 0:
            kth = torch.topk(scores, min(config.top_k, scores.shape[-1]), dim=-1).values[:, -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        if config.top_p < 1.0:
            sorted_p, idx = probs.sort(dim=-1, descending=True)
            # keep the smallest prefix whose mass reaches top_p (the first token is always kept)
            drop = (sorted_p.cumsum(-1) - sorted_p) >= config.top_p
            drop[..., 0] = False  # a top_p below float32's range (1e-300) rounds to 0 and would drop them all
            sorted_p = sorted_p.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, idx, sorted_p)
        return [int(torch.multinomial(probs[k], 1, generator=g)) for k, g in enumerate(gens)]

    @staticmethod
    def _record(
        batch: list[_Row], live: list[int], logits: Any, tokens: list[int], config: GenerateConfig
    ) -> None:
        import torch

        if config.logprobs or config.top_logprobs:
            logp = torch.log_softmax(logits.float(), dim=-1)
            chosen = logp.gather(-1, torch.tensor(tokens, device=logp.device)[:, None])[:, 0].tolist()
            ent = (-(logp.exp() * logp).nan_to_num().sum(-1)).tolist()
            tops = None
            if config.top_logprobs:
                tv, ti = torch.topk(logp, min(config.top_logprobs, logp.shape[-1]), dim=-1)
                tops = [dict(zip(ti[k].tolist(), tv[k].tolist(), strict=True)) for k in range(len(live))]
        for k, b in enumerate(live):
            row = batch[b]
            row.gen.append(tokens[k])
            if config.logprobs or config.top_logprobs:
                row.logprobs.append(chosen[k])
                row.entropies.append(ent[k])
                if tops is not None:
                    row.tops.append(tops[k])

    def _hit_stop(self, row: _Row, stops: list[str]) -> bool:
        # only the tail can complete a stop string; decode a window wide enough for the longest one
        window = max(len(s) for s in stops) + 8
        tail = self._text(row.gen[-window:])
        if not any(s in tail for s in stops):
            return False
        text = self._text(row.gen)
        row.text_end = min(p for s in stops if (p := text.find(s)) != -1)
        return True

    def _text(self, ids: list[int]) -> str:
        """Decode without special tokens but keeping thinking tags (some tokenizers mark them special)."""
        skip = set(self.tokenizer.all_special_ids)
        return self.tokenizer.decode([t for t in ids if t not in skip], skip_special_tokens=False)

    def _completion(self, row: _Row, config: GenerateConfig, seconds: float) -> Completion:
        text = self._text(row.gen[:-1] if row.by_stop_id else row.gen)
        return row_completion(row, text, config, seconds)
