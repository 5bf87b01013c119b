"""Behaviour per checkpoint: lengths, truncation, marker rates, and whether markers go with correct answers.

Markers follow :mod:`rsft.data.markers` (the lexicon shared with ``rsft data stats``): case-insensitive whole-word
phrases, inflections "s|es|ed|ing|ion|ied|ies|y" included, each category counted on its own. The default lexicon
is :data:`rsft.data.markers.MARKER_LEXICON` plus a decomposition category; any category -> phrases mapping (a dict
or a YAML file) can replace it. Counting runs inside DuckDB over the whole store with one RE2 pattern per category
(see :func:`duckdb_marker_count`), matching what the Python pattern of :func:`count_markers_text` matches.

Every statistic is a ratio of sums over items (e.g. markers per 1,000 tokens = 1000 x markers / tokens), with a
bootstrap over items (one item draw shared by all checkpoints of a run); within-item samples are not re-drawn for
these ratios (the store's item aggregates do not keep per-sample values), which the ``stat`` entries say.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rsft._util.errors import ConfigError, Problem
from rsft.analysis.frames import ItemFrame, pivot, segments
from rsft.analysis.stats import BootSpec, item_weights, percentile_ci

DECOMPOSITION = [
    "break this down",
    "break it down",
    "break down the problem",
    "sub-problem",
    "subproblem",
    "step 1",
    "step 2",
    "first, let's",
    "first, let me",
    "split into",
    "case 1",
    "case 2",
]
_SUFFIX = "(?:s|es|ed|ing|ion|ied|ies|y)?"
NON_SAFETY = ("in-domain", "out-of-domain", "general")


def default_lexicon() -> dict[str, list[str]]:
    """:data:`rsft.data.markers.MARKER_LEXICON` plus a decomposition category (unless it has one)."""
    try:
        from rsft.data.markers import MARKER_LEXICON
    except ImportError:  # the shared lexicon module is absent in a partial install
        MARKER_LEXICON = {"backtracking": ["wait", "alternatively"], "verification": ["verify", "check"]}
    lex = {k: list(v) for k, v in MARKER_LEXICON.items()}
    lex.setdefault("decomposition", list(DECOMPOSITION))
    return lex


def load_lexicon(path: str | Path) -> dict[str, list[str]]:
    """A YAML mapping category -> list of phrases.

    Raises:
        ConfigError: not a mapping of non-empty string lists.
    """
    from rsft.config import read_yaml

    data = read_yaml(path)
    problems = [
        Problem(str(k), "expected a non-empty list of phrases")
        for k, v in data.items()
        if not isinstance(v, list) or not v or not all(isinstance(x, str) and x.strip() for x in v)
    ]
    if problems or not data:
        raise ConfigError(problems or [Problem("<root>", "no categories")], file=str(path))
    return {str(k): [str(x) for x in v] for k, v in data.items()}


def dump_lexicon(lexicon: dict[str, list[str]]) -> str:
    return yaml.safe_dump(lexicon, sort_keys=False)


def _python_pattern(terms: list[str]) -> re.Pattern[str]:
    alts = sorted((re.escape(t) for t in terms), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(alts) + r")" + _SUFFIX + r"(?![\w-])", re.IGNORECASE)


def count_markers_text(text: str, lexicon: dict[str, list[str]] | None = None) -> dict[str, int]:
    """Occurrences of each lexicon category in one text (same semantics as :mod:`rsft.data.markers`)."""
    lex = lexicon if lexicon is not None else default_lexicon()
    return {cat: len(_python_pattern(terms).findall(text)) for cat, terms in lex.items()}


def _re2_escape(term: str) -> str:
    return "".join("\\" + ch if ch in ".^$*+?()[]{}|\\" else ch for ch in term)


def duckdb_text(column: str) -> str:
    """SQL for the text the marker patterns run on (they are case-insensitive; lower() would cost a pass)."""
    return f"coalesce({column}, '')"


def duckdb_marker_count(text: str, terms: list[str]) -> str:
    """SQL counting whole-word, case-insensitive matches of ``terms`` in the text expression ``text``.

    RE2 has no look-around, so "not preceded by a word character or '-'" is a consumed non-'-' character plus
    ``\\b``, and "not followed by a word character or '-'" is ``\\b`` plus an optional captured '-': matches that
    end in '-' are then not counted. Nothing after a term is consumed otherwise, so adjacent terms ("wait wait") all
    count. Word characters are ASCII for ``\\b`` (Python's are Unicode): a term glued to a non-ASCII letter counts
    here and not in :func:`count_markers_text`. Terms start and end with a word character.
    """
    alts = "|".join(
        sorted({_re2_escape(t.strip().lower()) for t in terms if t.strip()}, key=len, reverse=True)
    )
    pat = f"(?i)(?:^|[^-])\\b(?:{alts}){_SUFFIX}\\b(-?)".replace("'", "''")
    # group 1 is "" or "-" per match: count = matches - matches ending in "-" (no lambdas: DuckDB 1.1 compatible)
    hits = f"regexp_extract_all({text}, '{pat}', 1)"
    return f"(len({hits}) - length(array_to_string({hits}, '')))"


def _ratio(num: np.ndarray, den: np.ndarray, W: np.ndarray, spec: BootSpec, scale: float = 1.0) -> dict:
    """Ratio of sums per checkpoint (columns), with bootstrap intervals from item draws ``W``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        est = scale * num.sum(axis=0) / den.sum(axis=0)
        boot = scale * (W @ num) / (W @ den)
    lo, hi = percentile_ci(boot, spec.level)
    return {"est": est.tolist(), "lo": lo.tolist(), "hi": hi.tolist()}


def _entropy_kind(cols: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, Any]:
    """The run's entropy kind ("full" or "topk:K", never a mix) and how many responses of another kind were left
    out of ``entropy_mean``."""
    kinds = {str(k) for k in cols["ent_kind"][rows] if k is not None and k == k}
    other = int(np.sum(cols["ent_other"][rows]))
    out: dict[str, Any] = {"entropy_kind": kinds.pop() if len(kinds) == 1 else None}
    if other:
        out["entropy_note"] = (
            f"{other} responses with entropies of another kind than {out['entropy_kind']} were left out "
            "(full and top-k entropies are never averaged together; `rsft rollouts score` recomputes full ones)"
        )
    return out


def behaviour_metrics(frame: ItemFrame, spec: BootSpec, domains: dict[str, str]) -> list[dict]:
    """Per run: lengths, truncation, marker rates, marker-correctness links, log-prob and entropy per checkpoint.

    Items are pooled over the run's benchmarks (each item is a (benchmark, item) pair). Correctness links use only
    benchmarks with binary scores in the in-domain, out-of-domain and general domains.
    """
    out = []
    cols = frame.cols
    linked = [b for b in frame.binary if frame.binary[b] and domains.get(b, "general") in NON_SAFETY]
    link_rows = (
        np.isin(cols["benchmark"], np.array(linked, dtype=object)) if linked else np.zeros(len(frame), bool)
    )
    value_cols = ["n_rows", "n_scored", "s_sum", "n_trunc", "tok_sum", "think_sum", "ans_sum"]
    value_cols += ["lp_sum", "lp_n", "ent_sum", "ent_n"]
    for c in frame.categories:
        value_cols += [f"m_{c}", f"w_{c}", f"wc_{c}"]
    for (run,), rows in segments(frame, ("run",)):
        mask = np.zeros(len(frame), dtype=bool)
        mask[rows] = True
        steps, items, m = pivot(frame, rows, value_cols, "run_item_code")
        W = item_weights(len(items), spec.B, spec.rng("behaviour", run))
        rec = {
            "run": run,
            "step": steps.tolist(),
            "stat": {
                "n_items": len(items),
                **spec.describe(),
                "method": "ratio of sums over items; bootstrap over items (samples within items not re-drawn)",
            },
            "response_tokens": _ratio(m["tok_sum"], m["n_rows"], W, spec),
            "thinking_tokens": _ratio(m["think_sum"], m["n_rows"], W, spec),
            "answer_tokens": _ratio(m["ans_sum"], m["n_rows"], W, spec),
            "truncation_rate": _ratio(m["n_trunc"], m["n_rows"], W, spec),
            "logprob_mean": _ratio(m["lp_sum"], m["lp_n"], W, spec),
            "entropy_mean": _ratio(m["ent_sum"], m["ent_n"], W, spec),
            **_entropy_kind(cols, rows),
            "markers_per_1k_tokens": {
                c: _ratio(m[f"m_{c}"], m["tok_sum"], W, spec, scale=1000.0) for c in frame.categories
            },
        }
        steps_l, items_l, ml = pivot(
            frame,
            mask & link_rows,
            [
                "n_scored",
                "s_sum",
                *[f"w_{c}" for c in frame.categories],
                *[f"wc_{c}" for c in frame.categories],
            ],
        )
        rec["marker_correctness"] = (
            _links(frame.categories, steps, steps_l, ml, spec, run) if len(items_l) else {}
        )
        rec["marker_correctness_items"] = len(items_l)
        out.append(rec)
    return out


def _links(
    cats: tuple[str, ...], steps: np.ndarray, steps_l: np.ndarray, m: dict, spec: BootSpec, run: str
) -> dict:
    """Accuracy of responses with vs without each marker category, per checkpoint, and their difference."""
    W = item_weights(m["n_scored"].shape[0], spec.B, spec.rng("links", run))
    res = {}
    for c in cats:
        n_w, c_w = m[f"w_{c}"], m[f"wc_{c}"]
        n_o, c_o = m["n_scored"] - n_w, m["s_sum"] - c_w
        with np.errstate(invalid="ignore", divide="ignore"):
            acc_w = c_w.sum(0) / n_w.sum(0)
            acc_o = c_o.sum(0) / n_o.sum(0)
            bw = (W @ c_w) / (W @ n_w)
            bo = (W @ c_o) / (W @ n_o)
        d = acc_w - acc_o
        lo, hi = percentile_ci(bw - bo, spec.level)
        res[c] = {
            "step": steps_l.tolist(),
            "acc_with": acc_w.tolist(),
            "acc_without": acc_o.tolist(),
            "n_with": n_w.sum(0).astype(int).tolist(),
            "n_without": n_o.sum(0).astype(int).tolist(),
            "diff": d.tolist(),
            "diff_lo": lo.tolist(),
            "diff_hi": hi.tolist(),
        }
    return res
