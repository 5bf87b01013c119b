"""The ``openai`` backend: any OpenAI-compatible server (vLLM, SGLang, TGI, ``transformers serve``, ``rsft serve``,
hosted APIs), over the chat or the completions endpoint.

Each sample is one HTTP request (``n=1``) carrying its own seed (:func:`~rsft.generate.base.sample_seed`), sent from
a thread pool of ``concurrency`` workers over one ``httpx`` client. Connection errors, timeouts, 408/409/429 and 5xx
answers are retried with exponential backoff (``backoff_s * 2**attempt``, capped at 30 s); after ``max_retries``
retries — or at once for other 4xx answers — the sample becomes ``Completion(finish_reason="error", error=...)``
and the sweep goes on. A server that cannot be reached at all (connection refused, reset, timed out) after the
retries is not a property of the sample: ``generate`` raises :class:`ServerUnreachableError` and stores nothing for
that batch, so a sweep rerun after the server is back generates exactly the rows it is missing.

On ``load`` the backend asks the server which models it serves (``GET /models``) and fails at once, naming them,
when the requested name is not among them; with a local model folder it also compares the server's tokenization
of a probe text (vLLM's ``POST /tokenize``) with the folder's tokenizer, since rows are keyed by that folder's
weights. Servers without these endpoints are not checked.

Log-probabilities: the chosen token's log-prob from the server; the entropy is the server's full-vocabulary value
when it sends one (``rsft serve`` does, ``entropy_kind="full"``), else computed over the returned top-k
(``entropy_kind="topk:K"``, K = ``top_logprobs``, at least 1). Servers that split reasoning into ``reasoning_content`` get it put back as
``<think>…</think>`` before the answer, so scoring sees the same text as with in-process backends.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rsft._util.errors import RsftError
from rsft._util.hashing import canonical_json
from rsft.chat import THINK_CLOSE, THINK_OPEN, render_prompt, resolve_format
from rsft.generate.base import Completion, GenerateConfig, Request, sample_seed
from rsft.generate.vllm import topk_entropy

RETRY_STATUS = {408, 409, 429}
_TOKENIZE_PROBE = "Compute 12+34-5. <think>Sort 5 3 9 1</think> <answer>41</answer>"


class ServerUnreachableError(RsftError):
    """The server stopped answering (or never did): the sweep stops; what it stored so far is kept."""


class OpenAIBackend:
    """A client for an OpenAI-compatible server.

    Args:
        model: the served model name (a local folder also lends its tokenizer, needed for the completions endpoint).
        base_url: e.g. ``http://127.0.0.1:8000/v1``.
        api_key_env: environment variable holding the API key (unset: no key, fine for local servers).
        endpoint: "chat" or "completions" (prompt rendered here with the model's chat template).
        concurrency: requests in flight. timeout_s: per request. max_retries: retries after the first try.
        backoff_s: first retry delay. batch_size: samples per ``generate`` call in sweeps (the flush unit).
        system_prompt, chat_template_kwargs: the prompt format (:class:`rsft.chat.PromptFormat`). On the chat
            endpoint a given system text is sent as the first message and the kwargs as ``chat_template_kwargs``
            (vLLM and SGLang apply them); ``none`` cannot remove a server template's default system turn there —
            use the completions endpoint with a local tokenizer for that.
    """

    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        endpoint: str = "chat",
        concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        batch_size: int = 32,
        system_prompt: str | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
    ) -> None:
        import httpx

        self.prompt_format = resolve_format(None, system_prompt, chat_template_kwargs)

        if not base_url:
            raise RsftError(
                "the openai backend needs a server URL",
                field="backend.base_url",
                fix="set backend.base_url=http://HOST:PORT/v1 (or use an id like openai/MODEL@http://HOST:PORT/v1)",
            )
        if endpoint not in ("chat", "completions"):
            raise RsftError(
                f"unknown endpoint '{endpoint}'", field="backend.endpoint", fix="chat | completions"
            )
        self.base_url = base_url.rstrip("/")
        self.endpoint, self.concurrency, self.max_retries = endpoint, concurrency, max_retries
        self.backoff_s, self.batch_size, self.timeout_s = backoff_s, batch_size, timeout_s
        key = os.environ.get(api_key_env or "", "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(
            timeout=timeout_s,
            headers=headers,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self.model: str | None = None
        self.tokenizer: Any = None
        if model is not None:
            self.load(model)

    def load(self, model: str) -> None:
        """Use ``model`` as the served model name; a local folder also provides the tokenizer."""
        self.model = str(model)
        self.tokenizer = None
        if Path(self.model).is_dir() and any(Path(self.model).glob("tokenizer*")):
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(self.model)
        self._check_served()

    def _check_served(self) -> None:
        """A clear error now rather than a store full of error rows: the model name must be served, and a local
        folder's tokenizer must tokenize like the server's."""
        try:
            r = self.client.get(self.base_url + "/models", timeout=min(self.timeout_s, 10.0))
            served = [m.get("id") for m in r.json().get("data", [])] if r.status_code == 200 else []
        except Exception:  # noqa: BLE001 - unreachable or not OpenAI-shaped: requests will say so
            return
        if served and self.model not in served:
            raise RsftError(
                f"the server at {self.base_url} serves {served}, not '{self.model}'",
                field="model",
                fix="pass one of the served names, or start the server with --served-model-name NAME",
            )
        if self.tokenizer is None:
            return
        root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        try:
            r = self.client.post(
                root + "/tokenize",
                json={"model": self.model, "prompt": _TOKENIZE_PROBE, "add_special_tokens": False},
                timeout=min(self.timeout_s, 10.0),
            )
            theirs = r.json().get("tokens") if r.status_code == 200 else None
        except Exception:  # noqa: BLE001 - no tokenize endpoint: nothing to compare
            return
        ours = self.tokenizer(_TOKENIZE_PROBE, add_special_tokens=False)["input_ids"]
        if theirs is not None and list(theirs) != list(ours):
            raise RsftError(
                f"the server at {self.base_url} tokenizes differently from the tokenizer in {self.model} "
                f"(a probe text gives {len(theirs)} tokens there, {len(ours)} here): it serves other weights "
                "than the ones the stored rows would be keyed by",
                field="model",
                fix="serve this folder (vllm serve FOLDER), or pass the folder the server was started with",
            )

    def render(self, request: Request) -> str:
        """Chat: the messages' canonical JSON (the server applies its template); completions: the prompt text."""
        if request.prompt is not None:
            return request.prompt
        if self.endpoint == "chat":
            return canonical_json(self._chat(request))
        if self.tokenizer is None:
            raise RsftError(
                "the completions endpoint needs the model's tokenizer to render chat prompts",
                field="backend.endpoint",
                fix="pass a local model folder as --model, or use endpoint=chat",
            )
        return render_prompt(self.tokenizer, request.messages or [], self.prompt_format)

    def _chat(self, request: Request) -> Any:
        """The messages sent to the chat endpoint (with the system text and template variables of the format)."""
        msgs = list(request.messages or [])
        policy = self.prompt_format.system_prompt
        if policy not in ("none", "model_default") and not (msgs and msgs[0].get("role") == "system"):
            msgs = [{"role": "system", "content": policy}, *msgs]
        if self.prompt_format.chat_template_kwargs:
            return {"messages": msgs, "chat_template_kwargs": self.prompt_format.chat_template_kwargs}
        return msgs

    def count_tokens(self, text: str) -> int | None:
        if self.tokenizer is None:
            return None
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0

    def close(self) -> None:
        self.client.close()

    def generate(self, requests: list[Request], config: GenerateConfig) -> list[list[Completion]]:
        jobs = [(i, j) for i in range(len(requests)) for j in range(config.n)]
        results: list[list[Completion | None]] = [[None] * config.n for _ in requests]
        unreachable = []
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            done = pool.map(lambda ij: self._one(requests[ij[0]], ij[1], config), jobs)
            for (i, j), (c, transport) in zip(jobs, done, strict=True):
                results[i][j] = c
                if transport:
                    unreachable.append(c.error)
        if unreachable:
            raise ServerUnreachableError(
                f"{len(unreachable)} of {len(jobs)} requests got no answer from the server ({unreachable[0]})",
                fix="start (or restart) the server and rerun the same command: stored rows are reused, "
                "nothing of this batch was stored",
            )
        return results  # type: ignore[return-value]

    def _payload(self, request: Request, config: GenerateConfig, seed: int) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "n": 1,
            "seed": seed % (2**63),
        }
        if config.top_k:
            body["top_k"] = config.top_k  # an extension most open servers accept
        if config.presence_penalty:
            body["presence_penalty"] = config.presence_penalty
        if config.frequency_penalty:
            body["frequency_penalty"] = config.frequency_penalty
        if config.stop:
            body["stop"] = config.stop
        want = config.logprobs or config.top_logprobs
        if self.endpoint == "chat" and request.prompt is None:
            chat = self._chat(request)
            body["messages"] = chat["messages"] if isinstance(chat, dict) else chat
            if isinstance(chat, dict):
                body["chat_template_kwargs"] = chat["chat_template_kwargs"]
            if want:
                body["logprobs"] = True
                body["top_logprobs"] = max(config.top_logprobs, 1)
            return "/chat/completions", body
        body["prompt"] = self.render(request)
        if want:
            body["logprobs"] = max(config.top_logprobs, 1)
        return "/completions", body

    def _one(self, request: Request, j: int, config: GenerateConfig) -> tuple[Completion, bool]:
        """One sample, and whether it failed because no server answered (transport errors only)."""
        seed = sample_seed(config, request, j)
        path, body = self._payload(request, config, seed)
        last, transport = "no attempt", False
        t0 = time.perf_counter()
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(min(self.backoff_s * 2 ** (attempt - 1), 30.0))
            try:
                r = self.client.post(self.base_url + path, json=body)
            except Exception as e:  # noqa: BLE001 - transport errors of any kind are retried
                last, transport = f"{type(e).__name__}: {e}", True
                continue
            transport = False
            if r.status_code == 200:
                try:
                    c = self._parse(r.json(), path)
                except (ValueError, KeyError, IndexError, TypeError) as e:
                    last = f"unreadable response: {type(e).__name__}: {e}"
                    continue
                c.seconds, c.seed = time.perf_counter() - t0, seed
                if c.entropy_kind == "topk":
                    c.entropy_kind = f"topk:{max(config.top_logprobs, 1)}"
                return c, False
            last = f"HTTP {r.status_code}: {r.text[:300]}"
            if r.status_code < 500 and r.status_code not in RETRY_STATUS:
                break
        return Completion(
            text="",
            finish_reason="error",
            error=f"{self.base_url}{path} failed after {attempt + 1} attempt(s): {last}",
            seconds=time.perf_counter() - t0,
            seed=seed,
        ), transport

    @staticmethod
    def _parse(data: dict[str, Any], path: str) -> Completion:
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        lps = ents = None
        kind = None
        if path == "/chat/completions":
            msg = choice["message"]
            text = msg.get("content") or ""
            reasoning = msg.get("reasoning_content") or msg.get("reasoning")
            if reasoning:
                text = f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{text}"
            content = (choice.get("logprobs") or {}).get("content")
            if content:
                lps = [float(t["logprob"]) for t in content]
                if all("entropy" in t for t in content):
                    ents, kind = [float(t["entropy"]) for t in content], "full"
                else:
                    ents = [
                        topk_entropy([x["logprob"] for x in t.get("top_logprobs") or [t]]) for t in content
                    ]
                    kind = "topk"
        else:
            text = choice.get("text") or ""
            lp = choice.get("logprobs") or {}
            if lp.get("token_logprobs"):
                lps = [float(x) for x in lp["token_logprobs"]]
                if lp.get("entropies"):
                    ents, kind = [float(x) for x in lp["entropies"]], "full"
                else:
                    tops = lp.get("top_logprobs") or [{} for _ in lps]
                    ents = [topk_entropy(list(d.values()) or [x]) for d, x in zip(tops, lps, strict=False)]
                    kind = "topk"
        n = usage.get("completion_tokens")
        return Completion(
            text=text,
            finish_reason=finish,
            logprobs=lps,
            entropies=ents,
            entropy_kind=kind,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(n) if n is not None else (len(lps) if lps else None),
        )
