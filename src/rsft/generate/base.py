"""The generation backend interface: ``generate(requests, config) -> completions``.

Backends are synchronous and batched. Ids are prefixed: ``hf/PATH_OR_ID``, ``openai/MODEL@URL``, ``vllm/PATH``.
``import rsft.generate`` never imports vLLM or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import Field, field_validator

from rsft._util.seeding import derive_seed
from rsft.config import MAX_NEW_TOKENS, MAX_SAMPLES, StrictModel


class GenerateConfig(StrictModel):
    """Sampling settings. Everything here is part of the cache key of a stored sample."""

    temperature: float = Field(0.0, ge=0.0, description="0 = greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="0 = off")
    presence_penalty: float = Field(
        0.0,
        ge=-2.0,
        le=2.0,
        description="OpenAI / vLLM semantics: subtracted once from the logit of every token "
        "already generated (the prompt does not count)",
    )
    frequency_penalty: float = Field(
        0.0,
        ge=-2.0,
        le=2.0,
        description="OpenAI / vLLM semantics: subtracted from a token's logit once per time it "
        "was generated so far",
    )
    max_new_tokens: int = Field(512, ge=1, le=MAX_NEW_TOKENS)
    n: int = Field(1, ge=1, le=MAX_SAMPLES, description="samples per prompt")
    seed: int = 0
    stop: list[str] = Field(
        default_factory=list, description="stop strings (not included in the text; never empty)"
    )
    stop_token_ids: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
    logprobs: bool = Field(False, description="per generated token: chosen log-prob and next-token entropy")
    top_logprobs: int = Field(0, ge=0, description="top-k alternatives (where entropy is not computable)")

    @field_validator("stop")
    @classmethod
    def _no_empty_stop(cls, v: list[str]) -> list[str]:
        # "" occurs at every position: each response would be cut to nothing and stored as a clean stop
        if any(s == "" for s in v):
            raise ValueError("an empty stop string would end every response at once; remove it")
        return v


@dataclass
class Request:
    """One prompt: chat messages (rendered with the model's template) or raw prompt text."""

    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None  # per-request seed; sample j uses sample_seed(config, request, j)


@dataclass
class Completion:
    """One generated sample.

    Attributes:
        text: decoded text (special tokens removed, thinking tags kept).
        token_ids: generated token ids (may be empty for backends that do not return them).
        finish_reason: "stop" (EOS or stop string), "length" (max_new_tokens reached) or "error".
        logprobs: chosen-token log-probabilities, when asked.
        entropies: next-token entropies, when asked; ``entropy_kind`` says how they were computed.
        entropy_kind: "full" (whole vocabulary), "topk:K" (over the K returned top log-probs only, renormalised;
            never comparable with, nor averaged into, full entropies) or None.
        prompt_tokens: prompt length in tokens.
        seconds: wall time attributed to this sample (batch time split evenly).
        error: error text when finish_reason is "error".
    """

    text: str
    token_ids: list[int] = field(default_factory=list)
    finish_reason: Literal["stop", "length", "error"] = "stop"
    logprobs: list[float] | None = None
    entropies: list[float] | None = None
    entropy_kind: str | None = None  # "full" | "topk:K" | None
    prompt_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None
    top_logprobs: list[dict[int, float]] | None = None  # per token: top-k ids -> log-prob, when asked
    seed: int | None = None  # the seed this sample was drawn with
    completion_tokens: int | None = None  # generated tokens, when the backend reports a count but no ids


TINY_TEMPERATURE = 1e-3


def temperature_scores(logits: Any, temperature: float) -> Any:
    """``logits / temperature`` for sampling (``temperature > 0``), finite for every positive temperature.

    At and above :data:`TINY_TEMPERATURE` this is the plain float32 division. Below it, float32 fails: 1e-40
    divides to inf (softmax gives NaN) and 1e-300 rounds to a float32 zero; there each row's maximum is subtracted
    first and the division is done in float64, so the largest logit scores 0 and the draw tends to the argmax (the
    limit the temperature goes to), never a traceback (``tests/generate/test_serve_cli.py``).
    """
    if temperature >= TINY_TEMPERATURE:
        return logits.float() / temperature
    wide = logits.double()
    return (wide - wide.amax(-1, keepdim=True)) / temperature


def sample_seed(config: GenerateConfig, request: Request, j: int) -> int:
    """The seed of sample ``j`` of ``request``: a pure function of (seed, request, j), never of the batch.

    With ``request.seed`` set, sample 0 uses it as is (the evaluation runner derives one seed per stored sample and
    asks for one sample per request); otherwise the seed derives from ``config.seed`` and the request id or prompt.
    """
    if request.seed is not None:
        base = request.seed
    else:
        ident = request.id or request.prompt or repr(request.messages)
        base = derive_seed(config.seed, ident)
    return base if j == 0 else derive_seed(base, j)


@runtime_checkable
class Backend(Protocol):
    """A generation backend: everything the evaluation runner, rollouts and the model judges call on one.

    hf, openai and vllm implement all of it; a new backend is one file implementing it plus one line in
    :data:`rsft.generate.registry.BACKENDS`.

    Attributes:
        name: the registry kind ("hf", "openai", "vllm").
        batch_size: requests the runner hands to one ``generate`` call (and rows per store write).
    """

    name: str
    batch_size: int

    def load(self, model: str | Path) -> None:
        """Make ``model`` (a folder, hub id or served model name) the one ``generate`` uses; a no-op when it is
        already loaded."""
        ...

    def render(self, request: Request) -> str:
        """The exact prompt text the model is fed (chat template applied): hashed into every store key."""
        ...

    def count_tokens(self, text: str) -> int | None:
        """Tokens of ``text`` in the model's tokenizer; None where the backend cannot count (a remote server)."""
        ...

    def generate(self, requests: list[Request], config: GenerateConfig) -> list[list[Completion]]:
        """Per request, ``config.n`` completions in order; a sample's seed depends on (seed, request, j) only."""
        ...

    def close(self) -> None:
        """Release the model and any worker or connection."""
        ...


def apply_penalties(logits: Any, generated: list[list[int]], config: GenerateConfig) -> Any:
    """Presence and frequency penalties on raw logits (before temperature, top-k and top-p; also under greedy), as
    OpenAI and vLLM define them: ``logit[t] -= presence * (count[t] > 0) + frequency * count[t]``, where
    ``count[t]`` is how often token ``t`` occurs in the row's generated tokens so far. Returns new logits."""
    import torch

    if not (config.presence_penalty or config.frequency_penalty) or not any(generated):
        return logits
    counts = torch.zeros(logits.shape, dtype=torch.float32, device=logits.device)
    for k, ids in enumerate(generated):
        if ids:
            idx = torch.tensor(ids, device=logits.device)
            counts[k].index_add_(0, idx, torch.ones(len(ids), device=logits.device))
    penalty = config.frequency_penalty * counts + config.presence_penalty * (counts > 0).float()
    return logits.float() - penalty


def row_completion(row: Any, text: str, config: GenerateConfig, seconds: float) -> Completion:
    """The Completion of a finished decode row (the hf backend's and the fast path's rows share these fields:
    ``gen``, ``finish``, ``text_end``, ``logprobs``, ``entropies``, ``tops``, ``ids``, ``seed``)."""
    if row.text_end is not None:
        text = text[: row.text_end]  # cut at the stop string
    want = bool(config.logprobs or config.top_logprobs)
    return Completion(
        text=text,
        token_ids=list(row.gen),
        finish_reason=row.finish or "length",
        logprobs=row.logprobs if want else None,
        entropies=row.entropies if want else None,
        entropy_kind="full" if want else None,
        prompt_tokens=len(row.ids),
        seconds=seconds,
        top_logprobs=row.tops if config.top_logprobs else None,
        seed=row.seed,
    )
