"""A minimal OpenAI-compatible HTTP server on top of the hf backend (``rsft serve MODEL_DIR --port P``).

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions`` (plus ``GET /health``).
Sampling fields: ``max_tokens`` / ``max_completion_tokens``, ``temperature`` (default 1.0, as OpenAI), ``top_p``,
``top_k`` (extension), ``presence_penalty``, ``frequency_penalty``, ``n``, ``seed`` (default 0: the server is
deterministic), ``stop``, ``logprobs``/``top_logprobs``. Log-prob entries carry an extra ``entropy`` field: the
full-vocabulary next-token entropy, which the rsft ``openai`` backend reads.

How it holds under load and abuse (each point is tested in ``tests/generate/test_server.py``):

* **Backlog and workers.** The listen backlog is :attr:`ServerLimits.backlog` (the standard library's default is
  5, which reset 11-26 of 50 concurrent clients); each connection gets a handler thread, and one batcher thread
  decodes queued requests together. More than :attr:`ServerLimits.max_queued` waiting requests get 503.
* **Bounded work.** ``max_tokens`` above :attr:`ServerLimits.max_tokens_cap` is refused with 400; ``n`` and the
  number of prompts are capped too. While a request waits or decodes, its handler watches the socket: when the
  client disconnects, the request is cancelled (dropped from the queue, or its rows leave the decode batch at the
  next token).
* **Every malformed request gets 4xx, never 500 or an allocation sized by the client.** The body is read only
  up to :attr:`ServerLimits.max_body_bytes` (413 above it, 400 for a missing, non-numeric or negative
  ``Content-Length``), must be UTF-8 JSON holding an object, and every field is checked: roles, string content,
  no lone surrogates, finite numbers in range, ``max_tokens >= 1``, ``top_logprobs`` within the engine's limit.
  JSON nested too deeply, integers too large for a float and empty stop strings are 400s too.
* **Bounded memory and the context** (``tests/generate/test_serve_cli.py``, a real ``rsft serve`` process). At most
  :attr:`ServerLimits.max_messages` messages; a prompt longer than the model's context is a 400, and one whose
  bytes alone exceed what the context can hold is refused before it is tokenized (a 15 MiB body is never prefilled).
  A request whose client left while it waited is dropped unstarted (never prefilled); the hf loop prefills server
  requests 512 positions at a time and stops once every client in the batch has left. Tiny temperatures and top-p
  values sample the argmax (:func:`rsft.generate.base.temperature_scores`). :func:`check_options` refuses a port,
  host, dtype, device or batch size the server cannot serve with, before the model is loaded.
"""

from __future__ import annotations

import json
import math
import queue
import re
import select
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rsft._util.hashing import canonical_json
from rsft.generate.base import Completion, GenerateConfig, Request

ROLES = ("system", "user", "assistant")
MAX_TOP_LOGPROBS = 20  # the engine's limit (OpenAI's too): top-k alternatives per token


@dataclass(frozen=True)
class ServerLimits:
    """What one server accepts. Defaults fit rsft's own suites (32,768 new tokens, the protocol's maximum)."""

    max_tokens_cap: int = 32768
    max_n: int = 64
    max_prompts: int = 64
    max_messages: int = 1024
    max_body_bytes: int = 16 << 20
    max_queued: int = 1024
    backlog: int = 1024
    read_timeout_s: float = 60.0


class BadRequest(ValueError):
    """A request the server refuses (HTTP 400 unless ``status`` says otherwise)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Cancelled(Exception):
    """The client went away before its request was decoded."""


class _Job:
    __slots__ = ("request", "config", "future", "cancel")

    def __init__(self, request: Request, config: GenerateConfig) -> None:
        self.request, self.config = request, config
        self.future: Future = Future()
        self.cancel = threading.Event()
        request.metadata["cancel"] = self.cancel  # the hf backend drops a cancelled row at the next token


class Batcher:
    """Collects requests from handler threads and runs them through the backend in batches (one thread)."""

    def __init__(self, backend: Any, wait_s: float = 0.005, max_queued: int = 1024) -> None:
        self.backend, self.wait_s, self.max_queued = backend, wait_s, max_queued
        self.jobs: queue.Queue = queue.Queue()
        # cancelled_unstarted: requests whose client left while they waited (never prefilled)
        self.stats = {"served": 0, "cancelled": 0, "cancelled_unstarted": 0, "cancelled_tokens": []}
        self.running = 0  # requests in the batch being generated now (GET /health: "running", and "queued")
        self._lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True, name="rsft-serve-batcher").start()

    def queue_state(self) -> dict[str, int]:
        """Requests waiting for the decoder, and how many of them their client already left (GET /health)."""
        with self.jobs.mutex:
            waiting = list(self.jobs.queue)
        return {"queued": len(waiting), "queued_cancelled": sum(j.cancel.is_set() for j in waiting)}

    def submit(self, request: Request, config: GenerateConfig) -> _Job:
        if self.jobs.qsize() >= self.max_queued:
            raise BadRequest(f"the server is busy ({self.max_queued} requests waiting); retry later", 503)
        job = _Job(request, config)
        self.jobs.put(job)
        return job

    def _loop(self) -> None:
        while True:
            batch = [self.jobs.get()]
            time.sleep(self.wait_s)  # let concurrent requests join
            while True:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            groups: dict[str, list[_Job]] = {}
            for job in batch:
                if job.cancel.is_set():
                    self._count_cancel(0, unstarted=True)
                    job.future.set_exception(Cancelled())
                else:
                    groups.setdefault(canonical_json(job.config.model_dump()), []).append(job)
            for jobs in groups.values():
                self.running = len(jobs)
                try:
                    self._run(jobs)
                finally:
                    self.running = 0

    def _run(self, jobs: list[_Job]) -> None:
        try:
            out = self.backend.generate([j.request for j in jobs], jobs[0].config)
        except Exception as e:  # noqa: BLE001 - reported to each waiting client as HTTP 500
            for job in jobs:
                job.future.set_exception(e)
            return
        for job, cs in zip(jobs, out, strict=True):
            if job.cancel.is_set():
                self._count_cancel(max(len(c.token_ids) for c in cs))
                job.future.set_exception(Cancelled())
            else:
                with self._lock:
                    self.stats["served"] += 1
                job.future.set_result(cs)

    def _count_cancel(self, tokens: int, unstarted: bool = False) -> None:
        with self._lock:
            self.stats["cancelled"] += 1
            self.stats["cancelled_unstarted"] += unstarted
            self.stats["cancelled_tokens"].append(tokens)


# ---------------------------------------------------------------------------------------------------------------
# request validation: every field a client sends is checked before anything is built from it


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"'{where}' must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"'{where}' holds a lone surrogate (not valid Unicode text)") from None
    return value


def _messages(raw: Any, limit: int) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'messages' must be a non-empty list")
    if len(raw) > limit:
        raise BadRequest(f"'messages' holds {len(raw)} messages, over this server's limit of {limit}")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            raise BadRequest(f"'messages[{i}]' must be an object with 'role' and 'content'")
        role = m.get("role")
        if role not in ROLES:
            raise BadRequest(f"'messages[{i}].role' must be one of {list(ROLES)}, got {role!r}")
        if "content" not in m or m["content"] is None:
            raise BadRequest(f"'messages[{i}]' has no 'content'")
        content = m["content"]
        if isinstance(content, list):  # OpenAI's content parts: only text parts are understood
            parts = []
            for k, p in enumerate(content):
                if not isinstance(p, dict) or p.get("type") != "text":
                    raise BadRequest(f"'messages[{i}].content[{k}]' must be a text part")
                parts.append(_text(p.get("text"), f"messages[{i}].content[{k}].text"))
            content = "".join(parts)
        out.append({"role": role, "content": _text(content, f"messages[{i}].content")})
    return out


def _number(body: dict, key: str, default: float, lo: float, hi: float, *, lo_open: bool = False) -> float:
    v = body.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadRequest(f"'{key}' must be a finite number, got {v!r}")
    if isinstance(v, int) and not lo <= v <= hi:  # before float(): 10**400 overflows a float
        interval = f"{'(' if lo_open else '['}{lo}, {hi}]"
        raise BadRequest(f"'{key}' must be in {interval}, got an integer of {len(str(abs(v)))} digits")
    if not math.isfinite(v):
        raise BadRequest(f"'{key}' must be a finite number, got {v!r}")
    if v < lo or v > hi or (lo_open and v == lo):
        raise BadRequest(f"'{key}' must be in {'(' if lo_open else '['}{lo}, {hi}], got {v}")
    return float(v)


def _int(body: dict, key: str, default: int | None, lo: int, hi: int) -> int | None:
    v = body.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadRequest(f"'{key}' must be an integer, got {v!r}")
    if not lo <= v <= hi:
        shown = str(v) if abs(v) < 10**30 else f"an integer of {len(str(abs(v)))} digits"
        raise BadRequest(f"'{key}' must be between {lo} and {hi}, got {shown}")
    return v


def _config(body: dict[str, Any], default_max: int, limits: ServerLimits) -> GenerateConfig:
    if body.get("stream"):
        raise BadRequest("streaming is not supported by rsft serve ('stream' must be false)")
    cap = limits.max_tokens_cap
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    v = body.get(key)
    if isinstance(v, int) and not isinstance(v, bool) and v > cap:
        raise BadRequest(f"'{key}' is {v}, above this server's cap of {cap} (rsft serve --max-tokens-cap)")
    max_new = _int(body, key, min(default_max, cap), 1, cap)
    stop = body.get("stop")
    stop = [] if stop is None else [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or len(stop) > 16:
        raise BadRequest("'stop' must be a string or a list of at most 16 strings")
    stop = [_text(s, "stop") for s in stop]
    if any(not s for s in stop):
        raise BadRequest("'stop' strings must not be empty (an empty string matches at once)")
    lp = body.get("logprobs")
    if isinstance(lp, bool) or lp is None:
        top = _int(body, "top_logprobs", 0, 0, MAX_TOP_LOGPROBS)
    else:  # completions API: logprobs is the top-k count
        top = _int(body, "logprobs", 0, 0, MAX_TOP_LOGPROBS)
        lp = True
    return GenerateConfig(
        temperature=_number(body, "temperature", 1.0, 0.0, 100.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0, lo_open=True),
        top_k=_int(body, "top_k", 0, 0, 1 << 30),
        presence_penalty=_number(body, "presence_penalty", 0.0, -2.0, 2.0),
        frequency_penalty=_number(body, "frequency_penalty", 0.0, -2.0, 2.0),
        max_new_tokens=max_new,
        n=_int(body, "n", 1, 1, limits.max_n),
        seed=_int(body, "seed", 0, -(1 << 63), (1 << 64) - 1) or 0,
        stop=stop,
        logprobs=bool(lp),
        top_logprobs=top or 0,
    )


def _seed(body: dict[str, Any]) -> int | None:
    return _int(body, "seed", None, -(1 << 63), (1 << 64) - 1)


# ---------------------------------------------------------------------------------------------------------------
# HTTP


class _Handler(BaseHTTPRequestHandler):
    server: OpenAIServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = self.server.limits.read_timeout_s  # a client that stops sending is dropped
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass

    def _send(self, status: int, obj: dict[str, Any], close: bool = False) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str, close: bool = False) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": status}}, close)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.rstrip("/") == "/v1/models":
            self._send(
                200,
                {
                    "object": "list",
                    "data": [{"id": self.server.model_name, "object": "model", "owned_by": "rsft"}],
                },
            )
        elif self.path == "/health":
            st = self.server.batcher.stats
            self._send(
                200,
                {"status": "ok", "served": st["served"], "cancelled": st["cancelled"],
                 "cancelled_unstarted": st["cancelled_unstarted"], "running": self.server.batcher.running,
                 **self.server.batcher.queue_state()},
            )  # fmt: skip
        else:
            self._error(404, f"no route {self.path}", "not_found")

    def _body(self) -> dict[str, Any]:
        """The JSON object in the body; the client's Content-Length is checked before anything is read."""
        if self.headers.get("Transfer-Encoding"):
            raise BadRequest("chunked bodies are not supported: send Content-Length")
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.strip().isdigit():
            raise BadRequest(f"a POST needs a Content-Length of decimal digits, got {raw!r}")
        length = int(raw.strip())
        if length > self.server.limits.max_body_bytes:
            raise BadRequest(
                f"body of {length} bytes is over the limit of {self.server.limits.max_body_bytes}", 413
            )
        try:
            data = self.rfile.read(length)
        except TimeoutError:
            raise BadRequest(
                f"the body did not arrive within {self.server.limits.read_timeout_s:g} s "
                f"(Content-Length says {length} bytes)"
            ) from None
        if len(data) != length:
            raise BadRequest(f"the body ended after {len(data)} of {length} bytes")
        try:
            body = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest("the body is not UTF-8 text") from None
        except RecursionError:
            raise BadRequest("the body's JSON is nested too deeply") from None
        except ValueError as e:  # also an integer of more than 4,300 digits
            raise BadRequest(f"the body is not valid JSON: {str(e)[:200]}") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        route = self.path.rstrip("/")
        if route not in ("/v1/chat/completions", "/v1/completions"):
            self._error(404, f"no route {self.path}", "not_found", close=True)
            return
        try:
            body = self._body()
            if route == "/v1/chat/completions":
                reply = self.server.chat(body, self._gone)
            else:
                reply = self.server.completions(body, self._gone)
            self._send(200, reply)
        except Cancelled:
            self.close_connection = True  # the client is gone: nothing to answer
        except BadRequest as e:
            kind = "invalid_request_error" if e.status < 500 else "server_busy"
            self._error(e.status, str(e), kind, close=True)  # the rest of the stream may be unread
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - the client gets a 500, the server keeps serving
            self._error(500, f"{type(e).__name__}: {e}", "server_error", close=True)

    def _gone(self) -> bool:
        """True when the client closed its connection (EOF readable without data)."""
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


class OpenAIServer(ThreadingHTTPServer):
    """The server object: ``serve_forever()`` to run, ``shutdown()`` to stop."""

    daemon_threads = True

    def __init__(
        self,
        backend: Any,
        host: str = "127.0.0.1",
        port: int = 8000,
        model_name: str = "rsft",
        limits: ServerLimits | None = None,
    ) -> None:
        self.limits = limits or ServerLimits()
        self.request_queue_size = self.limits.backlog  # read by server_activate() -> listen()
        super().__init__((host, port), _Handler)
        self.backend, self.model_name = backend, model_name
        self.context, self._max_token_bytes = _context(backend)
        self._count_lock = threading.Lock()
        self.batcher = Batcher(backend, max_queued=self.limits.max_queued)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client's broken or timed-out connection is its own problem: no traceback on the console."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def _token(self, tid: int) -> str:
        return self.backend.tokenizer.decode([tid], skip_special_tokens=False)

    def _generate(self, request: Request, config: GenerateConfig, gone) -> list[Completion]:
        """Queue one request and wait for it, cancelling it when ``gone()`` says the client left."""
        job = self.batcher.submit(request, config)
        while True:
            try:
                return job.future.result(timeout=0.1)
            except TimeoutError:
                if gone():
                    job.cancel.set()

    def _check_context(self, request: Request, where: str) -> None:
        """400 when the rendered prompt leaves no room for one new token in the model's context.

        A prompt of more bytes than ``context`` x the longest token's bytes is surely too long and is refused
        without tokenizing it (a 15 MiB body is never tokenized nor prefilled); any other is counted.
        """
        if self.context is None:
            return
        try:
            text = self.backend.render(request)
        except Exception as e:  # noqa: BLE001 - a template that refuses these messages is the client's input
            raise BadRequest(f"{where}: the chat template refused it ({type(e).__name__}: {str(e)[:200]})") from None
        size = len(text.encode("utf-8", "replace"))
        if size > self.context * self._max_token_bytes:
            raise BadRequest(
                f"{where}: the prompt is {size:,} bytes, more than the model's context of {self.context:,} tokens "
                "can hold"
            )
        with self._count_lock:
            n = self.backend.count_tokens(text)
        if n >= self.context:
            raise BadRequest(
                f"{where}: {n:,} prompt tokens leave no room in the model's context of {self.context:,} tokens"
            )

    def chat(self, body: dict[str, Any], gone=lambda: False) -> dict[str, Any]:
        messages = _messages(body.get("messages"), self.limits.max_messages)
        config = _config(body, 256, self.limits)
        request = Request(messages=messages, seed=_seed(body))
        self._check_context(request, "messages")
        comps = self._generate(request, config, gone)
        choices = []
        for j, c in enumerate(comps):
            choice: dict[str, Any] = {
                "index": j,
                "message": {"role": "assistant", "content": c.text},
                "finish_reason": c.finish_reason,
                "logprobs": None,
            }
            if config.logprobs:
                choice["logprobs"] = {"content": self._chat_logprobs(c)}
            choices.append(choice)
        return self._envelope("chat.completion", choices, comps)

    def _chat_logprobs(self, c: Completion) -> list[dict[str, Any]]:
        out = []
        for k, tid in enumerate(c.token_ids):
            tops = (c.top_logprobs or [{}] * len(c.token_ids))[k]
            tok = self._token(tid)
            out.append(
                {
                    "token": tok,
                    "logprob": c.logprobs[k],
                    "bytes": list(tok.encode("utf-8", "replace")),
                    "entropy": c.entropies[k],
                    "top_logprobs": [
                        {"token": self._token(t), "logprob": v, "bytes": None} for t, v in tops.items()
                    ],
                }
            )
        return out

    def completions(self, body: dict[str, Any], gone=lambda: False) -> dict[str, Any]:
        prompts = body.get("prompt")
        prompts = [prompts] if isinstance(prompts, str) else prompts
        if not isinstance(prompts, list) or not prompts or len(prompts) > self.limits.max_prompts:
            raise BadRequest(f"'prompt' must be a string or a list of 1 to {self.limits.max_prompts} strings")
        prompts = [_text(p, f"prompt[{i}]") for i, p in enumerate(prompts)]
        config = _config(body, 16, self.limits)
        seed = _seed(body)
        for i, p in enumerate(prompts):
            self._check_context(Request(prompt=p), f"prompt[{i}]")
        choices, all_comps = [], []
        for p in prompts:
            comps = self._generate(Request(prompt=p, seed=seed), config, gone)
            for c in comps:
                choice: dict[str, Any] = {
                    "index": len(choices),
                    "text": c.text,
                    "finish_reason": c.finish_reason,
                    "logprobs": None,
                }
                if config.logprobs:
                    toks = [self._token(t) for t in c.token_ids]
                    choice["logprobs"] = {
                        "tokens": toks,
                        "token_logprobs": c.logprobs,
                        "top_logprobs": [{self._token(t): v for t, v in d.items()} for d in c.top_logprobs]
                        if c.top_logprobs
                        else None,
                        "entropies": c.entropies,
                    }
                choices.append(choice)
            all_comps += comps
        return self._envelope("text_completion", choices, all_comps)

    def _envelope(self, kind: str, choices: list, comps: list[Completion]) -> dict[str, Any]:
        gen = sum(len(c.token_ids) for c in comps)
        prompt = comps[0].prompt_tokens if comps else 0
        return {
            "id": f"rsft-{uuid.uuid4().hex[:12]}",
            "object": kind,
            "created": int(time.time()),
            "model": self.model_name,
            "choices": choices,
            "usage": {"prompt_tokens": prompt, "completion_tokens": gen, "total_tokens": prompt + gen},
        }


def _context(backend: Any) -> tuple[int | None, int]:
    """(the model's context length in tokens, or None when the config names none; the most UTF-8 bytes one
    token of the vocabulary stands for, an upper bound used to refuse a huge prompt before tokenizing it)."""
    cfg = getattr(getattr(backend, "model", None), "config", None)
    context = None
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        v = getattr(cfg, key, None)
        if isinstance(v, int) and v > 0:
            context = v
            break
    tok = getattr(backend, "tokenizer", None)
    try:
        longest = max(len(t.encode("utf-8", "replace")) for t in tok.get_vocab())
    except (AttributeError, TypeError, ValueError):
        longest = 64
    return context, max(4, longest)  # >= 4: one token may be a byte-fallback of one UTF-8 character


DTYPES = ("auto", "float32", "bfloat16", "float16")


def check_options(host: str, port: int, device: str = "auto", dtype: str = "auto", batch_size: int = 1) -> None:
    """Refuse a server that could not serve, before the model is loaded: a port outside 0..65535, a host that
    does not resolve or cannot be bound here, an unknown dtype, a device this machine lacks, a batch size below 1.

    Raises:
        RsftError: one line naming the option.
    """
    from rsft._util.errors import RsftError

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise RsftError(f"--port must be 0..65535 (0 = any free port), got {port!r}", field="--port")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise RsftError(f"--batch-size must be at least 1, got {batch_size!r}", field="--batch-size")
    if dtype not in DTYPES:
        raise RsftError(f"--dtype must be one of {' | '.join(DTYPES)}, got {dtype!r}", field="--dtype")
    m = re.fullmatch(r"auto|cpu|cuda(?::(\d+))?", str(device))
    if m is None:
        raise RsftError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}", field="--device")
    if device.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(m.group(1) or 0)
        if index >= count:
            raise RsftError(
                f"--device {device}: this machine has {count} CUDA device(s)", field="--device",
                fix="use --device cpu, or auto",
            )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise RsftError(f"--host {host!r} does not resolve ({e})", field="--host") from None
    family, _, _, _, address = infos[0]
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        probe.bind(address)
    except OSError as e:
        raise RsftError(
            f"cannot listen on {host}:{port} ({e.strerror or e})", field="--port" if port else "--host",
            fix="choose another --port (0 = any free port), or an address of this machine for --host",
        ) from None
    finally:
        probe.close()


def serve(
    model_dir: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    limits: ServerLimits | None = None,
    say: Callable[[str], None] = lambda line: None,
    **backend_options: Any,
) -> None:
    """Load ``model_dir`` with the hf backend and serve it until interrupted; ``say`` gets the address line.

    Raises:
        RsftError: an option the server cannot serve with (:func:`check_options`), checked before loading.
    """
    from rsft.generate.hf import HFBackend

    check_options(
        host, port, backend_options.get("device", "auto"), backend_options.get("dtype", "auto"),
        backend_options.get("batch_size", 1),
    )  # fmt: skip
    backend = HFBackend(model_dir, **backend_options)
    backend.ensure_weights()
    server = OpenAIServer(backend, host, port, model_name=str(model_dir), limits=limits)
    say(f"rsft serve: {model_dir} on http://{host}:{server.server_address[1]}/v1")
    try:
        server.serve_forever()
    finally:
        server.server_close()
