"""The ``vllm`` backend: in-process vLLM (optional extra ``rsft[vllm]``), tensor parallel on several GPUs.

vLLM is imported only when this backend is built. Prompts are rendered with :func:`rsft.chat.render_prompt` and
passed as token ids (no second BOS). Each sample is its own request with its own seed
(:func:`~rsft.generate.base.sample_seed`), as in the hf backend. Log-probabilities come from vLLM's top-k
(``top_logprobs``, at least 1), so entropies are over the returned top-k only (``entropy_kind="topk"``).
Switching checkpoints rebuilds the engine (vLLM has no cheap in-place weight swap across versions).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from rsft._util.errors import MissingDependencyError
from rsft._util.hashing import weights_hash
from rsft.chat import PromptFormat, render_prompt, resolve_format
from rsft.generate.base import Completion, GenerateConfig, Request, sample_seed


def topk_entropy(logprobs: list[float]) -> float:
    """Entropy of the renormalised distribution over the returned top-k tokens (a lower bound of the full one
    when the tail is small; never comparable with ``entropy_kind="full"``)."""
    m = max(logprobs)
    ps = [math.exp(lp - m) for lp in logprobs]
    z = sum(ps)
    return -sum(p / z * math.log(p / z) for p in ps if p > 0)


class VLLMBackend:
    """In-process vLLM.

    Args:
        model: model folder or hub id.
        tensor_parallel_size: GPUs per model.
        dtype: "auto", "bfloat16", "float16", "float32".
        gpu_memory_utilization: share of GPU memory vLLM may take.
        chat_template: optional Jinja template path for tokenizers without one.
        batch_size: rows handed to vLLM per call (vLLM schedules internally; this is the store's flush unit).
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
        chat_template: str | None = None,
        batch_size: int = 256,
        system_prompt: str | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise MissingDependencyError("the vllm backend", "vllm", extra="vllm") from None
        self.tp, self.dtype, self.mem = tensor_parallel_size, dtype, gpu_memory_utilization
        self.chat_template = Path(chat_template).read_text() if chat_template else None
        self.batch_size = batch_size
        self.system_prompt, self.template_kwargs = system_prompt, chat_template_kwargs
        self.trust_remote_code = trust_remote_code
        self.prompt_format = PromptFormat()
        self.revision: str | None = None
        self.llm: Any = None
        self.tokenizer: Any = None
        self.model: str | None = None
        self._loaded: tuple[str, str] | None = None
        if model is not None:
            self.load(model)

    def load(self, model: str | Path) -> None:
        from transformers import AutoTokenizer

        from rsft.generate.hf import split_revision

        self.model, self.revision = split_revision(model)
        self.tokenizer = AutoTokenizer.from_pretrained(
            self.model, revision=self.revision, trust_remote_code=self.trust_remote_code
        )
        if self.chat_template:
            self.tokenizer.chat_template = self.chat_template
        local = self.model if Path(self.model).is_dir() else None
        self.prompt_format = resolve_format(local, self.system_prompt, self.template_kwargs)

    def _ensure_engine(self) -> None:
        from vllm import LLM

        ident = weights_hash(self.model) if Path(self.model).is_dir() else "id:" + self.model
        if self._loaded == (self.model, ident):
            return
        self.close()
        self.llm = LLM(
            model=self.model,
            tensor_parallel_size=self.tp,
            dtype=self.dtype,
            gpu_memory_utilization=self.mem,
            seed=0,
            revision=self.revision,
            trust_remote_code=self.trust_remote_code,
        )
        self._loaded = (self.model, ident)

    def render(self, request: Request) -> str:
        if request.prompt is not None:
            return request.prompt
        return render_prompt(self.tokenizer, request.messages or [], self.prompt_format)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0

    def generate(self, requests: list[Request], config: GenerateConfig) -> list[list[Completion]]:
        from vllm import SamplingParams

        self._ensure_engine()
        k = max(config.top_logprobs, 1) if (config.logprobs or config.top_logprobs) else None
        prompts, params, where = [], [], []
        for i, req in enumerate(requests):
            ids = self.tokenizer(self.render(req), add_special_tokens=False)["input_ids"]
            for j in range(config.n):
                prompts.append({"prompt_token_ids": ids})
                params.append(
                    SamplingParams(
                        n=1,
                        seed=sample_seed(config, req, j) % (2**63),
                        temperature=config.temperature,
                        top_p=config.top_p,
                        top_k=config.top_k if config.top_k > 0 else -1,
                        presence_penalty=config.presence_penalty,
                        frequency_penalty=config.frequency_penalty,
                        max_tokens=config.max_new_tokens,
                        stop=config.stop or None,
                        stop_token_ids=config.stop_token_ids or None,
                        logprobs=k,
                    )
                )
                where.append((i, j, sample_seed(config, req, j), len(ids)))
        t0 = time.perf_counter()
        outs = self.llm.generate(prompts, params, use_tqdm=False)
        per = (time.perf_counter() - t0) / max(len(outs), 1)
        results: list[list[Completion | None]] = [[None] * config.n for _ in requests]
        for (i, j, seed, n_prompt), o in zip(where, outs, strict=True):
            results[i][j] = self._completion(o.outputs[0], k, n_prompt, per, seed)
        return results  # type: ignore[return-value]

    @staticmethod
    def _completion(out: Any, k: int | None, n_prompt: int, seconds: float, seed: int) -> Completion:
        lps = ents = tops = None
        if k and out.logprobs:
            lps, ents, tops = [], [], []
            for tok, step in zip(out.token_ids, out.logprobs, strict=False):
                vals = {int(t): float(v.logprob) for t, v in step.items()}
                lps.append(vals.get(int(tok), float("nan")))
                ents.append(topk_entropy(list(vals.values())))
                tops.append(vals)
        return Completion(
            text=out.text,
            token_ids=list(out.token_ids),
            finish_reason="length" if out.finish_reason == "length" else "stop",
            logprobs=lps,
            entropies=ents,
            entropy_kind="topk" if lps is not None else None,
            prompt_tokens=n_prompt,
            seconds=seconds,
            top_logprobs=tops,
            seed=seed,
        )

    def close(self) -> None:
        if self.llm is not None:
            del self.llm
            self.llm = None
            self._loaded = None
            try:
                import gc

                import torch

                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except ImportError:
                pass
