"""Score vs step per benchmark and per domain, with intervals, paired differences and the detector's verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from rsft.analysis.detector import classify, curve_summary, early_warning
from rsft.analysis.frames import Cube
from rsft.analysis.stats import Boot, BootSpec, bootstrap_means, item_weights, percentile_ci

DOMAINS = ("in-domain", "out-of-domain", "general", "safety", "overrefusal")
_OOD_GROUPS = ("math", "reasoning", "code", "knowledge")


def domain_of(benchmark: str, group: str, in_domain: Sequence[str] | None) -> str:
    """The analysis domain of a benchmark.

    ``in_domain`` lists the benchmarks the training data targets (default: every benchmark of group "math");
    other math/reasoning/code/knowledge benchmarks are "out-of-domain"; general, safety and overrefusal keep
    their group.
    """
    if in_domain is None:
        if group == "math":
            return "in-domain"
    elif benchmark in in_domain:
        return "in-domain"
    if group in _OOD_GROUPS:
        return "out-of-domain"
    return group if group in DOMAINS else "general"


def borrow_base(cubes: list[Cube], conditions: Mapping[str, Mapping]) -> tuple[list[Cube], list[str]]:
    """Give a run without step 0 the base rows of another run of the same model (``conditions[run]['model']``).

    The store keys rows by weights hash, so a base model evaluated once belongs to one run only.
    """
    notes, out = [], []
    by = {(c.run, c.benchmark): c for c in cubes}
    for c in cubes:
        model = (conditions.get(c.run) or {}).get("model")
        if c.steps[0] == 0 or model is None:
            out.append(c)
            continue
        donor = next(
            (
                d
                for (r, b), d in sorted(by.items())
                if b == c.benchmark
                and r != c.run
                and d.steps[0] == 0
                and (conditions.get(r) or {}).get("model") == model
            ),
            None,
        )
        if donor is None:
            out.append(c)
            continue
        items = np.array(sorted(set(map(str, c.items)) | set(map(str, donor.items))), dtype=object)
        pos = {it: i for i, it in enumerate(items)}
        ci = np.array([pos[str(x)] for x in c.items], dtype=int)
        di = np.array([pos[str(x)] for x in donor.items], dtype=int)

        def stack(a: np.ndarray, b: np.ndarray, ci=ci, di=di, items=items) -> np.ndarray:
            m = np.zeros((len(items), a.shape[1] + 1))
            m[di, 0] = b[:, 0]
            m[ci, 1:] = a
            return m

        out.append(
            replace(
                c,
                steps=np.concatenate([[0], c.steps]),
                items=items,
                cnt=stack(c.cnt, donor.cnt),
                s_sum=stack(c.s_sum, donor.s_sum),
                s_sq=stack(c.s_sq, donor.s_sq),
            )
        )
        notes.append(
            f"run {c.run}, {c.benchmark}: base (step 0) taken from run {donor.run} (same model {model})"
        )
    return out, notes


def _stat(spec: BootSpec, boot: Boot, **extra) -> dict:
    n = int(np.max(boot.n_items)) if boot.n_items.size else 0
    k = float(np.median(boot.k)) if boot.k.size else 0.0
    return {"n_items": n, "k": k, **spec.describe(), **extra}


def _record(steps: np.ndarray, boot: Boot, spec: BootSpec) -> dict:
    cls = classify(steps, boot, spec.level)
    rec = {"curve": curve_summary(steps, boot, spec.level), "detector": cls}
    rec["early_warning"] = early_warning(steps, boot, cls, spec.level)
    if steps[0] != 0:
        cls["notes"].append(
            f"no step 0 (base model) in the store: the earliest step {int(steps[0])} is the base"
        )
    return rec


def benchmark_dynamics(cube: Cube, spec: BootSpec, domain: str) -> tuple[dict, Boot]:
    """Curve, differences, detector and early warning of one (run, benchmark)."""
    rng = spec.rng("benchmark", cube.run, cube.benchmark)
    # Item draws depend on the benchmark and its item set only, so runs evaluated on the same items are compared
    # pairwise (same draws); within-item draws stay independent per run.
    item_rng = spec.rng("items", cube.benchmark, *map(str, cube.items))
    W = item_weights(len(cube.items), spec.B, item_rng)
    boot = bootstrap_means(cube.cnt, cube.s_sum, cube.s_sq, spec, rng, binary=cube.binary, weights=W)
    rec = {
        "run": cube.run,
        "benchmark": cube.benchmark,
        "group": cube.group,
        "domain": domain,
        "binary": cube.binary,
        "stat": _stat(
            spec, boot, exact_within=bool(cube.binary and spec.B * cube.cnt.size <= spec.exact_limit)
        ),
        **_record(cube.steps, boot, spec),
    }
    return rec, boot


def combine(parts: list[tuple[np.ndarray, Boot]]) -> tuple[np.ndarray, Boot]:
    """Equal-weight mean of several benchmarks' curves on their common steps (independent item draws)."""
    common = parts[0][0]
    for steps, _ in parts[1:]:
        common = np.intersect1d(common, steps)
    ests, boots, ns, ks = [], [], [], []
    for steps, b in parts:
        idx = np.searchsorted(steps, common)
        ests.append(b.est[idx])
        boots.append(b.boot[:, idx])
        ns.append(b.n_items[idx])
        ks.append(b.k[idx])
    boot = Boot(
        est=np.mean(ests, axis=0),
        boot=np.mean(boots, axis=0),
        n_items=np.sum(ns, axis=0),
        k=np.median(ks, axis=0),
    )
    return common, boot


def domain_dynamics(
    run: str, domain: str, parts: list[tuple[str, np.ndarray, Boot]], spec: BootSpec
) -> tuple[dict, np.ndarray, Boot] | None:
    """The domain curve of one run: the equal-weight mean of its benchmarks, analysed like a benchmark."""
    steps, boot = combine([(s, b) for _, s, b in parts])
    if steps.size == 0:
        return None
    rec = {
        "run": run,
        "domain": domain,
        "benchmarks": [name for name, _, _ in parts],
        "stat": _stat(spec, boot, combine="equal-weight mean of benchmark scores"),
        **_record(steps, boot, spec),
    }
    return rec, steps, boot


def between_runs(
    finals: dict[tuple[str, str], tuple[float, np.ndarray, int]],
    conditions: Mapping[str, Mapping],
    spec: BootSpec,
    reference: str | None = None,
) -> list[dict]:
    """Final-checkpoint differences between each run and a reference run, per benchmark and domain.

    The reference is ``reference`` when given, else the first run (sorted) with the same ``model`` condition.
    Runs evaluated on the same items share the bootstrap's item draws, so their difference is paired (``paired``);
    otherwise the two runs' draws are independent. Intervals are pointwise (not corrected over the table).

    Args:
        finals: (run, curve name) -> (final estimate, (B,) final replicates, n items, item-set signature).
        conditions: run -> conditions.
        spec: bootstrap spec.
        reference: reference run name.
    """
    runs = sorted({r for r, _ in finals})
    out = []
    for run in runs:
        model = (conditions.get(run) or {}).get("model")
        ref = reference or next(r for r in runs if (conditions.get(r) or {}).get("model") == model)
        if ref == run or ref not in runs:
            continue
        for (r, name), (est, boot, n, sig) in sorted(finals.items()):
            if r != run or (ref, name) not in finals:
                continue
            est_ref, boot_ref, n_ref, sig_ref = finals[(ref, name)]
            lo, hi = percentile_ci((boot - boot_ref)[:, None], spec.level)
            d = est - est_ref
            out.append(
                {
                    "run": run,
                    "reference": ref,
                    "curve": name,
                    "diff": {"est": float(d), "lo": float(lo[0]), "hi": float(hi[0])},
                    "mark": "▲" if lo[0] > 0 else "▼" if hi[0] < 0 else "",
                    "paired": sig == sig_ref,
                    "n_items": int(n),
                    "n_items_reference": int(n_ref),
                }
            )
    return out
