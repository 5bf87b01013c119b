"""Adaptive sweeps: which (checkpoint, item, sample) units to evaluate, when to stop, and what that guarantees.

The design (docs/adaptive.md states it in full, with what is and is not guaranteed):

- **Base and final, complete.** The base (earliest) and the final checkpoint are evaluated on every item with every
  sample, so final - base and run-vs-run comparisons of final checkpoints rest on the same rows as a full sweep.
- **Interior checkpoints on a fixed, nested schedule.** Look ``l`` of the :data:`DEFAULT_SCHEDULE` evaluates an
  evenly spaced grid of interior checkpoints (by index; 7 then 15, each grid containing the previous one), on a
  share ``2**-item_level`` of the items, with the first ``max(1, round(k * sample_share))`` samples of each.
  Designs only grow: a unit read at one look is kept at every later one.
- **Items with known inclusion probabilities, paired.** Items are ordered by their base outcome (mean base score in
  five bins), randomly within a bin, and the items at positions ``p`` with ``p = offset (mod 2**item_level)`` are
  taken, ``offset`` uniform: every item is in the subset with probability exactly ``2**-item_level``, whatever its
  base outcome (proportional allocation across the bins), and the subsets of successive looks are nested. The same
  subset is used at every interior checkpoint of a look (paired differences).
- **Stopping.** Each curve stops at the first look whose verdict names a complete class (a dip class,
  rise-and-fall, drop-and-stay, rise-then-plateau) or "flat within noise", else at the last look.
- **Error spending.** The schedule (and so the number of looks ``L``) is fixed before any row is read, from n, k,
  the checkpoints and the budget alone. Every look runs the detector (:func:`rsft.analysis.detector.classify`) at
  level ``1 - alpha / L``. Because the design of every look is fixed in advance (the only randomness in it, the
  item order, is independent of the outcomes at non-base checkpoints), the event "the verdict at look l contains a
  false claim" has probability <= alpha / L for each l, and by the union bound the probability that *any* look's
  verdict, hence the verdict at the data-dependent stopping look, contains a false claim is <= alpha. This is
  exact in its logic and inherits the detector's own guarantee, which is approximate (bootstrap max-|t| intervals,
  calibrated by simulation in docs/analysis.md); the bootstrap treats the drawn items as a simple random sample,
  which for a proportionally stratified subset is conservative up to O(1/n) terms.

Where the new checkpoints go is *not* chosen from the data: placing them near an apparent dip would make the design
of a look depend on outcomes, and the per-look guarantee would then need a union over every design the policy could
have reached. Adaptivity is in stopping (decided curves cost nothing more) and in the schedule's growth.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from rsft.analysis.detector import DIP_CLASSES, compare_verdicts
from rsft.eval.schema import scored_mask

STOP_CLASSES = (*DIP_CLASSES, "rise-and-fall", "drop-and-stay", "rise-then-plateau", "flat within noise")
"""A curve whose verdict at a look is one of these is not evaluated further."""
DEFAULT_BUDGET = 0.10
STRATA = 5  # bins of the base item mean used to order the items


@dataclass(frozen=True)
class Look:
    """One look of the schedule: what is evaluated at interior checkpoints by the time of this look.

    Attributes:
        grid: interior checkpoints, evenly spaced by index (``2**g - 1`` keeps successive grids nested).
        item_level: the share ``2**-item_level`` of the items evaluated there.
        sample_share: samples per item there, ``max(1, round(k * sample_share))`` (the first ones by index).
    """

    grid: int
    item_level: int
    sample_share: float


DEFAULT_SCHEDULE = (Look(7, 1, 1 / 3), Look(7, 0, 1 / 3), Look(15, 1, 1 / 3), Look(15, 0, 1 / 3))


def grid_indices(S: int, grid: int) -> np.ndarray:
    """Indices of ``grid`` interior checkpoints evenly spaced among ``S`` (base = 0 and final = S-1 excluded)."""
    if S <= 2 or grid <= 0:
        return np.zeros(0, dtype=int)
    idx = np.round(np.arange(1, grid + 1) * (S - 1) / (grid + 1)).astype(int)
    return np.unique(idx[(idx > 0) & (idx < S - 1)])


def samples_at(k: int, share: float) -> int:
    return max(1, min(k, int(round(k * share))))


def item_order(base_scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) position of each item in the stratified order: by base-mean bin, randomly within a bin.

    ``base_scores`` is (n, k) with NaN for unscored samples; an item with none scored forms its own bin.
    """
    n = base_scores.shape[0]
    with np.errstate(invalid="ignore"):
        cnt = np.isfinite(base_scores).sum(axis=1)
        m = np.where(cnt > 0, np.nansum(base_scores, axis=1) / np.maximum(cnt, 1), np.nan)
    strata = np.where(np.isfinite(m), np.floor(np.clip(m, 0, 1) * (STRATA - 1e-9)), STRATA)
    order = np.lexsort((rng.random(n), strata))
    pos = np.empty(n, dtype=int)
    pos[order] = np.arange(n)
    return pos


def plan_schedule(
    S: int, n: int, k: int, schedule: Sequence[Look] = DEFAULT_SCHEDULE, budget: float | None = DEFAULT_BUDGET
) -> list[Look]:
    """The looks that fit the budget (share of the full sweep's rows; the first look is always kept).

    Depends on S, n, k and the schedule only, never on outcomes: this fixes the number of looks, hence the level
    of each, before anything is read.
    """
    full = S * n * k
    kept: list[Look] = []
    mask = np.zeros((S, k), dtype=float)  # planned rows per (checkpoint, sample) as a share of the items
    mask[0] = mask[S - 1] = 1.0
    for look in schedule:
        trial = mask.copy()
        g = grid_indices(S, look.grid)
        kk = samples_at(k, look.sample_share)
        share = 2.0**-look.item_level
        trial[np.ix_(g, np.arange(kk))] = np.maximum(trial[np.ix_(g, np.arange(kk))], share)
        if kept and budget is not None and trial.sum() * n > budget * full + 1e-9:
            break
        kept.append(look)
        mask = trial
    return kept


def design_mask(
    S: int, n: int, k: int, looks: Sequence[Look], pos: np.ndarray, offset: int, *, draw: str = "stratified"
) -> np.ndarray:
    """(S, n, k) units evaluated by the time of the last of ``looks`` (cumulative: designs only grow).

    ``draw="top"`` is a deliberately wrong control for tests: the share of items with the *best* base outcome
    (``pos`` then ranks items by base mean, best first), analysed as if drawn at random.
    """
    m = np.zeros((S, n, k), dtype=bool)
    m[0] = m[S - 1] = True
    for look in looks:
        g = grid_indices(S, look.grid)
        r = 2**look.item_level
        items = np.flatnonzero(pos < -(-n // r)) if draw == "top" else np.flatnonzero(pos % r == offset % r)
        kk = samples_at(k, look.sample_share)
        m[np.ix_(g, items, np.arange(kk))] = True
    return m


def cells(scores: np.ndarray, read: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, S) scored counts, sums and sums of squares over the units read (unscored = NaN are left out)."""
    ok = read & np.isfinite(scores)
    x = np.where(ok, scores, 0.0)
    return ok.sum(axis=2).T.astype(float), x.sum(axis=2).T, (x * x).sum(axis=2).T


Judge = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float], tuple[dict, object]]
"""``judge(step_index, cnt, s_sum, s_sq, level) -> (detector verdict, extra)`` on the evaluated checkpoints."""


def run_policy(
    scores: np.ndarray,
    present: np.ndarray,
    tokens: np.ndarray,
    judge: Judge,
    rng: np.random.Generator,
    **options,
) -> dict:
    """Run the adaptive policy on one curve, reading units from an oracle of stored (or simulated) rows.

    Args:
        scores: (S, n, k) the score each unit would get (NaN: unscored, or no row).
        present: (S, n, k) a row exists for the unit (what a full sweep produced).
        tokens: (S, n, k) generated tokens of each unit (0 where absent).
        judge: the verdict on the units read so far (see :data:`Judge`).
        rng: draws the item order and the offset.
        options: ``level``, ``schedule``, ``budget``, ``draw`` as in :func:`policy`.

    Returns:
        ``{"class", "verdict", "extra", "stopped_at", "looks": [...], "level_per_look", "schedule",
        "read" ((S, n, k) bool), "tokens", "rows", "full_tokens", "full_rows", "steps_evaluated" (indices),
        "inclusion"}``.
    """
    S, n, k = scores.shape

    def fetch(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return scores, present & mask, tokens

    out = policy((S, n, k), fetch, judge, rng, **options)
    out["full_rows"] = int(present.sum())
    out["full_tokens"] = float(tokens[present].sum())
    return out


Fetch = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""``fetch(mask) -> (scores, read, tokens)``: make the units of the (S, n, k) ``mask`` available (read stored rows,
or generate them) and return (S, n, k) scores (NaN: unscored or absent), which units now have a row (within the
mask) and their tokens."""


def policy(
    shape: tuple[int, int, int],
    fetch: Fetch,
    judge: Judge,
    rng: np.random.Generator,
    *,
    level: float = 0.95,
    schedule: Sequence[Look] = DEFAULT_SCHEDULE,
    budget: float | None = DEFAULT_BUDGET,
    draw: str = "stratified",
) -> dict:
    """The policy of the module docstring for one curve of ``shape`` = (S, n, k), with units from ``fetch``.

    ``level`` is the joint level of the whole procedure (``1 - alpha``; each look runs at ``1 - alpha / L``);
    ``schedule`` and ``budget`` as in :func:`plan_schedule`; ``draw``: ``"stratified"`` (the design), ``"top"``
    only as the wrong control of :func:`design_mask`.

    The base and final are fetched first (all items, all samples); the item order is drawn from the base outcome;
    then look by look the cumulative design is fetched and judged until a stopping class or the last look. See
    :func:`run_policy` for the result (without ``full_rows``/``full_tokens``).
    """
    S, n, k = shape
    looks = plan_schedule(S, n, k, schedule, budget)
    L = len(looks)
    per_look = 1.0 - (1.0 - level) / L
    ends = np.zeros((S, n, k), dtype=bool)
    ends[0] = ends[S - 1] = True
    scores, _, _ = fetch(ends)
    pos = item_order(scores[0], rng)
    if draw == "top":
        with np.errstate(invalid="ignore"):
            base_mean = np.nan_to_num(np.nanmean(scores[0], axis=1), nan=-1.0)
        pos = np.empty(n, dtype=int)
        pos[np.argsort(-base_mean, kind="stable")] = np.arange(n)
    offset = int(rng.integers(0, 2 ** max(lk.item_level for lk in looks)))
    history, verdict, extra, read, stopped, tokens = [], None, None, None, L, None
    for li in range(L):
        scores, read, tokens = fetch(design_mask(S, n, k, looks[: li + 1], pos, offset, draw=draw))
        cnt, s_sum, s_sq = cells(scores, read)
        idx = np.flatnonzero(read.any(axis=(1, 2)))
        verdict, extra = judge(idx, cnt[:, idx], s_sum[:, idx], s_sq[:, idx], per_look)
        history.append(
            {
                "look": li + 1,
                "class": verdict["class"],
                "checkpoints": int(idx.size),
                "rows": int(read.sum()),
                "tokens": float(tokens[read].sum()),
                "item_share": 2.0 ** -looks[li].item_level,
                "samples": samples_at(k, looks[li].sample_share),
            }
        )
        if verdict["class"] in STOP_CLASSES:
            stopped = li + 1
            break
    return {
        "class": verdict["class"],
        "verdict": verdict,
        "extra": extra,
        "stopped_at": stopped,
        "looks": history,
        "level_per_look": per_look,
        "schedule": [asdict(lk) for lk in looks],
        "read": read,
        "rows": int(read.sum()),
        "tokens": float(tokens[read].sum()),
        "steps_evaluated": np.flatnonzero(read.any(axis=(1, 2))).tolist(),
        "inclusion": "each item is evaluated at an interior checkpoint of look l with probability exactly "
        "2**-item_level(l), whatever its base outcome (stratified systematic draw, random offset)",
    }


def agreement(full: dict | str, adaptive: dict | str) -> str:
    """How an adaptive verdict relates to the full sweep's, by their claims
    (:func:`rsft.analysis.detector.compare_verdicts`, the detector's own class definitions): ``same``; ``weaker``
    (adaptive claims a strict subset of what full claims: no claim, or e.g. ``degrades`` under ``drop-and-stay``,
    ``dip-and-partial-recovery`` under ``dip-and-recovery``); ``stronger`` (a strict superset); ``contradicts``
    (each claims something the other does not). Verdict dicts or bare class names."""
    return compare_verdicts(full, adaptive)


def mark_agreement(full_mark: str, adaptive_mark: str) -> str:
    """The same for a significance mark ('▲', '▼' or '')."""
    if full_mark == adaptive_mark:
        return "same"
    if not adaptive_mark:
        return "weaker"
    if not full_mark:
        return "stronger"
    return "contradicts"


def expand_counts(counts: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(S, n, k) 0/1 samples from (n, S) correct counts out of k, in random sample order (exchangeable draws:
    the first j samples of an item then carry exactly the distribution of j fresh Bernoulli draws)."""
    n, S = counts.shape
    rank = rng.random((S, n, k)).argsort(axis=2).argsort(axis=2)
    return (rank < counts.T[:, :, None]).astype(np.float64)


def simulate_policy(
    model, n: int, k: int, steps: Sequence[int], shape: str, depth: float, n_sims: int, spec, *,
    schedule: Sequence[Look] = DEFAULT_SCHEDULE, budget: float | None = DEFAULT_BUDGET, full: bool = True,
    method: str = "adaptive",
) -> dict:  # fmt: skip
    """Adaptive (and, with ``full``, full-sweep) verdicts on simulated runs with a known true curve.

    Each run draws fresh items and counts with :func:`rsft.analysis.synthetic.simulate_counts` (as
    :func:`rsft.analysis.detector.simulate` does), spreads each count over its k samples in random order, and runs
    the policy with the simulated rows as its oracle (every row costs one unit: the token ratio is the row ratio).
    Two controls: ``method="naive"`` runs every look at the full level ``spec.level`` (no spending: invalid under
    repeated looks in general); ``method="top"`` evaluates interior checkpoints on the items with the best base
    outcome and analyses them as a random draw (an item draw without known inclusion probabilities: biased).

    Returns:
        ``{"n", "k", "steps", "shape", "depth", "sims", "adaptive": {class: count}, "full": {class: count},
        "agreement": {kind: count} (by claims, :func:`agreement`), "class_differs": both decided, different class
        names, "mark_agreement": {kind: count}, "contradiction_truth": {"full false" | "adaptive false" | "both
        false" | "neither false": count} (which verdict of each contradicting pair is false for the true shape),
        "false_verdicts": count, "false_verdict_upper": one-sided 95% bound, "full_false_verdicts", "row_ratio":
        mean, "row_ratio_se", "stopped_at": {look: count}}``.
    """
    from rsft.analysis.detector import (
        CLASSES,
        NO_CLAIM,
        classify,
        false_verdicts,
        full_boot,
        sim_header,
        simulated_runs,
    )
    from rsft.analysis.stats import bootstrap_means, clopper_pearson

    steps = np.asarray(steps)
    rng = spec.rng("adaptive", method, shape, f"{depth:.6g}", str(n), str(k), str(len(steps)))
    level = spec.level

    def judge(idx, cnt, s_sum, s_sq, lev):
        b = bootstrap_means(cnt, s_sum, s_sq, spec, rng, binary=True)
        return classify(steps[idx], b, level if method == "naive" else lev), None

    ad = dict.fromkeys(CLASSES, 0)
    fu = dict.fromkeys(CLASSES, 0)
    agree = dict.fromkeys(("same", "weaker", "stronger", "contradicts"), 0)
    marks = dict(agree)
    stopped: dict[int, int] = {}
    pairs: dict[str, int] = {}
    ratios = []
    bad_set = set(false_verdicts(shape))
    bad = full_bad = differs = 0
    truth = dict.fromkeys(("full false", "adaptive false", "both false", "neither false"), 0)
    for counts in simulated_runs(model, n, k, steps, shape, depth, n_sims, rng):
        y = expand_counts(counts, k, rng)
        present = np.ones_like(y, dtype=bool)
        res = run_policy(y, present, present.astype(float), judge, rng, level=level, schedule=schedule,
                         budget=budget, draw="top" if method == "top" else "stratified")  # fmt: skip
        a = res["class"]
        ad[a] += 1
        bad += a in bad_set
        ratios.append(res["rows"] / res["full_rows"])
        stopped[res["stopped_at"]] = stopped.get(res["stopped_at"], 0) + 1
        if full:
            f = classify(steps, full_boot(counts, k, spec, rng), level)
            fu[f["class"]] += 1
            full_bad += f["class"] in bad_set
            differs += f["class"] != a and f["class"] not in NO_CLAIM and a not in NO_CLAIM
            kind = agreement(f, res["verdict"])
            agree[kind] += 1
            if kind in ("contradicts", "stronger"):
                pair = f"{kind}: full {f['class']} / adaptive {a}"
                pairs[pair] = pairs.get(pair, 0) + 1
            if kind == "contradicts":
                fb, ab = f["class"] in bad_set, a in bad_set
                truth["both false" if fb and ab else "full false" if fb else "adaptive false" if ab else
                      "neither false"] += 1  # fmt: skip
            fm = "▲" if f["above"][-1] else "▼" if f["below"][-1] else ""
            am = "▲" if res["verdict"]["above"][-1] else "▼" if res["verdict"]["below"][-1] else ""
            marks[mark_agreement(fm, am)] += 1
    r = np.asarray(ratios)
    return {
        **sim_header(n, k, steps, shape, depth, n_sims),
        "method": method,
        "level": level,
        "B": spec.B,
        "adaptive": ad,
        "full": fu if full else None,
        "agreement": agree if full else None,
        "mark_agreement": marks if full else None,
        "disagreements": pairs if full else None,
        "class_differs": int(differs) if full else None,
        "contradiction_truth": truth if full else None,
        "full_false_verdicts": int(full_bad) if full else None,
        "false_verdicts": int(bad),
        "false_verdict_rate": bad / max(n_sims, 1),
        "false_verdict_upper": clopper_pearson(bad, n_sims, 0.95)[1] if n_sims else 1.0,
        "row_ratio": float(r.mean()) if r.size else math.nan,
        "row_ratio_se": float(r.std(ddof=1) / math.sqrt(r.size)) if r.size > 1 else math.nan,
        "stopped_at": {str(key): v for key, v in sorted(stopped.items())},
        "schedule": [asdict(lk) for lk in plan_schedule(len(steps), n, k, schedule, budget)],
    }


# ---------------------------------------------------------------------------------------------------------------
# Replay: the policy with a full sweep's store as its oracle.


def curve_arrays(
    t: dict, rows: np.ndarray, steps: np.ndarray, items: np.ndarray, k: int | None = None
) -> tuple:
    """(S, n, k) scores (NaN: unscored or absent), presence, tokens and keys of one curve's stored rows."""
    s_pos = {int(s): i for i, s in enumerate(steps)}
    i_pos = {str(x): i for i, x in enumerate(items)}
    sidx = t["sample_idx"][rows].astype(int)
    if k is None:
        k = int(sidx.max()) + 1 if rows.size else 1
    S, n = len(steps), len(items)
    scores = np.full((S, n, k), np.nan)
    present = np.zeros((S, n, k), dtype=bool)
    tokens = np.zeros((S, n, k))
    keys = np.full((S, n, k), None, dtype=object)
    si = np.array([s_pos[int(x)] for x in t["step"][rows]], dtype=int)
    ii = np.array([i_pos[str(x)] for x in t["item_id"][rows]], dtype=int)
    sc = t["score"][rows].astype(float)
    ok = scored_mask({"outcome": t["outcome"][rows], "score": sc})
    scores[si, ii, sidx] = np.where(ok, sc, np.nan)
    present[si, ii, sidx] = True
    tokens[si, ii, sidx] = np.nan_to_num(t["n_tokens"][rows].astype(float))
    keys[si, ii, sidx] = t["key"][rows]
    return scores, present, tokens, keys


def replay_store(
    store,
    *,
    spec=None,
    schedule: Sequence[Look] = DEFAULT_SCHEDULE,
    budget: float | None = DEFAULT_BUDGET,
    in_domain: list[str] | None = None,
    reference: str | None = None,
) -> dict:
    """Run the adaptive policy on every (run, benchmark) curve of a full sweep's store, reading stored rows
    instead of generating, and compare its verdicts with the full analysis of the same store.

    The full verdicts are computed as ``rsft analyze`` computes them (:func:`rsft.analysis.dynamics.
    benchmark_dynamics` on the store's cubes, :func:`~rsft.analysis.dynamics.between_runs` on the finals, the same
    bootstrap spec). Tokens are counted once per store key (a base shared by several runs was generated once): the
    adaptive count is the sum of ``n_tokens`` over the distinct keys it read, the full count over every key of the
    curves compared.

    Returns:
        ``{"curves": [...], "between_runs": [...], "tokens": {"adaptive", "full", "ratio"}, "rows": {...},
        "agreement": {"class": {kind: count}, "final_vs_base": {...}, "between_runs": {...}},
        "contradictions": [...], "level", "level_per_look", "notes"}``.
    """
    from pathlib import Path

    from rsft.analysis.conditions import load_conditions
    from rsft.analysis.dynamics import benchmark_dynamics, between_runs, domain_of
    from rsft.analysis.frames import Cube, cubes, item_frame, sample_frame
    from rsft.analysis.stats import BootSpec

    spec = spec or BootSpec()
    store = Path(store)
    frame = item_frame(store)
    full_cubes = cubes(frame)
    cols = ["key", "run", "benchmark", "step", "item_id", "sample_idx", "score", "outcome", "n_tokens"]
    tab = sample_frame(store, cols)
    t = {c: tab.column(c).to_numpy(zero_copy_only=False) for c in cols}
    runs = sorted({c.run for c in full_cubes})
    conds = load_conditions(store, runs, None)
    by_curve: dict[tuple[str, str], list[int]] = {}
    for i, (r, b, s) in enumerate(zip(t["run"], t["benchmark"], t["step"], strict=True)):
        if s is not None and s == s:
            by_curve.setdefault((str(r), str(b)), []).append(i)
    curves, finals_full, finals_ad, notes = [], {}, {}, []
    key_tokens: dict[str, float] = {}
    read_keys: set[str] = set()
    agree = {x: dict.fromkeys(("same", "weaker", "stronger", "contradicts"), 0) for x in ("class", "mark")}
    contradictions = []
    alpha = 1.0 - spec.level
    per_look_levels = set()
    for cube in full_cubes:
        domain = domain_of(cube.benchmark, cube.group, in_domain)
        rows = np.asarray(by_curve.get((cube.run, cube.benchmark), []), dtype=int)
        if cube.steps[0] != 0:
            notes.append(
                f"run {cube.run}, {cube.benchmark}: no step 0; the earliest step is the base on both sides"
            )
        full_rec, full_boot = benchmark_dynamics(cube, spec, domain)
        scores, present, tokens, keys = curve_arrays(t, rows, cube.steps, cube.items)
        for kk, tk in zip(keys[present], tokens[present], strict=True):
            key_tokens[kk] = tk

        def judge(idx, cnt, s_sum, s_sq, lev, cube=cube, domain=domain):
            sub = Cube(cube.run, cube.benchmark, cube.group, cube.steps[idx], cube.items, cnt, s_sum, s_sq,
                       cube.binary, cube.unit)  # fmt: skip
            rec, boot = benchmark_dynamics(sub, BootSpec(B=spec.B, seed=spec.seed, level=lev), domain)
            return rec["detector"], (rec, boot)

        rng = spec.rng("adaptive", cube.run, cube.benchmark)  # as the live sweep (rsft.study.adaptive)
        res = run_policy(
            scores, present, tokens, judge, rng, level=spec.level, schedule=schedule, budget=budget
        )
        per_look_levels.add(res["level_per_look"])
        read_keys |= set(keys[res["read"]].tolist())
        ad_rec, ad_boot = res["extra"]
        fd, adet = full_rec["detector"], res["verdict"]
        fmark = "▲" if fd["above"][-1] else "▼" if fd["below"][-1] else ""
        amark = "▲" if adet["above"][-1] else "▼" if adet["below"][-1] else ""
        ca, ma = agreement(fd, adet), mark_agreement(fmark, amark)
        agree["class"][ca] += 1
        agree["mark"][ma] += 1
        name = f"{cube.run}/{cube.benchmark}"
        if "contradicts" in (ca, ma):
            contradictions.append(f"{name}: full {fd['class']} {fmark}, adaptive {adet['class']} {amark}")
        curve = ad_rec["curve"]
        curves.append(
            {
                "run": cube.run,
                "benchmark": cube.benchmark,
                "full": {"class": fd["class"], "final_mark": fmark, "final_gain": fd.get("final_gain")},
                "adaptive": {
                    "class": adet["class"],
                    "final_mark": amark,
                    "final_gain": adet.get("final_gain"),
                    "steps": curve["step"],
                    "n_items": curve["n_items"],
                    "k": curve["k"],
                    "stopped_at": res["stopped_at"],
                    "looks": res["looks"],
                },
                "class_agreement": ca,
                "mark_agreement": ma,
                "rows": {"adaptive": res["rows"], "full": res["full_rows"]},
            }
        )
        sig = hash_items(cube)
        finals_full[(cube.run, cube.benchmark)] = (full_boot.est[-1], full_boot.boot[:, -1],
                                                   int(full_boot.n_items[-1]), sig)  # fmt: skip
        finals_ad[(cube.run, cube.benchmark)] = (ad_boot.est[-1], ad_boot.boot[:, -1],
                                                 int(ad_boot.n_items[-1]), sig)  # fmt: skip
    br_full = between_runs(finals_full, conds, spec, reference)
    br_ad = {
        (r["run"], r["reference"], r["curve"]): r for r in between_runs(finals_ad, conds, spec, reference)
    }
    agree["between_runs"] = dict.fromkeys(("same", "weaker", "stronger", "contradicts"), 0)
    br = []
    for r in br_full:
        a = br_ad.get((r["run"], r["reference"], r["curve"]))
        if a is None:
            continue
        kind = mark_agreement(r["mark"], a["mark"])
        agree["between_runs"][kind] += 1
        if kind == "contradicts":
            contradictions.append(f"{r['run']} vs {r['reference']} on {r['curve']}: full {r['mark']}, adaptive "
                                  f"{a['mark']}")  # fmt: skip
        br.append({"run": r["run"], "reference": r["reference"], "curve": r["curve"], "full": r["mark"],
                   "adaptive": a["mark"], "agreement": kind})  # fmt: skip
    full_tok = float(sum(key_tokens.values()))
    ad_tok = float(sum(key_tokens[x] for x in read_keys if x in key_tokens))
    rows_full = sum(c["rows"]["full"] for c in curves)
    rows_ad = sum(c["rows"]["adaptive"] for c in curves)
    return {
        "store": str(store),
        "level": spec.level,
        "alpha": alpha,
        "level_per_look": sorted(per_look_levels),
        "spec": spec.describe(),
        "curves": curves,
        "between_runs": br,
        "tokens": {
            "adaptive": ad_tok,
            "full": full_tok,
            "ratio": ad_tok / full_tok if full_tok else math.nan,
        },
        "rows": {
            "adaptive": rows_ad,
            "full": rows_full,
            "ratio": rows_ad / rows_full if rows_full else math.nan,
        },
        "agreement": {
            "class": agree["class"],
            "final_vs_base": agree["mark"],
            "between_runs": agree["between_runs"],
        },
        "contradictions": contradictions,
        "notes": notes
        + [
            "domain curves are not replayed (benchmarks of a domain may stop at different looks)",
            "run-vs-run comparisons are of final checkpoints, which the adaptive design evaluates completely",
        ],
    }


def hash_items(cube) -> str:
    from rsft._util.hashing import hash_obj

    return hash_obj([cube.benchmark, *map(str, cube.items)])
