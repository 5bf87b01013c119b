"""Helpers shared by the task plugins: answer tags, per-sample seeding, stable ids and the reference wrapper."""

from __future__ import annotations

import random
import re
from typing import Any

from rsft._util.hashing import hash_obj
from rsft._util.seeding import derive_seed
from rsft.chat import split_thinking

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_BOXED_RE = re.compile(r"\\boxed\{([^{}]*)\}")


def answer_tag(text: str) -> str | None:
    """The content of the *last* ``<answer>…</answer>`` in ``text`` (stripped), or None.

    A model may restate the format ("answer in <answer> </answer> tags") in its text, so the last tag wins.
    """
    found = _ANSWER_RE.findall(text)
    return found[-1].strip() if found else None


def boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (no nested braces), or None."""
    found = _BOXED_RE.findall(text)
    return found[-1].strip() if found else None


def post_thinking(text: str) -> tuple[str, bool]:
    """(answer part of a response, truncated flag): the text after ``</think>``; "" when thinking never closed."""
    split = split_thinking(text)
    return split.answer, split.truncated


def settings_key(settings: dict[str, Any]) -> str:
    """A short hash of resolved generator settings, part of every sample id."""
    return hash_obj(settings, 8)


def sample_rng(task: str, version: int, seed: int, key: str, index: int) -> random.Random:
    """The random stream of one sample: sample ``i`` does not depend on ``n``, so a larger ``n`` extends a prefix."""
    return random.Random(derive_seed(task, version, seed, key, index))


def sample_id(task: str, seed: int, key: str, index: int) -> str:
    return f"{task}-s{seed}-{key}-{index:06d}"


def wrap(thinking: str | None, answer: str) -> str:
    """A reference response: ``<think>…</think>`` then the answer (no thinking block when ``thinking`` is None)."""
    if thinking is None:
        return answer
    return f"<think>\n{thinking}\n</think>\n{answer}"


def check_style(style: str, allowed: tuple[str, ...] = ("cot", "nocot")) -> str:
    from rsft._util.errors import RsftError

    if style not in allowed:
        raise RsftError(
            f"unknown response style '{style}'", field="style", fix=f"use one of: {', '.join(allowed)}"
        )
    return style
