"""Calibrate the shape detector on known-truth curves: false-verdict rates on null shapes, power on dips beside
the reference test.

Run (resumable; appends one JSON line per finished chunk of simulations, skips chunks already in the file)::

    python benchmarks/detector_calibration.py run --out benchmarks/results/detector_calibration.jsonl
    python benchmarks/detector_calibration.py table --out benchmarks/results/detector_calibration.jsonl

Every simulated run draws fresh items from :class:`rsft.analysis.synthetic.ItemModel` (base accuracies ~ Beta with
the given mean and sd 0.3) with persistent item drift: an AR(1) logit effect per item and checkpoint (sd 1.0,
correlation 0.95 between consecutive checkpoints; at GPQA's base mean the item variance kept between checkpoints
1, 16 and 64 apart is ~99%, ~89% and ~81%: an item's results at two checkpoints are correlated below 1, and less
the further apart they are), puts the population mean on the true curve (``rsft.analysis.synthetic.SHAPES``; nulls
move by 0.10 score points), draws k Bernoulli samples per item and checkpoint, and runs the analysis' own
two-stage bootstrap (``--B``, default 400, the ``rsft analyze`` power-simulation default) and
:func:`rsft.analysis.detector.classify` at level 0.95, and on the same simulated run the reference test
:func:`rsft.analysis.detector.reference_dip` (plain one-sided max-t over the dip-vs-base and later-vs-dip
contrasts at the whole 5%). The table prints false-verdict rates with their one-sided 95% Clopper-Pearson upper
bounds and, on dips, the detector's power, the reference's power and their ratio (paired on the same runs; its
Monte-Carlo s.e. by the delta method). Work is done in chunks of simulations with their own seeds, interleaved
across cells, so a partial run still fills every cell.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rsft.analysis.detector import DIP_CLASSES, NO_CLAIM, TRUE_CLASSES, false_verdicts, simulate
from rsft.analysis.stats import BootSpec, clopper_pearson
from rsft.analysis.synthetic import ItemModel

OUT_DIR = Path(__file__).resolve().parent / "out"  # git-ignored: where a run writes unless told

# name: (n items, k samples, checkpoints, base mean accuracy)
CONFIGS = {
    "MATH-500": (500, 3, 65, 0.6),
    "GPQA": (198, 3, 65, 0.4),
    "AIME": (30, 10, 65, 0.25),
    # beyond the paper's sizes (run with --configs)
    "small n=20": (20, 1, 65, 0.5),
    "small n=10": (10, 1, 65, 0.5),
    "n=2000 k=1 S=130": (2000, 1, 130, 0.5),
    "n=100 k=32 S=17": (100, 32, 17, 0.5),
}
PAPER = ("MATH-500", "GPQA", "AIME")
NULLS = (
    "flat",
    "drop-and-stay",
    "drop-and-stay gradual",
    "steady decline",
    "steady rise",
    "rise-then-plateau",
)
NULL_DEPTH = 0.10
POWER_DEPTHS = (0.05, 0.10, 0.20)
CHUNK = 250
B = 400
DRIFT = {"jitter_sd": 1.0, "jitter_rho": 0.95}


def jobs(configs: list[str], shapes: list[str], chunks: list[int], depths: list[float]) -> list[dict]:
    """Chunks of work, interleaved: first chunk of every cell, then the second, ..."""
    out = []
    for c in chunks:
        for name in configs:
            for s in shapes:
                ds = depths if s == "dip-and-recovery" else [0.0 if s == "flat" else NULL_DEPTH]
                out += [{"config": name, "shape": s, "depth": d, "chunk": c} for d in ds]
    return out


def _key(j: dict) -> tuple:
    return (j["config"], j["shape"], round(j["depth"], 6), j["chunk"], j.get("B", B))


def pending(out: Path, todo: list[dict], key, **extra):
    """The jobs of ``todo`` (each with the ``extra`` fields) whose ``key`` is not yet among the JSON lines of
    ``out`` (the benchmarks resume where they stopped)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {key(json.loads(x)) for x in out.read_text().splitlines()} if out.is_file() else set()
    for j in todo:
        j = {**j, **extra}
        if key(j) not in done:
            yield j


def run(out: Path, todo: list[dict], sims: int, B: int = B) -> None:
    for j in pending(out, todo, _key, B=B):
        n, k, S, mean = CONFIGS[j["config"]]
        model = ItemModel(mean=mean, sd=0.3, **DRIFT)
        spec = BootSpec(B=B, seed=1000 + j["chunk"])
        t0 = time.perf_counter()
        r = simulate(model, n, k, list(range(0, 10 * S, 10)), j["shape"], j["depth"], sims, spec)
        rec = {
            **j,
            "n": n,
            "k": k,
            "S": S,
            "sims": sims,
            "seed": spec.seed,
            "level": spec.level,
            "counts": {c: round(v * sims) for c, v in r["rates"].items()},
            "reference": round(r["reference"] * sims),
            "both": round(r["both"] * sims),
            "item_model": r["item_model"],
            "seconds": round(time.perf_counter() - t0, 2),
        }
        with out.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(
            f"{j['config']:>24} {j['shape']:>18} {j['depth']:.2f} chunk {j['chunk']}: "
            f"false {sum(rec['counts'][c] for c in false_verdicts(j['shape']))}/{sims}, "
            f"dip {sum(rec['counts'][c] for c in DIP_CLASSES)}, reference {rec['reference']}, {rec['seconds']} s",
            flush=True,
        )


def power_ratio(det: int, ref: int, both: int, sims: int) -> tuple[float, float]:
    """Detector power / reference power on the same simulated runs, and its delta-method Monte-Carlo s.e."""
    if ref == 0 or sims == 0:
        return float("nan"), float("nan")
    pd, pr, pb = det / sims, ref / sims, both / sims
    R = pd / pr
    var = (pd * (1 - pd) + R * R * pr * (1 - pr) - 2 * R * (pb - pd * pr)) / (sims * pr * pr)
    return R, max(var, 0.0) ** 0.5


def table(out: Path) -> str:
    """Markdown tables (false-verdict rates on nulls; power on dips beside the reference) from the result lines."""
    cells: dict[tuple, dict] = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        key = (r["config"], r["shape"], r["depth"], r.get("B", 1000))
        c = cells.setdefault(key, {"sims": 0, "counts": {}, "ref": 0, "both": 0, "r": r})
        c["sims"] += r["sims"]
        c["ref"] += r.get("reference", 0)
        c["both"] += r.get("both", 0)
        for cls, v in r["counts"].items():
            c["counts"][cls] = c["counts"].get(cls, 0) + v
    lines = [
        "| benchmark shape | n | k | ckpts | B | true shape | sims | false verdicts | rate ± MC s.e. | "
        "95% upper (CP) | true class | no claim | reference: false dips |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, shape, depth, b), c in cells.items():
        if shape == "dip-and-recovery":
            continue
        r, sims = c["r"], c["sims"]
        bad = sum(c["counts"].get(x, 0) for x in false_verdicts(shape))
        good = sum(c["counts"].get(x, 0) for x in TRUE_CLASSES[shape]) if TRUE_CLASSES[shape] else None
        none = sum(c["counts"].get(x, 0) for x in NO_CLAIM)
        up = clopper_pearson(bad, sims, 0.95)[1]
        lines.append(
            f"| {name} | {r['n']} | {r['k']} | {r['S']} | {b} | {shape} ({depth:+.2f}) | {sims} | {bad} | "
            f"{bad / sims:.2%} ± {(bad / sims * (1 - bad / sims) / sims) ** 0.5:.2%} | {up:.2%} | "
            f"{'—' if good is None else f'{good / sims:.0%}'} | {none / sims:.0%} | "
            f"{c['ref'] / sims:.1%} (upper {clopper_pearson(c['ref'], sims, 0.95)[1]:.1%}) |"
        )
    lines += [
        "",
        "| benchmark shape | n | k | ckpts | B | dip depth | sims | detector: dip found | of which recovered | "
        "reference | ratio ± MC s.e. | other claims |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, shape, depth, b), c in cells.items():
        if shape != "dip-and-recovery":
            continue
        r, sims = c["r"], c["sims"]
        det = sum(c["counts"].get(x, 0) for x in DIP_CLASSES)
        rec = c["counts"].get("dip-and-recovery", 0)
        other = sum(v for x, v in c["counts"].items() if x not in (*DIP_CLASSES, *NO_CLAIM)) / sims
        R, se = power_ratio(det, c["ref"], c["both"], sims)
        # floor of 0.25/sims: a share of 0 or 1 is never shown as exact
        sd = ((det / sims * (1 - det / sims) + 0.25 / sims) / sims) ** 0.5
        lines.append(
            f"| {name} | {r['n']} | {r['k']} | {r['S']} | {b} | {depth:.2f} | {sims} | {det / sims:.1%} ± "
            f"{sd:.1%} | {rec / sims:.1%} | {c['ref'] / sims:.1%} | "
            f"{'— (reference found none)' if c['ref'] == 0 else f'{R:.2f} ± {se:.2f}'} | {other:.1%} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["run", "table"])
    ap.add_argument(
        "--out",
        type=Path,
        default=OUT_DIR / "detector_calibration.jsonl",
        help="JSONL records (default: benchmarks/out/, git-ignored); benchmarks/results/ holds the recorded ones",
    )
    ap.add_argument("--configs", default=",".join(PAPER), help=f"comma-separated, of: {', '.join(CONFIGS)}")
    ap.add_argument("--shapes", default=",".join([*NULLS, "dip-and-recovery"]), help="comma-separated shapes")
    ap.add_argument("--B", type=int, default=B, help="bootstrap replicates per simulated run")
    ap.add_argument(
        "--chunks", default="0,1,2,3", help=f"chunk indices (each {CHUNK} sims, seed 1000 + index)"
    )
    ap.add_argument(
        "--depths", default=",".join(map(str, POWER_DEPTHS)), help="dip depths of the power cells"
    )
    ap.add_argument("--sims", type=int, default=CHUNK, help="simulations per chunk")
    a = ap.parse_args()
    if a.mode == "run":
        todo = jobs(
            a.configs.split(","),
            a.shapes.split(","),
            [int(c) for c in a.chunks.split(",")],
            [float(d) for d in a.depths.split(",")],
        )
        run(a.out, todo, a.sims, a.B)
    else:
        print(table(a.out))


if __name__ == "__main__":
    main()
