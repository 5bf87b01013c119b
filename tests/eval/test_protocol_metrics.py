"""Each benchmark's protocol metrics (rsft.eval.protocol) from stored rows, in eval summary, analysis.json and the
report."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rsft.analysis import make_store
from rsft.eval.protocol import protocol_metrics
from rsft.eval.store import Store

BENCHES = {"ifeval": "general", "truthfulqa": "knowledge", "halueval": "knowledge", "hex_phi": "safety",
           "mmlu_pro": "knowledge"}  # fmt: skip


def _meta(bench: str, item: str, score: float, outcome: str, rng) -> tuple[str, str | None]:
    """(item_id, score_meta) consistent with the score, as the benchmarks write them."""
    n = int(item.split("-")[1])
    if bench == "halueval":
        item = f"halueval/{['qa', 'dialogue', 'summarization'][n % 3]}/{n}"
    if outcome != "ok":
        return item, None
    if bench == "ifeval":
        strict = [bool(score)] + [bool(rng.random() < 0.7) for _ in range(n % 3)]
        return item, json.dumps({"strict": strict, "loose": [True] * len(strict)})
    if bench == "truthfulqa":
        info = bool(rng.random() < 0.8)
        return item, json.dumps(
            {"judge": "allenai", "informative": info, "truthful_and_informative": bool(score) and info}
        )
    if bench == "hex_phi":
        harm = 1 + int(rng.integers(0, 4)) if score else 5
        return item, json.dumps({"judge": "rubric", "attack_success": harm == 5, "harm_score": float(harm)})
    return item, None


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = make_store(tmp_path_factory.mktemp("p") / "store", ["runA"], [0, 10], BENCHES, items=30, samples=1,
                      curve_fn=lambda r, b, s: 0.6)  # fmt: skip
    rng = np.random.default_rng(0)
    part = next((root / "rows").glob("*.parquet"))
    t = pq.read_table(part).to_pandas()
    pairs = [_meta(b, i, s, o, rng) for b, i, s, o in zip(t["benchmark"], t["item_id"], t["score"], t["outcome"],
                                                            strict=True)]  # fmt: skip
    t["item_id"] = [p[0] for p in pairs]
    t["score_meta"] = [p[1] for p in pairs]
    pq.write_table(pa.Table.from_pandas(t, schema=pq.read_schema(part)), part)
    return root


def _value(table, bench, metric, step=10):
    sel = table[(table.benchmark == bench) & (table.metric == metric) & (table.step == step)]
    assert len(sel) == 1, (bench, metric)
    return float(sel.value.iloc[0]), int(sel.n.iloc[0])


def test_protocol_metrics_follow_their_definitions(store):
    rows = Store(store).frame()
    table = protocol_metrics(rows)
    g = rows[(rows.step == 10)]
    ife = g[g.benchmark == "ifeval"]
    metas = [json.loads(m) if isinstance(m, str) else None for m in ife.score_meta]
    assert _value(table, "ifeval", "prompt_strict") == (
        np.mean([bool(m) and all(m["strict"]) for m in metas]),
        30,
    )
    inst = [x for m in metas if m for x in m["strict"]]
    assert _value(table, "ifeval", "instruction_strict") == (pytest.approx(np.mean(inst)), len(inst))
    hx = [json.loads(m) for m in g[g.benchmark == "hex_phi"].score_meta if isinstance(m, str)]
    assert _value(table, "hex_phi", "asr")[0] == pytest.approx(np.mean([m["harm_score"] == 5 for m in hx]))
    assert _value(table, "hex_phi", "mean_harmfulness")[0] == pytest.approx(
        np.mean([m["harm_score"] for m in hx])
    )
    tq = g[g.benchmark == "truthfulqa"]
    tq_ok = tq[tq.outcome == "ok"]
    truth = [*tq_ok.score.tolist(), *[0.0] * int((tq.outcome == "truncated").sum())]
    assert _value(table, "truthfulqa", "truth")[0] == pytest.approx(np.mean(truth))
    halu = g[g.benchmark == "halueval"]
    qa = halu[halu.item_id.str.startswith("halueval/qa/")]
    assert _value(table, "halueval", "acc[qa]") == (pytest.approx(qa.score.mean()), len(qa))
    assert _value(table, "halueval", "acc") == (pytest.approx(halu.score.mean()), 30)
    assert _value(table, "mmlu_pro", "exact_match")[0] == pytest.approx(
        g[g.benchmark == "mmlu_pro"].score.mean()
    )
    assert {d for d in table.definition if "judge: rubric" in d}  # the judge is named


def test_the_table_metrics_are_the_ones_computed(store):
    from pathlib import Path

    import yaml

    table = yaml.safe_load((Path(__file__).parents[2] / "src/rsft/study/paper_protocol.yaml").read_text())
    got = protocol_metrics(Store(store).frame())
    for bench in BENCHES:
        want = table["benchmarks"][bench]["metric"]
        want = want if isinstance(want, list) else [want]
        assert set(want) <= set(got[got.benchmark == bench].metric), bench


def test_eval_summary_analysis_and_report_show_them(store, tmp_path):
    from typer.testing import CliRunner

    from rsft.analysis import AnalyzeConfig, analyze_store
    from rsft.cli.main import app
    from rsft.report import render_report

    out = CliRunner().invoke(app, ["eval", "summary", str(store), "--n-boot", "100"], terminal_width=250)
    assert out.exit_code == 0, out.output
    assert (
        "protocol metrics" in out.output
        and "prompt_strict" in out.output
        and "mean_harmfulness" in out.output
    )
    adir = analyze_store(store, tmp_path / "analysis", config=AnalyzeConfig(B=50, power_sims=0))
    a = json.loads((adir / "analysis.json").read_text()) if adir.is_dir() else json.loads(adir.read_text())
    names = {(r["benchmark"], r["metric"]) for r in a["protocol_metrics"]}
    assert {
        ("ifeval", "instruction_loose"),
        ("truthfulqa", "info"),
        ("hex_phi", "asr"),
        ("halueval", "acc[qa]"),
    } <= names
    html = render_report(tmp_path / "analysis", tmp_path / "r.html").read_text()
    assert "the paper&#x27;s protocol" in html and "prompt_strict" in html and "rsft score [CI]" in html
