"""Adaptive sweeps against full sweeps on simulated paper-shaped runs: row ratio, verdict agreement, false verdicts.

Run (resumable; appends one JSON line per finished chunk, skips chunks already in the file)::

    python benchmarks/adaptive_sweep.py run --out benchmarks/results/adaptive_sweep.jsonl
    python benchmarks/adaptive_sweep.py table --out benchmarks/results/adaptive_sweep.jsonl
    python benchmarks/adaptive_sweep.py replay --store rsft-demo/full/store   # a real store (rsft demo's)
    python benchmarks/adaptive_sweep.py replay --store /tmp/synth --synthetic  # writes a paper-shaped store first

Each simulated run draws fresh items from :class:`rsft.analysis.synthetic.ItemModel` (base accuracies ~ Beta with
the given mean and sd 0.3; item x checkpoint logit jitter sd 0.3, correlation 0.9; the same model as
benchmarks/detector_calibration.py), 65 checkpoints, the true curve from ``rsft.analysis.synthetic.SHAPES``, k
Bernoulli samples per item and checkpoint (:func:`rsft.analysis.adaptive.simulate_policy`). The *full* verdict is
the detector on every row at level 0.95; the *adaptive* verdict is the policy of :mod:`rsft.analysis.adaptive`
(default schedule, budget 10% of the rows) reading only the rows it asks for. Every simulated row costs one unit,
so the ratio is a row ratio (a real sweep's token ratio weighs rows by their length: see ``rsft eval --adaptive
--replay``). ``--method naive`` runs the deliberately wrong control (every look at level 0.95, no spending).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

# the same interleaved, resumable chunks of work (this folder is on sys.path)
from detector_calibration import jobs, pending

from rsft.analysis.adaptive import simulate_policy
from rsft.analysis.stats import BootSpec, clopper_pearson
from rsft.analysis.synthetic import ItemModel

OUT_DIR = Path(__file__).resolve().parent / "out"  # git-ignored: where a run writes unless told

# name: (n items, k samples, checkpoints, base mean accuracy)
CONFIGS = {"MATH-500": (500, 3, 65, 0.6), "GPQA": (198, 3, 65, 0.4), "AIME": (30, 10, 65, 0.25)}
NULLS = ("flat", "drop-and-stay", "steady decline", "steady rise", "rise-then-plateau")
NULL_DEPTH = 0.10
DIP_DEPTHS = (0.05, 0.10, 0.20)
CHUNK = 50
B = 400


def _key(j: dict) -> tuple:
    return (j.get("method", "adaptive"), j["config"], j["shape"], round(j["depth"], 6), j["chunk"])


def run(out: Path, todo: list[dict], sims: int, method: str, full: bool) -> None:
    for j in pending(out, todo, _key, method=method):
        n, k, S, mean = CONFIGS[j["config"]]
        model = ItemModel(mean=mean, sd=0.3, jitter_sd=0.3, jitter_rho=0.9)
        spec = BootSpec(B=B, seed=2000 + j["chunk"])
        t0 = time.perf_counter()
        r = simulate_policy(
            model,
            n,
            k,
            list(range(0, 10 * S, 10)),
            j["shape"],
            j["depth"],
            sims,
            spec,
            full=full,
            method=method,
        )
        rec = {**j, **{key: r[key] for key in r if key not in ("shape", "depth")}, "S": S, "seed": spec.seed}
        rec["seconds"] = round(time.perf_counter() - t0, 2)
        rec["row_ratio_sum"] = r["row_ratio"] * sims
        with out.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(
            f"{method} {j['config']:>9} {j['shape']:>18} {j['depth']:.2f} chunk {j['chunk']}: "
            f"false {r['false_verdicts']}/{sims}, ratio {r['row_ratio']:.3f}, agree {r['agreement']}, "
            f"{rec['seconds']} s",
            flush=True,
        )


def table(out: Path) -> str:
    cells: dict[tuple, dict] = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        key = (r["method"], r["config"], r["shape"], r["depth"])
        c = cells.setdefault(key, {"sims": 0, "bad": 0, "ratio": [], "agree": {}, "marks": {}, "r": r, "full": 0,
                                   "fbad": 0, "differs": 0, "truth": {}, "dip": [0, 0]})  # fmt: skip
        c["sims"] += r["sims"]
        c["bad"] += r["false_verdicts"]
        c["fbad"] += r.get("full_false_verdicts") or 0
        c["differs"] += r.get("class_differs") or 0
        for kind, v in (r.get("contradiction_truth") or {}).items():
            c["truth"][kind] = c["truth"].get(kind, 0) + v
        dips = ("dip-and-recovery", "dip-and-partial-recovery")
        c["dip"][1] += sum(r["adaptive"][x] for x in dips)
        c["dip"][0] += sum(r["full"][x] for x in dips) if r.get("full") else 0
        c["ratio"].append((r["row_ratio"], r["row_ratio_se"], r["sims"]))
        for pair, v in (r.get("disagreements") or {}).items():
            c.setdefault("pairs", {})[pair] = c.setdefault("pairs", {}).get(pair, 0) + v
        if r.get("agreement"):
            c["full"] += r["sims"]
            for d, src in (("agree", "agreement"), ("marks", "mark_agreement")):
                for kind, v in r[src].items():
                    c[d][kind] = c[d].get(kind, 0) + v
    lines = [
        "| method | benchmark shape | true shape | sims | row ratio ± s.e. | false verdicts | rate | 95% upper (CP) | "
        "full's false verdicts | claims: same / weaker / stronger / contradicts | contradicting: full false / "
        "adaptive false / both / neither | class names differ (both decided) | final−base mark: same / weaker / "
        "stronger / contradicts | dip named: full / adaptive |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (method, name, shape, depth), c in sorted(cells.items()):
        sims = c["sims"]
        tot = sum(s for _, _, s in c["ratio"])
        ratio = sum(m * s for m, _, s in c["ratio"]) / tot
        # s.e. of the pooled mean from the chunks' own s.e. (independent chunks)
        se = math.sqrt(sum((e * s) ** 2 for _, e, s in c["ratio"] if math.isfinite(e))) / tot
        up = clopper_pearson(c["bad"], sims, 0.95)[1]

        def fmt(d: dict) -> str:
            return " / ".join(str(d.get(x, 0)) for x in ("same", "weaker", "stronger", "contradicts"))

        def truth(d: dict) -> str:
            return " / ".join(str(d.get(x, 0)) for x in ("full false", "adaptive false", "both false",
                                                          "neither false"))  # fmt: skip

        lines.append(
            f"| {method} | {name} | {shape} ({depth:+.2f}) | {sims} | {ratio:.4f} ± {se:.4f} | {c['bad']} | "
            f"{c['bad'] / sims:.2%} | {up:.2%} | {c['fbad'] if c['full'] else '—'} | "
            f"{fmt(c['agree']) if c['full'] else '—'} | {truth(c['truth']) if c['full'] else '—'} | "
            f"{c['differs'] if c['full'] else '—'} | {fmt(c['marks']) if c['full'] else '—'} | "
            f"{c['dip'][0] if c['full'] else '—'} / {c['dip'][1]} |"
        )
    detail = [f"- {m} {name}, {shape} ({depth:+.2f}): " + "; ".join(f"{p} ×{v}" for p, v in sorted(c["pairs"].items()))
              for (m, name, shape, depth), c in sorted(cells.items()) if c.get("pairs")]  # fmt: skip
    if detail:
        lines += ["", "Disagreements by class (chunks that recorded them):", *detail]
    return "\n".join(lines)


def synthetic_store(path: Path) -> Path:
    """A paper-shaped synthetic store (rsft.analysis.synthetic.make_store): runs "dip" (0.15 deep at 25% of
    training, back by 75%) and "flat", 65 checkpoints, two benchmarks of 198 items x 3 samples, seed 3; response
    lengths grow with the step (the synthetic token model), so its token ratio is not its row ratio."""
    from rsft.analysis.synthetic import make_store

    def curve(run: str, bench: str, step: int) -> float:
        x = step / 640
        if run == "dip":
            return 0.5 - 0.15 * (x / 0.25 if x <= 0.25 else max(0.0, 1 - (x - 0.25) / 0.5))
        return 0.5

    return make_store(path, runs=("dip", "flat"), steps=list(range(0, 650, 10)),
                      benchmarks={"gpqa_like": "knowledge", "math_like": "math"}, items=198, samples=3,
                      curve_fn=curve, seed=3)  # fmt: skip


def replay(store: Path, out: Path) -> None:
    """The policy replayed on a real full sweep's store: token ratio, agreement, wall time (one JSON line)."""
    from rsft.analysis.adaptive import replay_store

    t0 = time.perf_counter()
    rep = replay_store(store, spec=BootSpec(B=1000, seed=0))
    rec = {
        "mode": "replay",
        "store": str(store),
        "seconds": round(time.perf_counter() - t0, 2),
        "tokens": rep["tokens"],
        "rows": rep["rows"],
        "agreement": rep["agreement"],
        "contradictions": rep["contradictions"],
        "level_per_look": rep["level_per_look"],
        "curves": [
            {
                "run": c["run"],
                "benchmark": c["benchmark"],
                "full": c["full"]["class"],
                "adaptive": c["adaptive"]["class"],
                "steps": len(c["adaptive"]["steps"]),
                "stopped_at": c["adaptive"]["stopped_at"],
            }
            for c in rep["curves"]
        ],  # fmt: skip
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps(rec) + "\n")
    print(
        json.dumps(
            {k: rec[k] for k in ("seconds", "tokens", "rows", "agreement", "contradictions")}, indent=1
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["run", "table", "replay"])
    ap.add_argument("--store", type=Path, help="replay: a full sweep's store folder")
    ap.add_argument("--synthetic", action="store_true", help="replay: first write the synthetic store there")
    ap.add_argument(
        "--out",
        type=Path,
        default=OUT_DIR / "adaptive_sweep.jsonl",
        help="JSONL records (default: benchmarks/out/, git-ignored); benchmarks/results/ holds the recorded ones",
    )
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--shapes", default=",".join([*NULLS, "dip-and-recovery"]))
    ap.add_argument("--chunks", default="0,1", help=f"chunk indices (each {CHUNK} sims, seed 2000 + index)")
    ap.add_argument("--depths", default=",".join(map(str, DIP_DEPTHS)))
    ap.add_argument("--sims", type=int, default=CHUNK)
    ap.add_argument("--method", choices=["adaptive", "naive"], default="adaptive")
    ap.add_argument(
        "--no-full", action="store_true", help="skip the full-sweep verdict (false-verdict rates only)"
    )
    a = ap.parse_args()
    if a.mode == "run":
        todo = jobs(
            a.configs.split(","),
            a.shapes.split(","),
            [int(c) for c in a.chunks.split(",")],
            [float(d) for d in a.depths.split(",")],
        )
        run(a.out, todo, a.sims, a.method, not a.no_full)
    elif a.mode == "replay":
        if a.synthetic:
            synthetic_store(a.store)
        replay(a.store, a.out.with_name("adaptive_replay.jsonl"))
    else:
        print(table(a.out))


if __name__ == "__main__":
    main()
