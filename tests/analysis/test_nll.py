"""Teacher-forced NLL of reference traces at every complete checkpoint (tiny random Qwen3)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from rsft.analysis.nll import checkpoints, nll_curve
from rsft.cli.main import main


@pytest.fixture()
def run_dir(tmp_path, tiny_model_dir):
    run = tmp_path / "run"
    for step, complete in ((0, True), (10, True), (20, False)):
        d = run / "checkpoints" / f"step_{step:06d}"
        shutil.copytree(tiny_model_dir, d)
        if complete:
            (d / "COMPLETE").write_text("")
    ref = tmp_path / "ref.jsonl"
    rows = [
        {
            "messages": [{"role": "user", "content": "Compute 12+34-5."}],
            "response": "<think>12+34=46</think> 41",
        },
        {"messages": [{"role": "user", "content": "Sort 5 3 9 1"}], "response": "1 3 5 9"},
    ]
    ref.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run, ref


def test_nll_at_every_complete_checkpoint(run_dir):
    run, ref = run_dir
    assert [s for s, _ in checkpoints(run)] == [0, 10]  # step 20 has no COMPLETE marker
    res = nll_curve(run, ref, B=200, seed=1)
    assert res["step"] == [0, 10] and res["rows"] == 2
    est = res["nll"]["est"]
    assert est[0] == pytest.approx(est[1])  # same weights, same NLL
    assert res["nll"]["lo"][0] <= est[0] <= res["nll"]["hi"][0]

    # by hand: prompt via the chat template, response + EOS, loss on response tokens only
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rsft.chat import prompt_ids

    path = run / "checkpoints" / "step_000000"
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    total, count = 0.0, 0
    for line in ref.read_text().splitlines():
        row = json.loads(line)
        p = prompt_ids(tok, row["messages"])
        r = tok(row["response"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([p + r])).logits[0].float(), -1)
        total -= sum(float(logp[len(p) - 1 + i, t]) for i, t in enumerate(r))
        count += len(r)
    assert est[0] == pytest.approx(total / count, rel=1e-4)


def test_cli_nll_and_missing_checkpoints(run_dir, tmp_path, capsys):
    run, ref = run_dir
    out = tmp_path / "nll.json"
    with pytest.raises(SystemExit) as e:
        main(["analyze", "nll", "--run", str(run), "--data", str(ref), "--out", str(out)])
    assert e.value.code == 0 and json.loads(out.read_text())["step"] == [0, 10]
    with pytest.raises(SystemExit) as e:
        main(["analyze", "nll", "--run", str(tmp_path / "nothing"), "--data", str(ref)])
    assert e.value.code == 2 and "no complete checkpoint" in capsys.readouterr().err


def test_report_renders_nll_json(run_dir, tmp_path):
    from rsft.analysis import AnalyzeConfig, analyze_store, make_store
    from rsft.analysis.nll import write_nll
    from rsft.report import render_report

    run, ref = run_dir
    store = make_store(tmp_path / "s", ["r"], [0, 10], {"m": "math"}, items=10, samples=1)
    out = analyze_store(store, tmp_path / "a", config=AnalyzeConfig(B=100, power_sims=0))
    write_nll(nll_curve(run, ref, B=100), out / "nll.json")
    html = render_report(out, tmp_path / "r.html").read_text()
    assert "data-figure='nll'" in html and "Teacher-forced NLL" in html
