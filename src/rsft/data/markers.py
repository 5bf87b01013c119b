"""The behaviour-marker lexicon: one place for the words that signal backtracking and verification.

``rsft data stats`` counts them in training data and the analysis stage counts them in model outputs, so both use
this lexicon. Matching is case-insensitive on word boundaries; categories are counted independently (a phrase such
as "let me re-check" counts once for backtracking and its "check" once for verification).
"""

from __future__ import annotations

import re

MARKER_LEXICON: dict[str, list[str]] = {
    "backtracking": [
        "wait",
        "alternatively",
        "let me re-check",
        "let me recheck",
        "backtrack",
        "let me try again",
        "on second thought",
        "that doesn't work",
    ],
    "verification": ["verify", "verification", "check", "double-check", "let me confirm", "confirm"],
}


def _pattern(phrases: list[str]) -> re.Pattern[str]:
    # longest first so "double-check" is one match, not "check" inside it
    alts = sorted((re.escape(p) for p in phrases), key=len, reverse=True)
    return re.compile(
        r"(?<![\w-])(?:" + "|".join(alts) + r")(?:s|es|ed|ing|ion|ied|ies|y)?(?![\w-])", re.IGNORECASE
    )


_PATTERNS = {cat: _pattern(words) for cat, words in MARKER_LEXICON.items()}


def count_markers(text: str) -> dict[str, int]:
    """Occurrences of each :data:`MARKER_LEXICON` category in ``text`` (inflections like "checked" included)."""
    return {cat: len(p.findall(text)) for cat, p in _PATTERNS.items()}
