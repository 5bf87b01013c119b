"""`rsft data fetch` against a local stand-in for the hub (a real HTTP server on 127.0.0.1; no network).

Covers: a verified download that the loader then finds in RSFT_CACHE; a hash mismatch (file, both hashes, how to
pin) and accepting it through the suite's `data_pins`; a Parquet source converted to the loader's JSONL with no
recorded hash (unverified, hash printed); gated and off-hub files (where to get them, the hash expected); and the
shipped hashes against the project's offline copies where those exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rsft._util.errors import DataError
from rsft.bench.registry import get_benchmark
from rsft.bench.sources import fetch, load_manifest, sha256_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _hub_standin import HubStandIn  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"
MATH_ROWS = [{"problem": f"What is {i} + {i}?", "answer": str(2 * i), "solution": "", "subject": "Algebra",
              "level": 1, "unique_id": f"test/{i}.json"} for i in range(5)]  # fmt: skip


@pytest.fixture
def hub(tmp_path, monkeypatch):
    root = tmp_path / "hub"
    math = root / "datasets" / "HuggingFaceH4" / "MATH-500"
    math.mkdir(parents=True)
    (math / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in MATH_ROWS))
    import pyarrow as pa
    import pyarrow.parquet as pq

    gsm = root / "datasets" / "openai" / "gsm8k" / "main"
    gsm.mkdir(parents=True)
    table = pa.table({"question": ["Tom has 3 apples and buys 4. How many?", "2 * 5?"],
                      "answer": ["3 + 4 = 7\n#### 7", "10\n#### 10"]})  # fmt: skip
    pq.write_table(table, gsm / "test-00000-of-00001.parquet")
    (root / "datasets" / "Idavidrein" / "gpqa").mkdir(parents=True)
    (root / "datasets" / "Idavidrein" / "gpqa" / "gpqa_diamond.csv").write_text("x\n")
    work = tmp_path / "work"  # no ../shared next to it: only the cache can answer
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("RSFT_DATA_DIR", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("RSFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    # the test session runs with HF_HUB_OFFLINE=1; these tests talk only to the 127.0.0.1 stand-in
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    with HubStandIn(root, gated={"Idavidrein/gpqa"}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server, tmp_path


def test_mismatch_names_file_hashes_and_the_pin_then_the_pin_accepts_it(hub):
    server, tmp = hub
    served = tmp / "hub" / "datasets" / "HuggingFaceH4" / "MATH-500" / "test.jsonl"
    actual = sha256_file(served)
    with pytest.raises(DataError) as e:
        fetch(["math500"])
    msg = e.value.render()
    shipped = load_manifest()["math500"][0].sha256["test.jsonl"]
    assert "HuggingFaceH4/MATH-500/test.jsonl" in msg and actual in msg and shipped in msg
    assert "data_pins" in msg
    assert not (
        tmp / "cache" / "benchmarks" / "math500" / "test.jsonl"
    ).exists()  # nothing unverified is kept
    done = fetch(["math500"], pins={"HuggingFaceH4/MATH-500/test.jsonl": actual})
    assert [f.status for f in done] == ["fetched"]
    # the loader finds the cache (no path option, no RSFT_DATA_DIR, no ../shared)
    samples = get_benchmark("math500").load()
    assert [s.target for s in samples] == [r["answer"] for r in MATH_ROWS]
    n = len(server.downloads())
    assert [f.status for f in fetch(["math500"], pins={"HuggingFaceH4/MATH-500/test.jsonl": actual})] == [
        "cached"
    ]
    assert len(server.downloads()) == n  # a verified cached file is not downloaded again
    # a cached file edited by hand is not trusted: fetched again
    (tmp / "cache" / "benchmarks" / "math500" / "test.jsonl").write_text("tampered\n")
    assert fetch(["math500"], pins={"HuggingFaceH4/MATH-500/test.jsonl": actual})[0].status == "fetched"


def test_parquet_source_becomes_the_loaders_jsonl_and_unknown_hashes_are_reported(hub):
    notes: list[str] = []
    done = fetch(["gsm8k"], say=notes.append)
    assert [f.status for f in done] == ["unverified"]
    parquet_hash = done[0].hashes["main/test-00000-of-00001.parquet"]
    assert any(parquet_hash in n and "data_pins" in n for n in notes)
    samples = get_benchmark("gsm8k").load()
    assert [s.target for s in samples] == ["7", "10"]
    # pinned, it becomes a verified file
    pinned = fetch(["gsm8k"], pins={"openai/gsm8k/main/test-00000-of-00001.parquet": parquet_hash})
    assert pinned[0].status in ("fetched", "cached")


def test_gated_and_off_hub_files_say_where_to_get_them(hub):
    with pytest.raises(DataError) as e:
        fetch(["gpqa_diamond"])
    msg = e.value.render()
    assert "gated" in msg and "huggingface.co/datasets/Idavidrein/gpqa" in msg and "gpqa_diamond.csv" in msg
    with pytest.raises(DataError) as e:
        fetch(["mbpp"])
    msg = e.value.render()
    shipped = load_manifest()["mbpp"][0].sha256["mbpp.jsonl"]
    assert "github.com/google-research" in msg and shipped in msg


def test_cli_fetches_a_suites_benchmarks_with_its_pins(hub, tmp_path):
    server, tmp = hub
    served = tmp / "hub" / "datasets" / "HuggingFaceH4" / "MATH-500" / "test.jsonl"
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: s\nbenchmarks:\n  - name: math500\n  - name: toy_arith\n"
        f"data_pins: {{HuggingFaceH4/MATH-500/test.jsonl: {sha256_file(served)}}}\n"
    )
    env = {k: v for k, v in os.environ.items()}
    r = subprocess.run([sys.executable, "-m", "rsft.cli.main", "data", "fetch", "--suite", str(suite)],
                       capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "fetched" in r.stderr and "toy_arith: generated" in r.stderr.replace("\n", " ")
    r = subprocess.run([sys.executable, "-m", "rsft.cli.main", "data", "fetch", "gpqa_diamond"],
                       capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr and "gated" in r.stderr


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"../shared/benchmarks not found at {SHARED}")
def test_shipped_hashes_match_the_offline_copies_they_were_taken_from():
    checked = 0
    for name, files in load_manifest().items():
        for src in files:
            if not src.sha256_from:
                continue
            copy = SHARED / src.sha256_from.split(" ")[0].removeprefix("shared/benchmarks/")
            (h,) = [v for v in src.sha256.values() if v]
            assert hashlib.sha256(copy.read_bytes()).hexdigest() == h, name
            checked += 1
    assert checked >= 7
