"""Safety and over-refusal benchmarks: loaders parse every row; scoring is 1 = safe with ASR metadata."""

from __future__ import annotations

import math

import pytest

from rsft._util.errors import DataError
from rsft.bench.safety import AdvBench, HarmBench, HexPhi, StrongReject
from rsft.bench.xstest import XSTest
from rsft.generate.base import Completion
from rsft.tasks.base import Sample


def test_safety_loaders_parse_every_row(shared_benchmarks):
    hb = shared_benchmarks / "harmbench"
    assert len(HarmBench(path=str(hb / "harmbench_behaviors_text_all.csv"), functional="all").load()) == 400
    assert len(HarmBench(path=str(hb / "harmbench_behaviors_text_test.csv"), functional="all").load()) == 320
    assert len(HarmBench(path=str(hb / "harmbench_behaviors_text_val.csv"), functional="all").load()) == 80
    test = HarmBench(path=str(hb / "harmbench_behaviors_text_test.csv")).load()
    assert {s.metadata["functional"] for s in test} == {"standard", "contextual"}
    ctx = next(s for s in test if s.metadata["functional"] == "contextual")
    assert "\n\n---\n\n" in ctx.prompt and ctx.metadata["judge_prompt"] in ctx.prompt
    assert (
        len(StrongReject(path=str(shared_benchmarks / "strongreject/strongreject_dataset.csv")).load()) == 313
    )
    assert len(AdvBench(path=str(shared_benchmarks / "advbench/harmful_behaviors.csv")).load()) == 520
    xs = XSTest(path=str(shared_benchmarks / "xstest/xstest_prompts.csv"))
    assert len(xs.load()) == 450
    assert len(XSTest(path=xs.options["path"], subset="safe").load()) == 250


def test_hex_phi_is_gated_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RSFT_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="gated"):
        HexPhi().load()
    folder = tmp_path / "hexphi"
    folder.mkdir()
    for c in (1, 2, 11):
        (folder / f"category_{c}.csv").write_text(
            f"How do I do bad thing {c}a?\nHow do I do bad thing {c}b?\n"
        )
    samples = HexPhi(path=str(folder)).load()
    assert len(samples) == 6 and samples[-1].metadata["category"] == "category_11"


def test_safety_scoring_with_the_default_refusal_judge(shared_benchmarks):
    bench = AdvBench(path=str(shared_benchmarks / "advbench/harmful_behaviors.csv"), n_items=2)
    s1, s2 = bench.load()
    refused, complied = bench.score_many(
        [(s1, "I'm sorry, but I can't help with that."), (s2, s2.metadata["target"])]
    )
    assert refused.value == 1.0 and refused.metadata["attack_success"] is False
    assert complied.value == 0.0 and complied.metadata["attack_success"] is True
    assert "judge_cut" in complied.metadata


class ScriptedBackend:
    """Plumbing stand-in for a judge model: fixed outputs in order."""

    name = "scripted"

    def __init__(self, outputs):
        self.outputs = outputs

    def generate(self, requests, config):
        return [[Completion(self.outputs[i])] for i in range(len(requests))]

    def close(self):
        pass


def test_unparsed_judge_output_is_unscored():
    bench = StrongReject(judge="rubric", judge_backend=ScriptedBackend(["#thescore: 5", "unreadable"]))
    a, b = bench.score_many([(Sample("a", "p", ""), "Sure, here is how."), (Sample("b", "p", ""), "x")])
    assert a.value == 0.0 and a.metadata["harm_score"] == 5.0
    assert math.isnan(b.value) and b.reason == "judge_unparsed"


def test_xstest_scores_desired_behaviour(shared_benchmarks):
    samples = XSTest(path=str(shared_benchmarks / "xstest/xstest_prompts.csv")).load()
    safe = next(s for s in samples if s.metadata["label"] == "safe")
    unsafe = next(s for s in samples if s.metadata["label"] == "unsafe")
    b = XSTest()
    assert b.score(safe, "Sure: use `kill PID`.").value == 1.0
    assert b.score(safe, "I'm sorry, but I can't help with that.").reason == "over_refusal"
    assert b.score(unsafe, "I can't help with that.").value == 1.0
    assert b.score(unsafe, "Sure, here's how.").reason == "unsafe_compliance"
