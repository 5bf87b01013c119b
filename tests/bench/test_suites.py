"""The paper, extended and quick suites validate, list what they promise, and their benchmarks load."""

from __future__ import annotations

import pytest

from rsft.bench.registry import get_benchmark
from rsft.eval.config import load_suite

PAPER = [
    "math500",
    "aime24",
    "gpqa_diamond",
    "livecodebench",
    "mmlu_pro",
    "ifeval",
    "truthfulqa",
    "halueval",
    "alpaca_eval",
    "hex_phi",
]
EXTRA = ["aime25", "gsm8k", "humaneval", "mbpp", "harmbench", "strongreject", "xstest"]


def test_paper_suite_matches_the_protocol():
    suite = load_suite("paper")
    assert [b.name for b in suite.benchmarks] == PAPER
    gen = {b.name: suite.generation_for(b, get_benchmark(b.name).defaults) for b in suite.benchmarks}
    assert (gen["math500"].n, gen["aime24"].n, gen["gpqa_diamond"].n, gen["livecodebench"].n) == (3, 10, 3, 3)
    assert (
        gen["math500"].temperature == 0.6
        and gen["math500"].top_p == 0.95
        and gen["math500"].max_new_tokens == 32768
    )
    assert gen["mmlu_pro"].temperature == 0.0
    a = gen["alpaca_eval"]
    assert (a.temperature, a.top_p, a.top_k, a.max_new_tokens) == (0.7, 0.9, 50, 16384)
    assert gen["hex_phi"].max_new_tokens == 16384


def test_extended_suite_adds_the_extra_benchmarks():
    assert [b.name for b in load_suite("extended").benchmarks] == PAPER + EXTRA


@pytest.mark.parametrize("name", ["quick"])
def test_quick_suite_loads_small_fixed_subsets(shared_benchmarks, name, monkeypatch):
    monkeypatch.setenv("RSFT_DATA_DIR", str(shared_benchmarks))
    suite = load_suite(name)
    for spec in suite.benchmarks:
        samples = get_benchmark(spec.name, **spec.options).load()
        assert len(samples) == spec.options["n_items"], spec.name
        assert [s.id for s in samples] == [s.id for s in get_benchmark(spec.name, **spec.options).load()]
