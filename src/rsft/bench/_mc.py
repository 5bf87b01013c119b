"""Multiple-choice helpers: stable option shuffles and letter extraction that never reads a letter out of a word.

The paper's GPQA code shuffled options with Python's ``hash()``, which is salted per process (PYTHONHASHSEED), so
option order changed between runs. Here the order is a pure function of (seed, question id) through sha256.
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import TypeVar

from rsft.bench._math import last_boxed

T = TypeVar("T")
LETTERS = "ABCDEFGHIJ"

_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mathit|textit|operatorname)\s*\{([^{}]*)\}")
_LETTER_ONLY = re.compile(r"\(?\s*([A-J])\s*\)?\s*[.:]?")
_LETTER_THEN_TEXT = re.compile(r"\(?([A-J])(?:\)|[.:])\s+\S.*", re.DOTALL)
_ANSWER_PREFIX = re.compile(r"(?:the\s+)?(?:final\s+)?(?:answer|option|choice)\s*(?:is|:)?\s*", re.IGNORECASE)


def stable_rng(*key: object) -> random.Random:
    """A ``random.Random`` seeded by sha256 of the key parts (the same in every process and Python version)."""
    digest = hashlib.sha256("\x1f".join(map(str, key)).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def stable_shuffle(items: list[T], *key: object) -> list[T]:
    out = list(items)
    stable_rng(*key).shuffle(out)
    return out


def stable_order_key(*key: object) -> str:
    """Sort key for seeded, file-order-independent subsets."""
    return hashlib.sha256("\x1f".join(map(str, key)).encode()).hexdigest()


def letter_from_box(content: str, n_options: int = 10) -> str | None:
    r"""A choice letter from a boxed answer's content: ``B``, ``(B)``, ``\text{B}``, ``B) 42``, ``Answer: B``.

    A letter that begins a word (``\boxed{Bromine}``, ``\boxed{A cat}``) is not read as a choice.
    """
    text = content.strip()
    for _ in range(3):  # unwrap \text{\textbf{B}}
        text = _WRAPPERS.sub(r"\1", text)
    text = text.replace("$", "").strip()
    text = _ANSWER_PREFIX.sub("", text, count=1) if _ANSWER_PREFIX.match(text) else text
    valid = LETTERS[:n_options]
    for pat in (_LETTER_ONLY, _LETTER_THEN_TEXT):
        m = pat.fullmatch(text)
        if m and m.group(1) in valid:
            return m.group(1)
    return None


def boxed_letter(text: str, n_options: int = 4) -> str | None:
    r"""The choice letter in the last ``\boxed{}`` of a response, or None."""
    box = last_boxed(text)
    return None if box is None else letter_from_box(box, n_options)


def format_options(options: list[str], style: str = "{letter}) {option}") -> str:
    return "\n".join(style.format(letter=LETTERS[i], option=o) for i, o in enumerate(options))
