"""General benchmarks: TruthfulQA, HaluEval, AlpacaEval (with a tiny random reward model built here)."""

from __future__ import annotations

import math

import pytest

from rsft.bench.alpaca_eval import AlpacaEval
from rsft.bench.halueval import HaluEval, last_yes_no
from rsft.bench.truthfulqa import TruthfulQA
from rsft.generate.base import Completion


def test_truthfulqa_loaders_parse_every_row(shared_benchmarks):
    tq = shared_benchmarks / "truthfulqa"
    gen = TruthfulQA(path=str(tq / "TruthfulQA_v1.csv")).load()
    assert len(gen) == 817 and all(s.metadata["correct"] and s.metadata["incorrect"] for s in gen)
    assert len(TruthfulQA(path=str(tq / "TruthfulQA.csv")).load()) == 790
    for mode in ("mc1", "mc2"):
        mc = TruthfulQA(mode=mode, path=str(tq / "mc_task_v1.json")).load()
        assert len(mc) == 817 and all(2 <= s.metadata["n_options"] <= 10 for s in mc)
        assert all(s.target in s.metadata["true_letters"] for s in mc)
    assert len(TruthfulQA(mode="mc1", path=str(tq / "mc_task.json")).load()) == 790


def test_truthfulqa_offline_overlap_and_mc_scoring(shared_benchmarks):
    bench = TruthfulQA(path=str(shared_benchmarks / "truthfulqa/TruthfulQA_v1.csv"))
    s = bench.load()[0]
    assert bench.score(s, s.metadata["correct"][0]).value == 1.0
    assert bench.score(s, s.metadata["incorrect"][0]).value == 0.0
    mc = TruthfulQA(mode="mc1", path=str(shared_benchmarks / "truthfulqa/mc_task_v1.json"))
    m = mc.load()[0]
    assert mc.score(m, f"\\boxed{{{m.target}}}").value == 1.0
    wrong = next(x for x in "ABCD" if x not in m.metadata["true_letters"])
    assert mc.score(m, f"\\boxed{{{wrong}}}").value == 0.0


class ScriptedBackend:
    """Plumbing stand-in for the allenai judges: fixed outputs, records prompts."""

    name = "scripted"

    def __init__(self, outputs):
        self.outputs, self.prompts = outputs, []

    def generate(self, requests, config):
        self.prompts += [r.prompt for r in requests]
        return [[Completion(self.outputs[i % len(self.outputs)])] for i in range(len(requests))]

    def close(self):
        pass


def test_truthfulqa_judges_use_the_finetune_format(shared_benchmarks):
    truth, info = ScriptedBackend([" yes", " no", "??"]), ScriptedBackend([" yes"])
    bench = TruthfulQA(
        path=str(shared_benchmarks / "truthfulqa/TruthfulQA_v1.csv"), truth_judge=truth, info_judge=info
    )
    s = bench.load()[0]
    recs = bench.score_many([(s, "Nothing happens."), (s, "You die."), (s, "x")])
    assert [r.value for r in recs[:2]] == [1.0, 0.0] and math.isnan(recs[2].value)
    assert recs[0].metadata["truthful_and_informative"] is True
    assert truth.prompts[0] == f"Q: {s.prompt}\nA: Nothing happens.\nTrue:"
    assert info.prompts[0].endswith("\nHelpful:")


def test_halueval_parses_every_row_and_takes_the_last_yes_no(shared_benchmarks):
    bench = HaluEval(path=str(shared_benchmarks / "halueval/general_data.json"))
    samples = bench.load()
    assert len(samples) == 4507 and {s.target for s in samples} == {"Yes", "No"}
    assert last_yes_no("Yes, at first glance... but no. Final: No") == "No"
    assert last_yes_no("Nobody knows; yesterday") is None
    s = next(x for x in samples if x.target == "Yes")
    assert bench.score(s, "I think no... Actually yes.").value == 1.0
    assert bench.score(s, "No.").value == 0.0


@pytest.fixture(scope="module")
def tiny_reward_model(tmp_path_factory, tiny_model_dir):
    """A tiny randomly initialised Qwen3 sequence classifier (one label) with the toy tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    cfg = AutoConfig.from_pretrained(tiny_model_dir, num_labels=1)
    model = AutoModelForSequenceClassification.from_config(cfg)
    out = tmp_path_factory.mktemp("tiny_rm")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


def test_alpaca_eval_loads_and_scores_with_a_reward_model(shared_benchmarks, tiny_reward_model):
    path = shared_benchmarks / "alpaca_eval/alpaca_eval_gpt4_1106_preview_reference.json"
    assert len(AlpacaEval(path=str(path)).load()) == 805
    assert (
        len(
            AlpacaEval(
                path=str(shared_benchmarks / "alpaca_eval/alpaca_eval_text_davinci_003_reference.json")
            ).load()
        )
        == 805
    )
    bench = AlpacaEval(
        path=str(path), n_items=3, reward_model=str(tiny_reward_model), reward_device="cpu", max_length=1024
    )
    samples = bench.load()
    recs = bench.score_many([(samples[0], "Sure, a short answer."), (samples[1], "Another answer " * 600)])
    assert all(math.isfinite(r.value) for r in recs)
    assert recs[0].metadata["reference_reward"] is not None and isinstance(
        recs[0].metadata["beats_reference"], bool
    )
    assert recs[1].metadata["judge_cut"] is True and recs[0].metadata["judge_cut"] is False
    again = bench.score(samples[0], "Sure, a short answer.")
    assert again.value == pytest.approx(recs[0].value, abs=1e-5)
    assert bench.score(samples[0], "Completely different words here.").value != pytest.approx(
        recs[0].value, abs=1e-7
    )
