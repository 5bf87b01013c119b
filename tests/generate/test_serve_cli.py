"""A real ``rsft serve`` process on 127.0.0.1 (the repo's tiny random Qwen3: greedy decoding runs to the length
limit) against a real client (raw sockets and httpx): hostile bodies get a prompt 4xx and never a 500, a 15 MiB body
does not grow the server's memory, a prompt longer than the context is a 400, a client that leaves is cancelled
before its prefill or during its decode, and options the server cannot serve with stop it at start."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
CHAT = "/v1/chat/completions"
CAP = 3000  # max_tokens of the long requests: greedy decoding of the random model runs to it (tens of seconds)


def _rss_peak_kib(pid: int) -> int:
    """The process's peak resident memory (VmHWM) in KiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1))


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    cmd = [sys.executable, "-m", "rsft.cli.main", "serve", str(tiny_model_dir), "--port", "0", "--device", "cpu"]
    cmd += ["--batch-size", "4", "--max-tokens-cap", str(CAP)]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # "rsft serve: MODEL on http://127.0.0.1:PORT/v1", printed once listening
    m = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
    if m is None:
        proc.kill()
        pytest.fail(f"rsft serve did not start: {line!r} {proc.stderr.read()[-2000:]}")
    url = f"http://127.0.0.1:{m.group(1)}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    yield proc, url, int(m.group(1))
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _raw(port: int, data: bytes, timeout: float = 60.0) -> tuple[int, dict]:
    """Send raw bytes; (status, JSON body) of the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (a body over the limit) and closed: read its answer
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed without a response: {buf[:200]!r}")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        return int(head.split()[1]), json.loads(rest[:length])


def _post(body: bytes, path: str = CHAT, length: str | None = None) -> bytes:
    length = str(len(body)) if length is None else length
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode() + body


def _chat(content: str = "Hi there", **fields) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": content}], "max_tokens": 2, **fields}).encode()


HOSTILE = {
    "JSON nested 100,000 deep": b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "objects nested 50,000 deep": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "an integer of 5,000 digits": b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": ' + b"9" * 5000 + b"}",
    "temperature an integer of 401 digits": b'{"messages": [{"role": "user", "content": "hi"}], "temperature": 1'
    + b"0" * 400 + b"}",
    "seed of 100 digits": _chat(seed=10**100),
    "stop an empty string": _chat(stop=[""]),
    "20,000 messages": json.dumps({"messages": [{"role": "user", "content": "hi"}] * 20_000}).encode(),
}
BAD_LENGTH = ["+5", "1e3", "5, 5", "-1", "abc", "\u0661\u0662", "99999999999999999999999999"]


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_bodies_get_a_prompt_4xx(server, case):
    _, _, port = server
    t0 = time.perf_counter()
    status, body = _raw(port, _post(HOSTILE[case]))
    assert 400 <= status < 500, (case, status, body)
    assert body["error"]["code"] == status and body["error"]["message"]
    assert time.perf_counter() - t0 < 30, case  # 20,000 messages went unanswered for 120 s before


@pytest.mark.parametrize("length", BAD_LENGTH)
def test_a_malformed_content_length_is_a_4xx(server, length):
    _, _, port = server
    status, body = _raw(port, _post(_chat(), length=length.encode("utf-8").decode("latin-1")))
    assert status in (400, 413), (length, status, body)


@pytest.mark.parametrize("field,value", [("temperature", 1e-40), ("temperature", 1e-300), ("top_p", 1e-300),
                                         ("top_p", 5e-324)])  # fmt: skip
def test_tiny_temperature_and_top_p_sample_the_argmax_not_a_500(server, field, value):
    """Below float32's range these gave NaN probabilities (HTTP 500, and a traceback in `rsft eval`). The limit of
    a vanishing temperature (or nucleus) is greedy decoding: the tokens must equal temperature 0's."""
    _, url, _ = server
    greedy = httpx.post(url + CHAT, content=_chat(max_tokens=8, temperature=0), timeout=120).json()
    r = httpx.post(url + CHAT, content=_chat(max_tokens=8, **{field: value}), timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"] == greedy["choices"][0]["message"]


def test_a_prompt_longer_than_the_context_is_a_400(server, tiny_model_dir):
    _, url, _ = server
    context = json.loads((Path(tiny_model_dir) / "config.json").read_text())["max_position_embeddings"]
    long = " ".join(["Sort 5 3 9 1"] * context)  # several tokens per repeat: well over the context
    for path, body in ((CHAT, _chat(long)), ("/v1/completions", json.dumps({"prompt": long}).encode())):
        r = httpx.post(url + path, content=body, timeout=120)
        assert r.status_code == 400 and "context" in r.json()["error"]["message"], r.text
    assert httpx.post(url + CHAT, content=_chat("Sort 5 3 9 1"), timeout=120).status_code == 200


def test_a_15_mib_body_is_refused_without_growing_the_server(server):
    """One 15 MiB message (under the 16 MiB body limit) grew the server to 13 GB: it was tokenized and prefilled.
    Now it is refused from its byte size alone; the server's peak resident memory may grow by the body's own
    copies (the bytes, the decoded text, the parsed JSON, the rendered prompt), never by gigabytes."""
    proc, url, port = server
    before = _rss_peak_kib(proc.pid)
    body = _chat("Sort 5 3 9 1 " * (15 * (1 << 20) // 13))
    assert 14 << 20 < len(body) < 16 << 20
    t0 = time.perf_counter()
    status, reply = _raw(port, _post(body), timeout=120)
    seconds = time.perf_counter() - t0
    grown_mib = (_rss_peak_kib(proc.pid) - before) / 1024
    assert status == 400 and "context" in reply["error"]["message"], reply
    assert seconds < 60
    assert grown_mib < 400, f"peak RSS grew by {grown_mib:.0f} MiB for a 15 MiB body"
    assert httpx.get(url + "/health", timeout=30).status_code == 200


def _health(url: str) -> dict:
    return httpx.get(url + "/health", timeout=30).json()


def _wait(pred, timeout: float = 120.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_a_client_that_leaves_is_cancelled_in_decode_and_before_its_prefill(server):
    """A holds the decoder (greedy, runs to max_tokens); B queues behind it and leaves; then A leaves. A leaves the
    batch at the next token and B is dropped unstarted (never prefilled); the next request is answered at once
    instead of after A's and B's decodes. Each step waits for the server's own state (GET /health: running,
    queued), not for a fixed time: a quiet machine decodes A's 3,000 tokens in a few seconds, a loaded one takes
    a minute."""
    _, url, port = server
    start = _health(url)
    a = socket.create_connection(("127.0.0.1", port))
    a.sendall(_post(_chat(max_tokens=CAP, temperature=0)))
    assert _wait(lambda: _health(url)["running"] >= 1, timeout=60), _health(url)  # A is being generated
    b = socket.create_connection(("127.0.0.1", port))
    b.sendall(_post(_chat("Compute 12+34-5.", max_tokens=CAP, temperature=0)))
    assert _wait(lambda: _health(url)["queued"] >= 1, timeout=60), _health(url)  # B waits behind A
    b.close()
    assert _wait(lambda: _health(url)["queued_cancelled"] >= 1, timeout=60), _health(url)  # B's leaving is seen
    assert _health(url)["running"] >= 1  # A is still being generated
    a.close()
    assert _wait(lambda: _health(url)["cancelled"] >= start["cancelled"] + 2), _health(url)
    now = _health(url)
    assert now["cancelled_unstarted"] >= start["cancelled_unstarted"] + 1, now
    t0 = time.perf_counter()
    r = httpx.post(url + CHAT, content=_chat(max_tokens=2, temperature=0), timeout=60)
    assert r.status_code == 200 and time.perf_counter() - t0 < 20


@pytest.mark.parametrize(
    "args,field",
    [(["--batch-size", "0"], "--batch-size"), (["--port", "70000"], "--port"), (["--dtype", "float8"], "--dtype"),
     (["--device", "tpu"], "--device"), (["--device", "cuda:99"], "--device"),
     (["--host", "no.such.host.invalid"], "--host")],
)  # fmt: skip
def test_options_the_server_cannot_serve_with_stop_it_at_start(tiny_model_dir, args, field):
    cmd = [sys.executable, "-m", "rsft.cli.main", "serve", str(tiny_model_dir), *args]
    out = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, (args, out.stdout, out.stderr)
    assert field in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_a_port_in_use_is_one_line_at_start(tiny_model_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-m", "rsft.cli.main", "serve", str(tiny_model_dir), "--port", str(port)]
        out = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "cannot listen on" in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_both_samplers_stay_finite_at_tiny_temperatures_and_nuclei():
    """The hf decode loop's sampler (`rsft eval` on CPU, `rsft serve`) and the fast path's (CUDA) both return the
    argmax where float32 broke: a temperature of 1e-40 divided to inf, 1e-300 and a top_p of 1e-300 rounded to 0."""
    import torch

    from rsft.generate.base import GenerateConfig
    from rsft.generate.fast import sample_tokens
    from rsft.generate.hf import HFBackend

    logits = torch.randn(6, 97, generator=torch.Generator().manual_seed(0))
    best = logits.argmax(-1).tolist()
    for temperature, top_p in ((1e-40, 1.0), (1e-300, 1.0), (5e-324, 1.0), (0.7, 1e-300), (1e-40, 5e-324)):
        u = torch.rand(6, generator=torch.Generator().manual_seed(1))
        assert sample_tokens(logits, u, temperature=temperature, top_p=top_p).tolist() == best
        cfg = GenerateConfig(temperature=temperature, top_p=top_p)
        gens = [torch.Generator().manual_seed(k) for k in range(6)]
        assert HFBackend._pick(logits, gens, cfg) == best
    u = torch.rand(6, generator=torch.Generator().manual_seed(1))  # ordinary values are unchanged: still sampled
    assert sample_tokens(logits, u, temperature=1.0).tolist() != best


def test_a_prefill_stops_between_chunks_once_its_client_left(tiny_model_dir):
    """The plain hf loop prefills a cancellable batch (every `rsft serve` request) 512 positions at a time: when the
    client leaves during the prefill, the rest is never computed. Not cancelled, the chunked prefill gives the same
    greedy tokens as the one-forward prefill `rsft eval` uses."""
    import threading

    from rsft.generate.base import GenerateConfig, Request
    from rsft.generate.hf import PREFILL_CHUNK, HFBackend

    backend = HFBackend(str(tiny_model_dir), device="cpu", fast=False)
    backend.ensure_weights()
    prompt = " ".join(["Sort 5 3 9 1: 1 3 5 9."] * 200)
    n_prompt = backend.count_tokens(prompt)
    assert 3 * PREFILL_CHUNK < n_prompt < backend.model.config.max_position_embeddings - 64
    config = GenerateConfig(max_new_tokens=8)
    calls, left = [], threading.Event()

    def hook(module, args, kwargs, out):
        calls.append(kwargs["input_ids"].shape[1])
        left.set()  # the client leaves while the first chunk is computed

    handle = backend.model.register_forward_hook(hook, with_kwargs=True)
    try:
        cancelled = backend.generate([Request(prompt=prompt, metadata={"cancel": left})], config)[0][0]
        assert calls == [PREFILL_CHUNK] and cancelled.token_ids == [] and backend.prefill_cancelled == 1
        calls.clear()
        chunked = backend.generate([Request(prompt=prompt, metadata={"cancel": threading.Event()})], config)[0][0]
        assert calls[: -(-n_prompt // PREFILL_CHUNK)] == [PREFILL_CHUNK] * (n_prompt // PREFILL_CHUNK) + [
            n_prompt % PREFILL_CHUNK
        ][: bool(n_prompt % PREFILL_CHUNK)]
        calls.clear()
        whole = backend.generate([Request(prompt=prompt)], config)[0][0]
        assert calls[0] == n_prompt  # nobody can cancel it: one forward, as before
    finally:
        handle.remove()
    assert chunked.token_ids == whole.token_ids and len(whole.token_ids) == 8
