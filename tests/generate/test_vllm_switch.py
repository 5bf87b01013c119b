"""One engine per sweep: checkpoint switches load weights into the live vLLM engine (tests need vLLM; see
test_vllm.py). Each switch is checked against a fresh engine on the same checkpoint and against the hf backend."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from rsft.generate import GenerateConfig

sys.path.insert(0, str(Path(__file__).parent))
from _vllm_support import LOGPROB_TOL, reqs, same  # noqa: E402

needs_vllm = pytest.mark.vllm

GREEDY = GenerateConfig(max_new_tokens=40, logprobs=True, top_logprobs=512)


@needs_vllm
def test_switch_in_place_equals_a_fresh_engine(engine, hf, vllm_run, caplog, tmp_path):
    from rsft.generate.vllm import VLLMBackend

    engine.load(vllm_run[0])
    before = engine.generate(reqs(), GREEDY)
    starts = engine.engine_starts
    engine.load(vllm_run[3])
    switched = engine.generate(reqs(), GREEDY)  # the same prompts: stale prefix-cache blocks would be reused
    assert engine.last_load["how"] == "in_place" and engine.last_load["route"] == "reload"
    assert engine.engine_starts == starts
    fresh = VLLMBackend(vllm_run[3], dtype="float32", max_model_len=512, max_logprobs=-1)
    try:
        same(switched, fresh.generate(reqs(), GREEDY))
        # a different architecture (one layer fewer) cannot be swapped in: the engine is rebuilt, and it says so
        other = tmp_path / "other_arch"
        _with_layers(vllm_run[0], other, 3)
        fresh.load(other)
        with caplog.at_level("WARNING", logger="rsft.generate.vllm"):
            out = fresh.generate(reqs(), GREEDY)
        assert fresh.last_load["how"] == "rebuild" and "architecture" in fresh.last_load["reason"]
        assert fresh.engine_starts == 2 and "rebuilding the engine" in caplog.text
        hf.load(other)
        same(out, hf.generate(reqs(), GREEDY))
    finally:
        fresh.close()
    hf.load(vllm_run[3])
    same(switched, hf.generate(reqs(), GREEDY))
    assert [c[0].token_ids for c in switched] != [c[0].token_ids for c in before]  # the weights did change
    engine.load(vllm_run[0])  # and back: what the fresh engine on step 0 generated
    same(engine.generate(reqs(), GREEDY), before)
    assert engine.engine_starts == starts


def _with_layers(src: Path, dst: Path, layers: int) -> None:
    """A copy of ``src`` keeping its first ``layers`` decoder layers (another architecture, same tokenizer)."""
    import json

    from safetensors.torch import load_file, save_file

    shutil.copytree(
        src, dst, ignore=shutil.ignore_patterns(".rsft_weights_hash.json", "meta.json", "COMPLETE")
    )
    cfg = json.loads((dst / "config.json").read_text())
    cfg["num_hidden_layers"], cfg["layer_types"] = layers, cfg["layer_types"][:layers]
    (dst / "config.json").write_text(json.dumps(cfg))
    keep = {f"model.layers.{i}." for i in range(layers)}
    sd = load_file(str(dst / "model.safetensors"))
    sd = {
        k: v for k, v in sd.items() if not k.startswith("model.layers.") or any(k.startswith(p) for p in keep)
    }
    save_file(sd, str(dst / "model.safetensors"))


@needs_vllm
def test_a_sweep_over_six_checkpoints_starts_one_engine_and_stores_the_hf_rows(engine, vllm_run, tmp_path):
    from rsft.eval import Store, discover_checkpoints, run_sweep
    from rsft.eval.config import SuiteConfig
    from rsft.eval.runner import build_backend
    from rsft.generate.hf import HFBackend

    suite = SuiteConfig.model_validate(
        {
            "seed": 1,
            "generation": {"max_new_tokens": 48, "logprobs": True, "top_logprobs": 512},
            "backend": {"kind": "vllm", "batch_size": 64, "max_model_len": 512, "max_logprobs": -1},
            "benchmarks": [
                {"name": "toy_arith", "options": {"n_items": 4}},
                {"name": "toy_sort", "options": {"n_items": 4}},
            ],
        }
    )
    targets, partial = discover_checkpoints(vllm_run[0].parents[1])
    assert len(targets) == 6 and not partial
    engine.load(vllm_run[0])
    starts = engine.engine_starts
    vstore, hstore = Store(tmp_path / "v"), Store(tmp_path / "h")
    rep = run_sweep(suite, vstore, engine, targets=targets)
    assert rep.generated == 6 * 8 and rep.errors == 0
    assert engine.engine_starts == starts == 1  # one engine for the module, the sweep included
    assert [s["how"] for s in engine.switches[-5:]] == ["in_place"] * 5
    run_sweep(suite, hstore, HFBackend(device="cpu", dtype="float32"), targets=targets)
    cols = ["key", "step", "response", "finish_reason", "outcome", "score", "n_tokens", "entropy_kind"]
    v, h = (s.frame().sort_values("key").reset_index(drop=True) for s in (vstore, hstore))
    assert v[cols].equals(h[cols])
    assert (v["logprob_mean"] - h["logprob_mean"]).abs().max() < LOGPROB_TOL
    assert v["response"].nunique() > 8  # the checkpoints answer differently
    # the suite's settings reach the engine arguments (nothing started yet)
    built = build_backend(suite.backend)
    assert built.engine_args["max_model_len"] == 512 and built.engine_args["max_logprobs"] == -1
    assert built.llm is None
