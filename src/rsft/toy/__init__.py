"""The tiny model kit: a locally trained tokenizer with a Qwen3-style chat template, and tiny Qwen3 models."""

from rsft.toy.kit import QWEN3_STYLE_TEMPLATE, build_tokenizer, tiny_qwen3

__all__ = ["QWEN3_STYLE_TEMPLATE", "build_tokenizer", "tiny_qwen3"]
