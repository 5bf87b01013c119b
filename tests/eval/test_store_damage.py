"""The store survives damage: unreadable parts are reported by every read and skipped, moved aside only by the
explicit step (a store opened to write: ``rsft eval``, or ``rsft eval check``), their rows regenerated; the analysis
and the summary go on with the intact parts, say what was skipped, and move nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rsft._util.errors import DataError
from rsft.analysis.frames import item_frame
from rsft.analysis.synthetic import make_store
from rsft.eval import Store, model_target, run_sweep
from rsft.eval.config import SuiteConfig
from rsft.eval.store import QUARANTINE, part_problem
from rsft.generate.hf import HFBackend

sys.path.insert(0, str(Path(__file__).parent))
import _benchbank  # noqa: E402, F401  (the registry imports it by name)


def _truncate(part: Path, keep: float = 0.5) -> None:
    data = part.read_bytes()
    part.write_bytes(data[: int(len(data) * keep)])


def _damage(kind: str, part: Path) -> None:
    if kind == "truncated":
        _truncate(part)
    elif kind == "garbage":
        part.write_bytes(os.urandom(4096))
    elif kind == "empty":
        part.write_bytes(b"")
    elif kind == "foreign_schema":
        pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), part)


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty", "foreign_schema"])
def test_damaged_part_is_quarantined_and_the_rest_is_read(tmp_path, kind):
    store = make_store(tmp_path / "s", steps=(0, 10, 20), items=30, samples=2, parts=3)
    parts = sorted((store / "rows").glob("*.parquet"))
    whole = Store(store).table().num_rows
    lost = pq.read_table(parts[1]).num_rows
    _damage(kind, parts[1])
    assert part_problem(parts[1]) is not None and part_problem(parts[0]) is None
    st = Store(store)
    assert [Path(q["part"]).name for q in st.quarantined] == [parts[1].name]
    assert (store / QUARANTINE / parts[1].name).is_file()
    assert (store / QUARANTINE / (parts[1].name + ".why")).read_text().strip()
    assert st.table().num_rows == whole - lost  # the intact parts are all there
    frame = item_frame(store)  # the analysis goes on and says what it skipped
    assert any("damaged store part" in n and parts[1].name in n for n in frame.notes)


def _tree(root: Path) -> list[tuple[str, int, int]]:
    """Every file and folder under ``root`` with its size and mtime: equal before and after = nothing changed."""
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_reading_reports_damage_and_moves_nothing_until_the_check(tmp_path):
    store = make_store(tmp_path / "s", steps=(0, 10), items=20, samples=2, parts=2)
    bad = sorted((store / "rows").glob("*.parquet"))[0]
    _truncate(bad, 0.3)
    before = _tree(store)
    st = Store.open(store)
    assert [d["part"] for d in st.damaged] == [str(bad)] and bad not in st.parts()
    frame = item_frame(st)  # the analysis goes on with the intact part and names the damaged one
    assert len(frame) > 0 and any("damaged store part" in n and str(bad) in n for n in frame.notes)
    assert item_frame(store).notes == frame.notes  # a folder reads the same
    assert _tree(store) == before and not (store / QUARANTINE).exists()
    # the explicit step moves it, once; reads then name the parked part
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    out = subprocess.run([sys.executable, "-m", "rsft.cli.main", "eval", "check", str(store)],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "moved aside" in out.stdout + out.stderr
    assert (store / QUARANTINE / bad.name).is_file() and not bad.exists()
    again = item_frame(store)
    assert any("moved to" in n and bad.name in n for n in again.notes)
    assert not Store.open(store).damaged


def test_store_path_that_is_a_file_or_a_damaged_store_json(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DataError, match="is a file"):
        Store(f)
    d = tmp_path / "s"
    Store(d)
    (d / "store.json").write_text("{not json")
    with pytest.raises(DataError, match="store.json is damaged") as e:
        Store(d)
    assert str(d / "store.json") in str(e.value)
    (d / "store.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="not a JSON object"):
        Store(d)


def test_rows_of_a_damaged_part_are_regenerated(tmp_path, tiny_model_dir, monkeypatch):
    """A real sweep, a part cut in half, the sweep again: the lost rows come back, equal to the first ones."""
    from rsft.bench.registry import BENCHMARKS

    monkeypatch.setitem(BENCHMARKS, "t_echo", "_benchbank:EchoBench")
    suite = SuiteConfig.model_validate(
        {
            "seed": 1,
            "generation": {"temperature": 0.0, "max_new_tokens": 6},
            "backend": {"batch_size": 4, "device": "cpu"},
            "benchmarks": [{"name": "t_echo", "generation": {"n": 1}}],
        }
    )
    store, be = Store(tmp_path / "s"), HFBackend(batch_size=4, device="cpu")
    first = run_sweep(suite, store, be, targets=[model_target(str(tiny_model_dir))])
    before = {r["key"]: r["response"] for r in store.table().to_pylist()}
    (part,) = store.parts()
    _truncate(part)
    store2 = Store(tmp_path / "s")
    assert store2.quarantined and not store2.parts()
    again = run_sweep(suite, store2, be, targets=[model_target(str(tiny_model_dir))])
    assert again.generated == first.generated and again.reused == 0
    after = {r["key"]: r["response"] for r in store2.table().to_pylist()}
    assert after == before


def test_eval_summary_reports_damage_and_moves_nothing(tmp_path):
    store = make_store(tmp_path / "s", steps=(0, 10), items=20, samples=2, parts=2)
    _truncate(sorted((store / "rows").glob("*.parquet"))[0])
    before = _tree(store)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    out = subprocess.run(
        [sys.executable, "-m", "rsft.cli.main", "eval", "summary", str(store)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "damaged store part skipped" in text and "rsft eval check" in text and "Traceback" not in text
    assert _tree(store) == before  # a read moves nothing
    bad = subprocess.run(
        [sys.executable, "-m", "rsft.cli.main", "eval", "summary", str(store), "--n-boot", "0"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert bad.returncode != 0 and "--n-boot" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
