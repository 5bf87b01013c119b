"""Score vs step per benchmark and per domain, with intervals, paired differences and the detector's verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from rsft.analysis.detector import classify, curve_summary
from rsft.analysis.frames import Cube
from rsft.analysis.stats import Boot, BootSpec, bootstrap_means, contrast, item_weights, simultaneous_ci

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


def dof(boot: Boot) -> float:
    """Degrees of freedom of a curve's standard errors: fewest items at any checkpoint, minus one (>= 1)."""
    return float(max(int(np.min(boot.n_items)) - 1, 1)) if boot.n_items.size else 1.0


def final_change(boot: Boot, level: float) -> dict:
    """Final − base of one curve with its own pointwise interval and p-value (:func:`rsft.analysis.stats.contrast`).

    A pre-specified contrast: the final checkpoint and the base are fixed before looking at the data, so no
    family over checkpoints is needed. This is what the report's ▲/▼ marks and the safety, capability and data
    cards read.
    """
    est = float(boot.est[-1] - boot.est[0])
    return contrast(est, boot.boot[:, -1] - boot.boot[:, 0], level, dof(boot))


def _record(steps: np.ndarray, boot: Boot, spec: BootSpec) -> dict:
    cls = classify(steps, boot, spec.level)
    rec = {"curve": curve_summary(steps, boot, spec.level), "detector": cls}
    if len(steps) >= 2:
        rec["final_change"] = final_change(boot, spec.level)
        # the simultaneous band over checkpoints, with the small-sample (Student-t) correction
        d = boot.est[1:] - boot.est[0]
        slo, shi, _ = simultaneous_ci(d, boot.boot[:, 1:] - boot.boot[:, [0]], spec.level, dof(boot))
        rec["curve"]["diff_base_sim_lo"] = [0.0, *slo.tolist()]
        rec["curve"]["diff_base_sim_hi"] = [0.0, *shi.tolist()]
    rec["early_warning"] = early_warning(steps, boot, cls)
    if steps[0] != 0:
        cls["notes"].append(
            f"no step 0 (base model) in the store: the earliest step {int(steps[0])} is the base"
        )
    return rec


def early_warning(steps: np.ndarray, boot: Boot, cls: dict) -> dict | None:
    """An early checkpoint whose verdict the final contradicts, at the detector's stated error rate (else None).

    The paper's advice ("early checkpoints underestimate generalization") as a claim, built only from claims the
    detector makes jointly at its error rate (:func:`rsft.analysis.detector.classify`):

    - a dip the curve recovered from: below base at the dip step, a significant rise after it, and the final
      checkpoint not below base (judged at the dip, the run looks worse than it ends);
    - the mirror image: above base at a peak, a significant fall after it, the final not above base;
    - a sign flip: some earlier checkpoint below base and the final above it, or the other way round.

    A steady trend (an early checkpoint not yet distinguishable from base, the final above or below it) is no
    contradiction and gives no warning: the early verdict "no change yet" is not contradicted by a later change.
    """
    below, above = list(cls.get("below") or []), list(cls.get("above") or [])
    if len(below) < 2:
        return None
    st = [int(s) for s in steps[1:]]
    idx, why = None, ""
    if cls.get("dip_step") is not None and cls.get("recovery_step") is not None and not below[-1]:
        idx = st.index(cls["dip_step"])
        why = f"it rose significantly after (by step {cls['recovery_step']})"
    elif cls.get("peak_step") is not None and cls.get("fall_step") is not None and not above[-1]:
        idx = st.index(cls["peak_step"])
        why = f"it fell significantly after (by step {cls['fall_step']})"
    elif above[-1] and any(below[:-1]):
        idx, why = below.index(True), "the final checkpoint is significantly above base"
    elif below[-1] and any(above[:-1]):
        idx, why = above.index(True), "the final checkpoint is significantly below base"
    if idx is None:
        return None

    def verdict(i: int) -> str:
        return "below base" if below[i] else "above base" if above[i] else "not distinguishable from base"

    d = boot.est[1:] - boot.est[0]
    lo, hi = cls["diff_lo"], cls["diff_hi"]
    text = (
        f"judged at step {st[idx]} this run looks {verdict(idx)} ({d[idx]:+.3f} [{lo[idx]:+.3f}, {hi[idx]:+.3f}]); "
        f"{why}; the final checkpoint (step {st[-1]}) says {verdict(-1)} ({d[-1]:+.3f} [{lo[-1]:+.3f}, "
        f"{hi[-1]:+.3f}]) (simultaneous intervals, false-verdict rate <= {cls.get('error_rate', 0.05):.0%})"
    )
    return {"step": st[idx], "verdict": verdict(idx), "final_step": st[-1], "final_verdict": verdict(-1),
            "text": text}  # fmt: skip


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
    otherwise the two runs' draws are independent. Each difference is a pre-specified contrast with its own pointwise
    interval and p-value (:func:`rsft.analysis.stats.contrast`, Student-t on the fewer items minus one); the
    report's cards correct across the contrasts they read (Holm).

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
            c = contrast(float(est - est_ref), boot - boot_ref, spec.level, float(max(min(n, n_ref) - 1, 1)))
            out.append(
                {
                    "run": run,
                    "reference": ref,
                    "curve": name,
                    "diff": c,
                    "mark": "▲" if c["lo"] > 0 else "▼" if c["hi"] < 0 else "",
                    "paired": sig == sig_ref,
                    "n_items": int(n),
                    "n_items_reference": int(n_ref),
                }
            )
    return out


def gain_differences(
    curves: Mapping[str, Mapping[str, tuple[np.ndarray, Boot]]],
    conditions: Mapping[str, Mapping],
    spec: BootSpec,
) -> list[dict]:
    """(final − base of one run) − (final − base of another), per domain, for runs on different base models.

    The capability question compares two bases' gains; a gain significant on one base and not on the other says
    nothing about their difference, so the difference is tested itself. Each is a pre-specified contrast with its
    own pointwise interval and p-value (:func:`rsft.analysis.stats.contrast`); runs evaluated on the same items
    share the bootstrap's item draws (paired), otherwise the draws are independent.

    Args:
        curves: run -> domain -> (steps, Boot) of the domain curves.
        conditions: run -> conditions (``model`` says which base a run was trained from).
        spec: bootstrap spec.

    Returns:
        ``[{"run", "reference", "curve": "[domain]", "diff": contrast, "n_items", "n_items_reference"}]`` for every
        pair ``run < reference`` (sorted) whose ``model`` conditions differ.
    """
    runs = sorted(curves)
    out = []
    for i, a in enumerate(runs):
        for b in runs[i + 1 :]:
            ma, mb = (conditions.get(a) or {}).get("model"), (conditions.get(b) or {}).get("model")
            if ma is None or mb is None or str(ma) == str(mb):
                continue
            for dom in sorted(set(curves[a]) & set(curves[b])):
                (sa, ba), (sb, bb) = curves[a][dom], curves[b][dom]
                if len(sa) < 2 or len(sb) < 2:
                    continue
                ga = ba.boot[:, -1] - ba.boot[:, 0]
                gb = bb.boot[:, -1] - bb.boot[:, 0]
                est = float((ba.est[-1] - ba.est[0]) - (bb.est[-1] - bb.est[0]))
                df = min(dof(ba), dof(bb))
                out.append(
                    {
                        "run": a,
                        "reference": b,
                        "curve": f"[{dom}]",
                        "diff": contrast(est, ga - gb, spec.level, df),
                        "n_items": int(np.max(ba.n_items)),
                        "n_items_reference": int(np.max(bb.n_items)),
                    }
                )
    return out
