"""``rsft curate``: verify a pool, select responses, cut to a target size, emit SFT variants on the same queries.

Two streaming passes keep memory bounded for a 1.4 M-row pool:

1. *scan*: every row's scalar columns (and its response, for re-verification) are read batch by batch; what stays in
   memory is a few numbers per row (query index, sample index, verdict, reason code, length, mean log-prob).
2. *fetch*: after selection, only the chosen rows' full records are read back.

Selection (``select``), per query, among *candidates* = verified, ``finish_reason == "stop"``, within the optional
``max_tokens`` / ``min_logprob_mean`` bounds:

* ``one_verified``: one candidate, drawn uniformly with a seed derived from (seed, query id);
* ``all_verified``: every candidate;
* ``shortest_verified`` / ``longest_verified``: the candidate with the fewest / most tokens;
* ``max_logprob_verified`` / ``min_logprob_verified``: the candidate with the highest / lowest mean token log-prob.

Then the chosen rows are shuffled with ``seed`` and cut to ``target_size``. Variants share the chosen queries and
order: ``long_cot`` (the chosen responses), ``no_cot`` (the same responses with the thinking block removed) and
``low_quality`` (an unverified finished response of the same query drawn with a seed derived from (seed, query id,
sample index), or the text of a query column such as a short reference solution). With ``same_queries`` (default)
only queries for which every variant exists are eligible, so the variants differ in the response alone.
"""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from rsft._util.errors import RsftError
from rsft._util.seeding import derive_seed
from rsft.config import StrictModel
from rsft.rollouts.store import iter_pool
from rsft.rollouts.verify import get_verifier, verified_flag

Selection = Literal[
    "one_verified",
    "all_verified",
    "shortest_verified",
    "longest_verified",
    "max_logprob_verified",
    "min_logprob_verified",
]
VARIANTS = ("long_cot", "no_cot", "low_quality")
CANDIDATE = "candidate"
CURATE_VERSION = 1  # bump when selection or variant construction changes


class CurateConfig(StrictModel):
    """Settings of one curation run (every field is recorded in the report)."""

    pool: str = Field(..., description="pool folder or pool Parquet file")
    task: str = Field(..., description="verifier: countdown, math, code, none, or another registered task")
    out: str = Field(..., description="output folder")
    select: Selection = "one_verified"
    target_size: int | None = Field(None, ge=1, description="rows per variant (None: all selected)")
    seed: int = 0
    reverify: bool = Field(True, description="re-run the verifier (False: trust the pool's verified column)")
    max_tokens: int | None = Field(None, ge=1, description="candidates have at most this many tokens")
    min_logprob_mean: float | None = Field(
        None, description="candidates have at least this mean token log-prob"
    )
    low_quality: str = Field("unverified", description="unverified | column:NAME (a query field) | none")
    same_queries: bool = Field(True, description="only queries for which every variant exists")
    drop_system: bool = Field(False, description="leave the system turn out of the SFT messages")
    workers: int = Field(1, ge=1, description="verifier threads")
    format: Literal["parquet", "jsonl"] = "parquet"


_SCAN_COLUMNS = [
    "query_id",
    "sample_idx",
    "prompt",
    "target",
    "query_meta",
    "response",
    "finish_reason",
    "n_tokens",
    "logprob_sum",
    "verified",
    "verify_reason",
]


_VERIFY_ONLY = ("prompt", "target", "query_meta", "response")  # not read when the pool's verdicts are trusted


@dataclass
class Scan:
    """Pass-1 result: a few numbers per row, plus per-query facts."""

    qids: list[str] = field(default_factory=list)
    q: list[np.ndarray] = field(default_factory=list)
    sample: list[np.ndarray] = field(default_factory=list)
    ver: list[np.ndarray] = field(default_factory=list)  # 1 verified, 0 not, -1 unscored
    stored: list[np.ndarray] = field(default_factory=list)  # the pool's verdict, same coding
    status: list[np.ndarray] = field(default_factory=list)  # index into ``statuses``
    stop: list[np.ndarray] = field(default_factory=list)
    n_tok: list[np.ndarray] = field(default_factory=list)
    lp_mean: list[np.ndarray] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    low_text: dict[int, str] = field(default_factory=dict)  # query index -> low-quality column text

    def code(self, status: str) -> int:
        if status not in self.statuses:
            self.statuses.append(status)
        return self.statuses.index(status)

    def finish(self) -> None:
        for name in ("q", "sample", "ver", "stored", "status", "stop", "n_tok", "lp_mean"):
            parts = getattr(self, name)
            setattr(self, name, np.concatenate(parts) if parts else np.array([]))


def _coded(v: Any) -> int:
    return -1 if v is None else int(bool(v))


def _row_status(cfg: CurateConfig, ver: int, reason: str, finish: str, n_tok: int, lp: float) -> str:
    if ver == -1:
        return f"unscored:{reason}"
    if ver == 0:
        return reason or "not_verified"
    if finish != "stop":
        return f"finish_{finish}"
    if cfg.max_tokens is not None and n_tok > cfg.max_tokens:
        return "too_long"
    if cfg.min_logprob_mean is not None and not lp >= cfg.min_logprob_mean:
        return "low_logprob"
    return CANDIDATE


def scan_pool(cfg: CurateConfig) -> Scan:
    """Pass 1: verdicts, rejection reasons, lengths and mean log-probs of every row."""
    verifier = get_verifier(cfg.task) if cfg.reverify else None
    column = cfg.low_quality.split(":", 1)[1] if cfg.low_quality.startswith("column:") else None
    scan, qindex = Scan(), {}
    pool_ex = ThreadPoolExecutor(cfg.workers) if verifier is not None and cfg.workers > 1 else None

    def check(row: dict[str, Any]) -> tuple[int, str]:
        meta = json.loads(row["query_meta"] or "{}")
        try:
            rec = verifier(row["query_id"], row["prompt"], row["target"] or "", meta, row["response"])
            return _coded(verified_flag(rec)), rec.reason
        except Exception as e:  # noqa: BLE001 - one bad row is a reason in the report, not a crash
            return -1, f"verifier_error:{type(e).__name__}"

    try:
        cols = [c for c in _SCAN_COLUMNS if verifier is not None or c not in _VERIFY_ONLY]
        if column and "query_meta" not in cols:
            cols.append("query_meta")
        for batch in iter_pool(cfg.pool, cols):
            rows = batch.to_pylist()
            if verifier is not None:
                verdicts = list(pool_ex.map(check, rows)) if pool_ex else [check(r) for r in rows]
            else:
                verdicts = [(_coded(r["verified"]), r["verify_reason"] or "") for r in rows]
            q = np.empty(len(rows), np.int32)
            status = np.empty(len(rows), np.int16)
            for i, (r, (v, reason)) in enumerate(zip(rows, verdicts, strict=True)):
                qi = qindex.get(r["query_id"])
                if qi is None:
                    qi = qindex[r["query_id"]] = len(scan.qids)
                    scan.qids.append(r["query_id"])
                    if column:
                        text = json.loads(r["query_meta"] or "{}").get(column)
                        if isinstance(text, str) and text.strip():
                            scan.low_text[qi] = text
                q[i] = qi
                n_tok = r["n_tokens"] or 0
                lp = r["logprob_sum"] / n_tok if r["logprob_sum"] is not None and n_tok else float("nan")
                status[i] = scan.code(_row_status(cfg, v, reason, r["finish_reason"], n_tok, lp))
            scan.q.append(q)
            scan.status.append(status)
            scan.sample.append(np.array([r["sample_idx"] for r in rows], np.int32))
            scan.ver.append(np.array([v for v, _ in verdicts], np.int8))
            scan.stored.append(np.array([_coded(r["verified"]) for r in rows], np.int8))
            scan.stop.append(np.array([r["finish_reason"] == "stop" for r in rows], bool))
            scan.n_tok.append(np.array([r["n_tokens"] or 0 for r in rows], np.int64))
            lps = np.array(
                [np.nan if r["logprob_sum"] is None else r["logprob_sum"] for r in rows], np.float64
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                scan.lp_mean.append(np.where(scan.n_tok[-1] > 0, lps / scan.n_tok[-1], np.nan))
    finally:
        if pool_ex:
            pool_ex.shutdown()
    scan.finish()
    return scan


@dataclass
class Selected:
    """Selection result: row indices (into the scan) per variant, in output order."""

    long_rows: list[int]
    low_rows: list[int | None]  # a row index, or None when the low-quality text is a query column
    eligible_queries: int
    queries_with_candidates: int


def _pick(cfg: CurateConfig, scan: Scan, qi: int, cands: np.ndarray) -> list[int]:
    order = cands[
        np.argsort(scan.sample[cands], kind="stable")
    ]  # by sample index: ties go to the first sample
    if cfg.select == "all_verified":
        return order.tolist()
    if cfg.select == "one_verified":
        return [int(random.Random(derive_seed(cfg.seed, "select", scan.qids[qi])).choice(order.tolist()))]
    key = {
        "shortest_verified": scan.n_tok[order],
        "longest_verified": -scan.n_tok[order],
        "max_logprob_verified": -np.nan_to_num(scan.lp_mean[order], nan=-np.inf),
        "min_logprob_verified": np.nan_to_num(scan.lp_mean[order], nan=np.inf),
    }[cfg.select]
    return [int(order[int(np.argmin(key))])]


def select_rows(cfg: CurateConfig, scan: Scan) -> Selected:
    """Candidates per query -> chosen rows -> seeded shuffle -> cut to ``target_size`` (see module docstring)."""
    cand_code = scan.statuses.index(CANDIDATE) if CANDIDATE in scan.statuses else -1
    is_cand = scan.status == cand_code
    is_low = (scan.ver == 0) & scan.stop
    order = np.argsort(scan.q, kind="stable")
    bounds = np.flatnonzero(np.diff(scan.q[order])) + 1
    groups = np.split(order, bounds) if order.size else []
    chosen, lows_by_q, with_cands, eligible = [], {}, 0, 0
    for g in groups:
        qi = int(scan.q[g[0]])
        cands = g[is_cand[g]]
        if cands.size:
            with_cands += 1
        lows = g[is_low[g]]
        lows = lows[np.argsort(scan.sample[lows], kind="stable")]
        has_low = {
            "none": True,
            "unverified": lows.size > 0,
        }.get(cfg.low_quality, qi in scan.low_text)
        if not cands.size or (cfg.same_queries and not has_low):
            continue
        eligible += 1
        lows_by_q[qi] = lows
        chosen.extend(_pick(cfg, scan, qi, cands))
    # order-free before the seeded shuffle: the same pool in other part files gives the same output
    chosen.sort(key=lambda r: (scan.qids[int(scan.q[r])], int(scan.sample[r])))
    random.Random(derive_seed(cfg.seed, "shuffle")).shuffle(chosen)
    if cfg.target_size is not None:
        chosen = chosen[: cfg.target_size]
    low_rows: list[int | None] = []
    if cfg.low_quality == "unverified":
        for r in chosen:
            qi = int(scan.q[r])
            lows = lows_by_q[qi]
            if lows.size:
                rng = random.Random(derive_seed(cfg.seed, "low", scan.qids[qi], int(scan.sample[r])))
                low_rows.append(int(rng.choice(lows.tolist())))
            else:
                low_rows.append(-1)
    elif cfg.low_quality != "none":
        low_rows = [None if int(scan.q[r]) in scan.low_text else -1 for r in chosen]
    return Selected(chosen, low_rows, eligible, with_cands)


def check_low_quality(spec: str) -> None:
    if spec in ("unverified", "none") or (spec.startswith("column:") and len(spec) > 7):
        return
    raise RsftError(
        f"bad low_quality '{spec}'",
        field="low_quality",
        fix="use unverified, none, or column:NAME (a query field)",
    )


_FETCH_COLUMNS = ["query_id", "sample_idx", "messages", "response", "logprobs", "teacher"]


def fetch_rows(cfg: CurateConfig, scan: Scan, wanted: set[int]) -> dict[int, dict[str, Any]]:
    """Pass 2: the full records of the scan rows in ``wanted`` (bounded: only those rows are kept)."""
    keys = {(scan.qids[int(scan.q[r])], int(scan.sample[r])): r for r in wanted}
    got: dict[int, dict[str, Any]] = {}
    for batch in iter_pool(cfg.pool, _FETCH_COLUMNS):
        ids, samples = batch.column("query_id").to_pylist(), batch.column("sample_idx").to_pylist()
        hits = [(i, keys[k]) for i, k in enumerate(zip(ids, samples, strict=True)) if k in keys]
        if hits:
            taken = batch.take([i for i, _ in hits]).to_pylist()
            for rec, (_, r) in zip(taken, hits, strict=True):
                got[r] = rec
    return got


def _messages(rec: dict[str, Any], drop_system: bool) -> list[dict[str, str]]:
    msgs = json.loads(rec["messages"])
    return [m for m in msgs if not (drop_system and m["role"] == "system")]


def build_variants(
    cfg: CurateConfig, scan: Scan, sel: Selected
) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """SFT rows of each variant, in the selection's order (same queries, same order across variants).

    The no-CoT rows come from :func:`rsft.data.variants.make_variant` (``nocot``) on the long-CoT rows; its report
    (rows without a thinking block, kept unchanged) is returned with them.
    """
    from rsft.data.schemas import SFTRow
    from rsft.data.variants import make_variant

    wanted = set(sel.long_rows) | {r for r in sel.low_rows if r is not None and r >= 0}
    recs = fetch_rows(cfg, scan, wanted)
    out: dict[str, list[Any]] = {v: [] for v in VARIANTS}
    for k, r in enumerate(sel.long_rows):
        rec, qid = recs[r], scan.qids[int(scan.q[r])]
        msgs = _messages(rec, cfg.drop_system)
        base = {
            "query_id": qid,
            "sample_idx": int(scan.sample[r]),
            "teacher": rec["teacher"],
            "select": cfg.select,
        }
        lp = float(scan.lp_mean[r])
        out["long_cot"].append(
            SFTRow(
                msgs,
                rec["response"],
                1.0,
                rec["logprobs"],
                qid,
                {
                    **base,
                    "variant": "long_cot",
                    "n_tokens": int(scan.n_tok[r]),
                    "logprob_mean": lp if lp == lp else None,
                },
            )
        )
        if not sel.low_rows:
            continue
        low = sel.low_rows[k]
        if low is None:
            text = scan.low_text[int(scan.q[r])]
            meta = {"query_id": qid, "variant": "low_quality", "source": cfg.low_quality}
            out["low_quality"].append(SFTRow(msgs, text, 1.0, None, qid, meta))
        elif low >= 0:
            lrec = recs[low]
            meta = {
                "query_id": qid,
                "sample_idx": int(scan.sample[low]),
                "variant": "low_quality",
                "source": "unverified",
                "teacher": lrec["teacher"],
                "n_tokens": int(scan.n_tok[low]),
            }
            out["low_quality"].append(SFTRow(msgs, lrec["response"], 1.0, lrec["logprobs"], qid, meta))
    out["no_cot"], out_report = make_variant(out["long_cot"], "nocot", on_missing="keep")
    for row in out["no_cot"]:
        row.metadata = {**row.metadata, "variant": "no_cot", "n_tokens": None, "logprob_mean": None}
    return out, out_report


def write_variant(cfg: CurateConfig, name: str, rows: list[Any], out: Path) -> Path:
    """Write one variant with :func:`rsft.data.io.write_sft` (and its dataset card); returns the data file."""
    from rsft.data.io import write_sft

    path = out / f"{name}.{cfg.format}"
    card = {
        "source": cfg.pool,
        "generator": {"name": "rsft curate", "version": CURATE_VERSION},
        "seed": cfg.seed,
        "variant": name,
        "settings": cfg.model_dump(mode="json"),
    }
    write_sft(rows, path, card=card)
    return path


def curate(cfg: CurateConfig) -> dict[str, Any]:
    """Verify, select, cut and write the variants and the report into ``cfg.out``.

    Returns:
        The report (also written as ``report.json`` and ``report.md``).

    Raises:
        RsftError: bad options, an unreadable pool, or no candidate at all.
    """
    from rsft.rollouts.report import build_report, write_report

    check_low_quality(cfg.low_quality)
    out = Path(cfg.out)
    scan = scan_pool(cfg)
    sel = select_rows(cfg, scan)
    if not sel.long_rows:
        report = build_report(cfg, scan, sel, {})
        write_report(out, report)
        raise RsftError(
            f"no response passed selection ({scan.q.size:,} rows, {len(scan.qids):,} queries); "
            f"see {out / 'report.md'} for the rejection reasons",
            file=cfg.pool,
            fix="check --task (the verifier), loosen --max-tokens / --min-logprob-mean, or use --no-same-queries",
        )
    variants, nocot_report = build_variants(cfg, scan, sel)
    out.mkdir(parents=True, exist_ok=True)
    files = {name: write_variant(cfg, name, rows, out).name for name, rows in variants.items() if rows}
    report = build_report(cfg, scan, sel, variants, files)
    report["no_cot_problems"] = {k: len(v) for k, v in nocot_report["problems"].items()}
    write_report(out, report)
    return report
