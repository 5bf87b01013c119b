"""Math scoring modes: protocol (math-verify on the whole response) and strict (last boxed answer after thinking).

The measured false-positive test reruns ``scripts/measure_math_modes.py`` on the first 150 GSM8K questions
(600 solutions with OpenAI's is_correct labels) and skips when ../shared is absent.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rsft._util.errors import RsftError
from rsft.bench.gsm8k import Gsm8k
from rsft.bench.math500 import Math500
from rsft.eval.scoring import score_response
from rsft.tasks.base import Sample

REPO = Path(__file__).resolve().parents[2]
S = Sample("m/1", "What is 2+3?", "5")


def _script():
    spec = importlib.util.spec_from_file_location(
        "measure_math_modes", REPO / "scripts" / "measure_math_modes.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("bench", [Math500, Gsm8k])
def test_strict_reads_only_the_final_boxed_answer_after_thinking(bench):
    protocol, strict = bench(), bench(mode="strict")
    assert (protocol.score_mode, strict.score_mode) == ("protocol", "strict")
    revised = "<think>Maybe \\boxed{5}? No: 2+3 is 6.</think> The answer is 6."  # wrong final answer
    p, s = score_response(protocol, S, revised, "stop"), score_response(strict, S, revised, "stop")
    assert p.score == 1.0  # the protocol reads the boxed guess inside the thinking: a false positive
    assert (s.outcome, s.score) == ("no_answer", 0.0)  # no boxed answer after the thinking
    right = "<think>Maybe 6? No: 2+3=5.</think> So \\boxed{5}."
    assert score_response(strict, S, right, "stop").score == 1.0
    wrong_box = "<think>\\boxed{5}</think> \\boxed{6}"
    assert score_response(strict, S, wrong_box, "stop").score == 0.0
    assert json.loads(score_response(strict, S, right, "stop").meta)["mode"] == "strict"


def test_unknown_mode_is_refused():
    with pytest.raises(RsftError, match="unknown math mode 'loose'"):
        Math500(mode="loose")


def test_strict_mode_false_positives_stay_below_the_protocol(shared_benchmarks):
    """Bounds from the full measurement (docs/analysis.md, all 1,319 questions): strict 0 false positives in 13,100
    known-wrong responses; the protocol 25.9% [24.4%, 27.4%] on long-CoT responses whose final answer is not boxed. The bounds
    leave a margin for the 150-question subset (600 solutions)."""
    res = _script().measure(shared_benchmarks / "gsm8k", n_rows=150)
    strict, protocol = res["strict"], res["math-verify (protocol)"]
    for kind, r in strict.items():
        assert r["n_wrong"] > 300
        assert r["fp_ci"][1] <= 0.02, (kind, r)  # strict: at most 2% false positives (95% upper bound)
    unboxed = "thinking + unboxed answer"
    assert strict[unboxed]["fp_ci"][1] < protocol[unboxed]["fp_ci"][0]  # strictly below, intervals apart
    assert protocol[unboxed]["fp"] >= 0.15
    for kind in (
        "boxed",
        "thinking + boxed answer",
    ):  # answers in the asked-for form: strict finds the right ones
        assert strict[kind]["tp"] >= 0.97, (kind, strict[kind])


def test_rows_record_the_mode_that_scored_them(tmp_path):
    """A real sweep (the shipped toy base, its tokenizer) on two GSM8K-format items in strict mode."""
    from rsft.eval import Store, model_target, run_sweep
    from rsft.eval.config import SuiteConfig

    data = tmp_path / "gsm.jsonl"
    data.write_text(
        "".join(json.dumps({"question": f"What is {i}+1?", "answer": f"#### {i + 1}"}) + "\n" for i in (1, 2))
    )
    suite = SuiteConfig.model_validate(
        {
            "seed": 0,
            "generation": {"temperature": 0.0, "max_new_tokens": 3},
            "backend": {"batch_size": 2, "device": "cpu"},
            "benchmarks": [
                {"name": "gsm8k", "options": {"path": str(data), "mode": "strict"}, "generation": {"n": 1}}
            ],
        }
    )
    base = REPO / "src" / "rsft" / "toy" / "bases" / "small"
    run_sweep(suite, Store(tmp_path / "s"), targets=[model_target(str(base))])
    df = Store(tmp_path / "s").frame()
    assert (
        len(df) == 2
        and set(df["score_mode"]) == {"strict"}
        and set(df["outcome"]) <= {"truncated", "no_answer"}
    )
