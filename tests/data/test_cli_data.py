"""`rsft data ...` end to end through the real entry point (rsft.cli.main.main)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rsft.cli.main import main
from rsft.data import read_card, read_sft
from rsft.tasks import get_task


def _rsft(*argv: str) -> int:
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    return e.value.code


def test_data_alone_lists_subcommands(capsys):
    assert _rsft("data") == 0
    out = capsys.readouterr().out
    for sub in ("countdown", "toy", "variant", "verify", "stats"):
        assert sub in out
    assert _rsft("data", "nonsense") == 2
    assert "unknown data sub-command" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_countdown_is_byte_identical_per_seed_and_verifies(tmp_path, fmt):
    args = ["data", "countdown", "--n", "300", "--seed", "5", "--format", fmt]
    assert _rsft(*args, "--out", str(tmp_path / "a")) == 0
    assert _rsft(*args, "--out", str(tmp_path / "b")) == 0
    assert (
        _rsft("data", "countdown", "--n", "300", "--seed", "6", "--format", fmt, "--out", str(tmp_path / "c"))
        == 0
    )
    a, b, c = (tmp_path / d / f"countdown.{fmt}" for d in "abc")
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    card = read_card(a)
    assert card["rows"] == 300 and card["seed"] == 5 and card["generator"]["version"] == 1
    rows = read_sft(a)
    task = get_task("countdown")
    assert all(
        task.score(task.sample_from_prompt(r.messages[0]["content"]), r.response).correct for r in rows
    )
    assert set(rows[0].to_record()) >= {"messages", "response", "weight"}


def test_countdown_options(tmp_path):
    out = tmp_path / "o"
    assert (
        _rsft(
            "data",
            "countdown",
            "--n",
            "50",
            "--out",
            str(out),
            "--style",
            "nocot",
            "--min-numbers",
            "5",
            "--max-numbers",
            "5",
            "--format",
            "jsonl",
        )
        == 0
    )
    rows = read_sft(out / "countdown.jsonl")
    assert all(
        r.response.startswith("<answer>") and len(r.metadata["sample"]["metadata"]["numbers"]) == 5
        for r in rows
    )
    assert _rsft("data", "countdown", "--n", "5", "--out", str(out), "--max-numbers", "9") == 2


def test_toy_variant_verify_stats_pipeline(tmp_path, capsys):
    assert _rsft("data", "toy", "--mixture", "--n", "20", "--seed", "1", "--out", str(tmp_path)) == 0
    mix = read_sft(tmp_path / "toy_mixture.parquet")
    assert len(mix) == 100
    assert (
        _rsft("data", "toy", "--task", "toy_arith", "--n", "30", "--out", str(tmp_path), "--format", "jsonl")
        == 0
    )
    arith = tmp_path / "toy_arith.jsonl"
    assert (
        _rsft(
            "data",
            "variant",
            "--kind",
            "lowquality",
            "--wrong-rate",
            "0.5",
            str(arith),
            str(tmp_path / "lq.jsonl"),
        )
        == 0
    )
    lq_card = read_card(tmp_path / "lq.jsonl")
    n_wrong = lq_card["report"]["counts"]["wrong_answer"]
    assert lq_card["parent_card"]["rows"] == 30 and n_wrong > 0
    assert (
        _rsft("data", "verify", "--task", "toy_arith", str(tmp_path / "lq.jsonl"), str(tmp_path / "ok.jsonl"))
        == 0
    )
    assert len(read_sft(tmp_path / "ok.jsonl")) == 30 - n_wrong
    assert _rsft("data", "variant", "--kind", "nocot", str(arith), str(tmp_path / "nocot.parquet")) == 0
    assert all("<think>" not in r.response for r in read_sft(tmp_path / "nocot.parquet"))
    capsys.readouterr()
    assert _rsft("data", "stats", str(tmp_path / "toy_mixture.parquet"), "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["rows"] == 100 and stats["thinking"]["rows_with_thinking"] == 100
    assert _rsft("data", "stats", str(tmp_path / "toy_mixture.parquet")) == 0  # the rich table
    assert "markers backtracking" in capsys.readouterr().err
    assert _rsft("data", "toy", "--n", "3", "--out", str(tmp_path)) == 2  # neither --task nor --mixture


def test_bad_input_prints_file_row_field_without_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "q", "response": "ok"}\n{"prompt": "q", "response": ""}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "rsft.cli.main", "data", "stats", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert f"file {bad}, row 1, field 'response': empty response" in proc.stderr
    assert "Traceback" not in proc.stderr
