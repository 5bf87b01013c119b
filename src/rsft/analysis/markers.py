"""Behaviour markers in model outputs: the lexicon and its two counters, Python (one text) and DuckDB (a store).

Markers follow :mod:`rsft.data.markers` (the lexicon shared with ``rsft data stats``): case-insensitive whole-word
phrases, inflections "s|es|ed|ing|ion|ied|ies|y" included, each category counted on its own. The default lexicon
is :data:`rsft.data.markers.MARKER_LEXICON` plus a decomposition category; any category -> phrases mapping (a dict
or a YAML file) can replace it. :func:`duckdb_marker_count` runs inside DuckDB over the whole store with one RE2
pattern per category, matching what the Python pattern of :func:`count_markers_text` matches.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from rsft._util.errors import ConfigError, Problem

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
