"""Benchmark: rollout pool writer and reader on a synthetic 44,000 x 32 pool (1.4 M rows) in bounded memory.

Run:  python benchmarks/rollout_pool_io.py [--queries 44000] [--n 32] [--scale 0.01] [--out DIR]

Per-token arrays (token ids int32, log-probs and entropies float32) follow a realistic long-CoT length
distribution — log-normal, median 4,000 tokens, sigma 0.6, capped at 16,384, as for a 16k-token teacher budget —
scaled by ``--scale`` (0.01 -> median 40 tokens) so the run takes minutes on 2 cores; response text is 4 bytes per
token. Each phase runs in its own subprocess so its peak RSS (``ru_maxrss``) is its own:

* ``write``: :class:`rsft.rollouts.store.ShardWriter` (row groups of 4,096 rows, parts of 262,144 rows, zstd);
* ``baseline``: the same batches straight into one ``pyarrow.parquet.ParquetWriter`` (the floor for the format);
* ``read``: :func:`rsft.rollouts.iter_pool` over every column, summing per-token log-probs (the curation scan);
* ``read_scalars``: the scalar columns only (what selection reads on its first pass);
* ``curate``: :func:`rsft.rollouts.curate` with the pool's verdicts (``reverify=False``: the synthetic responses
  are not real answers), ``one_verified``, target 20,480 rows, unverified low-quality — both passes and the writes.

Synthetic batches are built once (16 templates) and re-labelled per batch, so timings measure I/O, not numpy.
Wall time and process CPU time are both printed: on a shared machine the CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _layout(scale: float) -> tuple[int, int]:
    """(queries per batch, synthetic templates): full-length rows (scale ~1) get small batches, as a real run's."""
    return (128, 16) if scale <= 0.05 else (8, 4)


def _lengths(rng: np.random.Generator, rows: int, scale: float) -> np.ndarray:
    full = np.minimum(rng.lognormal(mean=np.log(4000), sigma=0.6, size=rows), 16384)
    return np.maximum(1, np.round(full * scale)).astype(np.int32)


def _list_array(values: np.ndarray, offsets: np.ndarray) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values))


def template_batch(seed: int, n: int, scale: float) -> pa.Table:
    """One synthetic batch of queries x n samples in the pool schema (queries per batch from :func:`_layout`)."""
    from rsft.rollouts.schema import POOL_SCHEMA

    rng = np.random.default_rng(seed)
    per_batch = _layout(scale)[0]
    rows = per_batch * n
    lengths = _lengths(rng, rows, scale)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    total = int(offsets[-1])
    logprobs = (-rng.exponential(0.3, total)).astype(np.float32)
    text_offsets = (offsets * 4).astype(np.int32)
    text = rng.integers(97, 123, size=total * 4, dtype=np.uint8).tobytes()
    response = pa.StringArray.from_buffers(rows, pa.py_buffer(text_offsets.tobytes()), pa.py_buffer(text))
    lp_sum = np.add.reduceat(logprobs.astype(np.float64), offsets[:-1])
    cols = {
        "query_id": pa.array(["q"] * rows),
        "sample_idx": pa.array(np.tile(np.arange(n, dtype=np.int32), per_batch)),
        "prompt": pa.array(["Using the numbers [3, 5, 7], create an equation that equals 22."] * rows),
        "messages": pa.array(['[{"role":"user","content":"..."}]'] * rows),
        "target": pa.array(["22"] * rows),
        "query_meta": pa.array(['{"numbers":[3,5,7],"target":22}'] * rows),
        "response": response,
        "token_ids": _list_array(rng.integers(0, 151_000, total, dtype=np.int32), offsets),
        "logprobs": _list_array(logprobs, offsets),
        "entropies": _list_array(np.abs(rng.normal(0, 1, total)).astype(np.float32), offsets),
        "entropy_kind": pa.array(["full"] * rows),
        "finish_reason": pa.array(np.where(rng.random(rows) < 0.05, "length", "stop")),
        "n_tokens": pa.array(lengths),
        "prompt_tokens": pa.array(np.full(rows, 40, np.int32)),
        "logprob_sum": pa.array(lp_sum),
        "extracted_answer": pa.array(["22"] * rows),
        "verified": pa.array(rng.random(rows) < 0.6),
        "verify_reason": pa.array(["correct"] * rows),
        "teacher": pa.array(["hf/synthetic"] * rows),
        "teacher_hash": pa.array(["0" * 16] * rows),
        "gen_config": pa.array(['{"temperature":1.0,"n":32}'] * rows),
        "seed": pa.array(np.zeros(rows, np.int64)),
        "seconds": pa.array(np.zeros(rows, np.float32)),
        "error": pa.nulls(rows, pa.string()),
    }
    return pa.table(cols).cast(POOL_SCHEMA)


def batches(queries: int, n: int, scale: float):
    per_batch, count_templates = _layout(scale)
    templates = [template_batch(s, n, scale) for s in range(count_templates)]
    for b, start in enumerate(range(0, queries, per_batch)):
        count = min(per_batch, queries - start)
        t = templates[b % len(templates)].slice(0, count * n)
        ids = pa.array(np.repeat([f"q{start + i:06d}" for i in range(count)], n))
        yield t.set_column(0, "query_id", ids)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_write(args) -> dict:
    from rsft.rollouts.store import ShardWriter

    gen = batches(args.queries, args.n, args.scale)
    first = next(gen)  # templates built before the clock starts
    t0 = time.perf_counter()
    w = ShardWriter(Path(args.out) / "pool" / "shards" / "00000-of-00001")
    rows = 0
    for t in _chain(first, gen):
        w.write(t)
        rows += t.num_rows
    w.commit()
    return {"rows": rows, "seconds": time.perf_counter() - t0, "parts": len(w.parts())}


def _chain(first, gen):
    yield first
    yield from gen


def phase_baseline(args) -> dict:
    import pyarrow.parquet as pq

    gen = batches(args.queries, args.n, args.scale)
    first = next(gen)
    t0 = time.perf_counter()
    out = Path(args.out) / "baseline.parquet"
    rows = 0
    with pq.ParquetWriter(out, first.schema, compression="zstd") as w:
        for t in _chain(first, gen):
            w.write_table(t, row_group_size=4096)
            rows += t.num_rows
    return {"rows": rows, "seconds": time.perf_counter() - t0}


def phase_read(args, scalars: bool) -> dict:
    from rsft.rollouts import iter_pool

    cols = (
        ["query_id", "sample_idx", "n_tokens", "logprob_sum", "verified", "finish_reason"]
        if scalars
        else None
    )
    t0 = time.perf_counter()
    rows, tokens, lp = 0, 0, 0.0
    for b in iter_pool(Path(args.out) / "pool", cols):
        rows += b.num_rows
        if scalars:
            tokens += int(pc.sum(b.column("n_tokens")).as_py())
            lp += float(pc.sum(b.column("logprob_sum")).as_py())
        else:
            flat = pc.list_flatten(b.column("logprobs"))
            tokens += len(flat)
            lp += float(pc.sum(flat).as_py())
    return {"rows": rows, "tokens": tokens, "logprob_total": lp, "seconds": time.perf_counter() - t0}


def phase_curate(args) -> dict:
    from rsft.rollouts.curate import CurateConfig, curate

    t0 = time.perf_counter()
    cfg = CurateConfig(
        pool=str(Path(args.out) / "pool"), task="none", out=str(Path(args.out) / "curated"), reverify=False,
        target_size=20_480, seed=0,
    )  # fmt: skip
    rep = curate(cfg)
    return {
        "rows": rep["rows"],
        "selected": rep["yield"]["selected_rows"],
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=44_000)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument(
        "--scale", type=float, default=0.01, help="token-length scale (1.0 = full 16k-budget lengths)"
    )
    ap.add_argument("--out", default=None, help="work folder (default: a temp folder, removed afterwards)")
    ap.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        fn = {
            "write": phase_write,
            "baseline": phase_baseline,
            "read": lambda a: phase_read(a, False),
            "read_scalars": lambda a: phase_read(a, True),
            "curate": phase_curate,
        }[args.phase]
        cpu0 = time.process_time()
        res = fn(args)
        res["cpu_seconds"] = (
            time.process_time() - cpu0
        )  # includes building the synthetic templates (write/baseline)
        res["peak_rss_mb"] = _peak_rss_mb()
        print(json.dumps(res))
        return
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rsft_pool_bench_"))
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        for phase in ("write", "baseline", "read", "read_scalars", "curate"):
            cmd = [sys.executable, __file__, "--phase", phase, "--out", str(out)]
            cmd += ["--queries", str(args.queries), "--n", str(args.n), "--scale", str(args.scale)]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            res["rows_per_s"] = res["rows"] / res["seconds"]
            results[phase] = res
            print(
                f"{phase:13s} rows={res['rows']:,} wall={res['seconds']:.1f}s rows/s={res['rows_per_s']:,.0f} "
                f"cpu={res['cpu_seconds']:.1f}s peak_rss={res['peak_rss_mb']:.0f} MB",
                flush=True,
            )
        pool_bytes = sum(f.stat().st_size for f in (out / "pool").rglob("*.parquet"))
        w, b = results["write"], results["baseline"]
        print(
            f"pool on disk: {pool_bytes / 2**20:.0f} MiB in {w['parts']} parts; tokens={results['read']['tokens']:,}"
        )
        print(
            f"writer vs bare ParquetWriter baseline (same batches): wall {w['rows_per_s'] / b['rows_per_s']:.2f}x, "
            f"CPU time {b['cpu_seconds'] / w['cpu_seconds']:.2f}x (>1 = writer faster)"
        )
        peak = max(r["peak_rss_mb"] for r in results.values())
        print(
            f"max peak RSS over phases: {peak:.0f} MB ({'under' if peak < 4096 else 'OVER'} the 4 GB bound)"
        )
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
