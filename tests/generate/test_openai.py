"""The openai backend against real local servers: `rsft serve` on the tiny model, a failing one, a dead port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from rsft.generate import GenerateConfig, Request, make_backend
from rsft.generate.hf import HFBackend
from rsft.generate.openai import OpenAIBackend

MSGS = [[{"role": "user", "content": p}] for p in ("Compute 12+34-5.", "Sort 5 3 9 1", "Hi there")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rsft.cli.main",
            "serve",
            str(tiny_model_dir),
            "--port",
            str(port),
            "--device",
            "cpu",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(url + "/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def _reqs():
    return [Request(messages=m, id=f"q{i}") for i, m in enumerate(MSGS)]


def test_chat_matches_in_process_hf(server, tiny_model_dir):
    cfg = GenerateConfig(temperature=1.0, max_new_tokens=10, n=2, seed=3, logprobs=True)
    remote = OpenAIBackend(str(tiny_model_dir), base_url=server, concurrency=4).generate(_reqs(), cfg)
    local = HFBackend(tiny_model_dir, device="cpu").generate(_reqs(), cfg)
    for rs, ls in zip(remote, local, strict=True):
        for r, loc in zip(rs, ls, strict=True):
            assert r.text == loc.text and r.finish_reason == loc.finish_reason == "length"
            assert r.logprobs == pytest.approx(loc.logprobs, abs=1e-4)
            assert r.entropies == pytest.approx(loc.entropies, abs=1e-4) and r.entropy_kind == "full"
            assert r.completion_tokens == 10 and r.seed == loc.seed and r.error is None


def test_completions_endpoint_and_models(server, tiny_model_dir):
    assert httpx.get(server + "/models").json()["data"][0]["object"] == "model"
    be = make_backend(f"openai/{tiny_model_dir}@{server}", endpoint="completions")
    cfg = GenerateConfig(temperature=0.7, max_new_tokens=6, seed=1, top_logprobs=3)
    remote = be.generate(_reqs(), cfg)
    local = HFBackend(tiny_model_dir, device="cpu").generate(_reqs(), cfg)
    assert [c[0].text for c in remote] == [c[0].text for c in local]
    assert remote[0][0].entropy_kind == "full" and len(remote[0][0].logprobs) == 6
    r = httpx.post(server + "/chat/completions", json={"messages": "nope"})
    assert r.status_code == 400 and "messages" in r.json()["error"]["message"]


class _Failing(BaseHTTPRequestHandler):
    """Answers 500 to the first `fail` requests, then a valid chat completion."""

    fail = 10**9
    hits = 0

    def log_message(self, *a):
        pass

    def do_POST(self):  # noqa: N802
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if type(self).hits <= type(self).fail:
            body, status = b'{"error": {"message": "boom"}}', 500
        else:
            body, status = (
                json.dumps(
                    {
                        "choices": [{"message": {"content": "<think>x</think>ok"}, "finish_reason": "stop"}],
                        "usage": {"completion_tokens": 5},
                    }
                ).encode(),
                200,
            )
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def failing():
    _Failing.hits = 0
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_server_errors_are_retried_then_recorded(failing):
    url = f"http://127.0.0.1:{failing.server_address[1]}/v1"
    be = OpenAIBackend("m", base_url=url, max_retries=2, backoff_s=0.01)
    c = be.generate(_reqs()[:1], GenerateConfig(max_new_tokens=4))[0][0]
    assert c.finish_reason == "error" and "HTTP 500" in c.error and "3 attempt" in c.error
    assert _Failing.hits == 3
    _Failing.hits, _Failing.fail = 0, 1  # a flaky server: the retry succeeds
    try:
        c = be.generate(_reqs()[:1], GenerateConfig(max_new_tokens=4))[0][0]
    finally:
        _Failing.fail = 10**9
    assert c.finish_reason == "stop" and c.text == "<think>x</think>ok" and c.completion_tokens == 5


def test_server_down_stops_the_sweep_and_stores_nothing(tmp_path):
    from rsft.eval import Store, SuiteConfig, model_target, run_sweep
    from rsft.generate.openai import ServerUnreachableError

    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    suite = SuiteConfig.model_validate(
        {
            "benchmarks": [{"name": "toy_sort", "options": {"n_items": 2}, "generation": {"n": 2}}],
            "backend": {"kind": "openai", "base_url": url, "max_retries": 1, "timeout_s": 2},
        }
    )
    be = OpenAIBackend(base_url=url, max_retries=1, backoff_s=0.01)
    # no answer is not a property of the samples: no error rows that a rerun would take as done
    with pytest.raises(ServerUnreachableError, match="4 of 4 requests got no answer.*ConnectError"):
        run_sweep(suite, Store(tmp_path), be, targets=[model_target("served-model")])
    assert not Store(tmp_path).keys()


def test_sweep_through_server_equals_in_process(server, tiny_model_dir, tmp_path):
    from rsft.eval import Store, SuiteConfig, model_target, run_sweep

    def sweep(kind: str, store):
        suite = SuiteConfig.model_validate(
            {
                "seed": 2,
                "generation": {"temperature": 1.0, "max_new_tokens": 8},
                "benchmarks": [{"name": "toy_arith", "options": {"n_items": 2}, "generation": {"n": 2}}],
                "backend": {"kind": kind, "base_url": server, "device": "cpu"},
            }
        )
        run_sweep(suite, Store(store), targets=[model_target(str(tiny_model_dir))])
        cols = ["item_id", "sample_idx", "seed", "response", "score", "outcome", "n_tokens", "weights_hash"]
        return Store(store).frame()[cols].sort_values(["item_id", "sample_idx"]).reset_index(drop=True)

    assert sweep("openai", tmp_path / "a").equals(sweep("hf", tmp_path / "b"))


def test_a_model_name_the_server_does_not_serve_is_a_clear_error(server, tiny_model_dir):
    from rsft._util.errors import RsftError

    with pytest.raises(RsftError, match=r"serves \[.*\], not 'step200'") as e:
        OpenAIBackend("step200", base_url=server)
    assert "--served-model-name" in str(e.value)
    OpenAIBackend(str(tiny_model_dir), base_url=server)  # the served name: fine
