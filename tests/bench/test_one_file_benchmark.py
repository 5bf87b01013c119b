"""A benchmark is one file plus one registry line: a throwaway benchmark written here (its own module in a tmp
folder, registered by one entry in ``BENCHMARKS``) is counted by ``rsft study plan``, reports its protocol metric
and is fetched from its declared source, with no other file edited."""

from __future__ import annotations

import hashlib
import json
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from rsft.bench.registry import BENCHMARKS
from rsft.bench.sources import benchmark_sources, fetch
from rsft.cli.main import app
from rsft.eval.protocol import protocol_benchmarks, protocol_metrics

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _hub_standin import HubStandIn  # noqa: E402

DATA = "".join(json.dumps({"q": f"{i}+{i}?", "a": str(2 * i)}) + "\n" for i in range(3)).encode()

MODULE = '''
from rsft.bench.base import Benchmark
from rsft.tasks.base import Sample, ScoreRecord


class Throwaway(Benchmark):
    name = "throwaway"
    items = 37
    protocol = "exact_match"
    defaults = {"n": 2, "temperature": 0.6, "max_new_tokens": 64}
    sources = [{"local": "throwaway/test.jsonl", "repo": "someone/throwaway", "path": ["test.jsonl"],
                "sha256": {"test.jsonl": "SHA"}}]

    def load(self):
        return [Sample("throwaway/0", "1+1?", "2", {})]

    def score(self, sample, text):
        return ScoreRecord(float(text.strip() == sample.gold))
'''


@pytest.fixture
def throwaway(tmp_path, monkeypatch):
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / "throwaway_bench.py").write_text(textwrap.dedent(MODULE).replace("SHA", hashlib.sha256(DATA).hexdigest()))
    monkeypatch.syspath_prepend(str(mod))
    monkeypatch.setitem(BENCHMARKS, "throwaway", "throwaway_bench:Throwaway")  # the one registry line
    yield tmp_path
    sys.modules.pop("throwaway_bench", None)


def test_study_plan_counts_the_items_the_class_declares(throwaway):
    (throwaway / "suite.yaml").write_text("name: t\nbenchmarks: [{name: throwaway}, {name: gsm8k}]\n")
    (throwaway / "study.yaml").write_text(
        "study: {name: s, output_dir: out}\n"
        "models: {m: {path: models/m}}\n"
        "datasets: {d: {path: data/d.jsonl, rows: 256}}\n"
        f"eval: {{suite: {throwaway / 'suite.yaml'}}}\n"
        "train: {schedule: {lr: 1e-5, epochs: 1, global_batch: 256, micro_batch: 4}}\n"
        "runs: [{model: m, dataset: d}]\n"
    )
    r = CliRunner().invoke(app, ["study", "plan", str(throwaway / "study.yaml"), "--json"])
    assert r.exit_code == 0, r.output
    sweep = {s["benchmark"]: s for s in json.loads(r.output)["sweep"]}
    assert sweep["throwaway"]["items"] == 37 and sweep["throwaway"]["samples"] == 2
    assert sweep["gsm8k"]["items"] == 1319  # a shipped benchmark's count, from its class too


def test_protocol_metrics_include_the_family_the_class_declares(throwaway):
    assert "throwaway" in protocol_benchmarks()
    frame = pd.DataFrame({
        "run": "r", "step": 0, "weights_hash": "w", "benchmark": ["throwaway"] * 3 + ["gsm8k"],
        "benchmark_version": 1, "gen_hash": "g", "item_id": ["a", "b", "c", "a"], "sample_idx": 0,
        "score": [1.0, 0.0, 1.0, 1.0], "outcome": "ok", "score_meta": None,
    })  # fmt: skip
    table = protocol_metrics(frame)
    assert set(table["benchmark"]) == {"throwaway"}  # gsm8k declares no protocol metrics
    (row,) = table.to_dict("records")
    assert (row["metric"], row["n"]) == ("exact_match", 3) and row["value"] == pytest.approx(2 / 3)


def test_fetch_downloads_and_verifies_the_source_the_class_declares(throwaway, monkeypatch):
    (src,) = benchmark_sources("throwaway")
    assert (src.repo, src.local) == ("someone/throwaway", "throwaway/test.jsonl")
    root = throwaway / "hub"
    (root / "datasets" / "someone" / "throwaway").mkdir(parents=True)
    (root / "datasets" / "someone" / "throwaway" / "test.jsonl").write_bytes(DATA)
    monkeypatch.setenv("RSFT_CACHE", str(throwaway / "cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    with HubStandIn(root) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        (got,) = fetch(["throwaway"])
    assert got.status == "fetched"
    assert got.local == throwaway / "cache" / "benchmarks" / "throwaway" / "test.jsonl"
    assert got.local.read_bytes() == DATA


def test_a_protocol_family_that_does_not_exist_is_named(throwaway, monkeypatch):
    from rsft._util.errors import RsftError
    from rsft.bench.registry import benchmark_class
    from rsft.eval.protocol import protocol_of

    monkeypatch.setattr(benchmark_class("throwaway"), "protocol", "exact_matsh")
    with pytest.raises(RsftError, match="unknown protocol 'exact_matsh'"):
        protocol_of("throwaway")
