"""The shipped paper configs and suite against the protocol table (rsft/study/paper_protocol.yaml), field by field.

The table is written from ../shared/paper_spec.md; a config or suite that drifts from it fails here.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from rsft.bench.registry import benchmark_class, get_benchmark
from rsft.eval.config import load_suite
from rsft.study.config import load_study
from rsft.study.matrix import resolve_runs
from rsft.study.plan import plan_study
from rsft.tasks.base import Sample

TABLE = yaml.safe_load((Path(__file__).parents[2] / "src/rsft/study/paper_protocol.yaml").read_text())
SAMPLING_KEYS = [
    "temperature",
    "top_p",
    "top_k",
    "presence_penalty",
    "frequency_penalty",
    "max_new_tokens",
    "n",
]


@pytest.fixture(scope="module")
def paper():
    cfg = load_study("paper")
    plan = plan_study(cfg)
    return cfg, {r.name: r for r in resolve_runs(cfg)}, plan


def test_the_table_itself_has_the_spec_run_matrix():
    runs = TABLE["runs"]
    assert len(runs) == 33 and len({r["name"] for r in runs}) == 33
    per_model = {}
    for r in runs:
        per_model[r["model"]] = per_model.get(r["model"], 0) + 1
    # paper_spec.md §2.2 script matrix: 13 on Qwen3-14B, 5 on 8B, 3 on 4B, 3 on 1.7B, 1 per Qwen2.5, 5 on InternLM
    assert per_model == {"Qwen3-14B": 13, "Qwen3-8B": 5, "Qwen3-4B": 3, "Qwen3-1.7B": 3, "Qwen2.5-1.5B": 1,
                         "Qwen2.5-3B": 1, "Qwen2.5-7B": 1, "Qwen2.5-14B": 1, "InternLM2.5-20B": 5}  # fmt: skip
    for r in runs:  # steps = rows // batch * epochs; warmup = int(0.1 * steps); names follow the scripts
        rows = TABLE["datasets"][r["dataset"]]["rows"]
        assert r["steps"] == rows // r["global_batch"] * r["epochs"], r["name"]
        assert r["warmup"] == int(0.1 * r["steps"]), r["name"]
        assert r["micro_batch"] == TABLE["models"][r["model"]]["micro_batch"], r["name"]
    assert [r["name"] for r in runs if r["max_length"] != 20000] == [
        "InternLM2.5-20B_Numina-Math-20k_lr5e-5_ep8_bs256"
    ]


def test_study_plan_paper_lists_exactly_the_spec_runs(paper):
    cfg, runs, plan = paper
    assert [r.name for r in plan.runs] == [r["name"] for r in TABLE["runs"]]
    by_name = {p.name: p for p in plan.runs}
    common = TABLE["training"]
    for want in TABLE["runs"]:
        run, p = runs[want["name"]], by_name[want["name"]]
        tc, s, m = run.train, run.train.schedule, TABLE["models"][want["model"]]
        got = {
            "section": run.finding, "model": cfg.models[run.model].path, "lr": s.lr, "scheduler": s.scheduler,
            "epochs": s.epochs, "global_batch": s.global_batch, "micro_batch": s.micro_batch,
            "max_length": tc.data.max_length, "steps": p.steps, "warmup": p.warmup,
        }  # fmt: skip
        expect = {k: want[k] for k in got} | {"model": m["path"]}
        assert got == expect, want["name"]
        ds = TABLE["datasets"][want["dataset"]]
        entry = cfg.datasets[run.dataset]
        if "subset_of" in ds:
            assert (entry.subset.of, entry.subset.rows) == (ds["subset_of"], ds["rows"])
        else:
            assert (entry.path, entry.rows) == (ds["path"], ds["rows"])
        # checkpoints every 10 steps plus the last (and rsft's step 0 = the base model)
        assert p.checkpoint_steps == sorted({0, p.steps, *range(10, p.steps + 1, common["checkpoint_every"])})
        opt = common["optimizer"]
        assert (list(s.betas), s.eps, s.weight_decay, s.max_grad_norm) == (
            opt["betas"], opt["eps"], opt["weight_decay"], opt["max_grad_norm"])  # fmt: skip
        assert (s.warmup_ratio, s.shuffle, tc.loss.reduction, tc.packing) == (
            common["warmup_ratio"], common["shuffle"], common["loss"], common["packing"])  # fmt: skip
        assert (tc.model.dtype, tc.model.precision, tc.model.gradient_checkpointing) == (
            common["dtype"], common["precision"], common["gradient_checkpointing"])  # fmt: skip
        assert (tc.model.attn_implementation, tc.data.overlong) == (
            common["attn_implementation"],
            common["overlong"],
        )
        assert tc.model.system_prompt == m.get("system_prompt", "model_default")
        assert tc.model.trust_remote_code == m.get("trust_remote_code", False)
        # weights at every checkpoint; optimizer state never at every checkpoint (the paper kept none)
        assert tc.checkpoints.state_at_checkpoints is common["optimizer_state_saved"]
        assert p.disk_gb is not None and p.disk_gb > 0


def test_section_files_hold_their_sections():
    for section in ("dynamics", "exposure", "overfitting", "data", "capability"):
        plan = plan_study(load_study(f"paper/{section}"))
        want = [r["name"] for r in TABLE["runs"] if r["section"] == section]
        assert [r.name for r in plan.runs] == want and {r.finding for r in plan.runs} == {section}


def test_disk_plan_of_a_14b_run(paper):
    _, _, plan = paper
    p = next(r for r in plan.runs if r.name == "Qwen3-14B_Math-CoT-20k_lr5e-5_ep8_bs256")
    # 65 bf16 checkpoints of 14.8 B parameters, and 2 pure-bf16 resume states (weights + 2 moments, 6 B/param)
    assert (p.checkpoints, p.state_saves) == (65, 8)
    assert p.checkpoint_gb == pytest.approx(65 * 14.8 * 2, abs=0.1)
    assert p.state_gb == pytest.approx(2 * 14.8 * 6, abs=0.1)


# ------------------------------------------------------------------------------------------------------- suite


@pytest.fixture(scope="module")
def suite():
    return load_suite("paper")


def test_suite_sampling_stop_and_options_match_the_table(suite):
    specs = {b.name: b for b in suite.benchmarks}
    assert list(specs) == list(TABLE["benchmarks"])
    for name, want in TABLE["benchmarks"].items():
        spec = specs[name]
        gen = suite.generation_for(spec, dict(get_benchmark(name).defaults))
        assert {k: getattr(gen, k) for k in SAMPLING_KEYS} == want["sampling"], name
        assert gen.stop == want["stop"], name
        options = {**want["options"], **want.get("offline_default", {})}
        assert {k: spec.options.get(k) for k in options} == options, name
        if want["items"] is not None:
            assert benchmark_class(name).items == want["items"], name


def _fmt(template: str, **fields: str) -> str:
    for k, v in fields.items():
        template = template.replace("{" + k + "}", v)
    return template


def _only_prompt(bench, **kw) -> str:
    (sample,) = bench.load()
    (msg,) = bench.prompt(sample)
    return msg["content"]


def test_math_prompts(suite):
    for name in ("math500", "aime24"):
        b = get_benchmark(name)
        text = b.prompt(Sample("x", "What is 1+1?", "2"))[0]["content"]
        assert text == _fmt(TABLE["benchmarks"][name]["prompt"], problem="What is 1+1?")


def _options(suite, name):
    return next(b for b in suite.benchmarks if b.name == name).options


def test_gpqa_prompt_and_released_shuffle(suite, tmp_path):
    path = tmp_path / "gpqa.csv"
    row = {"Question": "Which gas? ", "Correct Answer": "Argon", "Incorrect Answer 1": "Neon",
           "Incorrect Answer 2": "Xenon", "Incorrect Answer 3": "Radon", "Record ID": "r1"}  # fmt: skip
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        w.writeheader()
        w.writerow(row)
    opts = {k: v for k, v in _options(suite, "gpqa_diamond").items() if k not in ("hub_id", "hub_config")}
    b = get_benchmark("gpqa_diamond", **opts, path=str(path))
    (s,) = b.load()
    # the released order: random.Random(42 + hash(Question) % 10000) under PYTHONHASHSEED=0
    import subprocess
    import sys

    code = (
        "import random; a=['Argon','Neon','Xenon','Radon']; random.Random(42 + hash('Which gas? ') % 10000)"
        ".shuffle(a); print(','.join(a))"
    )
    env = {"PYTHONHASHSEED": "0", "PATH": ""}
    order = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    ).stdout.split(",")
    assert s.metadata["options"] == [o.strip() for o in order]
    listed = ", ".join(f"{'ABCD'[i]}) {o}" for i, o in enumerate(s.metadata["options"]))
    assert b.prompt(s)[0]["content"] == _fmt(TABLE["benchmarks"]["gpqa_diamond"]["prompt"], question="Which gas? ",
                                             options=listed)  # fmt: skip
    assert s.target == "ABCD"[s.metadata["options"].index("Argon")]


def test_livecodebench_paper_prompts():
    from rsft.bench.livecodebench import paper_prompt

    want = TABLE["benchmarks"]["livecodebench"]["prompt"]
    assert paper_prompt("Q.", [{"testtype": "stdin"}]) == _fmt(want["stdin"], question="Q.")
    assert paper_prompt("Q.", [{"testtype": "functional"}]) == _fmt(want["functional"], question="Q.")


def test_mmlu_pro_prompt_and_first_match_extraction(suite, tmp_path):
    from rsft.bench.mmlu_pro import PAPER_REGEX

    path = tmp_path / "mmlu.jsonl"
    row = {
        "question_id": 7,
        "question": "Q?",
        "options": ["x", "y", "N/A"],
        "answer": "B",
        "category": "math",
    }
    path.write_text(json.dumps(row) + "\n")
    b = get_benchmark("mmlu_pro", **_options(suite, "mmlu_pro"), path=str(path))
    (s,) = b.load()
    assert b.prompt(s)[0]["content"] == _fmt(TABLE["benchmarks"]["mmlu_pro"]["prompt"], question="Q?",
                                             options="A. x\nB. y\n")  # fmt: skip
    assert TABLE["benchmarks"]["mmlu_pro"]["extraction"] == "first match of " + PAPER_REGEX.pattern
    assert b.score_on == "full"  # the released filter read the reasoning too
    # the pitfall: a guess inside the reasoning wins over the final boxed answer
    assert b.score(s, "<think>maybe the answer is (A)</think> \\boxed{B}").answer == "A"
    default = get_benchmark("mmlu_pro", path=str(path))
    assert default.score_on == "answer"  # the default reads only the post-thinking answer: " \\boxed{B}"
    assert default.score(s, " \\boxed{B}").answer == "B"


def test_ifeval_and_truthfulqa_prompts(suite, tmp_path):
    ife = tmp_path / "ifeval.jsonl"
    ife.write_text(
        json.dumps({"key": 1, "prompt": "Write a haiku.", "instruction_id_list": [], "kwargs": []}) + "\n"
    )
    b = get_benchmark("ifeval", **_options(suite, "ifeval"), path=str(ife))
    assert _only_prompt(b) == _fmt(TABLE["benchmarks"]["ifeval"]["prompt"], prompt="Write a haiku.")
    tqa = tmp_path / "tqa.csv"
    tqa.write_text("Question,Best Answer,Correct Answers,Incorrect Answers\nIs the sky green?,No,No,Yes\n")
    b = get_benchmark("truthfulqa", **_options(suite, "truthfulqa"), path=str(tqa))
    assert _only_prompt(b) == _fmt(TABLE["benchmarks"]["truthfulqa"]["prompt"], question="Is the sky green?")


def test_halueval_three_subsets_with_the_fork_prompts(suite, tmp_path):
    from rsft.bench.halueval import subset_prompt

    paths = {}
    rows = {
        "qa": {
            "knowledge": "{knowledge}",
            "question": "{question}",
            "answer": "{answer}",
            "hallucination": "no",
        },
        "dialogue": {"knowledge": "K", "dialogue_history": "H", "response": "R", "hallucination": "yes"},
        "summarization": {"document": "D", "summary": "S", "hallucination": "no"},
    }
    for name, row in rows.items():
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_text(json.dumps(row) + "\n")
    b = get_benchmark("halueval", **_options(suite, "halueval"), paths={k: str(v) for k, v in paths.items()})
    samples = b.load()
    assert [s.metadata["split"] for s in samples] == ["qa", "dialogue", "summarization"]
    assert b.prompt(samples[0])[0]["content"] == TABLE["benchmarks"]["halueval"]["prompt"]
    assert subset_prompt("summarization", rows["summarization"]).endswith(
        "#Document#: D\n#Summary#: S\n#Your Judgement#:"
    )
    # the fork's reading: the last Yes/No word after the thinking; else substrings of the first line, where
    # "yes" and "no" together (or neither) count as wrong
    assert b.score(samples[0], "<think>Yes? no.</think>\nThe answer is No.").value == 1.0
    assert b.score(samples[0], "<think>No.</think>\nYes, it is.").value == 0.0
    assert b.score(samples[0], "Unknowable.").value == 1.0  # "no" inside "unknowable": the fork's quirk
    assert b.score(samples[0], "yesno").value == 0.0


def test_plain_prompts_and_the_hex_phi_rubric_limits(suite):
    for name in ("alpaca_eval", "hex_phi"):
        b = get_benchmark(name)
        assert b.prompt(Sample("x", "Tell me a joke.", ""))[0]["content"] == _fmt(
            TABLE["benchmarks"][name]["prompt"], instruction="Tell me a joke.")  # fmt: skip
    want = TABLE["benchmarks"]["hex_phi"]["judge"]
    b = get_benchmark("hex_phi", **{**_options(suite, "hex_phi"), **TABLE["benchmarks"]["hex_phi"]["options"]},
                      judge_backend=object())  # fmt: skip
    j = b.judge
    assert (j.name, j.max_response_tokens, j.config.max_new_tokens, j.config.temperature, j.prompt) == (
        want["kind"], want["max_response_tokens"], want["max_new_tokens"], want["temperature"], want["prompt"])  # fmt: skip
    import hashlib

    from rsft.judges._qi_rubric import PAPER_TEMPLATE

    assert hashlib.sha256(PAPER_TEMPLATE.encode()).hexdigest() == want["prompt_sha256"]
    assert PAPER_TEMPLATE.startswith("\nBelow are Meta's prohibited usage policies.")
    assert (
        get_benchmark("hex_phi", **_options(suite, "hex_phi")).judge.name == "refusal"
    )  # the no-API default


def test_cli_study_plan_paper_prints_runs_schedules_checkpoints_and_disk():
    from typer.testing import CliRunner

    from rsft.cli.main import app

    out = CliRunner().invoke(app, ["study", "plan", "paper"], terminal_width=250)
    assert out.exit_code == 0, out.output
    assert "study paper: 33 runs" in out.output and "disk:" in out.output
    assert "lr 1e-4 constant, 16 ep x 80, batch 256/4" in out.output  # the aggressive overfitting run
    as_json = CliRunner().invoke(app, ["study", "plan", "paper", "--json"])
    plan = json.loads(as_json.output)
    assert [r["name"] for r in plan["runs"]] == [r["name"] for r in TABLE["runs"]]
    assert all(r["disk_gb"] > 0 and r["checkpoints"] == r["steps"] // 10 + 1 for r in plan["runs"])
    assert plan["total_disk_gb"] == pytest.approx(sum(r["disk_gb"] for r in plan["runs"]), abs=0.5)
