"""Tidy frames from the per-sample store: the analysis' view of it.

The store (``STORE/rows/*.parquet``, schema :data:`rsft.eval.schema.ROW_SCHEMA`) is read through its one reader,
:meth:`rsft.eval.store.Store.connect` on a store opened to read (:meth:`~rsft.eval.store.Store.open`: nothing is
created or moved; damaged parts are skipped and named in the notes). There a key written twice (a crash between
write and compaction) keeps its last written row, deduplicated by (run, key): the key identifies the weights, not the
run, so a base model evaluated once per run keeps one row per run. A scored row is
:data:`rsft.eval.schema.SCORED_SQL`.

:func:`sample_frame` gives one row per (run, step, benchmark, item, sample). :func:`item_frame` aggregates in DuckDB to
one row per (run, step, benchmark, item) — counts and sums only — and :func:`cubes` pivots that into per (run,
benchmark) item x step matrices, which is what every bootstrap works on (2 M samples become 0.5 M item cells).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from rsft._util.errors import DataError
from rsft.eval.schema import ROW_SCHEMA, SCORED_SQL
from rsft.eval.store import Store

MARKER_CATEGORIES_DEFAULT = ("backtracking", "verification", "decomposition")
NEEDED_COLUMNS = ("key", "run", "step", "benchmark", "item_id", "sample_idx", "score", "group", "outcome")


def reader(store: str | Path | Store) -> Store:
    """``store`` opened to read it (a :class:`~rsft.eval.store.Store` passes through, so one analysis opens and
    checks its store once).

    Raises:
        DataError: the folder is missing or a file, of an unknown schema version, or holds no readable rows.
    """
    st = store if isinstance(store, Store) else Store.open(store)
    if not st.parts():
        raise DataError(
            "the store holds no rows (no rows/*.parquet)" + (" that can be read" if st.damaged else ""),
            file=str(st.path),
            fix="run `rsft eval` into this folder first, or pass the right STORE",
        )
    return st


def _connect(st: Store, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """The store's ``rows`` view (raises when a column the analysis needs is missing)."""
    con = st.connect(threads=threads)
    missing = sorted(set(NEEDED_COLUMNS) - st.stored_columns)
    if missing:
        con.close()
        raise DataError(
            f"store rows lack columns {missing}",
            file=str(st.rows_dir),
            field=missing[0],
            fix="the store must follow rsft.eval.schema.ROW_SCHEMA",
        )
    return con


def _refuse_mixed_generation(con: duckdb.DuckDBPyConnection, rows: str, where: str) -> None:
    """Raise when one (run, benchmark) holds rows of more than one generation config (``gen_hash``).

    Keys include the config, so a suite rerun at another temperature adds rows beside the old ones instead of
    replacing them, and each item would be read as k = 2 samples of one model. The configs are named (the seed,
    which differs per sample, left out) so the user can tell which run wrote which.
    """
    sql = (
        "SELECT run, benchmark, gen_hash, count(*) AS n, any_value(gen_config) AS cfg FROM ("
        f"{rows}) WHERE step IS NOT NULL GROUP BY run, benchmark, gen_hash ORDER BY run, benchmark, n DESC"
    )
    seen: dict[tuple[str, str], list[tuple[str, int, str]]] = {}
    for run, bench, gh, n, cfg in con.execute(sql).fetchall():
        seen.setdefault((run, bench), []).append((gh, int(n), cfg))
    mixed = {rb: gs for rb, gs in seen.items() if len(gs) > 1}
    if not mixed:
        return
    (run, bench), groups = next(iter(mixed.items()))
    shown = "; ".join(f"gen_hash {gh} ({n} rows): {_config_text(cfg)}" for gh, n, cfg in groups[:3])
    others = f" ({len(mixed) - 1} more run x benchmark pairs likewise)" if len(mixed) > 1 else ""
    raise DataError(
        f"run {run!r}, benchmark {bench!r} holds rows of {len(groups)} generation configs, which would be analysed "
        f"as extra samples of one model: {shown}{others}",
        file=where,
        field="gen_hash",
        fix="analyse one generation config per store: evaluate each config into its own --store",
    )


def _config_text(cfg: str | None) -> str:
    import json

    try:
        d = json.loads(cfg) if cfg else {}
    except ValueError:
        return str(cfg)[:200]
    if not isinstance(d, dict):
        return str(cfg)[:200]
    d.pop("seed", None)
    return json.dumps(d, sort_keys=True)[:300]


def sample_frame(store: str | Path | Store, columns: list[str] | None = None) -> pa.Table:
    """One row per (run, step, benchmark, item, sample), last written row per key.

    Args:
        store: the store folder (or a :class:`~rsft.eval.store.Store` opened to read).
        columns: columns of :data:`ROW_SCHEMA` to return (default all).

    Returns:
        A pyarrow table sorted by run, benchmark, step, item_id, sample_idx.

    Raises:
        DataError: the folder is missing, empty, of an unknown schema version, or lacks required columns.
    """
    con = _connect(reader(store))
    try:
        names = columns or [f.name for f in ROW_SCHEMA]
        cols = ", ".join(f'"{c}"' for c in names)
        rel = con.sql(f"SELECT {cols} FROM rows ORDER BY run, benchmark, step, item_id, sample_idx")
        # DuckDB 2 renamed arrow() to to_arrow_table()
        return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    finally:
        con.close()


def judges_used(
    store: str | Path | Store, groups: tuple[str, ...] = ("safety", "overrefusal")
) -> dict[str, dict[str, int]]:
    """Which judge scored the rows of each benchmark in ``groups``: {benchmark: {judge: rows}}.

    The judge is read from each row's ``score_meta`` (``judge``; benchmarks scored by a detector without a judge
    field are reported as "refusal-detector" when they record a refusal rule, else "rule").
    """
    con = _connect(reader(store))
    wanted = ", ".join(f"'{g}'" for g in groups)
    sql = (
        "SELECT benchmark, coalesce(json_extract_string(score_meta, '$.judge'), "
        "CASE WHEN json_extract_string(score_meta, '$.refusal_rule') IS NOT NULL THEN 'refusal-detector' "
        "ELSE 'rule' END) AS judge, count(*) "
        f'FROM rows WHERE "group" IN ({wanted}) GROUP BY 1, 2 ORDER BY 1, 2'
    )
    out: dict[str, dict[str, int]] = {}
    try:
        for bench, judge, n in con.execute(sql).fetchall():
            out.setdefault(bench, {})[judge] = int(n)
    finally:
        con.close()
    return out


@dataclass
class ItemFrame:
    """One row per (run, step, benchmark, item), as numpy columns.

    Columns: run, step, benchmark, group, item_id (object/int arrays); n_rows (samples), n_scored (samples with a
    score: every outcome but ``error``), s_sum, s_sq (sum and sum of squares of scores), n_trunc, n_noans, n_err
    (samples per outcome), tok_sum, think_sum, ans_sum, lp_sum, lp_n,
    ent_sum, ent_n (over the run's one entropy kind: "full" when any of its rows has it, else one "topk:K"; entropies
    of different kinds are never summed together), ent_kind (that kind), ent_other (responses with an entropy of
    another kind, left out); per marker category c: m_{c} (marker count), w_{c} (scored responses with >= 1 marker),
    wc_{c} (score sum of those).
    """

    cols: dict[str, np.ndarray]
    categories: tuple[str, ...]
    binary: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    scoring: dict[str, dict] = field(default_factory=dict)  # benchmark -> policies, score modes, scale

    def __len__(self) -> int:
        return len(self.cols["run"])


def item_frame(
    store: str | Path | Store, lexicon: dict[str, list[str]] | None = None, threads: int | None = None
) -> ItemFrame:
    """Aggregate the deduplicated store to one row per (run, step, benchmark, item) in DuckDB.

    Marker counts are whole-word, case-insensitive matches of each lexicon category in the full response
    (thinking and answer). A score is "binary" for a benchmark when every scored value is 0 or 1.

    Args:
        store: the store folder (or a :class:`~rsft.eval.store.Store` opened to read).
        lexicon: marker category -> terms (default :func:`rsft.analysis.markers.default_lexicon`).
        threads: DuckDB threads (default: all cores).

    Raises:
        DataError: see :func:`sample_frame`; also a row without a step.
    """
    from rsft.analysis.markers import default_lexicon, duckdb_marker_count, duckdb_text

    lex = lexicon if lexicon is not None else default_lexicon()
    st = reader(store)
    con = _connect(st, threads)
    scored = SCORED_SQL
    census = "SELECT count(*), count(*) FILTER (WHERE step IS NULL) FROM rows"
    n_rows, no_step = con.execute(census).fetchone()
    if n_rows and no_step == n_rows:
        raise DataError(
            "no row has a step: this store holds plain-model evaluations, not a checkpoint sweep",
            file=str(st.rows_dir),
            field="step",
            fix="analyse a sweep over RUN_DIR/checkpoints (step 0 = base model)",
        )
    marker_sql, cats = [], tuple(lex)
    for i, terms in enumerate(lex.values()):
        marker_sql.append(f"{duckdb_marker_count('txt', list(terms))} AS mk{i}")
    rows = "SELECT * FROM rows"
    _refuse_mixed_generation(con, rows, str(st.rows_dir))
    scoring = _scoring(con, rows)
    rewards = sorted(b for b, sc in scoring.items() if sc["scale"] == "reward")
    if rewards:
        rows = _win_rate_sql(rows, rewards)
    dedup = (
        'SELECT run, step, benchmark, "group", item_id, score, outcome, n_tokens, n_thinking_tokens, '
        f"n_answer_tokens, logprob_mean, entropy_mean, entropy_kind, {duckdb_text('response')} AS txt FROM ({rows})"
    )
    has_ent = "isfinite(entropy_mean)"
    run_kind = (
        f"CASE WHEN bool_or(entropy_kind = 'full') FILTER (WHERE {has_ent}) OVER (PARTITION BY run) THEN 'full' "
        f"ELSE max(entropy_kind) FILTER (WHERE {has_ent}) OVER (PARTITION BY run) END AS run_ent_kind"
    )
    base = (
        f"SELECT * EXCLUDE (txt){''.join(', ' + m for m in marker_sql)}, {run_kind} "
        f"FROM ({dedup}) WHERE step IS NOT NULL"
    )
    same_kind = "entropy_kind IS NOT DISTINCT FROM run_ent_kind"
    agg = [
        "count(*) AS n_rows",
        f"count(*) FILTER (WHERE {scored}) AS n_scored",
        f"coalesce(sum(score) FILTER (WHERE {scored}), 0) AS s_sum",
        f"coalesce(sum(score*score) FILTER (WHERE {scored}), 0) AS s_sq",
        f"bool_and(score IN (0, 1)) FILTER (WHERE {scored}) AS is_bin",
        f"bool_and(score >= 0 AND score <= 1) FILTER (WHERE {scored}) AS is_unit",
        "count(*) FILTER (WHERE outcome = 'truncated') AS n_trunc",
        "count(*) FILTER (WHERE outcome = 'no_answer') AS n_noans",
        "count(*) FILTER (WHERE outcome = 'error') AS n_err",
        "coalesce(sum(n_tokens), 0) AS tok_sum",
        "coalesce(sum(n_thinking_tokens), 0) AS think_sum",
        "coalesce(sum(n_answer_tokens), 0) AS ans_sum",
        "coalesce(sum(logprob_mean) FILTER (WHERE isfinite(logprob_mean)), 0) AS lp_sum",
        "count(logprob_mean) FILTER (WHERE isfinite(logprob_mean)) AS lp_n",
        f"coalesce(sum(entropy_mean) FILTER (WHERE {has_ent} AND {same_kind}), 0) AS ent_sum",
        f"count(entropy_mean) FILTER (WHERE {has_ent} AND {same_kind}) AS ent_n",
        f"count(entropy_mean) FILTER (WHERE {has_ent} AND NOT ({same_kind})) AS ent_other",
        "any_value(run_ent_kind) AS ent_kind",
    ]
    for i, cat in enumerate(cats):
        agg += [
            f"coalesce(sum(mk{i}), 0) AS m_{cat}",
            f"count(*) FILTER (WHERE mk{i} > 0 AND {scored}) AS w_{cat}",
            f"coalesce(sum(score) FILTER (WHERE mk{i} > 0 AND {scored}), 0) AS wc_{cat}",
        ]
    grouped = (
        f'SELECT run, step, benchmark, any_value("group") AS grp, item_id, {", ".join(agg)} '
        f"FROM ({base}) GROUP BY run, step, benchmark, item_id"
    )
    sql = f"{grouped} ORDER BY run, benchmark, item_id, step"
    res = con.execute(sql).fetchnumpy()
    cols = {k: (v.filled() if hasattr(v, "filled") else np.asarray(v)) for k, v in res.items()}
    cols["step"] = cols["step"].astype(np.int64)
    kinds, unknown = np.ma.getdata(res["ent_kind"]), np.ma.getmaskarray(res["ent_kind"])
    cols["ent_kind"] = np.array([None if u else k for k, u in zip(kinds, unknown, strict=True)], dtype=object)
    _item_codes(cols)
    cols["group"] = cols.pop("grp")
    isbin = np.ma.getdata(res["is_bin"]).astype(bool) | np.ma.getmaskarray(res["is_bin"])
    binary = {}
    for b in np.unique(cols["benchmark"]):
        binary[str(b)] = bool(np.all(isbin[cols["benchmark"] == b]))
    cols.pop("is_bin")
    isunit = np.ma.getdata(res["is_unit"]).astype(bool) | np.ma.getmaskarray(res["is_unit"])
    for b in binary:
        scoring.setdefault(b, {})["unit"] = bool(np.all(isunit[cols["benchmark"] == b]))
    cols.pop("is_unit")
    notes = [f"{no_step} rows without a step (plain-model evaluations) were left out"] if no_step else []
    for b in rewards:
        notes.append(
            f"{b}: an unbounded reward; its curve is the win rate against the run's base checkpoint's responses "
            "to the same item (ties 1/2), which is what enters its domain"
        )
    notes += st.notes()
    con.close()
    return ItemFrame(cols=cols, categories=cats, binary=binary, notes=notes, scoring=scoring)


def _win_rate_sql(rows: str, benchmarks: list[str]) -> str:
    """``rows`` with the score of each ``benchmarks`` row (an unbounded reward) replaced by its win rate against
    the responses of the run's earliest checkpoint (the base) to the same item: the share of those responses with a
    lower reward, ties counting 1/2. Rows without a base response to compare with get NaN (left out)."""
    names = ", ".join("'" + b.replace("'", "''") + "'" for b in benchmarks)
    return (
        f"WITH src AS ({rows}), rw AS (SELECT *, {SCORED_SQL} AS _scored FROM src "
        f"WHERE benchmark IN ({names}) AND step IS NOT NULL), "
        "b0 AS (SELECT run, benchmark, min(step) AS s0 FROM rw GROUP BY run, benchmark), "
        "ref AS (SELECT rw.run, rw.benchmark, rw.item_id, rw.score AS ref FROM rw JOIN b0 USING (run, benchmark) "
        "WHERE rw.step = b0.s0 AND rw._scored), "
        "win AS (SELECT rw.run, rw.key, avg(CASE WHEN rw.score > ref.ref THEN 1.0 WHEN rw.score = ref.ref "
        "THEN 0.5 ELSE 0.0 END) AS w FROM rw JOIN ref USING (run, benchmark, item_id) "
        "WHERE rw._scored GROUP BY rw.run, rw.key) "
        f"SELECT src.* REPLACE (CASE WHEN src.benchmark IN ({names}) THEN coalesce(win.w, CAST('NaN' AS DOUBLE)) "
        "ELSE src.score END AS score) FROM src LEFT JOIN win ON src.run = win.run AND src.key = win.key"
    )


def _scoring(con: duckdb.DuckDBPyConnection, rows: str) -> dict[str, dict]:
    """Per benchmark: the outcome policies and score modes its rows were scored with, and its score scale."""
    sql = (
        "SELECT benchmark, list(DISTINCT policy ORDER BY policy), list(DISTINCT score_mode ORDER BY score_mode), "
        f"bool_or(score_scale = 'reward') FROM ({rows}) WHERE step IS NOT NULL GROUP BY benchmark ORDER BY benchmark"
    )
    return {
        str(b): {"policy": list(p), "score_mode": list(m), "scale": "reward" if r else "unit"}
        for b, p, m, r in con.execute(sql).fetchall()
    }


def _item_codes(cols: dict[str, np.ndarray]) -> None:
    """Integer item codes from the sorted rows (no string sorting in numpy): ``item_code`` within a (run,
    benchmark), ``run_item_code`` within a run across benchmarks."""
    n = len(cols["run"])
    if n == 0:
        cols["item_code"] = cols["run_item_code"] = np.zeros(0, dtype=np.int64)
        return
    run_new = np.concatenate([[True], cols["run"][1:] != cols["run"][:-1]])
    bench_new = run_new | np.concatenate([[True], cols["benchmark"][1:] != cols["benchmark"][:-1]])
    item_new = bench_new | np.concatenate([[True], cols["item_id"][1:] != cols["item_id"][:-1]])
    total = np.cumsum(item_new) - 1  # running item count over the whole frame
    cols["item_code"] = total - total[np.maximum.accumulate(np.where(bench_new, np.arange(n), 0))]
    cols["run_item_code"] = total - total[np.maximum.accumulate(np.where(run_new, np.arange(n), 0))]


@dataclass
class Cube:
    """Item x step matrices of one (run, benchmark): everything a bootstrap needs.

    Attributes:
        run, benchmark, group: identity.
        steps: sorted checkpoint steps (S,).
        items: item ids (n,).
        cnt: scored samples per cell (n, S); 0 where the item was not evaluated at that step.
        s_sum, s_sq: sum and sum of squares of the scores per cell (n, S).
        binary: every score is 0 or 1.
        unit: every score lies in [0, 1] (only such benchmarks are averaged into a domain).
    """

    run: str
    benchmark: str
    group: str
    steps: np.ndarray
    items: np.ndarray
    cnt: np.ndarray
    s_sum: np.ndarray
    s_sq: np.ndarray
    binary: bool
    unit: bool = True


def pivot(
    frame: ItemFrame, mask: np.ndarray | slice, value_cols: list[str], code_col: str = "item_code"
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Pivot the rows selected by ``mask`` to (item, step) matrices of ``value_cols`` (0 where absent).

    Items are identified by the integer ``code_col`` ("item_code": within a (run, benchmark); "run_item_code":
    within a run, across benchmarks); the returned item labels are item ids for "item_code", codes otherwise.
    """
    steps, s_idx = np.unique(frame.cols["step"][mask], return_inverse=True)
    codes = frame.cols[code_col][mask]
    used, i_idx = np.unique(codes, return_inverse=True)
    items = (
        frame.cols["item_id"][mask][np.unique(i_idx, return_index=True)[1]]
        if code_col == "item_code"
        else used
    )
    out = {}
    for c in value_cols:
        m = np.zeros((len(items), len(steps)), dtype=np.float64)
        m[i_idx, s_idx] = frame.cols[c][mask]
        out[c] = m
    return steps, items, out


def segments(frame: ItemFrame, by: tuple[str, ...]) -> list[tuple[tuple[str, ...], slice]]:
    """Contiguous row ranges of equal ``by`` columns (the frame is sorted by run, benchmark, item, step)."""
    n = len(frame)
    if n == 0:
        return []
    change = np.zeros(n - 1, dtype=bool)
    for c in by:
        col = frame.cols[c]
        change |= col[1:] != col[:-1]
    starts = np.concatenate([[0], np.flatnonzero(change) + 1])
    ends = np.concatenate([starts[1:], [n]])
    return [
        (tuple(str(frame.cols[c][a]) for c in by), slice(int(a), int(b)))
        for a, b in zip(starts, ends, strict=True)
    ]


def cubes(frame: ItemFrame) -> list[Cube]:
    """One :class:`Cube` per (run, benchmark), in sorted order."""
    out = []
    for (run, bench), rows in segments(frame, ("run", "benchmark")):
        steps, items, m = pivot(frame, rows, ["n_scored", "s_sum", "s_sq"])
        group = str(frame.cols["group"][rows.start] or "general")
        out.append(
            Cube(
                run,
                bench,
                group,
                steps,
                items,
                m["n_scored"],
                m["s_sum"],
                m["s_sq"],
                frame.binary.get(bench, False),
                frame.scoring.get(bench, {}).get("unit", True),
            )
        )
    return out


def outcome_counts(frame: ItemFrame) -> dict[tuple[str, str], dict]:
    """Per (run, benchmark): samples per outcome at each step (``ok`` = the rest), plus the totals."""
    out = {}
    for (run, bench), rows in segments(frame, ("run", "benchmark")):
        steps, _, m = pivot(frame, rows, ["n_rows", "n_trunc", "n_noans", "n_err"])
        per = {
            "truncated": m["n_trunc"].sum(axis=0),
            "no_answer": m["n_noans"].sum(axis=0),
            "error": m["n_err"].sum(axis=0),
        }
        ok = m["n_rows"].sum(axis=0) - sum(per.values())
        cols = {"ok": ok, **per}
        out[(run, bench)] = {
            "step": steps.astype(int).tolist(),
            **{k: v.astype(int).tolist() for k, v in cols.items()},
            "total": {k: int(v.sum()) for k, v in cols.items()},
        }
    return out
