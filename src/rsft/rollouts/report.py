"""The curation report: yields, rejection reasons, length and log-prob distributions (JSON + Markdown)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from rsft._util.provenance import provenance
from rsft.rollouts.schema import POOL_MANIFEST
from rsft.rollouts.stats import describe, fmt_describe
from rsft.rollouts.store import write_json_atomic


def _groups(scan: Any, sel: Any) -> dict[str, np.ndarray]:
    cand = (
        np.array([s == "candidate" for s in scan.statuses])[scan.status] if scan.status.size else scan.status
    )
    chosen = np.zeros(scan.q.size, bool)
    chosen[sel.long_rows] = True
    return {
        "all": np.ones(scan.q.size, bool),
        "verified": scan.ver == 1,
        "not_verified": scan.ver == 0,
        "candidates": cand.astype(bool),
        "selected": chosen,
    }


def build_report(
    cfg: Any, scan: Any, sel: Any, variants: dict[str, list[Any]], files: dict | None = None
) -> dict:
    """Every figure of a curation run, each with its count (n) and how it was computed (see keys)."""
    groups = _groups(scan, sel)
    status_counts = Counter(scan.statuses[int(c)] for c in scan.status)
    per_query = np.bincount(scan.q[scan.ver == 1], minlength=len(scan.qids)) if scan.q.size else np.array([])
    pool_json = Path(cfg.pool) / POOL_MANIFEST
    report: dict[str, Any] = {
        "config": cfg.model_dump(mode="json"),
        "pool": json.loads(pool_json.read_text()) if pool_json.is_file() else {"file": cfg.pool},
        "provenance": provenance(),
        "rows": int(scan.q.size),
        "queries": len(scan.qids),
        "verdicts": {
            "verified": int((scan.ver == 1).sum()),
            "not_verified": int((scan.ver == 0).sum()),
            "unscored": int((scan.ver == -1).sum()),
            "source": "re-verified with " + cfg.task if cfg.reverify else "the pool's verified column",
        },
        "status_counts": dict(status_counts.most_common()),
        "rejections": {k: v for k, v in status_counts.most_common() if k != "candidate"},
        "verified_per_query": {str(k): int(v) for k, v in enumerate(np.bincount(per_query.astype(int)))}
        if per_query.size
        else {},
        "yield": {
            "queries_with_candidates": sel.queries_with_candidates,
            "eligible_queries": sel.eligible_queries,
            "selected_rows": len(sel.long_rows),
            "selected_queries": len({int(scan.q[r]) for r in sel.long_rows}),
            "target_size": cfg.target_size,
            "shortfall": max(0, (cfg.target_size or 0) - len(sel.long_rows)),
            "low_quality_missing": sum(1 for r in sel.low_rows if r is not None and r < 0),
        },
        "n_tokens": {g: describe(scan.n_tok[m]) for g, m in groups.items()},
        "logprob_mean": {g: describe(scan.lp_mean[m]) for g, m in groups.items()},
        "variants": {
            name: {
                "rows": len(rows),
                "file": (files or {}).get(name),
                "response_chars": describe([len(r.response) for r in rows]),
            }
            for name, rows in variants.items()
        },
    }
    if cfg.reverify:
        stored, new = scan.stored, scan.ver
        report["reverify_vs_pool"] = {
            "same": int((stored == new).sum()),
            "pool_true_now_false": int(((stored == 1) & (new == 0)).sum()),
            "pool_false_now_true": int(((stored == 0) & (new == 1)).sum()),
            "pool_unscored_now_scored": int(((stored == -1) & (new != -1)).sum()),
            "pool_scored_now_unscored": int(((stored != -1) & (new == -1)).sum()),
        }
    return report


def render_markdown(rep: dict[str, Any]) -> str:
    cfg, y, v = rep["config"], rep["yield"], rep["verdicts"]
    lines = [
        "# Curation report",
        "",
        f"- pool: `{cfg['pool']}` (teacher `{rep['pool'].get('teacher', '?')}`); verifier: `{cfg['task']}` ({v['source']})",
        f"- selection: `{cfg['select']}`, seed {cfg['seed']}, target size {cfg['target_size']}, "
        f"low quality: `{cfg['low_quality']}`, same queries: {cfg['same_queries']}, "
        f"max tokens: {cfg['max_tokens']}, min mean log-prob: {cfg['min_logprob_mean']}",
        "",
        "## Yield",
        "",
        f"- rows: {rep['rows']:,} over {rep['queries']:,} queries; verified {v['verified']:,} "
        f"({v['verified'] / max(rep['rows'], 1):.1%}), not verified {v['not_verified']:,}, unscored {v['unscored']:,}",
        f"- queries with >= 1 candidate: {y['queries_with_candidates']:,}; eligible (every variant exists): "
        f"{y['eligible_queries']:,}",
        f"- selected: {y['selected_rows']:,} rows on {y['selected_queries']:,} queries"
        + (f" (target {y['target_size']:,}; short by {y['shortfall']:,})" if y["target_size"] else ""),
        f"- low-quality rows missing: {y['low_quality_missing']:,}",
        "",
        "## Row status: candidate, or why rejected (rows)",
        "",
        "| status | rows |",
        "|---|---|",
        *(f"| {k} | {n:,} |" for k, n in rep["status_counts"].items()),
        "",
        "## Verified responses per query (queries)",
        "",
        " ".join(f"{k}:{n}" for k, n in rep["verified_per_query"].items()),
        "",
        "## Response length (tokens; quantiles by linear interpolation)",
        "",
        *(f"- {g}: {fmt_describe(d)}" for g, d in rep["n_tokens"].items()),
        "",
        "## Mean per-token log-prob of a response",
        "",
        *(f"- {g}: {fmt_describe(d, 3)}" for g, d in rep["logprob_mean"].items()),
        "",
        "## Variants",
        "",
        "| variant | rows | file | response chars |",
        "|---|---|---|---|",
        *(
            f"| {n} | {d['rows']:,} | {d['file']} | {fmt_describe(d['response_chars'], 0)} |"
            for n, d in rep["variants"].items()
        ),
        "",
    ]
    if rep.get("no_cot_problems"):
        lines += [
            f"- no-CoT: {rep['no_cot_problems']} (rows without a thinking block are kept unchanged)",
            "",
        ]
    if "reverify_vs_pool" in rep:
        lines += [
            "## Re-verification against the pool's verdicts",
            "",
            json.dumps(rep["reverify_vs_pool"]),
            "",
        ]
    return "\n".join(lines)


def write_report(out: Path, rep: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "report.json", rep)
    (out / "report.md").write_text(render_markdown(rep), encoding="utf-8")
