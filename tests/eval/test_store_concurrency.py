"""The store beside other processes: a drop for a retrained run keeps the parts another process appends meanwhile,
several processes create one fresh store without a race, and a store folder's name is never read as a glob.

Every concurrent test runs real processes (``python -c``) on one folder; each would fail on the code before the fix
(the drop removed every part listed *after* its read; creation shared one ``store.json.tmp``; DuckDB expanded
``[ab]`` in the folder name)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rsft.eval.store import Store

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}


def _row(key: str, run: str, weights: str, score: float = 1.0) -> dict:
    return {"key": key, "schema_version": 2, "benchmark": "b", "item_id": key, "sample_idx": 0, "score": score,
            "run": run, "weights_hash": weights}  # fmt: skip


def _spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


APPENDER = """
    import sys, time
    from rsft.eval.store import Store
    st, n, start = Store(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    while time.time() < start:
        time.sleep(0.005)
    for i in range(n):  # one part per row: as many chances as possible to land inside a drop's read-delete window
        st.append([{"key": f"k{i}", "schema_version": 2, "benchmark": "b", "item_id": f"k{i}", "sample_idx": 0,
                    "score": 1.0, "run": "other", "weights_hash": "w"}])
    print("appended", n)
"""

DROPPER = """
    import sys, time
    from rsft.eval.store import Store
    st, rounds, start = Store(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    while time.time() < start:
        time.sleep(0.005)
    dropped = 0
    for i in range(rounds):  # a retrained run, over and over: a stale row to drop each round
        st.append([{"key": f"s{i}", "schema_version": 2, "benchmark": "b", "item_id": f"s{i}", "sample_idx": 0,
                    "score": 0.0, "run": "retrained", "weights_hash": "old"}])
        dropped += st.drop_replaced("retrained", {"new"})
    print("dropped", dropped)
"""


def test_drop_replaced_keeps_the_parts_another_process_appends_meanwhile(tmp_path):
    """One process appends 150 rows (a part each) while another drops a retrained run's rows 40 times. Every
    appended row must survive (before the fix, each drop removed the parts renamed in between its read and its
    delete: the issue lost 4 of 288)."""
    store = tmp_path / "store"
    Store(store).append([_row("seed", "other", "w")])
    n, rounds = 150, 40
    start = str(time.time() + 2.0)
    procs = [_spawn(APPENDER, str(store), str(n), start), _spawn(DROPPER, str(store), str(rounds), start)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert f"dropped {rounds}" in outs[1], outs  # every round's stale row was dropped
    frame = Store(store).frame()
    kept = set(frame.loc[frame["run"] == "other", "key"])
    lost = {f"k{i}" for i in range(n)} - kept
    assert not lost, f"{len(lost)} of {n} rows appended by the other process were deleted: {sorted(lost)[:10]}"
    assert set(frame.loc[frame["run"] == "retrained", "key"]) == set()


def test_a_rewritten_part_never_outranks_a_part_written_after_it(tmp_path):
    """The part a drop writes sorts right after the parts it replaces: a row appended later (a rescore) still wins."""
    st = Store(tmp_path)
    st.append([_row("a", "r", "w", score=0.0), _row("x", "retrained", "old")])
    listed = st.parts()
    later = st.append([_row("a", "r", "w", score=1.0)])  # lands after the listing, before the rewrite
    new = st._replace_parts(st.table(parts=listed, where="run <> 'retrained'"), listed)
    assert sorted(st.parts()) == [new, later]
    frame = Store(tmp_path).frame()
    assert frame.set_index("key")["score"].to_dict() == {"a": 1.0}


CREATOR = """
    import sys, time
    from rsft.eval.store import Store
    root, n, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    while time.time() < start:
        time.sleep(0.001)
    for i in range(n):  # every process creates the same fresh stores in the same order
        Store(f"{root}/s{i}")
    print("ok")
"""


def test_several_processes_create_one_fresh_store_without_a_race(tmp_path):
    """8 processes create the same 200 fresh stores at once (before the fix they shared ``store.json.tmp``: one
    process's rename took the file from under another's, a FileNotFoundError)."""
    n, start = 200, str(time.time() + 4.0)
    procs = [_spawn(CREATOR, str(tmp_path), str(n), start) for _ in range(8)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outs
    for i in range(n):
        folder = tmp_path / f"s{i}"
        assert sorted(p.name for p in folder.iterdir()) == ["rows", "store.json"]  # no temporary file left
        assert Store(folder).path == folder


def test_a_store_folder_named_like_a_glob_reads_only_its_own_rows(tmp_path):
    """``runs[ab]`` is a glob matching ``runsa``: the store and the analysis must read only their own folder."""
    from rsft.analysis.frames import sample_frame

    odd, other = tmp_path / "st[ab]", tmp_path / "sta"
    Store(other).append([_row("theirs", "r", "w")])
    Store(odd).append([_row("mine", "r", "w")])
    for folder, key in ((odd, "mine"), (other, "theirs")):
        assert list(Store(folder).frame()["key"]) == [key]
        assert Store(folder).keys() == {key}
    star = tmp_path / "st*"
    Store(star).append([_row("star", "r", "w")])
    assert list(Store(star).frame()["key"]) == ["star"]
    cols = {"run": "r", "step": 0, "group": "math", "outcome": "ok"}
    for folder in (odd, star):
        part = next((folder / "rows").glob("*.parquet"))
        t = pq.read_table(part)
        for name, value in cols.items():
            t = t.set_column(t.schema.get_field_index(name), name, pa.array([value], t.schema.field(name).type))
        pq.write_table(t, part)
    assert sample_frame(odd, ["key"]).column("key").to_pylist() == ["mine"]
    assert sample_frame(star, ["key"]).column("key").to_pylist() == ["star"]


def test_lease_ttl_must_be_finite_and_positive(tmp_path):
    """``--lease-ttl nan`` silently turned claims off (NaN compares false with every expiry) and ``inf`` crashed the
    heartbeat thread while the command exited 0: both, and every other bad value, are one line and exit 2."""
    import pytest

    from rsft._util.errors import RsftError
    from rsft.eval.lease import LeaseBook, check_ttl

    for bad in ("nan", "inf", "-inf", "-1", "1e300"):
        store = tmp_path / f"st{bad}"
        cmd = [sys.executable, "-m", "rsft.cli.main", "eval", "run", "--model", str(tmp_path / "absent")]
        cmd += ["--suite", "toy", "--store", str(store), "--lease-ttl", bad, "--no-progress"]
        out = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
        assert out.returncode == 2, (bad, out.stdout, out.stderr)
        assert "--lease-ttl must be a finite number" in out.stderr and "Traceback" not in out.stderr, out.stderr
        assert not store.exists()  # refused before anything was created
        with pytest.raises(RsftError, match="finite number"):
            LeaseBook(tmp_path, float(bad))
    assert check_ttl(0) == 0.0 and check_ttl("2.5") == 2.5
    with pytest.raises(RsftError):
        check_ttl(0, allow_off=False)
