"""MATH-500 (Lightman et al.'s 500-problem MATH test subset), the paper's prompt, math-verify, avg@3."""

from __future__ import annotations

from typing import Any, ClassVar

from rsft.bench._math import MathBenchmark
from rsft.bench.base import PAPER_SAMPLING


class Math500(MathBenchmark):
    """MATH-500; options: path | hub_id (+revision), n_items."""

    name = "math500"
    items = 500
    protocol = "avg@k"
    version = 1
    defaults: ClassVar[dict[str, Any]] = {"n": 3, **PAPER_SAMPLING}
    subdir = "math500"
    filename = "test.jsonl"
    id_field = "unique_id"
    extra_fields = ("subject", "level", "solution")
