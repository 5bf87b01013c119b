"""Marker counting on hand-written texts: the Python counter, the DuckDB counter and the shared lexicon agree."""

from __future__ import annotations

import duckdb
import pytest

from rsft.analysis.behaviour import (
    count_markers_text,
    default_lexicon,
    duckdb_marker_count,
    duckdb_text,
    load_lexicon,
)
from rsft.data.markers import count_markers

LEX = {
    "backtracking": ["wait", "alternatively", "let me re-check"],
    "verification": ["verify", "double-check"],
    "decomposition": ["step 1", "break it down"],
}
TEXTS = [
    # text, expected counts with LEX (counted by hand)
    (
        "Wait, wait. Let me re-check: the sum is 9.",
        {"backtracking": 3, "verification": 0, "decomposition": 0},
    ),
    (
        "Alternatively we verify it. Verifying! Double-check done.",
        {"backtracking": 1, "verification": 3, "decomposition": 0},
    ),
    (
        "awaiting the waiter; unverifiable; step 10",
        {"backtracking": 0, "verification": 0, "decomposition": 0},
    ),
    (
        "Step 1: break it down. STEP 1 again; waits.",
        {"backtracking": 1, "verification": 0, "decomposition": 3},
    ),
    ("", {"backtracking": 0, "verification": 0, "decomposition": 0}),
    (
        "wait wait,wait-list re-wait _wait wait_ wait2 (wait)",
        {"backtracking": 3, "verification": 0, "decomposition": 0},
    ),
    (
        "verify-verify. verify--x; x-verify verifying- verify!",
        {"backtracking": 0, "verification": 1, "decomposition": 0},
    ),
]


def _duckdb_counts(texts: list[str], lexicon: dict[str, list[str]]) -> list[dict[str, int]]:
    con = duckdb.connect()
    con.execute("CREATE TABLE t(i INTEGER, response VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(texts)))
    cats = list(lexicon)
    sel = ", ".join(f"{duckdb_marker_count('p', lexicon[c])} AS c{i}" for i, c in enumerate(cats))
    rows = con.execute(
        f"SELECT {sel} FROM (SELECT i, {duckdb_text('response')} AS p FROM t) ORDER BY i"
    ).fetchall()
    return [dict(zip(cats, r, strict=True)) for r in rows]


@pytest.mark.parametrize(("text", "expected"), TEXTS)
def test_python_counter_matches_hand_counts(text, expected):
    assert count_markers_text(text, LEX) == expected


def test_duckdb_counter_matches_hand_counts():
    assert _duckdb_counts([t for t, _ in TEXTS], LEX) == [e for _, e in TEXTS]


def test_default_lexicon_agrees_with_the_shared_marker_module():
    texts = [
        "Hmm, wait. That doesn't work. Let me try again: checked, double-checked, verification passes.",
        "On second thought, backtracking. Let me recheck; confirmed. Alternatively: check-in.",
    ]
    lex = default_lexicon()
    got = _duckdb_counts(texts, lex)
    for text, g in zip(texts, got, strict=True):
        shared = count_markers(text)
        assert {c: g[c] for c in shared} == shared
        assert count_markers_text(text, lex) == g
    assert "decomposition" in lex


def test_lexicon_from_yaml(tmp_path):
    f = tmp_path / "lex.yaml"
    f.write_text("backtracking: [wait, hmm]\nplanning: [plan]\n")
    assert load_lexicon(f) == {"backtracking": ["wait", "hmm"], "planning": ["plan"]}
    f.write_text("backtracking: []\n")
    from rsft._util.errors import ConfigError

    with pytest.raises(ConfigError, match="backtracking"):
        load_lexicon(f)
