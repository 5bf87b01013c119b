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
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "math500/test.jsonl",
            "repo": "HuggingFaceH4/MATH-500",
            "path": ["test.jsonl"],
            "split": "test",
            "sha256": {"test.jsonl": "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132"},
            "sha256_from": (
                "shared/benchmarks/math500/test.jsonl (byte-identical to openai/prm800k "
                "math_splits/test.jsonl)"
            ),
        },
    ]
    version = 1
    defaults: ClassVar[dict[str, Any]] = {"n": 3, **PAPER_SAMPLING}
    subdir = "math500"
    filename = "test.jsonl"
    id_field = "unique_id"
    extra_fields = ("subject", "level", "solution")
