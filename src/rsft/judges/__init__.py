"""Local safety judges: the offline refusal detector (default), the 1-5 rubric judge, classifier judges.

Each judge has ``judge(items: list[JudgeItem]) -> list[JudgeVerdict]``; build one from a spec with
:func:`make_judge`.
"""

from __future__ import annotations

from typing import Any

from rsft._util.errors import RsftError
from rsft.judges.base import JudgeItem, JudgeVerdict, cut_to_context
from rsft.judges.refusal import RefusalJudge, RefusalVerdict, detect_refusal, is_refusal

JUDGE_KINDS = ("refusal", "rubric", "harmbench", "llamaguard3", "wildguard")

__all__ = [
    "JUDGE_KINDS",
    "JudgeItem",
    "JudgeVerdict",
    "RefusalJudge",
    "RefusalVerdict",
    "cut_to_context",
    "detect_refusal",
    "is_refusal",
    "make_judge",
]


def make_judge(kind: str = "refusal", *, backend: Any = None, **options: Any) -> Any:
    """A judge by kind: "refusal" (no model), "rubric" (needs ``backend``), "harmbench" / "llamaguard3" /
    "wildguard" (classifiers; need ``backend``, e.g. ``hf/cais/HarmBench-Llama-2-13b-cls`` or
    ``openai/allenai/wildguard@http://127.0.0.1:8000/v1``).

    Raises:
        RsftError: unknown kind, or a model judge without a backend.
    """
    if kind == "refusal":
        return RefusalJudge(**options)
    if kind not in JUDGE_KINDS:
        raise RsftError(f"unknown judge '{kind}'", field="judge", fix="one of: " + ", ".join(JUDGE_KINDS))
    if backend is None:
        raise RsftError(
            f"the {kind} judge needs a model",
            field="judge_backend",
            fix="set judge_backend to a backend id, e.g. hf/PATH or openai/MODEL@http://host:8000/v1",
        )
    if kind == "rubric":
        from rsft.judges.rubric import RubricJudge

        return RubricJudge(backend, **options)
    from rsft.judges.classifier import ClassifierJudge

    return ClassifierJudge(backend, format=kind, **options)
