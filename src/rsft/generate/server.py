"""A minimal OpenAI-compatible HTTP server on top of the hf backend (``rsft serve MODEL_DIR --port P``).

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions`` (plus ``GET /health``).
Standard-library ``ThreadingHTTPServer``; concurrent requests are queued and decoded together in batches by one
worker thread (per-sample seeds make a sample independent of its batch). Sampling fields: ``max_tokens`` /
``max_completion_tokens``, ``temperature`` (default 1.0, as OpenAI), ``top_p``, ``top_k`` (extension),
``presence_penalty``, ``frequency_penalty``, ``n``,
``seed`` (default 0: the server is deterministic), ``stop``, ``logprobs``/``top_logprobs``. Log-prob entries carry
an extra ``entropy`` field: the full-vocabulary next-token entropy, which the rsft ``openai`` backend reads.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rsft._util.hashing import canonical_json
from rsft.generate.base import Completion, GenerateConfig, Request


class BadRequest(ValueError):
    """A request the server refuses with HTTP 400."""


class Batcher:
    """Collects requests from handler threads and runs them through the backend in batches (one thread)."""

    def __init__(self, backend: Any, wait_s: float = 0.005) -> None:
        self.backend, self.wait_s = backend, wait_s
        self.jobs: queue.Queue = queue.Queue()
        threading.Thread(target=self._loop, daemon=True, name="rsft-serve-batcher").start()

    def submit(self, request: Request, config: GenerateConfig) -> list[Completion]:
        fut: Future = Future()
        self.jobs.put((request, config, fut))
        return fut.result()

    def _loop(self) -> None:
        while True:
            batch = [self.jobs.get()]
            time.sleep(self.wait_s)  # let concurrent requests join
            while True:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            groups: dict[str, list] = {}
            for job in batch:
                groups.setdefault(canonical_json(job[1].model_dump()), []).append(job)
            for jobs in groups.values():
                try:
                    out = self.backend.generate([j[0] for j in jobs], jobs[0][1])
                    for job, cs in zip(jobs, out, strict=True):
                        job[2].set_result(cs)
                except Exception as e:  # noqa: BLE001 - reported to each waiting client as HTTP 500
                    for job in jobs:
                        job[2].set_exception(e)


def _config(body: dict[str, Any], default_max: int) -> GenerateConfig:
    stop = body.get("stop") or []
    top = body.get("top_logprobs") or 0
    lp = body.get("logprobs")
    if isinstance(lp, int) and not isinstance(lp, bool):  # completions API: logprobs is the top-k count
        top, lp = lp, True
    try:
        return GenerateConfig(
            temperature=float(body.get("temperature", 1.0)),
            top_p=float(body.get("top_p", 1.0)),
            top_k=int(body.get("top_k", 0) or 0),
            presence_penalty=float(body.get("presence_penalty") or 0.0),
            frequency_penalty=float(body.get("frequency_penalty") or 0.0),
            max_new_tokens=int(body.get("max_completion_tokens") or body.get("max_tokens") or default_max),
            n=int(body.get("n", 1)),
            seed=int(body.get("seed") or 0),
            stop=[stop] if isinstance(stop, str) else list(stop),
            logprobs=bool(lp),
            top_logprobs=int(top),
        )
    except (ValueError, TypeError) as e:
        raise BadRequest(f"bad sampling parameters: {e}") from None


class _Handler(BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass

    def _send(self, status: int, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": status}})

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
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            route = self.path.rstrip("/")
            if route == "/v1/chat/completions":
                self._send(200, self.server.chat(body))
            elif route == "/v1/completions":
                self._send(200, self.server.completions(body))
            else:
                self._error(404, f"no route {self.path}", "not_found")
        except (BadRequest, json.JSONDecodeError) as e:
            self._error(400, str(e), "invalid_request_error")
        except Exception as e:  # noqa: BLE001 - the client gets a 500, the server keeps serving
            self._error(500, f"{type(e).__name__}: {e}", "server_error")


class OpenAIServer(ThreadingHTTPServer):
    """The server object: ``serve_forever()`` to run, ``shutdown()`` to stop."""

    daemon_threads = True

    def __init__(
        self, backend: Any, host: str = "127.0.0.1", port: int = 8000, model_name: str = "rsft"
    ) -> None:
        super().__init__((host, port), _Handler)
        self.backend, self.model_name = backend, model_name
        self.batcher = Batcher(backend)

    def _token(self, tid: int) -> str:
        return self.backend.tokenizer.decode([tid], skip_special_tokens=False)

    def _generate(self, request: Request, config: GenerateConfig) -> list[Completion]:
        return self.batcher.submit(request, config)

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty list")
        config = _config(body, 256)
        seed = body.get("seed")
        comps = self._generate(
            Request(messages=messages, seed=int(seed) if seed is not None else None), config
        )
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

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        prompts = body.get("prompt")
        prompts = [prompts] if isinstance(prompts, str) else prompts
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise BadRequest("'prompt' must be a string or a list of strings")
        config = _config(body, 16)
        seed = body.get("seed")
        choices, all_comps = [], []
        for p in prompts:
            comps = self._generate(Request(prompt=p, seed=int(seed) if seed is not None else None), config)
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


def serve(model_dir: str, host: str = "127.0.0.1", port: int = 8000, **backend_options: Any) -> None:
    """Load ``model_dir`` with the hf backend and serve it until interrupted."""
    from rsft.generate.hf import HFBackend

    backend = HFBackend(model_dir, **backend_options)
    backend.ensure_weights()
    server = OpenAIServer(backend, host, port, model_name=str(model_dir))
    print(f"rsft serve: {model_dir} on http://{host}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
