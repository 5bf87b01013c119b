"""`rsft data subset`: a deterministic, content-keyed subset in source order (Math-CoT-2.5k from Math-CoT-20k)."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from rsft._util.errors import DataError
from rsft.data.subset import subset_indices, write_subset


def _rows(n):
    return [{"message": [{"role": "user", "content": f"q{i}"}], "response": f"a{i}", "advantage": 1.0}
            for i in range(n)]  # fmt: skip


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_subset_is_deterministic_in_source_order_and_keeps_columns(tmp_path):
    src = _write(tmp_path / "src.jsonl", _rows(200))
    outs = []
    for name in ("a.jsonl", "b.jsonl"):
        subprocess.run([sys.executable, "-m", "rsft.cli.main", "data", "subset", str(src), str(tmp_path / name),
                        "--rows", "25", "--seed", "3"], check=True, capture_output=True)  # fmt: skip
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]
    got = [json.loads(line) for line in outs[0].decode().splitlines()]
    assert len(got) == 25 and set(got[0]) == {"message", "response", "advantage"}
    idx = [int(r["response"][1:]) for r in got]
    assert idx == sorted(idx)  # the parent's order is kept (the paper trains in file order)
    card = json.loads((tmp_path / "a.card.json").read_text())
    assert (card["rows"], card["source_rows"], card["rule"], card["seed"], card["indices"]) == (
        25,
        200,
        "random",
        3,
        idx,
    )
    assert "smallest sha256" in card["rule_text"]


def test_selection_follows_content_not_file_order():
    rows = _rows(300)
    picked = {rows[i]["response"] for i in subset_indices(rows, 40, seed=0)}
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    assert {shuffled[i]["response"] for i in subset_indices(shuffled, 40, seed=0)} == picked
    assert {
        rows[i]["response"] for i in subset_indices(rows, 40, seed=1)
    } != picked  # another seed, other rows


def test_selection_is_uniform_enough():
    # each of 400 rows is picked with probability 1/4: over 200 seeds a row is picked 50 +- 6.1 times (binomial
    # sd); a rule that favours the head of the file (e.g. `first`) puts the first rows at 200
    rows = _rows(400)
    counts = [0] * 400
    for seed in range(200):
        for i in subset_indices(rows, 100, seed=seed):
            counts[i] += 1
    assert max(counts) < 50 + 5 * 6.2 and min(counts) > 50 - 5 * 6.2
    assert sum(counts[:100]) == pytest.approx(5000, rel=0.1)
    assert subset_indices(rows, 3, rule="first") == [0, 1, 2]


def test_bad_requests_name_the_field(tmp_path):
    src = _write(tmp_path / "src.jsonl", _rows(5))
    with pytest.raises(DataError, match="cannot take 6 rows from 5"):
        write_subset(src, tmp_path / "o.jsonl", 6)
    with pytest.raises(DataError, match="unknown subset rule"):
        write_subset(src, tmp_path / "o.jsonl", 2, rule="best")
    with pytest.raises(DataError, match="cannot write '.csv'"):
        write_subset(src, tmp_path / "o.csv", 2)


def test_study_cuts_a_subset_dataset_once(tmp_path):
    from rsft.study.config import load_study
    from rsft.study.run import cut_subset

    src = _write(tmp_path / "parent.jsonl", _rows(64))
    (tmp_path / "s.yaml").write_text(
        f"study: {{name: s, output_dir: {tmp_path / 'out'}}}\nmodels: {{m: {{path: x}}}}\n"
        f"datasets:\n  parent: {{path: {src}}}\n  small: {{subset: {{of: parent, rows: 8}}}}\n"
        "runs: [{model: m, dataset: small}]\n"
    )
    cfg = load_study(tmp_path / "s.yaml")
    out = tmp_path / "out" / "s" / "data" / "small.jsonl"
    assert cut_subset(cfg, "small", out) is True and len(out.read_text().splitlines()) == 8
    assert cut_subset(cfg, "small", out) is False  # the same cut is not redone
