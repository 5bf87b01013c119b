"""Fixtures of the template contract tests: the Qwen BPE built once per session, and one tokenizer per family."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _chat_kit import FAMILIES, build_tokenizer, qwen_bpe  # noqa: E402


@pytest.fixture(scope="session")
def qwen_bpe_json() -> str:
    return qwen_bpe()


@pytest.fixture(params=sorted(FAMILIES))
def family(request, qwen_bpe_json):
    """(Family, tokenizer) for each of the seven template cases."""
    fam = FAMILIES[request.param]
    return fam, build_tokenizer(qwen_bpe_json, fam)
