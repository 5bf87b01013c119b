"""The train/eval contract: how a prompt is rendered and how a response is split.

Training and evaluation both call :func:`render_prompt`, so the tokens a model is trained to continue are exactly
the tokens it is evaluated on. :func:`split_thinking` separates ``<think>...</think>`` from the answer; an unclosed
thinking block is *truncated*, its own outcome, and is never parsed as an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rsft._util.errors import RsftError

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The prompt text: the tokenizer's own chat template on ``messages`` with ``add_generation_prompt=True``.

    Raises:
        RsftError: the tokenizer has no chat template (say how to pass one).
    """
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "?")
        raise RsftError(
            f"tokenizer '{name}' has no chat template",
            field="chat_template",
            fix="pass `chat_template: PATH.jinja` in the config (or set tokenizer.chat_template), "
            "e.g. the instruct model's template for a base model",
        )
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of :func:`render_prompt` (no extra special tokens: the template carries them)."""
    return tokenizer(render_prompt(tokenizer, messages), add_special_tokens=False)["input_ids"]


@dataclass(frozen=True)
class ThinkSplit:
    """A response split into thinking and answer.

    Attributes:
        thinking: text inside the thinking block ("" when there is none).
        answer: text after ``</think>`` (or the whole text when there is no thinking block); "" when truncated.
        has_thinking: a thinking block was opened.
        truncated: the thinking block was opened but never closed.
    """

    thinking: str
    answer: str
    has_thinking: bool
    truncated: bool


def split_thinking(text: str) -> ThinkSplit:
    """Split ``<think>…</think>`` from the answer.

    Some templates put ``<think>`` in the prompt, so a response may contain only the closing tag: everything before
    it is thinking. The *last* closing tag ends thinking (a model may mention the tag inside its reasoning).
    """
    close = text.rfind(THINK_CLOSE)
    open_ = text.find(THINK_OPEN)
    if close != -1:
        start = open_ + len(THINK_OPEN) if -1 < open_ < close else 0
        return ThinkSplit(text[start:close].strip(), text[close + len(THINK_CLOSE) :].strip(), True, False)
    if open_ != -1:
        return ThinkSplit(text[open_ + len(THINK_OPEN) :].strip(), "", True, True)
    return ThinkSplit("", text.strip(), False, False)
