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


class ToyTask:
    """Shared plumbing of the toy tasks: settings, ids, the ``<think>`` + ``<answer>`` reference and scoring flow.

    A toy task defines ``name``, ``version``, ``defaults`` and four small methods: ``_make(rng, settings)`` ->
    (prompt, target, metadata), ``_thinking(sample)`` -> short worked trace, ``_fallback(text)`` -> answer when
    there is no ``<answer>`` tag, and ``_check(sample, answer)`` -> ScoreRecord.
    """

    name = "toy"
    version = 1
    defaults: dict[str, Any] = {}

    def resolve(self, **settings: Any) -> dict[str, Any]:
        from rsft._util.errors import RsftError

        unknown = sorted(set(settings) - set(self.defaults))
        if unknown:
            raise RsftError(
                f"unknown {self.name} setting(s): {', '.join(unknown)}",
                field=unknown[0],
                fix=f"use: {', '.join(self.defaults) or '(none)'}",
            )
        return {**self.defaults, **settings}

    def generate(self, n: int, seed: int, **settings: Any) -> list[Any]:
        """``n`` samples, a pure function of (n, seed, settings); sample ``i`` does not depend on ``n``."""
        from rsft.tasks.base import Sample

        s = self.resolve(**settings)
        key = settings_key(s)
        out = []
        for i in range(n):
            prompt, target, meta = self._make(sample_rng(self.name, self.version, seed, key, i), s)
            out.append(Sample(sample_id(self.name, seed, key, i), prompt, target, meta))
        return out

    def extract(self, answer_text: str) -> str | None:
        """The last ``<answer>`` tag, else a task-specific fallback on the answer text."""
        found = answer_tag(answer_text)
        return found if found is not None else self._fallback(answer_text)

    def answer(self, sample: Any) -> str:
        """The reference answer part (after thinking)."""
        return f"<answer>{sample.target}</answer>"

    def response(self, sample: Any, **style: Any) -> str:
        """``style="cot"``: a short worked trace in ``<think>`` then the answer; ``"nocot"``: the answer only."""
        kind = check_style(style.get("style", "cot"))
        return wrap(self._thinking(sample) if kind == "cot" else None, self.answer(sample))

    def score(self, sample: Any, text: str) -> Any:
        from rsft.tasks.base import ScoreRecord

        answer_part, truncated = post_thinking(text)
        if truncated:
            return ScoreRecord(0.0, None, "truncated")
        found = self.extract(answer_part)
        if found is None or not found.strip():
            return ScoreRecord(0.0, None, "no_answer")
        return self._check(sample, found.strip())

    def _fallback(self, text: str) -> str | None:
        return None
