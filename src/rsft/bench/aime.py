"""AIME 2024 and 2025 (30 problems each, integer answers), the paper's prompt, math-verify, avg@10.

Default files are MathArena's (ids like ``aime_2024_I_1``); ``file: aime24_qwen25math.jsonl`` picks Qwen2.5-Math's
AIME24 copy instead. Rows with ``has_image`` keep that flag in the metadata (their figure is not included).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rsft.bench._math import MathBenchmark
from rsft.bench.base import PAPER_SAMPLING


class Aime24(MathBenchmark):
    """AIME 2024; options: path | file | hub_id (+revision), n_items."""

    name = "aime24"
    items = 30
    protocol = "avg@k"
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "aime_2024/aime_2024_matharena.jsonl",
            "repo": "MathArena/aime_2024",
            "path": ["data/train-00000-of-00001.parquet"],
            "split": "train",
            "convert": "jsonl",
            "sha256": {"data/train-00000-of-00001.parquet": None},
        },
    ]
    version = 1
    defaults: ClassVar[dict[str, Any]] = {"n": 10, **PAPER_SAMPLING}
    subdir = "aime_2024"
    filename = "aime_2024_matharena.jsonl"
    id_field = "id"
    extra_fields = ("has_image", "contest", "problem_idx", "url")


class Aime25(Aime24):
    """AIME 2025; options: path | hub_id (+revision), n_items."""

    name = "aime25"  # items and protocol: Aime24's
    # its default data source for `rsft data fetch` (fields and hash policy: rsft.bench.sources)
    sources: ClassVar[list[dict[str, Any]]] = [
        {
            "local": "aime_2025/aime_2025_matharena.jsonl",
            "repo": "MathArena/aime_2025",
            "path": ["data/train-00000-of-00001.parquet"],
            "split": "train",
            "convert": "jsonl",
            "sha256": {"data/train-00000-of-00001.parquet": None},
        },
    ]
    subdir = "aime_2025"
    filename = "aime_2025_matharena.jsonl"
